// `fluxcap produce / worker / collect` (redis_commands.hpp): command lines, then, in
// builds with hiredis (FLUXCAP_TOOL_HAS_REDIS), the three roles over redis_client.hpp and
// the protocol of redis_protocol.hpp. docs/scale-out.md describes the protocol and what
// each role guarantees.
#include "redis_commands.hpp"
#include "sigma_correlation.hpp"

#include "io.hpp"
#include "options.hpp"

#include <cstdio>
#include <string>
#include <vector>

#ifdef FLUXCAP_TOOL_HAS_REDIS
#include "json_schema.hpp"
#include "line_parser.hpp"
#include "process.hpp"
#include "redis_client.hpp"
#include "redis_membership.hpp"
#include "redis_protocol.hpp"
#include "redis_warm_cache.hpp"
#include "sigma_process.hpp"
#include "sigma_rules.hpp"
#include "spec_file.hpp"

#include <fluxcap/hash.hpp>
#include <fluxcap/memory.hpp>
#include <fluxcap/serialize.hpp>
#include <fluxcap/sigma/rule.hpp>

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <queue>
#include <thread>
#include <unordered_map>
#include <variant>
#endif

namespace fluxcap_cli {

namespace {

const char* const produce_help =
    R"(usage: fluxcap produce --redis URL --stream NAME [--partitions P]
                       (--spec FILE | --rules PATH... --profile P) [run options] [INPUT...]

Sends JSON Lines (INPUT files, or standard input) into the partitions of stream NAME:
each line to partition hash(group key) mod P, with the group key `fluxcap run` groups
by under the same --spec or --rules/--profile and --group-key. The first producer or
worker creates the deployment (P partitions, default 16, and the state's hash key); a
different --partitions later is refused. Lines longer than --max-line-bytes stop it.

  --redis URL          redis://[[user]:password@]host[:port][/db]
  --stream NAME        1 to 64 letters, digits, '_', '-', '.'
  --partitions P       partitions of a new deployment (1 to 4096; checked otherwise)
  --batch N            lines sent a round trip (default 1000)
  --redis-timeout S    seconds a Redis call may take (default 10)
  --state-ttl DURATION for workers with --state-ttl: send with each line the latest
                       event time read so far (field w), their clock of expiry
  --max-time-ahead DURATION  with --state-ttl: event times later than this machine's
                       clock plus DURATION (default 10m) count as that (as run's)
)";

const char* const worker_help = R"(usage: fluxcap worker --redis URL --stream NAME
                      (--spec FILE | --rules PATH... --profile P) [run options]
                      [--batch N] [--partitions-max N] [--lease-ms MS] [--detections-only]

Processes the partitions of stream NAME exactly as `fluxcap run` processes a file: takes
a lease per partition, loads the partition's group states and committed position,
processes the lines after it and commits each batch (outputs, changed group states, new
position) with one fenced Lua script. Workers share the partitions by rendezvous
hashing over the live workers (each heartbeats into the deployment's membership every
third of the lease). Runs until SIGTERM or SIGINT, then commits, leaves the membership,
releases its leases and exits 0. Refuses a Redis whose maxmemory-policy is not
noeviction, and a deployment run with another spec or other options. Sigma
correlation rules among --rules are run by `fluxcap collect` (give it the same
--rules, --profile and options): workers write every base rule's detections.

  --redis URL          redis://[[user]:password@]host[:port][/db]
  --stream NAME        the stream (as given to produce)
  --partitions P       partitions, if this worker creates the deployment
  --batch N            input lines a commit (default 1000)
  --partitions-max N   most partitions owned at once (default: all)
  --lease-ms MS        lease time to live (default 10000; renewed every third)
  --poll-ms MS         pause when no partition had input (default 50)
  --detections-only    write only output lines with a detection (recorded in the
                       deployment's spec fingerprint)
  --redis-timeout S    seconds a Redis call may take (default 10)
  --reconnect-for S    seconds to retry a lost Redis before exiting 1 (default 60)
  --stats              counts on standard error at exit
  --state-db DIR       keep the partitions' group states in a local RocksDB database
                       in DIR too (a warm cache: a partition taken again at the
                       position the worker committed is not reloaded from Redis; the
                       states may exceed memory)
  --state-cache-bytes N  with --state-db: memory for decoded groups, shared by the
                       partitions owned (default: 268435456)
  --cache-groups N     with --state-db: at most N decoded groups, shared likewise
  --state-ttl DURATION drop groups idle longer than DURATION in event time, as
                       `fluxcap run --state-db DIR --state-ttl DURATION` (--spec with a
                       timestamp column; the producers need --state-ttl too)
  --max-time-ahead DURATION  with --state-ttl: event times later than this machine's
                       clock plus DURATION (default 10m) count as that (as run's)
)";

const char* const collect_help = R"(usage: fluxcap collect --redis URL --stream NAME
                       [--rules PATH... --profile P [run options] [--detections-only]]

Writes the committed outputs of stream NAME as JSON Lines to standard output: each
partition in input order, partitions merged by the producers' line numbers (with one
producer: the order `fluxcap run` writes).

When the workers' rules include Sigma correlation rules, collect runs them, over the
merged lines, as `fluxcap run` does after its Sigma stage: give it the workers' --rules,
--profile and run options (and --detections-only if they had it), checked against the
deployment's spec fingerprint, and the correlation options (--correlation-memory,
--max-window-events, --max-correlation-groups, --window-buckets, --correlation-lag).
It then writes only the lines every partition has committed up to (the complete
prefix of the input), so that its output is a prefix of the run's.

  --redis URL          redis://[[user]:password@]host[:port][/db]
  --stream NAME        the stream
  --redis-timeout S    seconds a Redis call may take (default 10)
  --stats              with correlation rules: their counts on standard error
)";

}  // namespace

bool is_redis_command(std::string_view name) noexcept {
  return name == "produce" || name == "worker" || name == "collect";
}

#ifndef FLUXCAP_TOOL_HAS_REDIS

int redis_main(int argc, const char* const* argv) {
  const std::string cmd = argc > 1 ? argv[1] : "worker";
  for (int i = 2; i < argc; ++i)
    if (std::string_view(argv[i]) == "--help" || std::string_view(argv[i]) == "-h") {
      std::fputs(cmd == "produce"  ? produce_help
                 : cmd == "worker" ? worker_help
                                   : collect_help,
                 stdout);
      std::fputs("\nThis build of fluxcap lacks Redis (hiredis).\n", stdout);
      return exit_ok;
    }
  return fail(exit_usage, "'fluxcap " + cmd +
                              "' needs Redis, which this build of fluxcap lacks (build it with "
                              "libhiredis-dev installed)");
}

#else

namespace {

namespace rp = redis_protocol;
using clock_type = std::chrono::steady_clock;

/// The command line of a Redis command: its own options, and the run options (parsed
/// by parse_options as `fluxcap run ...`, so that they mean exactly what they mean there).
struct redis_options {
  std::string cmd;
  std::string url;
  std::string stream;
  std::optional<unsigned> partitions;
  std::size_t batch = 1000;
  unsigned partitions_max = rp::max_partitions;
  std::uint64_t lease_ms = 10000;
  std::uint64_t poll_ms = 50;
  double timeout = 10;
  double reconnect_for = 60;
  bool detections_only = false;
  std::uint64_t cache_groups = 0;             ///< --cache-groups (with --state-db; 0: no bound)
  std::optional<std::string> state_ttl;       ///< --state-ttl (produce, worker), parsed as run's
  std::optional<std::string> max_time_ahead;  ///< --max-time-ahead (produce, worker)
  bool help = false;
  options run;
};

std::uint64_t parse_count(std::string_view name, std::string_view text, std::uint64_t min,
                          std::uint64_t max) {
  std::uint64_t v = 0;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size() || v < min || v > max)
    throw usage_error(std::string(name) + " expects a whole number from " + std::to_string(min) +
                      " to " + std::to_string(max) + ", not '" + cut_for_message(text) + "'");
  return v;
}

double parse_seconds(std::string_view name, std::string_view text) {
  const std::string s(text);
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !(v > 0) || v > 86400)
    throw usage_error(std::string(name) + " expects seconds (more than 0, at most 86400), not '" +
                      cut_for_message(text) + "'");
  return v;
}

