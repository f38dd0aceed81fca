// Serialized group states (all integers little-endian). Format version 1 holds exact
// and bloom states; version 2 is the same with cuckoo states (mode 2) and their table.
//
//   offset size  field
//   0      8     magic "FLXCSTAT"
//   8      2     format version (1; 2 for cuckoo mode)
//   10     1     mode (0 exact, 1 bloom, 2 cuckoo)
//   11     1     generations G
//   12     8     capacity
//   20     8     fpp (IEEE-754 binary64 bits)
//   28     4     generation capacity s
//   32     4     bloom blocks a generation (cuckoo: table buckets)
//   36     1     bloom k (cuckoo: fingerprint bits f)
//   37     8     hash fingerprint (which hash function built the keys)
//   45     1     generation count n (0..G)
//   46     1     newest generation index (< n, or 0 when n = 0)
//   47     ...   n generations: kind u8 (0 exact, 1 bloom, 3 in the table), count u32,
//                words u32, then words x u64
//   cuckoo only: table flag u8 (0: the keys are in the generations' sets; 1: a table
//                follows): active age u8, stash entries u32, the table's bit-packed
//                slots (ceil(4 * buckets * (f + a) / 8) bytes, a = bit_width(G - 1);
//                slot j of bucket b at bit (4b + j)(f + a): f bits of fingerprint, then
//                a of age, the generation number mod 2^a; all 0: empty), then per stash
//                entry fingerprint u64, bucket u32, age u8
//   end-8  8     checksum: fluxcap's hash of every byte before it
//
// A store file (save_store) wraps such blobs in a container with the hash key; see
// detail::write_groups.
//
// Decoding checks everything (checksum, parameters equal to the expected ones,
// every structural invariant a lookup relies on) and throws decode_error on any
// inconsistency, so a restored state answers exactly as the one that was saved.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>

#include <fluxcap/error.hpp>
#include <fluxcap/hash.hpp>
#include <fluxcap/memory.hpp>
#include <fluxcap/state_store.hpp>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

FLUXCAP_BEGIN_NAMESPACE

inline constexpr std::uint16_t state_format_version = 1;
/// The version of cuckoo-mode state blobs (exact and bloom states stay version 1).
inline constexpr std::uint16_t cuckoo_state_format_version = 2;

namespace detail {

inline constexpr char state_magic[8] = {'F', 'L', 'X', 'C', 'S', 'T', 'A', 'T'};
/// A state delta: the same layout, but a generation unchanged since the checkpoint it
/// applies to is written as kind 2 with count and size 0 (its words stay in the base).
inline constexpr char state_delta_magic[8] = {'F', 'L', 'X', 'C', 'S', 'D', 'L', 'T'};
inline constexpr std::uint8_t kept_generation = 2;

class byte_writer {
 public:
  explicit byte_writer(std::vector<std::uint8_t>& out) : out_(out) {}
  void bytes(const void* p, std::size_t n) {
    const auto* b = static_cast<const std::uint8_t*>(p);
    out_.insert(out_.end(), b, b + n);
  }
  template <class T>
  void le(T v) {
    static_assert(std::is_unsigned_v<T>);
    std::uint8_t buf[sizeof(T)];
    for (std::size_t i = 0; i < sizeof(T); ++i) buf[i] = static_cast<std::uint8_t>(v >> (8 * i));
    bytes(buf, sizeof(T));
  }
  void words(const std::uint64_t* w, std::size_t n) {
    if constexpr (std::endian::native == std::endian::little) {
      bytes(w, n * 8);
    } else {
      for (std::size_t i = 0; i < n; ++i) le(w[i]);
    }
  }

 private:
  std::vector<std::uint8_t>& out_;
};

class byte_reader {
 public:
  explicit byte_reader(std::span<const std::uint8_t> in) : in_(in) {}
  [[nodiscard]] std::size_t offset() const noexcept { return pos_; }
  [[nodiscard]] std::size_t remaining() const noexcept { return in_.size() - pos_; }
  void need(std::size_t n, const char* what) const {
    if (remaining() < n)
      throw decode_error(decode_errc::truncated, pos_,
                         std::string("truncated: ") + what + " needs " + std::to_string(n) +
                             " bytes, " + std::to_string(remaining()) + " left");
  }
  template <class T>
  T le(const char* what) {
    need(sizeof(T), what);
    T v = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(T{in_[pos_ + i]} << (8 * i));
    pos_ += sizeof(T);
    return v;
  }
  void words(std::uint64_t* out, std::size_t n, const char* what) {
    if (n > remaining() / 8) need(n * 8, what);
    if constexpr (std::endian::native == std::endian::little) {
      std::memcpy(out, in_.data() + pos_, n * 8);
      pos_ += n * 8;
    } else {
      for (std::size_t i = 0; i < n; ++i) out[i] = le<std::uint64_t>(what);
    }
  }
  [[nodiscard]] const std::uint8_t* data() const noexcept { return in_.data() + pos_; }
  void skip(std::size_t n) { pos_ += n; }

