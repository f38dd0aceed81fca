// The JSON Lines schema of the fluxcap tool: the spec's rules, tags and columns,
// numbered once, and the top-level fields the tool reads or writes.
#pragma once

#include <fluxcap/program.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace fluxcap_cli {

/// Appends `s` as a JSON string literal (quotes included) to `out`.
void append_json_string(std::string& out, std::string_view s);

struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};
template <class V>
using name_map = std::unordered_map<std::string, V, string_hash, std::equal_to<>>;

/// The top-level fields the tool reads or writes besides the spec's columns.
struct field_config {
  std::string tags_field = "sigma";
  /// Field listing matched conditions; empty when the spec has no conditions (then
  /// nothing is written and the field, if present, is an ordinary field).
  std::string detections_field;
  /// Column grouping events; empty optional: one group for all events.
  std::optional<std::string> group_key;
  /// Rules the post-flux conditions read (spec'd or not): in these, a tag (or, for a
  /// rule not in the spec, the rule itself) given twice is a bad line, since a
  /// condition would have to pick one of the values.
  std::vector<std::string> condition_rules;
};

/// The spec's rules, tags and columns, numbered once, plus the fields to find per line.
class json_schema {
 public:
  struct rule_info {
    std::string name;
    std::string json_name;  ///< as a JSON string literal
    std::uint32_t first_tag = 0;
    std::uint32_t tag_count = 0;
    name_map<std::uint32_t> tags;  ///< tag name -> flat tag index
  };
  static constexpr std::uint32_t none = 0xffffffffU;

  /// Throws std::invalid_argument when a field name collides with another role.
  json_schema(const fluxcap::program& prog, field_config fields);

  [[nodiscard]] const field_config& fields() const noexcept { return fields_; }
  [[nodiscard]] const std::vector<rule_info>& rules() const noexcept { return rules_; }
  [[nodiscard]] std::size_t tag_count() const noexcept { return tag_rule_.size(); }
  [[nodiscard]] std::size_t column_count() const noexcept { return columns_.size(); }
  [[nodiscard]] std::uint32_t rule_of_tag(std::uint32_t t) const noexcept { return tag_rule_[t]; }
  [[nodiscard]] const std::string& tag_name(std::uint32_t t) const noexcept {
    return tag_names_[t];
  }
  [[nodiscard]] const std::string& tag_json_name(std::uint32_t t) const noexcept {
    return tag_json_names_[t];
  }
  /// Column slot of the group key, or `none`.
  [[nodiscard]] std::uint32_t group_column() const noexcept { return group_column_; }

  /// Whether a post-flux condition reads spec'd rule `r`.
  [[nodiscard]] bool read_by_condition(std::uint32_t r) const noexcept {
    return spec_rule_read_[r] != 0;
  }
  /// Slot of a rule not in the spec that a post-flux condition reads, or `none`.
  [[nodiscard]] std::uint32_t read_rule_slot(std::string_view name) const noexcept;
  [[nodiscard]] std::size_t read_rule_slots() const noexcept { return other_read_.size(); }

  /// Spec'd rule index, or `none`.
  [[nodiscard]] std::uint32_t find_rule(std::string_view name) const noexcept;
  /// Flat index of a spec'd tag of spec'd rule `rule`, or `none`.
  [[nodiscard]] std::uint32_t find_tag(std::uint32_t rule, std::string_view tag) const noexcept;

  // Accessor binding (throws std::invalid_argument for names the spec does not have).
  [[nodiscard]] std::uint32_t tag_handle(std::string_view rule, std::string_view tag) const;
  [[nodiscard]] std::uint32_t column_handle(std::string_view column) const;

  /// What a top-level field is to the tool.
  struct top_field {
    std::string name;
    bool tags = false;
    bool detections = false;
    std::uint32_t column = none;
  };
  [[nodiscard]] const top_field* find_top(std::string_view key) const noexcept;

 private:
  field_config fields_;
  std::vector<rule_info> rules_;
  name_map<std::uint32_t> rule_index_;
  std::vector<std::uint32_t> tag_rule_;
  std::vector<std::string> tag_names_;
  std::vector<std::string> tag_json_names_;
  std::vector<std::string> columns_;
  std::uint32_t group_column_ = none;
  std::vector<std::uint8_t> spec_rule_read_;  ///< per spec'd rule: a condition reads it
  name_map<std::uint32_t> other_read_;        ///< rules not in the spec a condition reads
  std::vector<top_field> top_;
  std::uint64_t top_lengths_ = 0;  ///< bit n: some top field has length n (n < 64; 63: longer)
};

}  // namespace fluxcap_cli
