// The Sigma correlation rule model (Sigma correlation specification 2.1.0): plain
// aggregates holding a correlation as written, plus the checks that need the whole rule
// set (references, cycles, aliases) and the small interpretations every consumer shares
// (timespans, conditions).
//
// A correlation is filled by the YAML reader (fluxcap/sigma/yaml.hpp, read_rule_set) or
// programmatically. `link_correlations` resolves each `rules` entry to a detection rule
// or another correlation (by `name`, else `id`) and rejects unknown references, cycles
// and aliases naming rules the correlation does not reference; every error is a
// sigma_error "file:line:col: message". The engine is fluxcap/sigma/correlation_engine.hpp;
// the semantics are in docs/semantics.md, "Correlation rules".
#pragma once

#include <fluxcap/detail/abi_macros.hpp>
#include <fluxcap/sigma/rule.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

FLUXCAP_BEGIN_NAMESPACE

namespace sigma {

enum class correlation_type : std::uint8_t {
  event_count,
  value_count,
  temporal,
  temporal_ordered,
  value_sum,
  value_avg,
  value_percentile,
};

inline constexpr std::array<std::string_view, 7> correlation_type_names{
    "event_count", "value_count", "temporal",        "temporal_ordered",
    "value_sum",   "value_avg",   "value_percentile"};

[[nodiscard]] constexpr std::string_view to_string(correlation_type t) noexcept {
  return correlation_type_names[static_cast<std::size_t>(t)];
}

[[nodiscard]] constexpr std::optional<correlation_type> parse_correlation_type(
    std::string_view s) noexcept {
  for (std::size_t i = 0; i < correlation_type_names.size(); ++i)
    if (correlation_type_names[i] == s) return static_cast<correlation_type>(i);
  return std::nullopt;
}

/// Types whose condition reads `field` (and so require it).
[[nodiscard]] constexpr bool needs_value_field(correlation_type t) noexcept {
  return t == correlation_type::value_count || t == correlation_type::value_sum ||
         t == correlation_type::value_avg || t == correlation_type::value_percentile;
}

/// Types whose `condition` may be omitted: then every referenced rule must match.
[[nodiscard]] constexpr bool condition_optional(correlation_type t) noexcept {
  return t == correlation_type::temporal || t == correlation_type::temporal_ordered;
}

enum class comparison : std::uint8_t { gt, gte, lt, lte, eq, neq };

inline constexpr std::array<std::string_view, 6> comparison_names{"gt",  "gte", "lt",
                                                                  "lte", "eq",  "neq"};

[[nodiscard]] constexpr std::optional<comparison> parse_comparison(std::string_view s) noexcept {
  for (std::size_t i = 0; i < comparison_names.size(); ++i)
    if (comparison_names[i] == s) return static_cast<comparison>(i);
  return std::nullopt;
}

/// One `op: value` of a condition.
struct correlation_bound {
  comparison op = comparison::gte;
  double value = 0;
  std::string text;  ///< as written
  source_span where;

  [[nodiscard]] bool holds(double x) const noexcept {
    switch (op) {
      case comparison::gt:
        return x > value;
      case comparison::gte:
        return x >= value;
      case comparison::lt:
        return x < value;
      case comparison::lte:
        return x <= value;
      case comparison::eq:
        return x == value;
      case comparison::neq:
        return x != value;
    }
    return false;
  }
};

/// `condition:`: every bound must hold (a range is `gt` and `lte` together).
struct correlation_condition {
  std::vector<correlation_bound> bounds;  ///< empty: absent (temporal types only)
  /// `field:` of value_* types; value_count may name several (their values form a tuple).
  std::vector<std::string> fields;
  source_span field_where;
  /// `percentile:` of value_percentile (fluxcap's reading; the specification names no
  /// parameter): which percentile of the window's values the bounds compare. Default 50.
  double percentile = 50;
  bool percentile_written = false;
  source_span where;

