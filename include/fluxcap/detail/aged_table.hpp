// The aged fingerprint table of cuckoo mode: one table for all generations of a group.
//
// A key is a fingerprint of f bits (never 0: an all-zero slot is empty) in one of two
// buckets of 4 slots (partial-key cuckoo hashing: the other bucket is computed from a
// bucket and the fingerprint alone, so entries can move without their keys). Each slot
// also holds an age of a bits: the generation that stored it, as a generation number
// mod 2^a >= G. When a generation is forgotten its slots are cleared at once (one pass
// over the table every s stores), so every non-empty slot is live, and a lookup is two
// bucket loads and a word-parallel compare of 8 fingerprints, whatever the number of
// generations.
//
// False positives: a lookup compares its fingerprint with the occupied slots of its
// two buckets, at most 8 * load on average, so fpp <= 8 * max_load / (2^f - 1).
// Slots are bit-packed (w = f + a bits, buckets of 4w bits), so a key costs about
// w / max_load bits.
//
// A store that finds no free slot in its two buckets moves one of their entries to
// its other bucket, or else walks at random (at most max_kicks moves); when that fails,
// the entry goes to a small stash that lookups also read. Nothing is ever dropped: no
// false negative.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>

#include <fluxcap/hash.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <utility>
#include <vector>

FLUXCAP_BEGIN_NAMESPACE
namespace detail {

inline constexpr unsigned table_bucket_slots = 4;
/// The most keys the table holds, over its slots. Partial-key cuckoo hashing with 4-slot
/// buckets fills up to about 97.7% before stores start to fail.
inline constexpr double table_max_load = 0.96;
inline constexpr unsigned table_max_kicks = 500;
/// Bits of a slot at most: a bucket (4 slots) is read with one 16-byte load at any bit
/// offset, so 4 * (f + a) + 7 <= 128.
inline constexpr unsigned table_max_slot_bits = 30;
/// Bytes after the slots, so that the last bucket's 16-byte load stays inside.
inline constexpr std::size_t table_padding_bytes = 16;

struct table_sizing {
  std::uint32_t buckets = 0;
  std::uint8_t fingerprint_bits = 0;
  std::uint8_t age_bits = 0;
};

/// Age bits for G generations: the smallest a with 2^a >= G.
[[nodiscard]] constexpr unsigned table_age_bits(unsigned generations) noexcept {
  return static_cast<unsigned>(std::bit_width(generations - 1));
}

/// Fingerprint bits for a lookup false-positive bound `fpp` at the maximum load.
[[nodiscard]] inline unsigned table_fingerprint_bits(double fpp) noexcept {
  const double needed = table_bucket_slots * 2 * table_max_load / fpp + 1;
  return std::max(1U, static_cast<unsigned>(std::ceil(std::log2(needed))));
}

/// Bound on a lookup's false-positive probability with `f`-bit fingerprints.
[[nodiscard]] inline double table_fpp_bound(unsigned f) noexcept {
  return table_bucket_slots * 2 * table_max_load / (std::ldexp(1.0, static_cast<int>(f)) - 1);
}

/// Buckets for `keys` keys at most (the table is never fuller than table_max_load).
[[nodiscard]] inline std::uint64_t table_buckets_for(std::uint64_t keys) noexcept {
  return std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(
             std::ceil(static_cast<double>(keys) / (table_bucket_slots * table_max_load))));
}

/// Bytes of a table's slots (without the padding the last bucket's load reads).
[[nodiscard]] constexpr std::uint64_t table_slot_bytes(std::uint64_t buckets,
                                                       unsigned slot_bits) noexcept {
  return (buckets * table_bucket_slots * slot_bits + 7) / 8;
}