redis_options parse_redis_options(int argc, const char* const* argv) {
  redis_options r;
  r.cmd = argv[1];
  const bool is_worker = r.cmd == "worker", is_collect = r.cmd == "collect";
  std::vector<std::string> rest{"fluxcap", "run"};
  for (int i = 2; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      r.help = true;
      return r;
    }
    std::string_view name = arg;
    std::optional<std::string_view> inline_value;
    if (const auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      inline_value = arg.substr(eq + 1);
    }
    auto value = [&]() -> std::string_view {
      if (inline_value) return *inline_value;
      if (i + 1 >= argc) throw usage_error(std::string(name) + " needs a value");
      return argv[++i];
    };
    auto worker_only = [&] {
      if (!is_worker) throw usage_error(std::string(name) + " is a 'fluxcap worker' option");
    };
    if (name == "--redis") {
      r.url = value();
    } else if (name == "--stream") {
      r.stream = value();
    } else if (name == "--redis-timeout") {
      r.timeout = parse_seconds(name, value());
    } else if (name == "--partitions" && !is_collect) {
      r.partitions = static_cast<unsigned>(parse_count(name, value(), 1, rp::max_partitions));
    } else if (name == "--batch" && !is_collect) {
      r.batch = static_cast<std::size_t>(parse_count(name, value(), 1, 100000));
    } else if (name == "--partitions-max") {
      worker_only();
      r.partitions_max = static_cast<unsigned>(parse_count(name, value(), 1, rp::max_partitions));
    } else if (name == "--lease-ms") {
      worker_only();
      r.lease_ms = parse_count(name, value(), 100, 3600000);
    } else if (name == "--poll-ms") {
      worker_only();
      r.poll_ms = parse_count(name, value(), 1, 60000);
    } else if (name == "--reconnect-for") {
      worker_only();
      r.reconnect_for = parse_seconds(name, value());
    } else if (name == "--cache-groups") {
      worker_only();
      r.cache_groups = parse_count(name, value(), 1, std::uint64_t{1} << 40);
    } else if ((name == "--state-ttl" || name == "--max-time-ahead") && is_collect) {
      throw usage_error(std::string(name) +
                        " is a 'fluxcap produce' and 'fluxcap worker' option (collect "
                        "merges what the workers wrote)");
    } else if (name == "--state-ttl") {
      // Parsed as run's, but without run's need of --state-db: Redis holds the groups.
      if (r.state_ttl) throw usage_error("--state-ttl is given twice");
      r.state_ttl = std::string(value());
    } else if (name == "--max-time-ahead") {
      if (r.max_time_ahead) throw usage_error("--max-time-ahead is given twice");
      r.max_time_ahead = std::string(value());
    } else if (name == "--detections-only") {
      if (!is_worker && !is_collect)
        throw usage_error("--detections-only is a 'fluxcap worker' option");
      if (inline_value) throw usage_error("--detections-only takes no value");
      r.detections_only = true;
    } else {
      rest.emplace_back(arg);
    }
  }
  if (r.url.empty()) throw usage_error("'fluxcap " + r.cmd + "' needs --redis URL");
  if (r.stream.empty()) throw usage_error("'fluxcap " + r.cmd + "' needs --stream NAME");
  if (!rp::valid_stream_name(r.stream))
    throw usage_error("--stream '" + cut_for_message(r.stream) +
                      "': 1 to 64 letters, digits, '_', '-' or '.'");
  // A plain collect takes no run options; one of a deployment with correlation rules
  // takes the workers' (--rules ...), to run them.
  if (is_collect && rest.size() == 2 && !r.detections_only) return r;
  if (is_collect && std::none_of(rest.begin(), rest.end(), [](const std::string& a) {
        return a == "--rules" || a.starts_with("--rules=");
      }))
    throw usage_error(
        "'fluxcap collect' takes run options only with --rules PATH... --profile P (the "
        "workers' Sigma rules, to run their correlation rules)");
  std::vector<const char*> args;
  args.reserve(rest.size());
  for (const auto& a : rest) args.push_back(a.c_str());
  r.run = parse_options(static_cast<int>(args.size()), args.data());
  if (r.run.help) {
    r.help = true;
    return r;
  }
  if (r.state_ttl) r.run.state_ttl_ms = parse_duration("--state-ttl", *r.state_ttl);
  if (r.max_time_ahead) {
    if (!r.state_ttl) throw usage_error(max_time_ahead_needs_ttl);
    r.run.max_time_ahead_ms = parse_duration("--max-time-ahead", *r.max_time_ahead);
  }
  if (r.run.rule_paths.empty() && r.run.spec_path.empty())
    throw usage_error("'fluxcap " + r.cmd + "' needs --spec FILE or --rules PATH... --profile P");
  if (r.run.state_path || (r.run.state_db && !is_worker))
    throw usage_error("'fluxcap " + r.cmd + "' keeps group states in Redis: --state" +
                      (is_worker ? " is" : " and --state-db are") + " for 'run'");
  if (is_worker && r.cache_groups > 0 && !r.run.state_db)
    throw usage_error("--cache-groups bounds the warm cache: it needs --state-db DIR");
#ifndef FLUXCAP_TOOL_HAS_ROCKSDB
  if (r.run.state_db)
    throw usage_error(
        "--state-db needs RocksDB, which this build of fluxcap lacks (build it "
        "with librocksdb-dev installed)");
#endif
  if (r.run.threads != 1)
    throw usage_error("'fluxcap " + r.cmd + "' runs on one thread: start more workers");
  if (!r.run.inputs.empty() && r.cmd != "produce")
    throw usage_error("'fluxcap " + r.cmd + "' reads the stream, not files ('" +
                      cut_for_message(r.run.inputs[0]) + "'); send them with 'fluxcap produce'");
  return r;
}

// ---------------------------------------------------------------------------------------
// Signals: SIGTERM and SIGINT ask a worker to commit, release and exit.

volatile std::sig_atomic_t stop_requested = 0;

extern "C" void on_stop_signal(int) {
  stop_requested = 1;
}

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // Redis calls resume; the flag is read between batches
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
}

/// Test hooks: FLUXCAP_TEST_REDIS_KILL_AT=point:k kills the process (SIGKILL), and
/// FLUXCAP_TEST_REDIS_STOP_AT=point:k stops it (SIGSTOP), the k-th time `point` is
/// reached (points: before-commit; commit-half-sent, half of the commit's request sent;
/// commit-sent, all of it sent, its reply not read; after-commit).
void test_point(const char* point) {
  struct hook {
    const char* variable;
    int signal;
    std::uint64_t reached = 0;
  };
  static hook hooks[] = {{"FLUXCAP_TEST_REDIS_KILL_AT", SIGKILL, 0},
                         {"FLUXCAP_TEST_REDIS_STOP_AT", SIGSTOP, 0}};
  for (auto& h : hooks) {
    const char* at = std::getenv(h.variable);
    if (at == nullptr) continue;
    const std::string_view spec = at;
    const auto colon = spec.rfind(':');
    if (spec.substr(0, colon) != point) continue;
    std::uint64_t k = 1;
    if (colon != std::string_view::npos)
      (void)std::from_chars(spec.data() + colon + 1, spec.data() + spec.size(), k);
    if (++h.reached == k) ::raise(h.signal);
  }
}

/// Whether a test hook is set (the commit's request is then sent in two halves).
bool test_hooks_set() {
  static const bool set = std::getenv("FLUXCAP_TEST_REDIS_KILL_AT") != nullptr ||
                          std::getenv("FLUXCAP_TEST_REDIS_STOP_AT") != nullptr;
  return set;
}

/// The points in the middle of a commit's request (redis_client::set_send_hook).
void commit_sent_point(bool whole) {
  test_point(whole ? "commit-sent" : "commit-half-sent");
}

// ---------------------------------------------------------------------------------------
// The server and the deployment.

/// A Redis that may evict keys could drop group states or committed outputs silently:
/// refused. Returns a warning about durability, or "".
std::string check_server(redis_client& c) {
  auto config = [&](std::string_view name) -> std::optional<std::string> {
    const redis_reply r = c.command({"CONFIG", "GET", name}, true);
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2) return std::nullopt;
    return std::string(reply_text(r->element[1]));
  };
  const auto policy = config("maxmemory-policy");
  if (!policy)
    throw usage_error("Redis at " + c.where() +
                      ": cannot read maxmemory-policy (CONFIG GET refused): fluxcap needs "
                      "noeviction and cannot verify it");
  if (*policy != "noeviction")
    throw usage_error("Redis at " + c.where() + " has maxmemory-policy " + *policy +
                      ": it could evict group states or outputs silently; fluxcap needs "
                      "noeviction (CONFIG SET maxmemory-policy noeviction)");
  const auto aof = config("appendonly");
  const auto fsync = config("appendfsync");
  if (aof != std::optional<std::string>("yes"))
    return "Redis at " + c.where() +
           " has no append-only file: a Redis crash loses what was written since its last "
           "snapshot (inputs too)";
  if (fsync != std::optional<std::string>("always"))
    return "Redis at " + c.where() + " has appendfsync " + fsync.value_or("?") +
           ": a Redis crash may lose the last second of writes (inputs too); lost commits are "
           "recomputed with the same IDs";
  return {};
}

struct deployment {
  unsigned partitions = 0;
  fluxcap::hash_key key;
  std::string spec;                ///< the spec fingerprint recorded, or empty
  std::uint64_t correlations = 0;  ///< Sigma correlation rules of the spec (collect runs them)
};

std::string key_hex(const fluxcap::hash_key& k) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016" PRIx64 "%016" PRIx64, k.k0, k.k1);
  return buf;
}

bool parse_key_hex(std::string_view s, fluxcap::hash_key& k) {
  if (s.size() != 32) return false;
  const auto a = std::from_chars(s.data(), s.data() + 16, k.k0, 16);
  const auto b = std::from_chars(s.data() + 16, s.data() + 32, k.k1, 16);
  return a.ec == std::errc() && a.ptr == s.data() + 16 && b.ec == std::errc() &&
         b.ptr == s.data() + 32;
}

/// The deployment of `stream`, created (with `partitions`, or the default) unless there
/// is one. `routing` names how group keys are read; a deployment routed otherwise, or
/// with other partitions than asked, is refused.
deployment open_deployment(redis_client& c, const std::string& stream,
                           std::optional<unsigned> partitions, const std::string& routing,
                           bool create) {
  static redis_script script{rp::create_deployment_script, {}};
  const std::string dkey = rp::deployment_key(stream);
  redis_reply r;
  if (create) {
    const std::string p = std::to_string(partitions.value_or(rp::default_partitions));
    const std::string key = key_hex(fluxcap::hash_key::random());
    r = c.eval(script, {dkey}, {rp::format, p, key, routing});
  } else {
    r = c.command(
        {"HMGET", dkey, "format", "partitions", "hash_key", "routing", "spec", "correlations"});
  }
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 6)
    throw io_error("Redis at " + c.where() + ": unexpected reply reading " + dkey);
  auto field = [&](std::size_t i) { return std::string(reply_text(r->element[i])); };
  if (r->element[0]->type == REDIS_REPLY_NIL)
    throw io_error("stream '" + stream + "' has no deployment (" + dkey +
                   "): nothing was produced or worked on yet");
  if (field(0) != rp::format)
    throw usage_error("stream '" + stream + "': the deployment has format '" +
                      cut_for_message(field(0)) + "', this fluxcap speaks '" +
                      std::string(rp::format) + "'");
  deployment d;
  std::uint64_t n = 0;
  const std::string pt = field(1);
  const auto pr = std::from_chars(pt.data(), pt.data() + pt.size(), n);
  if (pr.ec != std::errc() || n == 0 || n > rp::max_partitions || !parse_key_hex(field(2), d.key))
    throw io_error("stream '" + stream + "': the deployment record " + dkey + " is damaged");
  d.partitions = static_cast<unsigned>(n);
  if (partitions && *partitions != d.partitions)
    throw usage_error("stream '" + stream + "' has " + std::to_string(d.partitions) +
                      " partitions, not " + std::to_string(*partitions) +
                      " (fixed when the deployment was created)");
  if (create && field(3) != routing)
    throw usage_error("stream '" + stream + "' routes events by " + cut_for_message(field(3)) +
                      ", not by " + cut_for_message(routing) +
                      " (the group key must be the one every producer and worker uses)");
  d.spec = field(4);
  if (const std::string cr = field(5); !cr.empty()) {
    const auto cp = std::from_chars(cr.data(), cr.data() + cr.size(), d.correlations);
    if (cp.ec != std::errc() || cp.ptr != cr.data() + cr.size())
      throw io_error("stream '" + stream + "': the deployment record " + dkey + " is damaged");
  }
  return d;
}