  [[nodiscard]] bool holds(double x) const noexcept {
    return std::all_of(bounds.begin(), bounds.end(),
                       [x](const correlation_bound& b) { return b.holds(x); });
  }
};

/// `aliases: NAME: {rule_name: field, ...}`.
struct correlation_alias {
  std::string name;
  std::vector<std::pair<std::string, std::string>> fields;  ///< (rule name, field)
  std::vector<source_span> where;                           ///< one per entry
  source_span name_where;
};

/// What a `rules` entry names once linked.
struct correlation_reference {
  enum class kind : std::uint8_t { detection, correlation };
  kind target = kind::detection;
  std::size_t index = 0;  ///< into the detection rules or the correlations given to link
};

struct correlation_rule {
  /// Its identity, as for detection rules: `id`, else `title`.
  std::string identity;
  std::optional<std::string> id;
  std::optional<std::string> title;
  std::optional<std::string> name;
  std::optional<std::string> level;
  std::optional<std::string> status;
  correlation_type type = correlation_type::event_count;
  source_span type_where;
  std::vector<std::string> rules;       ///< as written: names or ids
  std::vector<source_span> rule_where;  ///< one per entry
  std::vector<correlation_alias> aliases;
  std::vector<std::string> group_by;
  std::vector<source_span> group_by_where;
  std::int64_t timespan_ms = 0;
  std::string timespan_text;
  source_span timespan_where;
  correlation_condition condition;
  /// `generate: true`: the referenced rules are also reported on their own.
  bool generate = false;
  source_span where;    ///< the document's start
  source_span section;  ///< the `correlation:` mapping
  /// Filled by link_correlations: one per `rules` entry.
  std::vector<correlation_reference> resolved;
};

/// Milliseconds of a `timespan` (`number + letter`: s, m, h, d; the number a positive
/// decimal integer); nullopt when malformed, zero, or beyond about 100 years.
[[nodiscard]] constexpr std::optional<std::int64_t> parse_timespan_ms(std::string_view s) noexcept {
  if (s.size() < 2) return std::nullopt;
  std::int64_t unit = 0;
  switch (s.back()) {
    case 's':
      unit = 1000;
      break;
    case 'm':
      unit = 60 * 1000;
      break;
    case 'h':
      unit = 3600 * 1000;
      break;
    case 'd':
      unit = 86400 * 1000;
      break;
    default:
      return std::nullopt;
  }
  constexpr std::int64_t max_ms = std::int64_t{100} * 366 * 86400 * 1000;
  std::int64_t n = 0;
  for (std::size_t i = 0; i + 1 < s.size(); ++i) {
    const char c = s[i];
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
    if (n > max_ms) return std::nullopt;
  }
  if (n == 0 || n > max_ms / unit) return std::nullopt;
  return n * unit;
}

/// A condition value: a finite decimal number (integer or float, as YAML writes them).
[[nodiscard]] inline std::optional<double> parse_condition_number(std::string_view s) noexcept {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  if (s.empty()) return std::nullopt;
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

namespace detail {

inline std::string quote_name(std::string_view s) {
  return "'" + std::string(s.substr(0, 200)) + (s.size() > 200 ? "...'" : "'");
}

}  // namespace detail

/// Resolves every correlation's `rules` (filling `resolved`) against detection rules
/// (`rules`, documents of kind detection; others are ignored) and the correlations
/// themselves: an entry names a rule by `name` first, else by `id`. Throws sigma_error
/// at the offending place for an unknown reference, a name given to two rules, an alias
/// naming a rule the correlation does not reference, and a cycle of correlations.
/// Returns the correlations in an order where every correlation follows those it
/// references (the order the engine evaluates them in).
inline std::vector<std::size_t> link_correlations(std::span<const rule> rules,
                                                  std::span<correlation_rule> correlations) {
  using ref = correlation_reference;
  std::unordered_map<std::string, ref> by_name, by_id;
  std::unordered_map<std::string, source_span> name_where;
  const auto add = [&](const std::optional<std::string>& name, const std::optional<std::string>& id,
                       ref r, const source_span& where) {
    if (name && !name->empty()) {
      const auto [it, fresh] = name_where.emplace(*name, where);
      if (!fresh)
        throw sigma_error(where, "rule name " + detail::quote_name(*name) +
                                     " is given to two rules (also " + it->second.file + ":" +
                                     std::to_string(it->second.line) + ")");
      by_name.emplace(*name, r);
    }
    if (id && !id->empty()) by_id.emplace(*id, r);
  };
  for (std::size_t i = 0; i < rules.size(); ++i)
    if (rules[i].kind == document_kind::detection)
      add(rules[i].name, rules[i].id, ref{ref::kind::detection, i}, rules[i].where);
  for (std::size_t i = 0; i < correlations.size(); ++i)
    add(correlations[i].name, correlations[i].id, ref{ref::kind::correlation, i},
        correlations[i].where);

  for (auto& c : correlations) {
    c.resolved.clear();
    for (std::size_t k = 0; k < c.rules.size(); ++k) {
      const auto& written = c.rules[k];
      const ref* found = nullptr;
      if (const auto it = by_name.find(written); it != by_name.end())
        found = &it->second;
      else if (const auto jt = by_id.find(written); jt != by_id.end())
        found = &jt->second;
      const auto where = k < c.rule_where.size() ? c.rule_where[k] : c.where;
      if (found == nullptr)
        throw sigma_error(where, "correlation " + detail::quote_name(c.identity) +
                                     ": no rule or correlation has the name or id " +
                                     detail::quote_name(written));
      c.resolved.push_back(*found);
    }
    for (const auto& a : c.aliases)
      for (std::size_t j = 0; j < a.fields.size(); ++j)
        if (std::find(c.rules.begin(), c.rules.end(), a.fields[j].first) == c.rules.end())
          throw sigma_error(j < a.where.size() ? a.where[j] : a.name_where,
                            "correlation " + detail::quote_name(c.identity) + ": alias " +
                                detail::quote_name(a.name) + " names rule " +
                                detail::quote_name(a.fields[j].first) +
                                ", which the correlation does not reference");
  }

  // Depth-first order over correlation references; a reference back into the current
  // path is a cycle (iterative: a hostile chain must not exhaust the stack).
  std::vector<std::size_t> order;
  std::vector<std::uint8_t> mark(correlations.size(), 0);  // 0 new, 1 on path, 2 done
  for (std::size_t root = 0; root < correlations.size(); ++root) {
    if (mark[root] != 0) continue;
    std::vector<std::pair<std::size_t, std::size_t>> stack{{root, 0}};
    mark[root] = 1;
    while (!stack.empty()) {
      auto& [c, next] = stack.back();
      const auto& refs = correlations[c].resolved;
      if (next == refs.size()) {
        mark[c] = 2;
        order.push_back(c);
        stack.pop_back();
        continue;
      }
      const std::size_t k = next++;
      if (refs[k].target != ref::kind::correlation) continue;
      const std::size_t d = refs[k].index;
      if (mark[d] == 1) {
        const auto& cc = correlations[c];
        throw sigma_error(k < cc.rule_where.size() ? cc.rule_where[k] : cc.where,
                          "correlation " + detail::quote_name(cc.identity) + ": referencing " +
                              detail::quote_name(cc.rules[k]) + " makes a cycle of correlations");
      }
      if (mark[d] == 0) {
        mark[d] = 1;
        stack.emplace_back(d, 0);
      }
    }
  }
  return order;
}

}  // namespace sigma

FLUXCAP_END_NAMESPACE
