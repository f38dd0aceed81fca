// fluxcap_bench: one executable for every workload, baseline and micro-benchmark.
// See bench/README.md for what each benchmark measures and how to read it.
#include "bench.hpp"

#include <fluxcap/version.hpp>

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  // Aborts unless the baselines agree with fluxcap. FLUXCAP_BENCH_NO_VERIFY=1 skips it
  // (for profilers: keeps the profile to the benchmarks themselves).
  if (std::getenv("FLUXCAP_BENCH_NO_VERIFY") == nullptr) fluxcap_bench::verify_baselines();

  benchmark::AddCustomContext("fluxcap_version", fluxcap::version_string);
#if defined(__clang__)
  benchmark::AddCustomContext("compiler", std::string("clang ") + __clang_version__);
#elif defined(__GNUC__)
  benchmark::AddCustomContext("compiler", std::string("gcc ") + __VERSION__);
#endif
#if defined(NDEBUG)
  benchmark::AddCustomContext("asserts", "off (NDEBUG)");
#else
  benchmark::AddCustomContext("asserts", "on");
#endif

  fluxcap_bench::register_workload_benchmarks();
  fluxcap_bench::register_micro_benchmarks();
  fluxcap_bench::register_probe_benchmarks();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
