// The Sigma engine: compiled rules + an event-field accessor + a memory -> detections.
//
//   auto rules = fluxcap::sigma::compile(parsed_rules, *fluxcap::sigma::builtin_profile("sysmon"));
//   fluxcap::sigma::engine<my_fields, fluxcap::exact_memory> eng(std::move(rules), my_fields{});
//   auto state = eng.make_state();        // one per group (host): see group_of()
//   auto scratch = eng.make_scratch();    // one per thread
//   for (const auto& event : events)
//     for (std::uint32_t r : eng.process(state_of(eng.group_of(event, scratch)), event, scratch))
//       report(eng.compiled().rules[r].identity);
//
// Per event: every field a supported rule reads is read once through the accessor; each
// value is scanned once by its field's literal matcher (all rules' literals together),
// and only leaves that need more (globs, regexes, numbers...) are verified, globs and
// regexes only when a literal they require occurs. Context parts (parent, grandparent,
// ancestor) are written as flux tags, the flux capacitor carries them (exclusive: a
// process never sees its own), and each rule's bound condition is evaluated over its
// identifiers. The engine is const and may be shared by threads; everything mutable is
// in the scratch (per thread) and the state (per group).
#pragma once

#include <fluxcap/detail/abi_macros.hpp>
#include <fluxcap/flux_capacitor.hpp>
#include <fluxcap/hash.hpp>
#include <fluxcap/memory.hpp>
#include <fluxcap/program.hpp>
#include <fluxcap/sigma/compile.hpp>
#include <fluxcap/sigma/detail/glob.hpp>
#include <fluxcap/sigma/detail/ip.hpp>
#include <fluxcap/sigma/detail/number.hpp>
#include <fluxcap/sigma/detail/time_parts.hpp>
#include <fluxcap/sigma/detail/value_cache.hpp>
#include <fluxcap/sigma/field_accessor.hpp>
#include <fluxcap/sigma/regex.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

FLUXCAP_BEGIN_NAMESPACE

namespace sigma {

namespace detail {

/// The event the flux capacitor sees: one byte per context tag slot, and the ids.
struct flux_event {
  std::uint8_t* tags = nullptr;
  std::optional<std::string_view> id;
  std::optional<std::string_view> parent_id;
};

/// The flux capacitor's accessor over `flux_event`. Hop 2 of a grandparent part reads
/// hop 1's slot (already rewritten: rules run in spec order) and writes its own.
class flux_tags {
 public:
  using event_type = flux_event;
  struct tag_handle {
    std::uint32_t read = 0;
    std::uint32_t write = 0;
  };
  using column_handle = std::uint8_t;

  flux_tags() = default;
  explicit flux_tags(const std::vector<part>& parts)
      : slots_(std::make_shared<
               std::unordered_map<std::string, std::pair<std::uint32_t, std::uint32_t>>>()) {
    for (const auto& p : parts) slots_->emplace(p.tag, std::pair{p.input_slot, p.output_slot});
  }

  [[nodiscard]] tag_handle tag_handle_for(std::string_view rule, std::string_view tag) const {
    const auto it = slots_ ? slots_->find(std::string(tag)) : decltype(slots_->end()){};
    if (!slots_ || it == slots_->end())
      throw std::invalid_argument("sigma engine: unknown context tag " + std::string(tag));
    const auto [input, output] = it->second;
    if (rule.substr(0, 19) == "sigma-grandparent-2") return {input, output};
    return {input, input};
  }
  [[nodiscard]] column_handle column_handle_for(std::string_view column) const {
    if (column == "id") return 0;
    if (column == "parent_id") return 1;
    throw std::invalid_argument("sigma engine: unknown column " + std::string(column));
  }
  [[nodiscard]] bool get_tag(const flux_event& e, tag_handle t) const noexcept {
    return e.tags[t.read] != 0;
  }
  void set_tag(flux_event& e, tag_handle t, bool v) const noexcept { e.tags[t.write] = v ? 1 : 0; }
  [[nodiscard]] std::optional<std::string_view> get_column(const flux_event& e,
                                                           column_handle c) const noexcept {
    return c == 0 ? e.id : e.parent_id;
  }