/// 128 bits as two words, with the few operations the word-parallel tests need.
struct bits128 {
  std::uint64_t lo = 0;
  std::uint64_t hi = 0;
  friend constexpr bits128 operator&(bits128 a, bits128 b) noexcept {
    return {a.lo & b.lo, a.hi & b.hi};
  }
  friend constexpr bits128 operator|(bits128 a, bits128 b) noexcept {
    return {a.lo | b.lo, a.hi | b.hi};
  }
  friend constexpr bits128 operator^(bits128 a, bits128 b) noexcept {
    return {a.lo ^ b.lo, a.hi ^ b.hi};
  }
  friend constexpr bits128 operator~(bits128 a) noexcept { return {~a.lo, ~a.hi}; }
  friend constexpr bits128 operator+(bits128 a, bits128 b) noexcept {
    const std::uint64_t lo = a.lo + b.lo;
    return {lo, a.hi + b.hi + (lo < a.lo ? 1 : 0)};
  }
  [[nodiscard]] constexpr bool any() const noexcept { return (lo | hi) != 0; }
  [[nodiscard]] constexpr bool bit(unsigned i) const noexcept {
    return ((i < 64 ? lo >> i : hi >> (i - 64)) & 1) != 0;
  }
  /// Bits [i, i + n) (n <= 64 - (i % 64) or spanning both words; i + n <= 128).
  [[nodiscard]] constexpr std::uint64_t field(unsigned i, std::uint64_t mask) const noexcept {
    const std::uint64_t x = i >= 64 ? hi >> (i - 64) : (lo >> i) | ((hi << 1) << (63 - i));
    return x & mask;
  }
  static constexpr bits128 one_at(unsigned i) noexcept {
    return i < 64 ? bits128{std::uint64_t{1} << i, 0}
                  : bits128{0, std::uint64_t{1} << ((i - 64) & 63)};
  }
};

class aged_table {
 public:
  /// An entry that found no place in the table.
  struct stash_entry {
    std::uint64_t fingerprint = 0;
    std::uint32_t bucket = 0;  ///< where it would live (either of its two buckets)
    std::uint8_t age = 0;
    friend bool operator==(const stash_entry&, const stash_entry&) = default;
  };

  /// An empty table; `active` is the age value of the active generation.
  aged_table(const table_sizing& sizing, unsigned generations, std::uint8_t active)
      : buckets_(sizing.buckets),
        fingerprint_bits_(sizing.fingerprint_bits),
        age_bits_(sizing.age_bits),
        generations_(static_cast<std::uint8_t>(generations)),
        active_(active) {
    slot_bits_ = static_cast<std::uint8_t>(fingerprint_bits_ + age_bits_);
    bucket_bits_ = std::uint64_t{slot_bits_} * table_bucket_slots;
    fingerprint_mask_ = (std::uint64_t{1} << fingerprint_bits_) - 1;
    age_mask_ = (1U << age_bits_) - 1;
    slot_mask_ = (std::uint64_t{1} << slot_bits_) - 1;
    for (unsigned j = 0; j < table_bucket_slots; ++j) {
      const unsigned at = j * slot_bits_;
      for (unsigned i = 0; i < fingerprint_bits_; ++i)
        fp_fields_ = fp_fields_ | bits128::one_at(at + i);
      for (unsigned i = 0; i < age_bits_; ++i)
        age_fields_ = age_fields_ | bits128::one_at(at + fingerprint_bits_ + i);
      fp_units_ = fp_units_ | bits128::one_at(at);
      age_units_ = age_units_ | bits128::one_at(at + fingerprint_bits_);
      fp_highs_ = fp_highs_ | bits128::one_at(at + fingerprint_bits_ - 1);
      age_highs_ = age_highs_ | bits128::one_at(at + slot_bits_ - 1);
    }
    fp_lows_ = fp_fields_ & ~fp_highs_;
    age_lows_ = age_fields_ & ~age_highs_;
    bytes_ = static_cast<std::size_t>(table_slot_bytes(buckets_, slot_bits_));
    const std::size_t words = (bytes_ + table_padding_bytes + 7) / 8;
    words_.reset(static_cast<std::uint64_t*>(
        ::operator new[](words * sizeof(std::uint64_t), std::align_val_t{64})));
    std::memset(words_.get(), 0, words * sizeof(std::uint64_t));
  }

  aged_table(const aged_table& other)
      : aged_table(other.sizing(), other.generations_, other.active_) {
    std::memcpy(words_.get(), other.words_.get(), bytes_);
    stash_ = other.stash_;
  }
  aged_table& operator=(const aged_table&) = delete;
  aged_table(aged_table&&) = delete;
  aged_table& operator=(aged_table&&) = delete;
  ~aged_table() = default;

