// Sigma rule loading, the start-up of `fluxcap run/check --rules` (bench/README.md, "Sigma
// rule loading"): sigma::read_rule_paths with 1 and N threads, then sigma::compile for the
// sysmon profile (PCRE2 when the build has it, as the tool), in the same run:
//
//   fluxcap_sigma_load_bench --rules PATH... [--threads N]... [--repeat R]
//
// Each repeat reads the rules once per thread count (interleaved, so that the machine's
// load hits them alike) and compiles them once. Prints, per thread count, the medians of
// wall time and process CPU time (all threads) of the reading, and those of the compile;
// checks that every thread count read the same rules (identities in order).
#include <fluxcap/sigma/compile.hpp>
#include <fluxcap/sigma/profile.hpp>
#include <fluxcap/sigma/yaml.hpp>
#if FLUXCAP_BENCH_PCRE2
#include <fluxcap/sigma/pcre2.hpp>
#endif

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace {

double clock_seconds(clockid_t clock) {
  timespec t{};
  clock_gettime(clock, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

struct timing {
  std::vector<double> wall, cpu;
};

}  // namespace

int main(int argc, char** argv) {
  namespace sg = fluxcap::sigma;
  std::vector<std::filesystem::path> paths;
  std::vector<unsigned> thread_counts;
  int repeat = 5;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--rules" && i + 1 < argc) {
      paths.emplace_back(argv[++i]);
    } else if (a == "--threads" && i + 1 < argc) {
      thread_counts.push_back(static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10)));
    } else if (a == "--repeat" && i + 1 < argc) {
      repeat = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr,
                   "usage: fluxcap_sigma_load_bench --rules PATH... [--threads N]... "
                   "[--repeat R]\n");
      return 2;
    }
  }
  if (paths.empty()) {
    std::printf("{\"skipped\":\"no --rules given\"}\n");
    return 0;
  }
  if (thread_counts.empty()) thread_counts = {1, sg::default_read_threads()};

  const auto profile = *sg::builtin_profile("sysmon");
#if FLUXCAP_BENCH_PCRE2
  const sg::pcre2_engine regex;
#else
  const sg::no_regex regex;
#endif
  std::vector<timing> reads(thread_counts.size());
  timing compiles;
  std::vector<std::string> first_identities;
  std::size_t rule_count = 0, ok = 0;
  for (int r = 0; r < repeat; ++r) {
    std::vector<sg::rule> rules;
    for (std::size_t t = 0; t < thread_counts.size(); ++t) {
      const double wall = clock_seconds(CLOCK_MONOTONIC);
      const double cpu = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
      rules = sg::read_rule_paths(paths, {}, thread_counts[t]);
      reads[t].cpu.push_back(clock_seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu);
      reads[t].wall.push_back(clock_seconds(CLOCK_MONOTONIC) - wall);
      std::vector<std::string> ids;
      for (const auto& rule : rules) ids.push_back(rule.identity);
      if (first_identities.empty()) first_identities = ids;
      if (ids != first_identities) {
        std::fprintf(stderr, "--threads %u read other rules than the first reading\n",
                     thread_counts[t]);
        return 1;
      }
    }
    const double wall = clock_seconds(CLOCK_MONOTONIC);
    const double cpu = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
    const auto compiled = sg::compile(rules, profile, sg::compile_options{}, regex);
    compiles.cpu.push_back(clock_seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu);
    compiles.wall.push_back(clock_seconds(CLOCK_MONOTONIC) - wall);
    rule_count = rules.size();
    ok = compiled.count(sg::rule_status::ok);
  }
  std::printf("{\"rules\":%zu,\"compiled_ok\":%zu,\"repeat\":%d,\"read\":[", rule_count, ok,
              repeat);
  for (std::size_t t = 0; t < thread_counts.size(); ++t)
    std::printf("%s{\"threads\":%u,\"wall_s\":%.4f,\"cpu_s\":%.4f}", t ? "," : "", thread_counts[t],
                median(reads[t].wall), median(reads[t].cpu));
  std::printf("],\"compile\":{\"wall_s\":%.4f,\"cpu_s\":%.4f}}\n", median(compiles.wall),
              median(compiles.cpu));
  return 0;
}