 private:
  std::shared_ptr<std::unordered_map<std::string, std::pair<std::uint32_t, std::uint32_t>>> slots_;
};

[[nodiscard]] inline bool value_has_text(value_kind k) noexcept {
  return k == value_kind::string || k == value_kind::number || k == value_kind::boolean;
}

[[nodiscard]] inline bool anchored_match(std::string_view value, std::string_view pattern,
                                         literal_anchor anchor, bool cased) noexcept {
  const auto eq = [cased](char a, char b) {
    return cased ? a == b
                 : fold_ascii(static_cast<unsigned char>(a)) ==
                       fold_ascii(static_cast<unsigned char>(b));
  };
  const auto equal_at = [&](std::size_t at) {
    for (std::size_t i = 0; i < pattern.size(); ++i)
      if (!eq(value[at + i], pattern[i])) return false;
    return true;
  };
  if (pattern.size() > value.size()) return false;
  switch (anchor) {
    case literal_anchor::exact:
      return pattern.size() == value.size() && equal_at(0);
    case literal_anchor::prefix:
      return equal_at(0);
    case literal_anchor::suffix:
      return equal_at(value.size() - pattern.size());
    case literal_anchor::contains:
      for (std::size_t at = 0; at + pattern.size() <= value.size(); ++at)
        if (equal_at(at)) return true;
      return false;
  }
  return false;
}

}  // namespace detail

template <field_accessor Fields, memory_policy Memory = bloom_memory, regex_engine Regex = no_regex,
          hash_policy Hash = default_hash>
class engine {
  using capacitor = flux_capacitor<detail::flux_tags, Memory, Hash>;

 public:
  using event_type = typename Fields::event_type;
  using state_type = typename Memory::state_type;

  /// Per-thread working memory: reuse one across events (it allocates only while it
  /// grows to the largest event seen).
  class scratch {
    friend class engine;
    // A regex engine's scratch need not be default-constructible (pcre2_engine's is
    // not): it is made by the engine and moved in.
    explicit scratch(typename Regex::scratch r) : regex(std::move(r)) {}
    std::vector<field_value> values;
    std::vector<std::uint32_t> field_begin, field_end;
    std::vector<std::uint8_t> present, has_null, has_value;
    std::vector<std::uint8_t> memoized;  // by field: its one value is looked up in the memo
    std::vector<detail::value_cache::fingerprint> fingerprints;  // by field, when memoized
    std::vector<std::uint32_t> leaf_true;    // by check: == epoch: holds this event
    std::vector<std::uint32_t> leaf_tried;   // by check: == value_stamp: verified on this value
    std::vector<std::uint32_t> regex_tried;  // by regex: == value_stamp: searched this value
    std::vector<std::uint8_t> regex_found;   // by regex: its result on that value
    std::uint32_t epoch = 0;
    std::uint32_t value_stamp = 0;
    std::vector<std::uint8_t> tags;
    std::vector<std::int8_t> identifier_value;  // -1 unknown, 0, 1 (one rule at a time)
    std::vector<std::uint32_t> item_true;       // by item: == epoch: marked (a leaf holds)
    std::vector<std::uint32_t> detections;
    std::vector<std::uint32_t> true_leaves;  // checks set this event, in order
    std::vector<std::uint32_t> rule_seen;    // == epoch: already a candidate
    std::vector<std::uint32_t> candidates;
    std::string id, parent_id, group;
    typename Regex::scratch regex;
    detail::value_cache cache;    // (field, value) -> the checks it makes true
    std::uint64_t evaluated = 0;  // candidate rules evaluated, all events

   public:
    /// The value memo's counters: values found in it, values looked up and not found.
    [[nodiscard]] std::uint64_t cache_hits() const noexcept { return cache.hits(); }
    [[nodiscard]] std::uint64_t cache_misses() const noexcept { return cache.misses(); }
    /// Values not remembered because they made more checks true than an entry holds.
    [[nodiscard]] std::uint64_t cache_too_many() const noexcept { return cache.too_many(); }
    /// Candidate rules evaluated (their conditions), summed over the events processed.
    [[nodiscard]] std::uint64_t candidates_evaluated() const noexcept { return evaluated; }
  };

