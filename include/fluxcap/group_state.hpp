// group_state: everything one group (host) remembers, the state type of every fluxcap
// memory policy (memory.hpp describes the design). Copyable, movable, and serialized by
// serialize.hpp; the ring's generations and the Bloom probe are in detail/.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>

#include <fluxcap/detail/aged_table.hpp>
#include <fluxcap/detail/bloom_probe.hpp>
#include <fluxcap/detail/generation.hpp>
#include <fluxcap/hash.hpp>
#include <fluxcap/memory_config.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

FLUXCAP_BEGIN_NAMESPACE

/// A generation of a group_state's ring, as generation_at returns it (its inspection
/// members: type, count, size_words, words).
using detail::generation;

/// Everything one group remembers. Copyable, movable, serializable (serialize.hpp).
class group_state {
 public:
  explicit group_state(const memory_geometry& geometry) : geometry_(geometry) {}
  group_state(const group_state& other)
      : geometry_(other.geometry_),
        gens_(other.gens_),
        table_(other.table_ ? std::make_unique<detail::aged_table>(*other.table_) : nullptr),
        newest_(other.newest_),
        checkpoint_newest_(other.checkpoint_newest_),
        rotations_(other.rotations_),
        changed_(other.changed_) {}
  group_state& operator=(const group_state& other) {
    if (this != &other) {
      group_state copy(other);
      *this = std::move(copy);
    }
    return *this;
  }
  group_state(group_state&&) noexcept = default;
  group_state& operator=(group_state&&) noexcept = default;
  ~group_state() = default;

  /// True if `key` was stored and not yet forgotten (bloom mode: or a false positive).
  [[nodiscard]] bool contains(std::uint64_t key) const noexcept {
    if (table_) return table_->contains(key);
    // Exact generations first (a probe there ends at an empty slot, a branch anyway).
    // Then every Bloom generation at once, without a branch between them: their blocks
    // are independent loads, so a miss, the common answer, waits for about one cache
    // access instead of one per generation, and hits are rare enough not to need an
    // early exit.
    bool any_bloom = false;
    for (const generation& g : gens_) {
      if (g.is_bloom())
        any_bloom = true;
      else if (g.set_contains(key))
        return true;
    }
    if (!any_bloom) return false;
    const detail::bloom_probe probe(key, geometry_.bloom_blocks, geometry_.bloom_k);
    bool found = false;
    for (const generation& g : gens_) found |= g.is_bloom() && g.bloom_contains(probe);
    return found;
  }

  /// Starts loading what a lookup or store of `key` will read (cuckoo mode's table: two
  /// buckets). A hint: the flux capacitor calls it a few keys ahead.
  void prefetch(std::uint64_t key) const noexcept {
    if (table_) table_->prefetch_key(key);
  }

  /// Remembers `key`. A key already in the active generation is not stored again.
  void insert(std::uint64_t key) {
    if (gens_.empty()) {
      gens_.emplace_back();  // the vector grows as generations open: quiet groups stay small
      newest_ = 0;
    } else if (gens_[newest_].count() >= geometry_.generation_capacity) {
      // A re-store is not a store.
      if (table_ ? table_->contains_active(key) : gens_[newest_].contains(key, geometry_)) return;
      rotate();
    }
    changed_ = true;
    if (!table_ && geometry_.mode == memory_mode::cuckoo && needs_table_for(key)) to_table();
    if (table_) {
      if (table_->insert(key)) ++gens_[newest_].count_;
      return;
    }
    gens_[newest_].insert(key, geometry_);
  }

  /// Cuckoo mode: the group's fingerprint table, once its keys moved there (else null).
  [[nodiscard]] const detail::aged_table* table() const noexcept { return table_.get(); }

  /// Whether the state may differ from what it was at its last checkpoint (see
  /// mark_checkpoint). A new state counts as changed: no checkpoint holds it yet.
  [[nodiscard]] bool changed_since_checkpoint() const noexcept { return changed_; }
  /// Whether generation `index` (in storage order, < generation_count()) may differ
  /// from what it held at the last checkpoint. Only the generation active then and the
  /// ones opened since can: sealed generations never change, so a checkpoint of a full
  /// group writes one generation, not all of them.
  [[nodiscard]] bool generation_changed(std::size_t index) const noexcept {
    if (!changed_) return false;
    if (table_ || rotations_ >= gens_.size()) return true;  // a table changes as a whole
    const std::size_t g = geometry_.config.generations;
    return (index + g - checkpoint_newest_) % g <= rotations_;
  }
  /// Records that a checkpoint now holds this state (call it once the checkpoint is
  /// safely written): changes are tracked from here.
  void mark_checkpoint() noexcept {
    changed_ = false;
    rotations_ = 0;
    checkpoint_newest_ = static_cast<std::uint8_t>(newest_);
  }