 private:
  std::span<const std::uint8_t> in_;
  std::size_t pos_ = 0;
};

[[nodiscard]] inline std::uint64_t checksum(const std::uint8_t* p, std::size_t n) noexcept {
  return hash_bytes(reinterpret_cast<const char*>(p), n, 0x666c7578636170ULL);  // "fluxcap"
}

/// Friend of group_state and generation: reads and writes their internals.
struct state_codec {
  /// A decoded state delta, not yet applied: `state` holds the generations the delta
  /// carries and empty ones where the base's are kept (listed in `kept`).
  struct decoded_delta {
    group_state state;
    std::vector<std::uint8_t> kept;
  };

  /// `delta`: write only the generations changed since the state's last checkpoint.
  /// Bytes `encode` appends.
  [[nodiscard]] static std::size_t encoded_size(const group_state& s, bool delta) noexcept {
    std::size_t total = 47 + 8;
    for (std::size_t i = 0; i < s.gens_.size(); ++i)
      total += 9 + (delta && !s.generation_changed(i) ? 0 : std::size_t{s.gens_[i].size_} * 8);
    if (s.geometry_.mode == memory_mode::cuckoo) {
      total += 1;
      if (const auto* t = s.table_.get())
        total += 1 + 4 + t->slot_bytes() + t->stash().size() * stash_entry_bytes;
    }
    return total;
  }

  static constexpr std::size_t stash_entry_bytes = 8 + 4 + 1;

  static void encode(const group_state& s, std::uint64_t fingerprint,
                     std::vector<std::uint8_t>& out, bool delta = false) {
    const std::size_t start = out.size();
    const std::size_t total = encoded_size(s, delta);
    // Geometric growth when a caller appends many states to one buffer.
    if (out.capacity() < start + total) out.reserve(std::max(start + total, 2 * out.capacity()));
    byte_writer w(out);
    const auto& geo = s.geometry_;
    w.bytes(delta ? state_delta_magic : state_magic, sizeof state_magic);
    const bool cuckoo = geo.mode == memory_mode::cuckoo;
    w.le<std::uint16_t>(cuckoo ? cuckoo_state_format_version : state_format_version);
    w.le<std::uint8_t>(static_cast<std::uint8_t>(geo.mode));
    w.le<std::uint8_t>(static_cast<std::uint8_t>(geo.config.generations));
    w.le<std::uint64_t>(geo.config.capacity);
    w.le<std::uint64_t>(std::bit_cast<std::uint64_t>(geo.config.fpp));
    w.le<std::uint32_t>(geo.generation_capacity);
    w.le<std::uint32_t>(cuckoo ? geo.table_buckets : geo.bloom_blocks);
    w.le<std::uint8_t>(cuckoo ? geo.fingerprint_bits : geo.bloom_k);
    w.le<std::uint64_t>(fingerprint);
    w.le<std::uint8_t>(static_cast<std::uint8_t>(s.gens_.size()));
    w.le<std::uint8_t>(static_cast<std::uint8_t>(s.newest_));
    for (std::size_t i = 0; i < s.gens_.size(); ++i) {
      const generation& g = s.gens_[i];
      if (delta && !s.generation_changed(i)) {
        w.le<std::uint8_t>(kept_generation);
        w.le<std::uint32_t>(0);
        w.le<std::uint32_t>(0);
        continue;
      }
      w.le<std::uint8_t>(static_cast<std::uint8_t>(g.kind_));
      w.le<std::uint32_t>(g.count_);
      w.le<std::uint32_t>(g.size_);
      if (g.size_) w.words(g.words_.get(), g.size_);
    }
    if (cuckoo) {
      const detail::aged_table* t = s.table_.get();
      w.le<std::uint8_t>(t != nullptr ? 1 : 0);
      if (t != nullptr) {
        w.le<std::uint8_t>(t->active_age());
        w.le<std::uint32_t>(static_cast<std::uint32_t>(t->stash().size()));
        w.bytes(t->slot_data(), t->slot_bytes());
        for (const auto& e : t->stash()) {
          w.le<std::uint64_t>(e.fingerprint);
          w.le<std::uint32_t>(e.bucket);
          w.le<std::uint8_t>(e.age);
        }
      }
    }
    w.le<std::uint64_t>(checksum(out.data() + start, out.size() - start));
  }

  [[noreturn]] static void bad(decode_errc code, std::size_t at, const std::string& what) {
    throw decode_error(code, at, what);
  }

  static group_state decode(std::span<const std::uint8_t> in, const memory_geometry& expected,
                            std::uint64_t fingerprint) {
    return std::move(decode(in, expected, fingerprint, nullptr).state);
  }