  explicit engine(compiled_rules rules, Fields fields = Fields{}, Memory memory = Memory{},
                  Regex regex = Regex{}, Hash hash = Hash{})
      : rules_(std::move(rules)),
        fields_(std::move(fields)),
        memory_(std::move(memory)),
        regex_(std::move(regex)) {
    if (rules_.uses_keywords && !string_enumerating_accessor<Fields>)
      throw std::invalid_argument(
          "sigma engine: rules use keyword identifiers but the accessor cannot enumerate strings "
          "(compile with compile_options::keywords = false)");
    for (const auto& path : rules_.fields)
      handles_.push_back(fields_.field_handle_for(field_path::parse(path)));
    group_handle_ = fields_.field_handle_for(field_path::parse(rules_.group_path));
    id_handle_ = fields_.field_handle_for(field_path::parse(rules_.id_path));
    parent_handle_ = fields_.field_handle_for(field_path::parse(rules_.parent_id_path));
    for (const auto& r : rules_.regexes) {
      auto compiled = regex_.compile(r.pattern, r.flags);
      if (auto* ok = std::get_if<typename Regex::compiled>(&compiled)) {
        regexes_.push_back(std::move(*ok));
      } else {
        throw std::invalid_argument("sigma engine: regex '" + r.pattern +
                                    "' was accepted at compile time and rejected now");
      }
    }
    per_field_.resize(rules_.fields.size());
    leaf_check_.reserve(rules_.leaves.size());
    leaf_value_.reserve(rules_.leaves.size());
    // Per check: (item, whether the check witnesses the item's rule) pairs; an `all`
    // item is witnessed only by the leaves of its witness_value.
    std::vector<std::vector<std::pair<std::uint32_t, bool>>> items_of_check(rules_.leaves.size());
    for (std::uint32_t l = 0; l < rules_.leaves.size(); ++l) {
      const auto& leaf = rules_.leaves[l];
      leaf_check_.push_back(leaf.check);
      leaf_value_.push_back(leaf.value_index);
      if (leaf.item < rules_.items.size()) {
        const auto& it = rules_.items[leaf.item];
        const bool witnesses =
            it.witness_rule != detail::no_rule &&
            (it.witness_value == detail::item::any_value || it.witness_value == leaf.value_index);
        items_of_check[leaf.check].emplace_back(leaf.item, witnesses);
      }
      if (leaf.check != l) continue;  // its check's first leaf stands for it
      if (leaf.field == detail::keyword_field) {
        if (leaf.kind != detail::leaf_kind::literal && !leaf.gated) keyword_ungated_.push_back(l);
        continue;
      }
      auto& f = per_field_[leaf.field];
      switch (leaf.kind) {
        case detail::leaf_kind::literal:
          break;
        case detail::leaf_kind::null_value:
          f.null_leaves.push_back(l);
          break;
        case detail::leaf_kind::fieldref:
          fieldref_leaves_.push_back(l);
          break;
        default:
          if (!leaf.gated) f.ungated.push_back(l);
      }
    }
    check_items_begin_.reserve(rules_.leaves.size() + 1);
    for (auto& items : items_of_check) {
      check_items_begin_.push_back(static_cast<std::uint32_t>(check_items_.size()));
      // One entry an item, witnessing if any of its leaves of this check does (sorted by
      // item, then witnessing first).
      std::sort(items.begin(), items.end(), [](const auto& a, const auto& b) {
        return a.first != b.first ? a.first < b.first : a.second > b.second;
      });
      items.erase(std::unique(items.begin(), items.end(),
                              [](const auto& a, const auto& b) { return a.first == b.first; }),
                  items.end());
      // Only entries that make a candidate, or mark an item evaluated eagerly, are kept.
      for (const auto& [item, witnesses] : items)
        if (witnesses || rules_.items[item].leaf_count > lazy_item_leaves)
          check_items_.push_back(
              item_entry{item, witnesses ? rules_.items[item].witness_rule : detail::no_rule});
    }
    check_items_begin_.push_back(static_cast<std::uint32_t>(check_items_.size()));
    items_.reserve(rules_.items.size());
    for (const auto& it : rules_.items)
      items_.push_back(compact_item{it.field, it.first_leaf, it.first_leaf + it.leaf_count, it.all,
                                    it.negated, it.check});
    std::size_t most = 0;
    for (const auto& r : rules_.rules) most = std::max(most, r.identifiers.size());
    max_identifiers_ = most;
    if (!rules_.flux.rules.empty())
      capacitor_.emplace(fluxcap::compile(rules_.flux), detail::flux_tags(rules_.parts), memory_,
                         std::move(hash));
  }

  [[nodiscard]] const compiled_rules& compiled() const noexcept { return rules_; }
  [[nodiscard]] state_type make_state() const { return memory_.make_state(); }

