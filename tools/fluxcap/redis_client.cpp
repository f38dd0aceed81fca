// redis_client.hpp over hiredis's blocking API.
#include "redis_client.hpp"

#include <sys/socket.h>
#include <sys/time.h>

#include <array>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace fluxcap_cli {

// Reply objects from a pool. hiredis allocates each reply object, string and element
// array on its own (an XRANGE batch of 1,000 entries is about 14,000 allocations), and
// frees them one by one; with glibc, the next large allocation then consolidates all
// those freed chunks. This was the largest cost of a worker's reads. Here the objects
// come from free lists by power-of-two size, kept between replies (each list bounded:
// at most about 1 MiB kept, the rest returned to malloc). hiredis 0.x's object
// functions (1.x has others, for RESP3: it keeps hiredis's own).
namespace {

#if HIREDIS_MAJOR == 0
#define FLUXCAP_POOLED_REPLIES 1

constexpr std::size_t pool_classes = 13;  // 16 bytes .. 64 KiB
constexpr std::size_t pool_kept_bytes = std::size_t{1} << 20;

struct reply_pool {
  std::array<std::vector<void*>, pool_classes> lists;
  reply_pool() = default;
  reply_pool(const reply_pool&) = delete;
  reply_pool& operator=(const reply_pool&) = delete;
  ~reply_pool() {
    for (auto& l : lists)
      for (void* p : l) std::free(p);
  }
};

thread_local reply_pool pool;

std::size_t size_class(std::size_t bytes) noexcept {
  // The smallest k with 16 << k >= bytes; pool_classes (or more): too large for the pool.
  return static_cast<std::size_t>(std::bit_width((bytes - 1) | 15U)) - 4;
}

void* pool_alloc(std::size_t bytes) noexcept {
  const std::size_t k = size_class(bytes);
  if (k >= pool_classes) return std::malloc(bytes);
  auto& l = pool.lists[k];
  if (l.empty()) return std::malloc(std::size_t{16} << k);
  void* p = l.back();
  l.pop_back();
  return p;
}

void pool_free(void* p, std::size_t bytes) noexcept {
  if (p == nullptr) return;
  const std::size_t k = size_class(bytes);
  if (k < pool_classes) {
    auto& l = pool.lists[k];
    if (l.size() < pool_kept_bytes >> (k + 4)) {
      try {
        l.push_back(p);
        return;
      } catch (...) {  // no memory for the list: freed below
      }
    }
  }
  std::free(p);
}

redisReply* new_reply(const redisReadTask* task, int type) noexcept {
  auto* r = static_cast<redisReply*>(pool_alloc(sizeof(redisReply)));
  if (r == nullptr) return nullptr;
  std::memset(r, 0, sizeof *r);
  r->type = type;
  if (task->parent != nullptr) {
    auto* parent = static_cast<redisReply*>(task->parent->obj);
    parent->element[task->idx] = r;
  }
  return r;
}

void* pooled_string(const redisReadTask* task, char* str, size_t len) {
  char* copy = static_cast<char*>(pool_alloc(len + 1));
  if (copy == nullptr) return nullptr;
  redisReply* r = new_reply(task, task->type);
  if (r == nullptr) {
    pool_free(copy, len + 1);
    return nullptr;
  }
  if (len != 0) std::memcpy(copy, str, len);
  copy[len] = '\0';
  r->str = copy;
  r->len = len;
  return r;
}

void* pooled_array(const redisReadTask* task, int elements) {
  redisReply** element = nullptr;
  if (elements > 0) {
    const std::size_t bytes = static_cast<std::size_t>(elements) * sizeof(redisReply*);
    element = static_cast<redisReply**>(pool_alloc(bytes));
    if (element == nullptr) return nullptr;
    std::memset(element, 0, bytes);  // a reply freed half built has null elements
  }
  redisReply* r = new_reply(task, REDIS_REPLY_ARRAY);
  if (r == nullptr) {
    pool_free(element, static_cast<std::size_t>(elements) * sizeof(redisReply*));
    return nullptr;
  }
  r->elements = elements > 0 ? static_cast<std::size_t>(elements) : 0;
  r->element = element;
  return r;
}

void* pooled_integer(const redisReadTask* task, long long value) {
  redisReply* r = new_reply(task, REDIS_REPLY_INTEGER);
  if (r != nullptr) r->integer = value;
  return r;
}

void* pooled_nil(const redisReadTask* task) {
  return new_reply(task, REDIS_REPLY_NIL);
}

void pooled_free(void* object) {
  free_reply(static_cast<redisReply*>(object));
}

redisReplyObjectFunctions pooled_functions = {pooled_string, pooled_array, pooled_integer,
                                              pooled_nil, pooled_free};
#endif

}  // namespace