  /// Decodes a full state (`base` null) or a delta taken from `base`.
  static decoded_delta decode(std::span<const std::uint8_t> in, const memory_geometry& expected,
                              std::uint64_t fingerprint, const group_state* base) {
    const char* magic = base != nullptr ? state_delta_magic : state_magic;
    if (in.size() < sizeof state_magic || std::memcmp(in.data(), magic, 8) != 0)
      bad(in.size() < sizeof state_magic ? decode_errc::truncated : decode_errc::bad_magic, 0,
          base != nullptr ? "not a fluxcap group state delta (bad magic)"
                          : "not a fluxcap group state (bad magic)");
    byte_reader r(in);
    r.skip(8);
    const auto version = r.le<std::uint16_t>("version");
    if (version != state_format_version && version != cuckoo_state_format_version)
      bad(decode_errc::unsupported_version, 8,
          "format version " + std::to_string(version) + " is not supported (this build reads " +
              std::to_string(state_format_version) + " and " +
              std::to_string(cuckoo_state_format_version) + ")");
    if (in.size() < 47 + 8) bad(decode_errc::truncated, in.size(), "truncated header");
    const std::size_t body = in.size() - 8;
    std::uint64_t stored_sum = 0;
    for (std::size_t i = 0; i < 8; ++i) stored_sum |= std::uint64_t{in[body + i]} << (8 * i);
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION  // lets fuzzers reach the structural checks
    if (stored_sum != checksum(in.data(), body))
      bad(decode_errc::bad_checksum, body, "checksum mismatch: the state is corrupt or truncated");
#endif
    byte_reader h(in.first(body));
    h.skip(10);

    memory_geometry geo;
    const auto mode = h.le<std::uint8_t>("mode");
    if (mode > 2)
      bad(decode_errc::bad_parameters, 10, "unknown memory mode " + std::to_string(mode));
    if ((mode == 2) != (version == cuckoo_state_format_version))
      bad(decode_errc::bad_parameters, 10,
          "memory mode " + std::to_string(mode) + " in a version " + std::to_string(version) +
              " state (cuckoo states are version 2, others version 1)");
    geo.mode = static_cast<memory_mode>(mode);
    const bool cuckoo = geo.mode == memory_mode::cuckoo;
    geo.config.generations = h.le<std::uint8_t>("generations");
    geo.config.capacity = h.le<std::uint64_t>("capacity");
    geo.config.fpp = std::bit_cast<double>(h.le<std::uint64_t>("fpp"));
    geo.generation_capacity = h.le<std::uint32_t>("generation capacity");
    geo.bloom_blocks = h.le<std::uint32_t>("bloom blocks");
    geo.bloom_k = h.le<std::uint8_t>("bloom k");
    // The memory parameters must be those expected. The filter sizing derived from them
    // (blocks, k) is taken from the blob: a state keeps the sizing it was built with, so
    // states written before a sizing change still load and answer as they did.
    if (geo.mode != expected.mode || geo.config != expected.config ||
        geo.generation_capacity != expected.generation_capacity)
      bad(decode_errc::bad_parameters, 10,
          "the state was built with other parameters (mode " +
              std::string(memory_mode_name(geo.mode)) + ", capacity " +
              std::to_string(geo.config.capacity) + ", fpp " + std::to_string(geo.config.fpp) +
              ", generations " + std::to_string(geo.config.generations) + ") than expected (mode " +
              std::string(memory_mode_name(expected.mode)) + ", capacity " +
              std::to_string(expected.config.capacity) + ", fpp " +
              std::to_string(expected.config.fpp) + ", generations " +
              std::to_string(expected.config.generations) + ")");
    if (cuckoo) {
      // As for filters, the table sizing is the blob's own (validated).
      geo.table_buckets = geo.bloom_blocks;
      geo.fingerprint_bits = geo.bloom_k;
      geo.age_bits = static_cast<std::uint8_t>(table_age_bits(geo.config.generations));
      geo.bloom_blocks = 0;
      geo.bloom_k = 0;
      if (geo.table_buckets < 1 || geo.table_buckets > (std::uint32_t{1} << 31) ||
          geo.fingerprint_bits < 1 || geo.fingerprint_bits + geo.age_bits > table_max_slot_bits)
        bad(decode_errc::bad_parameters, 32,
            "bad table sizing (" + std::to_string(geo.table_buckets) + " buckets, " +
                std::to_string(geo.fingerprint_bits) + "-bit fingerprints)");
      if (base != nullptr && (geo.table_buckets != base->geometry_.table_buckets ||
                              geo.fingerprint_bits != base->geometry_.fingerprint_bits))
        bad(decode_errc::bad_parameters, 32,
            "the delta's table sizing differs from its base state's");
    } else {
      if (geo.bloom_k < 1 || geo.bloom_k > bloom_max_k || geo.bloom_blocks < 1 ||
          geo.bloom_blocks > (std::uint32_t{1} << 26))
        bad(decode_errc::bad_parameters, 32,
            "bad filter sizing (" + std::to_string(geo.bloom_blocks) + " blocks, k " +
                std::to_string(geo.bloom_k) + ")");
      if (base != nullptr && (geo.bloom_blocks != base->geometry_.bloom_blocks ||
                              geo.bloom_k != base->geometry_.bloom_k))
        bad(decode_errc::bad_parameters, 32,
            "the delta's filter sizing differs from its base state's");
    }
    if (h.le<std::uint64_t>("hash fingerprint") != fingerprint)
      bad(decode_errc::bad_parameters, 37, "the state was built with another hash function");
    const auto n = h.le<std::uint8_t>("generation count");
    const auto newest = h.le<std::uint8_t>("newest generation");
    if (n > geo.config.generations || (n == 0 ? newest != 0 : newest >= n) ||
        (n > 0 && n < geo.config.generations && newest != n - 1))
      bad(decode_errc::inconsistent, 45,
          "bad generation ring (count " + std::to_string(n) + ", newest " + std::to_string(newest) +
              ")");

    decoded_delta d{group_state(geo), {}};
    group_state& s = d.state;
    s.gens_.reserve(n);  // as many as it holds: no more than the saved state had
    std::size_t in_table = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t at = h.offset();
      generation g;
      const auto kind = h.le<std::uint8_t>("generation kind");
      g.count_ = h.le<std::uint32_t>("generation count");
      g.size_ = h.le<std::uint32_t>("generation size");
      const std::string which = "generation " + std::to_string(i) + ": ";
      if (kind == kept_generation && base != nullptr) {
        if (i >= base->gens_.size())
          bad(decode_errc::inconsistent, at,
              which + "kept, but the base state has no such generation");
        if (g.count_ != 0 || g.size_ != 0)
          bad(decode_errc::inconsistent, at, which + "a kept generation carries no keys");
        d.kept.push_back(static_cast<std::uint8_t>(i));
        s.gens_.emplace_back();
        continue;
      }
      if (kind > 1 && !(cuckoo && kind == 3))
        bad(decode_errc::inconsistent, at, which + "unknown kind");
      g.kind_ = static_cast<generation::kind>(kind);
      if (g.count_ > geo.generation_capacity)
        bad(decode_errc::inconsistent, at, which + "holds more keys than a generation may");
      if (g.kind_ == generation::kind::in_table) {
        if (g.size_ != 0)
          bad(decode_errc::inconsistent, at, which + "a generation in the table has no words");
        ++in_table;
        s.gens_.push_back(std::move(g));
        continue;
      }
      if (g.size_ > h.remaining() / 8) h.need(std::size_t{g.size_} * 8, "generation words");
      if (g.kind_ == generation::kind::bloom) {
        if (geo.mode != memory_mode::bloom)
          bad(decode_errc::inconsistent, at, which + "bloom generation in an exact state");
        if (g.size_ != geo.bloom_blocks * bloom_block_words)
          bad(decode_errc::inconsistent, at, which + "bloom size does not match the parameters");
      } else if (g.size_ != 0) {
        if (!std::has_single_bit(g.size_) || g.size_ < generation::initial_slots)
          bad(decode_errc::inconsistent, at, which + "set size is not a power of two >= 8");
        if (std::uint64_t{g.count_} * 4 > std::uint64_t{g.size_} * 3)
          bad(decode_errc::inconsistent, at, which + "set is over its load limit");
      } else if (g.count_ != 0) {
        bad(decode_errc::inconsistent, at, which + "keys counted in an empty generation");
      }
      if (g.size_) {
        g.words_ = allocate_words(g.size_);
        h.words(g.words_.get(), g.size_, "generation words");
      }
      if (g.kind_ == generation::kind::exact && g.size_) check_set(g, at, which);
      s.gens_.push_back(std::move(g));
    }
    s.newest_ = newest;
    if (cuckoo) {
      const std::size_t at = h.offset();
      const auto has_table = h.le<std::uint8_t>("table flag");
      if (has_table > 1) bad(decode_errc::inconsistent, at, "bad table flag");
      if (has_table == 1) {
        if (n == 0 || in_table != n)
          bad(decode_errc::inconsistent, at,
              "a state with a table keeps every generation in it (and has one)");
        decode_table(h, s);
      } else if (in_table != 0) {
        bad(decode_errc::inconsistent, at, "generations in a table, but no table");
      } else if (base != nullptr && base->table_ && !d.kept.empty()) {
        bad(decode_errc::inconsistent, at, "a delta keeps generations of a base table");
      }
    }
    if (h.remaining() != 0)
      bad(decode_errc::trailing_bytes, h.offset(),
          std::to_string(h.remaining()) + " unexpected bytes after the last generation");
    // A decoded state counts as changed in full: only the store loaders, which read a
    // checkpoint, know that a checkpoint holds it (they mark it so). A state paged in
    // with load_state keeps every change it had when it was paged out.
    return d;
  }

