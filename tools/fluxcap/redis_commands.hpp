// `fluxcap produce`, `fluxcap worker` and `fluxcap collect`: fluxcap on Redis Streams
// (docs/scale-out.md, "Redis Streams workers"; protocol in redis_protocol.hpp). Builds
// without hiredis have the commands too, and say that they lack Redis.
#pragma once

#include <string_view>

namespace fluxcap_cli {

/// Whether `name` is one of the Redis commands (produce, worker, collect).
[[nodiscard]] bool is_redis_command(std::string_view name) noexcept;

/// Runs `fluxcap produce|worker|collect ...` (argv[1] is the command); returns the exit
/// status (docs/cli.md).
[[nodiscard]] int redis_main(int argc, const char* const* argv);

}  // namespace fluxcap_cli
