// The state codec (serialize.hpp has the format): byte_writer and byte_reader
// (little-endian), the checksum, and state_codec, the friend of group_state and
// generation that writes and reads (and checks) their internals.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>

#include <fluxcap/detail/aged_table.hpp>
#include <fluxcap/detail/bloom_math.hpp>
#include <fluxcap/detail/generation.hpp>
#include <fluxcap/error.hpp>
#include <fluxcap/group_state.hpp>
#include <fluxcap/hash.hpp>
#include <fluxcap/memory_config.hpp>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

FLUXCAP_BEGIN_NAMESPACE

namespace detail {

/// Format versions (re-exported by serialize.hpp as fluxcap::state_format_version and
/// fluxcap::cuckoo_state_format_version).
inline constexpr std::uint16_t state_format_version = 1;
/// The version of cuckoo-mode state blobs (exact and bloom states stay version 1).
inline constexpr std::uint16_t cuckoo_state_format_version = 2;

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

FLUXCAP_END_NAMESPACE
