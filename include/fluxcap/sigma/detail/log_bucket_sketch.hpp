// The quantile sketch of bounded_value_window (bounded_window.hpp): a bounded-size
// log-bucket sketch with relative error, after DDSketch (Masson, Rim, Lee, "DDSketch: a
// fast and fully-mergeable quantile sketch with relative-error guarantees", VLDB 2019)
// with the uniform collapse of UDDSketch (Epicoco, Melle, Cafaro, Pulimeno, 2020).
//
// A value v != 0 falls in the bin of magnitude key ceil(log_gamma |v|) (offset to be
// positive), signed like v; 0 and values below 1e-70 in magnitude have key 0. Bins are
// kept sorted, at most `Bins` of them, with exact counts. When a new key finds the sketch
// full, every bin merges with its neighbour (key k -> ceil(k / 2), level + 1): gamma is
// squared, the relative error alpha = (gamma - 1) / (gamma + 1) about doubles, and the
// counts stay exact. Sketches at different levels merge at the coarser level. A quantile
// is the representative 2 * hi / (gamma + 1) of the bin holding the wanted rank: within
// alpha (relative) of the true value of that rank, for magnitudes in [1e-70, 1e70].
// Fixed size, no allocation.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

FLUXCAP_BEGIN_NAMESPACE

namespace sigma::detail {

/// Level 0: alpha = 1 %, gamma = 1.01 / 0.99.
inline constexpr double log_sketch_alpha0 = 0.01;
inline constexpr double log_sketch_gamma0 = (1.0 + log_sketch_alpha0) / (1.0 - log_sketch_alpha0);
/// Magnitude keys at level 0 are ceil(log_gamma |v|) + offset, in [1, 2 * offset - 1]:
/// |v| in about [1e-70, 1e70] (gamma^8191 = 2.3e71); beyond, keys clamp to the ends.
inline constexpr std::int32_t log_sketch_offset = 8192;
inline constexpr std::int32_t log_sketch_max_magnitude = 2 * log_sketch_offset - 1;
/// At level 13 two magnitudes remain: a sketch of 5 bins (-2, -1, 0, 1, 2) never fills.
inline constexpr std::uint8_t log_sketch_max_level = 13;

/// The magnitude key of a level-0 key at `level`: ceil(m / 2^level), m >= 1.
[[nodiscard]] constexpr std::int32_t collapse_magnitude(std::int32_t m, unsigned level) noexcept {
  return ((m - 1) >> level) + 1;
}

/// A signed key at `level` from a signed key at a lower `from` level.
[[nodiscard]] constexpr std::int32_t collapse_key(std::int32_t key, unsigned from,
                                                  unsigned to) noexcept {
  if (key == 0 || to == from) return key;
  const std::int32_t m = key < 0 ? -key : key;
  const std::int32_t c = ((m - 1) >> (to - from)) + 1;
  return key < 0 ? -c : c;
}

/// The level-0 key of a finite value.
[[nodiscard]] inline std::int32_t log_sketch_key(double v) noexcept {
  const double a = std::fabs(v);
  static const double inv_log_gamma = 1.0 / std::log(log_sketch_gamma0);
  const double l = std::ceil(std::log(a) * inv_log_gamma);  // -inf for 0
  if (!(l > -log_sketch_offset)) return 0;                  // 0 and tiny magnitudes
  const auto m =
      static_cast<std::int32_t>(std::min<double>(l + log_sketch_offset, log_sketch_max_magnitude));
  return v < 0 ? -m : m;
}

/// gamma at `level`: gamma0^(2^level).
[[nodiscard]] inline double log_sketch_gamma(unsigned level) noexcept {
  return std::pow(log_sketch_gamma0, std::ldexp(1.0, static_cast<int>(level)));
}

/// The relative error bound at `level`.
[[nodiscard]] inline double log_sketch_alpha(unsigned level) noexcept {
  const double g = log_sketch_gamma(level);
  return (g - 1.0) / (g + 1.0);
}

/// The representative value of signed key `key` at `level`.
[[nodiscard]] inline double log_sketch_value(std::int32_t key, unsigned level) noexcept {
  if (key == 0) return 0.0;
  const std::int32_t m = key < 0 ? -key : key;
  // The bin's upper edge: gamma0^(m * 2^level - offset).
  const double exponent = std::ldexp(static_cast<double>(m), static_cast<int>(level)) -
                          static_cast<double>(log_sketch_offset);
  const double hi = std::exp(exponent * std::log(log_sketch_gamma0));
  const double r = 2.0 * hi / (log_sketch_gamma(level) + 1.0);
  return key < 0 ? -r : r;
}

/// The largest magnitude key at `level`.
[[nodiscard]] constexpr std::int32_t log_sketch_top(unsigned level) noexcept {
  return collapse_magnitude(log_sketch_max_magnitude, level);
}

template <std::size_t Bins>
class log_bucket_sketch {
  static_assert(Bins >= 5 && Bins <= 255, "Bins must hold the 5 keys of the last level");

