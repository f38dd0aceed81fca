// The flux capacitor: a compiled program bound to an event accessor, a memory
// policy and a hash policy. `update(state, event)` rewrites one event's tags from
// its group's memory and remembers what it must (semantics section 3).
//
// Binding resolves every rule, tag and column name to the accessor's handles and
// precomputes per-tag seeds, so update() does no name lookup, builds no string and
// allocates nothing beyond what the memory itself stores. Each key column value is
// hashed at most once per event. update() is const: one flux_capacitor may serve
// many threads, each with its own group states.
//
// Rules with a timespan (semantics section 6) key what they store by the time bucket
// of the storing event (buckets of timespan / timespan_buckets) and recall from the
// buckets that cover the last timespan: a tag stored within the timespan is always
// recalled, and one stored earlier is forgotten late by less than one bucket. The
// memory, its bounds and its state format are the same as without a timespan.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>

#include <fluxcap/accessor.hpp>
#include <fluxcap/event_time.hpp>
#include <fluxcap/hash.hpp>
#include <fluxcap/memory.hpp>
#include <fluxcap/program.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

FLUXCAP_BEGIN_NAMESPACE

/// Buckets a timespan is divided into: how late (at most 1/timespan_buckets of the
/// timespan) a timed tag may be forgotten, against timespan_buckets + 1 lookups a
/// recall (see docs/semantics.md, "Timespan").
inline constexpr std::int64_t timespan_buckets = 4;

template <event_accessor Accessor, memory_policy Memory = bloom_memory,
          hash_policy Hash = default_hash>
class flux_capacitor {
 public:
  using accessor_type = Accessor;
  using memory_type = Memory;
  using hash_type = Hash;
  using event_type = typename Accessor::event_type;
  using state_type = typename Memory::state_type;

  explicit flux_capacitor(program prog, Accessor accessor, Memory memory = Memory{},
                          Hash hash = Hash{})
      : program_(std::move(prog)),
        accessor_(std::move(accessor)),
        memory_(std::move(memory)),
        hash_(std::move(hash)) {
    bind();
  }

  /// A fresh, empty group state (allocates nothing until something is stored).
  [[nodiscard]] state_type make_state() const { return memory_.make_state(); }

  /// Rewrites `event`'s tags from `state` and updates `state` (semantics section 3).
  void update(state_type& state, event_type& event) const {
    column_cache cache;
    for (const auto& rule : rules_) update_rule(rule, state, event, cache);
  }

  [[nodiscard]] const program& compiled() const noexcept { return program_; }
  [[nodiscard]] const Accessor& accessor() const noexcept { return accessor_; }
  [[nodiscard]] const Memory& memory() const noexcept { return memory_; }
  [[nodiscard]] const Hash& hash() const noexcept { return hash_; }

 private:
  using tag_handle = typename Accessor::tag_handle;
  using column_handle = typename Accessor::column_handle;
  static constexpr std::uint32_t no_slot = 0xffffffffU;

  struct bound_recipe {
    std::uint32_t first_column = 0;  // into recipe_columns_
    std::uint32_t column_count = 0;  // 0: constant key, precomputed in `constant_key`
    key_role role = key_role::relation;
    std::uint64_t constant_key = 0;
  };

  struct bound_tag {
    tag_handle handle;
    std::uint64_t seed = 0;  // already whitened for combine_prepared
    bound_recipe get{};
    bound_recipe put{};
    bool same_keys = false;  // get and put recipes are identical: a store is a hit
    condition_kind condition = condition_kind::none;
    std::uint32_t condition_slot = no_slot;  // kind other: established-slot of the condition
    std::uint32_t slot = no_slot;            // feeds a condition: its established-slot
  };

  struct bound_rule {
    std::uint32_t first_tag = 0;
    std::uint32_t tag_count = 0;
    std::uint32_t slot_count = 0;
    bool skip_unless_tagged = false;
    std::int64_t timespan_ms = 0;  // 0: untimed
    std::int64_t bucket_ms = 0;
  };