  /// `cache`: the per-thread memo of what a field value makes true (detail/value_cache.hpp:
  /// a value seen before costs a hash and a byte comparison instead of its scan and checks);
  /// `slots = 0` turns it off. Its key is drawn at random, per scratch.
  [[nodiscard]] scratch make_scratch(const value_cache_limits& cache = {}) const {
    scratch s(regex_.make_scratch());
    s.cache = detail::value_cache(cache, hash_key::random());
    const auto n = rules_.fields.size();
    s.field_begin.assign(n, 0);
    s.field_end.assign(n, 0);
    s.present.assign(n, 0);
    s.has_null.assign(n, 0);
    s.has_value.assign(n, 0);
    s.memoized.assign(n, 0);
    s.fingerprints.assign(n, 0);
    s.leaf_true.assign(rules_.leaves.size(), 0);
    s.leaf_tried.assign(rules_.leaves.size(), 0);
    s.item_true.assign(rules_.items.size(), 0);
    s.regex_tried.assign(rules_.regexes.size(), 0);
    s.regex_found.assign(rules_.regexes.size(), 0);
    s.tags.assign(rules_.flux_slots, 0);
    s.rule_seen.assign(rules_.rules.size(), 0);
    s.identifier_value.assign(max_identifiers_, -1);
    return s;
  }

  /// The event's group key (the profile's `group` path), or nullopt when absent. The
  /// view is valid until the next call with this scratch.
  [[nodiscard]] std::optional<std::string_view> group_of(const event_type& e, scratch& s) const {
    return first_text(e, group_handle_, s.group, false);
  }

  /// Detections of `e`: indices into `compiled().rules`, in load order, valid until the
  /// next call with this scratch. Updates `state` (the event's group's memory).
  std::span<const std::uint32_t> process(state_type& state, const event_type& e, scratch& s) const {
    next_epoch(s);
    read_fields(e, s);
    if (rules_.uses_keywords) scan_keywords(e, s);
    for (const auto l : fieldref_leaves_)
      if (fieldref_holds(rules_.leaves[l], s)) set_true(l, s);
    mark_true_items(s);
    if (capacitor_) {
      for (const auto& p : rules_.parts) {
        bool holds = true;
        for (const auto i : p.items) holds = holds && item_holds(i, s);
        s.tags[p.input_slot] = holds ? 1 : 0;
        s.tags[p.output_slot] = holds ? 1 : 0;
      }
      detail::flux_event fe{s.tags.data(), first_text(e, id_handle_, s.id, rules_.lower_case_ids),
                            first_text(e, parent_handle_, s.parent_id, rules_.lower_case_ids)};
      capacitor_->update(state, fe);
    }
    collect_candidates(s);
    s.evaluated += s.candidates.size();
    s.detections.clear();
    for (const auto r : s.candidates)
      if (rule_fires(rules_.rules[r], s)) s.detections.push_back(r);
    // Rules are independent: evaluated in candidate order, reported in load order (few
    // fire, so sorting the detections costs less than sorting the candidates).
    if (s.detections.size() > 1) std::sort(s.detections.begin(), s.detections.end());
    return s.detections;
  }

 private:
  struct field_leaves {
    std::vector<std::uint32_t> ungated;      // verified on every value
    std::vector<std::uint32_t> null_leaves;  // true when absent or null
  };

  static void next_epoch(scratch& s) {
    if (++s.epoch == 0) {
      std::fill(s.leaf_true.begin(), s.leaf_true.end(), 0U);
      std::fill(s.item_true.begin(), s.item_true.end(), 0U);
      std::fill(s.rule_seen.begin(), s.rule_seen.end(), 0U);
      s.epoch = 1;
    }
    s.true_leaves.clear();
  }
  static void set_true(std::uint32_t l, scratch& s) {
    if (s.leaf_true[l] == s.epoch) return;
    s.leaf_true[l] = s.epoch;
    s.true_leaves.push_back(l);
  }
  static std::uint32_t next_value(scratch& s) {
    if (++s.value_stamp == 0) {
      std::fill(s.leaf_tried.begin(), s.leaf_tried.end(), 0U);
      std::fill(s.regex_tried.begin(), s.regex_tried.end(), 0U);
      s.value_stamp = 1;
    }
    return s.value_stamp;
  }

