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
#pragma once

#include <fluxcap/detail/abi_macros.hpp>

#include <fluxcap/detail/aged_table.hpp>
#include <fluxcap/detail/bloom_math.hpp>
#include <fluxcap/hash.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

namespace detail {
struct state_codec;

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

/// One generation: an exact set of key hashes, or a blocked Bloom filter.
class generation {
 public:
  /// in_table: a cuckoo-mode generation whose keys live in the group's table (count only).
  enum class kind : std::uint8_t { exact = 0, bloom = 1, in_table = 3 };

  generation() = default;
  generation(const generation& other) { *this = other; }
  generation& operator=(const generation& other) {
    if (this == &other) return *this;
    words_ = other.size_ ? detail::allocate_words(other.size_) : nullptr;
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
    key = detail::nonzero_key(key);
    const std::size_t mask = size_ - 1;
    for (std::size_t i = slot_of(key);; i = (i + 1) & mask) {
      const std::uint64_t v = words_[i];
      if (v == key) return true;
      if (v == 0) return false;
    }
  }

  /// The block a bloom generation keeps for `probe` (for prefetching and testing).
  [[nodiscard]] const std::uint64_t* block(const detail::bloom_probe& probe) const noexcept {
    return words_.get() + probe.block * detail::bloom_block_words;
  }

  /// Lookup in a bloom generation.
  [[nodiscard]] bool bloom_contains(const detail::bloom_probe& probe) const noexcept {
    return probe.test(block(probe));
  }

  /// Lookup in any generation.
  [[nodiscard]] bool contains(std::uint64_t key, const memory_geometry& g) const noexcept {
    if (!is_bloom()) return set_contains(key);
    return bloom_contains(detail::bloom_probe(key, g.bloom_blocks, g.bloom_k));
  }

  /// Adds `key`; true when it was not there before (and so counts as a store).
  bool insert(std::uint64_t key, const memory_geometry& g) {
    if (is_bloom()) return bloom_insert(detail::bloom_probe(key, g.bloom_blocks, g.bloom_k));
    if (size_ == 0) reset_set(initial_slots);
    if (set_contains(key)) return false;
    if ((count_ + 1) * 4 > size_ * 3) {  // keep the load factor at most 3/4
      const std::uint64_t grown = std::uint64_t{size_} * 2;
      if (g.mode == memory_mode::bloom &&
          grown > std::uint64_t{g.bloom_blocks} * detail::bloom_block_words) {
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
  friend struct detail::state_codec;
  friend class group_state;
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
    key = detail::nonzero_key(key);
    const std::size_t mask = size_ - 1;
    std::size_t i = slot_of(key);
    while (words_[i] != 0) i = (i + 1) & mask;
    words_[i] = key;
  }

  void reset_set(std::uint32_t slots) {
    words_ = detail::allocate_words(slots);
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
    size_ = g.bloom_blocks * detail::bloom_block_words;
    words_ = detail::allocate_words(size_);
    kind_ = kind::bloom;
    count_ = 0;
    for (std::uint32_t i = 0; i < old_size; ++i)
      if (old[i] != 0) bloom_insert(detail::bloom_probe(old[i], g.bloom_blocks, g.bloom_k));
  }

  bool bloom_insert(const detail::bloom_probe& probe) noexcept {
    const bool fresh = probe.set(words_.get() + probe.block * detail::bloom_block_words);
    count_ += fresh ? 1 : 0;
    return fresh;
  }

  detail::words_ptr words_;
  std::uint32_t size_ = 0;
  std::uint32_t count_ = 0;
  kind kind_ = kind::exact;
};

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
