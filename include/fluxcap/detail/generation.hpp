// One generation of a group's ring (see memory.hpp): an exact open-addressing set of
// 64-bit key hashes that, in bloom mode, turns into a blocked Bloom filter when the set
// would outgrow the filter. group_state owns the ring; the state codec reads and writes
// a generation's internals.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>

#include <fluxcap/detail/bloom_math.hpp>
#include <fluxcap/detail/bloom_probe.hpp>
#include <fluxcap/memory_config.hpp>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

FLUXCAP_BEGIN_NAMESPACE

class group_state;

namespace detail {
struct state_codec;

/// One generation: an exact set of key hashes, or a blocked Bloom filter.
class generation {
 public:
  /// in_table: a cuckoo-mode generation whose keys live in the group's table (count only).
  enum class kind : std::uint8_t { exact = 0, bloom = 1, in_table = 3 };

  generation() = default;
  generation(const generation& other) { *this = other; }
  generation& operator=(const generation& other) {
    if (this == &other) return *this;
    words_ = other.size_ ? allocate_words(other.size_) : nullptr;
    if (other.size_) std::memcpy(words_.get(), other.words_.get(), std::size_t{other.size_} * 8);
    size_ = other.size_;
    count_ = other.count_;
    kind_ = other.kind_;
    return *this;
  }
  generation(generation&&) noexcept = default;
  generation& operator=(generation&&) noexcept = default;
  ~generation() = default;

  [[nodiscard]] kind type() const noexcept { return kind_; }
  /// Distinct keys stored (bloom: stores that set at least one new bit).
  [[nodiscard]] std::uint32_t count() const noexcept { return count_; }
  /// Words of storage (exact: slots, a power of two; bloom: 8 a block).
  [[nodiscard]] std::uint32_t size_words() const noexcept { return size_; }
  [[nodiscard]] const std::uint64_t* words() const noexcept { return words_.get(); }

  [[nodiscard]] bool is_bloom() const noexcept { return kind_ == kind::bloom; }

  /// Lookup in an exact generation (false when empty).
  [[nodiscard]] bool set_contains(std::uint64_t key) const noexcept {
    if (size_ == 0) return false;
    key = nonzero_key(key);
    const std::size_t mask = size_ - 1;
    for (std::size_t i = slot_of(key);; i = (i + 1) & mask) {
      const std::uint64_t v = words_[i];
      if (v == key) return true;
      if (v == 0) return false;
    }
  }

  /// The block a bloom generation keeps for `probe` (for prefetching and testing).
  [[nodiscard]] const std::uint64_t* block(const bloom_probe& probe) const noexcept {
    return words_.get() + probe.block * bloom_block_words;
  }

  /// Lookup in a bloom generation.
  [[nodiscard]] bool bloom_contains(const bloom_probe& probe) const noexcept {
    return probe.test(block(probe));
  }

  /// Lookup in any generation.
  [[nodiscard]] bool contains(std::uint64_t key, const memory_geometry& g) const noexcept {
    if (!is_bloom()) return set_contains(key);
    return bloom_contains(bloom_probe(key, g.bloom_blocks, g.bloom_k));
  }

  /// Adds `key`; true when it was not there before (and so counts as a store).
  bool insert(std::uint64_t key, const memory_geometry& g) {
    if (is_bloom()) return bloom_insert(bloom_probe(key, g.bloom_blocks, g.bloom_k));
    if (size_ == 0) reset_set(initial_slots);
    if (set_contains(key)) return false;
    if ((count_ + 1) * 4 > size_ * 3) {  // keep the load factor at most 3/4
      const std::uint64_t grown = std::uint64_t{size_} * 2;
      if (g.mode == memory_mode::bloom &&
          grown > std::uint64_t{g.bloom_blocks} * bloom_block_words) {
        to_bloom(g);
        return insert(key, g);
      }
      rehash(static_cast<std::uint32_t>(grown));
    }
    set_insert_new(key);
    ++count_;
    return true;
  }

  [[nodiscard]] std::size_t heap_bytes() const noexcept { return std::size_t{size_} * 8; }

 private:
  friend struct state_codec;
  friend class fluxcap::group_state;
  static constexpr std::uint32_t initial_slots = 8;

  /// Words a new key would add to this exact generation (0: it fits).
  [[nodiscard]] std::uint32_t growth_for_new_key() const noexcept {
    if (size_ == 0) return initial_slots;
    return (count_ + 1) * 4 > size_ * 3 ? size_ : 0;
  }

  [[nodiscard]] std::size_t slot_of(std::uint64_t key) const noexcept {
    // High bits of an avalanching key hash pick the slot (Fibonacci-free: already mixed).
    return static_cast<std::size_t>(key >> (64 - std::countr_zero(size_)));
  }

  void set_insert_new(std::uint64_t key) noexcept {
    key = nonzero_key(key);
    const std::size_t mask = size_ - 1;
    std::size_t i = slot_of(key);
    while (words_[i] != 0) i = (i + 1) & mask;
    words_[i] = key;
  }

  void reset_set(std::uint32_t slots) {
    words_ = allocate_words(slots);
    size_ = slots;
    count_ = 0;
    kind_ = kind::exact;
  }

  void rehash(std::uint32_t slots) {
    auto old = std::move(words_);
    const std::uint32_t old_size = size_;
    const std::uint32_t keep = count_;
    reset_set(slots);
    for (std::uint32_t i = 0; i < old_size; ++i)
      if (old[i] != 0) set_insert_new(old[i]);
    count_ = keep;
  }

  void to_bloom(const memory_geometry& g) {
    auto old = std::move(words_);
    const std::uint32_t old_size = size_;
    size_ = g.bloom_blocks * bloom_block_words;
    words_ = allocate_words(size_);
    kind_ = kind::bloom;
    count_ = 0;
    for (std::uint32_t i = 0; i < old_size; ++i)
      if (old[i] != 0) bloom_insert(bloom_probe(old[i], g.bloom_blocks, g.bloom_k));
  }

  bool bloom_insert(const bloom_probe& probe) noexcept {
    const bool fresh = probe.set(words_.get() + probe.block * bloom_block_words);
    count_ += fresh ? 1 : 0;
    return fresh;
  }

  words_ptr words_;
  std::uint32_t size_ = 0;
  std::uint32_t count_ = 0;
  kind kind_ = kind::exact;
};

}  // namespace detail

FLUXCAP_END_NAMESPACE