// ---------------------------------------------------------------------------------------
// Processors: the ones `fluxcap run` uses, built the same way.

using run_memory =
    std::variant<fluxcap::exact_memory, fluxcap::bloom_memory, fluxcap::cuckoo_memory>;

run_memory make_memory(const options& o) {
  fluxcap::memory_config config;
  config.capacity = o.capacity;
  config.fpp = o.fpp;
  config.generations = o.generations;
  try {
    switch (o.memory) {
      case fluxcap::memory_mode::exact:
        return fluxcap::exact_memory(config);
      case fluxcap::memory_mode::cuckoo:
        return fluxcap::cuckoo_memory(config);
      case fluxcap::memory_mode::bloom:
        break;
    }
    return fluxcap::bloom_memory(config);
  } catch (const std::invalid_argument& e) {
    std::string what = e.what();
    if (what.starts_with("fluxcap: ")) what.erase(0, 9);
    throw usage_error(what);
  }
}

event_limits make_limits(const options& o) {
  event_limits limits;
  limits.line.max_tags = static_cast<std::size_t>(o.max_tags_per_event);
  limits.max_groups = o.max_groups;
  limits.max_key_bytes = o.max_key_bytes;
  limits.max_time_ahead_ms = time_ahead_bound(o);
  return limits;
}

void append_file(std::string& text, const std::string& path) {
  const auto bytes = read_file_if_exists(path);
  if (!bytes) throw usage_error("cannot read '" + cut_for_message(path) + "'");
  text += path;
  text += '\0';
  text += std::to_string(bytes->size());
  text += '\0';
  text.append(bytes->begin(), bytes->end());
}

/// What must be equal in every worker of a deployment for their outputs to be the ones
/// one `fluxcap run` writes: the format, the spec or the rule and profile files (bytes),
/// and every option that changes an output or a state; with `correlations` (the Sigma
/// correlation rules among the rules, which `collect` runs), the correlation options too.
std::string spec_fingerprint(const redis_options& r, std::size_t correlations) {
  const options& o = r.run;
  std::string text(rp::format);
  text += '\n';
  if (o.rule_paths.empty()) {
    text += "spec\n";
    append_file(text, o.spec_path);
  } else {
    text += "rules\n";
    for (const auto& path : o.rule_paths) {
      std::error_code ec;
      if (std::filesystem::is_directory(path, ec)) {
        std::vector<std::string> files;
        for (const auto& e : std::filesystem::recursive_directory_iterator(path, ec)) {
          const std::string ext = e.path().extension().string();
          if (e.is_regular_file(ec) && (ext == ".yml" || ext == ".yaml"))
            files.push_back(e.path().string());
        }
        std::sort(files.begin(), files.end());
        for (const auto& f : files) append_file(text, f);
      } else {
        append_file(text, path);
      }
    }
    text += "profile\n";
    const std::string_view p = o.profile;
    if (p.find('/') != std::string_view::npos || p.ends_with(".yml") || p.ends_with(".yaml"))
      append_file(text, o.profile);
    else
      text += o.profile;
  }
  char fpp[64];
  std::snprintf(fpp, sizeof fpp, "%.17g", o.fpp);
  text += "\nmemory " + std::to_string(static_cast<int>(o.memory)) + " " +
          std::to_string(o.capacity) + " " + fpp + " " + std::to_string(o.generations);
  text += "\ngroup-key " + std::string(o.group_key ? "=" + *o.group_key : "-");
  text += "\ntags-field " + o.tags_field + "\ndetections-field " + o.detections_field;
  text += "\non-error " + std::to_string(static_cast<int>(o.on_error));
  text += "\nlimits " + std::to_string(o.max_line_bytes) + " " +
          std::to_string(o.max_tags_per_event) + " " + std::to_string(o.max_groups) + " " +
          std::to_string(o.max_key_bytes);
  text += "\nstrict " + std::to_string(o.strict ? 1 : 0);
  text += "\ndetections-only " + std::to_string(r.detections_only ? 1 : 0);
  if (o.state_ttl_ms > 0)  // absent otherwise, likewise; the state values hold times then
    text += "\nstate-ttl " + std::to_string(o.state_ttl_ms);
  if (correlations > 0)  // absent otherwise: the fingerprints of earlier deployments hold
    text += "\ncorrelations " + std::to_string(correlations) + " " +
            std::to_string(static_cast<int>(o.correlation_memory)) + " " +
            std::to_string(o.max_window_events) + " " + std::to_string(o.max_correlation_groups) +
            " " + std::to_string(o.window_buckets) + " " + std::to_string(o.correlation_lag_ms);
  return rp::fingerprint_hex(text);
}

/// Calls `f(make, routing, detections_field, correlations)` with `make(key)` building a
/// processor of the run's kind (line_processor: --spec; sigma_line_processor: --rules)
/// for hash key `key` (always the same key: the deployment's), exactly as `fluxcap run`
/// builds them; `correlations`: the Sigma correlation rules among the rules (0 with
/// --spec), which the processors leave to `collect`, as `run` leaves them to its stage.
template <class F>
int with_processors(const redis_options& r, bool announce, F&& f) {
  const options& o = r.run;
  const run_memory memory_variant = make_memory(o);
  const event_limits limits = make_limits(o);
  if (o.rule_paths.empty()) {
    const loaded_spec s = load_spec(o.spec_path);
    if (o.state_ttl_ms > 0 && !s.prog.timestamp_column)
      throw usage_error(
          "--state-ttl drops groups idle in event time: it needs a spec with a "
          "timestamp column (rules with a timespan)");
    field_config fields;
    fields.tags_field = o.tags_field;
    if (!s.detections.empty()) fields.detections_field = o.detections_field;
    fields.group_key = o.group_key;
    fields.condition_rules = condition_rules(s);
    std::optional<json_schema> schema;
    try {
      schema.emplace(s.prog, fields);
    } catch (const std::invalid_argument& e) {
      throw usage_error(e.what());
    }
    const std::string routing =
        "spec group-key " + (o.group_key ? "=" + *o.group_key : std::string("-"));
    const std::string detections = s.detections.empty() ? std::string() : o.detections_field;
    return std::visit(
        [&](const auto& memory) {
          using processor = line_processor<std::decay_t<decltype(memory)> >;
          auto make = [&](const fluxcap::hash_key& key) {
            return std::make_unique<processor>(s, *schema, memory, limits, key);
          };
          return f(make, routing, detections, std::size_t{0});
        },
        memory_variant);
  }
  if (o.state_ttl_ms > 0)
    throw usage_error(
        "--state-ttl needs event times, which --rules runs do not give the state "
        "yet: use it with --spec");
  sigma_correlation_set correlations;
  const sigma_rule_set rules = load_sigma_rules(o, correlations);
  // Correlation rules group by their own fields (a user), across the partitions, which
  // are by the profile's group (a host): the processors write every base rule's
  // detections, and collect runs the correlations over the merged lines, in input order.
  refuse_unsupported_if_strict(o, report_unsupported(rules, correlations));
  if (announce) std::fprintf(stderr, "%s\n", sigma_summary(rules).c_str());
  json_fields_limits field_limits;
  field_limits.max_line_bytes = static_cast<std::size_t>(o.max_line_bytes);
  const std::string routing = "sigma group-path " + rules.compiled.group_path;
  return std::visit(
      [&](const auto& memory) {
        using memory_type = std::decay_t<decltype(memory)>;
        using processor = sigma_line_processor<memory_type>;
        const json_fields fields = processor::bound_fields(rules, field_limits);
        std::optional<typename processor::engine_type> engine;
        std::optional<fluxcap::hash_key> engine_key;
        auto make = [&](const fluxcap::hash_key& key) {
          if (!engine_key || !(*engine_key == key)) {
            engine.emplace(rules.compiled, fields, memory, sigma_regex{},
                           fluxcap::default_hash(key));
            engine_key = key;
          }
          return std::make_unique<processor>(rules, *engine, fields, memory, limits, key,
                                             field_limits);
        };
        return f(make, routing, rules.detections_field, correlations.rules.size());
      },
      memory_variant);
}

/// Whether output line `line` has a detection: its detections field holds a non-empty
/// array (both kinds of processors write `[]` or nothing when none fired).
bool has_detection(std::string_view line, const std::string& field) {
  if (field.empty() || is_blank_line(line)) return false;
  const auto at = sigma_detail::find_top_level_value(line, field);
  if (!at) return false;
  std::string_view v = line.substr(at->begin, at->end - at->begin);
  if (v.size() < 2 || v.front() != '[') return false;
  v = v.substr(1);
  std::size_t i = 0;
  while (i < v.size() && (v[i] == ' ' || v[i] == '\t' || v[i] == '\r' || v[i] == '\n')) ++i;
  return i < v.size() && v[i] != ']';
}

// ---------------------------------------------------------------------------------------
// produce