void free_reply(redisReply* r) noexcept {
#ifdef FLUXCAP_POOLED_REPLIES
  if (r == nullptr) return;
  if (r->element != nullptr) {
    for (std::size_t i = 0; i < r->elements; ++i) free_reply(r->element[i]);
    pool_free(r->element, r->elements * sizeof(redisReply*));
  }
  if (r->str != nullptr) pool_free(r->str, r->len + 1);
  pool_free(r, sizeof(redisReply));
#else
  freeReplyObject(r);
#endif
}

redis_client::redis_client(const std::string& url, double timeout_seconds)
    : timeout_(timeout_seconds) {
  std::string_view rest = url;
  if (rest.starts_with("redis://")) rest.remove_prefix(8);
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view auth = rest.substr(0, at);
    rest.remove_prefix(at + 1);
    if (const auto colon = auth.find(':'); colon != std::string_view::npos) {
      user_ = auth.substr(0, colon);
      password_ = auth.substr(colon + 1);
    } else {
      password_ = auth;
    }
  }
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    const std::string_view db = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    if (!db.empty()) {
      const auto r = std::from_chars(db.data(), db.data() + db.size(), db_);
      if (r.ec != std::errc() || r.ptr != db.data() + db.size() || db_ < 0)
        throw redis_error("bad database number in --redis URL", false);
    }
  }
  if (const auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    const std::string_view port = rest.substr(colon + 1);
    const auto r = std::from_chars(port.data(), port.data() + port.size(), port_);
    if (r.ec != std::errc() || r.ptr != port.data() + port.size() || port_ <= 0 || port_ > 65535)
      throw redis_error("bad port in --redis URL", false);
    rest = rest.substr(0, colon);
  }
  host_ = rest.empty() ? "127.0.0.1" : std::string(rest);
  where_ = host_ + ":" + std::to_string(port_);
}

void redis_client::disconnect() noexcept {
  if (ctx_ != nullptr) redisFree(ctx_);
  ctx_ = nullptr;
}

void redis_client::lost(const char* what) {
  std::string message = "Redis at " + where_ + ": " + what;
  if (ctx_ != nullptr && ctx_->errstr[0] != '\0') message += std::string(": ") + ctx_->errstr;
  disconnect();
  throw redis_error(message, true);
}

void redis_client::connect() {
  disconnect();
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout_);
  tv.tv_usec = static_cast<suseconds_t>((timeout_ - std::floor(timeout_)) * 1e6);
  ctx_ = redisConnectWithTimeout(host_.c_str(), port_, tv);
  if (ctx_ == nullptr) throw redis_error("cannot connect to Redis at " + where_, true);
  if (ctx_->err != 0) lost("cannot connect");
  if (redisSetTimeout(ctx_, tv) != REDIS_OK) lost("cannot set a timeout");
  // Keep the reader's buffer between replies (hiredis frees it past 16 KiB idle): a
  // worker's replies are large, and growing it again each time cost page faults.
  if (ctx_->reader != nullptr) ctx_->reader->maxbuf = 0;
#ifdef FLUXCAP_POOLED_REPLIES
  // Before any reply is read: every reply of this context comes from the pool.
  if (ctx_->reader != nullptr) ctx_->reader->fn = &pooled_functions;
#endif
  if (!password_.empty()) {
    if (user_.empty())
      command({"AUTH", password_});
    else
      command({"AUTH", user_, password_});
  }
  if (db_ != 0) command({"SELECT", std::to_string(db_)});
}

redis_reply redis_client::checked(redisReply* r, bool allow_error) {
  if (r == nullptr) lost("connection lost");
  redis_reply reply(r);
  if (reply->type == REDIS_REPLY_ERROR) {
    const std::string_view text = reply_text(r);
    // A server that is loading its data, or busy with a script: transient, like a lost
    // connection (the caller reconnects and starts over from what Redis holds).
    if (text.starts_with("LOADING") || text.starts_with("BUSY") || text.starts_with("TRYAGAIN") ||
        text.starts_with("MASTERDOWN")) {
      const std::string message = "Redis at " + where_ + ": " + std::string(text);
      disconnect();
      throw redis_error(message, true);
    }
    if (!allow_error) throw redis_error("Redis at " + where_ + ": " + std::string(text), false);
  }
  return reply;
}

