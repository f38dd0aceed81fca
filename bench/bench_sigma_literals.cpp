// Sigma literal matcher (include/fluxcap/sigma/detail/literal_matcher.hpp): build time,
// memory and scan throughput for the CommandLine `contains` fragments of the realdata
// rules over the realdata Sysmon CommandLine values, against a naive per-pattern folded
// search in the same run (docs/design/sigma-frontend.md 4.1, 8.5). Without realdata
// (../shared/realdata or $FLUXCAP_REALDATA) it prints a message and uses a synthetic set of
// the same shape (2,734 fragments, median length ~14; 410 values of ~170 bytes).
// Self-registering: this file only needs to be in fluxcap_bench's source list.
#include "bench_util.hpp"

#include <fluxcap/sigma/detail/literal_matcher.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace fluxcap_bench {

namespace {

namespace fs = std::filesystem;
using fluxcap::sigma::detail::fold_ascii;
using fluxcap::sigma::detail::literal_anchor;
using fluxcap::sigma::detail::literal_matcher;

struct literal_data {
  std::vector<std::string> fragments;  // lower case, distinct
  std::vector<std::string> values;
  std::string source;
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(fold_ascii(static_cast<unsigned char>(c)));
  return out;
}

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

/// A YAML scalar as written on one line: quoted ('' and "" handled simply) or plain, with a
/// trailing comment dropped.
std::string scalar(std::string_view s) {
  std::string t = trim(s);
  if (t.size() >= 2 && (t[0] == '\'' || t[0] == '"')) {
    const char q = t[0];
    std::string out;
    for (std::size_t i = 1; i < t.size(); ++i) {
      if (t[i] == q) {
        if (q == '\'' && i + 1 < t.size() && t[i + 1] == '\'') {
          out += '\'';
          ++i;
          continue;
        }
        break;
      }
      if (q == '"' && t[i] == '\\' && i + 1 < t.size()) ++i;
      out += t[i];
    }
    return out;
  }
  const auto hash = t.find(" #");
  return hash == std::string::npos ? t : trim(t.substr(0, hash));
}

/// Splits a Sigma string at unescaped wildcards, as analyze.py --dump did.
void add_fragments(std::string_view v, std::set<std::string>& out) {
  std::string frag;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if ((v[i] == '*' || v[i] == '?') && (i == 0 || v[i - 1] != '\\')) {
      if (!frag.empty()) out.insert(lower(frag));
      frag.clear();
      continue;
    }
    if (v[i] == '\\' && i + 1 < v.size() && v[i + 1] == '\\') ++i;
    frag += v[i];
  }
  if (!frag.empty()) out.insert(lower(frag));
}

/// CommandLine literal values of every rule: a line-based scan (key line, then `- value`
/// items), skipping re/base64/windash/fieldref items.
std::vector<std::string> rule_fragments(const fs::path& root) {
  std::set<std::string> out;
  for (const char* dir : {"sigma", "sigma-regression-extra"}) {
    std::error_code ec;
    if (!fs::is_directory(root / dir, ec)) continue;
    for (const auto& entry : fs::recursive_directory_iterator(root / dir)) {
      const auto p = entry.path().string();
      if (entry.path().extension() != ".yml" || p.find("regression_data") != std::string::npos)
        continue;
      std::ifstream in(entry.path());
      std::string line;
      bool in_list = false;
      std::size_t list_indent = 0;
      while (std::getline(in, line)) {
        std::string t = trim(line);
        std::size_t indent = line.find_first_not_of(' ');
        if (t.empty() || t[0] == '#') continue;  // comments may sit inside a list
        if (in_list && t.starts_with("- ") && indent >= list_indent) {
          add_fragments(scalar(t.substr(2)), out);
          continue;
        }
        in_list = false;
        if (t.starts_with("- CommandLine")) {  // a key in a list of maps
          t = t.substr(2);
          indent += 2;
        }
        if (!t.starts_with("CommandLine")) continue;
        const auto colon = t.find(':');
        if (colon == std::string::npos) continue;
        const std::string key = t.substr(0, colon);
        if (key != "CommandLine" && !key.starts_with("CommandLine|")) continue;
        bool skip = false;
        for (const char* m : {"|re", "|base64", "|windash", "|fieldref"})
          skip = skip || key.find(m) != std::string::npos;
        if (skip) continue;
        const std::string rest = trim(t.substr(colon + 1));
        if (rest.empty()) {
          in_list = true;
          list_indent = indent;
        } else {
          add_fragments(scalar(rest), out);
        }
      }
    }
  }
  return {out.begin(), out.end()};
}

