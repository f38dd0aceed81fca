// A per-thread memo of what one field value makes true: (field, value) -> the leaves of
// that field the value satisfies (literal hits, verified globs, regexes, numbers...).
// Process events repeat their values: the same executables, users, hashes, directories,
// and a parent's command line is its child's ParentCommandLine. On the 410 real Sysmon
// events of the realdata (six recorded attacks) only 40% of the bytes the engine scans
// belong to a value not seen before in the stream; a value seen before costs a hash and a
// comparison instead of a scan and its verifications.
//
// A value is found by exact comparison: each entry records where the value's bytes are
// in a ring of stored bytes (as large as the table, at least 64 KiB), and a lookup
// compares them byte for byte, with the field and the value's kind. So two values never
// share an answer, whatever their hashes. The hash (hash_bytes_lanes, seeded at
// random per cache) only chooses slots and filters comparisons: a hostile stream can at
// most make lookups miss, which costs the scan a new value costs anyway. (It was a 128-bit
// SipHash-1-3 fingerprint trusted without comparison: 5% of a run's time; the comparison
// costs one more cache line per hit.) Bytes overwritten in the ring make their entries
// misses.
//
// The table has 64-byte slots, fixed at construction. A value has two candidate slots,
// from the two halves of its hash (two choices: values that collide in one seldom collide
// in the other); a store takes the value's own entry, else an empty slot, else the one
// written longer ago (8-bit store stamps: ages are taken modulo 255, a heuristic that only
// chooses the victim). A value's entry starts at its slot and, when it makes more than
// leaves_per_slot leaves true (command lines often do: a third of the realdata's make
// more than 10 true), up to max_slots_per_value - 1 continuation slots after it, each
// naming the same stored bytes, so that an entry overwritten in part is a miss, never a
// wrong answer. A value making more than max_leaves leaves true, or longer than
// max_value_bytes(), is not cached; an unlucky slot is simply overwritten. So hostile
// streams of fresh values cost a hash, a copy and a store each, and nothing grows.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>
#include <fluxcap/hash.hpp>
#include <fluxcap/sigma/field_accessor.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

FLUXCAP_BEGIN_NAMESPACE

namespace sigma {

/// The engine's per-thread value memo (engine::make_scratch): its size, and the shortest
/// value worth a fingerprint.
struct value_cache_limits {
  /// Entries (64 bytes each, and as many bytes again for the values' copies: the default
  /// is 2 MiB a thread), rounded up to a power of two; 0 disables the cache.
  std::uint32_t slots = 16384;
  /// Values shorter than this are scanned every time. Default: every non-empty value (a
  /// short scan still runs each structure of the field's matcher: measured, it costs more
  /// than a fingerprint and a probe; bench/README.md, December 2026 (7)).
  std::uint32_t min_bytes = 1;
};

namespace detail {

class value_cache {
 public:
  /// Leaves one slot holds; a value uses at most max_slots_per_value consecutive slots.
  static constexpr std::size_t leaves_per_slot = 9;
  static constexpr std::size_t max_slots_per_value = 5;
  /// The most leaves one cached value may make true (they live in its slots).
  static constexpr std::size_t max_leaves = leaves_per_slot * max_slots_per_value;

  /// A value's hash: where to look, and a filter before the byte comparison.
  using fingerprint = std::uint64_t;

  value_cache() = default;  ///< disabled
  value_cache(const value_cache_limits& limits, const hash_key& key)
      : seed_(key.k0 ^ std::rotl(key.k1, 32)), min_bytes_(limits.min_bytes) {
    if (limits.slots == 0) return;
    entries_.assign(std::bit_ceil(std::size_t{limits.slots}), entry{});
    mask_ = entries_.size() - 1;
    // As many bytes as the table (at least 64 KiB: small tables still take long values).
    bytes_.assign(std::max<std::size_t>(entries_.size() * sizeof(entry), std::size_t{1} << 16),
                  '\0');
    // entry::size is 32 bits: a larger limit (a table over 2^30 slots) is capped.
    max_value_bytes_ = std::min<std::size_t>(bytes_.size() / 16, 0xffffffffU);
  }

  [[nodiscard]] bool enabled() const noexcept { return !entries_.empty(); }
  /// Whether a value of this length is worth caching.
  [[nodiscard]] bool wants(std::string_view text) const noexcept {
    return enabled() && text.size() >= min_bytes_ && text.size() <= max_value_bytes_;
  }