 public:
  static constexpr std::size_t capacity = Bins;

  [[nodiscard]] std::uint8_t level() const noexcept { return level_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::int32_t key(std::size_t i) const noexcept { return keys_[i]; }
  [[nodiscard]] std::uint32_t count(std::size_t i) const noexcept { return counts_[i]; }

  void clear() noexcept {
    level_ = 0;
    size_ = 0;
  }

  /// Adds one value by its level-0 key. A full bin count (2^32 - 1) saturates.
  void add_key(std::int32_t key0) noexcept {
    for (;;) {
      const std::int32_t k = collapse_key(key0, 0, level_);
      const auto end = keys_.begin() + size_;
      const auto it = std::lower_bound(keys_.begin(), end, static_cast<std::int16_t>(k));
      const auto pos = static_cast<std::size_t>(it - keys_.begin());
      if (it != end && *it == k) {
        if (counts_[pos] != std::numeric_limits<std::uint32_t>::max()) ++counts_[pos];
        return;
      }
      if (size_ < Bins) {
        for (std::size_t i = size_; i > pos; --i) {
          keys_[i] = keys_[i - 1];
          counts_[i] = counts_[i - 1];
        }
        keys_[pos] = static_cast<std::int16_t>(k);
        counts_[pos] = 1;
        ++size_;
        return;
      }
      collapse();
    }
  }

  /// Events whose key at `level` (>= level()) is <= `key`.
  [[nodiscard]] std::uint64_t count_at_most(std::int32_t key, unsigned level) const noexcept {
    std::uint64_t n = 0;
    for (std::size_t i = 0; i < size_; ++i) {
      if (collapse_key(keys_[i], level_, level) > key) break;  // sorted, and collapse keeps order
      n += counts_[i];
    }
    return n;
  }

  [[nodiscard]] std::uint64_t total() const noexcept {
    std::uint64_t n = 0;
    for (std::size_t i = 0; i < size_; ++i) n += counts_[i];
    return n;
  }

  /// Restores from saved bins: level <= max, keys strictly increasing and valid at the
  /// level, counts >= 1. False (sketch cleared) otherwise.
  [[nodiscard]] bool restore(std::uint8_t level, std::size_t size, const std::int16_t* keys,
                             const std::uint32_t* counts) noexcept {
    clear();
    if (level > log_sketch_max_level || size > Bins) return false;
    const std::int32_t top = log_sketch_top(level);
    for (std::size_t i = 0; i < size; ++i) {
      if (keys[i] < -top || keys[i] > top || counts[i] == 0) return false;
      if (i > 0 && keys[i] <= keys[i - 1]) return false;
      keys_[i] = keys[i];
      counts_[i] = counts[i];
    }
    level_ = level;
    size_ = static_cast<std::uint8_t>(size);
    return true;
  }

 private:
  // Every bin to the next level; equal neighbours (order is kept) merge.
  void collapse() noexcept {
    std::size_t out = 0;
    for (std::size_t i = 0; i < size_; ++i) {
      const auto k = static_cast<std::int16_t>(collapse_key(keys_[i], level_, level_ + 1u));
      if (out > 0 && keys_[out - 1] == k) {
        const std::uint64_t sum = std::uint64_t{counts_[out - 1]} + counts_[i];
        counts_[out - 1] = static_cast<std::uint32_t>(
            std::min<std::uint64_t>(sum, std::numeric_limits<std::uint32_t>::max()));
      } else {
        keys_[out] = k;
        counts_[out] = counts_[i];
        ++out;
      }
    }
    size_ = static_cast<std::uint8_t>(out);
    ++level_;
  }

  std::array<std::int16_t, Bins> keys_{};
  std::array<std::uint32_t, Bins> counts_{};
  std::uint8_t level_ = 0;
  std::uint8_t size_ = 0;
};

}  // namespace sigma::detail

FLUXCAP_END_NAMESPACE
