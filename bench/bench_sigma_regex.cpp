// Sigma regexes: PCRE2 with JIT against the PCRE2 interpreter, on the realdata `re`
// values (realdata/sigma*/) over the CommandLine values of realdata/sysmon/*.jsonl, each
// regex on each value; and the same gated by the required literals (each regex run only on
// values that contain all its literals, found before timing: the engine gets that answer
// from its automaton pass over the value, which it makes anyway). Built only where
// fluxcap::sigma_pcre2 exists. Results: bench/README.md, "Sigma regexes".
#if defined(FLUXCAP_BENCH_PCRE2)

#include <fluxcap/sigma/detail/regex_literals.hpp>
#include <fluxcap/sigma/pcre2.hpp>

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "realdata_regexes.hpp"
#include "sigma_test_util.hpp"

namespace fluxcap_bench {

namespace {

namespace sigma = fluxcap::sigma;

struct regex_data {
  std::vector<sigma_test::realdata_regex> regexes;
  std::vector<sigma::detail::required_literals> literals;
  std::vector<std::string> lines;
};

const regex_data& data() {
  static const regex_data d = [] {
    regex_data r;
    const auto root = sigma_test::realdata();
    if (root.empty()) return r;
    r.regexes = sigma_test::realdata_regexes(root);
    r.lines = sigma_test::sysmon_command_lines(root);
    for (const auto& x : r.regexes) {
      r.literals.push_back(sigma::detail::extract_required_literals(x.pattern, x.flags));
    }
    return r;
  }();
  return d;
}

char fold(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool contains(std::string_view subject, std::string_view literal, bool case_insensitive) {
  if (!case_insensitive) return subject.find(literal) != std::string_view::npos;
  for (std::size_t i = 0; i + literal.size() <= subject.size(); ++i) {
    std::size_t k = 0;
    while (k < literal.size() && fold(subject[i + k]) == literal[k]) ++k;
    if (k == literal.size()) return true;
  }
  return false;
}

void bm_sigma_regex(benchmark::State& state, bool jit, bool gated) {
  const auto& d = data();
  if (d.regexes.empty() || d.lines.empty()) {
    state.SkipWithError("realdata absent (../shared/realdata or $FLUXCAP_REALDATA)");
    return;
  }
  const sigma::pcre2_engine engine(sigma::pcre2_limits{.use_jit = jit});
  std::vector<sigma::pcre2_engine::compiled> codes;
  for (const auto& r : d.regexes) {
    auto c = engine.compile(r.pattern, r.flags);
    if (!std::holds_alternative<sigma::pcre2_engine::compiled>(c)) {
      state.SkipWithError(("does not compile: " + r.pattern).c_str());
      return;
    }
    codes.push_back(std::move(std::get<sigma::pcre2_engine::compiled>(c)));
  }
  auto scratch = engine.make_scratch();
  // Which regexes run on each value: all, or (gated) those whose literals the value holds,
  // found before timing: in the engine that answer comes out of the automaton pass.
  std::vector<std::vector<std::size_t>> candidates(d.lines.size());
  std::size_t searches = 0;
  std::int64_t matches = 0;
  for (std::size_t v = 0; v < d.lines.size(); ++v) {
    for (std::size_t i = 0; i < codes.size(); ++i) {
      bool present = true;
      for (const auto& l : d.literals[i].literals) {
        present = present && contains(d.lines[v], l, d.literals[i].case_insensitive);
      }
      if (gated && !present) continue;
      candidates[v].push_back(i);
      ++searches;
      matches += engine.search(codes[i], d.lines[v], scratch) ? 1 : 0;
    }
  }
  for (auto _ : state) {
    for (std::size_t v = 0; v < d.lines.size(); ++v) {
      for (const std::size_t i : candidates[v]) {
        benchmark::DoNotOptimize(engine.search(codes[i], d.lines[v], scratch));
      }
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(d.lines.size()));
  state.counters["regexes"] = static_cast<double>(codes.size());
  state.counters["values"] = static_cast<double>(d.lines.size());
  state.counters["searches_per_value"] =
      static_cast<double>(searches) / static_cast<double>(d.lines.size());
  state.counters["matches"] = static_cast<double>(matches);
  state.counters["limit_hits"] = static_cast<double>(scratch.limit_hits());
}

BENCHMARK_CAPTURE(bm_sigma_regex, jit, true, false);
BENCHMARK_CAPTURE(bm_sigma_regex, interpreter, false, false);
BENCHMARK_CAPTURE(bm_sigma_regex, jit_gated, true, true);
BENCHMARK_CAPTURE(bm_sigma_regex, interpreter_gated, false, true);

}  // namespace

}  // namespace fluxcap_bench

#endif  // FLUXCAP_BENCH_PCRE2
