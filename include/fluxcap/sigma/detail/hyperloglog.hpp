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
#include <cstring>
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

/// The merge of many register arrays of a size known at compile time: the low and the
/// high nibbles accumulate apart (byte maxima of fixed-size arrays: vector code), and
/// join once at the end (result()).
template <std::size_t Bytes>
class hll_merger {
 public:
  void add(const std::uint8_t* in) noexcept {
    // A local copy first: bytes may alias anything, and the compiler would not vectorize.
    std::array<std::uint8_t, Bytes> copy;
    std::memcpy(copy.data(), in, Bytes);
    for (std::size_t i = 0; i < Bytes; ++i) {
      low_[i] = std::max(low_[i], static_cast<std::uint8_t>(copy[i] & 0x0f));
      high_[i] = std::max(high_[i], static_cast<std::uint8_t>(copy[i] & 0xf0));
    }
  }
  [[nodiscard]] std::array<std::uint8_t, Bytes> result() const noexcept {
    std::array<std::uint8_t, Bytes> out;
    for (std::size_t i = 0; i < Bytes; ++i) out[i] = static_cast<std::uint8_t>(low_[i] | high_[i]);
    return out;
  }

 private:
  std::array<std::uint8_t, Bytes> low_{};
  std::array<std::uint8_t, Bytes> high_{};
};

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
  static_assert(Precision >= 4 && Precision <= 11, "the packed counts below need m <= 2048");
  constexpr std::size_t m = std::size_t{1} << Precision;
  // Ertl's z = m tau(1 - C_15 / m) 2^-q + sum_{k=1..q} C_k 2^-k + m sigma(C_0 / m), with
  // C_v the registers of value v. One table lookup a register gathers all three: bits
  // 0-39 add 2^(q - v) for 1 <= v <= q (the sum times 2^q, exact), bits 40-51 count
  // empty registers and bits 52-63 saturated ones (m <= 4096 fits 12 bits).
  static constexpr std::array<std::uint64_t, 16> weight = [] {
    std::array<std::uint64_t, 16> w{};
    w[0] = std::uint64_t{1} << 40;
    for (unsigned v = 1; v <= hll_q; ++v) w[v] = std::uint64_t{1} << (hll_q - v);
    w[hll_q + 1] = std::uint64_t{1} << 52;
    return w;
  }();
  std::uint64_t packed_sum = 0;
  for (std::size_t i = 0; i < m / 2; ++i)
    packed_sum += weight[packed[i] & 0x0f] + weight[packed[i] >> 4];
  const auto sum_times_2q = static_cast<double>(packed_sum & ((std::uint64_t{1} << 40) - 1));
  const auto empty = static_cast<std::size_t>((packed_sum >> 40) & 0xfff);
  const auto saturated = static_cast<std::size_t>(packed_sum >> 52);
  // m * tau(1 - c / m) and m * sigma(c / m) for every count c of saturated or empty
  // registers, computed once: the series cost more than the rest of a query.
  struct series {
    std::array<double, m + 1> tau;
    std::array<double, m + 1> sigma;
  };
  static const series table = [] {
    series t{};
    const double md = static_cast<double>(m);
    for (std::size_t c = 0; c <= m; ++c) {
      t.tau[c] = md * hll_tau(1.0 - static_cast<double>(c) / md);
      t.sigma[c] = md * hll_sigma(static_cast<double>(c) / md);
    }
    return t;
  }();
  const double md = static_cast<double>(m);
  const double z = std::ldexp(table.tau[saturated] + sum_times_2q, -static_cast<int>(hll_q)) +
                   table.sigma[empty];
  constexpr double alpha_infinity = 0.72134752044448170368;  // 1 / (2 ln 2)
  if (!(z > 0.0)) return hll_max_estimate;
  return std::min(alpha_infinity * md * md / z, hll_max_estimate);
}

}  // namespace sigma::detail

FLUXCAP_END_NAMESPACE
