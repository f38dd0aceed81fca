// The Sigma correlation engine: per event, the detection rules the Sigma engine reported
// (fluxcap/sigma/engine.hpp, `process`) + the event -> the correlations that fire.
//
//   auto set = fluxcap::sigma::read_rule_set_paths(paths);       // yaml.hpp: linked
//   auto compiled = fluxcap::sigma::compile(set.rules, profile);
//   fluxcap::sigma::engine<my_fields> eng(compiled, my_fields{});
//   fluxcap::sigma::correlation_engine<my_fields> corr(set.correlations, compiled, profile);
//   for (const auto& event : events) {
//     auto detections = eng.process(state, event, scratch);
//     for (std::uint32_t c : corr.process(detections, event)) report(corr.rule(c).identity);
//   }
//
// Semantics (docs/semantics.md, "Correlation rules"): each (correlation, group-by values)
// has its own state; an event at time t (the profile's `timestamp`) sees the base-rule
// matches of its group in (t - timespan, t]. A correlation fires on the event at which
// its condition becomes true for the event's group, and again only after an event of
// that group finds it false (edge-triggered). Late events are taken at their group's
// latest time; events without a time, a group-by value or (value_*) a value are counted
// and skipped. Chains are evaluated in one pass: a correlation that fires on an event is
// a match of the correlations that reference it, on the same event.
//
// Memory: one state per live group, at most `max_groups` (a new group past it is
// refused and counted; groups whose window is empty are dropped first); an exact window
// keeps at most `max_window_events` (the oldest is dropped past it, and counted).
// temporal and temporal_ordered keep one time per referenced rule and group. Groups are
// found through an open-addressing index over their keys' keyed hashes (keys compared
// whole); once warm, process() allocates nothing but for a new group or an exact window
// outgrowing its storage (bench/bench_correlation_engine.cpp checks it).
// drop_idle_groups(now) frees groups whose window is empty at the embedder's clock. The
// engine is single-threaded (one per thread or shard, like the flux capacitor's state).
#pragma once

#include <fluxcap/detail/abi_macros.hpp>
#include <fluxcap/event_time.hpp>
#include <fluxcap/hash.hpp>
#include <fluxcap/sigma/compile.hpp>
#include <fluxcap/sigma/correlation.hpp>
#include <fluxcap/sigma/correlation_window.hpp>
#include <fluxcap/sigma/field_accessor.hpp>
#include <fluxcap/sigma/profile.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

FLUXCAP_BEGIN_NAMESPACE

namespace sigma {

namespace detail {
struct correlation_state_codec;  // correlation_state.hpp: saves and restores an engine's state
}  // namespace detail

struct correlation_options {
  /// Live (correlation, group) states, all correlations together.
  std::size_t max_groups = 100000;
  /// Events an exact window keeps (per group); past it the oldest is dropped.
  std::size_t max_window_events = 4096;
  /// Buckets of bounded windows (unused by the exact ones).
  std::uint32_t buckets = 64;
};

/// What the engine skipped or bounded; every counter is a number of occurrences.
struct correlation_counters {
  std::uint64_t without_time = 0;    ///< a base-rule match on an event with no readable time
  std::uint64_t without_group = 0;   ///< ... with a group-by field absent or null
  std::uint64_t without_value = 0;   ///< ... with a value_* field absent or not a number
  std::uint64_t late = 0;            ///< time before its group's latest: taken at the latest
  std::uint64_t groups_refused = 0;  ///< a new group while max_groups were live
  std::uint64_t groups_expired = 0;  ///< idle groups (empty window) dropped to make room
  std::uint64_t window_dropped = 0;  ///< events dropped from full exact windows
};

/// The window types an engine uses: exact_windows here; bounded ones in their header.
struct exact_windows {
  using count = exact_count_window;
  using distinct = exact_distinct_window;
  using value = exact_value_window;
};

template <field_accessor Fields, class Windows = exact_windows, hash_policy Hash = default_hash>
class correlation_engine {
 public:
  using event_type = typename Fields::event_type;
  using field_handle = typename Fields::field_handle;

