// Memory configuration: the parameters every group of a flux capacitor shares
// (memory_config), the memory modes, and the geometry derived from them, which each
// group state carries. The design of the memory itself is described in memory.hpp.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>

#include <fluxcap/detail/aged_table.hpp>
#include <fluxcap/detail/bloom_math.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>

FLUXCAP_BEGIN_NAMESPACE

/// Memory parameters, the same for every group of a flux capacitor.
struct memory_config {
  /// Stores a group remembers for sure before the oldest may be forgotten.
  std::uint64_t capacity = 200000;
  /// Bound on the false-positive probability of one lookup, all generations together.
  double fpp = 1e-4;
  /// Number of generations (forgetting granularity is capacity / (generations - 1)).
  std::uint32_t generations = 10;

  friend bool operator==(const memory_config&, const memory_config&) = default;
};

enum class memory_mode : std::uint8_t { exact = 0, bloom = 1, cuckoo = 2 };

/// "exact", "bloom" or "cuckoo".
[[nodiscard]] constexpr const char* memory_mode_name(memory_mode m) noexcept {
  return m == memory_mode::exact ? "exact" : m == memory_mode::bloom ? "bloom" : "cuckoo";
}

/// Geometry derived from a memory_config; each state carries its own copy.
struct memory_geometry {
  memory_config config;
  std::uint32_t generation_capacity = 0;  ///< s: keys per generation before rotation
  std::uint32_t bloom_blocks = 0;         ///< 512-bit blocks of a bloom generation
  std::uint8_t bloom_k = 0;               ///< bits set per key in its block
  memory_mode mode = memory_mode::exact;
  std::uint8_t fingerprint_bits = 0;  ///< cuckoo: f, bits of a key's fingerprint
  std::uint8_t age_bits = 0;          ///< cuckoo: a, bits of a slot's generation
  std::uint32_t table_buckets = 0;    ///< cuckoo: buckets of 4 slots of the group's table

  /// Validates `config` and derives the geometry. Throws std::invalid_argument.
  static memory_geometry make(const memory_config& config, memory_mode mode) {
    if (config.generations < 2 || config.generations > 255)
      throw std::invalid_argument("fluxcap: generations must be between 2 and 255");
    if (config.capacity < 1 || config.capacity > (std::uint64_t{1} << 32))
      throw std::invalid_argument("fluxcap: capacity must be between 1 and 2^32");
    if (!(config.fpp > 0.0 && config.fpp < 1.0))  // also rejects NaN
      throw std::invalid_argument("fluxcap: fpp must be in (0, 1)");
    if (config.fpp < 1e-12)
      throw std::invalid_argument("fluxcap: fpp below 1e-12 is not supported; use exact mode");
    memory_geometry g;
    g.config = config;
    g.mode = mode;
    const std::uint64_t share =
        (config.capacity + config.generations - 2) / (config.generations - 1);
    g.generation_capacity = static_cast<std::uint32_t>(share);
    if (mode == memory_mode::cuckoo) {
      // The table holds every key of the G generations: at most G * s.
      const unsigned f = detail::table_fingerprint_bits(config.fpp);
      const unsigned a = detail::table_age_bits(config.generations);
      if (f + a > detail::table_max_slot_bits)
        throw std::invalid_argument("fluxcap: fpp too small for cuckoo mode");
      const std::uint64_t buckets = detail::table_buckets_for(share * config.generations);
      if (buckets > (std::uint64_t{1} << 31))
        throw std::invalid_argument("fluxcap: capacity too large for cuckoo mode");
      g.fingerprint_bits = static_cast<std::uint8_t>(f);
      g.age_bits = static_cast<std::uint8_t>(a);
      g.table_buckets = static_cast<std::uint32_t>(buckets);
      return g;
    }
    // The formula averages a block's fill before raising it to the k-th power; real
    // blocks vary, and measured rates came out up to ~5% above it (bench/README.md).
    // A 15% margin keeps the bound (about 2% more memory).
    const auto sizing = detail::size_blocked_bloom(0.85 * config.fpp / config.generations);
    const double bits = std::ceil(static_cast<double>(share) * sizing.bits_per_key);
    g.bloom_blocks = static_cast<std::uint32_t>(
        std::max<double>(1.0, std::ceil(bits / detail::bloom_block_bits)));
    g.bloom_k = static_cast<std::uint8_t>(sizing.k);
    return g;
  }

  friend bool operator==(const memory_geometry&, const memory_geometry&) = default;
};

FLUXCAP_END_NAMESPACE
