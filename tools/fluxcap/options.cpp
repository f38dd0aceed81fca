#include "options.hpp"

#include "line_parser.hpp"

#include <fluxcap/spec.hpp>
#include <fluxcap/version.hpp>

#include <algorithm>
#include <charconv>
#include <string_view>
#include <system_error>

namespace fluxcap_cli {

namespace {

constexpr const char* general_help =
    R"(fluxcap - stateful correlation of Sigma detection tags over JSON Lines

usage:
  fluxcap run --spec SPEC [options] [INPUT.jsonl ...]   rewrite the tag map of each event
  fluxcap run --rules PATH... --profile P [options] [INPUT.jsonl ...]
                                                        run Sigma rules on raw events
  fluxcap check --spec SPEC                             validate a spec, print the compiled program
  fluxcap check --rules PATH... --profile P [--strict]  show how Sigma rules were compiled
  fluxcap graph --spec SPEC | --rules PATH... --profile P
                                                        print the dependency graph (Graphviz DOT)
  fluxcap produce|worker|collect --redis URL --stream NAME ...
                                                        run across workers on Redis Streams
  fluxcap --help | fluxcap COMMAND --help | fluxcap --version

Each input line is one JSON object (an event) carrying a tag map `rule -> {tag -> bool}`
produced by an upstream ("pre-flux") Sigma step. `fluxcap run` merges in the tags the
spec says to remember (temporal, parent, ancestor), evaluates the spec's post-flux
conditions, and writes one line per input line, in input order. With --rules, fluxcap
runs Sigma rules itself: each event line is read as it is, the parent, grandparent and
ancestor context is carried per --profile, and each line is written unchanged except
for a `detections` array listing the rules that fired.

exit status: 0 success, 1 bad input data or state file, 2 usage or spec error.
See docs/cli.md for the full reference.
)";

constexpr const char* run_help = R"(usage: fluxcap run --spec SPEC [options] [INPUT.jsonl ...]
       fluxcap run --rules PATH... --profile NAME|FILE [options] [INPUT.jsonl ...]

Reads JSON Lines from the INPUT files in order (none, or "-": standard input) and writes
one line per input line to standard output, in input order. Each group's events must
arrive in time order.

options:
  --spec SPEC              the flux spec (YAML: rules:, optional conditions:)
  --rules PATH...          Sigma rule files or directories (*.yml/*.yaml at any depth,
                           in sorted order), up to the next option; may be repeated.
                           Instead of --spec; one of the two is required
  --profile NAME|FILE      with --rules: how rules map to events: a built-in profile
                           (sysmon, security-4688, ecs, evtx-json) or a profile YAML
                           file (a path with '/' or ending in .yml/.yaml)   [required]
  --strict                 with --rules: fail (exit 2) before reading any event if a
                           rule is unsupported (else they are counted and left out)
  --group-key COL          group events by this top-level field (default: one group;
                           with --rules: a field path, default the profile's group)
  --tags-field NAME        field holding the tag map rule -> {tag -> bool} (default:
                           sigma; not with --rules)
  --detections-field NAME  field listing the conditions (with --rules: the rules' ids)
                           that matched (default: detections)
  --memory MODE            bloom (default: a Bloom filter a generation), cuckoo (one
                           fingerprint table a group: smaller, faster lookups, slower
                           stores) or exact (hash sets, no false positives)
  --exact                  the same as --memory exact
  --capacity N             tags remembered per group before the oldest are forgotten
                           (default: 200000)
  --fpp P                  false-positive bound of one lookup, bloom and cuckoo modes
                           (default: 1e-4)
  --generations N          forgetting granularity: the oldest capacity/(N-1) tags at a
                           time (default: 10; 2 to 255)
  --state FILE             load all group states from FILE if it exists; save them there
                           (atomically) when the run succeeds
  --incremental            with --state: save only what changed, as a checkpoint file
                           beside FILE (FILE.delta-*), until a full save is cheaper
  --wait-lock SECONDS      with --state or --state-db: wait up to SECONDS (default 0) for
                           another run using the same state to finish; else fail at once
  --state-db DIR           group states in a RocksDB database in DIR (instead of --state):
                           state larger than memory; committed when the run succeeds
  --state-cache-bytes N    with --state-db: memory for decoded groups (default: 268435456)
  --state-ttl DURATION     with --state-db: drop groups idle longer than DURATION in event
                           time (e.g. 30m, 7d; needs a spec with a timestamp column)
  --max-time-ahead DURATION  with --state-ttl: an event time later than this machine's
                           clock plus DURATION (default 10m) counts as that, so that no
                           event dated far ahead expires every other group
  --on-error MODE          a bad input line: fail (exit 1, default), skip (drop it and
                           go on), pass (copy it to the output unchanged and go on)
  --max-line-bytes N       a longer input line is a bad line (default: 1048576)
  --max-tags-per-event N   a tag map with more tags is a bad line (default: 10000)
  --max-groups N           an event that would open group N+1 is a bad line
                           (default: 1000000)
  --max-key-bytes N        a --group-key value longer than N bytes is a bad line
                           (default: 4096); memory holds at most max-groups x this
                           in group keys
  --threads N              process groups on N threads (default: 1); the output is the
                           same, in input order; needs --group-key to spread the work
                           (at most 256)
  --correlation-memory M   with --rules, for correlation rules: exact (default: a
                           window keeps its events) or bounded (a ring of time buckets:
                           memory fixed per group, errors stated in docs/memory.md)
  --max-window-events N    exact: events a correlation window keeps (default: 4096;
                           past it the oldest is dropped and counted)
  --max-correlation-groups N  live (correlation, group-by values) states (default:
                           100000; idle ones make room, then new ones are refused)
  --window-buckets N       bounded: time buckets a window (default: 64; 2 to 4096)
  --correlation-lag DURATION  correlation groups whose window emptied this long before
                           the newest event are dropped (default: 1h); only an event
                           later than this behind the newest can find its group gone
  --stats                  print a one-line summary on standard error at the end
  --no-progress            no progress line, even when standard error is a terminal
  -h, --help               this help

A bad line is one that is not a JSON object, whose tag map is not an object of objects,
or whose tag values are not all booleans, one that gives twice a field, rule or tag
that fluxcap or a post-flux condition reads, or one beyond the limits above (or nested
deeper than 1024 levels). Input files are opened one at a time; a UTF-8 byte order mark
at the start of one is skipped. An option that takes a value may be given once.
With --rules, a bad line is one that is not a JSON object, one that gives twice a field
the rules read, or one beyond the limits; the lines are otherwise copied byte for byte.

examples:
  fluxcap run --rules sigma/rules --profile sysmon --exact events.jsonl
  fluxcap run --rules my-rules/ extra.yml --profile my-profile.yml --state st -- in.jsonl
)";

constexpr const char* check_help = R"(usage: fluxcap check --spec SPEC
       fluxcap check --rules PATH... --profile NAME|FILE [--strict]

Validates SPEC and prints the compiled program: each rule, its tags in evaluation order
with their get/put keys and put conditions, the key columns, and the post-flux conditions
as parsed. Exit status 0 when the spec is valid, 2 otherwise (the error names the file,
line and column).

With --rules: each rule's status (ok, skipped for its logsource, unsupported with the
reason and location), its identifiers split by context (self items; parent, grandparent
and ancestor parts with their flux tags), its condition, a summary, then the generated
flux spec. Then each correlation rule: status, type, its rules resolved, group-by,
timespan, condition, generate, and its memory per group in both modes (sized by
--max-window-events and --window-buckets, which check accepts too). Exit status 0; with
--strict, 1 when a rule or correlation is unsupported; 2 for a malformed rule,
correlation or profile (file:line:col: message).
)";

constexpr const char* graph_help = R"(usage: fluxcap graph --spec SPEC
       fluxcap graph --rules PATH... --profile NAME|FILE

Prints the tag dependency graph of SPEC in Graphviz DOT: one cluster per rule, one node
per tag, an edge from each put condition to the tag it gates (a self-loop for ancestor
tags, which re-remember themselves). With --rules: Sigma rules -> context parts ->
flux rules, so that one sees which rules share context, and each correlation -> the rules
and correlations it references. Render it with e.g. `dot -Tsvg`.
)";

bool is_option(std::string_view arg) {
  return arg.size() > 1 && arg[0] == '-';
}

std::string quoted(std::string_view s) {
  return "'" + cut_for_message(s) + "'";
}

std::uint64_t parse_count(std::string_view opt, std::string_view text) {
  std::uint64_t v = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || ptr != end)
    throw usage_error(std::string(opt) + " needs a positive integer, not " + quoted(text) +
                      (ec == std::errc::result_out_of_range ? " (too large)" : ""));
  return v;
}

double parse_probability(std::string_view opt, std::string_view text) {
  double v = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || ptr != end)
    throw usage_error(std::string(opt) + " needs a number, not " + quoted(text));
  return v;
}

}  // namespace

std::string cut_for_message(std::string_view s) {
  constexpr std::size_t max = 200;
  if (s.size() <= max) return std::string(s);
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xc0U) == 0x80U) --n;
  return std::string(s.substr(0, n)) + "...";
}

std::int64_t parse_duration(std::string_view option, std::string_view text) {
  const auto span = fluxcap::parse_timespan(text);
  if (!span)
    throw usage_error(std::string(option) +
                      " needs a duration: a positive integer and a unit (ms, s, m, h, d), not " +
                      quoted(text));
  return span->count();
}

const char* help_text(command cmd) {
  switch (cmd) {
    case command::run:
      return run_help;
    case command::check:
      return check_help;
    case command::graph:
      return graph_help;
    case command::help:
    case command::version:
      break;
  }
  return general_help;
}

std::string version_text() {
  return std::string("fluxcap ") + fluxcap::version_string + " (simdjson " + simdjson_version() +
         ")";
}

options parse_options(int argc, const char* const* argv) {
  options o;
  if (argc < 2) throw usage_error("no command given (try 'fluxcap --help')");
  const std::string_view first = argv[1];
  if (first == "--help" || first == "-h") return o;
  if (first == "--version") {
    if (argc > 2) throw usage_error("--version takes no arguments");
    o.cmd = command::version;
    return o;
  }
  if (first == "help") {
    if (argc > 3) throw usage_error("usage: fluxcap help [COMMAND]");
    if (argc == 3) {
      const std::string_view what = argv[2];
      if (what == "run")
        o.cmd = command::run;
      else if (what == "check")
        o.cmd = command::check;
      else if (what == "graph")
        o.cmd = command::graph;
      else
        throw usage_error("unknown command " + quoted(what) + " (try 'fluxcap --help')");
      o.help = true;
    }
    return o;
  }
  if (first == "run")
    o.cmd = command::run;
  else if (first == "check")
    o.cmd = command::check;
  else if (first == "graph")
    o.cmd = command::graph;
  else if (is_option(first))
    throw usage_error("expected a command before " + quoted(first) + " (try 'fluxcap --help')");
  else
    throw usage_error("unknown command " + quoted(first) + " (try 'fluxcap --help')");

  const std::string cmd_name(first);
  const bool is_run = o.cmd == command::run;
  bool seen_capacity = false, seen_fpp = false, seen_on_error = false, seen_memory = false,
       seen_generations = false;
  bool only_inputs = false;
  std::vector<std::string_view> seen;  // options given so far that may be given once
  for (int i = 2; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (only_inputs || !is_option(arg)) {
      if (!is_run)
        throw usage_error("'fluxcap " + cmd_name + "' takes no input files (" + quoted(arg) + ")");
      o.inputs.emplace_back(arg);
      continue;
    }
    if (arg == "--") {
      only_inputs = true;
      continue;
    }
    if (arg == "--help" || arg == "-h") {
      o.help = true;
      return o;
    }
    // --name=value or --name value
    std::string_view name = arg;
    std::optional<std::string_view> inline_value;
    if (const auto eq = arg.find('='); eq != std::string_view::npos && arg.starts_with("--")) {
      name = arg.substr(0, eq);
      inline_value = arg.substr(eq + 1);
    }
    auto value = [&]() -> std::string {
      if (inline_value) return std::string(*inline_value);
      if (i + 1 >= argc) throw usage_error(std::string(name) + " needs a value");
      return argv[++i];
    };
    auto flag = [&]() {
      if (inline_value) throw usage_error(std::string(name) + " takes no value");
    };
    auto run_only = [&]() {
      if (!is_run)
        throw usage_error(std::string(name) + " is an option of 'fluxcap run', not 'fluxcap " +
                          cmd_name + "'");
    };
    auto non_empty = [&](std::string v) {
      if (v.empty()) throw usage_error(std::string(name) + " needs a non-empty value");
      return v;
    };
    // Every option that takes a value may be given once (--memory and --exact together).
    auto once = [&] {
      if (std::find(seen.begin(), seen.end(), name) != seen.end())
        throw usage_error(std::string(name) + " given twice");
      seen.push_back(name);
    };

    if (name == "--spec") {
      if (!o.spec_path.empty()) throw usage_error("--spec given twice");
      o.spec_path = non_empty(value());
    } else if (name == "--rules") {
      // One or more paths, until the next option; may be repeated.
      o.rule_paths.push_back(non_empty(value()));
      if (!inline_value)
        while (i + 1 < argc && !is_option(argv[i + 1])) o.rule_paths.emplace_back(argv[++i]);
    } else if (name == "--profile") {
      once();
      o.profile = non_empty(value());
    } else if (name == "--strict") {
      flag();
      o.strict = true;
    } else if (name == "--group-key") {
      run_only();
      once();
      o.group_key = non_empty(value());
    } else if (name == "--tags-field") {
      run_only();
      once();
      o.tags_field = non_empty(value());
      o.tags_field_given = true;
    } else if (name == "--detections-field") {
      run_only();
      once();
      o.detections_field = non_empty(value());
    } else if (name == "--exact" || name == "--memory") {
      run_only();
      if (seen_memory) throw usage_error("--memory or --exact given twice");
      seen_memory = true;
      if (name == "--exact") {
        flag();
        o.memory = fluxcap::memory_mode::exact;
      } else {
        const std::string mode(value());
        if (mode == "exact")
          o.memory = fluxcap::memory_mode::exact;
        else if (mode == "bloom")
          o.memory = fluxcap::memory_mode::bloom;
        else if (mode == "cuckoo")
          o.memory = fluxcap::memory_mode::cuckoo;
        else
          throw usage_error("--memory must be bloom, cuckoo or exact, not " + quoted(mode));
      }
    } else if (name == "--generations") {
      run_only();
      if (seen_generations) throw usage_error("--generations given twice");
      seen_generations = true;
      const std::uint64_t n = parse_count(name, value());
      if (n < 2 || n > 255) throw usage_error("--generations needs a number from 2 to 255");
      o.generations = static_cast<std::uint32_t>(n);
    } else if (name == "--capacity") {
      run_only();
      if (seen_capacity) throw usage_error("--capacity given twice");
      seen_capacity = true;
      o.capacity = parse_count(name, value());
    } else if (name == "--fpp") {
      run_only();
      if (seen_fpp) throw usage_error("--fpp given twice");
      seen_fpp = true;
      o.fpp = parse_probability(name, value());
    } else if (name == "--state") {
      run_only();
      once();
      o.state_path = non_empty(value());
    } else if (name == "--state-db") {
      run_only();
      once();
      o.state_db = non_empty(value());
    } else if (name == "--state-cache-bytes") {
      run_only();
      once();
      o.state_cache_bytes = parse_count(name, value());
      if (o.state_cache_bytes < (std::uint64_t{1} << 16))
        throw usage_error("--state-cache-bytes needs at least 65536 bytes");
    } else if (name == "--state-ttl") {
      run_only();
      once();
      o.state_ttl_ms = parse_duration(name, value());
    } else if (name == "--max-time-ahead") {
      run_only();
      once();
      o.max_time_ahead_ms = parse_duration(name, value());
    } else if (name == "--incremental") {
      run_only();
      flag();
      o.incremental = true;
    } else if (name == "--wait-lock") {
      run_only();
      const std::string v = value();
      const double secs = parse_probability(name, v);
      if (!(secs >= 0 && secs <= 1e6))
        throw usage_error("--wait-lock needs a number of seconds from 0 to 1000000, not '" + v +
                          "'");
      o.wait_lock = secs;
    } else if (name == "--on-error") {
      run_only();
      if (seen_on_error) throw usage_error("--on-error given twice");
      seen_on_error = true;
      const std::string mode = value();
      if (mode == "fail")
        o.on_error = error_mode::fail;
      else if (mode == "skip")
        o.on_error = error_mode::skip;
      else if (mode == "pass")
        o.on_error = error_mode::pass;
      else
        throw usage_error("--on-error must be fail, skip or pass, not " + quoted(mode));
    } else if (name == "--max-line-bytes" || name == "--max-tags-per-event" ||
               name == "--max-groups" || name == "--max-key-bytes") {
      run_only();
      once();
      const std::uint64_t n = parse_count(name, value());
      if (n == 0) throw usage_error(std::string(name) + " needs a positive integer, not '0'");
      if (name == "--max-line-bytes")
        o.max_line_bytes = n;
      else if (name == "--max-tags-per-event")
        o.max_tags_per_event = n;
      else if (name == "--max-groups")
        o.max_groups = n;
      else
        o.max_key_bytes = n;
    } else if (name == "--threads") {
      run_only();
      once();
      const std::uint64_t n = parse_count(name, value());
      if (n == 0 || n > max_threads)
        throw usage_error("--threads needs a number from 1 to " + std::to_string(max_threads));
      o.threads = static_cast<unsigned>(n);
    } else if (name == "--correlation-memory" || name == "--max-window-events" ||
               name == "--max-correlation-groups" || name == "--window-buckets" ||
               name == "--correlation-lag") {
      // Sigma correlation windows: run, and check (which shows their memory).
      if (!is_run && o.cmd != command::check)
        throw usage_error(std::string(name) + " is an option of 'fluxcap run' and 'fluxcap check'");
      once();
      const std::string v = value();
      if (name == "--correlation-memory") {
        if (v == "exact")
          o.correlation_memory = correlation_memory_mode::exact;
        else if (v == "bounded")
          o.correlation_memory = correlation_memory_mode::bounded;
        else
          throw usage_error("--correlation-memory must be exact or bounded, not " + quoted(v));
      } else if (name == "--correlation-lag") {
        const auto span = fluxcap::parse_timespan(v);
        if (!span)
          throw usage_error(
              "--correlation-lag needs a duration: a positive integer and a unit (ms, s, m, h, "
              "d), not " +
              quoted(v));
        o.correlation_lag_ms = span->count();
      } else if (name == "--window-buckets") {
        const std::uint64_t n = parse_count(name, v);
        if (n < 2 || n > 4096)
          throw usage_error("--window-buckets needs a number from 2 to 4096, not " + quoted(v));
        o.window_buckets = static_cast<std::uint32_t>(n);
      } else {
        const std::uint64_t n = parse_count(name, v);
        constexpr std::uint64_t most = std::uint64_t{1} << 30;
        if (n == 0 || n > most)
          throw usage_error(std::string(name) + " needs a number from 1 to " +
                            std::to_string(most) + ", not " + quoted(v));
        (name == "--max-window-events" ? o.max_window_events : o.max_correlation_groups) = n;
      }
    } else if (name == "--stats") {
      run_only();
      flag();
      o.stats = true;
    } else if (name == "--no-progress") {
      run_only();
      flag();
      o.progress = false;
    } else {
      throw usage_error("unknown option " + quoted(name) + " (try 'fluxcap " + cmd_name +
                        " --help')");
    }
  }
  const bool sigma = !o.rule_paths.empty();
  if (sigma && !o.spec_path.empty())
    throw usage_error("--spec and --rules cannot be given together (a flux spec, or Sigma rules)");
  if (!sigma && o.spec_path.empty())
    throw usage_error("'fluxcap " + cmd_name + "' needs --spec SPEC or --rules PATH... (try " +
                      "'fluxcap " + cmd_name + " --help')");
  if (sigma && o.profile.empty())
    throw usage_error(
        "--rules needs --profile NAME|FILE (built-in: sysmon, security-4688, ecs, "
        "evtx-json; or a profile YAML file)");
  if (!sigma && !o.profile.empty())
    throw usage_error("--profile maps Sigma rules to events: it needs --rules PATH...");
  if (!sigma && o.strict)
    throw usage_error("--strict is about Sigma rules: it needs --rules PATH...");
  if (sigma && o.tags_field_given)
    throw usage_error(
        "--tags-field names the tag map of --spec runs; --rules reads events as they "
        "are");
  const auto given = [&](std::string_view opt) {
    return std::find(seen.begin(), seen.end(), opt) != seen.end();
  };
  for (const std::string_view opt :
       {"--correlation-memory", "--max-window-events", "--max-correlation-groups",
        "--window-buckets", "--correlation-lag"})
    if (!sigma && given(opt))
      throw usage_error(std::string(opt) + " is about Sigma correlation rules: it needs --rules");
  if (o.correlation_memory == correlation_memory_mode::bounded && given("--max-window-events"))
    throw usage_error(
        "--max-window-events caps exact correlation windows; bounded ones have "
        "--window-buckets");
  if (o.correlation_memory == correlation_memory_mode::exact && given("--window-buckets"))
    throw usage_error(
        "--window-buckets sizes bounded correlation windows: it needs "
        "--correlation-memory bounded");
  if (is_run && o.incremental && !o.state_path)
    throw usage_error("--incremental saves the state incrementally: it needs --state FILE");
  if (is_run && o.wait_lock > 0 && !o.state_path && !o.state_db)
    throw usage_error("--wait-lock waits for the lock on a state file: it needs --state FILE");
  if (is_run && o.state_db && o.state_path)
    throw usage_error(
        "--state and --state-db cannot be given together (a state file, or a "
        "state database)");
  if (is_run && o.state_db && o.incremental)
    throw usage_error(
        "--incremental is about state files; a --state-db commit writes only "
        "what changed anyway");
  if (is_run && o.state_db && o.threads > 1)
    throw usage_error("--state-db runs on one thread (--threads 1) in this version");
  const bool cache_given =
      std::find(seen.begin(), seen.end(), std::string_view("--state-cache-bytes")) != seen.end();
  if (is_run && !o.state_db && (cache_given || o.state_ttl_ms > 0))
    throw usage_error(std::string(o.state_ttl_ms > 0 ? "--state-ttl" : "--state-cache-bytes") +
                      " is about the state database: it needs --state-db DIR");
  if (is_run && o.state_ttl_ms == 0 &&
      std::find(seen.begin(), seen.end(), std::string_view("--max-time-ahead")) != seen.end())
    throw usage_error(max_time_ahead_needs_ttl);
  if (is_run && o.memory == fluxcap::memory_mode::exact && seen_fpp)
    throw usage_error("--fpp bounds false positives; exact memory has none (--exact)");
  return o;
}

}  // namespace fluxcap_cli
