// Evidence for the core's hot path: the bloom probe of a lookup, taken apart.
//
// A bloom lookup in fluxcap builds a detail::bloom_probe (block index and the
// key's k bit masks) once, then tests one 512-bit block per generation. These
// benchmarks time the two halves separately, against alternatives written here
// (not in the library) that give the SAME bits, so they could replace the
// current code without changing the serialized format:
//   - probe construction with k a compile-time constant (no `i % 7` per bit);
//   - the block test with SSE2 (x86-64 baseline) instead of 8 scalar words.
// A setup step checks that the alternatives agree with the library bit for bit;
// if the library's probe changes, the alternatives are reported as stale and skipped.
// This file uses fluxcap::detail::bloom_probe (constructor, block, masks, test, set):
// when the core adopts an alternative, the pair simply measures the same thing; if
// the core reshapes bloom_probe, adapt or drop these benchmarks.
#include "bench.hpp"
#include "bench_util.hpp"

#include <fluxcap/fluxcap.hpp>

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace fluxcap_bench {

namespace {

using fluxcap::detail::bloom_block_words;

struct probe_bits {
  std::size_t block = 0;
  std::uint64_t masks[bloom_block_words] = {};
};

/// The library's bit layout with K known at compile time: 9-bit fields of
/// fold_mul(key, hk1), refreshed every 7 fields by fold_mul(bits ^ key, hk3).
template <unsigned K>
probe_bits unrolled_probe(std::uint64_t key, std::uint32_t blocks) noexcept {
  using namespace fluxcap::detail;
  probe_bits p;
  key = nonzero_key(key);
  p.block = static_cast<std::size_t>(mul_high(key, blocks));
  constexpr unsigned words = (K + 6) / 7;
  std::uint64_t bits[words];
  bits[0] = fold_mul(key, hk1);
  for (unsigned j = 1; j < words; ++j) bits[j] = fold_mul(bits[j - 1] ^ key, hk3);
  [&]<unsigned... I>(std::integer_sequence<unsigned, I...>) {
    ((p.masks[((bits[I / 7] >> (9 * (I % 7))) & 511U) >> 6] |=
      std::uint64_t{1} << (((bits[I / 7] >> (9 * (I % 7))) & 511U) & 63)),
     ...);
  }
  (std::make_integer_sequence<unsigned, K>{});
  return p;
}

using probe_fn = probe_bits (*)(std::uint64_t, std::uint32_t) noexcept;

probe_fn unrolled_for(unsigned k) {
  switch (k) {
    case 10:
      return &unrolled_probe<10>;
    case 11:
      return &unrolled_probe<11>;
    case 12:
      return &unrolled_probe<12>;
    case 13:
      return &unrolled_probe<13>;
    case 14:
      return &unrolled_probe<14>;
    case 15:
      return &unrolled_probe<15>;
    case 16:
      return &unrolled_probe<16>;
    default:
      return nullptr;
  }
}

probe_bits library_probe(std::uint64_t key, std::uint32_t blocks, unsigned k) {
  const fluxcap::detail::bloom_probe p(key, blocks, k);
  probe_bits out;
  out.block = p.block;
  for (std::size_t w = 0; w < bloom_block_words; ++w) out.masks[w] = p.masks[w];
  return out;
}

bool same(const probe_bits& a, const probe_bits& b) {
  if (a.block != b.block) return false;
  for (std::size_t w = 0; w < bloom_block_words; ++w)
    if (a.masks[w] != b.masks[w]) return false;
  return true;
}

/// The geometry of a full workload state: capacity 200,000 at fpp 1e-4.
const fluxcap::memory_geometry& geometry() {
  static const fluxcap::memory_geometry g = fluxcap::memory_geometry::make(
      fluxcap::memory_config{200000, 1e-4, 10}, fluxcap::memory_mode::bloom);
  return g;
}

bool alternatives_match() {
  static const bool ok = [] {
    const auto& g = geometry();
    const probe_fn f = unrolled_for(g.bloom_k);
    if (f == nullptr) return false;
    rng r(21);
    for (int i = 0; i < 100000; ++i) {
      const std::uint64_t key = i < 2 ? static_cast<std::uint64_t>(i) : r.next();
      if (!same(library_probe(key, g.bloom_blocks, g.bloom_k), f(key, g.bloom_blocks)))
        return false;
    }
    return true;
  }();
  if (!ok)
    std::fprintf(stderr, "bloom_probe alternatives no longer match the library's bits: skipped\n");
  return ok;
}

std::vector<std::uint64_t> random_keys(std::size_t n, std::uint64_t seed) {
  rng r(seed);
  std::vector<std::uint64_t> keys(n);
  for (auto& k : keys) k = r.next();
  return keys;
}

void bm_probe_library(benchmark::State& st) {
  const auto& g = geometry();
  const auto keys = random_keys(1024, 22);
  std::size_t i = 0;
  for (auto _ : st) {
    const fluxcap::detail::bloom_probe p(keys[i++ & 1023], g.bloom_blocks, g.bloom_k);
    benchmark::DoNotOptimize(p.masks);
    benchmark::DoNotOptimize(p.block);
  }
  st.counters["k"] = value(g.bloom_k);
}

void bm_probe_unrolled(benchmark::State& st) {
  if (!alternatives_match()) {
    st.SkipWithError("alternative no longer matches the library");
    return;
  }
  const auto& g = geometry();
  const probe_fn f = unrolled_for(g.bloom_k);
  const auto keys = random_keys(1024, 22);
  std::size_t i = 0;
  for (auto _ : st) {
    const probe_bits p = f(keys[i++ & 1023], g.bloom_blocks);
    benchmark::DoNotOptimize(p.masks);
    benchmark::DoNotOptimize(p.block);
  }
  st.counters["k"] = value(g.bloom_k);
}

/// Ten bloom generations of the workload geometry, each filled with its share of
/// keys through the library's probe, so the bit density is the real one.
struct filters {
  std::vector<std::vector<std::uint64_t>> gens;
};

const filters& full_filters() {
  static const filters f = [] {
    const auto& g = geometry();
    filters out;
    rng r(23);
    for (std::uint32_t gen = 0; gen < g.config.generations; ++gen) {
      std::vector<std::uint64_t> words(std::size_t{g.bloom_blocks} * bloom_block_words);
      for (std::uint32_t j = 0; j < g.generation_capacity; ++j) {
        const fluxcap::detail::bloom_probe p(r.next(), g.bloom_blocks, g.bloom_k);
        p.set(words.data() + p.block * bloom_block_words);
      }
      out.gens.push_back(std::move(words));
    }
    return out;
  }();
  return f;
}

#if defined(__SSE2__)
bool sse2_test(const std::uint64_t* block, const std::uint64_t* masks) noexcept {
  __m128i missing = _mm_setzero_si128();
  for (std::size_t w = 0; w < bloom_block_words; w += 2) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + w));
    const __m128i m = _mm_loadu_si128(reinterpret_cast<const __m128i*>(masks + w));
    missing = _mm_or_si128(missing, _mm_andnot_si128(b, m));
  }
  return _mm_movemask_epi8(_mm_cmpeq_epi8(missing, _mm_setzero_si128())) == 0xffff;
}
#endif