  /// Reads and checks a cuckoo state's table: every slot and stash entry must belong to
  /// a generation the state holds and that counted it (a generation holds at most as
  /// many entries as its count), empty slots are all zero, and unused bits are zero.
  static void decode_table(byte_reader& h, group_state& s) {
    const memory_geometry& geo = s.geometry_;
    std::size_t at = h.offset();
    const auto active = h.le<std::uint8_t>("table active age");
    const auto stash_size = h.le<std::uint32_t>("table stash size");
    if (active >> geo.age_bits != 0) bad(decode_errc::inconsistent, at, "bad table active age");
    const unsigned slot_bits = geo.fingerprint_bits + geo.age_bits;
    at = h.offset();
    h.need(static_cast<std::size_t>(table_slot_bytes(geo.table_buckets, slot_bits)), "table slots");
    auto table = s.make_table(active);
    std::memcpy(table->mutable_slot_data(), h.data(), table->slot_bytes());
    h.skip(table->slot_bytes());
    const std::uint64_t used_bits =
        std::uint64_t{geo.table_buckets} * table_bucket_slots * slot_bits;
    if (used_bits % 8 != 0 && (table->slot_data()[used_bits / 8] >> (used_bits % 8)) != 0)
      bad(decode_errc::inconsistent, at + used_bits / 8, "table: unused bits are set");
    const std::size_t n = s.gens_.size();
    std::vector<std::uint64_t> held(n, 0);
    const std::uint64_t fp_mask = (std::uint64_t{1} << geo.fingerprint_bits) - 1;
    auto count_entry = [&](std::uint64_t age, std::size_t where, const char* what) {
      const unsigned distance = table->age_distance(age);
      if (distance >= n)
        bad(decode_errc::inconsistent, where,
            std::string(what) + " of a generation the state does not hold");
      ++held[distance];
    };
    // One pass, a bucket load at a time; the error paths compute their offsets.
    const std::uint64_t ages = std::uint64_t{1} << geo.age_bits;
    std::vector<std::uint64_t> by_age(ages, 0);
    std::uint64_t bad_empty = ~std::uint64_t{0};
    table->for_each_slot([&](std::uint64_t index, std::uint64_t slot) {
      if ((slot & fp_mask) == 0) {
        if (slot != 0 && bad_empty == ~std::uint64_t{0}) bad_empty = index;
        return;
      }
      ++by_age[slot >> geo.fingerprint_bits];
    });
    auto offset_of = [&](std::uint64_t index) {
      return at + static_cast<std::size_t>(index * slot_bits / 8);
    };
    if (bad_empty != ~std::uint64_t{0})
      bad(decode_errc::inconsistent, offset_of(bad_empty), "table: an empty slot has an age");
    for (std::uint64_t age = 0; age < ages; ++age) {
      if (by_age[age] == 0) continue;
      const unsigned distance = table->age_distance(age);
      if (distance >= n) {
        std::uint64_t first = 0;  // where: the first slot of that age
        table->for_each_slot([&](std::uint64_t index, std::uint64_t slot) {
          if (first == 0 && slot != 0 && (slot >> geo.fingerprint_bits) == age) first = index + 1;
        });
        bad(decode_errc::inconsistent, offset_of(first - 1),
            "table: a slot of a generation the state does not hold");
      }
      held[distance] += by_age[age];
    }
    at = h.offset();
    if (stash_size > h.remaining() / stash_entry_bytes)
      h.need(std::size_t{stash_size} * stash_entry_bytes, "table stash");
    std::vector<aged_table::stash_entry> stash;
    stash.reserve(stash_size);
    for (std::uint32_t i = 0; i < stash_size; ++i) {
      const std::size_t where = h.offset();
      aged_table::stash_entry e;
      e.fingerprint = h.le<std::uint64_t>("stash fingerprint");
      e.bucket = h.le<std::uint32_t>("stash bucket");
      e.age = h.le<std::uint8_t>("stash age");
      if (e.fingerprint == 0 || e.fingerprint > fp_mask || e.bucket >= geo.table_buckets ||
          e.age >> geo.age_bits != 0)
        bad(decode_errc::inconsistent, where, "table: bad stash entry");
      count_entry(e.age, where, "table: a stash entry");
      stash.push_back(e);
    }
    for (std::size_t distance = 0; distance < n; ++distance)
      if (held[distance] > s.generation_at(distance).count_)
        bad(decode_errc::inconsistent, at,
            "table: generation " + std::to_string(distance) +
                " (0 = newest) holds more entries than it counted stores");
    table->restore(active, std::move(stash));
    s.table_ = std::move(table);
  }