  /// `correlations` must be linked (link_correlations, or read_rule_set*), their detection
  /// references indexing the rules `compiled` was compiled from. A correlation whose
  /// referenced rule is not compiled (unsupported) or that references such a correlation
  /// is unsupported: it never fires, and unsupported_reason() says why.
  /// Field names (group-by, alias targets, `field`) are Sigma field names: `profile`
  /// maps them to event paths, as it does for detection rules.
  correlation_engine(std::vector<correlation_rule> correlations, const compiled_rules& compiled,
                     const profile& profile, Fields fields = Fields{},
                     correlation_options options = {}, Hash hash = Hash{})
      : rules_(std::move(correlations)),
        fields_(std::move(fields)),
        options_(options),
        hash_(std::move(hash)) {
    const std::size_t n = rules_.size();
    runtime_.resize(n);
    std::unordered_map<std::size_t, std::uint32_t> compiled_of_source;
    for (std::uint32_t j = 0; j < compiled.rules.size(); ++j)
      compiled_of_source.emplace(compiled.rules[j].source_index, j);
    by_detection_.resize(compiled.rules.size());
    detection_reported_.assign(compiled.rules.size(), 1);
    std::vector<std::uint8_t> detection_referenced(compiled.rules.size(), 0);
    std::vector<std::uint8_t> detection_generated(compiled.rules.size(), 0);
    std::vector<std::uint8_t> correlation_referenced(n, 0), correlation_generated(n, 0);

    // Evaluation order: every correlation after those it references.
    std::vector<std::size_t> order;
    {
      std::vector<std::uint8_t> placed(n, 0);
      while (order.size() < n) {
        const std::size_t before = order.size();
        for (std::size_t c = 0; c < n; ++c) {
          if (placed[c] != 0) continue;
          bool ready = rules_[c].resolved.size() == rules_[c].rules.size();
          for (const auto& r : rules_[c].resolved)
            if (r.target == correlation_reference::kind::correlation &&
                (r.index >= n || placed[r.index] == 0))
              ready = false;
          if (ready) {
            placed[c] = 1;
            order.push_back(c);
          }
        }
        if (order.size() == before)
          throw std::invalid_argument(
              "correlation engine: correlations are not linked (or cyclic)");
      }
    }
    for (std::uint32_t rank = 0; rank < n; ++rank) runtime_[order[rank]].rank = rank;

    for (const std::size_t c : order) {
      auto& rt = runtime_[c];
      const auto& cr = rules_[c];
      rt.params = window_params{cr.timespan_ms, options_.buckets, options_.max_window_events};
      for (std::uint32_t k = 0; k < cr.resolved.size(); ++k) {
        const auto& ref = cr.resolved[k];
        if (ref.target == correlation_reference::kind::detection) {
          const auto it = compiled_of_source.find(ref.index);
          if (it == compiled_of_source.end()) {
            rt.unsupported = "references rule '" + cr.rules[k] + "', which is not supported";
            continue;
          }
          by_detection_[it->second].push_back({static_cast<std::uint32_t>(c), k});
          detection_referenced[it->second] = 1;
          if (cr.generate) detection_generated[it->second] = 1;
        } else {
          if (!runtime_[ref.index].unsupported.empty()) {
            rt.unsupported = "references correlation '" + cr.rules[k] + "', which is not supported";
            continue;
          }
          runtime_[ref.index].dependents.push_back({static_cast<std::uint32_t>(c), k});
          correlation_referenced[ref.index] = 1;
          if (cr.generate) correlation_generated[ref.index] = 1;
        }
      }
      if (cr.rules.empty()) rt.unsupported = "references no rule";
      if (!compiled.timestamp_path && rt.unsupported.empty())
        rt.unsupported = "the profile names no timestamp field";
      // Field handles per referenced rule: aliases resolve per rule.
      rt.group_handles.resize(cr.rules.size());
      rt.value_handles.resize(cr.rules.size());
      for (std::size_t k = 0; k < cr.rules.size(); ++k) {
        for (const auto& g : cr.group_by)
          rt.group_handles[k].push_back(handle_for(profile.path_of(field_for(cr, g, cr.rules[k]))));
        for (const auto& f : cr.condition.fields)
          rt.value_handles[k].push_back(handle_for(profile.path_of(field_for(cr, f, cr.rules[k]))));
      }
    }
    for (std::size_t j = 0; j < detection_reported_.size(); ++j)
      detection_reported_[j] = detection_referenced[j] == 0 || detection_generated[j] != 0;
    for (std::size_t c = 0; c < n; ++c)
      runtime_[c].reported = correlation_referenced[c] == 0 || correlation_generated[c] != 0;
    if (compiled.timestamp_path) time_handle_ = handle_for(*compiled.timestamp_path);
  }

