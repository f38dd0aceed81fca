// The JSON Lines line parser of the fluxcap tool (simdjson On-Demand, checked to the
// JSON grammar): a line into a json_event, or the reason it is a bad line.
#pragma once

#include "json_event.hpp"
#include "json_schema.hpp"

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace fluxcap_cli {

/// The simdjson version the tool was built with.
[[nodiscard]] const char* simdjson_version() noexcept;

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

}  // namespace fluxcap_cli