/// The CommandLine value of each Sysmon JSON line (JSON escapes \\ \" \/ decoded, others kept).
std::vector<std::string> sysmon_command_lines(const fs::path& root) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::is_directory(root / "sysmon", ec)) return out;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(root / "sysmon"))
    if (entry.path().extension() == ".jsonl") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f);
    std::string line;
    while (std::getline(in, line)) {
      const auto at = line.find("\"CommandLine\":\"");
      if (at == std::string::npos) continue;
      std::string v;
      for (std::size_t i = at + 15; i < line.size() && line[i] != '"'; ++i) {
        if (line[i] == '\\' && i + 1 < line.size()) {
          const char n = line[++i];
          v += n == 'n' || n == 'r' || n == 't' ? ' ' : n;
        } else {
          v += line[i];
        }
      }
      out.push_back(std::move(v));
    }
  }
  return out;
}

/// Command-line-like fragments and values of the realdata's shape.
void synthetic(literal_data& d) {
  rng r(14);
  const char* words[] = {"powershell",
                         "-enc",
                         "invoke-",
                         "expression",
                         "\\windows\\",
                         "system32",
                         "rundll32",
                         "regsvr32",
                         "/c ",
                         "cmd.exe",
                         "downloadstring",
                         "http://",
                         ".dll,",
                         "-nop",
                         "hidden",
                         "bypass",
                         "\\appdata\\",
                         "temp\\",
                         "certutil",
                         "-urlcache",
                         "wmic",
                         "process call create",
                         "schtasks",
                         "/create",
                         "reg add",
                         "hklm\\software\\",
                         "net user",
                         "vssadmin",
                         "delete shadows"};
  const std::string alnum = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::set<std::string> frags;
  while (frags.size() < 2734) {
    std::string f = words[r.below(std::size(words))];
    const auto extra = r.below(16);
    for (std::uint64_t k = 0; k < extra; ++k) f += alnum[r.below(alnum.size())];
    if (r.chance(0.3)) f = f.substr(0, 2 + r.below(4));  // short fragments, as -e and /c
    frags.insert(f);
  }
  d.fragments.assign(frags.begin(), frags.end());
  for (int i = 0; i < 410; ++i) {
    std::string v = "\"C:\\Windows\\System32\\";
    while (v.size() < 170) {
      v += r.chance(0.5) ? std::string(words[r.below(std::size(words))])
                         : d.fragments[r.below(d.fragments.size())];
      v += ' ';
      for (std::uint64_t k = r.below(12); k > 0; --k)
        v += static_cast<char>(r.chance(0.2) ? 'A' + r.below(26) : alnum[r.below(alnum.size())]);
      v += ' ';
    }
    d.values.push_back(std::move(v));
  }
  d.source = "synthetic";
}

const literal_data& data() {
  static const literal_data loaded = [] {
    literal_data d;
    // The repository's sibling ../shared/realdata (found from this file's path), or
    // $FLUXCAP_REALDATA.
    fs::path root = fs::path(__FILE__).parent_path() / ".." / ".." / "shared" / "realdata";
    if (const char* env = std::getenv("FLUXCAP_REALDATA")) root = env;
    for (const fs::path& candidate : {root}) {
      std::error_code ec;
      if (!fs::is_directory(candidate / "sigma", ec)) continue;
      d.fragments = rule_fragments(candidate);
      d.values = sysmon_command_lines(candidate);
      d.source = "realdata";
      break;
    }
    if (d.fragments.empty() || d.values.empty()) {
      std::fprintf(stderr, "sigma_literals: no realdata (set FLUXCAP_REALDATA): synthetic set\n");
      d = {};
      synthetic(d);
    }
    return d;
  }();
  return loaded;
}