  [[nodiscard]] const memory_geometry& geometry() const noexcept { return geometry_; }
  /// Keys currently remembered (bloom generations count stores that set a new bit).
  [[nodiscard]] std::uint64_t stored() const noexcept {
    std::uint64_t n = 0;
    for (const auto& g : gens_) n += g.count();
    return n;
  }
  [[nodiscard]] std::size_t generation_count() const noexcept { return gens_.size(); }
  /// Generation `age` (0 = newest).
  [[nodiscard]] const generation& generation_at(std::size_t age) const noexcept {
    return gens_[(newest_ + gens_.size() - age) % gens_.size()];
  }
  /// Bytes this state occupies: the object and everything it owns.
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    std::size_t n = sizeof(*this) + gens_.capacity() * sizeof(generation);
    for (const auto& g : gens_) n += g.heap_bytes();
    if (table_) n += table_->heap_bytes();
    return n;
  }
  /// Forgets everything.
  void clear() noexcept {
    gens_.clear();
    gens_.shrink_to_fit();
    table_.reset();
    newest_ = 0;
    changed_ = true;
    rotations_ = all_changed;
  }

 private:
  friend struct detail::state_codec;

  void rotate() {
    const std::size_t next = (newest_ + 1) % geometry_.config.generations;
    const bool forget_oldest = next != gens_.size();
    if (forget_oldest)
      gens_[next] = generation();  // forget the oldest
    else
      gens_.emplace_back();
    if (table_) {
      gens_[next].kind_ = generation::kind::in_table;
      table_->rotate(forget_oldest);  // clears the oldest generation's slots
    }
    newest_ = static_cast<std::uint32_t>(next);
    if (rotations_ < all_changed) ++rotations_;
  }

  static constexpr std::uint8_t all_changed = 255;  // >= any generation count

  /// Cuckoo mode, exact phase: would storing `key` grow the sets past the table's size?
  [[nodiscard]] bool needs_table_for(std::uint64_t key) const noexcept {
    const generation& active = gens_[newest_];
    const std::uint32_t growth = active.growth_for_new_key();
    if (growth == 0 || active.set_contains(key)) return false;
    std::uint64_t words = growth;
    for (const generation& g : gens_) words += g.size_words();
    const unsigned slot_bits = geometry_.fingerprint_bits + geometry_.age_bits;
    return words * 8 > detail::table_slot_bytes(geometry_.table_buckets, slot_bits) +
                           detail::table_padding_bytes;
  }

  [[nodiscard]] std::unique_ptr<detail::aged_table> make_table(std::uint8_t active) const {
    return std::make_unique<detail::aged_table>(
        detail::table_sizing{geometry_.table_buckets, geometry_.fingerprint_bits,
                             geometry_.age_bits},
        geometry_.config.generations, active);
  }

  /// Moves every generation's keys into a new table, oldest first (a key in several
  /// generations keeps the youngest age). The generations keep their counts.
  void to_table() {
    const std::size_t n = gens_.size();
    auto table = make_table(static_cast<std::uint8_t>(n - 1));
    for (std::size_t age = n; age-- > 0;) {
      const generation& g = generation_at(age);
      const auto value = static_cast<std::uint8_t>(n - 1 - age);
      for (std::uint32_t i = 0; i < g.size_; ++i)
        if (g.words_[i] != 0) table->place(g.words_[i], value);
    }
    for (generation& g : gens_) {
      g.words_.reset();
      g.size_ = 0;
      g.kind_ = generation::kind::in_table;
    }
    table_ = std::move(table);
  }

  memory_geometry geometry_;
  std::vector<generation> gens_;
  std::unique_ptr<detail::aged_table> table_;  ///< cuckoo mode, once the sets outgrew it
  std::uint32_t newest_ = 0;
  // Change tracking since the last checkpoint (fits in the padding: an idle state stays
  // 72 bytes).
  std::uint8_t checkpoint_newest_ = 0;    ///< newest_ at the checkpoint
  std::uint8_t rotations_ = all_changed;  ///< rotations since (saturating)
  bool changed_ = true;                   ///< anything stored or cleared since
};

/// A flux capacitor whose memory keeps group_states, as serialize.hpp and checkpoint.hpp
/// take it: `state_type` is group_state, `memory().geometry()` gives the memory's
/// geometry, `hash()` its hash policy (whose fingerprint, and key when keyed, a saved
/// state holds), and `make_state()` an empty state. Every
/// flux_capacitor<Accessor, exact_memory | bloom_memory | cuckoo_memory, Hash> is one.
template <class C>
concept group_state_capacitor = std::same_as<typename C::state_type, group_state> &&
    hash_policy<typename C::hash_type> && requires(const C& cap) {
  { cap.memory().geometry() } -> std::convertible_to<const memory_geometry&>;
  { cap.hash() } -> std::convertible_to<const typename C::hash_type&>;
  { cap.make_state() } -> std::same_as<group_state>;
};

FLUXCAP_END_NAMESPACE
