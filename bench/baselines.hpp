// The baselines fluxcap is compared with: the original (CCCS) design, in C++.
//
// `string_key_capacitor<Memory>` does exactly the per-tag work of the semantics
// (semantics.md section 3, same evaluation order, same put conditions, same
// handling of missing columns as fluxcap) but with string keys, as CCCS does:
// the key of a tag is `rule.tag` followed by `.value` for each key column. It is
// a drop-in for flux_capacitor<dense_accessor, ...> in the benchmark loops
// (make_state(), update(state, event)), so both read and write the same events.
//
// Two string memories:
//   - string_set_memory: CCCS's exact test cache, a std::unordered_set<std::string>
//     per group (never forgets).
//   - classic_bloom_memory: CCCS's forgetful bloom (a ring of 10 Guava-style
//     classic bloom filters, each sized for capacity/10 keys at fpp per generation,
//     k independent probes, all generations probed on a lookup). Generations are
//     allocated lazily here (CCCS allocated all 10 up front: 479 KB a group).
//
// Both are written to be fast for what they are (a reused key buffer, a
// multiply-shift reduction instead of Guava's `%`), so the ratios reported
// against them are conservative.
#pragma once

#include <fluxcap/fluxcap.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

namespace fluxcap_bench {

/// A memory for string keys: `state_type` has contains(const std::string&) and
/// insert(const std::string&); `make_state()` makes an empty one.
template <class M>
concept string_memory = requires(const M& m, typename M::state_type& s,
                                 const typename M::state_type& cs, const std::string& key) {
  { m.make_state() } -> std::same_as<typename M::state_type>;
  { cs.contains(key) } -> std::same_as<bool>;
  s.insert(key);
};

/// CCCS's exact cache: every key ever stored, as a string, in a hash set.
struct string_set_memory {
  struct state_type {
    std::unordered_set<std::string> keys;

    [[nodiscard]] bool contains(const std::string& key) const { return keys.count(key) != 0; }
    void insert(const std::string& key) { keys.insert(key); }
  };

  [[nodiscard]] state_type make_state() const { return {}; }
};

/// Parameters of the classic (CCCS/Guava) generational bloom filter.
struct classic_bloom_config {
  std::uint64_t capacity = 200000;  ///< keys a group remembers (all generations)
  double fpp = 1e-4;                ///< false-positive probability of ONE generation
  std::uint32_t generations = 10;
};

/// CCCS's forgetful bloom: a ring of classic bloom filters of n = capacity/G keys
/// each, m = -n ln(p) / ln(2)^2 bits and k = round(m/n ln 2) probes. Keys are
/// hashed once with std::hash<std::string_view> (libstdc++: a 64-bit
/// MurmurHash2-style hash); the k probes are Kirsch-Mitzenmacher double hashing
/// h1 + i*h2 like Guava's MURMUR128_MITZ_64, with h2 a remix of h1. A put goes to
/// the active generation; once it has received n puts the next put opens a new
/// generation, replacing the oldest when there are G. A lookup tests every
/// generation, newest first.
class classic_bloom_memory {
 public:
  struct geometry {
    std::uint64_t keys_per_generation = 0;
    std::uint64_t bits = 0;
    std::uint32_t words = 0;
    std::uint32_t k = 0;
    std::uint32_t generations = 0;
  };

  class state_type {
   public:
    explicit state_type(const geometry* g) : geo_(g) {}
    state_type(const state_type& other) : geo_(other.geo_) { *this = other; }
    state_type& operator=(const state_type& other) {
      if (this == &other) return *this;
      geo_ = other.geo_;
      gens_.clear();
      for (const auto& g : other.gens_) {
        gens_.push_back(std::make_unique<std::uint64_t[]>(geo_->words));
        std::memcpy(gens_.back().get(), g.get(), std::size_t{geo_->words} * 8);
      }
      newest_ = other.newest_;
      active_puts_ = other.active_puts_;
      return *this;
    }
    state_type(state_type&&) noexcept = default;
    state_type& operator=(state_type&&) noexcept = default;
    ~state_type() = default;

    [[nodiscard]] bool contains(const std::string& key) const noexcept {
      const auto [h1, h2] = hashes(key);
      const std::size_t n = gens_.size();
      std::size_t at = newest_;
      for (std::size_t i = 0; i < n; ++i) {
        if (probe(gens_[at].get(), h1, h2)) return true;
        at = at == 0 ? n - 1 : at - 1;
      }
      return false;
    }