int produce(const redis_options& r) {
  redis_client c(r.url, r.timeout);
  // Connected once the rules are read: their errors come first, with nothing done.
  return with_processors(
      r, false, [&](auto& make, const std::string& routing, const std::string&, std::size_t) {
        c.connect();
        if (const std::string warning = check_server(c); !warning.empty())
          std::fprintf(stderr, "fluxcap: warning: %s\n", warning.c_str());
        const deployment d = open_deployment(c, r.stream, r.partitions, routing, true);
        auto proc = make(d.key);
        std::vector<std::string> in_keys;
        for (unsigned p = 0; p < d.partitions; ++p)
          in_keys.push_back(rp::partition_key(r.stream, p, rp::in_part));
        const std::string seq = rp::sequence_key(r.stream);
        const std::string written = rp::written_key(r.stream);
        // With --state-ttl: the latest event time read so far (run's store's watermark,
        // from the stream's earlier producers on), sent with each line (field w).
        const bool timed = r.run.state_ttl_ms > 0;
        const std::string watermark_key = rp::watermark_key(r.stream);
        std::int64_t watermark = rp::no_time;
        if (timed) {
          const redis_reply w = c.command({"GET", watermark_key});
          if (w->type == REDIS_REPLY_STRING) {
            const std::string_view v = reply_text(w.get());
            const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), watermark);
            if (ec != std::errc() || end != v.data() + v.size())
              throw io_error("stream '" + r.stream + "': " + watermark_key + " is damaged");
            // Bounded as the lines' times are: an earlier producer may have stored a
            // time far ahead (before --max-time-ahead, or with a larger one).
            watermark = bounded_event_time(watermark, time_ahead_bound(r.run));
          }
        }

        struct pending {
          unsigned partition;
          std::string line;
          std::int64_t watermark;
        };
        std::vector<pending> batch;
        std::uint64_t sent = 0;
        auto flush = [&] {
          if (batch.empty()) return;
          // Line numbers reserved in one step: the merge order of `collect`.
          const redis_reply reserved = c.command({"INCRBY", seq, std::to_string(batch.size())});
          const std::uint64_t first =
              static_cast<std::uint64_t>(reserved->integer) - batch.size() + 1;
          std::vector<std::string> numbers;
          numbers.reserve(batch.size());
          std::string w;
          for (std::size_t i = 0; i < batch.size(); ++i) {
            numbers.push_back(std::to_string(first + i));
            if (!timed) {
              c.append({"XADD", in_keys[batch[i].partition], "*", "n", numbers.back(), "l",
                        batch[i].line});
            } else {  // always a w, "-" before the first time: a worker refuses entries without
              w = batch[i].watermark == rp::no_time ? std::string(rp::no_watermark)
                                                    : std::to_string(batch[i].watermark);
              c.append({"XADD", in_keys[batch[i].partition], "*", "n", numbers.back(), "w", w, "l",
                        batch[i].line});
            }
          }
          // After the XADDs on this connection: a worker or collect that reads it finds
          // every line numbered up to it.
          c.append({"EVAL", rp::raise_script, "1", written, numbers.back()});
          for (std::size_t i = 0; i <= batch.size(); ++i) (void)c.reply();
          if (timed && watermark != rp::no_time) {
            static redis_script raise{rp::raise_script, {}};
            (void)c.eval(raise, {watermark_key}, {std::to_string(watermark)});
          }
          sent += batch.size();
          batch.clear();
        };
        std::vector<std::string> inputs = r.run.inputs;
        if (inputs.empty()) inputs.emplace_back("-");
        std::string key;
        for (const auto& input : inputs) {
          line_reader reader(input, line_parser::padding(),
                             static_cast<std::size_t>(r.run.max_line_bytes));
          std::uint64_t line_no = 0;
          std::string_view line;
          while (reader.next(line)) {
            ++line_no;
            if (reader.too_long()) {
              flush();
              std::fprintf(stderr,
                           "fluxcap: %s:%" PRIu64 ": line longer than %" PRIu64
                           " bytes (--max-line-bytes): not sent; %" PRIu64
                           " lines before it were sent\n",
                           reader.name().c_str(), line_no, r.run.max_line_bytes, sent);
              return exit_data;
            }
            (void)proc->group_key_of(line, reader.readable(), key);
            if (timed) {
              // The processor's own rules: a line it refuses before its event time (or
              // without one) leaves the watermark as it is.
              if constexpr (requires { proc->event_time_of(line, reader.readable()); }) {
                if (const auto t = proc->event_time_of(line, reader.readable()))
                  watermark = std::max(watermark, *t);
              }
            }
            batch.push_back({rp::partition_of(key, d.partitions), std::string(line), watermark});
            if (batch.size() >= r.batch) flush();
          }
        }
        flush();
        return exit_ok;
      });
}

// ---------------------------------------------------------------------------------------
// worker

/// The group states of one partition a worker owns: all in memory (loaded when the
/// partition is taken); the groups used since the last commit are listed, so that the
/// commit writes only those. With --state-ttl (`ttl_ms`), each group keeps its last event
/// time, and expires as in rocksdb_state_store, against the watermark: the latest event
/// time the producer had read (the entries' field w; docs/scale-out.md).
class partition_groups final : public group_backend {
 public:
  struct entry {
    fluxcap::group_state state;
    bool touched = false;
    std::int64_t last = rp::no_time;  ///< the last event time (with --state-ttl)
  };
  // Group keys (host names) come from the events: keyed, as in_memory_state_store's.
  using map_type =
      std::unordered_map<std::string, entry, fluxcap::keyed_string_hash, std::equal_to<> >;

  partition_groups(fluxcap::group_state empty, std::int64_t ttl_ms)
      : empty_(std::move(empty)), ttl_ms_(ttl_ms) {}

  fluxcap::group_state* find(std::string_view key) override {
    const auto it = map_.find(key);
    if (it == map_.end()) return nullptr;
    if (ttl_ms_ > 0) {
      if (rp::expired(it->second.last, watermark_, ttl_ms_))
        it->second.state = empty_;  // idle too long: dropped, the group starts anew
      stamp(it->second);
    }
    touch(*it);
    return &it->second.state;
  }
  fluxcap::group_state& create(std::string_view key) override {
    auto& e = *map_.emplace(std::string(key), entry{empty_, false}).first;
    if (ttl_ms_ > 0) stamp(e.second);
    touch(e);
    return e.second.state;
  }
  [[nodiscard]] std::uint64_t size() const override { return map_.size(); }
  void set_event_time(std::int64_t ms) override {
    if (redis_protocol::lacks_watermark(ttl_ms_, ms, watermark_))
      throw usage_error(redis_protocol::lacks_watermark_message);
    event_time_ = ms;
  }
  /// With --state-ttl: the latest event time seen (an entry's w, or Redis's committed one).
  void set_watermark(std::int64_t w) noexcept { watermark_ = std::max(watermark_, w); }
  [[nodiscard]] std::int64_t watermark() const noexcept { return watermark_; }

  /// A state read from Redis, with its last event time (with --state-ttl).
  void load(std::string key, fluxcap::group_state state, std::int64_t last = rp::no_time) {
    map_.insert_or_assign(std::move(key), entry{std::move(state), false, last});
    earliest_ = std::min(earliest_, last);
  }
  [[nodiscard]] const std::vector<map_type::value_type*>& touched() const noexcept {
    return touched_;
  }
  /// Whether group `e` is expired at the watermark (with --state-ttl).
  [[nodiscard]] bool expired(const entry& e) const noexcept {
    return rp::expired(e.last, watermark_, ttl_ms_);
  }
  /// With --state-ttl: appends the keys of the groups expired at the watermark (the
  /// commit removes them; then `committed` forgets them).
  void collect_expired(std::vector<std::string>& out) {
    if (ttl_ms_ <= 0 || !rp::expired(earliest_, watermark_, ttl_ms_)) return;
    earliest_ = std::numeric_limits<std::int64_t>::max();
    for (const auto& [key, e] : map_) {
      if (rp::expired(e.last, watermark_, ttl_ms_))
        out.push_back(key);
      else
        earliest_ = std::min(earliest_, e.last);
    }
  }
  /// After a commit, which removed the groups `expired` (collect_expired's).
  void committed(const std::vector<std::string>& expired) noexcept {
    for (auto* e : touched_) e->second.touched = false;
    touched_.clear();
    for (const auto& key : expired) map_.erase(key);
  }

 private:
  void touch(map_type::value_type& e) {
    if (e.second.touched) return;
    e.second.touched = true;
    touched_.push_back(&e);
  }
  void stamp(entry& e) noexcept {
    e.last = event_time_;
    earliest_ = std::min(earliest_, event_time_);
  }
  fluxcap::group_state empty_;
  map_type map_;  // node-based: pointers to entries stay valid
  std::vector<map_type::value_type*> touched_;
  std::int64_t ttl_ms_ = 0;
  std::int64_t watermark_ = rp::no_time;
  std::int64_t event_time_ = rp::no_time;
  std::int64_t earliest_ = std::numeric_limits<std::int64_t>::max();  ///< a bound
};

struct worker_stats {
  std::uint64_t events = 0, commits = 0, stale_refusals = 0, position_refusals = 0,
                partitions_taken = 0, partitions_given_up = 0, leases_lost = 0, reconnects = 0,
                bad_lines = 0;
};

constexpr std::uint64_t max_reported_bad_lines = 10;

template <class Processor, class Make>
class worker {
 public:
  worker(const redis_options& r, redis_client& c, const deployment& d, std::string fingerprint,
         Make& make, std::string detections_field)
      : r_(r),
        c_(c),
        d_(d),
        fingerprint_(std::move(fingerprint)),
        make_(make),
        detections_field_(std::move(detections_field)) {
    char host[256] = {};
    (void)::gethostname(host, sizeof host - 1);
    const auto k = fluxcap::hash_key::random();
    char tail[32];
    std::snprintf(tail, sizeof tail, "%08" PRIx64, k.k0 & 0xffffffffU);
    id_ = std::string(host) + "/" + std::to_string(::getpid()) + "/" + tail;
    members_.emplace(r.stream, id_, d.partitions, r.partitions_max, r.lease_ms);
    written_key_ = rp::written_key(r.stream);
  }

  /// Keeps the partitions' groups in `cache` (--state-db) instead of memory alone.
  void use_cache(warm_cache* cache) noexcept { cache_ = cache; }

