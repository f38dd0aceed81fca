#include "spec_file.hpp"

// yaml-cpp 0.7's node/impl.h trips GCC 12's -Wdangling-pointer (a false positive in a
// system header that GCC reports at the inlining site).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#endif
#include <fluxcap/yaml.hpp>
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic pop
#endif

#include <chrono>
#include <cstdint>
#include <utility>

namespace fluxcap_cli {

namespace {

loaded_spec compile_document(std::string path, fluxcap::yaml::document doc) {
  loaded_spec out{std::move(path), std::move(doc.spec), {}, {}};
  out.prog = fluxcap::compile(out.spec);
  for (auto& c : doc.conditions) {
    std::string rule = c.rule.empty() ? c.name : c.rule;
    try {
      fluxcap::condition expr = fluxcap::condition::parse(c.text, rule);
      out.detections.push_back({std::move(c.name), std::move(rule), std::move(c.text),
                                std::move(c.where), std::move(expr)});
    } catch (const fluxcap::condition_error& e) {
      // parse_spec_file already reports these with exact positions; kept as a guard.
      throw fluxcap::spec_error(c.where, {}, {}, "condition '" + c.name + "': " + e.what());
    }
  }
  return out;
}

}  // namespace

loaded_spec load_spec(const std::string& path) {
  return compile_document(path, fluxcap::yaml::parse_spec_file(path));
}

loaded_spec load_spec_text(std::string_view text, const std::string& name) {
  return compile_document(name, fluxcap::yaml::parse_spec_string(text, name));
}

namespace {

std::string key_text(const fluxcap::compiled_rule& rule, const fluxcap::compiled_tag& tag,
                     const fluxcap::key_recipe& recipe, bool get) {
  std::string out = rule.name + "." + tag.name;
  for (const auto& col : recipe.columns) out += ".<" + col + ">";
  if (recipe.columns.empty()) return out;
  std::string cols;
  for (const auto& col : recipe.columns) cols += (cols.empty() ? "" : ", ") + col;
  if (recipe.role == fluxcap::key_role::relation)
    out += get ? "  (nothing recalled when " + cols + " is null, missing or empty)"
               : "  (nothing remembered when " + cols + " is null, missing or empty)";
  else
    out += "  (a null or missing " + cols + " is a context of its own)";
  return out;
}

std::string rule_header(const fluxcap::rule_spec& r, const fluxcap::compiled_rule& c) {
  std::string out = "rule " + r.name + " (";
  if (!c.act) {
    out += "low-level";
  } else {
    out += fluxcap::to_string(*c.act);
    if (*c.act == fluxcap::action::temporal) {
      out += r.ordered.value_or(false) ? ", ordered" : ", unordered";
      if (r.groupby && !r.groupby->empty()) {
        out += ", groupby ";
        for (std::size_t i = 0; i < r.groupby->size(); ++i)
          out += (i ? ", " : "") + (*r.groupby)[i];
      }
    } else {
      out +=
          ", parent column " + r.parent.value_or("?") + ", child column " + r.child.value_or("?");
      if (r.exclusive.value_or(false)) out += ", exclusive";
    }
  }
  return out + ")";
}

std::string dot_id(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

/// A timespan in its largest whole unit (300000 ms: "5m").
std::string timespan_text(std::chrono::milliseconds span) {
  const std::int64_t ms = span.count();
  for (const auto& [unit, scale] : {std::pair{"d", 86'400'000LL}, std::pair{"h", 3'600'000LL},
                                    std::pair{"m", 60'000LL}, std::pair{"s", 1000LL}})
    if (ms % scale == 0) return std::to_string(ms / scale) + unit;
  return std::to_string(ms) + "ms";
}

}  // namespace

std::string describe_program(const loaded_spec& s) {
  std::string out;
  out += "spec " + s.path + ": " + std::to_string(s.prog.rules.size()) + " rules, " +
         std::to_string(s.prog.tag_count()) + " tags, " + std::to_string(s.detections.size()) +
         " conditions\n";
  for (std::size_t i = 0; i < s.prog.rules.size(); ++i) {
    const auto& rule = s.prog.rules[i];
    out += "\n" + rule_header(s.spec.rules[i], rule) + "\n";
    if (rule.skip_unless_tagged)
      out += "  left untouched on events that carry none of its tags (temporal skip rule)\n";
    if (rule.timed())
      out += "  timespan " + timespan_text(rule.timespan) +
             ": recalled only by events within it "
             "of the store (time from column " +
             *s.prog.timestamp_column + ")\n";
    out += "  tags in evaluation order:\n";
    for (std::size_t t = 0; t < rule.tags.size(); ++t) {
      const auto& tag = rule.tags[t];
      out += "  " + std::to_string(t + 1) + ". " + tag.name + "\n";
      out += "       get " + key_text(rule, tag, tag.get, true) + "\n";
      out += "       put " + key_text(rule, tag, tag.put, false) + "\n";
      switch (tag.condition) {
        case fluxcap::condition_kind::none:
          break;
        case fluxcap::condition_kind::self:
          out += "       put condition: itself (recalled first, then remembered when true)\n";
          break;
        case fluxcap::condition_kind::exclusive:
          out +=
              "       exclusive: output is the recall only (the parent's tag, never the "
              "event's own); remembered when true on input\n";
          break;
        case fluxcap::condition_kind::exclusive_self:
          out +=
              "       exclusive: output is the recall only (an ancestor's tag, never the "
              "event's own); remembered when true on input or recalled\n";
          break;
        case fluxcap::condition_kind::other: {
          const auto& cond = rule.tags[tag.condition_tag].name;
          out += "       put condition: ";
          out += cond;
          out += " (remembered and recalled only once ";
          out += cond;
          out += " is established)\n";
          break;
        }
      }
    }
  }
  fluxcap::program keys_only = s.prog;
  keys_only.timestamp_column.reset();
  const auto columns = keys_only.columns();
  out += "\nkey columns:";
  if (columns.empty()) out += " (none)";
  for (std::size_t i = 0; i < columns.size(); ++i) out += (i ? ", " : " ") + columns[i];
  out += "\n";
  if (s.prog.timestamp_column) out += "timestamp column: " + *s.prog.timestamp_column + "\n";
  if (!s.detections.empty()) {
    out += "\nconditions (evaluated after the flux update, listed in this order):\n";
    for (const auto& d : s.detections) {
      out += "  " + d.name + "\n";
      out += "       text:   " + d.text + "\n";
      out += "       parsed: " + d.expr.to_string() + "\n";
    }
  }
  return out;
}

std::string dependency_graph(const loaded_spec& s) {
  std::string out = "digraph fluxcap {\n  rankdir=LR;\n  node [shape=box];\n";
  std::string edges;
  for (std::size_t i = 0; i < s.prog.rules.size(); ++i) {
    const auto& rule = s.prog.rules[i];
    std::string label = rule.name + " (";
    label += rule.act ? std::string(fluxcap::to_string(*rule.act)) : std::string("low-level");
    if (s.spec.rules[i].ordered.value_or(false)) label += ", ordered";
    if (s.spec.rules[i].exclusive.value_or(false)) label += ", exclusive";
    label += ")";
    out += "  subgraph " + dot_id("cluster_" + std::to_string(i)) + " {\n";
    out += "    label=" + dot_id(label) + ";\n";
    for (const auto& tag : rule.tags) {
      const std::string id = dot_id(rule.name + "." + tag.name);
      out += "    " + id + " [label=" + dot_id(tag.name) + "];\n";
      std::string from;  // the tag whose establishment gates this one
      if (tag.condition == fluxcap::condition_kind::self ||
          tag.condition == fluxcap::condition_kind::exclusive_self) {
        from = id;
      } else if (tag.condition == fluxcap::condition_kind::other) {
        std::string name = rule.name;
        name += '.';
        name += rule.tags[tag.condition_tag].name;
        from = dot_id(name);
      }
      if (!from.empty()) edges.append("  ").append(from).append(" -> ").append(id).append(";\n");
    }
    out += "  }\n";
  }
  return out + edges + "}\n";
}

}  // namespace fluxcap_cli
