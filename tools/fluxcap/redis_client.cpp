// redis_client.hpp over hiredis's blocking API.
#include "redis_client.hpp"

#include <sys/time.h>

#include <charconv>
#include <cmath>

namespace fluxcap_cli {

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

void redis_client::append(const std::vector<std::string_view>& args) {
  if (ctx_ == nullptr) connect();
  argv_.clear();
  argl_.clear();
  for (const auto a : args) {
    argv_.push_back(a.data());
    argl_.push_back(a.size());
  }
  if (redisAppendCommandArgv(ctx_, static_cast<int>(args.size()), argv_.data(), argl_.data()) !=
      REDIS_OK)
    lost("cannot send a command");
}

redis_reply redis_client::reply(bool allow_error) {
  if (ctx_ == nullptr) lost("not connected");
  void* r = nullptr;
  if (redisGetReply(ctx_, &r) != REDIS_OK) lost("connection lost");
  return checked(static_cast<redisReply*>(r), allow_error);
}

redis_reply redis_client::command(const std::vector<std::string_view>& args, bool allow_error) {
  append(args);
  return reply(allow_error);
}

redis_reply redis_client::eval(redis_script& script, const std::vector<std::string_view>& keys,
                               const std::vector<std::string_view>& args) {
  const std::string nkeys = std::to_string(keys.size());
  std::vector<std::string_view> a;
  a.reserve(3 + keys.size() + args.size());
  a.emplace_back("EVALSHA");
  a.emplace_back(script.sha);
  a.emplace_back(nkeys);
  a.insert(a.end(), keys.begin(), keys.end());
  a.insert(a.end(), args.begin(), args.end());
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