/// A miss lookup over all 10 generations (newest first, stop at the first hit),
/// the probe built once: the library's bloom_probe::test vs an SSE2 test.
void bm_generations_test(benchmark::State& st, bool sse2) {
  const auto& g = geometry();
  const filters& f = full_filters();
  const auto keys = random_keys(4096, 24);
  std::vector<fluxcap::detail::bloom_probe> probes;
  for (const auto k : keys) probes.emplace_back(k, g.bloom_blocks, g.bloom_k);
  std::size_t i = 0;
  std::uint64_t hits = 0;
  for (auto _ : st) {
    const fluxcap::detail::bloom_probe& p = probes[i++ & 4095];
    bool hit = false;
    for (std::size_t gen = f.gens.size(); gen-- > 0 && !hit;) {
      const std::uint64_t* block = f.gens[gen].data() + p.block * bloom_block_words;
#if defined(__SSE2__)
      hit = sse2 ? sse2_test(block, p.masks) : p.test(block);
#else
      (void)sse2;
      hit = p.test(block);
#endif
    }
    hits += hit ? 1 : 0;
  }
  benchmark::DoNotOptimize(hits);
  st.SetItemsProcessed(st.iterations());
  st.counters["generations"] = value(static_cast<double>(f.gens.size()));
  st.counters["false_positive_rate"] =
      value(static_cast<double>(hits) / static_cast<double>(st.iterations()));
}