  std::optional<std::string_view> first_text(const event_type& e,
                                             const typename Fields::field_handle& h,
                                             std::string& buffer, bool lower) const {
    std::optional<std::string_view> found;
    fields_.read(e, h, [&](field_value v) {
      if (!found && detail::value_has_text(v.kind)) found = v.text;
    });
    if (!found || !lower) return found;
    // Ids are usually lower case already (or have no letters): then no copy.
    if (std::none_of(found->begin(), found->end(), [](char c) { return c >= 'A' && c <= 'Z'; }))
      return found;
    buffer.assign(*found);
    for (auto& c : buffer)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return std::string_view(buffer);
  }

  void read_fields(const event_type& e, scratch& s) const {
    s.values.clear();
    const auto fields = static_cast<std::uint32_t>(handles_.size());
    for (std::uint32_t f = 0; f < fields; ++f) {
      s.field_begin[f] = static_cast<std::uint32_t>(s.values.size());
      bool has_null = false, has_value = false;
      const bool present = fields_.read(e, handles_[f], [&](field_value v) {
        s.values.push_back(v);
        (v.kind == value_kind::null ? has_null : has_value) = true;
      });
      s.field_end[f] = static_cast<std::uint32_t>(s.values.size());
      s.present[f] = present ? 1 : 0;
      s.has_null[f] = has_null ? 1 : 0;
      s.has_value[f] = has_value ? 1 : 0;
      if (!present || has_null)
        for (const auto l : per_field_[f].null_leaves) set_true(l, s);
    }
    // A field's only value: what it makes true is the checks set while it is read (no
    // check of this field held before), so it can be remembered and replayed. The values
    // are hashed in a pass of their own, then looked up and scanned: read back right
    // after being stored, a value stalled on store forwarding, and one pass ran ~6%
    // slower end to end (bench/README.md, December 2026 (8)).
    for (std::uint32_t f = 0; f < fields; ++f) {
      s.memoized[f] = 0;
      if (s.field_end[f] - s.field_begin[f] != 1) continue;
      const field_value& v = s.values[s.field_begin[f]];
      if (!detail::value_has_text(v.kind) || !s.cache.wants(v.text)) continue;
      s.memoized[f] = 1;
      s.fingerprints[f] = s.cache.fingerprint_of(v.text);
    }
    for (std::uint32_t f = 0; f < fields; ++f) {
      const bool memo = s.memoized[f] != 0;
      const auto fp = s.fingerprints[f];
      for (std::uint32_t i = s.field_begin[f]; i < s.field_end[f]; ++i) {
        const field_value v = s.values[i];
        if (!detail::value_has_text(v.kind)) continue;
        if (memo) {
          bool found = false;
          const auto known = s.cache.find(f, v.kind, fp, v.text, found);
          if (found) {
            for (const auto l : known) set_true(l, s);
            continue;
          }
        }
        const std::size_t before = s.true_leaves.size();
        const auto stamp = next_value(s);
        rules_.matchers[f].scan(v.text, [&](std::uint32_t l) { on_hit(l, v, stamp, s); });
        for (const auto l : per_field_[f].ungated)
          if (s.leaf_true[l] != s.epoch && verify(rules_.leaves[l], v, s)) set_true(l, s);
        if (memo)
          s.cache.store(f, v.kind, fp, v.text,
                        std::span<const std::uint32_t>(s.true_leaves).subspan(before));
      }
    }
  }

  void scan_keywords(const event_type& e, scratch& s) const {
    if constexpr (string_enumerating_accessor<Fields>) {
      fields_.for_each_string(e, [&](std::string_view text) {
        const field_value v{value_kind::string, text};
        const auto stamp = next_value(s);
        rules_.keyword_matcher.scan(text, [&](std::uint32_t l) { on_hit(l, v, stamp, s); });
        for (const auto l : keyword_ungated_)
          if (s.leaf_true[l] != s.epoch && verify(rules_.leaves[l], v, s)) set_true(l, s);
      });
    }
  }

  void on_hit(std::uint32_t l, field_value v, std::uint32_t stamp, scratch& s) const {
    if (s.leaf_true[l] == s.epoch || s.leaf_tried[l] == stamp) return;
    const auto& leaf = rules_.leaves[l];
    if (leaf.kind == detail::leaf_kind::literal) {
      set_true(l, s);
      return;
    }
    s.leaf_tried[l] = stamp;  // gated: verify once per value
    if (verify(leaf, v, s)) set_true(l, s);
  }

