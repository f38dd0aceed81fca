// A deliberately naive reference model of semantics section 3 (and of docs/semantics.md,
// "Exclusive carry"), written from the text:
// full string keys in a std::set per group, no forgetting, no hashing, no compile().
// Used by the differential test and the differential fuzz target.
#pragma once

#include <fluxcap/spec.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace fluxcap_test {

using fluxcap::action;
using fluxcap::rule_spec;
using fluxcap::spec;
using fluxcap::tag_spec;

using tag_name = std::pair<std::string, std::string>;                     // (rule, tag)
using tag_set = std::set<tag_name>;                                       // the tags that are true
using column_values = std::map<std::string, std::optional<std::string>>;  // absent: missing

struct stream_event {
  std::size_t group = 0;
  tag_set tags;
  column_values columns;
};

// ---------------------------------------------------------------------------------------
// The reference model

/// What the reference counts while it runs.
struct reference_stats {
  std::uint64_t stores = 0;  ///< remember operations (an upper bound on counted stores)
  /// Rules whose false positives cannot cascade (a recall never leads to a store):
  /// recalls that found nothing, and how often each key was recalled while absent.
  std::uint64_t negative_recalls = 0;
  std::unordered_map<std::string, std::uint64_t> negative_per_key;
};

class reference_model {
 public:
  reference_model(spec s, std::set<std::string> rate_rules)
      : spec_(std::move(s)), rate_rules_(std::move(rate_rules)) {}

  /// Processes one event against `memory` (the group's set of full keys).
  tag_set run(std::set<std::string>& memory, const stream_event& e, reference_stats& stats) const {
    tag_set out = e.tags;
    for (const auto& r : spec_.rules) {
      auto input = [&](const std::string& tag) { return e.tags.count({r.name, tag}) != 0; };
      // Temporal skip rule: a temporal rule none of whose tags is true is left alone.
      if (r.act == action::temporal &&
          std::none_of(r.tags.begin(), r.tags.end(),
                       [&](const tag_spec& t) { return input(t.name); }))
        continue;

      std::vector<bool> done(r.tags.size(), false);
      std::vector<bool> value(r.tags.size(), false);
      auto index_of = [&](const std::string& name) {
        for (std::size_t i = 0; i < r.tags.size(); ++i)
          if (r.tags[i].name == name) return i;
        throw std::logic_error("reference model: unknown tag " + name);
      };
      auto recall = [&](std::size_t i) {
        const auto k = key(r, i, true, e);
        const bool hit = k && memory.count(*k) != 0;
        if (k && !hit && rate_rules_.count(r.name)) {
          ++stats.negative_recalls;
          ++stats.negative_per_key[*k];
        }
        return hit;
      };
      auto remember = [&](std::size_t i) {
        if (const auto k = key(r, i, false, e)) {
          memory.insert(*k);
          ++stats.stores;
        }
      };
      // "No put condition": true -> remembered; false -> recalled.
      auto plain = [&](std::size_t i) {
        if (input(r.tags[i].name)) {
          remember(i);
          return true;
        }
        return recall(i);
      };
      std::function<void(std::size_t)> eval = [&](std::size_t i) {
        if (done[i]) return;
        done[i] = true;
        const auto cond = condition(r, i);
        const std::string& name = r.tags[i].name;
        if (r.act && *r.act != action::temporal && r.exclusive.value_or(false)) {
          // Exclusive carry: the output is the recall alone; the input (for an ancestor,
          // also the recall) is remembered.
          const bool hit = recall(i);
          value[i] = hit;
          if (input(name) || (hit && *r.act == action::ancestor)) remember(i);
        } else if (!cond) {
          value[i] = plain(i);
        } else if (*cond == name) {
          // Put condition = itself: recall first, then remember if true.
          const auto k = key(r, i, true, e);
          value[i] = input(name) || (k && memory.count(*k) != 0);
          if (value[i]) remember(i);
        } else {
          // Put condition = P: P first; P established = recall(P's get key) now.
          const std::size_t p = index_of(*cond);
          eval(p);
          const auto pk = key(r, p, true, e);
          const bool established = pk && memory.count(*pk) != 0;
          value[i] = established ? plain(i) : input(name);
        }
      };
      for (std::size_t i = 0; i < r.tags.size(); ++i) eval(i);
      for (std::size_t i = 0; i < r.tags.size(); ++i) {
        if (value[i])
          out.insert({r.name, r.tags[i].name});
        else
          out.erase({r.name, r.tags[i].name});
      }
    }
    return out;
  }

 private:
  /// The tag's put condition, from the rule's action (section 2) or its low-level field.
  static std::optional<std::string> condition(const rule_spec& r, std::size_t i) {
    if (!r.act) return r.tags[i].put_condition;
    if (*r.act == action::ancestor) return r.tags[i].name;
    if (*r.act == action::temporal && r.ordered.value_or(false) && i > 0) return r.tags[i - 1].name;
    return std::nullopt;
  }

  /// Full key "rule\x1ftag[\x1f=value | \x1f\x1e (null context)]..." or none.
  static std::optional<std::string> key(const rule_spec& r, std::size_t i, bool get,
                                        const stream_event& e) {
    const std::string base = r.name + '\x1f' + r.tags[i].name;
    auto value = [&](const std::string& column) -> std::optional<std::string> {
      const auto it = e.columns.find(column);
      return it == e.columns.end() ? std::nullopt : it->second;
    };
    auto context = [&](std::string k, const std::vector<std::string>& columns) {
      for (const auto& c : columns) {
        const auto v = value(c);
        k += v ? "\x1f=" + *v : std::string("\x1f\x1e");  // null/missing: its own context
      }
      return k;
    };
    auto relation = [&](const std::optional<std::string>& column) -> std::optional<std::string> {
      if (!column) return base;
      const auto v = value(*column);
      if (!v || v->empty()) return std::nullopt;  // no parent / no identity
      return base + "\x1f=" + *v;
    };
    if (!r.act) {
      const auto& t = r.tags[i];
      return relation(get ? t.prefix_get : t.prefix_put);  // null/empty prefix: no key
    }
    if (*r.act == action::temporal)
      return context(base, r.groupby.value_or(std::vector<std::string>{}));
    return relation(get ? r.parent : r.child);
  }

  spec spec_;
  std::set<std::string> rate_rules_;
};

}  // namespace fluxcap_test