  /// Applies a decoded delta to the state it was decoded against. Cannot fail.
  static void apply(group_state& base, decoded_delta&& d) noexcept {
    for (const std::uint8_t i : d.kept) d.state.gens_[i] = std::move(base.gens_[i]);
    base = std::move(d.state);
  }

  /// Every key must be reachable by linear probing from its home slot, and the
  /// count must match, or lookups would silently miss.
  static void check_set(const generation& g, std::size_t at, const std::string& which) {
    // One pass: start just after an empty slot (there is one: load <= 3/4) and track
    // where the current run of occupied slots began. A key is reachable iff its home
    // slot lies within its run, before it (cyclically).
    const std::size_t n = g.size_;
    const std::size_t mask = n - 1;
    std::size_t empty = 0;
    while (empty < n && g.words_[empty] != 0) ++empty;
    if (empty == n) bad(decode_errc::inconsistent, at, which + "set has no empty slot");
    std::uint32_t used = 0;
    std::size_t run_start = (empty + 1) & mask;
    for (std::size_t step = 1; step <= n; ++step) {
      const std::size_t i = (empty + step) & mask;
      const std::uint64_t key = g.words_[i];
      if (key == 0) {
        run_start = (i + 1) & mask;
        continue;
      }
      ++used;
      const std::size_t home = g.slot_of(key);
      if (((i - home) & mask) > ((i - run_start) & mask))
        bad(decode_errc::inconsistent, at, which + "unreachable key");
    }
    if (used != g.count_) bad(decode_errc::inconsistent, at, which + "key count mismatch");
  }
};

}  // namespace detail

/// Appends the serialized `state` to `out`. `fingerprint` identifies the hash
/// policy (flux_capacitor::save passes it for you).
inline void encode_state(const group_state& state, std::uint64_t fingerprint,
                         std::vector<std::uint8_t>& out) {
  detail::state_codec::encode(state, fingerprint, out);
}

/// Restores a state encoded by encode_state. Throws decode_error unless the blob
/// is intact and was built with `expected` parameters and the same hash function.
[[nodiscard]] inline group_state decode_state(std::span<const std::uint8_t> bytes,
                                              const memory_geometry& expected,
                                              std::uint64_t fingerprint) {
  return detail::state_codec::decode(bytes, expected, fingerprint);
}

/// Serializes `state` for the flux capacitor `cap` (its memory parameters and hash).
template <class Capacitor>
[[nodiscard]] std::vector<std::uint8_t> save_state(const Capacitor& cap, const group_state& state) {
  std::vector<std::uint8_t> out;
  encode_state(state, detail::hash_fingerprint(cap.hash()), out);
  return out;
}