/// The pattern set times `copies` (copy c > 0 gets a suffix, as ac_probe.cpp did).
std::vector<std::string> patterns(int copies) {
  std::vector<std::string> p;
  for (int c = 0; c < copies; ++c)
    for (const auto& f : data().fragments)
      p.push_back(c == 0 ? f : f + static_cast<char>('a' + c % 26) + std::to_string(c));
  return p;
}

literal_matcher build(const std::vector<std::string>& ps,
                      const fluxcap::sigma::detail::literal_matcher_limits& limits) {
  literal_matcher m(limits);
  for (std::size_t i = 0; i < ps.size(); ++i)
    m.add(ps[i], literal_anchor::contains, false, static_cast<std::uint32_t>(i));
  m.build();
  return m;
}

/// The baseline: each pattern searched in the value folded once (patterns are lower case).
class naive_matcher {
 public:
  explicit naive_matcher(std::vector<std::string> ps) : patterns_(std::move(ps)) {}
  template <class OnHit>
  void scan(std::string_view value, OnHit&& on_hit) {
    folded_.assign(value);
    for (char& c : folded_) c = static_cast<char>(fold_ascii(static_cast<unsigned char>(c)));
    const std::string_view v(folded_);
    for (std::size_t i = 0; i < patterns_.size(); ++i)
      if (v.find(patterns_[i]) != std::string_view::npos) on_hit(static_cast<std::uint32_t>(i));
  }

 private:
  std::vector<std::string> patterns_;
  std::string folded_;
};

/// Aborts unless matcher and baseline find the same ids in every value.
void verify(const literal_matcher& m, const std::vector<std::string>& ps) {
  naive_matcher naive(ps);
  for (const auto& v : data().values) {
    std::set<std::uint32_t> a, b;
    m.scan(v, [&](std::uint32_t id) { a.insert(id); });
    naive.scan(v, [&](std::uint32_t id) { b.insert(id); });
    if (a != b) {
      std::fprintf(stderr, "sigma_literals: matcher and naive search differ on %s\n", v.c_str());
      std::abort();
    }
  }
}

/// values/s of sigma_literals/scan per copies (index), for the baseline's ratio.
double matcher_values_per_second[8] = {};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void bm_build(benchmark::State& state, int copies) {
  const auto ps = patterns(copies);
  std::size_t memory = 0, states = 0, dense = 0, classes = 0;
  for (auto _ : state) {
    const auto m = build(ps, {});
    memory = m.memory_bytes();
    states = m.automaton_states();
    dense = m.automaton_dense_states();
    classes = m.byte_classes();
    benchmark::DoNotOptimize(memory);
  }
  state.counters["patterns"] = static_cast<double>(ps.size());
  std::vector<std::size_t> lengths;
  for (const auto& p : ps) lengths.push_back(p.size());
  std::sort(lengths.begin(), lengths.end());
  state.counters["median_length"] =
      lengths.empty() ? 0 : static_cast<double>(lengths[lengths.size() / 2]);
  std::size_t bytes = 0;
  for (const auto& v : data().values) bytes += v.size();
  state.counters["mean_value_bytes"] =
      data().values.empty()
          ? 0
          : static_cast<double>(bytes) / static_cast<double>(data().values.size());
  state.counters["states"] = static_cast<double>(states);
  state.counters["dense_states"] = static_cast<double>(dense);
  state.counters["classes"] = static_cast<double>(classes);
  state.counters["memory_bytes"] = static_cast<double>(memory);
  state.SetLabel(data().source);
}

/// The previous layout, kept as a baseline: every contains pattern in the automaton.
fluxcap::sigma::detail::literal_matcher_limits automaton_only() {
  fluxcap::sigma::detail::literal_matcher_limits limits;
  limits.max_filter_bucket_bytes = 0;
  return limits;
}