  [[nodiscard]] table_sizing sizing() const noexcept {
    return {buckets_, fingerprint_bits_, age_bits_};
  }
  [[nodiscard]] std::uint8_t active_age() const noexcept { return active_; }
  [[nodiscard]] const std::vector<stash_entry>& stash() const noexcept { return stash_; }
  [[nodiscard]] std::size_t slot_bytes() const noexcept { return bytes_; }
  [[nodiscard]] const std::uint8_t* slot_data() const noexcept {
    return reinterpret_cast<const std::uint8_t*>(words_.get());
  }
  [[nodiscard]] std::size_t heap_bytes() const noexcept {
    return sizeof(*this) + (bytes_ + table_padding_bytes + 7) / 8 * 8 +
           stash_.capacity() * sizeof(stash_entry);
  }
  [[nodiscard]] unsigned fingerprint_bits() const noexcept { return fingerprint_bits_; }
  [[nodiscard]] std::uint32_t buckets() const noexcept { return buckets_; }

  /// How many generations ago an age value was active (0 = the active generation).
  [[nodiscard]] unsigned age_distance(std::uint64_t age) const noexcept {
    return static_cast<unsigned>((active_ - age) & age_mask_);
  }

  // Keys arrive as the exact phase's sets hold them: 0 as hk0 (see nonzero_key), so
  // that key 0 is found after the move into the table too. The fingerprint is the top
  // of a multiplicative remix: independent of the bucket (the key's high bits) even for
  // keys whose low bits are not well mixed.
  [[nodiscard]] std::uint64_t fingerprint(std::uint64_t key) const noexcept {
    const std::uint64_t fp = ((key == 0 ? hk0 : key) * hk2) >> (64 - fingerprint_bits_);
    return fp == 0 ? 1 : fp;
  }
  [[nodiscard]] std::uint32_t home_bucket(std::uint64_t key) const noexcept {
    return static_cast<std::uint32_t>(mul_high(key == 0 ? hk0 : key, buckets_));
  }
  /// The other bucket of an entry in bucket `b`: other(other(b)) == b.
  [[nodiscard]] std::uint32_t other_bucket(std::uint32_t b, std::uint64_t fp) const noexcept {
    const auto h = static_cast<std::uint32_t>(mul_high(fp * hk1, buckets_));
    return h >= b ? h - b : h + buckets_ - b;
  }

  /// Starts loading the key's two buckets.
  void prefetch_key(std::uint64_t key) const noexcept {
    const std::uint32_t b1 = home_bucket(key);
    prefetch(b1);
    prefetch(other_bucket(b1, fingerprint(key)));
  }

  /// True if the key is stored (or a fingerprint collides).
  [[nodiscard]] bool contains(std::uint64_t key) const noexcept {
    const std::uint64_t fp = fingerprint(key);
    const std::uint32_t b1 = home_bucket(key);
    const std::uint32_t b2 = other_bucket(b1, fp);
    const bits128 pattern = spread(fp, fp_units_);
    // Both buckets without a branch between them: their cache misses overlap.
    const bool found = (matches(load(b1), pattern) | matches(load(b2), pattern)).any();
    return found || (!stash_.empty() && stash_find(fp, b1, b2) != nullptr);
  }

  /// True if the key is stored in the active generation.
  [[nodiscard]] bool contains_active(std::uint64_t key) const noexcept {
    const std::uint64_t fp = fingerprint(key);
    const std::uint32_t b[2] = {home_bucket(key), other_bucket(home_bucket(key), fp)};
    const bits128 pattern = spread(fp, fp_units_);
    for (const std::uint32_t bucket_index : b) {
      const bits128 v = load(bucket_index);
      const bits128 m = matches(v, pattern);
      for (unsigned j = 0; m.any() && j < table_bucket_slots; ++j)
        if (m.bit(j * slot_bits_ + fingerprint_bits_ - 1) &&
            v.field(j * slot_bits_ + fingerprint_bits_, age_mask_) == active_)
          return true;
    }
    const stash_entry* e = stash_.empty() ? nullptr : stash_find(fp, b[0], b[1]);
    return e != nullptr && e->age == active_;
  }

  /// Stores the key in the active generation. False when it already is there (not a
  /// store). A key found in an older generation moves to the active one.
  bool insert(std::uint64_t key) { return place(key, active_); }