/// Restores a state saved by save_state for a flux capacitor with the same memory
/// parameters and hash (policy and key). Throws decode_error otherwise.
/// The restored state counts as changed since the last checkpoint in full: a store that
/// pages idle groups out with save_state and back in with load_state between
/// checkpoints never loses their changes from the next save_store_delta (which writes
/// such a group whole).
template <class Capacitor>
[[nodiscard]] group_state load_state(const Capacitor& cap, std::span<const std::uint8_t> bytes) {
  return decode_state(bytes, cap.memory().geometry(), detail::hash_fingerprint(cap.hash()));
}

namespace detail {
inline constexpr char store_magic[8] = {'F', 'L', 'X', 'C', 'S', 'T', 'O', 'R'};
inline constexpr char store_delta_magic[8] = {'F', 'L', 'X', 'C', 'S', 'D', 'E', 'L'};
/// Version 1 (fluxcap 0.1): no hash key. Version 2: a flags byte and the hash key.
inline constexpr std::uint16_t store_format_version_unkeyed = 1;
inline constexpr std::uint16_t store_format_version = 2;
inline constexpr std::uint8_t store_flag_keyed = 1;

/// The key a capacitor's hash policy is keyed with; nullopt for an unkeyed policy.
template <class Capacitor>
[[nodiscard]] std::optional<hash_key> capacitor_key(const Capacitor& cap) {
  if constexpr (keyed_hash_policy<typename Capacitor::hash_type>)
    return hash_key(cap.hash().key());
  else
    return std::nullopt;
}

/// What the header of a store file or checkpoint says.
struct store_header {
  std::uint16_t version = 0;
  std::optional<hash_key> key;
  std::size_t groups_at = 0;  ///< offset of the group count
};

/// Reads the header of a store container (not its checksum). Throws decode_error.
/// `checked`: called after the version is known and before the rest is read (read_groups
/// checks the checksum there, so that a damaged byte reads as damage).
template <class Checked>
store_header read_store_header(const char (&magic)[8], const char* what,
                               std::span<const std::uint8_t> bytes, Checked&& checked) {
  if (bytes.size() < 8 || std::memcmp(bytes.data(), magic, 8) != 0)
    throw decode_error(bytes.size() < 8 ? decode_errc::truncated : decode_errc::bad_magic, 0,
                       std::string("not a fluxcap ") + what + " (bad magic)");
  byte_reader r(bytes);
  r.skip(8);
  store_header h;
  h.version = r.le<std::uint16_t>("version");
  if (h.version != store_format_version && h.version != store_format_version_unkeyed)
    throw decode_error(decode_errc::unsupported_version, 8,
                       std::string(what) + " format version " + std::to_string(h.version) +
                           " is not supported (this build reads " +
                           std::to_string(store_format_version_unkeyed) + " and " +
                           std::to_string(store_format_version) + ")");
  checked();
  if (h.version == store_format_version_unkeyed) {
    h.groups_at = r.offset();
    return h;
  }
  const std::size_t flags_at = r.offset();
  const auto flags = r.le<std::uint8_t>("flags");
  if ((flags & ~store_flag_keyed) != 0)
    throw decode_error(decode_errc::bad_parameters, flags_at,
                       "unknown flags " + std::to_string(flags));
  hash_key key;
  key.k0 = r.le<std::uint64_t>("hash key");
  key.k1 = r.le<std::uint64_t>("hash key");
  if ((flags & store_flag_keyed) != 0) h.key = key;
  h.groups_at = r.offset();
  return h;
}

/// The container of save_store and save_store_delta: magic, version u16 (2), flags u8
/// (1: keyed), hash key 2 x u64 (zero when unkeyed), group count u64, per group key
/// length u32, key, blob length u64, blob; a final checksum u64. Groups are written in
/// the order of their keys' bytes, so equal stores give equal bytes whatever their
/// hash maps' orders (and `fluxcap run --threads`' partitions) were.
/// `size(state)`: the bytes of a group's blob, 0 to leave the group out;
/// `encode(state, out)` appends the blob, or returns false to leave the group out.
template <class Store, class Size, class Encode>
std::vector<std::uint8_t> write_groups(const char (&magic)[8], const std::optional<hash_key>& key,
                                       const Store& store, Size&& size, Encode&& encode) {
  using entry = std::pair<std::string_view, const group_state*>;
  std::vector<entry> groups;
  groups.reserve(store.size());
  std::size_t total = 8 + 2 + 1 + 16 + 8 + 8;
  store.for_each([&](std::string_view k, const group_state& state) {
    if (const std::size_t n = size(state)) {
      total += 4 + k.size() + 8 + n;
      groups.emplace_back(k, &state);
    }
  });
  std::sort(groups.begin(), groups.end(),
            [](const entry& a, const entry& b) { return a.first < b.first; });
  std::vector<std::uint8_t> out;
  out.reserve(total);  // one allocation: no copying as the blob grows
  byte_writer w(out);
  w.bytes(magic, sizeof magic);
  w.le<std::uint16_t>(store_format_version);
  w.le<std::uint8_t>(key ? store_flag_keyed : 0);
  w.le<std::uint64_t>(key ? key->k0 : 0);
  w.le<std::uint64_t>(key ? key->k1 : 0);
  const std::size_t count_at = out.size();
  w.le<std::uint64_t>(0);
  std::uint64_t written = 0;
  for (const auto& [k, state] : groups) {
    const std::size_t at = out.size();
    w.le<std::uint32_t>(static_cast<std::uint32_t>(k.size()));
    w.bytes(k.data(), k.size());
    const std::size_t len_at = out.size();
    w.le<std::uint64_t>(0);
    const std::size_t begin = out.size();
    if (!encode(*state, out)) {
      out.resize(at);
      continue;
    }
    const std::uint64_t len = out.size() - begin;
    for (std::size_t i = 0; i < 8; ++i) out[len_at + i] = static_cast<std::uint8_t>(len >> (8 * i));
    ++written;
  }
  for (std::size_t i = 0; i < 8; ++i)
    out[count_at + i] = static_cast<std::uint8_t>(written >> (8 * i));
  w.le<std::uint64_t>(checksum(out.data(), out.size()));
  return out;
}

/// Reads what write_groups wrote (or fluxcap 0.1's version 1, without a key), calling
/// `decode(key, blob)` for each group (which throws decode_error on a bad blob; offsets
/// are made relative to the whole file). `key`: the key of the capacitor that reads
/// it, which must be the one the file was written with.
template <class Decode>
void read_groups(const char (&magic)[8], const char* what, std::span<const std::uint8_t> bytes,
                 const std::optional<hash_key>& key, Decode&& decode) {
  const store_header header = read_store_header(magic, what, bytes, [&] {
    if (bytes.size() < 10 + 8 + 8)
      throw decode_error(decode_errc::truncated, bytes.size(), "truncated");
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    const std::size_t body = bytes.size() - 8;
    byte_reader sum(bytes.subspan(body));
    if (sum.le<std::uint64_t>("checksum") != checksum(bytes.data(), body))
      throw decode_error(
          decode_errc::bad_checksum, body,
          std::string("checksum mismatch: the ") + what + " is corrupt or truncated");
#endif
  });
  const std::size_t body = bytes.size() - 8;
  if (body < header.groups_at + 8)
    throw decode_error(decode_errc::truncated, bytes.size(), "truncated");
  if (header.key != key) {
    if (key && header.version == store_format_version_unkeyed)
      throw decode_error(decode_errc::bad_parameters, 8,
                         std::string("the ") + what +
                             " was written by fluxcap 0.1 with its unkeyed hash (unsafe against "
                             "hostile input); it loads only with fluxcap::unkeyed_hash");
    throw decode_error(decode_errc::bad_parameters, 10,
                       !header.key ? std::string("the ") + what +
                                         " was written with an unkeyed hash, not with this key"
                       : !key ? std::string("the ") + what +
                                    " was written with a keyed hash; read its key with "
                                    "stored_hash_key"
                              : std::string("the ") + what +
                                    " was written with another hash key (build the flux "
                                    "capacitor with the key stored_hash_key reads from it)");
  }
  byte_reader b(bytes.first(body));
  b.skip(header.groups_at);
  const auto groups = b.le<std::uint64_t>("group count");
  for (std::uint64_t i = 0; i < groups; ++i) {
    const auto key_len = b.le<std::uint32_t>("group key length");
    b.need(key_len, "group key");
    const std::string_view group(reinterpret_cast<const char*>(b.data()), key_len);
    b.skip(key_len);
    const auto len = b.le<std::uint64_t>("state length");
    b.need(len, "group state");
    try {
      decode(group, std::span(b.data(), static_cast<std::size_t>(len)));
    } catch (const decode_error& e) {
      throw decode_error(e.code(), b.offset() + e.offset(),
                         "group " + std::to_string(i) + ": " + e.what());
    }
    b.skip(static_cast<std::size_t>(len));
  }
  if (b.remaining() != 0)
    throw decode_error(decode_errc::trailing_bytes, b.offset(),
                       "unexpected bytes after the last group");
}
}  // namespace detail

