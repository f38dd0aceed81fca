// Group memory: what one group (host) remembers, and the two memory policies.
//
// A group_state is a ring of up to G generations. Stores go to the newest
// (active) generation; once it holds its share s = ceil(capacity / (G-1)) keys,
// the next store opens a new generation, reusing the oldest slot when all G
// exist. The G-1 sealed generations always hold at least `capacity` keys, so a key
// stored within the last `capacity` stores is never forgotten (CCCS's ring of
// capacity/G could forget after 0.9 capacity). Lookups test every generation.
//
// A generation starts as an exact open-addressing set of 64-bit key hashes and,
// in bloom mode, turns into a blocked Bloom filter when the set would outgrow the
// filter. So memory follows what the group stored (an idle group allocates
// nothing), small groups have no false positives at all, and a full generation
// costs the filter's size. Each bloom generation is sized for fpp/G, so a lookup
// across all generations stays within the configured fpp (union bound).
// Exact mode never converts: zero false positives (up to 64-bit key-hash
// collisions, about n^2/2^65 for n keys in a group) at ~10-21 bytes a key.
// Cuckoo mode keeps the same ring and exact phase, but when the sets of all
// generations would outgrow one aged fingerprint table (detail/aged_table.hpp), the
// whole group moves into that table: a lookup then reads two buckets whatever the
// number of generations, at about (f + a) / 0.96 bits a key.
//
// This header holds the API: the memory_policy concept and the three policies. The
// configuration (memory_config, memory_mode, memory_geometry) is in memory_config.hpp,
// the per-group state in group_state.hpp, the generation ring and the Bloom probe in
// detail/.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>

#include <fluxcap/group_state.hpp>
#include <fluxcap/memory_config.hpp>

#include <concepts>
#include <cstdint>

FLUXCAP_BEGIN_NAMESPACE

/// A memory policy: makes the per-group state the flux capacitor reads and writes.
/// `M::state_type` needs `contains(std::uint64_t) const -> bool` and `insert(std::uint64_t)`.
template <class M>
concept memory_policy = std::copy_constructible<M> && requires(const M& m) {
  typename M::state_type;
  { m.make_state() } -> std::same_as<typename M::state_type>;
} && requires(typename M::state_type& s, const typename M::state_type& cs, std::uint64_t key) {
  { cs.contains(key) } -> std::same_as<bool>;
  s.insert(key);
};

namespace detail {
template <memory_mode Mode>
class generational_memory {
 public:
  using state_type = group_state;
  static constexpr memory_mode mode = Mode;

  generational_memory() : generational_memory(memory_config{}) {}
  explicit generational_memory(const memory_config& config)
      : geometry_(memory_geometry::make(config, Mode)) {}

  [[nodiscard]] group_state make_state() const { return group_state(geometry_); }
  [[nodiscard]] const memory_config& config() const noexcept { return geometry_.config; }
  [[nodiscard]] const memory_geometry& geometry() const noexcept { return geometry_; }

 private:
  memory_geometry geometry_;
};
}  // namespace detail

/// Exact memory: hash sets of 64-bit keys, no false positives; same forgetting as bloom.
using exact_memory = detail::generational_memory<memory_mode::exact>;
/// Bloom memory: bounded bytes a group, false positives within `fpp`, never a false
/// negative for a key stored within the last `capacity` stores.
using bloom_memory = detail::generational_memory<memory_mode::bloom>;
/// Cuckoo memory: the guarantees of bloom_memory, with one aged fingerprint table a
/// group instead of one filter a generation: fewer bytes a key and one lookup of two
/// buckets whatever the number of generations; a checkpoint of a changed full group
/// writes the whole table.
using cuckoo_memory = detail::generational_memory<memory_mode::cuckoo>;

FLUXCAP_END_NAMESPACE