  int run() {
    if (r_.run.stats)
      std::fprintf(stderr, "fluxcap: worker %s: stream %s, %u partitions\n", id_.c_str(),
                   r_.stream.c_str(), d_.partitions);
    auto last_renew = clock_type::now() - std::chrono::hours(1);
    auto last_acquire = last_renew;
    auto lost_since = clock_type::now();
    bool lost = false;
    while (stop_requested == 0) {
      try {
        if (!c_.connected()) {
          c_.connect();
          ++stats_.reconnects;
          idle_mark_.reset();  // a restarted Redis may have rolled the count back
          lost = false;
          std::fprintf(stderr, "fluxcap: worker: reconnected to Redis at %s\n", c_.where().c_str());
        }
        const auto now = clock_type::now();
        if (now - last_renew >= std::chrono::milliseconds(r_.lease_ms / 3)) {
          renew_and_acquire();
          last_renew = last_acquire = now;
        } else if (pending_ && now - last_acquire >= acquire_retry()) {
          // Partitions assigned here and still held by their previous owners, who give
          // them up at their next heartbeat: tried more often than the heartbeat, so that
          // a joining worker gets its share soon after they do.
          acquire_assigned();
          last_acquire = now;
        }
        // Idle: one read of the producers' count instead of a read a partition owned.
        std::optional<std::string> written;
        if (last_round_idle_) {
          const redis_reply w = c_.command({"GET", written_key_});
          if (w->type == REDIS_REPLY_STRING) written = std::string(reply_text(w.get()));
          if (written && idle_mark_ && *written == *idle_mark_) {
            if (stop_requested == 0)
              std::this_thread::sleep_for(std::chrono::milliseconds(r_.poll_ms));
            continue;
          }
        }
        const auto result = round();
        last_round_idle_ = result == batch_result::idle;
        if (last_round_idle_)
          idle_mark_ = written;  // the round saw every line counted in it
        else
          idle_mark_.reset();
        if (result == batch_result::fatal) return finish(fatal_status_);
        if (result == batch_result::dropped)  // the other leases may be lost too (a long
          last_renew = clock_type::now() - std::chrono::hours(1);  // pause): check them
        const bool worked = result != batch_result::idle;
        if (!worked && stop_requested == 0)
          std::this_thread::sleep_for(std::chrono::milliseconds(r_.poll_ms));
      } catch (const redis_error& e) {
        if (!e.connection()) throw;
        // What was not committed is recomputed by whoever takes the partition (this
        // worker too, after reconnecting: it reloads the committed state).
        if (!lost)
          std::fprintf(stderr, "fluxcap: worker: %s; dropping %zu partitions, reconnecting\n",
                       e.what(), owned_.size());
        owned_.clear();
        c_.disconnect();
        if (!lost) lost_since = clock_type::now();
        lost = true;
        if (clock_type::now() - lost_since > std::chrono::duration<double>(r_.reconnect_for)) {
          std::fprintf(stderr, "fluxcap: worker: Redis lost for more than %g s: exiting\n",
                       r_.reconnect_for);
          return finish_status(exit_data);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        last_renew = clock_type::now() - std::chrono::hours(1);
      }
    }
    return finish(exit_ok);
  }

 private:
  enum class batch_result : std::uint8_t { idle, worked, dropped, fatal };

  struct partition {
    unsigned p = 0;
    std::string gen;
    std::string lease_value;
    std::string pos = "0-0";
    std::string in, out, state, pos_key, lease, gen_key, meta;
    std::unique_ptr<Processor> proc;
    std::unique_ptr<partition_groups> groups;
    std::unique_ptr<warm_partition> warm;  ///< instead of groups, with --state-db
    std::vector<std::string> expiring;  ///< with --state-ttl: groups the commit in flight removes
  };

  /// Every third of the lease: the heartbeat (membership and assignment), the renewal of
  /// the leases held, the partitions given up because the assignment moved them to another
  /// worker (between batches: everything processed is committed), and the partitions
  /// assigned here taken when free. A few round trips whatever the partitions.
  void renew_and_acquire() {
    static redis_script renew{rp::renew_script, {}};
    members_->heartbeat(c_);
    // A full round every heartbeat, idle or not: lines can be in a stream without the
    // producers' mark raised (a producer killed in the middle of a batch).
    idle_mark_.reset();
    const std::string ttl = std::to_string(r_.lease_ms);
    std::vector<redis_script_call> calls;
    calls.reserve(owned_.size());
    for (const auto& o : owned_)
      calls.push_back({{o->lease, o->gen_key}, {o->lease_value, o->gen, ttl}});
    const auto renewed = eval_pipelined(c_, renew, calls);
    std::vector<std::unique_ptr<partition> > kept, given_up;
    for (std::size_t i = 0; i < owned_.size(); ++i) {
      auto& o = owned_[i];
      if (renewed[i]->type != REDIS_REPLY_INTEGER || renewed[i]->integer != 1) {
        ++stats_.leases_lost;
        std::fprintf(stderr, "fluxcap: worker: lease of partition %u lost; dropping it\n", o->p);
      } else if (!members_->assigned(o->p)) {
        given_up.push_back(std::move(o));
      } else {
        kept.push_back(std::move(o));
      }
    }
    owned_ = std::move(kept);
    if (!given_up.empty()) {
      release(given_up);
      stats_.partitions_given_up += given_up.size();
      if (r_.run.stats)
        for (const auto& o : given_up)
          std::fprintf(stderr,
                       "fluxcap: worker: gave up partition %u (assigned to another of %zu "
                       "workers)\n",
                       o->p, members_->members());
    }
    acquire_assigned();
    for (const auto& o : owned_)  // the warm cache's bound, shared by the partitions
      if (o->warm) o->warm->share_cache(owned_.size());
  }

  /// Takes the partitions assigned here that are not held (one pipeline of the acquire
  /// script for those not owned yet); `pending_` says whether some are still held by
  /// another worker.
  void acquire_assigned() {
    static redis_script acquire{rp::acquire_script, {}};
    std::vector<char> owned(d_.partitions, 0);
    for (const auto& o : owned_) owned[o->p] = 1;
    std::vector<unsigned> wanted;
    std::vector<std::string> keys;
    for (const unsigned p : members_->assigned_partitions()) {
      if (owned[p] != 0 || owned_.size() + wanted.size() >= r_.partitions_max) continue;
      wanted.push_back(p);
      keys.push_back(rp::partition_key(r_.stream, p, rp::lease_part));
      keys.push_back(rp::partition_key(r_.stream, p, rp::gen_part));
    }
    pending_ = false;
    if (wanted.empty()) return;
    const std::string ttl = std::to_string(r_.lease_ms);
    std::vector<redis_script_call> calls;
    calls.reserve(wanted.size());
    for (std::size_t i = 0; i < wanted.size(); ++i)
      calls.push_back({{keys[2 * i], keys[2 * i + 1]}, {id_, ttl}});
    const auto acquired = eval_pipelined(c_, acquire, calls);
    for (std::size_t i = 0; i < wanted.size(); ++i) {
      const redisReply* ar = acquired[i].get();
      if (ar->type != REDIS_REPLY_INTEGER || ar->integer <= 0) {
        pending_ = true;
        continue;
      }
      const std::string gen = std::to_string(ar->integer);
      if (stop_requested == 0) {
        take(wanted[i], gen);
        continue;
      }
      // Exiting: not loaded (the loads may be many); given back at once, not left to expire.
      static redis_script release_one{rp::release_script, {}};
      (void)c_.eval(release_one, {keys[2 * i]}, {id_ + ":" + gen});
    }
  }

  [[nodiscard]] std::chrono::milliseconds acquire_retry() const {
    return std::chrono::milliseconds(std::max(r_.poll_ms, r_.lease_ms / 12));
  }

  /// Gives leases up (a script deletes each only if it is still this worker's).
  void release(const std::vector<std::unique_ptr<partition> >& parts) {
    static redis_script release{rp::release_script, {}};
    std::vector<redis_script_call> calls;
    calls.reserve(parts.size());
    for (const auto& o : parts) calls.push_back({{o->lease}, {o->lease_value}});
    (void)eval_pipelined(c_, release, calls);
  }

  /// A partition whose lease was just taken: its committed position and group states.
  void take(unsigned p, const std::string& gen) {
    const auto take_started = clock_type::now();
    auto o = std::make_unique<partition>();
    o->p = p;
    o->gen = gen;
    o->lease_value = id_ + ":" + o->gen;
    o->in = rp::partition_key(r_.stream, p, rp::in_part);
    o->out = rp::partition_key(r_.stream, p, rp::out_part);
    o->state = rp::partition_key(r_.stream, p, rp::state_part);
    o->pos_key = rp::partition_key(r_.stream, p, rp::pos_part);
    o->lease = rp::partition_key(r_.stream, p, rp::lease_part);
    o->gen_key = rp::partition_key(r_.stream, p, rp::gen_part);
    o->meta = rp::partition_key(r_.stream, p, rp::meta_part);
    o->proc = make_(d_.key);
    const std::int64_t ttl = r_.run.state_ttl_ms;
    o->groups = std::make_unique<partition_groups>(o->proc->capacitor().make_state(), ttl);
    // The position first: states committed later than it would be ahead of it, but the
    // lease is ours, so no commit comes between the two reads.
    const redis_reply pos = c_.command({"GET", o->pos_key});
    if (pos->type == REDIS_REPLY_STRING) o->pos = std::string(reply_text(pos.get()));
    if (cache_ != nullptr) {
      for (const auto& other : owned_)  // the warm cache's bound, shared from now on
        if (other->warm) other->warm->share_cache(owned_.size() + 1);
      // The local store holds the state committed at `pos` (warm), or is emptied (cold).
      o->warm = std::make_unique<warm_partition>(
          *cache_, p, o->proc->capacitor(),
          pos->type == REDIS_REPLY_STRING ? std::string_view(o->pos) : std::string_view(),
          owned_.size() + 1, ttl, event_time_ceiling(time_ahead_bound(r_.run)));
      o->groups.reset();
    }
    if (ttl > 0) {  // the watermark committed with the states (before any group is loaded)
      const redis_reply w = c_.command({"HGET", o->meta, "watermark"});
      if (w->type == REDIS_REPLY_STRING) {
        const std::string_view v = reply_text(w.get());
        std::int64_t t = 0;
        const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), t);
        if (ec != std::errc() || end != v.data() + v.size())
          throw io_error("partition " + std::to_string(p) + ": the watermark in " + o->meta +
                         " is damaged");
        t = bounded_event_time(t, time_ahead_bound(r_.run));  // as the producers' are
        if (o->warm)
          o->warm->set_watermark(t);
        else
          o->groups->set_watermark(t);
      }
    }
    std::string cursor = o->warm && o->warm->warm() ? "0" : "";
    std::size_t groups = 0;
    while (cursor != "0") {
      if (cursor.empty()) cursor = "0";
      const redis_reply scan = c_.command({"HSCAN", o->state, cursor, "COUNT", "1000"});
      if (scan->type != REDIS_REPLY_ARRAY || scan->elements != 2)
        throw io_error("unexpected HSCAN reply for " + o->state);
      cursor = std::string(reply_text(scan->element[0]));
      const redisReply* items = scan->element[1];
      for (std::size_t i = 0; i + 1 < items->elements; i += 2) {
        std::string_view blob = reply_text(items->element[i + 1]);
        std::int64_t last = rp::no_time;
        if (ttl > 0) {  // the last event time first (rp::append_timed_state)
          if (blob.size() < rp::timed_state_header)
            throw io_error("partition " + std::to_string(p) + ": a group value in " + o->state +
                           " is truncated (no event time)");
          // Bounded as the events' times are: a group stamped far ahead (before the
          // bound, or by a worker with a larger one) would raise a --state-db worker's
          // store to that time as it loads, and expire every group loaded with it.
          last = bounded_event_time(rp::timed_state_time(blob), time_ahead_bound(r_.run));
          blob.remove_prefix(rp::timed_state_header);
        }
        try {
          auto state = fluxcap::load_state(
              o->proc->capacitor(),
              std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(blob.data()),
                                            blob.size()));
          if (o->warm)
            o->warm->load(reply_text(items->element[i]), std::move(state), last);
          else
            o->groups->load(std::string(reply_text(items->element[i])), std::move(state), last);
        } catch (const fluxcap::decode_error& e) {
          throw io_error("partition " + std::to_string(p) + ": a group state in " + o->state +
                         " does not decode: " + e.what());
        }
        ++groups;
      }
    }
    if (o->warm) {
      if (!o->warm->warm() && pos->type == REDIS_REPLY_STRING) o->warm->commit(o->pos);
      groups = static_cast<std::size_t>(o->warm->size());
      o->proc->set_group_backend(o->warm.get());
    } else {
      o->proc->set_group_backend(o->groups.get());
    }
    ++stats_.partitions_taken;
    if (r_.run.stats)
      std::fprintf(
          stderr,
          "fluxcap: worker: took partition %u (generation %s, position %s, %zu groups%s, %.1f "
          "ms)\n",
          p, o->gen.c_str(), o->pos.c_str(), groups,
          !o->warm          ? ""
          : o->warm->warm() ? ", warm: local store"
                            : ", cold: read from Redis",
          std::chrono::duration<double, std::milli>(clock_type::now() - take_started).count());
    owned_.push_back(std::move(o));
    idle_mark_.reset();  // its lines are not counted in the mark
  }

  /// An output line of a batch, in out_text_.
  struct output {
    std::string_view id, n;
    std::size_t begin = 0, size = 0;
    bool bad = false;  ///< a bad line passed through (--on-error pass)
  };

  /// A batch read from a partition and processed: its outputs (in out_text_), the last
  /// input ID, the events, whether a bad line under --on-error fail stopped it.
  struct processed_batch {
    std::string_view last_id;
    std::uint64_t events = 0;
    bool stop_at_bad = false;
  };

  /// A commit sent, its reply not read yet.
  struct pending_commit {
    partition* o = nullptr;
    std::string new_pos;
    std::uint64_t events = 0;
    bool stop_at_bad = false;
  };

  /// One batch of each partition owned, pipelined: the next partition's read is sent
  /// before this one's batch is processed, and a commit's reply is read only after the
  /// next partition's batch is processed, so that Redis reads and commits for one
  /// partition while this worker computes another (a synchronous worker runs at
  /// 1 / (w + r), this one at up to 1 / max(w, r): docs/scale-out.md, "Performance").
  /// At most one read and one commit are in flight, and every reply is read before the
  /// round ends. A refused commit ends the round: its partition is dropped, and so is
  /// the partition processed meanwhile (its batch is not committed: taking it again
  /// reloads its committed state).
  batch_result round() {
    if (owned_.empty()) return batch_result::idle;
    std::vector<partition*> parts;
    parts.reserve(owned_.size());
    for (const auto& o : owned_) parts.push_back(o.get());
    std::vector<partition*> dropped;
    std::optional<pending_commit> inflight;
    batch_result result = batch_result::idle;
    bool stop = false;  // a refused commit or a fatal one: nothing more is sent
    // The replies come in the order the requests were sent: [read i, commit i-1] at the
    // top of iteration i.
    send_read(*parts[0]);
    bool read_inflight = true;
    auto finish_inflight = [&] {
      if (!inflight) return;
      pending_commit done = std::move(*inflight);
      inflight.reset();
      const redis_reply reply = c_.reply(true);
      const batch_result verdict = finish_commit(done, reply.get());
      if (verdict == batch_result::worked && !done.stop_at_bad) return;
      stop = true;
      if (verdict == batch_result::dropped) {
        dropped.push_back(done.o);
        result = batch_result::dropped;
      } else {
        result = batch_result::fatal;
        if (verdict == batch_result::worked) fatal_status_ = exit_data;  // stopped at a bad line
      }
    };
    for (std::size_t i = 0; i < parts.size(); ++i) {
      partition& o = *parts[i];
      const redis_reply entries = c_.reply();
      read_inflight = false;
      if (!stop && stop_requested == 0 && i + 1 < parts.size()) {
        send_read(*parts[i + 1]);
        read_inflight = true;
      }
      processed_batch b;
      const bool has_input = entries->type == REDIS_REPLY_ARRAY && entries->elements > 0;
      if (has_input) b = process_entries(o, entries.get());
      finish_inflight();  // Redis ran it while this batch was processed
      if (stop) {
        if (has_input) dropped.push_back(&o);  // processed, not committed
        break;
      }
      if (!has_input) {
        if (!read_inflight) break;
        continue;
      }
      if (result == batch_result::idle) result = batch_result::worked;
      if (!b.last_id.empty()) {
        send_commit(o, b);
        inflight = pending_commit{&o, std::string(b.last_id), b.events, b.stop_at_bad};
        if (b.stop_at_bad) break;  // its reply decides: fatal, or dropped
      } else if (b.stop_at_bad) {  // the first line is bad: nothing to commit
        fatal_status_ = exit_data;
        result = batch_result::fatal;
        stop = true;
        break;
      }
      if (!read_inflight) break;
    }
    if (read_inflight) (void)c_.reply();  // a read sent before the round stopped
    finish_inflight();
    for (partition* gone : dropped)
      std::erase_if(owned_, [&](const std::unique_ptr<partition>& o) { return o.get() == gone; });
    return result;
  }

  void send_read(const partition& o) {
    c_.send({"XRANGE", o.in, "(" + o.pos, "+", "COUNT", std::to_string(r_.batch)});
  }

  /// Processes a batch read from partition `o` (a non-empty XRANGE reply): its outputs
  /// go to outputs_ and out_text_ (no allocation a line).
  processed_batch process_entries(partition& o, const redisReply* entries) {
    processed_batch b;
    outputs_.clear();
    out_text_.clear();
    const std::size_t padding = line_parser::padding();
    const std::uint64_t max_line = r_.run.max_line_bytes;
    for (std::size_t i = 0; i < entries->elements; ++i) {
      const redisReply* e = entries->element[i];
      if (e->type != REDIS_REPLY_ARRAY || e->elements != 2) continue;
      const std::string_view id = reply_text(e->element[0]);
      const redisReply* f = e->element[1];
      std::string_view n, line, w;
      bool has_line = false;
      for (std::size_t k = 0; f->type == REDIS_REPLY_ARRAY && k + 1 < f->elements; k += 2) {
        const std::string_view name = reply_text(f->element[k]);
        if (name == "n") n = reply_text(f->element[k + 1]);
        if (name == "w") w = reply_text(f->element[k + 1]);
        if (name == "l") {
          line = reply_text(f->element[k + 1]);
          has_line = true;
        }
      }
      if (r_.run.state_ttl_ms > 0 && w != rp::no_watermark) {
        // The latest event time the producer had read, this line's included: the clock
        // of expiry, as `run`'s store's watermark at this line. A producer with
        // --state-ttl sends one with every line ("-" before the first time): an entry
        // without would be processed against a clock that may lag run's.
        std::int64_t t = 0;
        const auto [end, ec] = std::from_chars(w.data(), w.data() + w.size(), t);
        if (w.empty() || ec != std::errc() || end != w.data() + w.size())
          throw usage_error(rp::lacks_watermark_message);
        // Bounded by this clock too (a producer with a larger --max-time-ahead, or one
        // from before it), and the line's own time by it: the producer cut that time
        // with its earlier clock, which this worker's later one must not exceed.
        t = bounded_event_time(t, time_ahead_bound(r_.run));
        o.proc->set_time_ceiling(t);
        if (o.warm)
          o.warm->set_watermark(t);
        else
          o.groups->set_watermark(t);
      } else {
        // No time from the producer (none read yet, or no --state-ttl): no ceiling (one
        // kept from an earlier entry would cut silently a time that should stop us).
        o.proc->set_time_ceiling(std::numeric_limits<std::int64_t>::max());
      }
      const std::size_t begin = out_text_.size();
      problem_.clear();
      bool good = false, bad = false;
      if (!has_line) {
        problem_ = "stream entry without a line (field 'l')";
      } else if (line.size() > max_line) {
        problem_ = "line longer than " + std::to_string(max_line) + " bytes (--max-line-bytes)";
      } else {
        buffer_.assign(line);
        buffer_.resize(line.size() + padding, '\0');
        const auto result = o.proc->process(std::string_view(buffer_.data(), line.size()),
                                            buffer_.size(), out_text_, problem_);
        good = result != Processor::outcome::bad;
        if (result == Processor::outcome::event) ++b.events;
      }
      if (!good) {
        bad = true;
        ++stats_.bad_lines;
        if (r_.run.on_error == error_mode::fail) {
          std::fprintf(stderr, "fluxcap: stream %s partition %u entry %.*s (line %.*s): %s\n",
                       r_.stream.c_str(), o.p, static_cast<int>(id.size()), id.data(),
                       static_cast<int>(n.size()), n.data(), problem_.c_str());
          b.stop_at_bad = true;
          break;
        }
        const bool pass = r_.run.on_error == error_mode::pass;
        if (stats_.bad_lines <= max_reported_bad_lines)
          std::fprintf(stderr,
                       "fluxcap: warning: stream %s partition %u entry %.*s (line %.*s): %s; "
                       "line %s\n",
                       r_.stream.c_str(), o.p, static_cast<int>(id.size()), id.data(),
                       static_cast<int>(n.size()), n.data(), problem_.c_str(),
                       pass ? "passed through unchanged" : "skipped");
        out_text_.resize(begin);  // a bad line appends nothing; to be sure
        if (pass) out_text_.append(line);
        good = pass;
      }
      b.last_id = id;
      const std::size_t size = out_text_.size() - begin;
      // --detections-only: a bad line has no detections (none was computed), whatever
      // its text says.
      if (good && (!r_.detections_only ||
                   (!bad && has_detection(std::string_view(out_text_).substr(begin, size),
                                          detections_field_))))
        outputs_.push_back({id, n, begin, size, bad});
      else
        out_text_.resize(begin);
    }
    return b;
  }

  /// Sends the commit of batch `b` of partition `o` (outputs_, the groups it touched,
  /// the new position), fenced by the commit script; its reply is read by finish_commit.
  void send_commit(partition& o, const processed_batch& b) {
    static const redis_script script{rp::commit_script, {}};
    std::vector<std::vector<std::uint8_t> > blobs;
    std::vector<std::string_view> keys;
    const bool ttl = r_.run.state_ttl_ms > 0;
    std::vector<std::string> timed;  // with --state-ttl: the values (rp::append_timed_state)
    auto add = [&](std::string_view key, const fluxcap::group_state& state, std::int64_t last) {
      keys.push_back(key);
      blobs.push_back(fluxcap::save_state(o.proc->capacitor(), state));
      if (ttl)
        rp::append_timed_state(timed.emplace_back(), last,
                               std::string_view(reinterpret_cast<const char*>(blobs.back().data()),
                                                blobs.back().size()));
    };
    // With --state-ttl, the groups expired at the batch's watermark are removed, not
    // written (those used in the batch too): run's commit removes them. Kept with the
    // partition until the reply (finish_commit).
    std::vector<std::string>& expired = o.expiring;
    expired.clear();
    if (o.warm) {
      o.warm->for_each_touched(add);
      o.warm->collect_expired(expired);
    } else {
      for (const auto* e : o.groups->touched())
        if (!ttl || !o.groups->expired(e->second)) add(e->first, e->second.state, e->second.last);
      o.groups->collect_expired(expired);
    }
    const std::string n_out = std::to_string(outputs_.size());
    const std::string n_state = std::to_string(keys.size());
    std::vector<std::string_view> args{o.lease_value, o.gen, o.pos,  b.last_id,
                                       fingerprint_,  n_out, n_state};
    args.reserve(args.size() + 4 * outputs_.size() + 2 * keys.size());
    for (const auto& out : outputs_) {
      args.push_back(out.id);
      args.push_back(out.n);
      args.push_back(std::string_view(out_text_).substr(out.begin, out.size));
      args.push_back(out.bad ? std::string_view("1") : std::string_view(""));
    }
    for (std::size_t i = 0; i < keys.size(); ++i) {
      args.push_back(keys[i]);
      if (ttl)
        args.push_back(timed[i]);
      else
        args.emplace_back(reinterpret_cast<const char*>(blobs[i].data()), blobs[i].size());
    }
    const std::int64_t watermark = !ttl     ? rp::no_time
                                   : o.warm ? o.warm->watermark()
                                            : o.groups->watermark();
    const std::string n_expired = std::to_string(expired.size());
    const std::string watermark_text = std::to_string(watermark);
    if (watermark != rp::no_time) {  // absent without --state-ttl: the script as before
      args.push_back(n_expired);
      for (const auto& key : expired) args.push_back(key);
      args.push_back(watermark_text);
    }
    test_point("before-commit");
    {
      struct hook_scope {  // the hook watches this commit's request only
        redis_client& c;
        explicit hook_scope(redis_client& client) : c(client) {
          if (test_hooks_set()) c.set_send_hook(commit_sent_point);
        }
        ~hook_scope() { c.set_send_hook(nullptr); }
        hook_scope(const hook_scope&) = delete;
        hook_scope& operator=(const hook_scope&) = delete;
      } scope(c_);
      // EVAL with the script's text, not EVALSHA: a pipelined request cannot be sent
      // again after a NOSCRIPT reply (a restarted Redis) without reordering the replies.
      c_.send_eval(script, {o.lease, o.gen_key, o.pos_key, o.state, o.out, o.meta}, args);
    }
  }

  /// The reply of a commit sent by send_commit: worked (committed), dropped (refused as
  /// stale or for its position: the partition must be dropped), fatal (another spec).
  batch_result finish_commit(pending_commit& done, const redisReply* r) {
    partition& o = *done.o;
    test_point("after-commit");
    if (r->type == REDIS_REPLY_ERROR)
      throw redis_error("Redis at " + c_.where() + ": " + std::string(reply_text(r)), false);
    const std::string_view verdict = reply_text(r);
    if (verdict == "ok") {
      o.pos = std::move(done.new_pos);
      if (o.warm)
        o.warm->commit(o.pos);  // after Redis: a kill before leaves it behind (a cold start)
      else
        o.groups->committed(o.expiring);
      ++stats_.commits;
      stats_.events += done.events;
      return batch_result::worked;
    }
    if (o.warm) o.warm->discard();  // it must not keep what Redis refused
    if (verdict == "lease") {
      ++stats_.stale_refusals;
      std::fprintf(stderr,
                   "fluxcap: worker: commit to partition %u refused: generation %s is stale "
                   "(another worker took the partition); dropping it\n",
                   o.p, o.gen.c_str());
      return batch_result::dropped;
    }
    if (verdict == "position") {
      ++stats_.position_refusals;
      std::fprintf(stderr,
                   "fluxcap: worker: commit to partition %u refused: the committed position "
                   "is not %s; dropping it\n",
                   o.p, o.pos.c_str());
      return batch_result::dropped;
    }
    std::fprintf(stderr,
                 "fluxcap: worker: commit to partition %u refused: it was committed with "
                 "another spec or other options (%s)\n",
                 o.p, std::string(verdict).c_str());
    fatal_status_ = exit_usage;
    return batch_result::fatal;
  }

  /// Releases the leases (every batch is committed by now) and reports.
  int finish(int status) {
    // Out of the membership first, so that the others' next heartbeat assigns this
    // worker's partitions among them; they take each as soon as it is released here.
    try {
      members_->leave(c_);
      release(owned_);
    } catch (const redis_error&) {
      // the membership and the leases expire
    }
    owned_.clear();
    return finish_status(status);
  }

  int finish_status(int status) {
    if (r_.run.stats)
      std::fprintf(stderr,
                   "fluxcap: worker: %" PRIu64 " events, %" PRIu64 " commits, %" PRIu64
                   " commits refused as stale, %" PRIu64 " refused for their position, %" PRIu64
                   " partitions taken, %" PRIu64 " given up to other workers, %" PRIu64
                   " leases lost, %" PRIu64 " reconnects, %" PRIu64 " bad lines\n",
                   stats_.events, stats_.commits, stats_.stale_refusals, stats_.position_refusals,
                   stats_.partitions_taken, stats_.partitions_given_up, stats_.leases_lost,
                   stats_.reconnects, stats_.bad_lines);
    if (r_.run.stats && cache_ != nullptr) {
      const auto& w = cache_->stats();
      std::fprintf(stderr,
                   "fluxcap: worker: --state-db %s: %" PRIu64 " warm starts, %" PRIu64
                   " cold starts, %" PRIu64 " groups read from Redis, %" PRIu64
                   " partitions emptied, %" PRIu64 " groups evicted from the cache\n",
                   cache_->directory().c_str(), w.warm_starts, w.cold_starts, w.groups_reloaded,
                   w.discards, w.evictions);
    }
    return status;
  }

  const redis_options& r_;
  redis_client& c_;
  deployment d_;
  std::string fingerprint_;
  Make& make_;
  std::string detections_field_;
  std::string id_;
  std::optional<worker_membership> members_;
  bool pending_ = false;          ///< partitions assigned here are held by others
  std::string written_key_;       ///< rp::written_key
  bool last_round_idle_ = false;  ///< the last round read no line
  /// The producers' count read before the last idle round, which read every line it
  /// counts (the partitions owned since): while it is unchanged, nothing new arrived.
  std::optional<std::string> idle_mark_;
  std::vector<std::unique_ptr<partition> > owned_;
  warm_cache* cache_ = nullptr;
  worker_stats stats_;
  std::string buffer_;
  std::string out_text_;
  std::vector<output> outputs_;
  std::string problem_;
  int fatal_status_ = exit_data;
};