  /// The correlations that fire on `e`, as indices into rules(), in evaluation order
  /// (referenced before referencing); valid until the next call. `detections` are the
  /// Sigma engine's detections of `e` (indices into its compiled rules).
  std::span<const std::uint32_t> process(std::span<const std::uint32_t> detections,
                                         const event_type& e) {
    fired_.clear();
    pending_.clear();
    for (const std::uint32_t d : detections)
      if (d < by_detection_.size())
        for (const auto& [c, k] : by_detection_[d]) pending_.push_back({runtime_[c].rank, c, k});
    if (pending_.empty()) return {};
    std::sort(pending_.begin(), pending_.end());
    const std::optional<event_time> t = read_time(e);
    if (t && (!newest_ || *t > *newest_)) newest_ = t;
    for (std::size_t i = 0; i < pending_.size();) {
      std::size_t j = i;
      while (j < pending_.size() && pending_[j].correlation == pending_[i].correlation) ++j;
      const std::uint32_t c = pending_[i].correlation;
      hits_.clear();
      for (std::size_t x = i; x < j; ++x)
        if (hits_.empty() || hits_.back() != pending_[x].k) hits_.push_back(pending_[x].k);
      i = j;
      if (!evaluate(c, t, e)) continue;
      fired_.push_back(c);
      for (const auto& [d, k] : runtime_[c].dependents) {
        const pending_hit h{runtime_[d].rank, d, k};
        pending_.insert(
            std::upper_bound(pending_.begin() + static_cast<std::ptrdiff_t>(i), pending_.end(), h),
            h);
      }
    }
    return fired_;
  }

  [[nodiscard]] const std::vector<correlation_rule>& rules() const noexcept { return rules_; }
  [[nodiscard]] const correlation_rule& rule(std::size_t c) const { return rules_.at(c); }
  /// Empty when the correlation runs; else why it cannot.
  [[nodiscard]] const std::string& unsupported_reason(std::size_t c) const {
    return runtime_.at(c).unsupported;
  }
  /// Whether a detection rule (compiled index) is reported on its own: unless every
  /// correlation that references it has `generate: false`.
  [[nodiscard]] bool reports_detection(std::uint32_t compiled_index) const noexcept {
    return compiled_index >= detection_reported_.size() || detection_reported_[compiled_index] != 0;
  }
  /// Whether a correlation's firing is reported (the same rule for chains).
  [[nodiscard]] bool reports_correlation(std::size_t c) const { return runtime_.at(c).reported; }
  [[nodiscard]] const correlation_counters& counters() const noexcept { return counters_; }
  [[nodiscard]] std::size_t live_groups() const noexcept { return live_; }
  /// The newest time of a base-rule match this engine has processed (nullopt before the
  /// first with a time): the stream's clock, for drop_idle_groups. Not saved with the
  /// state (correlation_state.hpp): a resumed engine's clock starts at its first match.
  [[nodiscard]] std::optional<event_time> newest_time() const noexcept { return newest_; }

