// The spec model: what a detection engineer writes, in either of its two forms.
//
// High-level form (seed 000): a rule has an `action` (temporal, parent, ancestor)
// and the library derives every tag's keys and put condition from it.
// Low-level form (seed 002): a rule has no action; each tag names its own
// `prefix_get`/`prefix_put` columns and optional `put_condition`.
//
// Both are plain aggregates so that parsers (see fluxcap/yaml.hpp) and programs
// can build them; the helpers below make the programmatic case one line a rule.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>

#include <fluxcap/error.hpp>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

FLUXCAP_BEGIN_NAMESPACE

/// How a high-level rule propagates its tags (semantics section 2).
enum class action : std::uint8_t {
  temporal,  ///< later events of the same group (and context) see earlier tags
  parent,    ///< an event sees the tags of its direct parent
  ancestor,  ///< an event sees the tags of any of its ancestors
};

[[nodiscard]] constexpr std::string_view to_string(action a) noexcept {
  switch (a) {
    case action::temporal:
      return "temporal";
    case action::parent:
      return "parent";
    case action::ancestor:
      return "ancestor";
  }
  return "?";
}

/// Parses an action name; empty optional for anything else.
[[nodiscard]] constexpr std::optional<action> parse_action(std::string_view s) noexcept {
  if (s == "temporal") return action::temporal;
  if (s == "parent") return action::parent;
  if (s == "ancestor") return action::ancestor;
  return std::nullopt;
}

/// Parses a Sigma-style timespan: a positive integer and a unit, `ms`, `s`, `m`, `h` or
/// `d` (`500ms`, `30s`, `5m`, `1h`, `7d`). Empty optional for anything else, zero and
/// spans whose milliseconds do not fit in 63 bits included.
[[nodiscard]] constexpr std::optional<std::chrono::milliseconds> parse_timespan(
    std::string_view s) noexcept {
  std::size_t digits = 0;
  std::int64_t n = 0;
  constexpr std::int64_t limit = std::int64_t{1} << 53;  // far beyond any unit's use
  while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') {
    n = n * 10 + (s[digits] - '0');
    if (n > limit) return std::nullopt;
    ++digits;
  }
  if (digits == 0 || n == 0) return std::nullopt;
  const std::string_view unit = s.substr(digits);
  std::int64_t scale = 0;
  if (unit == "ms")
    scale = 1;
  else if (unit == "s")
    scale = 1000;
  else if (unit == "m")
    scale = 60'000;
  else if (unit == "h")
    scale = 3'600'000;
  else if (unit == "d")
    scale = 86'400'000;
  else
    return std::nullopt;
  if (n > std::int64_t{9'000'000'000'000'000'000} / scale) return std::nullopt;
  return std::chrono::milliseconds(n * scale);
}

/// One tag of a rule. In the high-level form only `name` may be set; the
/// low-level fields are derived from the rule's action.
struct tag_spec {
  std::string name;
  std::optional<std::string> prefix_get;     ///< low-level: column suffixing the get key
  std::optional<std::string> prefix_put;     ///< low-level: column suffixing the put key
  std::optional<std::string> put_condition;  ///< low-level: tag of the same rule
  source_location where;                     ///< where the tag is defined
  source_location put_condition_where;       ///< where its put_condition is written

  tag_spec() = default;
  // NOLINTNEXTLINE(google-explicit-constructor): a tag is naturally written as its name.
  tag_spec(std::string tag_name) : name(std::move(tag_name)) {}
  // NOLINTNEXTLINE(google-explicit-constructor)
  tag_spec(const char* tag_name) : name(tag_name) {}
};

/// One rule, high-level (`act` set) or low-level (`act` empty).
struct rule_spec {
  std::string name;
  std::string description;
  std::optional<action> act;                        ///< empty: low-level form
  std::optional<bool> ordered;                      ///< temporal only
  std::optional<std::vector<std::string>> groupby;  ///< temporal only: context columns
  std::optional<std::string> parent;                ///< parent/ancestor: parent id column
  std::optional<std::string> child;                 ///< parent/ancestor: own id column
  /// Semantics section 6: a tag remembered by this rule is recalled only by events
  /// within this span of the event that stored it (event time: `spec::timestamp`).
  std::optional<std::chrono::milliseconds> timespan;
  /// parent/ancestor only, beyond CCCS (docs/semantics.md, "Exclusive carry"): an event's
  /// output comes from its relatives only, never from itself; its own input is only
  /// remembered for its descendants.
  std::optional<bool> exclusive;
  std::vector<tag_spec> tags;