    void insert(const std::string& key) {
      if (gens_.empty()) {
        gens_.push_back(std::make_unique<std::uint64_t[]>(geo_->words));  // zeroed
        newest_ = 0;
        active_puts_ = 0;
      } else if (active_puts_ >= geo_->keys_per_generation) {
        rotate();
      }
      const auto [h1, h2] = hashes(key);
      std::uint64_t* words = gens_[newest_].get();
      std::uint64_t combined = h1;
      for (std::uint32_t i = 0; i < geo_->k; ++i, combined += h2) {
        const std::uint64_t bit = reduce(combined);
        words[bit >> 6] |= std::uint64_t{1} << (bit & 63);
      }
      ++active_puts_;
    }

    [[nodiscard]] std::size_t generation_count() const noexcept { return gens_.size(); }
    [[nodiscard]] std::size_t memory_bytes() const noexcept {
      return sizeof(*this) + gens_.capacity() * sizeof(gens_[0]) +
             gens_.size() * std::size_t{geo_->words} * 8;
    }

   private:
    static std::pair<std::uint64_t, std::uint64_t> hashes(std::string_view key) noexcept {
      const std::uint64_t h1 = std::hash<std::string_view>{}(key);
      std::uint64_t h2 = (h1 ^ (h1 >> 31)) * 0xbf58476d1ce4e5b9ULL;
      h2 ^= h2 >> 29;
      return {h1, h2 | 1};
    }
    /// Maps a 64-bit value onto [0, bits) (multiply-shift; Guava uses `%`).
    [[nodiscard]] std::uint64_t reduce(std::uint64_t x) const noexcept {
      return fluxcap::detail::mul_high(x, geo_->bits);
    }
    [[nodiscard]] bool probe(const std::uint64_t* words, std::uint64_t h1,
                             std::uint64_t h2) const noexcept {
      std::uint64_t combined = h1;
      for (std::uint32_t i = 0; i < geo_->k; ++i, combined += h2) {
        const std::uint64_t bit = reduce(combined);
        if (((words[bit >> 6] >> (bit & 63)) & 1U) == 0) return false;
      }
      return true;
    }
    void rotate() {
      const std::size_t next = (newest_ + 1) % geo_->generations;
      if (next == gens_.size())
        gens_.push_back(std::make_unique<std::uint64_t[]>(geo_->words));
      else
        std::memset(gens_[next].get(), 0, std::size_t{geo_->words} * 8);  // forget the oldest
      newest_ = next;
      active_puts_ = 0;
    }

    const geometry* geo_;
    std::vector<std::unique_ptr<std::uint64_t[]>> gens_;
    std::size_t newest_ = 0;
    std::uint64_t active_puts_ = 0;
  };

  explicit classic_bloom_memory(const classic_bloom_config& config = {})
      : geo_(std::make_shared<geometry>(make_geometry(config))) {}

  [[nodiscard]] state_type make_state() const { return state_type(geo_.get()); }
  [[nodiscard]] const geometry& geo() const noexcept { return *geo_; }

  static geometry make_geometry(const classic_bloom_config& config) {
    geometry g;
    g.generations = config.generations;
    g.keys_per_generation = config.capacity / config.generations;
    const double ln2 = std::log(2.0);
    const double n = static_cast<double>(g.keys_per_generation);
    g.bits = static_cast<std::uint64_t>(std::ceil(-n * std::log(config.fpp) / (ln2 * ln2)));
    g.bits = (g.bits + 63) / 64 * 64;  // Guava's BitArray: whole longs
    g.words = static_cast<std::uint32_t>(g.bits / 64);
    g.k = static_cast<std::uint32_t>(
        std::max(1.0, std::round(static_cast<double>(g.bits) / n * ln2)));
    return g;
  }

 private:
  std::shared_ptr<const geometry> geo_;  // states point at it; copies of the memory share it
};

/// The semantics of section 3 over string keys. Mirrors flux_capacitor::update
/// rule by rule and tag by tag, so outputs are comparable event by event.
template <string_memory Memory>
class string_key_capacitor {
 public:
  using state_type = typename Memory::state_type;
  using event_type = fluxcap::dense_event;

  string_key_capacitor(const fluxcap::program& prog, const fluxcap::dense_schema& schema,
                       Memory memory = Memory{})
      : memory_(std::move(memory)) {
    for (const auto& rule : prog.rules) {
      bound_rule br;
      br.first_tag = tags_.size();
      br.tag_count = rule.tags.size();
      br.skip_unless_tagged = rule.skip_unless_tagged;
      for (const auto& tag : rule.tags) {
        bound_tag bt;
        bt.handle = *schema.tag_index(rule.name, tag.name);
        bt.prefix = rule.name + "." + tag.name;
        bt.get = bind_recipe(tag.get, schema);
        bt.put = bind_recipe(tag.put, schema);
        bt.same_keys = tag.get == tag.put;
        bt.condition = tag.condition;
        if (tag.feeds_condition) bt.slot = br.slot_count++;
        tags_.push_back(std::move(bt));
      }
      for (std::size_t i = 0; i < br.tag_count; ++i)
        if (rule.tags[i].condition == fluxcap::condition_kind::other)
          tags_[br.first_tag + i].condition_slot =
              tags_[br.first_tag + rule.tags[i].condition_tag].slot;
      rules_.push_back(br);
    }
    key_.reserve(256);
  }

