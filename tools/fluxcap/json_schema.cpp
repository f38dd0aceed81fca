// The JSON Lines schema of the fluxcap tool (json_schema.hpp).
#include "json_schema.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace fluxcap_cli {

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (u < 0x20) {
          out += "\\u00";
          out += hex[u >> 4];
          out += hex[u & 0xf];
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

// ---------------------------------------------------------------------------------------
// json_schema

json_schema::json_schema(const fluxcap::program& prog, field_config fields)
    : fields_(std::move(fields)) {
  for (const auto& rule : prog.rules) {
    rule_info info;
    info.name = rule.name;
    append_json_string(info.json_name, rule.name);
    info.first_tag = static_cast<std::uint32_t>(tag_rule_.size());
    info.tag_count = static_cast<std::uint32_t>(rule.tags.size());
    std::vector<const fluxcap::compiled_tag*> by_spec(rule.tags.size());
    for (const auto& tag : rule.tags) by_spec[tag.spec_index] = &tag;
    const auto rule_index = static_cast<std::uint32_t>(rules_.size());
    for (const auto* tag : by_spec) {
      const auto flat = static_cast<std::uint32_t>(tag_rule_.size());
      info.tags.emplace(tag->name, flat);
      tag_rule_.push_back(rule_index);
      tag_names_.push_back(tag->name);
      std::string json;
      append_json_string(json, tag->name);
      tag_json_names_.push_back(std::move(json));
    }
    rule_index_.emplace(rule.name, rule_index);
    rules_.push_back(std::move(info));
  }

  spec_rule_read_.assign(rules_.size(), 0);
  for (const auto& name : fields_.condition_rules) {
    if (const std::uint32_t r = find_rule(name); r != none)
      spec_rule_read_[r] = 1;
    else
      other_read_.emplace(name, static_cast<std::uint32_t>(other_read_.size()));
  }

  columns_ = prog.columns();
  if (fields_.group_key) {
    const auto it = std::find(columns_.begin(), columns_.end(), *fields_.group_key);
    group_column_ = static_cast<std::uint32_t>(it - columns_.begin());
    if (it == columns_.end()) columns_.push_back(*fields_.group_key);
  }

  auto clash = [](const std::string& what, const std::string& name, const std::string& other) {
    throw std::invalid_argument(what + " '" + name + "' is also " + other);
  };
  const auto& tags = fields_.tags_field;
  const auto& dets = fields_.detections_field;
  if (!dets.empty() && dets == tags) clash("--detections-field", dets, "the --tags-field");
  for (std::size_t c = 0; c < columns_.size(); ++c) {
    const std::string role = c == group_column_ && c >= prog.columns().size()
                                 ? std::string("the --group-key")
                                 : "a key column of the spec";
    if (columns_[c] == tags) clash("--tags-field", tags, role);
    if (!dets.empty() && columns_[c] == dets) clash("--detections-field", dets, role);
  }

  top_.push_back(top_field{tags, true, false, none});
  if (!dets.empty()) top_.push_back(top_field{dets, false, true, none});
  for (std::size_t c = 0; c < columns_.size(); ++c)
    top_.push_back(top_field{columns_[c], false, false, static_cast<std::uint32_t>(c)});
  for (const auto& f : top_)
    top_lengths_ |= std::uint64_t{1} << std::min<std::size_t>(f.name.size(), 63);
}

std::uint32_t json_schema::find_rule(std::string_view name) const noexcept {
  const auto it = rule_index_.find(name);
  return it == rule_index_.end() ? none : it->second;
}

std::uint32_t json_schema::find_tag(std::uint32_t rule, std::string_view tag) const noexcept {
  const auto& tags = rules_[rule].tags;
  const auto it = tags.find(tag);
  return it == tags.end() ? none : it->second;
}

std::uint32_t json_schema::tag_handle(std::string_view rule, std::string_view tag) const {
  const auto r = find_rule(rule);
  const auto t = r == none ? none : find_tag(r, tag);
  if (t == none)
    throw std::invalid_argument("fluxcap: no tag '" + std::string(rule) + "." + std::string(tag) +
                                "' in the JSON schema");
  return t;
}

std::uint32_t json_schema::column_handle(std::string_view column) const {
  const auto it = std::find(columns_.begin(), columns_.end(), column);
  if (it == columns_.end())
    throw std::invalid_argument("fluxcap: no column '" + std::string(column) +
                                "' in the JSON schema");
  return static_cast<std::uint32_t>(it - columns_.begin());
}

std::uint32_t json_schema::read_rule_slot(std::string_view name) const noexcept {
  if (other_read_.empty()) return none;
  const auto it = other_read_.find(name);
  return it == other_read_.end() ? none : it->second;
}

const json_schema::top_field* json_schema::find_top(std::string_view key) const noexcept {
  if (((top_lengths_ >> std::min<std::size_t>(key.size(), 63)) & 1U) == 0) return nullptr;
  for (const auto& f : top_)
    if (f.name == key) return &f;
  return nullptr;
}

}  // namespace fluxcap_cli