  /// Drops every group whose window is empty at `now` (counted in groups_expired), with
  /// its key and window: an embedder's periodic call with its stream's clock keeps idle
  /// groups from holding memory (the engine never does it on its own but when max_groups
  /// are live: each group has its own clock, and only the embedder knows when every
  /// group's clock has passed `now`). Returns the number dropped. Changes no answer for
  /// groups whose clock is at or past `now`.
  std::size_t drop_idle_groups(event_time now) {
    slots_.clear();
    const std::uint64_t before = counters_.groups_expired;
    sweep(now);
    return static_cast<std::size_t>(counters_.groups_expired - before);
  }

  /// Bytes held by group states (keys, windows, per-rule times), approximately.
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    std::size_t bytes = sizeof(*this) + groups_.capacity() * sizeof(group_state) +
                        index_.capacity() * sizeof(index_entry) +
                        free_.capacity() * sizeof(std::uint32_t);
    for (const auto& g : groups_) {
      if (!g.live) continue;
      bytes +=
          g.key.capacity() + g.marks.capacity() * sizeof(event_time) + sizeof(std::uint32_t) * 4;
      std::visit(
          [&](const auto& w) {
            if constexpr (!std::is_same_v<std::decay_t<decltype(w)>, std::monostate>)
              bytes += w.memory_bytes();
          },
          g.window);
    }
    return bytes;
  }

 private:
  friend struct detail::correlation_state_codec;

  struct pending_hit {
    std::uint32_t rank;
    std::uint32_t correlation;
    std::uint32_t k;
    // Higher k first: temporal_ordered must not let one event fill two steps.
    friend bool operator<(const pending_hit& a, const pending_hit& b) {
      if (a.rank != b.rank) return a.rank < b.rank;
      return a.k > b.k;
    }
  };

  struct runtime {
    std::uint32_t rank = 0;
    window_params params;
    std::vector<std::vector<field_handle>> group_handles;             ///< [k][group-by]
    std::vector<std::vector<field_handle>> value_handles;             ///< [k][field]
    std::vector<std::pair<std::uint32_t, std::uint32_t>> dependents;  ///< (correlation, k)
    std::string unsupported;
    bool reported = true;
  };

  struct group_state {
    std::string key;         ///< the correlation and the group-by values, length-prefixed
    std::uint64_t hash = 0;  ///< of key
    std::uint32_t correlation = 0;
    bool live = false;
    bool active = false;  ///< the condition held at the group's last evaluation
    event_time latest = 0;
    std::variant<std::monostate, typename Windows::count, typename Windows::distinct,
                 typename Windows::value>
        window;
    std::vector<event_time> marks;  ///< temporal: last time per rule; ordered: chain starts
  };

  /// The group index: open addressing (linear probing, at most half full) over
  /// (key hash, slot in groups_); keys are compared whole on a hash match.
  struct index_entry {
    std::uint64_t hash = 0;
    std::uint32_t slot = UINT32_MAX;  ///< UINT32_MAX: empty
  };

  static constexpr event_time no_time = std::numeric_limits<event_time>::min() / 2;

  static std::string field_for(const correlation_rule& cr, const std::string& name,
                               const std::string& referenced) {
    for (const auto& a : cr.aliases)
      if (a.name == name) {
        for (const auto& [rule_name, field] : a.fields)
          if (rule_name == referenced) return field;
        break;  // an alias without an entry for this rule: the name itself is the field
      }
    return name;
  }

  field_handle handle_for(const std::string& path) {
    return fields_.field_handle_for(field_path::parse(path));
  }

  std::optional<field_value> first_value(const event_type& e, const field_handle& h) const {
    std::optional<field_value> out;
    const bool present = fields_.read(e, h, [&](field_value v) {
      if (!out) out = v;
    });
    if (!present || !out || out->kind == value_kind::null || out->kind == value_kind::other)
      return std::nullopt;
    return out;
  }

