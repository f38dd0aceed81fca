// Compiling a spec: validation, lowering of high-level rules to tag updates, and
// ordering of each rule's tags along its put-condition dependency graph.
//
// A `program` is still name-based (rules, tags and columns are strings); it is
// bound to an event accessor, a memory policy and a hash policy by
// `flux_capacitor`, which resolves every name once so the per-event path does not.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>

#include <fluxcap/error.hpp>
#include <fluxcap/spec.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

FLUXCAP_BEGIN_NAMESPACE

/// Hard limits that keep the per-event path allocation-free (its scratch lives on
/// the stack). Specs beyond them are rejected by `compile` with a clear error.
inline constexpr std::size_t max_tags_per_rule = 4096;
inline constexpr std::size_t max_key_columns = 64;

/// How an absent column value is treated in a key (semantics section 3, "Missing columns").
enum class key_role : std::uint8_t {
  /// parent/child ids: a null, missing or empty value means "no such key":
  /// nothing is recalled (get) or remembered (put) under it.
  relation,
  /// groupby contexts: a null/missing value is a context of its own (SQL's NULL group).
  context,
};

/// Which columns suffix a key, in order. No columns: the key is `rule.tag` alone.
struct key_recipe {
  std::vector<std::string> columns;
  key_role role = key_role::relation;

  friend bool operator==(const key_recipe&, const key_recipe&) = default;
};

/// What gates remembering a tag (semantics section 3).
enum class condition_kind : std::uint8_t {
  none,   ///< remember when true, otherwise recall
  self,   ///< recall first, then remember if true (ancestor)
  other,  ///< behave as `none` only when the condition tag is established
  /// Exclusive parent: recall, remember if the input is true, output the recall only.
  exclusive,
  /// Exclusive ancestor: recall, remember if the input or the recall is true, output
  /// the recall only.
  exclusive_self,
};

struct compiled_tag {
  std::string name;
  std::size_t spec_index = 0;  ///< position in the rule's `tags` list
  key_recipe get;
  key_recipe put;
  condition_kind condition = condition_kind::none;
  std::size_t condition_tag = 0;  ///< kind `other`: index (evaluation order) of the condition
  bool feeds_condition = false;   ///< some other tag's put condition names this one
};

struct compiled_rule {
  std::string name;
  std::optional<action> act;  ///< empty for low-level rules
  /// Temporal skip rule: leave the rule untouched unless one of its tags is true.
  bool skip_unless_tagged = false;
  std::vector<compiled_tag> tags;  ///< evaluation order: every condition before its dependents
  /// Semantics section 6: recalled only within this span of the store (0: no bound).
  std::chrono::milliseconds timespan{0};
  source_location where;

  [[nodiscard]] bool timed() const noexcept { return timespan.count() > 0; }
};

/// A validated, ordered, name-based program.
struct program {
  std::vector<compiled_rule> rules;
  /// The event-time column, when some rule has a timespan (fluxcap/event_time.hpp).
  std::optional<std::string> timestamp_column;

  /// Distinct column names used by any key, in first-use order, then the timestamp
  /// column when some rule reads it.
  [[nodiscard]] std::vector<std::string> columns() const {
    std::vector<std::string> out;
    for (const auto& rule : rules)
      for (const auto& tag : rule.tags)
        for (const auto* recipe : {&tag.get, &tag.put})
          for (const auto& col : recipe->columns)
            if (std::find(out.begin(), out.end(), col) == out.end()) out.push_back(col);
    if (timestamp_column && std::find(out.begin(), out.end(), *timestamp_column) == out.end())
      out.push_back(*timestamp_column);
    return out;
  }

  [[nodiscard]] std::size_t tag_count() const noexcept {
    std::size_t n = 0;
    for (const auto& rule : rules) n += rule.tags.size();
    return n;
  }
};