void bm_scan(benchmark::State& state, int copies, bool unique, bool automaton) {
  const auto ps = patterns(copies);
  const auto m =
      build(ps, automaton ? automaton_only() : fluxcap::sigma::detail::literal_matcher_limits{});
  verify(m, ps);
  fluxcap::sigma::detail::literal_scan_scratch scratch;
  scratch.prepare(m);
  const auto& values = data().values;
  std::size_t bytes = 0;
  for (const auto& v : values) bytes += v.size();
  std::uint64_t hits = 0;
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    for (const auto& v : values) {
      if (unique)
        m.scan_unique(v, scratch, [&](std::uint32_t id) { hits += id + 1; });
      else
        m.scan(v, [&](std::uint32_t id) { hits += id + 1; });
    }
    benchmark::DoNotOptimize(hits);
  }
  const auto n = static_cast<double>(state.iterations()) * static_cast<double>(values.size());
  state.SetItemsProcessed(static_cast<std::int64_t>(n));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(bytes));
  state.counters["values_per_s"] = benchmark::Counter(n, benchmark::Counter::kIsRate);
  state.counters["memory_bytes"] = static_cast<double>(m.memory_bytes());
  state.counters["patterns"] = static_cast<double>(ps.size());
  state.counters["filtered"] = static_cast<double>(m.filtered_patterns());
  state.SetLabel(data().source);
  if (automaton) return;
  // Remembered for the baseline's ratio (the baseline is registered after, same run).
  if (!unique) matcher_values_per_second[copies] = n / seconds_since(start);
}

void bm_naive(benchmark::State& state, int copies) {
  const auto ps = patterns(copies);
  naive_matcher naive(ps);
  const auto& values = data().values;
  std::uint64_t hits = 0;
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    for (const auto& v : values) naive.scan(v, [&](std::uint32_t id) { hits += id + 1; });
    benchmark::DoNotOptimize(hits);
  }
  const auto n = static_cast<double>(state.iterations()) * static_cast<double>(values.size());
  state.SetItemsProcessed(static_cast<std::int64_t>(n));
  state.counters["values_per_s"] = benchmark::Counter(n, benchmark::Counter::kIsRate);
  state.counters["patterns"] = static_cast<double>(ps.size());
  const double naive_rate = n / seconds_since(start);
  if (matcher_values_per_second[copies] > 0 && naive_rate > 0)
    state.counters["matcher_speedup"] = matcher_values_per_second[copies] / naive_rate;
  state.SetLabel(data().source);
}

/// The automaton's dense/sparse split (every pattern in the automaton, as before the gram
/// filters): scan speed and memory by dense depth (budget unlimited).
void bm_scan_dense_depth(benchmark::State& state, unsigned depth) {
  const auto ps = patterns(1);
  auto limits = automaton_only();
  limits.max_dense_depth = depth;
  limits.max_dense_bytes = std::size_t{1} << 30;
  const auto m = build(ps, limits);
  verify(m, ps);
  std::uint64_t hits = 0;
  for (auto _ : state) {
    for (const auto& v : data().values) m.scan(v, [&](std::uint32_t id) { hits += id + 1; });
    benchmark::DoNotOptimize(hits);
  }
  const auto n =
      static_cast<double>(state.iterations()) * static_cast<double>(data().values.size());
  state.SetItemsProcessed(static_cast<std::int64_t>(n));
  state.counters["memory_bytes"] = static_cast<double>(m.memory_bytes());
  state.counters["dense_states"] = static_cast<double>(m.automaton_dense_states());
  state.SetLabel(data().source);
}

[[maybe_unused]] const bool registered = [] {
  for (const int copies : {1, 4}) {
    const std::string suffix = "/copies:" + std::to_string(copies);
    benchmark::RegisterBenchmark(("sigma_literals/build" + suffix).c_str(), bm_build, copies)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("sigma_literals/scan" + suffix).c_str(), bm_scan, copies, false,
                                 false)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("sigma_literals/scan_automaton" + suffix).c_str(), bm_scan,
                                 copies, false, true)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("sigma_literals/scan_unique" + suffix).c_str(), bm_scan, copies,
                                 true, false)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("sigma_literals/naive" + suffix).c_str(), bm_naive, copies)
        ->Unit(benchmark::kMillisecond);
  }
  for (const unsigned depth :
       {1u, 2u, 3u, 4u, 5u, 6u, 8u, 100000u})  // the last: all dense, as ac_probe.cpp
    benchmark::RegisterBenchmark(
        ("sigma_literals/scan_dense_depth/" + std::to_string(depth)).c_str(), bm_scan_dense_depth,
        depth)
        ->Unit(benchmark::kMicrosecond);
  return true;
}();

}  // namespace

}  // namespace fluxcap_bench