  [[nodiscard]] fingerprint fingerprint_of(std::string_view text) const noexcept {
    return fluxcap::detail::hash_bytes_lanes(text.data(), text.size(), seed_);
  }

  /// The leaves cached for `text` in (field, kind), `fp` its fingerprint_of; `found`
  /// says whether the value was cached (a cached value may make no leaf true). Valid
  /// until the next find or store.
  [[nodiscard]] std::span<const std::uint32_t> find(std::uint32_t field, value_kind kind,
                                                    fingerprint fp, std::string_view text,
                                                    bool& found) noexcept {
    const auto [first, second] = slots_of(field, kind, fp);
    auto leaves = find_at(first, field, kind, fp, text, found);
    if (!found && second != first) leaves = find_at(second, field, kind, fp, text, found);
    if (!found) {
      ++misses_;
      return {};
    }
    ++hits_;
    return leaves;
  }

  /// Remembers `leaves` for `text` in (field, kind); more than max_leaves (or more slots
  /// than the table has), or a value wants() refuses, are not cached. Of the value's two
  /// places: the one holding the value already, else an empty one, else the one written
  /// longer ago.
  void store(std::uint32_t field, value_kind kind, fingerprint fp, std::string_view text,
             std::span<const std::uint32_t> leaves) noexcept {
    const std::size_t slots =
        std::max<std::size_t>(1, (leaves.size() + leaves_per_slot - 1) / leaves_per_slot);
    if (leaves.size() > max_leaves || slots > entries_.size()) {
      ++too_many_;
      return;
    }
    if (!wants(text)) return;
    const auto [first, second] = slots_of(field, kind, fp);
    // Stamps count stores modulo 255 (0 is empty): the larger distance is the older (an
    // entry more than 255 stores old may look young: it only makes a worse victim choice).
    const auto age = [&](std::size_t at) {
      const std::uint8_t st = entries_[at].stamp;
      return st == 0 ? 255 : (int{clock_} - int{st} + 255) % 255;
    };
    // The value's own entry (its bytes since overwritten, or another value with its hash)
    // is replaced in place rather than kept beside a new one.
    std::size_t at = age(second) > age(first) ? second : first;
    if (same_key(entries_[first], 0, field, kind, fp)) {
      at = first;
    } else if (same_key(entries_[second], 0, field, kind, fp)) {
      at = second;
    }
    const std::uint64_t pos = keep_bytes(text);
    clock_ = static_cast<std::uint8_t>(clock_ % 255 + 1);
    for (std::size_t k = 0; k < slots; ++k) {
      entry& e = entries_[(at + k) & mask_];
      e.hash = fp;
      e.pos = pos;
      e.size = static_cast<std::uint32_t>(text.size());
      e.field = field;
      e.kind = kind;
      e.stamp = clock_;
      e.part = static_cast<std::uint8_t>(k);
      e.count = static_cast<std::uint8_t>(leaves.size());
      const std::size_t from = k * leaves_per_slot;
      const std::size_t take = std::min(leaves_per_slot, leaves.size() - from);
      std::copy_n(leaves.begin() + static_cast<std::ptrdiff_t>(from), take, e.leaves.begin());
    }
  }

  [[nodiscard]] std::uint64_t hits() const noexcept { return hits_; }
  [[nodiscard]] std::uint64_t misses() const noexcept { return misses_; }
  /// Values not cached because they made more than max_leaves leaves true.
  [[nodiscard]] std::uint64_t too_many() const noexcept { return too_many_; }
  /// The table and the ring of value bytes.
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    return entries_.capacity() * sizeof(entry) + bytes_.capacity();
  }
  /// The longest value cached (a sixteenth of the ring).
  [[nodiscard]] std::size_t max_value_bytes() const noexcept { return max_value_bytes_; }

 private:
  struct alignas(64) entry {
    std::uint64_t hash = 0;
    std::uint64_t pos = 0;   ///< the value's bytes: ring position (bytes stored before them)
    std::uint32_t size = 0;  ///< the value's length
    std::uint32_t field = 0;
    value_kind kind = value_kind::null;
    std::uint8_t stamp = 0;  ///< 0: empty; else the store count (1..255) when written
    std::uint8_t count = 0;  ///< the value's leaves, in all its slots
    std::uint8_t part = 0;   ///< 0: the value's first slot; k: its k-th continuation
    std::array<std::uint32_t, leaves_per_slot> leaves{};
  };
  static_assert(sizeof(entry) == 64);