  bool verify(const detail::leaf& leaf, field_value v, scratch& s) const {
    using k = detail::leaf_kind;
    switch (leaf.kind) {
      case k::literal:
        return detail::anchored_match(v.text, leaf.text, leaf.anchor, leaf.cased);
      case k::glob:
        return detail::glob_match(leaf.glob.pieces(), v.text, leaf.cased);
      case k::regex: {
        // Identical regexes of several leaves (on several fields) search a value once.
        if (s.regex_tried[leaf.regex] != s.value_stamp) {
          s.regex_tried[leaf.regex] = s.value_stamp;
          s.regex_found[leaf.regex] = regex_.search(regexes_[leaf.regex], v.text, s.regex) ? 1 : 0;
        }
        return s.regex_found[leaf.regex] != 0;
      }
      case k::number_equal:
        if (v.kind == value_kind::number) {
          const auto n = detail::parse_number(v.text);
          return n && detail::compare(*n, leaf.num) == std::partial_ordering::equivalent;
        }
        return v.kind == value_kind::string && v.text == leaf.text;
      case k::boolean_equal:
        return (v.kind == value_kind::boolean || v.kind == value_kind::string) &&
               detail::iequals_ascii(v.text, leaf.text);
      case k::number_compare: {
        if (v.kind != value_kind::number && v.kind != value_kind::string) return false;
        const auto n = detail::parse_number(v.text);
        if (!n) return false;
        const auto order = detail::compare(*n, leaf.num);
        switch (leaf.op) {
          case detail::compare_op::lt:
            return order == std::partial_ordering::less;
          case detail::compare_op::lte:
            return order == std::partial_ordering::less ||
                   order == std::partial_ordering::equivalent;
          case detail::compare_op::gt:
            return order == std::partial_ordering::greater;
          case detail::compare_op::gte:
            return order == std::partial_ordering::greater ||
                   order == std::partial_ordering::equivalent;
        }
        return false;
      }
      case k::cidr: {
        if (v.kind != value_kind::string) return false;
        const auto ip = detail::parse_ip(v.text);
        return ip && leaf.network.contains(*ip);
      }
      case k::time_part: {
        if (v.kind != value_kind::string && v.kind != value_kind::number) return false;
        const auto t = detail::parse_time_parts(v.text);
        if (!t) return false;
        switch (leaf.unit) {
          case detail::time_unit::minute:
            return t->minute == leaf.time_value;
          case detail::time_unit::hour:
            return t->hour == leaf.time_value;
          case detail::time_unit::day:
            return t->day == leaf.time_value;
          case detail::time_unit::week:
            return t->iso_week == leaf.time_value;
          case detail::time_unit::month:
            return t->month == leaf.time_value;
          case detail::time_unit::year:
            return t->year == leaf.time_value;
        }
        return false;
      }
      case k::null_value:
        return v.kind == value_kind::null;
      case k::fieldref:
        return false;  // evaluated per event (fieldref_holds)
    }
    return false;
  }

  static void add_candidate(std::uint32_t r, scratch& s) {
    if (s.rule_seen[r] == s.epoch) return;
    s.rule_seen[r] = s.epoch;
    s.candidates.push_back(r);
  }

  /// The items one of whose leaves holds (an `any` item then holds without looking at
  /// its leaves), and the rules they witness: the first candidates. Lazy items (few
  /// leaves) are marked only through their witness entries.
  void mark_true_items(scratch& s) const {
    s.candidates.clear();
    for (const auto l : s.true_leaves)
      for (auto k = check_items_begin_[l]; k < check_items_begin_[l + 1]; ++k) {
        const auto [i, witness_rule] = check_items_[k];
        s.item_true[i] = s.epoch;
        if (witness_rule != detail::no_rule) add_candidate(witness_rule, s);
      }
  }

  /// Rules that may fire: those with a witness item (mark_true_items) or part true, and
  /// those that are always candidates; unordered.
  void collect_candidates(scratch& s) const {
    const auto add = [&](std::uint32_t r) { add_candidate(r, s); };
    for (const auto& p : rules_.parts)
      if (s.tags[p.output_slot] != 0)
        for (const auto r : p.witness_rules) add(r);
    for (const auto r : rules_.always_candidates) add(r);
  }

