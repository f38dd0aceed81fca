// The Sigma engine against the naive evaluator, and the engine's own costs
// (bench/README.md, "Sigma engine"; design docs/design/sigma-frontend.md 4.6 and 8.5):
//
//   fluxcap_sigma_engine_bench [--rules PATH]... [--events PATH]... [--replicas N]
//       [--hosts H] [--repeat R] [--naive-passes P] [--only MODE] [--no-verify]
//       [--value-cache-slots N]   (the engine's value memo; 0: off)
//
// Rules: YAML files or folders read with sigma::read_rule_paths (default: realdata
// sigma/rules*, sigma-regression-extra/rules*), compiled for the sysmon profile with
// PCRE2; the YAML reading and the compile are timed separately. Events: Sysmon JSON
// Lines (default: realdata sysmon/*.jsonl), converted once to dense_field_event.
//
// Before timing, the engine (exact memory) and the naive evaluator
// (tests/sigma/naive_evaluator.hpp) run over the events in order, and their detections
// are compared on every event: a difference prints the event and the two lists and
// aborts (--no-verify skips this, for profilers).
//
// Timed, CPU time of this thread, median of R runs:
//   naive           the naive evaluator, P passes over the events (a fresh one a pass);
//   engine_dense    the engine (bloom memory, one state a host) over dense_field_event
//                   with the library's dense_fields accessor (linear field lookup: the
//                   same event objects the naive evaluator reads);
//   engine_indexed  the same events through an accessor that finds a field with one
//                   array index (what an embedder's accessor does): the engine alone;
//   parse_only      simdjson On-Demand visiting every value of every line (the
//                   end-to-end baseline, bench/parse_only.cpp's walk);
//   engine_json     the tool's path: json_fields parses each line, then the engine.
// The engine modes run over the events replicated N times: replica k renames Hostname
// to host-(k mod H) and suffixes every {GUID} with -k, so process trees stay separate.
//
// Prints one JSON object on stdout and a summary on stderr. Without rules or events it
// says so and exits 0 (realdata is not in the repository).
#include <fluxcap/memory.hpp>
#include <fluxcap/sigma/compile.hpp>
#include <fluxcap/sigma/engine.hpp>
#include <fluxcap/sigma/pcre2.hpp>
#include <fluxcap/sigma/profile.hpp>
#include <fluxcap/sigma/yaml.hpp>

#include "parse_walk.hpp"

#include <simdjson.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "../tools/fluxcap/sigma_fields.hpp"
#include "naive_evaluator.hpp"

