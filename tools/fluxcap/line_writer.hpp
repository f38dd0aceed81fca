// The JSON Lines line writer of the fluxcap tool: copies the input bytes, replacing
// only the values of the rules the flux capacitor rewrote (and adding what must be
// added), so every other byte of the line, including rules left untouched, is written
// exactly as it came in.
#pragma once

#include "json_event.hpp"
#include "json_schema.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fluxcap_cli {

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