  /// Stores the key with the live age `age`; as insert (a key held by a younger
  /// generation is left there: false).
  bool place(std::uint64_t key, std::uint8_t age) {
    const std::uint64_t fp = fingerprint(key);
    const std::uint32_t b[2] = {home_bucket(key), other_bucket(home_bucket(key), fp)};
    const std::uint64_t entry = fp | (std::uint64_t{age} << fingerprint_bits_);
    const bits128 v[2] = {load(b[0]), load(b[1])};
    const bits128 pattern = spread(fp, fp_units_);
    const bits128 m[2] = {matches(v[0], pattern), matches(v[1], pattern)};
    if ((m[0] | m[1]).any()) {
      // Equal fingerprints in the same two buckets cannot be told apart by any lookup:
      // that slot answers for the key; make it young rather than add another.
      for (unsigned k = 0; k < 2 * table_bucket_slots; ++k) {
        const unsigned j = k % table_bucket_slots;
        if (!m[k / table_bucket_slots].bit(j * slot_bits_ + fingerprint_bits_ - 1)) continue;
        const std::uint64_t held =
            v[k / table_bucket_slots].field(j * slot_bits_ + fingerprint_bits_, age_mask_);
        if (age_distance(held) <= age_distance(age)) return false;
        write_slot(slot_bit(b[k / table_bucket_slots], j), entry);
        return true;
      }
    }
    if (!stash_.empty()) {
      if (stash_entry* e = stash_find(fp, b[0], b[1])) {
        if (age_distance(e->age) <= age_distance(age)) return false;
        e->age = age;
        return true;
      }
    }
    for (unsigned i = 0; i < 2; ++i) {
      const unsigned j = free_in(v[i]);
      if (j != no_slot) {
        write_slot(slot_bit(b[i], j), entry);
        return true;
      }
    }
    if (!move_one_aside(entry, b, v)) kick(entry, b[(key >> 32) & 1], key);
    return true;
  }

  /// The next generation opens. `forget_oldest`: the oldest of the G generations is
  /// dropped, and its slots are cleared now (so every occupied slot stays live).
  void rotate(bool forget_oldest) {
    if (forget_oldest) {
      const auto dying = static_cast<std::uint8_t>((active_ + 1 - generations_) & age_mask_);
      const bits128 pattern = spread(dying, age_units_);
      for (std::uint32_t b = 0; b < buckets_; ++b) {
        const bits128 v = load(b);
        const bits128 m = zero_fields((v ^ pattern) & age_fields_, age_lows_, age_highs_);
        if (!m.any()) continue;
        for (unsigned j = 0; j < table_bucket_slots; ++j)
          if (m.bit(j * slot_bits_ + slot_bits_ - 1)) write_slot(slot_bit(b, j), 0);
      }
      std::erase_if(stash_, [&](const stash_entry& e) { return e.age == dying; });
    }
    active_ = static_cast<std::uint8_t>((active_ + 1) & age_mask_);
  }

  /// Slot j of a bucket: f bits of fingerprint, then a bits of age (all 0: empty).
  [[nodiscard]] std::uint64_t slot(std::uint32_t b, unsigned j) const noexcept {
    return load(b).field(j * slot_bits_, slot_mask_);
  }

  /// Calls f(slot index, slot) for every slot, in storage order (4 a bucket).
  template <class F>
  void for_each_slot(F&& f) const {
    for (std::uint32_t b = 0; b < buckets_; ++b) {
      const bits128 v = load(b);
      for (unsigned j = 0; j < table_bucket_slots; ++j)
        f(std::uint64_t{b} * table_bucket_slots + j, v.field(j * slot_bits_, slot_mask_));
    }
  }

  // For the decoder (serialize.hpp), which validates what it writes here.
  [[nodiscard]] std::uint8_t* mutable_slot_data() noexcept {
    return reinterpret_cast<std::uint8_t*>(words_.get());
  }
  void restore(std::uint8_t active, std::vector<stash_entry> stash) {
    active_ = active;
    stash_ = std::move(stash);
  }

 private:
  static constexpr unsigned no_slot = ~0U;