/// The hash key a state file (save_store) or checkpoint (save_store_delta) was written
/// with, read from its first bytes (at least 27; the checksum is not checked here, load_store
/// checks it): build the flux capacitor that continues it with
/// `default_hash(*key)`. nullopt for a state written with an unkeyed hash (and by
/// fluxcap 0.1). Throws decode_error when `bytes` does not start like a state file.
[[nodiscard]] inline std::optional<hash_key> stored_hash_key(std::span<const std::uint8_t> bytes) {
  const bool delta =
      bytes.size() >= 8 && std::memcmp(bytes.data(), detail::store_delta_magic, 8) == 0;
  return detail::read_store_header(delta ? detail::store_delta_magic : detail::store_magic,
                                   delta ? "state delta" : "state file", bytes, [] {})
      .key;
}

/// Serializes every group of `store`: magic "FLXCSTOR", version u16 (2), flags u8,
/// the capacitor's hash key (when keyed), group count u64, then per group (in key
/// order) key length u32, key bytes, state length u64, state (as encode_state), and a
/// final checksum u64 over everything before it. The bytes hold the hash key: keep
/// them as confidential as the key must be.
template <class Capacitor, class Store>
[[nodiscard]] std::vector<std::uint8_t> save_store(const Capacitor& cap, const Store& store) {
  const std::uint64_t fingerprint = detail::hash_fingerprint(cap.hash());
  return detail::write_groups(
      detail::store_magic, detail::capacitor_key(cap), store,
      [](const group_state& state) { return detail::state_codec::encoded_size(state, false); },
      [&](const group_state& state, std::vector<std::uint8_t>& out) {
        encode_state(state, fingerprint, out);
        return true;
      });
}