namespace {

namespace sg = fluxcap::sigma;
namespace od = simdjson::ondemand;
namespace fs = std::filesystem;

double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

double wall_seconds() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

std::uint64_t walk_sink = 0;

// ---- JSON: every value of a line (parse_only), and a line as dense_field_event ----

simdjson::error_code walk(od::value v) {
  return fluxcap_bench::walk_json(v, walk_sink);
}

/// One scalar as a field value (json_fields' conventions: numbers as written).
bool scalar_value(od::value v, sg::dense_field_event::value& out) {
  od::json_type type;
  if (v.type().get(type)) return false;
  switch (type) {
    case od::json_type::string: {
      std::string_view s;
      if (v.get_string().get(s)) return false;
      out = {sg::value_kind::string, std::string(s)};
      return true;
    }
    case od::json_type::number: {
      std::string_view raw = v.raw_json_token();
      while (!raw.empty() &&
             (raw.back() == ' ' || raw.back() == '\t' || raw.back() == '\r' || raw.back() == '\n'))
        raw.remove_suffix(1);
      out = {sg::value_kind::number, std::string(raw)};
      return true;
    }
    case od::json_type::boolean: {
      bool b = false;
      if (v.get_bool().get(b)) return false;
      out = {sg::value_kind::boolean, b ? "true" : "false"};
      return true;
    }
    case od::json_type::null:
      out = {sg::value_kind::null, ""};
      return true;
    default:
      out = {sg::value_kind::other, ""};
      return true;
  }
}

/// A flat JSON object line as a dense event (top-level keys; arrays as lists of values;
/// nested objects as one value of kind other: Sysmon lines are flat).
bool to_dense(const std::string& line, od::parser& parser, sg::dense_field_event& out) {
  simdjson::padded_string padded(line);
  od::document doc;
  od::object obj;
  if (parser.iterate(padded).get(doc) || doc.get_object().get(obj)) return false;
  out.fields.clear();
  for (auto field : obj) {
    std::string_view key;
    od::value v;
    if (field.unescaped_key().get(key) || field.value().get(v)) return false;
    sg::dense_field_event::field f{std::string(key), {}};
    od::json_type type;
    if (v.type().get(type)) return false;
    if (type == od::json_type::array) {
      od::array a;
      if (v.get_array().get(a)) return false;
      for (auto item : a) {
        od::value child;
        sg::dense_field_event::value value;
        if (item.get(child) || !scalar_value(child, value)) return false;
        f.values.push_back(std::move(value));
      }
    } else {
      sg::dense_field_event::value value;
      if (!scalar_value(v, value)) return false;
      f.values.push_back(std::move(value));
    }
    out.fields.push_back(std::move(f));
  }
  return true;
}

// ---- replication: separate hosts and process trees ----

bool is_guid_at(std::string_view s, std::size_t i) {
  if (i + 38 > s.size() || s[i] != '{' || s[i + 37] != '}') return false;
  for (std::size_t k = 1; k < 37; ++k) {
    const char c = s[i + k];
    const bool dash = k == 9 || k == 14 || k == 19 || k == 24;
    if (dash ? c != '-' : !std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

/// `s` with "-<suffix>" before the closing brace of every {GUID}.
std::string suffix_guids(std::string_view s, std::string_view suffix) {
  std::string out;
  out.reserve(s.size() + 16);
  for (std::size_t i = 0; i < s.size();) {
    if (is_guid_at(s, i)) {
      out.append(s.substr(i, 37));
      out += '-';
      out.append(suffix);
      out += '}';
      i += 38;
    } else {
      out += s[i++];
    }
  }
  return out;
}

sg::dense_field_event replicate(const sg::dense_field_event& e, std::size_t replica,
                                std::size_t hosts) {
  sg::dense_field_event r = e;
  const std::string suffix = std::to_string(replica);
  for (auto& f : r.fields)
    for (auto& v : f.values)
      if (v.kind == sg::value_kind::string) v.text = suffix_guids(v.text, suffix);
  r.set("Hostname", "host-" + std::to_string(replica % hosts));
  return r;
}

/// The same rewrite on a raw line (JSON-escaped GUIDs have no escapes; the hostname is
/// replaced as a whole string value).
std::string replicate_line(const std::string& line, std::size_t replica, std::size_t hosts) {
  std::string out = suffix_guids(line, std::to_string(replica));
  const std::string key = "\"Hostname\":\"";
  const auto at = out.find(key);
  if (at != std::string::npos) {
    const auto begin = at + key.size();
    const auto end = out.find('"', begin);
    out.replace(begin, end - begin, "host-" + std::to_string(replica % hosts));
  }
  return out;
}

// ---- an accessor with O(1) field lookup (what an embedder writes) ----

/// Events as one slot per interned path; the accessor interns the paths the engine
/// binds. Copies share the table (the engine binds on its copy).
struct indexed_event {
  std::vector<const sg::dense_field_event::field*> slots;
  const sg::dense_field_event* whole = nullptr;  // keyword rules read every string
};

class indexed_fields {
 public:
  using event_type = indexed_event;
  using field_handle = std::uint32_t;

  field_handle field_handle_for(const sg::field_path& p) {
    const auto [it, inserted] = table_->try_emplace(p.text, table_->size());
    return static_cast<field_handle>(it->second);
  }
  template <class Sink>
  bool read(const event_type& e, field_handle h, Sink&& sink) const {
    const auto* f = h < e.slots.size() ? e.slots[h] : nullptr;
    if (f == nullptr) return false;
    for (const auto& v : f->values) sink(sg::field_value{v.kind, v.text});
    return true;
  }
  template <class Fn>
  void for_each_string(const event_type& e, Fn&& fn) const {
    for (const auto& f : e.whole->fields)
      for (const auto& v : f.values)
        if (v.kind == sg::value_kind::string) fn(std::string_view(v.text));
  }

  [[nodiscard]] indexed_event index(const sg::dense_field_event& e) const {
    indexed_event out;
    out.whole = &e;
    out.slots.assign(table_->size(), nullptr);
    for (const auto& f : e.fields) {
      const auto it = table_->find(f.path);
      if (it != table_->end()) out.slots[it->second] = &f;
    }
    return out;
  }

 private:
  std::shared_ptr<std::unordered_map<std::string, std::size_t>> table_ =
      std::make_shared<std::unordered_map<std::string, std::size_t>>();
};

static_assert(sg::string_enumerating_accessor<indexed_fields>);

/// The engines' value memo (--value-cache-slots; 0 turns it off).
fluxcap::sigma::value_cache_limits value_cache;

template <class Engine, class Events, class Fn>
std::size_t run_engine(const Engine& eng, const Events& events, Fn&& on_detections) {
  std::unordered_map<std::string, typename Engine::state_type> states;
  auto scratch = eng.make_scratch(value_cache);
  std::size_t detections = 0;
  for (const auto& e : events) {
    const auto group = eng.group_of(e, scratch);
    auto it = states.find(std::string(group.value_or("")));
    if (it == states.end())
      it = states.emplace(std::string(group.value_or("")), eng.make_state()).first;
    const auto fired = eng.process(it->second, e, scratch);
    detections += fired.size();
    on_detections(fired);
  }
  return detections;
}

struct mode_result {
  std::string name;
  std::size_t events = 0;
  double seconds = 0;  // median CPU seconds of one run
  std::size_t detections = 0;
  [[nodiscard]] double events_per_second() const {
    return seconds > 0 ? static_cast<double>(events) / seconds : 0;
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::vector<fs::path> rule_paths, event_paths;
  std::size_t replicas = 50, hosts = 50;
  int repeat = 5, naive_passes = 1;
  bool verify = true;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--rules")
      rule_paths.emplace_back(next());
    else if (a == "--events")
      event_paths.emplace_back(next());
    else if (a == "--replicas")
      replicas = std::stoul(next());
    else if (a == "--hosts")
      hosts = std::stoul(next());
    else if (a == "--repeat")
      repeat = std::stoi(next());
    else if (a == "--naive-passes")
      naive_passes = std::stoi(next());
    else if (a == "--only")
      only = next();
    else if (a == "--no-verify")
      verify = false;
    else if (a == "--value-cache-slots")
      value_cache.slots = static_cast<std::uint32_t>(std::stoul(next()));
    else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  replicas = std::max<std::size_t>(replicas, 1);
  hosts = std::max<std::size_t>(hosts, 1);
  fs::path root = FLUXCAP_DEFAULT_REALDATA;
  if (const char* env = std::getenv("FLUXCAP_REALDATA")) root = env;
  std::error_code ec;
  if (rule_paths.empty() && fs::is_directory(root, ec)) {
    for (const char* top : {"sigma", "sigma-regression-extra"})
      for (const auto& d : fs::directory_iterator(root / top, ec))
        if (d.is_directory() && d.path().filename().string().rfind("rules", 0) == 0)
          rule_paths.push_back(d.path());
    std::sort(rule_paths.begin(), rule_paths.end());
  }
  if (event_paths.empty() && fs::is_directory(root / "sysmon", ec))
    event_paths.push_back(root / "sysmon");
  std::vector<fs::path> event_files;
  for (const auto& p : event_paths) {
    if (fs::is_directory(p, ec)) {
      for (const auto& e : fs::directory_iterator(p, ec))
        if (e.path().extension() == ".jsonl") event_files.push_back(e.path());
    } else if (fs::exists(p, ec)) {
      event_files.push_back(p);
    }
  }
  std::sort(event_files.begin(), event_files.end());
  if (rule_paths.empty() || event_files.empty()) {
    std::printf("{\"skipped\":\"realdata absent (%s); give --rules and --events\"}\n",
                root.string().c_str());
    return 0;
  }

  // Rules: YAML reading, then compiling, timed apart (wall and CPU: both single-threaded).
  const double yaml_begin = cpu_seconds();
  // One thread: this thread's CPU time is then the whole reading's (the tool reads on
  // every core; fluxcap_sigma_load_bench times that).
  const auto rules = sg::read_rule_paths(rule_paths, {}, 1);
  const double yaml_seconds = cpu_seconds() - yaml_begin;
  const auto profile = *sg::builtin_profile("sysmon");
  const sg::pcre2_engine regex;
  const double compile_begin = cpu_seconds();
  const double compile_wall_begin = wall_seconds();
  auto compiled = sg::compile(rules, profile, sg::compile_options{}, regex);
  const double compile_seconds = cpu_seconds() - compile_begin;
  const double compile_wall = wall_seconds() - compile_wall_begin;
  std::size_t matcher_bytes = compiled.keyword_matcher.memory_bytes();
  for (const auto& m : compiled.matchers) matcher_bytes += m.memory_bytes();
  std::vector<bool> supported(rules.size(), false);
  for (const auto& r : compiled.reports)
    supported[r.source_index] = r.status == sg::rule_status::ok;

  for (std::size_t f = 0; f < compiled.fields.size(); ++f) {
    const auto& m = compiled.matchers[f];
    std::fprintf(stderr,
                 "matcher %-18s %5zu patterns, %6zu states (%5zu dense), %3zu classes, %8zu "
                 "bytes\n",
                 compiled.fields[f].c_str(), m.pattern_count(), m.automaton_states(),
                 m.automaton_dense_states(), m.byte_classes(), m.memory_bytes());
  }

  // Events.
  std::vector<std::string> lines;
  for (const auto& f : event_files) {
    std::ifstream in(f);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) lines.push_back(line);
  }
  od::parser parser;
  std::vector<sg::dense_field_event> base(lines.size());
  for (std::size_t i = 0; i < lines.size(); ++i)
    if (!to_dense(lines[i], parser, base[i])) {
      std::fprintf(stderr, "event %zu: not a JSON object line\n", i);
      return 1;
    }

  using dense_engine = sg::engine<sg::dense_fields, fluxcap::bloom_memory, sg::pcre2_engine>;
  const dense_engine eng(compiled, sg::dense_fields{}, fluxcap::bloom_memory{}, regex);

  // Verify: the engine (exact memory) equals the naive evaluator on every event.
  std::size_t verified_detections = 0;
  if (verify) {
    const sg::engine<sg::dense_fields, fluxcap::exact_memory, sg::pcre2_engine> exact(
        compiled, sg::dense_fields{}, fluxcap::exact_memory{}, regex);
    sigma_test::naive_evaluator<sg::pcre2_engine> naive(rules, profile, regex);
    std::map<std::string, std::size_t> fired_by_rule;
    std::size_t i = 0;
    run_engine(exact, base, [&](std::span<const std::uint32_t> fired) {
      std::vector<std::string> got;
      for (const auto r : fired) got.push_back(exact.compiled().rules[r].identity);
      const auto expected = naive.process(base[i], supported);
      if (got != expected) {
        std::fprintf(stderr, "verify: event %zu differs\n  engine:", i);
        for (const auto& g : got) std::fprintf(stderr, " %s", g.c_str());
        std::fprintf(stderr, "\n  naive: ");
        for (const auto& g : expected) std::fprintf(stderr, " %s", g.c_str());
        std::fprintf(stderr, "\n  line: %s\n", lines[i].c_str());
        std::abort();
      }
      verified_detections += got.size();
      for (const auto& g : got) ++fired_by_rule[g];
      ++i;
    });
    std::fprintf(stderr, "verify: %zu events, %zu detections by %zu rules, engine == naive\n",
                 base.size(), verified_detections, fired_by_rule.size());
    std::vector<std::pair<std::size_t, std::string>> top;
    for (const auto& [name, n] : fired_by_rule) top.emplace_back(n, name);
    std::sort(top.rbegin(), top.rend());
    for (std::size_t t = 0; t < top.size() && t < 8; ++t)
      std::fprintf(stderr, "  %5zu %s\n", top[t].first, top[t].second.c_str());
  }

  // Replicated inputs.
  std::vector<sg::dense_field_event> events;
  std::vector<std::string> replicated_lines;
  events.reserve(base.size() * replicas);
  for (std::size_t k = 0; k < replicas; ++k)
    for (std::size_t i = 0; i < base.size(); ++i) {
      events.push_back(replicate(base[i], k, hosts));
      replicated_lines.push_back(replicate_line(lines[i], k, hosts));
    }
  std::string data;  // the replicated lines, newline-separated and padded for simdjson
  for (const auto& l : replicated_lines) (data += l) += '\n';
  const std::size_t data_bytes = data.size();
  data.append(simdjson::SIMDJSON_PADDING, ' ');

  const auto wanted = [&](const char* name) { return only.empty() || only == name; };
  const auto timed = [&](const char* name, std::size_t n, auto&& run) {
    mode_result m{name, n, 0, 0};
    if (!wanted(name)) return m;
    std::vector<double> times;
    for (int r = 0; r < repeat; ++r) {
      const double begin = cpu_seconds();
      m.detections = run();
      times.push_back(cpu_seconds() - begin);
    }
    m.seconds = median(times);
    std::fprintf(stderr, "%-15s %10.0f events/s  (%zu events, %zu detections)\n", name,
                 m.events_per_second(), m.events, m.detections);
    return m;
  };
  const auto ignore = [](std::span<const std::uint32_t>) {};

  std::vector<mode_result> results;
  results.push_back(timed("naive", base.size() * static_cast<std::size_t>(naive_passes), [&] {
    std::size_t detections = 0;
    for (int p = 0; p < naive_passes; ++p) {
      sigma_test::naive_evaluator<sg::pcre2_engine> naive(rules, profile, regex);
      for (const auto& e : base) detections += naive.process(e, supported).size();
    }
    return detections;
  }));
  results.push_back(
      timed("engine_dense_base", base.size() * static_cast<std::size_t>(naive_passes), [&] {
        std::size_t detections = 0;
        for (int p = 0; p < naive_passes; ++p) detections += run_engine(eng, base, ignore);
        return detections;
      }));
  results.push_back(
      timed("engine_dense", events.size(), [&] { return run_engine(eng, events, ignore); }));

  indexed_fields indexed;
  for (const auto& path : compiled.fields) indexed.field_handle_for(sg::field_path::parse(path));
  for (const auto* path : {&compiled.group_path, &compiled.id_path, &compiled.parent_id_path})
    indexed.field_handle_for(sg::field_path::parse(*path));
  const sg::engine<indexed_fields, fluxcap::bloom_memory, sg::pcre2_engine> eng_indexed(
      compiled, indexed, fluxcap::bloom_memory{}, regex);
  std::vector<indexed_event> indexed_events;
  indexed_events.reserve(events.size());
  for (const auto& e : events) indexed_events.push_back(indexed.index(e));
  // The engine's first steps alone, over the same events: reading every bound field
  // (fields_only), and reading plus scanning each value with its field's literal matcher,
  // counting hits without handling them (scan_only). engine_indexed minus scan_only is
  // hit handling, verification, candidates, conditions and the flux update.
  std::vector<std::uint32_t> handles;
  for (const auto& path : compiled.fields)
    handles.push_back(indexed.field_handle_for(sg::field_path::parse(path)));
  // The 410 base events, indexed: repeated, they stay in the caches (the *_hot modes), as
  // a line just parsed does; the replicated events (60 MB) are read cold.
  std::vector<indexed_event> indexed_base;
  for (const auto& e : base) indexed_base.push_back(indexed.index(e));
  std::size_t scanned_bytes = 0, literal_hits = 0;
  results.push_back(timed("fields_only", events.size(), [&] {
    std::size_t values = 0;
    for (const auto& e : indexed_events)
      for (const auto h : handles)
        indexed.read(e, h, [&](sg::field_value v) { values += v.text.size() > 0 ? 1 : 0; });
    return values;
  }));
  results.push_back(timed("scan_only", events.size(), [&] {
    std::size_t hits = 0, bytes = 0;
    for (const auto& e : indexed_events) {
      for (std::size_t f = 0; f < handles.size(); ++f)
        indexed.read(e, handles[f], [&](sg::field_value v) {
          if (v.kind == sg::value_kind::null || v.kind == sg::value_kind::other) return;
          bytes += v.text.size();
          compiled.matchers[f].scan(v.text, [&](std::uint32_t) { ++hits; });
        });
      if (compiled.uses_keywords)
        indexed.for_each_string(e, [&](std::string_view text) {
          bytes += text.size();
          compiled.keyword_matcher.scan(text, [&](std::uint32_t) { ++hits; });
        });
    }
    scanned_bytes = bytes;
    literal_hits = hits;
    return hits;
  }));
  const auto scan_events = [&](const std::vector<indexed_event>& evs, std::size_t& bytes) {
    std::size_t hits = 0;
    for (const auto& e : evs) {
      for (std::size_t f = 0; f < handles.size(); ++f)
        indexed.read(e, handles[f], [&](sg::field_value v) {
          if (v.kind == sg::value_kind::null || v.kind == sg::value_kind::other) return;
          bytes += v.text.size();
          compiled.matchers[f].scan(v.text, [&](std::uint32_t) { ++hits; });
        });
      if (compiled.uses_keywords)
        indexed.for_each_string(e, [&](std::string_view text) {
          bytes += text.size();
          compiled.keyword_matcher.scan(text, [&](std::uint32_t) { ++hits; });
        });
    }
    return hits;
  };
  results.push_back(timed("scan_only_hot", base.size() * replicas, [&] {
    std::size_t hits = 0, bytes = 0;
    for (std::size_t k = 0; k < replicas; ++k) hits += scan_events(indexed_base, bytes);
    return hits;
  }));
  results.push_back(timed("engine_indexed_hot", base.size() * replicas, [&] {
    std::size_t detections = 0;
    for (std::size_t k = 0; k < replicas; ++k)  // fresh states a pass: the same trees again
      detections += run_engine(eng_indexed, indexed_base, ignore);
    return detections;
  }));
  // The scan per field (one field at a time, over the 410 base events --replicas times:
  // they stay in the caches, unlike the replicated events, whose cold reads would be most
  // of the time of a short field): which matcher the time goes to. CPU seconds of one
  // pass, median of --repeat; per event of the replicated count.
  std::vector<std::pair<double, std::size_t>> scan_by_field(handles.size());  // s, bytes
  if (wanted("scan_only")) {
    for (std::size_t f = 0; f < handles.size(); ++f) {
      std::vector<double> times;
      for (int r = 0; r < repeat; ++r) {
        std::size_t bytes = 0, hits = 0;
        const double begin = cpu_seconds();
        for (std::size_t k = 0; k < replicas; ++k)
          for (const auto& e : indexed_base)
            indexed.read(e, handles[f], [&](sg::field_value v) {
              if (v.kind == sg::value_kind::null || v.kind == sg::value_kind::other) return;
              bytes += v.text.size();
              compiled.matchers[f].scan(v.text, [&](std::uint32_t) { ++hits; });
            });
        times.push_back(cpu_seconds() - begin);
        scan_by_field[f].second = bytes;
        walk_sink += hits;
      }
      scan_by_field[f].first = median(times);
      std::fprintf(
          stderr, "scan %-18s %6.2f bytes/event %7.3f us/event %6.2f ns/byte\n",
          compiled.fields[f].c_str(),
          static_cast<double>(scan_by_field[f].second) / static_cast<double>(indexed_events.size()),
          scan_by_field[f].first * 1e6 / static_cast<double>(indexed_events.size()),
          scan_by_field[f].second == 0
              ? 0.0
              : scan_by_field[f].first * 1e9 / static_cast<double>(scan_by_field[f].second));
    }
  }
  results.push_back(timed("engine_indexed", events.size(),
                          [&] { return run_engine(eng_indexed, indexed_events, ignore); }));

  results.push_back(timed("parse_only", replicated_lines.size(), [&] {
    std::size_t n = 0;
    const char* p = data.data();
    const char* const end = p + data_bytes;
    while (p < end) {
      const char* nl =
          static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
      if (nl == nullptr) nl = end;
      const auto len = static_cast<std::size_t>(nl - p);
      const auto readable = static_cast<std::size_t>(data.data() + data.size() - p);
      od::document doc;
      od::value v;
      if (parser.iterate(simdjson::padded_string_view(p, len, readable)).get(doc) ||
          doc.get_value().get(v) || walk(v)) {
        std::fprintf(stderr, "parse_only: bad line\n");
        std::abort();
      }
      ++n;
      p = nl + 1;
    }
    walk_sink += n;
    return std::size_t{0};
  }));

  fluxcap_cli::json_fields json;
  for (const auto& path : compiled.fields) json.field_handle_for(sg::field_path::parse(path));
  for (const auto* path : {&compiled.group_path, &compiled.id_path, &compiled.parent_id_path})
    json.field_handle_for(sg::field_path::parse(*path));
  if (compiled.uses_keywords) json.enable_all_strings();
  const sg::engine<fluxcap_cli::json_fields, fluxcap::bloom_memory, sg::pcre2_engine> eng_json(
      compiled, json, fluxcap::bloom_memory{}, regex);
  std::uint64_t cache_hits = 0, cache_lookups = 0;  // engine_json's value memo, last pass
  std::uint64_t candidates = 0;                     // engine_json's candidate rules, last pass
  std::uint64_t cache_too_many = 0;  // values the memo could not hold (too many checks)
  results.push_back(timed("engine_json", replicated_lines.size(), [&] {
    std::unordered_map<std::string, fluxcap::bloom_memory::state_type> states;
    auto scratch = eng_json.make_scratch(value_cache);
    fluxcap_cli::json_field_event e;
    std::string problem;
    std::size_t detections = 0;
    const char* p = data.data();
    const char* const end = p + data_bytes;
    while (p < end) {
      const char* nl =
          static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
      if (nl == nullptr) nl = end;
      const auto len = static_cast<std::size_t>(nl - p);
      const auto readable = static_cast<std::size_t>(data.data() + data.size() - p);
      if (!json.parse(std::string_view(p, len), readable, e, problem)) {
        std::fprintf(stderr, "engine_json: bad line: %s\n", problem.c_str());
        std::abort();
      }
      const auto group = eng_json.group_of(e, scratch);
      auto it = states.find(std::string(group.value_or("")));
      if (it == states.end())
        it = states.emplace(std::string(group.value_or("")), eng_json.make_state()).first;
      detections += eng_json.process(it->second, e, scratch).size();
      p = nl + 1;
    }
    cache_hits = scratch.cache_hits();
    cache_lookups = scratch.cache_hits() + scratch.cache_misses();
    candidates = scratch.candidates_evaluated();
    cache_too_many = scratch.cache_too_many();
    return detections;
  }));

  const auto find = [&](std::string_view name) -> const mode_result& {
    for (const auto& m : results)
      if (m.name == name) return m;
    return results.front();
  };
  const auto ratio = [&](std::string_view a, std::string_view b) {
    const double x = find(a).events_per_second(), y = find(b).events_per_second();
    return y > 0 ? x / y : 0.0;
  };

  std::printf(
      "{\"rule_files_paths\":%zu,\"rules_read\":%zu,\"rules_ok\":%zu,"
      "\"rules_unsupported\":%zu,\"rules_skipped_logsource\":%zu,",
      rule_paths.size(), rules.size(), compiled.count(sg::rule_status::ok),
      compiled.count(sg::rule_status::unsupported),
      compiled.count(sg::rule_status::skipped_logsource));
  std::printf(
      "\"yaml_read_cpu_s\":%.4f,\"compile_cpu_s\":%.4f,\"compile_wall_s\":%.4f,"
      "\"fields\":%zu,\"leaves\":%zu,\"items\":%zu,\"parts\":%zu,\"regexes\":%zu,"
      "\"matcher_bytes\":%zu,",
      yaml_seconds, compile_seconds, compile_wall, compiled.fields.size(), compiled.leaves.size(),
      compiled.items.size(), compiled.parts.size(), compiled.regexes.size(), matcher_bytes);
  std::printf(
      "\"events_base\":%zu,\"replicas\":%zu,\"hosts\":%zu,\"replicated_events\":%zu,"
      "\"replicated_bytes\":%zu,\"verified\":%s,\"verified_detections\":%zu,\"repeat\":%d,",
      base.size(), replicas, hosts, events.size(), data_bytes, verify ? "true" : "false",
      verified_detections, repeat);
  std::printf(
      "\"scanned_bytes_per_event\":%.1f,\"literal_hits_per_event\":%.2f,",
      events.empty() ? 0.0
                     : static_cast<double>(scanned_bytes) / static_cast<double>(events.size()),
      events.empty() ? 0.0
                     : static_cast<double>(literal_hits) / static_cast<double>(events.size()));
  std::printf("\"scan_by_field\":{");
  for (std::size_t f = 0; f < scan_by_field.size(); ++f)
    std::printf(
        "%s\"%s\":{\"bytes_per_event\":%.2f,\"us_per_event\":%.4f}", f == 0 ? "" : ",",
        compiled.fields[f].c_str(),
        events.empty()
            ? 0.0
            : static_cast<double>(scan_by_field[f].second) / static_cast<double>(events.size()),
        events.empty() ? 0.0 : scan_by_field[f].first * 1e6 / static_cast<double>(events.size()));
  std::printf("},");
  std::printf("\"modes\":{");
  bool first = true;
  for (const auto& m : results) {
    if (m.seconds <= 0) continue;
    std::printf(
        "%s\"%s\":{\"events\":%zu,\"cpu_s\":%.6f,\"events_per_s\":%.1f,"
        "\"detections\":%zu}",
        first ? "" : ",", m.name.c_str(), m.events, m.seconds, m.events_per_second(), m.detections);
    first = false;
  }
  std::printf(
      "},\"engine_dense_over_naive\":%.2f,\"engine_dense_base_over_naive\":%.2f,"
      "\"engine_indexed_over_naive\":%.2f,\"engine_json_over_parse_only\":%.3f,"
      "\"value_cache_slots\":%u,\"engine_json_value_cache_hits\":%llu,"
      "\"engine_json_value_cache_lookups\":%llu,\"engine_json_candidates_per_event\":%.2f,"
      "\"engine_json_value_cache_too_many\":%llu}\n",
      ratio("engine_dense", "naive"), ratio("engine_dense_base", "naive"),
      ratio("engine_indexed", "naive"), ratio("engine_json", "parse_only"), value_cache.slots,
      static_cast<unsigned long long>(cache_hits), static_cast<unsigned long long>(cache_lookups),
      replicated_lines.empty()
          ? 0.0
          : static_cast<double>(candidates) / static_cast<double>(replicated_lines.size()),
      static_cast<unsigned long long>(cache_too_many));
  std::fprintf(stderr,
               "rules: %zu read (%.3f s YAML), %zu ok, compiled in %.3f s CPU; matchers %zu "
               "bytes\n",
               rules.size(), yaml_seconds, compiled.count(sg::rule_status::ok), compile_seconds,
               matcher_bytes);
  return walk_sink == 42 ? 1 : 0;
}
