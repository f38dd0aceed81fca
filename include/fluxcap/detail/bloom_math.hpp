// Sizing of blocked Bloom filters (one 512-bit cache line a key).
//
// A blocked filter puts all k bits of a key in one block chosen by the key, so a
// probe touches one cache line. Blocks receive a Poisson-distributed number of
// keys, which costs some bits per key over a classic filter; the expected
// false-positive rate is (Putze, Sanders, Singler, "Cache-, hash- and
// space-efficient bloom filters", 2007):
//   fpp = sum_i Poisson(i; lambda) * (1 - (1 - 1/B)^(k*i))^k,  lambda = B / bits_per_key
#pragma once

#include <fluxcap/detail/abi_macros.hpp>

#include <cmath>
#include <cstdint>

FLUXCAP_BEGIN_NAMESPACE
namespace detail {

inline constexpr std::uint32_t bloom_block_bits = 512;
inline constexpr std::uint32_t bloom_block_words = bloom_block_bits / 64;
inline constexpr std::uint32_t bloom_max_k = 16;

/// Expected false-positive rate of a blocked filter at `bits_per_key` with `k` bits a key.
[[nodiscard]] inline double blocked_bloom_fpp(double bits_per_key, unsigned k) {
  const double lambda = bloom_block_bits / bits_per_key;
  const double miss_one = std::log1p(-1.0 / bloom_block_bits);  // log(1 - 1/B)
  double total = 0.0;
  double p = std::exp(-lambda);  // Poisson(0)
  const auto last = static_cast<unsigned>(lambda * 4 + 64);
  for (unsigned i = 0; i <= last; ++i) {
    const double fill = -std::expm1(k * i * miss_one);  // 1 - (1-1/B)^(k i)
    total += p * std::pow(fill, k);
    p *= lambda / (i + 1);
  }
  return total;
}

struct bloom_sizing {
  double bits_per_key = 0;
  unsigned k = 0;
};

/// The smallest bits-per-key (and its k) that reaches `target` false-positive rate.
[[nodiscard]] inline bloom_sizing size_blocked_bloom(double target) {
  bloom_sizing best{1e9, 1};
  for (unsigned k = 1; k <= bloom_max_k; ++k) {
    double lo = 1.0;
    double hi = 256.0;
    if (blocked_bloom_fpp(hi, k) > target) continue;
    for (int step = 0; step < 50; ++step) {
      const double mid = (lo + hi) / 2;
      (blocked_bloom_fpp(mid, k) > target ? lo : hi) = mid;
    }
    if (hi < best.bits_per_key) best = {hi, k};
  }
  return best;
}

}  // namespace detail
FLUXCAP_END_NAMESPACE