int run_worker(const redis_options& r) {
  redis_client c(r.url, r.timeout);
  // Connected once the rules are read: their errors come first, with nothing done.
  return with_processors(
      r, true,
      [&](auto& make, const std::string& routing, const std::string& detections,
          std::size_t correlations) {
        const std::string fingerprint = spec_fingerprint(r, correlations);
        c.connect();
        if (const std::string warning = check_server(c); !warning.empty())
          std::fprintf(stderr, "fluxcap: warning: %s\n", warning.c_str());
        const deployment d = open_deployment(c, r.stream, r.partitions, routing, true);
        static redis_script claim{rp::claim_spec_script, {}};
        const redis_reply claimed = c.eval(claim, {rp::deployment_key(r.stream)},
                                           {fingerprint, std::to_string(correlations)});
        if (reply_text(claimed.get()) != fingerprint)
          throw usage_error("stream '" + r.stream + "' is worked on with another spec or other " +
                            "options (fingerprint " + std::string(reply_text(claimed.get())) +
                            "; this worker's: " + fingerprint + "): refused");
        using processor = typename std::decay_t<decltype(make(d.key))>::element_type;
        using make_type = std::decay_t<decltype(make)>;
        std::unique_ptr<warm_cache> cache;  // outlives the worker's partitions
        if (r.run.state_db) {
          // Written for this deployment (stream, hash key) and spec only.
          const std::string id =
              rp::fingerprint_hex(r.stream + "\n" + key_hex(d.key) + "\n" + fingerprint);
          std::uint64_t local = 0;
          (void)std::from_chars(id.data(), id.data() + 16, local, 16);
          cache =
              std::make_unique<warm_cache>(*r.run.state_db, local == 0 ? 1 : local, d.partitions,
                                           static_cast<std::size_t>(r.run.state_cache_bytes),
                                           static_cast<std::size_t>(r.cache_groups));
        }
        worker<processor, make_type> w(r, c, d, fingerprint, make, detections);
        w.use_cache(cache.get());
        return w.run();
      });
}