  /// The value's two candidate first slots (two choices: two values that share one slot
  /// seldom share the other, so a pair of them does not evict each other on every event
  /// that carries both). The field and kind are mixed in: the same text in two fields (a
  /// child and its parent both `cmd.exe`, User and ParentUser) is two entries.
  [[nodiscard]] std::pair<std::size_t, std::size_t> slots_of(std::uint32_t field, value_kind kind,
                                                             fingerprint fp) const noexcept {
    // An odd multiplier is a bijection modulo any power of two: distinct (field, kind)
    // pairs (numbered below the table size) shift the slot by distinct amounts.
    constexpr auto kinds = static_cast<std::uint64_t>(value_kind::other) + 1;  // other is last
    const std::uint64_t which =
        (std::uint64_t{field} * kinds + static_cast<std::uint64_t>(kind)) * 0x9E3779B97F4A7C15ULL;
    return {static_cast<std::size_t>((fp + which) & mask_),
            static_cast<std::size_t>(((fp >> 32 | fp << 32) + which) & mask_)};
  }

  /// Copies `text` into the ring; returns its position. A value never wraps: when it
  /// does not fit before the ring's end it starts over at the beginning (the bytes
  /// skipped count as written, so the entries they belonged to read as overwritten).
  std::uint64_t keep_bytes(std::string_view text) noexcept {
    const std::size_t ring = bytes_.size();
    const std::size_t offset = static_cast<std::size_t>(head_ & (ring - 1));
    if (offset + text.size() > ring) head_ += ring - offset;
    const std::uint64_t pos = head_;
    if (!text.empty())
      std::memcpy(bytes_.data() + static_cast<std::size_t>(pos & (ring - 1)), text.data(),
                  text.size());
    head_ += text.size();
    return pos;
  }

  /// Whether the entry's bytes are still in the ring and equal `text`.
  [[nodiscard]] bool same_bytes(const entry& e, std::string_view text) const noexcept {
    const std::size_t ring = bytes_.size();
    return e.size == text.size() && head_ - e.pos <= ring &&
           (text.empty() ||
            std::memcmp(bytes_.data() + static_cast<std::size_t>(e.pos & (ring - 1)), text.data(),
                        text.size()) == 0);
  }

  [[nodiscard]] static bool same_key(const entry& e, std::size_t part, std::uint32_t field,
                                     value_kind kind, fingerprint fp) noexcept {
    return e.stamp != 0 && e.part == part && e.hash == fp && e.field == field && e.kind == kind;
  }

  /// The value's leaves if its entry starts at `at` (its continuation slots after it).
  [[nodiscard]] std::span<const std::uint32_t> find_at(std::size_t at, std::uint32_t field,
                                                       value_kind kind, fingerprint fp,
                                                       std::string_view text,
                                                       bool& found) noexcept {
    const entry& e = entries_[at];
    found = same_key(e, 0, field, kind, fp) && same_bytes(e, text);
    if (!found || e.count <= leaves_per_slot) return {e.leaves.data(), found ? e.count : 0U};
    std::size_t n = 0;  // gather its continuation slots: the same stored bytes, part k
    for (std::size_t k = 0; found && n < e.count; ++k) {
      const entry& c = entries_[(at + k) & mask_];
      found = same_key(c, k, field, kind, fp) && c.pos == e.pos;
      const std::size_t take = std::min(leaves_per_slot, std::size_t{e.count} - n);
      std::copy_n(c.leaves.begin(), take, joined_.begin() + static_cast<std::ptrdiff_t>(n));
      n += take;
    }
    return {joined_.data(), found ? e.count : 0U};
  }

  std::uint64_t seed_ = 0;
  std::uint32_t min_bytes_ = 0;
  std::size_t max_value_bytes_ = 0;
  std::vector<entry> entries_;
  std::size_t mask_ = 0;
  std::vector<char> bytes_;  // the ring of the cached values' bytes
  std::uint64_t head_ = 0;   // bytes stored into the ring so far (its write position)
  std::array<std::uint32_t, max_leaves> joined_{};  // a value found in several slots
  std::uint8_t clock_ = 0;                          // stores, modulo 255
  std::uint64_t hits_ = 0, misses_ = 0, too_many_ = 0;
};

}  // namespace detail

}  // namespace sigma

FLUXCAP_END_NAMESPACE
