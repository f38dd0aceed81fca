// JSON Lines events for the fluxcap tool: the event type, its fluxcap accessor,
// the line parser (simdjson On-Demand) and the line writer.
//
// A line is parsed once. Per line the event records, for every spec'd (rule, tag),
// its input value; for every rule of the tag map, its raw byte range and tags (for
// the post-flux conditions); and the byte ranges the writer may replace. The writer
// then copies the input bytes, replacing only the values of the rules the flux
// capacitor rewrote (and adding what must be added), so every other byte of the
// line, including rules left untouched, is written exactly as it came in.
#pragma once

#include <fluxcap/program.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace fluxcap_cli {

/// The simdjson version the tool was built with.
[[nodiscard]] const char* simdjson_version() noexcept;

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

/// `s` in single quotes, shortened to 40 bytes and "...", for messages.
std::string quote_name(std::string_view s);

/// Bounds on what one line may hold (docs/cli.md, "Limits"); a line beyond them is bad.
struct line_limits {
  /// Most tags in the tag map, all rules together.
  std::size_t max_tags = 10000;
  /// Deepest nesting of objects and arrays (the event object is level 1). The parser
  /// recurses once a level, so this keeps the stack bounded.
  std::size_t max_depth = 1024;
};

/// Parses lines into json_events. One parser is reused for every line.
class line_parser {
 public:
  explicit line_parser(const json_schema& schema, line_limits limits = {});
  ~line_parser();
  line_parser(const line_parser&) = delete;
  line_parser& operator=(const line_parser&) = delete;

  /// Extra readable bytes the parser needs after a line (simdjson's padding).
  static std::size_t padding() noexcept;

  /// Parses `line` (no newline) into `event`. `readable` bytes are readable from
  /// `line.data()`, at least `line.size() + padding()`. Returns false and sets
  /// `problem` for a bad line.
  bool parse(std::string_view line, std::size_t readable, json_event& event, std::string& problem);

  /// The group key of `line` (as line_processor forms it), without validating the rest
  /// of the line: for routing lines to threads by group. False when it takes a full
  /// parse (see line_processor::group_key_of).
  bool peek_group_key(std::string_view line, std::size_t readable, std::string& key);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Writes output lines: the input bytes with the rewritten rules spliced in.
class line_writer {
 public:
  /// `detection_names`: the conditions' names, in spec order.
  line_writer(const json_schema& schema, const std::vector<std::string>& detection_names);

  /// Appends the output for `event` (parsed from `line`) to `out`, without newline.
  /// `fired`: indices of the matching conditions, ascending.
  void write(std::string_view line, const json_event& event,
             const std::vector<std::uint32_t>& fired, std::string& out);

 private:
  struct edit {
    const char* begin;
    const char* end;
    std::size_t text_begin;
    std::size_t text_end;
  };
  void emit_rule(const json_event& event, std::uint32_t spec_rule);
  void emit_added_rules(const json_event& event, bool comma_first);
  void emit_detections(const std::vector<std::uint32_t>& fired);

  const json_schema* schema_;
  std::vector<std::string> detection_json_;
  std::string tags_field_json_;
  std::string detections_field_json_;
  std::vector<edit> edits_;
  std::string text_;
};

}  // namespace fluxcap_cli