// ---------------------------------------------------------------------------------------
// collect

/// What `collect --rules` adds: the workers' rules, their correlation rules, and the
/// correlation stage `fluxcap run` runs after its Sigma stage.
struct collect_correlations {
  explicit collect_correlations(const redis_options& r)
      : rules(load_sigma_rules(r.run, correlations)) {
    refuse_unsupported_if_strict(r.run, report_unsupported(rules, correlations));
    fingerprint = spec_fingerprint(r, correlations.rules.size());
    json_fields_limits field_limits;
    field_limits.max_line_bytes = static_cast<std::size_t>(r.run.max_line_bytes);
    stage = make_correlation_stage(rules, correlations, r.run, field_limits);
  }
  sigma_correlation_set correlations;
  sigma_rule_set rules;  // after correlations, which loading fills
  std::string fingerprint;
  std::unique_ptr<correlation_stage> stage;  ///< null: the rules have no correlations
};

/// The line number every partition has committed up to: at most one past the last line
/// number producers marked written (rp::written_key, read first), and at most the line
/// number of each partition's first uncommitted input. With one producer at a time,
/// every line up to the mark was in its stream when the mark was read, so each is
/// committed or bounds its partition: the merged outputs below the result are a prefix
/// of the output of one `fluxcap run` over the input, whatever arrives or is committed
/// while the partitions are read one after the other.
std::uint64_t complete_prefix(redis_client& c, const std::string& stream, unsigned partitions) {
  std::uint64_t bound = 1;  // nothing marked written: nothing is complete
  if (const redis_reply w = c.command({"GET", rp::written_key(stream)});
      w->type == REDIS_REPLY_STRING) {
    const std::string_view v = reply_text(w.get());
    std::uint64_t last = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), last);
    if (ec != std::errc() || end != v.data() + v.size() ||
        last == std::numeric_limits<std::uint64_t>::max())
      throw io_error("stream '" + stream + "': " + rp::written_key(stream) + " is damaged");
    bound = last + 1;
  }
  for (unsigned p = 0; p < partitions; ++p) {
    const redis_reply pos = c.command({"GET", rp::partition_key(stream, p, rp::pos_part)});
    const std::string after =
        "(" + std::string(pos->type == REDIS_REPLY_STRING ? reply_text(pos.get()) : "0-0");
    const redis_reply next =
        c.command({"XRANGE", rp::partition_key(stream, p, rp::in_part), after, "+", "COUNT", "1"});
    if (next->type != REDIS_REPLY_ARRAY || next->elements == 0) continue;
    const redisReply* e = next->element[0];
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2) continue;
    const redisReply* f = e->element[1];
    for (std::size_t i = 0; f->type == REDIS_REPLY_ARRAY && i + 1 < f->elements; i += 2) {
      if (reply_text(f->element[i]) != "n") continue;
      const std::string_view v = reply_text(f->element[i + 1]);
      std::uint64_t n = 0;
      const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc() || end != v.data() + v.size())
        throw io_error("partition " + std::to_string(p) + " of stream '" + stream +
                       "': an input without a line number");
      bound = std::min(bound, n);
    }
  }
  return bound;
}

