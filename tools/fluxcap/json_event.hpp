// The JSON Lines event of the fluxcap tool and its fluxcap accessor: one parsed line
// (json_event), the accessor the flux capacitor reads and rewrites it through
// (json_accessor), and the name lookups of the post-flux conditions (name_resolver).
//
// A line is parsed once. Per line the event records, for every spec'd (rule, tag),
// its input value; for every rule of the tag map, its raw byte range and tags (for
// the post-flux conditions); and the byte ranges the writer may replace.
#pragma once

#include "json_schema.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace fluxcap_cli {

/// One parsed line. Views point into the line and into the parser's buffers: valid
/// until the next line is parsed.
class json_event {
 public:
  explicit json_event(const json_schema& schema);

  /// A rule of the input tag map.
  struct input_rule {
    std::string_view name;
    std::uint32_t spec_rule = json_schema::none;
    std::uint32_t first_entry = 0;
    std::uint32_t entry_count = 0;
    const char* begin = nullptr;  ///< raw value `{...}`
    const char* end = nullptr;
  };
  /// A tag of the input tag map.
  struct tag_entry {
    std::string_view name;
    std::uint32_t spec_tag = json_schema::none;
    bool value = false;
  };
  enum class map_kind : std::uint8_t { absent, null, object };

  void reset() noexcept;

  // Flux data, per spec'd tag / rule.
  std::vector<std::uint8_t> value;          ///< current value
  std::vector<std::uint8_t> present;        ///< carried by the input
  std::vector<std::uint8_t> touched;        ///< per spec'd rule: rewritten by the flux capacitor
  std::vector<std::uint32_t> spec_rule_at;  ///< per spec'd rule: index in `rules`, or none
  std::vector<std::optional<std::string_view>> columns;
  /// Per json_schema::read_rule_slot: the rule was seen in this line's tag map.
  std::vector<std::uint8_t> read_rule_seen;

  // The input tag map, in input order.
  std::vector<input_rule> rules;
  std::vector<tag_entry> entries;

  // Layout of the line, for the writer.
  map_kind map = map_kind::absent;
  const char* map_begin = nullptr;  ///< the map value (object or null)
  const char* map_end = nullptr;
  const char* map_last = nullptr;  ///< end of the last rule's value, or just after '{'
  const char* detections_begin = nullptr;
  const char* detections_end = nullptr;
  const char* top_last = nullptr;  ///< end of the last top-level value, or just after '{'
  bool top_empty = true;

  /// Post-flux value of `rule.tag` as the output carries it; empty when absent.
  /// `r`: spec'd rule index of `rule` (or none); `t`: flat index of `tag` in it (or none).
  [[nodiscard]] std::optional<bool> lookup(std::string_view rule, std::string_view tag,
                                           std::uint32_t r, std::uint32_t t) const;

  /// Calls `f(tag, value)` for every tag the output carries for `rule` (spec'd rule
  /// index `r`, or none).
  template <class F>
  void for_each_tag(std::string_view rule, std::uint32_t r, F&& f) const {
    if (r == json_schema::none) {
      for (const auto& in : rules)
        if (in.spec_rule == json_schema::none && in.name == rule) {
          for (std::uint32_t i = 0; i < in.entry_count; ++i) {
            const auto& e = entries[in.first_entry + i];
            f(e.name, e.value);
          }
          return;  // a duplicated rule: the first one counts, as for lookup()
        }
      return;
    }
    if (const std::uint32_t at = spec_rule_at[r]; at != json_schema::none) {
      const auto& in = rules[at];
      for (std::uint32_t i = 0; i < in.entry_count; ++i) {
        const auto& e = entries[in.first_entry + i];
        f(e.name, e.spec_tag == json_schema::none ? e.value : value[e.spec_tag] != 0);
      }
    }
    if (touched[r]) {
      const auto& info = schema_->rules()[r];
      for (std::uint32_t t = info.first_tag; t < info.first_tag + info.tag_count; ++t)
        if (!present[t]) f(std::string_view(schema_->tag_name(t)), value[t] != 0);
    }
  }

  [[nodiscard]] const json_schema& schema() const noexcept { return *schema_; }

 private:
  const json_schema* schema_;
};

/// Resolves the rule and tag names a post-flux condition asks for. fluxcap::condition
/// passes names that live in its own storage, at addresses fixed for its lifetime, so
/// each name is looked up in the schema once and then found by address.
class name_resolver {
 public:
  explicit name_resolver(const json_schema& schema) : schema_(&schema) {}

  /// Spec'd rule index of `rule`, or none.
  [[nodiscard]] std::uint32_t rule(std::string_view rule);
  /// Flat index of `tag` in spec'd rule `r` (not none), or none.
  [[nodiscard]] std::uint32_t tag(std::uint32_t r, std::string_view tag);

 private:
  struct entry {
    const char* data;
    std::size_t size;
    std::uint32_t scope;
    std::uint32_t index;
  };
  static constexpr std::size_t max_entries = 4096;
  const json_schema* schema_;
  std::vector<entry> rules_;
  std::vector<entry> tags_;
};

/// The fluxcap event accessor for json_event.
class json_accessor {
 public:
  using event_type = json_event;
  using tag_handle = std::uint32_t;
  using column_handle = std::uint32_t;

  explicit json_accessor(const json_schema& schema) : schema_(&schema) {}

  [[nodiscard]] tag_handle tag_handle_for(std::string_view rule, std::string_view tag) const {
    return schema_->tag_handle(rule, tag);
  }
  [[nodiscard]] column_handle column_handle_for(std::string_view column) const {
    return schema_->column_handle(column);
  }
  [[nodiscard]] bool get_tag(const json_event& e, tag_handle t) const noexcept {
    return e.value[t] != 0;
  }
  void set_tag(json_event& e, tag_handle t, bool v) const noexcept {
    e.value[t] = v ? 1 : 0;
    e.touched[schema_->rule_of_tag(t)] = 1;
  }
  [[nodiscard]] std::optional<std::string_view> get_column(const json_event& e,
                                                           column_handle c) const noexcept {
    return e.columns[c];
  }

 private:
  const json_schema* schema_;
};

}  // namespace fluxcap_cli