  /// Source positions of the rule and of its fields, for diagnostics.
  struct locations {
    source_location rule, name, action, ordered, groupby, parent, child, timespan, exclusive, tags;
  } where;

  rule_spec& with_description(std::string text) {
    description = std::move(text);
    return *this;
  }
  rule_spec& with_ordered(bool value = true) {
    ordered = value;
    return *this;
  }
  rule_spec& with_groupby(std::vector<std::string> columns) {
    groupby = std::move(columns);
    return *this;
  }
  rule_spec& with_timespan(std::chrono::milliseconds span) {
    timespan = span;
    return *this;
  }
  rule_spec& with_exclusive(bool value = true) {
    exclusive = value;
    return *this;
  }
};

/// A temporal rule: tags seen earlier in the group (and context) reach later events.
[[nodiscard]] inline rule_spec temporal_rule(std::string name, std::vector<tag_spec> tags) {
  rule_spec r;
  r.name = std::move(name);
  r.act = action::temporal;
  r.tags = std::move(tags);
  return r;
}

/// A parent rule: an event whose `parent_column` equals an earlier event's
/// `child_column` sees that earlier event's tags.
[[nodiscard]] inline rule_spec parent_rule(std::string name, std::string parent_column,
                                           std::string child_column, std::vector<tag_spec> tags) {
  rule_spec r;
  r.name = std::move(name);
  r.act = action::parent;
  r.parent = std::move(parent_column);
  r.child = std::move(child_column);
  r.tags = std::move(tags);
  return r;
}

/// An ancestor rule: like parent_rule, but tags keep flowing to all descendants.
[[nodiscard]] inline rule_spec ancestor_rule(std::string name, std::string parent_column,
                                             std::string child_column, std::vector<tag_spec> tags) {
  rule_spec r = parent_rule(std::move(name), std::move(parent_column), std::move(child_column),
                            std::move(tags));
  r.act = action::ancestor;
  return r;
}

/// A low-level tag update (seed 002): explicit key columns and put condition.
[[nodiscard]] inline tag_spec tag_update(std::string name,
                                         std::optional<std::string> prefix_get = std::nullopt,
                                         std::optional<std::string> prefix_put = std::nullopt,
                                         std::optional<std::string> put_condition = std::nullopt) {
  tag_spec t;
  t.name = std::move(name);
  t.prefix_get = std::move(prefix_get);
  t.prefix_put = std::move(prefix_put);
  t.put_condition = std::move(put_condition);
  return t;
}

/// A low-level rule (seed 002 `rule_name` form).
[[nodiscard]] inline rule_spec low_level_rule(std::string name, std::vector<tag_spec> tags) {
  rule_spec r;
  r.name = std::move(name);
  r.tags = std::move(tags);
  return r;
}

/// A whole spec: an ordered list of rules. Rule order is evaluation order.
struct spec {
  std::vector<rule_spec> rules;
  /// The column holding each event's time, needed by rules with a `timespan`: RFC 3339
  /// text (`2026-12-01T10:00:00.250Z`, `...+02:00`) or seconds since the Unix epoch
  /// (`1764583200`, `1764583200.25`); see fluxcap/event_time.hpp.
  std::optional<std::string> timestamp;
  source_location where;            ///< the document, for errors about the spec as a whole
  source_location timestamp_where;  ///< where `timestamp` is written

  spec& with_timestamp(std::string column) {
    timestamp = std::move(column);
    return *this;
  }

  spec() = default;
  spec(std::initializer_list<rule_spec> list) : rules(list) {}
  explicit spec(std::vector<rule_spec> list) : rules(std::move(list)) {}

  spec& add(rule_spec rule) {
    rules.push_back(std::move(rule));
    return *this;
  }
};

FLUXCAP_END_NAMESPACE