/// Restores all groups saved by save_store into `store` (replacing groups with the
/// same keys). All or nothing: on decode_error, `store` is left untouched. The
/// restored states count as checkpointed (see save_store_delta). The capacitor's hash
/// must be keyed with the key the bytes hold (stored_hash_key).
template <class Capacitor, class Store>
void load_store(const Capacitor& cap, std::span<const std::uint8_t> bytes, Store& store) {
  std::vector<std::pair<std::string, group_state>> decoded;
  const auto& geometry = cap.memory().geometry();
  const std::uint64_t fingerprint = detail::hash_fingerprint(cap.hash());
  detail::read_groups(detail::store_magic, "state file", bytes, detail::capacitor_key(cap),
                      [&](std::string_view key, std::span<const std::uint8_t> blob) {
                        decoded.emplace_back(std::string(key),
                                             decode_state(blob, geometry, fingerprint));
                        decoded.back().second.mark_checkpoint();  // the file holds it
                      });
  for (auto& [key, state] : decoded) store.assign(key, std::move(state));
}

/// An incremental checkpoint: serializes only the groups of `store` that changed since
/// their last checkpoint, and of each only the generations that changed (the one that
/// was active and those opened since; sealed generations never change). The layout is
/// save_store's with magic "FLXCSDEL", and per group a state delta: encode_state's
/// layout with magic "FLXCSDLT" and each kept generation written as kind 2, count 0,
/// size 0. Call mark_checkpoint(store) once the bytes are safely written; then
/// load_store of the previous checkpoint followed by apply_store_delta of this one
/// restores the store exactly.
template <class Capacitor, class Store>
[[nodiscard]] std::vector<std::uint8_t> save_store_delta(const Capacitor& cap, const Store& store) {
  const std::uint64_t fingerprint = detail::hash_fingerprint(cap.hash());
  return detail::write_groups(
      detail::store_delta_magic, detail::capacitor_key(cap), store,
      [](const group_state& state) {
        return state.changed_since_checkpoint() ? detail::state_codec::encoded_size(state, true)
                                                : 0;
      },
      [&](const group_state& state, std::vector<std::uint8_t>& out) {
        if (!state.changed_since_checkpoint()) return false;
        detail::state_codec::encode(state, fingerprint, out, true);
        return true;
      });
}

/// Marks every group of `store` as held by a checkpoint (after save_store or
/// save_store_delta was written safely): later deltas carry only later changes.
template <class Store>
void mark_checkpoint(Store& store) {
  store.for_each([](std::string_view, group_state& state) { state.mark_checkpoint(); });
}

/// Applies a checkpoint written by save_store_delta to `store`, which must hold the
/// states of the checkpoint before it (a group the delta names but `store` lacks is
/// new: it may not keep generations). `Store` needs `find(key) -> state_type*` and
/// `assign(key, state)`. All or nothing: on decode_error, `store` is left untouched.
template <class Capacitor, class Store>
void apply_store_delta(const Capacitor& cap, std::span<const std::uint8_t> bytes, Store& store) {
  struct pending {
    std::string key;
    group_state* base;
    detail::state_codec::decoded_delta delta;
  };
  std::vector<pending> decoded;
  std::unordered_set<std::string_view> seen;  // views into `bytes`
  const auto& geometry = cap.memory().geometry();
  const std::uint64_t fingerprint = detail::hash_fingerprint(cap.hash());
  const group_state empty = cap.make_state();
  detail::read_groups(
      detail::store_delta_magic, "state delta", bytes, detail::capacitor_key(cap),
      [&](std::string_view key, std::span<const std::uint8_t> blob) {
        if (!seen.insert(key).second)  // a second entry would keep generations moved away
          throw decode_error(decode_errc::inconsistent, 0, "the group appears twice");
        group_state* base = store.find(key);
        decoded.push_back({std::string(key), base,
                           detail::state_codec::decode(blob, geometry, fingerprint,
                                                       base != nullptr ? base : &empty)});
      });
  for (auto& p : decoded) {
    group_state& applied = p.base != nullptr
                               ? (detail::state_codec::apply(*p.base, std::move(p.delta)), *p.base)
                               : store.assign(p.key, std::move(p.delta.state));
    applied.mark_checkpoint();  // the delta holds it
  }
}

/// The checksum a state file (save_store) or checkpoint (save_store_delta) ends with:
/// fluxcap's hash of every byte before it, as stored in its last 8 bytes. It names the
/// exact bytes, e.g. the snapshot later checkpoints follow. Not verified here (load_store
/// and apply_store_delta verify it). Throws decode_error when `bytes` is too short to
/// end with one.
[[nodiscard]] inline std::uint64_t store_checksum(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < 8) throw decode_error(decode_errc::truncated, bytes.size(), "truncated");
  std::uint64_t sum = 0;  // little-endian, as every integer of the format
  for (std::size_t i = 0; i < 8; ++i) sum |= std::uint64_t{bytes[bytes.size() - 8 + i]} << (8 * i);
  return sum;
}

FLUXCAP_END_NAMESPACE