namespace detail {

[[noreturn]] inline void fail(const source_location& where, const std::string& rule,
                              const std::string& tag, const std::string& message) {
  throw spec_error(where, rule, tag, message);
}

inline const source_location& first_known(const source_location& a, const source_location& b) {
  return a.known() ? a : b;
}

inline void check_column(const std::optional<std::string>& column, std::string_view field,
                         const source_location& where, const std::string& rule,
                         const std::string& tag = {}) {
  if (column && column->empty())
    fail(where, rule, tag, "'" + std::string(field) + "' names an empty column");
}

/// Checks the fields that belong to one form only and lowers high-level tags.
inline void lower_rule(const rule_spec& r, compiled_rule& out) {
  const auto& w = r.where;
  const auto& rule_where = first_known(w.rule, w.name);
  if (!r.act) {
    for (const auto& [present, field, where] :
         {std::tuple{r.ordered.has_value(), "ordered", &w.ordered},
          std::tuple{r.groupby.has_value(), "groupby", &w.groupby},
          std::tuple{r.parent.has_value(), "parent", &w.parent},
          std::tuple{r.child.has_value(), "child", &w.child}})
      if (present)
        fail(first_known(*where, rule_where), r.name, {},
             std::string("'") + field + "' needs an 'action' (low-level rules give keys per tag)");
    if (r.exclusive)
      fail(first_known(w.exclusive, rule_where), r.name, {},
           "'exclusive' is only valid for parent and ancestor rules, not low-level rules");
    for (const auto& t : r.tags) {
      check_column(t.prefix_get, "prefix_get", first_known(t.where, rule_where), r.name, t.name);
      check_column(t.prefix_put, "prefix_put", first_known(t.where, rule_where), r.name, t.name);
      compiled_tag ct;
      ct.name = t.name;
      if (t.prefix_get) ct.get.columns.push_back(*t.prefix_get);
      if (t.prefix_put) ct.put.columns.push_back(*t.prefix_put);
      // The contract: a null, missing or empty prefix_get/prefix_put value means
      // "nothing recalled" / "nothing remembered", whatever the column means.
      ct.get.role = ct.put.role = key_role::relation;
      out.tags.push_back(std::move(ct));
    }
    return;
  }

  for (const auto& t : r.tags) {
    const auto& where = first_known(t.where, rule_where);
    if (t.prefix_get || t.prefix_put)
      fail(where, r.name, t.name,
           "'prefix_get'/'prefix_put' belong to the low-level form; a rule with an action "
           "derives its keys");
    if (t.put_condition)
      fail(first_known(t.put_condition_where, where), r.name, t.name,
           "'put_condition' belongs to the low-level form; a rule with an action derives it");
  }

  const std::string act_name(to_string(*r.act));
  if (*r.act == action::temporal) {
    if (r.parent)
      fail(first_known(w.parent, rule_where), r.name, {},
           "'parent' is only valid for parent and ancestor rules, not 'temporal'");
    if (r.child)
      fail(first_known(w.child, rule_where), r.name, {},
           "'child' is only valid for parent and ancestor rules, not 'temporal'");
    if (r.exclusive)
      fail(first_known(w.exclusive, rule_where), r.name, {},
           "'exclusive' is only valid for parent and ancestor rules, not 'temporal'");
    key_recipe context;
    context.role = key_role::context;
    if (r.groupby) {
      for (const auto& col : *r.groupby) {
        if (col.empty())
          fail(first_known(w.groupby, rule_where), r.name, {}, "'groupby' names an empty column");
        if (std::find(context.columns.begin(), context.columns.end(), col) != context.columns.end())
          fail(first_known(w.groupby, rule_where), r.name, {},
               "'groupby' names column '" + col + "' twice");
        context.columns.push_back(col);
      }
    }
    const bool ordered = r.ordered.value_or(false);
    out.skip_unless_tagged = true;
    for (const auto& tag : r.tags) {
      compiled_tag ct;
      ct.name = tag.name;
      ct.get = ct.put = context;
      out.tags.push_back(std::move(ct));
    }
    if (ordered) {
      // Tag i is remembered only once tag i-1 is established: a, then b, then c.
      for (std::size_t i = 1; i < out.tags.size(); ++i) {
        out.tags[i].condition = condition_kind::other;
        out.tags[i].condition_tag = i - 1;
      }
    }
    return;
  }

  // parent / ancestor
  if (r.ordered)
    fail(first_known(w.ordered, rule_where), r.name, {},
         "'ordered' is only valid for temporal rules, not '" + act_name + "'");
  if (r.groupby)
    fail(first_known(w.groupby, rule_where), r.name, {},
         "'groupby' is only valid for temporal rules, not '" + act_name + "'");
  if (!r.parent)
    fail(first_known(w.action, rule_where), r.name, {},
         "action '" + act_name + "' needs a 'parent' column");
  if (!r.child)
    fail(first_known(w.action, rule_where), r.name, {},
         "action '" + act_name + "' needs a 'child' column");
  check_column(r.parent, "parent", first_known(w.parent, rule_where), r.name);
  check_column(r.child, "child", first_known(w.child, rule_where), r.name);
  const bool ancestor = *r.act == action::ancestor;
  const bool exclusive = r.exclusive.value_or(false);
  for (const auto& t : r.tags) {
    compiled_tag ct;
    ct.name = t.name;
    ct.get.columns = {*r.parent};
    ct.put.columns = {*r.child};
    if (exclusive)
      ct.condition = ancestor ? condition_kind::exclusive_self : condition_kind::exclusive;
    else if (ancestor)
      ct.condition = condition_kind::self;
    out.tags.push_back(std::move(ct));
  }
}

/// Resolves low-level put conditions and orders tags so that each condition is
/// evaluated before the tags it gates (depth-first, stable in spec order).
inline void order_tags(const rule_spec& r, compiled_rule& out) {
  const std::size_t n = out.tags.size();
  std::unordered_map<std::string_view, std::size_t> index;
  for (std::size_t i = 0; i < n; ++i) index.emplace(out.tags[i].name, i);

  // condition target of each tag in spec order (npos: none or self)
  constexpr auto none = static_cast<std::size_t>(-1);
  std::vector<std::size_t> target(n, none);
  for (std::size_t i = 0; i < n; ++i) {
    auto& tag = out.tags[i];
    tag.spec_index = i;
    if (tag.condition == condition_kind::other) {
      target[i] = tag.condition_tag;
    } else if (!r.act && r.tags[i].put_condition) {
      const auto& cond = *r.tags[i].put_condition;
      auto it = index.find(cond);
      if (it == index.end())
        fail(first_known(r.tags[i].put_condition_where, r.tags[i].where), r.name, tag.name,
             "put_condition '" + cond + "' names no tag of this rule");
      if (it->second == i) {
        tag.condition = condition_kind::self;
      } else {
        tag.condition = condition_kind::other;
        target[i] = it->second;
      }
    }
  }

  enum class mark : std::uint8_t { unvisited, visiting, done };
  std::vector<mark> marks(n, mark::unvisited);
  std::vector<std::size_t> order;
  order.reserve(n);
  // Iterative DFS along condition edges; the chain from a tag is a path (one
  // condition per tag), so a cycle shows up as a tag met twice on that path.
  for (std::size_t start = 0; start < n; ++start) {
    std::vector<std::size_t> path;
    std::size_t at = start;
    while (at != none && marks[at] == mark::unvisited) {
      marks[at] = mark::visiting;
      path.push_back(at);
      at = target[at];
    }
    if (at != none && marks[at] == mark::visiting) {
      std::string cycle;
      auto from = std::find(path.begin(), path.end(), at);
      for (auto it = from; it != path.end(); ++it) cycle += out.tags[*it].name + " -> ";
      cycle += out.tags[at].name;
      const auto& t = r.tags[at];
      fail(first_known(t.put_condition_where, t.where), r.name, out.tags[at].name,
           "put conditions form a cycle: " + cycle);
    }
    // NOLINTNEXTLINE(modernize-loop-convert): std::views::reverse breaks clang 14 + libstdc++ 12
    for (auto it = path.rbegin(); it != path.rend(); ++it) {
      marks[*it] = mark::done;
      order.push_back(*it);
    }
  }

  std::vector<std::size_t> position(n);
  for (std::size_t k = 0; k < n; ++k) position[order[k]] = k;
  std::vector<compiled_tag> sorted;
  sorted.reserve(n);
  for (std::size_t k = 0; k < n; ++k) {
    compiled_tag tag = std::move(out.tags[order[k]]);
    if (tag.condition == condition_kind::other) tag.condition_tag = position[target[order[k]]];
    sorted.push_back(std::move(tag));
  }
  for (auto& tag : sorted)
    if (tag.condition == condition_kind::other) sorted[tag.condition_tag].feeds_condition = true;
  out.tags = std::move(sorted);
}

}  // namespace detail

