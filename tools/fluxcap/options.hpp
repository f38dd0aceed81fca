// Command-line parsing for the fluxcap tool: commands, options and help texts.
#pragma once

#include <fluxcap/memory.hpp>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace fluxcap_cli {

/// Exit statuses (docs/cli.md, "Exit status").
inline constexpr int exit_ok = 0;
inline constexpr int exit_data = 1;   ///< bad input data, bad state file, I/O error
inline constexpr int exit_usage = 2;  ///< bad command line or spec; nothing was written

/// A command line that cannot be run. Reported as `fluxcap: <what>` with exit status 2.
class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class command : std::uint8_t { help, version, run, check, graph };

/// What to do with an input line that is not a valid event.
enum class error_mode : std::uint8_t { fail, skip, pass };

/// How correlation windows remember (--correlation-memory): every event (capped), or a
/// ring of time buckets (fluxcap::sigma::bounded_windows).
enum class correlation_memory_mode : std::uint8_t { exact, bounded };

/// Most threads `--threads` accepts.
inline constexpr unsigned max_threads = 256;

struct options {
  command cmd = command::help;
  /// `--help` after a command: print that command's help (`cmd` tells which).
  bool help = false;

  std::string spec_path;
  /// --rules PATH...: Sigma rule files and directories (Sigma mode, instead of --spec).
  std::vector<std::string> rule_paths;
  /// --profile NAME|FILE: a built-in profile name or a profile YAML file (with --rules).
  std::string profile;
  /// --strict: an unsupported rule is fatal (run: exit 2 before reading events; check:
  /// exit 1).
  bool strict = false;
  bool tags_field_given = false;

  // run
  std::optional<std::string> group_key;
  std::string tags_field = "sigma";
  std::string detections_field = "detections";
  /// Memory policy: --memory exact|bloom|cuckoo (--exact: exact), the library's own
  /// mode (fluxcap::exact_memory, bloom_memory, cuckoo_memory).
  fluxcap::memory_mode memory = fluxcap::memory_mode::bloom;
  std::uint64_t capacity = 200000;
  std::uint32_t generations = 10;
  double fpp = 1e-4;
  std::optional<std::string> state_path;
  bool incremental = false;  ///< save the state as a delta of what changed (--state)
  double wait_lock = 0;      ///< seconds to wait for another run's lock on --state
  /// --state-db DIR: group states in a RocksDB database (builds with RocksDB only).
  std::optional<std::string> state_db;
  /// --state-cache-bytes N: the bound of the decoded groups cached before the database.
  std::uint64_t state_cache_bytes = std::uint64_t{256} << 20;
  /// --state-ttl DURATION: groups idle longer (event time) are dropped; 0: never.
  std::int64_t state_ttl_ms = 0;
  /// --max-time-ahead DURATION: with --state-ttl, event times later than the clock plus
  /// this count as that (event_limits::max_time_ahead_ms).
  std::int64_t max_time_ahead_ms = 10 * 60 * 1000;
  error_mode on_error = error_mode::fail;
  std::uint64_t max_line_bytes = std::uint64_t{1} << 20;  ///< longer lines are bad lines
  std::uint64_t max_tags_per_event = 10000;               ///< tags in one tag map
  std::uint64_t max_groups = 1000000;                     ///< groups held at once
  std::uint64_t max_key_bytes = 4096;                     ///< longest --group-key value
  unsigned threads = 1;  ///< worker threads; groups are partitioned among them
  // Sigma correlation rules (run and check, with --rules): fluxcap::sigma::correlation_options.
  correlation_memory_mode correlation_memory = correlation_memory_mode::exact;
  std::uint64_t max_window_events = 4096;         ///< --max-window-events (exact)
  std::uint64_t max_correlation_groups = 100000;  ///< --max-correlation-groups
  std::uint32_t window_buckets = 64;              ///< --window-buckets (bounded)
  std::int64_t correlation_lag_ms = 3600000;      ///< --correlation-lag (idle groups dropped)
  bool stats = false;
  bool progress = true;             ///< when standard error is a terminal
  std::vector<std::string> inputs;  ///< empty: standard input; "-" is standard input too
};

/// The value of a duration option (--state-ttl, --max-time-ahead: run, produce, worker)
/// in ms. Throws usage_error naming `option`.
[[nodiscard]] std::int64_t parse_duration(std::string_view option, std::string_view text);
/// event_limits::max_time_ahead_ms of these options: --max-time-ahead with --state-ttl,
/// else -1 (no bound: without a time to live, event times expire nothing).
[[nodiscard]] inline std::int64_t time_ahead_bound(const options& o) noexcept {
  return o.state_ttl_ms > 0 ? o.max_time_ahead_ms : -1;
}
/// The usage error of --max-time-ahead without --state-ttl.
inline constexpr const char* max_time_ahead_needs_ttl =
    "--max-time-ahead bounds the event times by which --state-ttl expires groups: it needs "
    "--state-ttl";

/// Parses `argv[1..argc)`. Throws usage_error.
[[nodiscard]] options parse_options(int argc, const char* const* argv);

/// Help text of a command (`command::help`: the general help).
[[nodiscard]] const char* help_text(command cmd);

/// `s`, cut to 200 bytes (at a UTF-8 character boundary) and "..." when longer: for
/// names and values quoted in messages.
[[nodiscard]] std::string cut_for_message(std::string_view s);

/// `fluxcap <version> (simdjson <version>, yaml-cpp)`.
[[nodiscard]] std::string version_text();

}  // namespace fluxcap_cli