  bool fieldref_holds(const detail::leaf& leaf, const scratch& s) const {
    for (auto i = s.field_begin[leaf.field]; i < s.field_end[leaf.field]; ++i) {
      const auto a = s.values[i];
      if (!detail::value_has_text(a.kind)) continue;
      for (auto j = s.field_begin[leaf.other_field]; j < s.field_end[leaf.other_field]; ++j) {
        const auto b = s.values[j];
        if (detail::value_has_text(b.kind) &&
            detail::anchored_match(a.text, b.text, leaf.anchor, leaf.cased))
          return true;
      }
    }
    return false;
  }

  bool item_holds(std::uint32_t i, const scratch& s) const {
    const compact_item& it = items_[i];
    const bool keyword = it.field == detail::keyword_field;
    const bool present = keyword || s.present[it.field] != 0;
    if (it.check == detail::presence::exists) return present;
    if (it.check == detail::presence::absent) return !present;
    bool holds = s.item_true[i] == s.epoch;
    if (!holds && it.end_leaf - it.first_leaf <= lazy_item_leaves)  // not marked: read
      for (auto l = it.first_leaf; l < it.end_leaf && !holds; ++l)
        holds = s.leaf_true[leaf_check_[l]] == s.epoch;
    if (holds && it.all) {
      const auto first = it.first_leaf, end = it.end_leaf;
      for (auto l = first; l < end && holds;) {
        const auto value = leaf_value_[l];
        bool any = false;
        for (; l < end && leaf_value_[l] == value; ++l)
          any = any || s.leaf_true[leaf_check_[l]] == s.epoch;
        holds = any;
      }
    }
    if (it.negated) return present && s.has_value[it.field] != 0 && !holds;
    return holds;
  }

  bool conjunction_holds(const detail::conjunction_layout& c, const scratch& s) const {
    for (const auto p : c.carried_parts)
      if (s.tags[rules_.parts[p].output_slot] == 0) return false;
    for (const auto i : c.self_items)
      if (!item_holds(i, s)) return false;
    return true;
  }

  bool rule_fires(const compiled_rule& r, scratch& s) const {
    std::fill_n(s.identifier_value.begin(), r.identifiers.size(), std::int8_t{-1});
    const auto value = [&](std::uint32_t slot) {
      auto& cached = s.identifier_value[slot];
      if (cached < 0) {
        bool any = false;
        for (const auto& c : r.identifiers[slot].any_of)
          if (conjunction_holds(c, s)) {
            any = true;
            break;
          }
        cached = any ? 1 : 0;
      }
      return cached == 1;
    };
    for (const auto& c : r.conditions)
      if (c.evaluate(value)) return true;
    return false;
  }

  compiled_rules rules_;
  Fields fields_;
  Memory memory_;
  Regex regex_;
  std::vector<typename Fields::field_handle> handles_;
  typename Fields::field_handle group_handle_{}, id_handle_{}, parent_handle_{};
  std::vector<typename Regex::compiled> regexes_;
  std::vector<field_leaves> per_field_;
  std::vector<std::uint32_t> keyword_ungated_;
  std::vector<std::uint32_t> fieldref_leaves_;
  std::vector<std::uint32_t> leaf_check_;  // per leaf: its check (where its truth is kept)
  std::vector<std::uint32_t> leaf_value_;  // per leaf: its value_index
  // Per check: the items with a leaf of it that are marked (larger than lazy_item_leaves,
  // or witnesses; CSR), and the rule each makes a candidate.
  struct item_entry {
    std::uint32_t item = 0;
    std::uint32_t witness_rule = detail::no_rule;  // no_rule: none
  };
  std::vector<std::uint32_t> check_items_begin_;
  std::vector<item_entry> check_items_;
  // The items' fields the engine reads per event, without their text.
  struct compact_item {
    std::uint32_t field = 0;
    std::uint32_t first_leaf = 0, end_leaf = 0;
    bool all = false;
    bool negated = false;
    detail::presence check = detail::presence::none;
  };
  /// Items with at most this many leaves are marked only as witnesses, not whenever one
  /// of their leaves holds (an event makes checks true that many rules share, of which
  /// few become candidates): item_holds reads their leaves when their rule is evaluated.
  /// Larger items are marked, so that evaluating one costs a load however long its list.
  static constexpr std::uint32_t lazy_item_leaves = 8;
  std::vector<compact_item> items_;
  std::size_t max_identifiers_ = 0;
  std::optional<capacitor> capacitor_;
};

}  // namespace sigma

FLUXCAP_END_NAMESPACE