/// The output lines `collect` holds at once (its merge reads a chunk of each partition).
constexpr std::uint64_t max_collect_lines = 16384;

int collect(const redis_options& r) {
  // The rules first: their errors come before anything is read.
  std::unique_ptr<collect_correlations> corr;
  if (!r.run.rule_paths.empty()) corr = std::make_unique<collect_correlations>(r);
  redis_client c(r.url, r.timeout);
  c.connect();
  const deployment d = open_deployment(c, r.stream, std::nullopt, {}, false);
  if (!corr && d.correlations > 0)
    throw usage_error("stream '" + r.stream + "' runs " + std::to_string(d.correlations) +
                      " Sigma correlation rule" + (d.correlations == 1 ? "" : "s") +
                      ", which collect runs: give it the workers' --rules, --profile and "
                      "options");
  if (corr && !d.spec.empty() && d.spec != corr->fingerprint)
    throw usage_error("stream '" + r.stream + "' is worked on with another spec or other " +
                      "options (fingerprint " + d.spec +
                      "; collect's --rules and options: " + corr->fingerprint + "): refused");
  correlation_stage* stage = corr ? corr->stage.get() : nullptr;
  if (stage != nullptr) stage->set_hash_key(d.key);  // the workers' key, as run's state file's
  // With the correlation stage, only the complete prefix: a line merged before a line
  // of another partition that precedes it and is not committed yet would be correlated
  // out of order.
  const std::uint64_t below =
      corr ? complete_prefix(c, r.stream, d.partitions) : std::numeric_limits<std::uint64_t>::max();
  struct cursor {
    std::string key;
    std::string last = "-";
    redis_reply chunk;
    std::size_t next = 0;
    bool done = false;
  };
  std::vector<cursor> cursors(d.partitions);
  for (unsigned p = 0; p < d.partitions; ++p)
    cursors[p].key = rp::partition_key(r.stream, p, rp::out_part);
  // The merge holds one chunk a partition: at most max_collect_lines output lines in
  // memory (and at least 4 a partition), whatever the partitions.
  const std::string chunk =
      std::to_string(std::clamp<std::uint64_t>(max_collect_lines / d.partitions, 4, 1000));
  // The head of partition p: (line number, output line, bad line passed through); false
  // when it has no more below `below`.
  auto head = [&](cursor& k, std::uint64_t& n, std::string_view& line, bool& bad) -> bool {
    for (;;) {
      if (k.done) return false;
      if (k.chunk && k.next < k.chunk->elements) {
        const redisReply* e = k.chunk->element[k.next];
        const redisReply* f = e->element[1];
        n = 0;
        line = {};
        bad = false;
        for (std::size_t i = 0; i + 1 < f->elements; i += 2) {
          const std::string_view name = reply_text(f->element[i]);
          const std::string_view v = reply_text(f->element[i + 1]);
          if (name == "n") (void)std::from_chars(v.data(), v.data() + v.size(), n);
          if (name == "o") line = v;
          if (name == "b") bad = true;
        }
        if (n >= below) k.done = true;
        return !k.done;
      }
      const std::string start = k.last == "-" ? "-" : "(" + k.last;
      k.chunk = c.command({"XRANGE", k.key, start, "+", "COUNT", chunk});
      k.next = 0;
      if (k.chunk->type != REDIS_REPLY_ARRAY || k.chunk->elements == 0) {
        k.done = true;
        return false;
      }
      const redisReply* last = k.chunk->element[k.chunk->elements - 1];
      k.last = std::string(reply_text(last->element[0]));
    }
  };
  using item = std::pair<std::uint64_t, unsigned>;
  std::priority_queue<item, std::vector<item>, std::greater<> > heads;
  std::uint64_t n = 0, written = 0;
  std::string_view line;
  bool bad = false;
  for (unsigned p = 0; p < d.partitions; ++p)
    if (head(cursors[p], n, line, bad)) heads.emplace(n, p);
  output_buffer out(STDOUT_FILENO);
  std::string staged;  // a line after the stage, when --detections-only filters it
  while (!heads.empty()) {
    const unsigned p = heads.top().second;
    heads.pop();
    (void)head(cursors[p], n, line, bad);
    if (stage == nullptr || bad) {  // run's stage sees only the lines its Sigma stage took
      out.buffer().append(line);
      out.buffer() += '\n';
      ++written;
    } else if (!r.detections_only) {
      stage->process(line, out.buffer());
      out.buffer() += '\n';
      ++written;
    } else {  // the stage may leave a line no detection (the base rules' generate)
      staged.clear();
      stage->process(line, staged);
      if (has_detection(staged, corr->rules.detections_field)) {
        out.buffer().append(staged);
        out.buffer() += '\n';
        ++written;
      }
    }
    out.maybe_flush();
    ++cursors[p].next;
    if (head(cursors[p], n, line, bad)) heads.emplace(n, p);
  }
  out.flush();
  if (r.run.stats && corr) {
    std::fprintf(stderr, "fluxcap: collect: %" PRIu64 " lines", written);
    if (below != std::numeric_limits<std::uint64_t>::max())
      std::fprintf(stderr, ", complete below input line %" PRIu64, below);
    std::fprintf(stderr, "%s\n", stage ? stage->stats_text().c_str() : "");
  }
  return exit_ok;
}

}  // namespace

int redis_main(int argc, const char* const* argv) {
  // A SIGTERM from the start on means: stop at the next batch boundary.
  if (std::string_view(argv[1]) == "worker") install_stop_handlers();
  try {
    const redis_options r = parse_redis_options(argc, argv);
    if (r.help) {
      std::fputs(r.cmd == "produce"  ? produce_help
                 : r.cmd == "worker" ? worker_help
                                     : collect_help,
                 stdout);
      return exit_ok;
    }
    if (r.cmd == "produce") return produce(r);
    if (r.cmd == "worker") return run_worker(r);
    return collect(r);
  } catch (const redis_error& e) {
    return fail(exit_data, e.what());
  } catch (...) {
    return fail_for_current_exception();
  }
}

#endif

}  // namespace fluxcap_cli
