// Entry points of the benchmark translation units (called from main.cpp).
#pragma once

namespace fluxcap_bench {

/// Workloads 1-3: harness, process trees, temporal only (bench_workloads.cpp).
void register_workload_benchmarks();

/// Workload 4: group_state, state codec, hash and footprint micro-benchmarks
/// (bench_micro.cpp).
void register_micro_benchmarks();

/// Evidence for the core: bloom probe construction and block tests, library vs
/// drop-in alternatives giving the same bits (bench_probe.cpp).
void register_probe_benchmarks();

/// Runs every baseline and fluxcap (exact and bloom) over short streams of each
/// workload and compares every output tag with fluxcap exact mode; prints a
/// summary on stderr and aborts on any difference (bench_verify.cpp).
void verify_baselines();

}  // namespace fluxcap_bench