  /// Per-event memo of column hashes: each key column is read and hashed once, the
  /// timestamp parsed once.
  struct column_cache {
    enum class status : std::uint8_t { unknown, absent, empty, value };
    std::array<status, max_key_columns> state{};
    std::array<std::uint64_t, max_key_columns> prepared{};
    bool time_read = false;
    std::optional<std::int64_t> time_ms;
  };

  /// Where a rule's keys live in time for one event. Untimed: the keys themselves.
  /// Timed: stores go to bucket `newest`, recalls look in `oldest`..`newest`; without
  /// an event time nothing is stored or recalled.
  struct event_clock {
    bool timed = false;
    bool known = false;
    std::int64_t oldest = 0;
    std::int64_t newest = 0;
  };

  static std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
    const std::int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
  }

  static std::uint64_t in_bucket(std::uint64_t key, std::int64_t bucket) noexcept {
    return detail::combine(key, static_cast<std::uint64_t>(bucket));
  }

  event_clock clock_for(const bound_rule& rule, const event_type& event,
                        column_cache& cache) const {
    event_clock c;
    if (rule.timespan_ms == 0) return c;
    c.timed = true;
    if (!cache.time_read) {
      cache.time_read = true;
      if (const auto text = accessor_.get_column(event, column_handles_[timestamp_column_]))
        cache.time_ms = parse_event_time(*text);
    }
    // Times within ~10^13 s of the epoch (event_time.hpp), so t - timespan cannot overflow.
    if (!cache.time_ms) return c;
    c.known = true;
    c.newest = floor_div(*cache.time_ms, rule.bucket_ms);
    c.oldest = floor_div(*cache.time_ms - rule.timespan_ms, rule.bucket_ms);
    return c;
  }

  static bool lookup(const state_type& state, std::uint64_t key, const event_clock& when) {
    if (!when.timed) return state.contains(key);
    if (!when.known) return false;
    for (std::int64_t b = when.newest; b >= when.oldest; --b)
      if (state.contains(in_bucket(key, b))) return true;
    return false;
  }

  /// True when the key was stored (a timed rule stores nothing without an event time).
  static bool store(state_type& state, std::uint64_t key, const event_clock& when) {
    if (!when.timed) {
      state.insert(key);
      return true;
    }
    if (!when.known) return false;
    state.insert(in_bucket(key, when.newest));
    return true;
  }

  void bind() {
    const auto columns = program_.columns();
    column_handles_.reserve(columns.size());
    for (const auto& name : columns) column_handles_.push_back(accessor_.column_handle_for(name));
    if (program_.timestamp_column)
      timestamp_column_ = static_cast<std::uint32_t>(
          std::find(columns.begin(), columns.end(), *program_.timestamp_column) - columns.begin());

    auto bind_recipe = [&](const key_recipe& r, std::uint64_t seed) {
      bound_recipe b;
      b.role = r.role;
      b.first_column = static_cast<std::uint32_t>(recipe_columns_.size());
      b.column_count = static_cast<std::uint32_t>(r.columns.size());
      for (const auto& col : r.columns)
        recipe_columns_.push_back(static_cast<std::uint8_t>(
            std::find(columns.begin(), columns.end(), col) - columns.begin()));
      if (r.columns.empty()) b.constant_key = detail::combine(seed, detail::hk3);
      return b;
    };

    for (const auto& rule : program_.rules) {
      bound_rule br;
      br.first_tag = static_cast<std::uint32_t>(tags_.size());
      br.tag_count = static_cast<std::uint32_t>(rule.tags.size());
      br.skip_unless_tagged = rule.skip_unless_tagged;
      if (rule.timed()) {
        br.timespan_ms = rule.timespan.count();
        br.bucket_ms = std::max<std::int64_t>(1, br.timespan_ms / timespan_buckets);
      }
      for (const auto& tag : rule.tags) {
        const std::uint64_t seed = detail::tag_seed(hash_, rule.name, tag.name);
        bound_tag bt{.handle = accessor_.tag_handle_for(rule.name, tag.name)};
        bt.seed = seed;
        bt.get = bind_recipe(tag.get, seed);
        bt.put = bind_recipe(tag.put, seed);
        bt.same_keys = tag.get == tag.put;
        bt.condition = tag.condition;
        if (tag.feeds_condition) bt.slot = br.slot_count++;
        tags_.push_back(bt);
      }
      for (std::uint32_t i = 0; i < br.tag_count; ++i) {
        const auto& tag = rule.tags[i];
        if (tag.condition == condition_kind::other)
          tags_[br.first_tag + i].condition_slot =
              tags_[br.first_tag + static_cast<std::uint32_t>(tag.condition_tag)].slot;
      }
      rules_.push_back(br);
    }
  }

  /// The key of `tag` under `recipe` for this event; nullopt when a relation
  /// column is null, missing or empty ("no parent" / "no identity").
  std::optional<std::uint64_t> key_of(const bound_tag& tag, const bound_recipe& recipe,
                                      const event_type& event, column_cache& cache) const {
    if (recipe.column_count == 0) return recipe.constant_key;
    std::uint64_t acc = tag.seed;
    for (std::uint32_t i = 0; i < recipe.column_count; ++i) {
      const std::uint8_t col = recipe_columns_[recipe.first_column + i];
      auto& st = cache.state[col];
      if (st == column_cache::status::unknown) {
        const std::optional<std::string_view> v = accessor_.get_column(event, column_handles_[col]);
        if (!v) {
          st = column_cache::status::absent;
          cache.prepared[col] = detail::prepare(detail::null_value_hash);
        } else {
          st = v->empty() ? column_cache::status::empty : column_cache::status::value;
          cache.prepared[col] = detail::prepare(detail::hash_value(hash_, *v));
        }
      }
      if (recipe.role == key_role::relation && st != column_cache::status::value)
        return std::nullopt;
      acc = detail::combine_prepared(acc, cache.prepared[col]);
    }
    return acc;
  }

  /// States that can start loading what a key's lookup or store will read.
  static constexpr bool prefetches = requires(const state_type& s, std::uint64_t k) {
    s.prefetch(k);
  };
  /// Tags planned ahead of the one being updated (their keys computed, their memory
  /// prefetched), so that the cache misses of a rule's independent keys overlap.
  static constexpr std::uint32_t plan_ahead = 8;
  struct planned_key {
    std::uint64_t key = 0;
    bool has = false;
  };

  static constexpr bool recalls_first(condition_kind c) noexcept {
    return c == condition_kind::self || c == condition_kind::exclusive ||
           c == condition_kind::exclusive_self;
  }

  /// The key tag `tag` will use first: a tag true on input stores under its put key, a
  /// false one recalls its get key; ancestor and exclusive tags always recall first (their
  /// input is not read here). Only tags of the rule being updated are planned: a later
  /// rule's input may be an earlier rule's output (an accessor may alias them), so it is
  /// read only once the earlier rules have written.
  planned_key plan(const bound_tag& tag, const state_type& state, const event_type& event,
                   column_cache& cache, const event_clock& when) const {
    const bool stores = !recalls_first(tag.condition) && accessor_.get_tag(event, tag.handle);
    const auto key = key_of(tag, stores ? tag.put : tag.get, event, cache);
    if (key && (!when.timed || when.known))
      state.prefetch(when.timed ? in_bucket(*key, when.newest) : *key);
    return {key.value_or(0), key.has_value()};
  }

  bool recall(const bound_tag& tag, const state_type& state, const event_type& event,
              column_cache& cache, const event_clock& when) const {
    const auto key = key_of(tag, tag.get, event, cache);
    return key && lookup(state, *key, when);
  }

  /// Stores under the put key; true when it did (there is a key, and a time if timed).
  bool remember(const bound_tag& tag, state_type& state, const event_type& event,
                column_cache& cache, const event_clock& when) const {
    const auto key = key_of(tag, tag.put, event, cache);
    return key && store(state, *key, when);
  }

  void update_rule(const bound_rule& rule, state_type& state, event_type& event,
                   column_cache& cache) const {
    const bound_tag* const tags = tags_.data() + rule.first_tag;
    if (rule.skip_unless_tagged) {
      bool any = false;
      for (std::uint32_t i = 0; i < rule.tag_count && !any; ++i)
        any = accessor_.get_tag(event, tags[i].handle);
      if (!any) return;  // temporal skip rule: leave the rule exactly as it came in
    }

    const event_clock when = clock_for(rule, event, cache);
    // Established flags of the tags that gate others (at most max_tags_per_rule).
    std::array<std::uint64_t, max_tags_per_rule / 64> established;
    std::fill_n(established.begin(), (rule.slot_count + 63) / 64, std::uint64_t{0});

    [[maybe_unused]] std::array<planned_key, 2 * plan_ahead> planned;
    if constexpr (prefetches)
      for (std::uint32_t j = 0; j < std::min(plan_ahead, rule.tag_count); ++j)
        planned[j] = plan(tags[j], state, event, cache, when);

    for (std::uint32_t i = 0; i < rule.tag_count; ++i) {
      const bound_tag& tag = tags[i];
      const bool input = accessor_.get_tag(event, tag.handle);
      if constexpr (prefetches)
        if (i + plan_ahead < rule.tag_count)
          planned[(i + plan_ahead) % planned.size()] =
              plan(tags[i + plan_ahead], state, event, cache, when);
      // The key a tag uses first: its get key when it recalls first (exclusive), else its
      // put key when true and its get key when false (planned, and prefetched, a few tags
      // ago when the state prefetches).
      auto first_key = [&]() -> std::optional<std::uint64_t> {
        if constexpr (prefetches) {
          const planned_key& p = planned[i % planned.size()];
          return p.has ? std::optional<std::uint64_t>(p.key) : std::nullopt;
        } else {
          const bool stores = !recalls_first(tag.condition) && input;
          return key_of(tag, stores ? tag.put : tag.get, event, cache);
        }
      };
      bool value = input;
      bool gated_off = false;
      std::optional<bool> recalled;  // result of recall(get key), if done
      bool stored_same_key = false;  // remembered under a key equal to the get key

      if (tag.condition == condition_kind::other)
        gated_off = ((established[tag.condition_slot / 64] >> (tag.condition_slot % 64)) & 1U) == 0;

      if (gated_off) {
        // Condition not established: keep the input, remember and recall nothing.
      } else if (tag.condition == condition_kind::exclusive ||
                 tag.condition == condition_kind::exclusive_self) {
        // Exclusive carry: the output is what the relatives left, never the input itself;
        // the input (an ancestor's also the recall) is remembered for the descendants.
        const auto key = first_key();
        const bool hit = key && lookup(state, *key, when);
        value = hit;
        const bool stores = input || (hit && tag.condition == condition_kind::exclusive_self);
        if (stores)
          stored_same_key = remember(tag, state, event, cache, when) && tag.same_keys;
        else
          recalled = hit;
      } else if (tag.condition == condition_kind::self) {
        const bool hit = recall(tag, state, event, cache, when);
        value = input || hit;
        if (value)  // a store under another recipe can still hit the get key (pid == ppid)
          stored_same_key = remember(tag, state, event, cache, when) && tag.same_keys;
        else
          recalled = hit;  // nothing stored: the recall still holds
      } else if (input) {
        const auto key = first_key();
        stored_same_key = key && store(state, *key, when) && tag.same_keys;
      } else {
        const auto key = first_key();
        recalled = key && lookup(state, *key, when);
        value = *recalled;
      }
      accessor_.set_tag(event, tag.handle, value);

      if (tag.slot != no_slot) {
        // Established: recall(get key) is true after this tag's own update.
        bool est = stored_same_key || (recalled && *recalled);
        if (!est && !recalled) est = recall(tag, state, event, cache, when);
        if (est) established[tag.slot / 64] |= std::uint64_t{1} << (tag.slot % 64);
      }
    }
  }

  program program_;
  Accessor accessor_;
  Memory memory_;
  Hash hash_;
  std::vector<column_handle> column_handles_;
  std::uint32_t timestamp_column_ = no_slot;  // into column_handles_, when some rule is timed
  std::vector<std::uint8_t> recipe_columns_;
  std::vector<bound_tag> tags_;
  std::vector<bound_rule> rules_;
};

FLUXCAP_END_NAMESPACE
