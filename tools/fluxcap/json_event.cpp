// The JSON Lines event and its accessor (json_event.hpp).
#include "json_event.hpp"

#include <algorithm>

namespace fluxcap_cli {

// ---------------------------------------------------------------------------------------
// json_event

json_event::json_event(const json_schema& schema)
    : value(schema.tag_count()),
      present(schema.tag_count()),
      touched(schema.rules().size()),
      spec_rule_at(schema.rules().size(), json_schema::none),
      columns(schema.column_count()),
      read_rule_seen(schema.read_rule_slots()),
      schema_(&schema) {}

void json_event::reset() noexcept {
  std::fill(value.begin(), value.end(), std::uint8_t{0});
  std::fill(present.begin(), present.end(), std::uint8_t{0});
  std::fill(touched.begin(), touched.end(), std::uint8_t{0});
  std::fill(spec_rule_at.begin(), spec_rule_at.end(), json_schema::none);
  std::fill(columns.begin(), columns.end(), std::nullopt);
  std::fill(read_rule_seen.begin(), read_rule_seen.end(), std::uint8_t{0});
  rules.clear();
  entries.clear();
  map = map_kind::absent;
  map_begin = map_end = map_last = nullptr;
  detections_begin = detections_end = nullptr;
  top_last = nullptr;
  top_empty = true;
}

std::optional<bool> json_event::lookup(std::string_view rule, std::string_view tag, std::uint32_t r,
                                       std::uint32_t t) const {
  auto search = [&](const input_rule& in) -> std::optional<bool> {
    for (std::uint32_t i = 0; i < in.entry_count; ++i) {
      const auto& e = entries[in.first_entry + i];
      if (e.name == tag) return e.value;
    }
    return std::nullopt;
  };
  if (r == json_schema::none) {
    for (const auto& in : rules)
      if (in.spec_rule == json_schema::none && in.name == rule) return search(in);
    return std::nullopt;
  }
  if (t != json_schema::none) {
    if (present[t] || touched[r]) return value[t] != 0;
    return std::nullopt;
  }
  const std::uint32_t at = spec_rule_at[r];
  return at == json_schema::none ? std::nullopt : search(rules[at]);
}

// ---------------------------------------------------------------------------------------
// name_resolver

std::uint32_t name_resolver::rule(std::string_view rule) {
  for (const auto& e : rules_)
    if (e.data == rule.data() && e.size == rule.size()) return e.index;
  const std::uint32_t r = schema_->find_rule(rule);
  if (rules_.size() < max_entries) rules_.push_back({rule.data(), rule.size(), 0, r});
  return r;
}

std::uint32_t name_resolver::tag(std::uint32_t r, std::string_view tag) {
  for (const auto& e : tags_)
    if (e.data == tag.data() && e.size == tag.size() && e.scope == r) return e.index;
  const std::uint32_t t = schema_->find_tag(r, tag);
  if (tags_.size() < max_entries) tags_.push_back({tag.data(), tag.size(), r, t});
  return t;
}

}  // namespace fluxcap_cli