  [[nodiscard]] std::uint64_t slot_bit(std::uint32_t b, unsigned j) const noexcept {
    return std::uint64_t{b} * bucket_bits_ + std::uint64_t{j} * slot_bits_;
  }
  /// A bucket's 4w bits, from bit 0 up.
  [[nodiscard]] bits128 load(std::uint32_t b) const noexcept {
    const std::uint64_t bit = std::uint64_t{b} * bucket_bits_;
    const char* p = reinterpret_cast<const char*>(words_.get()) + (bit >> 3);
    const unsigned r = bit & 7;
    const std::uint64_t lo = load_le64(p);
    const std::uint64_t hi = load_le64(p + 8);
    return {(lo >> r) | ((hi << 1) << (63 - r)), hi >> r};
  }
  void write_slot(std::uint64_t bit, std::uint64_t value) noexcept {
    char* p = reinterpret_cast<char*>(words_.get()) + (bit >> 3);
    std::uint64_t v = load_le64(p);
    const unsigned shift = bit & 7;  // + w <= 37 bits: within the 8 bytes
    v = (v & ~(slot_mask_ << shift)) | (value << shift);
    if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
    std::memcpy(p, &v, sizeof v);
  }

  void prefetch(std::uint32_t b) const noexcept {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(reinterpret_cast<const char*>(words_.get()) + slot_bit(b, 0) / 8);
#else
    (void)b;
#endif
  }

  /// `value` in each field whose lowest bit is set in `units` (value < 2^w: the
  /// products of the fields do not overlap).
  [[nodiscard]] static bits128 spread(std::uint64_t value, bits128 units) noexcept {
    std::uint64_t carry = 0;
    const std::uint64_t lo = mul128(units.lo, value, carry);
    return {lo, units.hi * value + carry};
  }

  /// The high bit of every field (`low`: the fields' bits but their high bits, `highs`:
  /// their high bits) that is zero in `x` (zero outside the fields), exactly:
  /// (x & low) + low carries into a field's high bit iff its low bits are not all zero,
  /// and never into the next field.
  [[nodiscard]] static bits128 zero_fields(bits128 x, bits128 low, bits128 highs) noexcept {
    return ~(((x & low) + low) | x) & highs;
  }
  /// Slots whose fingerprint is the one spread in `pattern` (high fingerprint bits).
  [[nodiscard]] bits128 matches(bits128 v, bits128 pattern) const noexcept {
    return zero_fields((v ^ pattern) & fp_fields_, fp_lows_, fp_highs_);
  }
  /// The empty slots of a loaded bucket (the high bit of each one's fingerprint).
  [[nodiscard]] bits128 empties(bits128 v) const noexcept {
    return zero_fields(v & fp_fields_, fp_lows_, fp_highs_);
  }
  /// The slot of the first mark (a high fingerprint bit) in `marks` (not all zero).
  [[nodiscard]] unsigned first_marked(bits128 marks) const noexcept {
    const unsigned bit = marks.lo != 0 ? static_cast<unsigned>(std::countr_zero(marks.lo))
                                       : 64 + static_cast<unsigned>(std::countr_zero(marks.hi));
    // Slot j's mark is at j * w + f - 1: compare rather than divide (a division by a
    // runtime w costs more than the rest of a store).
    return static_cast<unsigned>(bit >= unsigned{slot_bits_} + fingerprint_bits_ - 1U) +
           static_cast<unsigned>(bit >= 2U * slot_bits_ + fingerprint_bits_ - 1) +
           static_cast<unsigned>(bit >= 3U * slot_bits_ + fingerprint_bits_ - 1);
  }
  /// The first empty slot of a loaded bucket, or no_slot.
  [[nodiscard]] unsigned free_in(bits128 v) const noexcept {
    const bits128 empty = empties(v);
    return empty.any() ? first_marked(empty) : no_slot;
  }

  [[nodiscard]] const stash_entry* stash_find(std::uint64_t fp, std::uint32_t b1,
                                              std::uint32_t b2) const noexcept {
    for (const stash_entry& e : stash_)
      if (e.fingerprint == fp && (e.bucket == b1 || e.bucket == b2)) return &e;
    return nullptr;
  }
  [[nodiscard]] stash_entry* stash_find(std::uint64_t fp, std::uint32_t b1,
                                        std::uint32_t b2) noexcept {
    return const_cast<stash_entry*>(std::as_const(*this).stash_find(fp, b1, b2));
  }