/// Validates `s` and compiles it. Throws `spec_error` naming the rule, the tag
/// and the source position of the first problem found.
[[nodiscard]] inline program compile(const spec& s) {
  program prog;
  if (s.rules.empty()) detail::fail(s.where, {}, {}, "the spec has no rules");
  if (s.timestamp && s.timestamp->empty())
    detail::fail(detail::first_known(s.timestamp_where, s.where), {}, {},
                 "'timestamp' names an empty column");
  std::unordered_map<std::string_view, const rule_spec*> seen_rules;
  for (const auto& r : s.rules) {
    const auto& rule_where = detail::first_known(r.where.rule, r.where.name);
    if (r.name.empty()) detail::fail(rule_where, {}, {}, "a rule has an empty name");
    if (auto [it, fresh] = seen_rules.emplace(r.name, &r); !fresh) {
      const auto& first = it->second->where.rule;
      detail::fail(
          rule_where, r.name, {},
          "duplicate rule name" +
              (first.known() ? " (first defined at " + first.to_string() + ")" : std::string()));
    }
    if (r.tags.empty())
      detail::fail(detail::first_known(r.where.tags, rule_where), r.name, {},
                   "needs at least one tag");
    if (r.tags.size() > max_tags_per_rule)
      detail::fail(detail::first_known(r.where.tags, rule_where), r.name, {},
                   "has " + std::to_string(r.tags.size()) + " tags; at most " +
                       std::to_string(max_tags_per_rule) + " are supported");
    std::unordered_map<std::string_view, const tag_spec*> seen_tags;
    for (const auto& t : r.tags) {
      const auto& where = detail::first_known(t.where, rule_where);
      if (t.name.empty()) detail::fail(where, r.name, {}, "a tag has an empty name");
      if (auto [it, fresh] = seen_tags.emplace(t.name, &t); !fresh) {
        const auto& first = it->second->where;
        detail::fail(
            where, r.name, t.name,
            "duplicate tag name" +
                (first.known() ? " (first defined at " + first.to_string() + ")" : std::string()));
      }
    }
    compiled_rule cr;
    cr.name = r.name;
    cr.act = r.act;
    cr.where = rule_where;
    if (r.timespan) {
      const auto& where = detail::first_known(r.where.timespan, rule_where);
      if (r.timespan->count() <= 0) detail::fail(where, r.name, {}, "'timespan' must be positive");
      if (!s.timestamp)
        detail::fail(where, r.name, {},
                     "'timespan' needs the spec's 'timestamp' column (the events' time)");
      cr.timespan = *r.timespan;
    }
    detail::lower_rule(r, cr);
    detail::order_tags(r, cr);
    prog.rules.push_back(std::move(cr));
  }
  if (std::any_of(prog.rules.begin(), prog.rules.end(),
                  [](const compiled_rule& r) { return r.timed(); }))
    prog.timestamp_column = s.timestamp;
  if (const auto cols = prog.columns(); cols.size() > max_key_columns)
    detail::fail(s.where, {}, {},
                 "the spec uses " + std::to_string(cols.size()) +
                     " distinct key columns; at most " + std::to_string(max_key_columns) +
                     " are supported");
  return prog;
}

FLUXCAP_END_NAMESPACE
