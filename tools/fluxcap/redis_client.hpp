// A small synchronous Redis client for `fluxcap produce / worker / collect` over hiredis:
// binary-safe commands, pipelines, Lua scripts by SHA (loaded again after a server
// restart) and reconnection. Built only with hiredis (FLUXCAP_TOOL_HAS_REDIS).
#pragma once

#include <hiredis/hiredis.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace fluxcap_cli {

/// A Redis failure. `connection`: the connection is lost or was never made (the caller
/// may reconnect); otherwise the server answered with an error.
class redis_error : public std::runtime_error {
 public:
  redis_error(const std::string& what, bool connection)
      : std::runtime_error(what), connection_(connection) {}
  [[nodiscard]] bool connection() const noexcept { return connection_; }

 private:
  bool connection_;
};

/// Frees a reply of redis_client (its objects come from a pool of their own: see
/// redis_client.cpp; freeReplyObject must not be used on them).
void free_reply(redisReply* r) noexcept;

struct redis_reply_free {
  void operator()(redisReply* r) const noexcept { free_reply(r); }
};
using redis_reply = std::unique_ptr<redisReply, redis_reply_free>;

/// The text of a string, status or error reply (empty for others).
[[nodiscard]] inline std::string_view reply_text(const redisReply* r) noexcept {
  if (r == nullptr || r->str == nullptr) return {};
  return {r->str, r->len};
}

/// A Lua script, run by its SHA1 (EVALSHA) and sent whole only when the server lacks it.
struct redis_script {
  std::string_view text;
  std::string sha;  ///< filled on first use
};

class redis_client {
 public:
  /// `url`: redis://[[user]:password@]host[:port][/db] or host:port. Throws redis_error
  /// (not a connection error) for a bad URL; connects lazily (connect()).
  redis_client(const std::string& url, double timeout_seconds);
  ~redis_client() { disconnect(); }
  redis_client(const redis_client&) = delete;
  redis_client& operator=(const redis_client&) = delete;

  /// (Re)connects, authenticates and selects the database. Throws redis_error.
  void connect();
  [[nodiscard]] bool connected() const noexcept { return ctx_ != nullptr; }
  void disconnect() noexcept;
  [[nodiscard]] const std::string& where() const noexcept { return where_; }

  /// Runs one command. An error reply throws redis_error (not a connection error)
  /// unless `allow_error`. A lost connection throws redis_error (connection).
  redis_reply command(const std::vector<std::string_view>& args, bool allow_error = false);
  /// Queues a command (pipeline); `reply()` takes the replies in order.
  void append(const std::vector<std::string_view>& args);
  redis_reply reply(bool allow_error = false);
  /// Sends one command without reading its reply (a pipeline of the caller's: `reply()`
  /// takes the replies in order). A lost connection throws redis_error (connection).
  void send(const std::vector<std::string_view>& args);
  /// Sends EVAL with the script's text (never NOSCRIPT: for pipelines), like send().
  void send_eval(const redis_script& script, const std::vector<std::string_view>& keys,
                 const std::vector<std::string_view>& args);
  /// EVALSHA (EVAL when the server does not have the script).
  redis_reply eval(redis_script& script, const std::vector<std::string_view>& keys,
                   const std::vector<std::string_view>& args);

  /// Tests only: while set, command() sends each command in two halves, calling
  /// `hook(false)` after the first and `hook(true)` after the whole, before reading the
  /// reply (the crash tests kill the worker there: in the middle of a commit).
  void set_send_hook(void (*hook)(bool whole)) noexcept { send_hook_ = hook; }

 private:
  [[noreturn]] void lost(const char* what);
  void format(const std::vector<std::string_view>& args);  ///< RESP into out_
  redis_reply checked(redisReply* r, bool allow_error);

  std::string host_;
  int port_ = 6379;
  std::string user_, password_;
  int db_ = 0;
  double timeout_;
  std::string where_;
  redisContext* ctx_ = nullptr;
  std::string out_;  ///< the command being sent (kept: no allocation a command)
  void (*send_hook_)(bool whole) = nullptr;
};

}  // namespace fluxcap_cli