  [[nodiscard]] state_type make_state() const { return memory_.make_state(); }

  void update(state_type& state, fluxcap::dense_event& event) const {
    for (const auto& rule : rules_) update_rule(rule, state, event);
  }

 private:
  static constexpr std::size_t no_slot = static_cast<std::size_t>(-1);

  struct bound_recipe {
    std::vector<std::size_t> columns;
    fluxcap::key_role role = fluxcap::key_role::relation;
  };
  struct bound_tag {
    std::size_t handle = 0;
    std::string prefix;  // "rule.tag"
    bound_recipe get;
    bound_recipe put;
    bool same_keys = false;
    fluxcap::condition_kind condition = fluxcap::condition_kind::none;
    std::size_t condition_slot = no_slot;
    std::size_t slot = no_slot;
  };
  struct bound_rule {
    std::size_t first_tag = 0;
    std::size_t tag_count = 0;
    std::size_t slot_count = 0;
    bool skip_unless_tagged = false;
  };

  static bound_recipe bind_recipe(const fluxcap::key_recipe& r, const fluxcap::dense_schema& s) {
    bound_recipe b;
    b.role = r.role;
    for (const auto& col : r.columns) b.columns.push_back(*s.column_index(col));
    return b;
  }

  /// Builds the key of `tag` under `recipe` into key_; false when a relation
  /// column is null, missing or empty (no key: nothing recalled or remembered).
  bool key_of(const bound_tag& tag, const bound_recipe& recipe,
              const fluxcap::dense_event& event) const {
    key_.assign(tag.prefix);
    for (const std::size_t col : recipe.columns) {
      const std::optional<std::string_view> v = event.column(col);
      if (recipe.role == fluxcap::key_role::relation && (!v || v->empty())) return false;
      key_ += '.';
      if (v)
        key_.append(*v);
      else
        key_ += '\0';  // a null context is its own context, distinct from ""
    }
    return true;
  }

  bool recall(const bound_tag& tag, const state_type& state,
              const fluxcap::dense_event& event) const {
    return key_of(tag, tag.get, event) && state.contains(key_);
  }

  bool remember(const bound_tag& tag, state_type& state, const fluxcap::dense_event& event) const {
    if (!key_of(tag, tag.put, event)) return false;
    state.insert(key_);
    return true;
  }

  void update_rule(const bound_rule& rule, state_type& state, fluxcap::dense_event& event) const {
    const bound_tag* const tags = tags_.data() + rule.first_tag;
    if (rule.skip_unless_tagged) {
      bool any = false;
      for (std::size_t i = 0; i < rule.tag_count && !any; ++i) any = event.tag(tags[i].handle);
      if (!any) return;
    }
    std::vector<bool>& established = established_;
    established.assign(rule.slot_count, false);
    for (std::size_t i = 0; i < rule.tag_count; ++i) {
      const bound_tag& tag = tags[i];
      const bool input = event.tag(tag.handle);
      bool value = input;
      std::optional<bool> recalled;
      bool stored_same_key = false;
      const bool gated_off =
          tag.condition == fluxcap::condition_kind::other && !established[tag.condition_slot];
      if (gated_off) {
        // condition not established: keep the input, remember and recall nothing
      } else if (tag.condition == fluxcap::condition_kind::self) {
        recalled = recall(tag, state, event);
        value = input || *recalled;
        if (value) stored_same_key = remember(tag, state, event) && tag.same_keys;
      } else if (input) {
        stored_same_key = remember(tag, state, event) && tag.same_keys;
      } else {
        recalled = recall(tag, state, event);
        value = *recalled;
      }
      event.set_tag(tag.handle, value);
      if (tag.slot != no_slot) {
        bool est = stored_same_key || (recalled && *recalled);
        if (!est && !recalled) est = recall(tag, state, event);
        established[tag.slot] = est;
      }
    }
  }

  Memory memory_;
  std::vector<bound_tag> tags_;
  std::vector<bound_rule> rules_;
  mutable std::string key_;                // reused key buffer (one thread)
  mutable std::vector<bool> established_;  // reused per rule
};

}  // namespace fluxcap_bench