/// 384 groups x 10 bloom generations of the workload geometry (~315 MB, DRAM),
/// bits set with probability 1/2 (a full filter's density).
struct dram_filters {
  std::size_t groups = 384;
  std::size_t words_per_generation = 0;
  std::size_t generations = 0;
  std::vector<std::uint64_t> words;

  [[nodiscard]] const std::uint64_t* generation(std::size_t group, std::size_t gen) const {
    return words.data() + (group * generations + gen) * words_per_generation;
  }
};

const dram_filters& dram() {
  static const dram_filters f = [] {
    const auto& g = geometry();
    dram_filters out;
    out.generations = g.config.generations;
    out.words_per_generation = std::size_t{g.bloom_blocks} * bloom_block_words;
    out.words.resize(out.groups * out.generations * out.words_per_generation);
    rng r(25);
    for (auto& w : out.words) w = r.next();
    return out;
  }();
  return f;
}

enum class dram_layout {
  in_turn,         ///< as the library: each generation its own array, tested one after another
  prefetch_first,  ///< the same, but first prefetch the key's block in every generation
  interleaved      ///< block b of every generation side by side: one 640-byte run a key
};

/// A miss-heavy lookup of all 10 generations of a random DRAM-resident group
/// (probe pre-built), in three memory layouts / access orders.
void bm_dram_generations(benchmark::State& st, dram_layout layout) {
  const auto& g = geometry();
  const dram_filters& f = dram();
  rng r(26);
  constexpr std::size_t n = 4096;
  std::vector<std::pair<std::size_t, fluxcap::detail::bloom_probe>> probes;
  for (std::size_t i = 0; i < n; ++i)
    probes.emplace_back(r.below(f.groups),
                        fluxcap::detail::bloom_probe(r.next(), g.bloom_blocks, g.bloom_k));
  std::size_t i = 0;
  std::uint64_t hits = 0;
  for (auto _ : st) {
    const auto& [group, p] = probes[i++ & (n - 1)];
    bool hit = false;
    if (layout == dram_layout::interleaved) {
      // The group's words seen as [block][generation][8 words].
      const std::uint64_t* run =
          f.generation(group, 0) + p.block * f.generations * bloom_block_words;
      for (std::size_t gen = f.generations; gen-- > 0 && !hit;)
        hit = p.test(run + gen * bloom_block_words);
    } else {
      if (layout == dram_layout::prefetch_first)
        for (std::size_t gen = 0; gen < f.generations; ++gen)
          __builtin_prefetch(f.generation(group, gen) + p.block * bloom_block_words);
      for (std::size_t gen = f.generations; gen-- > 0 && !hit;)
        hit = p.test(f.generation(group, gen) + p.block * bloom_block_words);
    }
    hits += hit ? 1 : 0;
  }
  benchmark::DoNotOptimize(hits);
  st.SetItemsProcessed(st.iterations());
  st.counters["total_MB"] = value(static_cast<double>(f.words.size()) * 8 / 1e6);
}

}  // namespace

void register_probe_benchmarks() {
  benchmark::RegisterBenchmark("bloom_probe/construct/library", bm_probe_library);
  benchmark::RegisterBenchmark("bloom_probe/construct/k_constant", bm_probe_unrolled);
  benchmark::RegisterBenchmark("bloom_probe/test_10_generations/library", bm_generations_test,
                               false);
#if defined(__SSE2__)
  benchmark::RegisterBenchmark("bloom_probe/test_10_generations/sse2", bm_generations_test, true);
#endif
  benchmark::RegisterBenchmark("bloom_probe/dram_10_generations/library_layout",
                               bm_dram_generations, dram_layout::in_turn);
  benchmark::RegisterBenchmark("bloom_probe/dram_10_generations/prefetch_all_first",
                               bm_dram_generations, dram_layout::prefetch_first);
  benchmark::RegisterBenchmark("bloom_probe/dram_10_generations/interleaved_generations",
                               bm_dram_generations, dram_layout::interleaved);
}

}  // namespace fluxcap_bench