  std::optional<event_time> read_time(const event_type& e) const {
    if (!time_handle_) return std::nullopt;
    const auto v = first_value(e, *time_handle_);
    if (!v) return std::nullopt;
    const auto t = parse_event_time(v->text);
    if (!t || *t > max_event_time || *t < -max_event_time) return std::nullopt;
    return t;
  }

  static void append_part(std::string& out, std::string_view s) {
    const auto n = static_cast<std::uint32_t>(std::min<std::size_t>(s.size(), UINT32_MAX));
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xffU));
    out.append(s.data(), n);
  }

  /// One event for correlation `c` with the referenced rules `hits_` (descending k).
  bool evaluate(std::uint32_t c, std::optional<event_time> t, const event_type& e) {
    auto& rt = runtime_[c];
    if (!rt.unsupported.empty()) return false;
    if (!t) {
      ++counters_.without_time;
      return false;
    }
    const auto& cr = rules_[c];
    // Group of each hit (aliases can put one event in two groups); hits of one group are
    // applied together, so that an event counts once per group.
    slots_.clear();
    for (const std::uint32_t k : hits_) {
      key_.clear();
      append_part(key_, std::string_view(reinterpret_cast<const char*>(&c), sizeof c));
      bool complete = true;
      for (const auto& h : rt.group_handles[k]) {
        const auto v = first_value(e, h);
        if (!v) {
          complete = false;
          break;
        }
        append_part(key_, v->text);
      }
      if (!complete) {
        ++counters_.without_group;
        continue;
      }
      const auto slot = find_or_create(c, *t);
      if (!slot) continue;
      slots_.push_back({*slot, k});
    }
    bool fired = false;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].first == no_slot) continue;
      const std::uint32_t slot = slots_[i].first;
      std::optional<double> observed = update(c, groups_[slot], *t, e, i);
      if (!observed) continue;
      auto& g = groups_[slot];
      const bool holds = cr.condition.bounds.empty()
                             ? *observed >= static_cast<double>(cr.rules.size())
                             : cr.condition.holds(*observed);
      if (holds && !g.active) fired = true;
      g.active = holds;
    }
    return fired;
  }

  static constexpr std::uint32_t no_slot = UINT32_MAX;

  /// Applies this event's hits of one group (slots_[first].first) and returns the value
  /// the condition compares; nullopt when the event has no value for a value_* type.
  std::optional<double> update(std::uint32_t c, group_state& g, event_time t, const event_type& e,
                               std::size_t first) {
    const auto& cr = rules_[c];
    const auto& rt = runtime_[c];
    const std::uint32_t first_k = slots_[first].second;
    // Read the value first: an event without one changes nothing.
    std::uint64_t value_hash = 0;
    double value = 0;
    if (cr.type == correlation_type::value_count) {
      key_.clear();
      for (const auto& h : rt.value_handles[first_k]) {
        const auto v = first_value(e, h);
        if (!v) {
          ++counters_.without_value;
          clear_same_group(first);
          return std::nullopt;
        }
        append_part(key_, v->text);
      }
      value_hash = hash_(key_);
    } else if (needs_value_field(cr.type)) {
      const auto v = rt.value_handles[first_k].empty()
                         ? std::nullopt
                         : first_value(e, rt.value_handles[first_k][0]);
      const auto x = v ? parse_condition_number(v->text) : std::nullopt;
      if (!x) {
        ++counters_.without_value;
        clear_same_group(first);
        return std::nullopt;
      }
      value = *x;
    }
    if (g.latest > t) {
      ++counters_.late;
      t = g.latest;
    }
    const event_time edge = t - cr.timespan_ms;
    if (g.latest <= edge) reset(g);  // the window emptied: the group starts over
    g.latest = t;
    const auto count_dropped = [&](const auto& w, std::uint64_t before) {
      if constexpr (requires { w.dropped(); }) counters_.window_dropped += w.dropped() - before;
    };
    switch (cr.type) {
      case correlation_type::event_count: {
        auto& w = std::get<typename Windows::count>(g.window);
        const auto before = dropped_of(w);
        w.add(t);
        count_dropped(w, before);
        clear_same_group(first);
        return static_cast<double>(w.count(t));
      }
      case correlation_type::value_count: {
        auto& w = std::get<typename Windows::distinct>(g.window);
        const auto before = dropped_of(w);
        w.add(t, value_hash);
        count_dropped(w, before);
        clear_same_group(first);
        return static_cast<double>(w.distinct(t));
      }
      case correlation_type::value_sum:
      case correlation_type::value_avg:
      case correlation_type::value_percentile: {
        auto& w = std::get<typename Windows::value>(g.window);
        const auto before = dropped_of(w);
        w.add(t, value);
        count_dropped(w, before);
        clear_same_group(first);
        if (cr.type == correlation_type::value_sum) return w.sum(t);
        if (cr.type == correlation_type::value_avg)
          return w.sum(t) / static_cast<double>(std::max<std::uint64_t>(1, w.count(t)));
        return w.percentile(t, cr.condition.percentile);
      }
      case correlation_type::temporal:
      case correlation_type::temporal_ordered: {
        // This group's hits, highest k first (slots_ follows hits_, which is descending).
        for (std::size_t i = first; i < slots_.size(); ++i) {
          if (slots_[i].first != slots_[first].first) continue;
          const std::uint32_t k = slots_[i].second;
          if (cr.type == correlation_type::temporal) {
            g.marks[k] = t;
          } else if (k == 0) {
            g.marks[0] = t;  // the latest start of a chain is now
          } else if (g.marks[k - 1] > edge) {
            g.marks[k] = std::max(g.marks[k], g.marks[k - 1]);
          }
          if (i != first) slots_[i].first = no_slot;
        }
        std::size_t seen = 0;
        if (cr.type == correlation_type::temporal) {
          for (const auto m : g.marks) seen += m > edge ? 1 : 0;
        } else {
          while (seen < g.marks.size() && g.marks[seen] > edge) ++seen;
        }
        return static_cast<double>(seen);
      }
    }
    return std::nullopt;
  }

  template <class W>
  static std::uint64_t dropped_of(const W& w) {
    if constexpr (requires { w.dropped(); })
      return w.dropped();
    else
      return 0;
  }

  /// Marks the later hits of the group at slots_[first] as applied.
  void clear_same_group(std::size_t first) {
    for (std::size_t i = first + 1; i < slots_.size(); ++i)
      if (slots_[i].first == slots_[first].first) slots_[i].first = no_slot;
  }

  void reset(group_state& g) {
    const auto& cr = rules_[g.correlation];
    g.active = false;
    switch (cr.type) {
      case correlation_type::event_count:
        g.window.template emplace<typename Windows::count>(runtime_[g.correlation].params);
        break;
      case correlation_type::value_count:
        g.window.template emplace<typename Windows::distinct>(runtime_[g.correlation].params);
        break;
      case correlation_type::temporal:
      case correlation_type::temporal_ordered:
        g.window.template emplace<std::monostate>();
        g.marks.assign(cr.rules.size(), no_time);
        break;
      default:
        g.window.template emplace<typename Windows::value>(runtime_[g.correlation].params);
    }
  }

  /// The index position of (hash, key): the entry holding it, or the empty one where it
  /// would go.
  [[nodiscard]] std::size_t index_position(std::uint64_t hash,
                                           std::string_view key) const noexcept {
    const std::size_t mask = index_.size() - 1;
    for (std::size_t i = static_cast<std::size_t>(hash) & mask;; i = (i + 1) & mask) {
      const index_entry& e = index_[i];
      if (e.slot == no_slot || (e.hash == hash && groups_[e.slot].key == key)) return i;
    }
  }

  void index_insert(std::uint64_t hash, std::uint32_t slot) {
    if ((live_ + 1) * 2 > index_.size()) {
      std::vector<index_entry> old(std::max<std::size_t>(16, index_.size() * 2));
      old.swap(index_);
      for (const index_entry& e : old)
        if (e.slot != no_slot) index_[index_position(e.hash, groups_[e.slot].key)] = e;
    }
    index_[index_position(hash, groups_[slot].key)] = {hash, slot};
    ++live_;
  }

  /// Removes the entry at `i` (backward-shift deletion: no tombstones, probes stay short).
  void index_erase(std::size_t i) {
    const std::size_t mask = index_.size() - 1;
    for (std::size_t j = (i + 1) & mask; index_[j].slot != no_slot; j = (j + 1) & mask) {
      const std::size_t home = static_cast<std::size_t>(index_[j].hash) & mask;
      // Move j into the hole at i unless its home lies cyclically in (i, j].
      if (((j - home) & mask) >= ((j - i) & mask)) {
        index_[i] = index_[j];
        i = j;
      }
    }
    index_[i] = index_entry{};
    --live_;
  }

  /// The slot of key_ (correlation c); a new one if needed and allowed.
  std::optional<std::uint32_t> find_or_create(std::uint32_t c, event_time now) {
    const std::uint64_t hash = hash_(key_);
    if (!index_.empty()) {
      const index_entry& e = index_[index_position(hash, key_)];
      if (e.slot != no_slot) return e.slot;
    }
    if (live_ >= options_.max_groups) {
      if (now >= next_sweep_) sweep(now);
      if (live_ >= options_.max_groups) {
        ++counters_.groups_refused;
        return std::nullopt;
      }
    }
    std::uint32_t slot = 0;
    if (!free_.empty()) {
      slot = free_.back();
      free_.pop_back();
    } else {
      slot = static_cast<std::uint32_t>(groups_.size());
      groups_.emplace_back();
    }
    auto& g = groups_[slot];
    g.key = key_;
    g.hash = hash;
    g.correlation = c;
    g.live = true;
    g.latest = no_time;
    reset(g);
    index_insert(hash, slot);
    return slot;
  }

  /// Drops groups whose window is empty at `now`; remembers when the next one empties.
  void sweep(event_time now) {
    next_sweep_ = std::numeric_limits<event_time>::max();
    for (std::uint32_t slot = 0; slot < groups_.size(); ++slot) {
      auto& g = groups_[slot];
      if (!g.live) continue;
      const event_time empties_at = g.latest + rules_[g.correlation].timespan_ms;
      // A group this event already found keeps its slot (it is about to be updated).
      const bool in_use = std::any_of(slots_.begin(), slots_.end(),
                                      [slot](const auto& s) { return s.first == slot; });
      if (empties_at <= now && !in_use) {
        index_erase(index_position(g.hash, g.key));
        g = group_state{};
        free_.push_back(slot);
        ++counters_.groups_expired;
      } else {
        next_sweep_ = std::min(next_sweep_, empties_at);
      }
    }
  }

  std::vector<correlation_rule> rules_;
  std::vector<runtime> runtime_;
  Fields fields_;
  correlation_options options_;
  std::optional<field_handle> time_handle_;
  std::vector<std::vector<std::pair<std::uint32_t, std::uint32_t>>> by_detection_;
  std::vector<std::uint8_t> detection_reported_;

  std::vector<group_state> groups_;
  std::vector<std::uint32_t> free_;
  std::vector<index_entry> index_;  ///< size a power of two (or 0), at most half full
  std::size_t live_ = 0;            ///< live groups (entries of index_)
  event_time next_sweep_ = std::numeric_limits<event_time>::min();
  std::optional<event_time> newest_;  ///< newest_time()
  Hash hash_;
  correlation_counters counters_;

  // Per-event working memory (reused: no allocation once grown).
  std::vector<pending_hit> pending_;
  std::vector<std::uint32_t> hits_;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> slots_;  ///< (slot, k)
  std::vector<std::uint32_t> fired_;
  std::string key_;
};

}  // namespace sigma

FLUXCAP_END_NAMESPACE
