// Small helpers shared by the benchmark translation units: a deterministic
// generator, id formatting, heap accounting and benchmark counters.
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define FLUXCAP_BENCH_HAVE_CALLGRIND 1
#endif

namespace fluxcap_bench {

/// splitmix64: deterministic, fast, good enough for workload generation.
class rng {
 public:
  explicit rng(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next() noexcept {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, n).
  std::uint64_t below(std::uint64_t n) noexcept {
    __extension__ using u128 = unsigned __int128;
    return static_cast<std::uint64_t>((static_cast<u128>(next()) * n) >> 64);
  }
  /// Uniform in [0, 1).
  double uniform() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  bool chance(double p) noexcept { return uniform() < p; }

 private:
  std::uint64_t state_;
};

/// `prefix` followed by the decimal `n` (appends: avoids a GCC 12 -Wrestrict false
/// positive on `const char* + std::string`).
inline std::string numbered(std::string_view prefix, std::size_t n, std::string_view suffix = {}) {
  std::string s(prefix);
  s += std::to_string(n);
  s += suffix;
  return s;
}

/// A random RFC 4122 version-4 UUID, lower case ("8f14e45f-ceea-4e7a-9b1c-...").
inline std::string make_uuid(rng& r) {
  const std::uint64_t a = r.next();
  const std::uint64_t b = r.next();
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffffU), static_cast<unsigned>(a & 0xfffU),
                static_cast<unsigned>(0x8000U | ((b >> 48) & 0x3fffU)),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

/// A Sysmon-style ProcessGuid ("{5770385F-C22A-43E0-BF4C-06F5698FFBD9}").
inline std::string make_guid(rng& r) {
  const std::uint64_t a = r.next();
  const std::uint64_t b = r.next();
  char buf[48];
  std::snprintf(buf, sizeof buf, "{%08X-%04X-%04X-%04X-%012llX}", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffffU), static_cast<unsigned>(a & 0xffffU),
                static_cast<unsigned>(b >> 48),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

/// Bytes currently allocated from the C heap (glibc: in-use chunks plus mmapped
/// blocks); 0 where unknown. Differences of it measure what a structure owns,
/// allocator overhead included.
inline std::size_t heap_in_use() {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  const struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
#else
  return 0;
#endif
}

/// A counter that reads, after the run, as CPU seconds per unit of `units` done
/// during the whole timed loop (the console shows e.g. "12.3ns"; JSON has seconds).
inline benchmark::Counter time_per(double units) {
  return benchmark::Counter(units, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

/// Starts or stops callgrind's event collection (a no-op outside valgrind). The
/// workload benchmarks toggle it around their timed loop, so that
/// `valgrind --tool=callgrind --collect-atstart=no` counts the timed events only.
inline void callgrind_toggle_collect() {
#if defined(FLUXCAP_BENCH_HAVE_CALLGRIND)
  CALLGRIND_TOGGLE_COLLECT;
#endif
}

/// A plain value counter (bytes, sizes, ratios): reported as is.
inline benchmark::Counter value(double v) {
  return benchmark::Counter(v);
}

}  // namespace fluxcap_bench
