// The Bloom probe: where a key's bits lie in a block of a blocked Bloom generation,
// and the aligned, zeroed word storage the generations use. Part of the state format:
// the bit positions must not change (saved states would answer differently).
#pragma once

#include <fluxcap/detail/abi_macros.hpp>

#include <fluxcap/detail/bloom_math.hpp>
#include <fluxcap/hash.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

FLUXCAP_BEGIN_NAMESPACE

namespace detail {

struct aligned_words_deleter {
  void operator()(std::uint64_t* p) const noexcept { ::operator delete[](p, std::align_val_t{64}); }
};
using words_ptr = std::unique_ptr<std::uint64_t[], aligned_words_deleter>;

/// Zeroed, cache-line aligned storage for `n` words.
inline words_ptr allocate_words(std::size_t n) {
  auto* p = static_cast<std::uint64_t*>(
      ::operator new[](n * sizeof(std::uint64_t), std::align_val_t{64}));
  std::memset(p, 0, n * sizeof(std::uint64_t));
  return words_ptr(p);
}

/// Key hashes are never 0 inside a set: 0 marks an empty slot.
[[nodiscard]] constexpr std::uint64_t nonzero_key(std::uint64_t key) noexcept {
  return key == 0 ? hk0 : key;
}
/// Where a key's bits lie in a bloom generation. Every bloom generation of a state
/// has the same geometry, so one probe serves them all: a lookup hashes once and
/// then only loads and compares one block per generation.
struct bloom_probe {
  alignas(16) std::uint64_t masks[bloom_block_words] = {};  ///< the key's bits, word by word
  std::size_t block = 0;                                    ///< block index (fastrange on the key)

  bloom_probe() = default;
  bloom_probe(std::uint64_t key, std::uint32_t blocks, unsigned k) noexcept
      : block(static_cast<std::size_t>(mul_high(nonzero_key(key), blocks))) {
    // Sets hold key 0 as nonzero_key(0) and pass that to the filter when they turn into
    // one; the filter must read key 0 the same way (fold_mul(0, .) would also be 0).
    key = nonzero_key(key);
    // One dispatch on k, so that the loop of set_bits unrolls and its index arithmetic folds.
    switch (k) {
      case 1:
        set_bits<1>(key);
        break;
      case 2:
        set_bits<2>(key);
        break;
      case 3:
        set_bits<3>(key);
        break;
      case 4:
        set_bits<4>(key);
        break;
      case 5:
        set_bits<5>(key);
        break;
      case 6:
        set_bits<6>(key);
        break;
      case 7:
        set_bits<7>(key);
        break;
      case 8:
        set_bits<8>(key);
        break;
      case 9:
        set_bits<9>(key);
        break;
      case 10:
        set_bits<10>(key);
        break;
      case 11:
        set_bits<11>(key);
        break;
      case 12:
        set_bits<12>(key);
        break;
      case 13:
        set_bits<13>(key);
        break;
      case 14:
        set_bits<14>(key);
        break;
      case 15:
        set_bits<15>(key);
        break;
      default:
        set_bits<bloom_max_k>(key);
        break;  // geometry keeps k in [1, bloom_max_k]
    }
  }

  /// True when every bit of the key is set in `block_words` (16-byte aligned).
  [[nodiscard]] bool test(const std::uint64_t* block_words) const noexcept {
#if defined(__SSE2__)
    __m128i missing = _mm_setzero_si128();
    for (std::size_t w = 0; w < bloom_block_words; w += 2) {
      const __m128i have = _mm_load_si128(reinterpret_cast<const __m128i*>(block_words + w));
      const __m128i want = _mm_load_si128(reinterpret_cast<const __m128i*>(masks + w));
      missing = _mm_or_si128(missing, _mm_andnot_si128(have, want));  // want & ~have
    }
    return _mm_movemask_epi8(_mm_cmpeq_epi8(missing, _mm_setzero_si128())) == 0xffff;
#else
    std::uint64_t missing = 0;
    for (std::size_t w = 0; w < bloom_block_words; ++w) missing |= masks[w] & ~block_words[w];
    return missing == 0;
#endif
  }

  /// Sets the key's bits; true when at least one was not set before.
  bool set(std::uint64_t* block_words) const noexcept {
    std::uint64_t missing = 0;
    for (std::size_t w = 0; w < bloom_block_words; ++w) {
      missing |= masks[w] & ~block_words[w];
      block_words[w] |= masks[w];
    }
    return missing != 0;
  }

 private:
  // Bit positions: 9-bit fields of remixes of the key (the block used its high bits),
  // 7 fields a remix. Part of the state format: changing it breaks saved states.
  template <unsigned K>
  void set_bits(std::uint64_t key) noexcept {
    constexpr unsigned remixes = (K + 6) / 7;
    std::uint64_t words[remixes];
    words[0] = fold_mul(key, hk1);
    for (unsigned r = 1; r < remixes; ++r) words[r] = fold_mul(words[r - 1] ^ key, hk3);
    for (unsigned i = 0; i < K; ++i) {
      const auto pos = static_cast<unsigned>(words[i / 7] >> (9 * (i % 7))) & 511U;
      masks[pos >> 6] |= std::uint64_t{1} << (pos & 63);
    }
  }
};
}  // namespace detail

FLUXCAP_END_NAMESPACE