void redis_client::format(const std::vector<std::string_view>& args) {
  // RESP, formatted into a buffer kept between commands: hiredis's own formatting
  // (redisFormatSdsCommandArgv) builds a new buffer a command, growing it argument by
  // argument, which was the largest cost of a worker's commit.
  std::size_t size = 16;
  for (const auto a : args) size += a.size() + 24;
  out_.clear();
  out_.reserve(size);
  char digits[24];
  const auto number = [&](char type, std::size_t n) {
    out_.push_back(type);
    const auto r = std::to_chars(digits, digits + sizeof digits, n);
    out_.append(digits, r.ptr);
    out_.append("\r\n", 2);
  };
  number('*', args.size());
  for (const auto a : args) {
    number('$', a.size());
    out_.append(a);
    out_.append("\r\n", 2);
  }
}

void redis_client::append(const std::vector<std::string_view>& args) {
  if (ctx_ == nullptr) connect();
  format(args);
  if (redisAppendFormattedCommand(ctx_, out_.data(), out_.size()) != REDIS_OK)
    lost("cannot send a command");
}

redis_reply redis_client::reply(bool allow_error) {
  if (ctx_ == nullptr) lost("not connected");
  void* r = nullptr;
  if (redisGetReply(ctx_, &r) != REDIS_OK) lost("connection lost");
  return checked(static_cast<redisReply*>(r), allow_error);
}

void redis_client::send(const std::vector<std::string_view>& args) {
  if (ctx_ == nullptr) connect();
  if (ctx_->obuf != nullptr && sdslen(ctx_->obuf) != 0) {
    append(args);  // behind a pipeline: in order, through hiredis's output buffer
    int done = 0;
    while (done == 0)
      if (redisBufferWrite(ctx_, &done) != REDIS_OK) lost("cannot send a command");
    return;
  }
  // Nothing queued: sent from our buffer, sparing hiredis's copy into its output buffer
  // (which it frees after each write). The socket is blocking, with the timeout.
  format(args);
  std::size_t sent = 0;
  auto send_up_to = [&](std::size_t end) {
    while (sent < end) {
      const ssize_t n = ::send(ctx_->fd, out_.data() + sent, end - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        lost(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? "timeout while sending"
                                                                : "cannot send a command");
      }
    }
  };
  if (send_hook_ != nullptr) {
    send_up_to(out_.size() / 2);
    send_hook_(false);
  }
  send_up_to(out_.size());
  if (send_hook_ != nullptr) send_hook_(true);
}

redis_reply redis_client::command(const std::vector<std::string_view>& args, bool allow_error) {
  send(args);
  return reply(allow_error);
}

namespace {

/// The arguments of `command` (EVAL or EVALSHA) `script` (its text or SHA1) with `keys`
/// and `args`; `nkeys` holds the count's text (it must outlive the views).
std::vector<std::string_view> script_call(std::string_view command, std::string_view script,
                                          const std::string& nkeys,
                                          const std::vector<std::string_view>& keys,
                                          const std::vector<std::string_view>& args) {
  std::vector<std::string_view> a;
  a.reserve(3 + keys.size() + args.size());
  a.emplace_back(command);
  a.emplace_back(script);
  a.emplace_back(nkeys);
  a.insert(a.end(), keys.begin(), keys.end());
  a.insert(a.end(), args.begin(), args.end());
  return a;
}

}  // namespace

void redis_client::send_eval(const redis_script& script, const std::vector<std::string_view>& keys,
                             const std::vector<std::string_view>& args) {
  const std::string nkeys = std::to_string(keys.size());
  send(script_call("EVAL", script.text, nkeys, keys, args));
}

redis_reply redis_client::eval(redis_script& script, const std::vector<std::string_view>& keys,
                               const std::vector<std::string_view>& args) {
  const std::string nkeys = std::to_string(keys.size());
  std::vector<std::string_view> a = script_call("EVALSHA", script.sha, nkeys, keys, args);
  if (!script.sha.empty()) {
    redis_reply r = command(a, true);
    if (r->type != REDIS_REPLY_ERROR) return r;
    if (!reply_text(r.get()).starts_with("NOSCRIPT"))
      throw redis_error("Redis at " + where_ + ": " + std::string(reply_text(r.get())), false);
  }
  // Unknown to the server (first use, or a restarted server): load it, then run it.
  redis_reply loaded = command({"SCRIPT", "LOAD", script.text});
  script.sha = std::string(reply_text(loaded.get()));
  a[1] = script.sha;
  return command(a);
}

}  // namespace fluxcap_cli