  // Both buckets are full. Search breadth-first, two levels deep, before a random walk
  // of dependent loads and many moves: whether one of their 8 entries has room in its
  // other bucket, then one of the 32 entries of those; each level's loads issued together.
  bool move_one_aside(std::uint64_t entry, const std::uint32_t (&b)[2],
                      const bits128 (&v)[2]) noexcept {
    constexpr unsigned n = 2 * table_bucket_slots;
    std::uint64_t occupant[n];
    std::uint32_t to[n];
    for (unsigned i = 0; i < n; ++i) {
      occupant[i] =
          v[i / table_bucket_slots].field((i % table_bucket_slots) * slot_bits_, slot_mask_);
      to[i] = other_bucket(b[i / table_bucket_slots], occupant[i] & fingerprint_mask_);
      prefetch(to[i]);
    }
    bits128 loaded[n];
    for (unsigned i = 0; i < n; ++i) {
      const std::uint32_t from = b[i / table_bucket_slots];
      loaded[i] = load(to[i]);
      if (to[i] == from) continue;
      const unsigned j = free_in(loaded[i]);
      if (j == no_slot) continue;
      write_slot(slot_bit(to[i], j), occupant[i]);
      write_slot(slot_bit(from, i % table_bucket_slots), entry);
      return true;
    }
    // All 8 other buckets are full: one level deeper, the 32 entries of those (in order,
    // stopping at the first with room: most searches end early).
    for (unsigned parent = 0; parent < n; ++parent) {
      const std::uint32_t from = b[parent / table_bucket_slots];
      const std::uint32_t mid = to[parent];
      if (mid == from) continue;
      for (unsigned j = 0; j < table_bucket_slots; ++j) {
        const std::uint64_t grandchild = loaded[parent].field(j * slot_bits_, slot_mask_);
        const std::uint32_t to2 = other_bucket(mid, grandchild & fingerprint_mask_);
        if (to2 == mid) continue;
        const unsigned free_j = free_in(load(to2));
        if (free_j == no_slot) continue;
        write_slot(slot_bit(to2, free_j), grandchild);
        write_slot(slot_bit(mid, j), occupant[parent]);
        write_slot(slot_bit(from, parent % table_bucket_slots), entry);
        return true;
      }
    }
    return false;
  }

  // Random walk: put the entry in `b`, move a random occupant to its other bucket, and
  // so on. Deterministic (seeded by the key), so a state replays identically.
  void kick(std::uint64_t entry, std::uint32_t b, std::uint64_t seed) {
    std::uint64_t rng = seed | 1;
    for (unsigned n = 0; n < table_max_kicks; ++n) {
      rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
      const auto j = static_cast<unsigned>(rng >> 62);
      const std::uint64_t victim = slot(b, j);
      write_slot(slot_bit(b, j), entry);
      entry = victim;
      b = other_bucket(b, entry & fingerprint_mask_);
      const unsigned free_j = free_in(load(b));
      if (free_j != no_slot) {
        write_slot(slot_bit(b, free_j), entry);
        return;
      }
    }
    stash_.push_back(stash_entry{entry & fingerprint_mask_, b,
                                 static_cast<std::uint8_t>(entry >> fingerprint_bits_)});
  }

  struct aligned_delete {
    void operator()(std::uint64_t* p) const noexcept {
      ::operator delete[](p, std::align_val_t{64});
    }
  };
  std::unique_ptr<std::uint64_t[], aligned_delete> words_;
  std::vector<stash_entry> stash_;
  std::size_t bytes_ = 0;
  std::uint64_t bucket_bits_ = 0;
  std::uint64_t fingerprint_mask_ = 0;
  std::uint64_t slot_mask_ = 0;
  bits128 fp_fields_, age_fields_, fp_units_, age_units_, fp_highs_, age_highs_, fp_lows_,
      age_lows_;
  std::uint32_t buckets_ = 0;
  std::uint32_t age_mask_ = 0;
  std::uint8_t fingerprint_bits_ = 0;
  std::uint8_t age_bits_ = 0;
  std::uint8_t slot_bits_ = 0;
  std::uint8_t generations_ = 0;
  std::uint8_t active_ = 0;
};

}  // namespace detail
FLUXCAP_END_NAMESPACE
