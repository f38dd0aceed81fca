// The distinct-count sketch of bounded_distinct_window (bounded_window.hpp): HyperLogLog
// registers packed two to a byte, one register array per time bucket. Registers of
// several buckets merge by maximum, so the window's sketch is the union of its buckets'.
//
// Hash bits: register index = the top `precision` bits; value = 1 + the leading zeros of
// the next 14 bits, or 15 when all 14 are zero (the register saturates at 15, a 4-bit
// nibble). The estimator is Ertl's "improved raw estimator" (O. Ertl, "New cardinality
// estimation algorithms for HyperLogLog sketches", 2017, algorithm 6), which is unbiased
// from 0 to far beyond m * 2^14 without bias tables or a switch to linear counting, and
// accounts for saturated registers (its q = 14). Relative standard error 1.04 / sqrt(m).
#pragma once

#include <fluxcap/detail/abi_macros.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

FLUXCAP_BEGIN_NAMESPACE

namespace sigma::detail {

/// The value bits after the index: registers hold 0 (empty) to hll_q + 1 (saturated).
inline constexpr unsigned hll_q = 14;

/// Register index and value of a hash for 2^precision registers.
struct hll_entry {
  std::size_t index;
  std::uint8_t value;
};

template <unsigned Precision>
[[nodiscard]] constexpr hll_entry hll_split(std::uint64_t hash) noexcept {
  static_assert(Precision >= 4 && Precision <= 16);
  const auto index = static_cast<std::size_t>(hash >> (64 - Precision));
  const std::uint64_t rest = hash << Precision;  // next bits at the top
  const auto zeros = static_cast<unsigned>(std::countl_zero(rest));
  const unsigned value = zeros >= hll_q ? hll_q + 1 : zeros + 1;
  return {index, static_cast<std::uint8_t>(value)};
}

/// Register `i` of a packed array (two 4-bit registers a byte, low nibble first).
[[nodiscard]] inline std::uint8_t hll_get(const std::uint8_t* packed, std::size_t i) noexcept {
  const std::uint8_t b = packed[i / 2];
  return static_cast<std::uint8_t>((i & 1) != 0 ? b >> 4 : b & 0x0f);
}

inline void hll_raise(std::uint8_t* packed, std::size_t i, std::uint8_t value) noexcept {
  std::uint8_t& b = packed[i / 2];
  if ((i & 1) != 0) {
    if (value > (b >> 4)) b = static_cast<std::uint8_t>((b & 0x0f) | (value << 4));
  } else {
    if (value > (b & 0x0f)) b = static_cast<std::uint8_t>((b & 0xf0) | value);
  }
}

/// out = max(out, in) register by register. Masking each nibble and taking the byte
/// maximum of the masked copies is the nibble maximum (loops the compiler vectorizes).
inline void hll_merge(std::uint8_t* out, const std::uint8_t* in, std::size_t bytes) noexcept {
  for (std::size_t i = 0; i < bytes; ++i) {
    const auto lo = std::max<std::uint8_t>(out[i] & 0x0f, in[i] & 0x0f);
    const auto hi = std::max<std::uint8_t>(out[i] & 0xf0, in[i] & 0xf0);
    out[i] = static_cast<std::uint8_t>(lo | hi);
  }
}

// Ertl's sigma(x) = x + sum_{k>=1} x^(2^k) 2^(k-1), for x in [0, 1).
[[nodiscard]] inline double hll_sigma(double x) noexcept {
  if (x >= 1.0) return std::numeric_limits<double>::infinity();
  double y = 1.0;
  double z = x;
  for (int k = 0; k < 64; ++k) {
    x *= x;
    const double previous = z;
    z += x * y;
    y += y;
    if (z == previous) break;
  }
  return z;
}

// Ertl's tau(x) = (1 - x - sum_{k>=1} (1 - x^(2^-k))^2 2^-k) / 3, for x in [0, 1].
[[nodiscard]] inline double hll_tau(double x) noexcept {
  if (x <= 0.0 || x >= 1.0) return 0.0;
  double y = 1.0;
  double z = 1.0 - x;
  for (int k = 0; k < 64; ++k) {
    x = std::sqrt(x);
    const double previous = z;
    y *= 0.5;
    z -= (1.0 - x) * (1.0 - x) * y;
    if (z == previous) break;
  }
  return z / 3.0;
}

/// Estimates are capped here: with every register saturated Ertl's estimator is infinite.
inline constexpr double hll_max_estimate = 1e18;

/// The cardinality estimate of m = 2^Precision packed registers, in [0, hll_max_estimate].
template <unsigned Precision>
[[nodiscard]] inline double hll_estimate(const std::uint8_t* packed) noexcept {
  constexpr std::size_t m = std::size_t{1} << Precision;
  std::array<std::uint32_t, hll_q + 2> histogram{};
  for (std::size_t i = 0; i < m / 2; ++i) {
    ++histogram[packed[i] & 0x0f];
    ++histogram[packed[i] >> 4];
  }
  const double md = static_cast<double>(m);
  double z = md * hll_tau(1.0 - histogram[hll_q + 1] / md);
  for (unsigned k = hll_q; k >= 1; --k) z = 0.5 * (z + histogram[k]);
  z += md * hll_sigma(histogram[0] / md);
  constexpr double alpha_infinity = 0.72134752044448170368;  // 1 / (2 ln 2)
  if (!(z > 0.0)) return hll_max_estimate;
  return std::min(alpha_infinity * md * md / z, hll_max_estimate);
}

}  // namespace sigma::detail

FLUXCAP_END_NAMESPACE
