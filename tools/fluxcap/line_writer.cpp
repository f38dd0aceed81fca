// The JSON Lines line writer (line_writer.hpp).
#include "line_writer.hpp"

#include <algorithm>
#include <utility>

namespace fluxcap_cli {

line_writer::line_writer(const json_schema& schema, const std::vector<std::string>& detection_names)
    : schema_(&schema) {
  for (const auto& name : detection_names) {
    std::string json;
    append_json_string(json, name);
    detection_json_.push_back(std::move(json));
  }
  append_json_string(tags_field_json_, schema.fields().tags_field);
  if (!schema.fields().detections_field.empty())
    append_json_string(detections_field_json_, schema.fields().detections_field);
}

void line_writer::emit_rule(const json_event& ev, std::uint32_t r) {
  const auto& info = schema_->rules()[r];
  text_ += '{';
  bool first = true;
  auto member = [&](std::string_view json_key, bool v) {
    if (!first) text_ += ',';
    first = false;
    text_ += json_key;
    text_ += v ? ":true" : ":false";
  };
  if (const std::uint32_t at = ev.spec_rule_at[r]; at != json_schema::none) {
    const auto& in = ev.rules[at];
    std::string key;
    for (std::uint32_t i = 0; i < in.entry_count; ++i) {
      const auto& e = ev.entries[in.first_entry + i];
      if (e.spec_tag != json_schema::none) {
        member(schema_->tag_json_name(e.spec_tag), ev.value[e.spec_tag] != 0);
      } else {
        key.clear();
        append_json_string(key, e.name);
        member(key, e.value);
      }
    }
  }
  for (std::uint32_t t = info.first_tag; t < info.first_tag + info.tag_count; ++t)
    if (!ev.present[t]) member(schema_->tag_json_name(t), ev.value[t] != 0);
  text_ += '}';
}

void line_writer::emit_added_rules(const json_event& ev, bool comma_first) {
  bool comma = comma_first;
  for (std::uint32_t r = 0; r < schema_->rules().size(); ++r) {
    if (!ev.touched[r] || ev.spec_rule_at[r] != json_schema::none) continue;
    if (comma) text_ += ',';
    comma = true;
    text_ += schema_->rules()[r].json_name;
    text_ += ':';
    emit_rule(ev, r);
  }
}

void line_writer::emit_detections(const std::vector<std::uint32_t>& fired) {
  text_ += '[';
  for (std::size_t i = 0; i < fired.size(); ++i) {
    if (i) text_ += ',';
    text_ += detection_json_[fired[i]];
  }
  text_ += ']';
}

void line_writer::write(std::string_view line, const json_event& ev,
                        const std::vector<std::uint32_t>& fired, std::string& out) {
  edits_.clear();
  text_.clear();
  auto add_edit = [&](const char* begin, const char* end, std::size_t text_begin) {
    edits_.push_back({begin, end, text_begin, text_.size()});
  };

  bool any_touched = false, any_added = false;
  for (std::uint32_t r = 0; r < ev.touched.size(); ++r) {
    if (!ev.touched[r]) continue;
    any_touched = true;
    if (ev.spec_rule_at[r] == json_schema::none) any_added = true;
  }

  bool top_has_members = !ev.top_empty;
  if (any_touched) {
    if (ev.map == json_event::map_kind::object) {
      for (std::uint32_t r = 0; r < ev.touched.size(); ++r) {
        const std::uint32_t at = ev.spec_rule_at[r];
        if (!ev.touched[r] || at == json_schema::none) continue;
        const std::size_t from = text_.size();
        emit_rule(ev, r);
        add_edit(ev.rules[at].begin, ev.rules[at].end, from);
      }
      if (any_added) {
        const std::size_t from = text_.size();
        emit_added_rules(ev, !ev.rules.empty());
        add_edit(ev.map_last, ev.map_last, from);
      }
    } else if (ev.map == json_event::map_kind::null) {
      const std::size_t from = text_.size();
      text_ += '{';
      emit_added_rules(ev, false);
      text_ += '}';
      add_edit(ev.map_begin, ev.map_end, from);
    } else {
      const std::size_t from = text_.size();
      if (top_has_members) text_ += ',';
      text_ += tags_field_json_;
      text_ += ":{";
      emit_added_rules(ev, false);
      text_ += '}';
      add_edit(ev.top_last, ev.top_last, from);
      top_has_members = true;
    }
  }

  if (!detection_json_.empty()) {
    if (ev.detections_begin != nullptr) {
      const std::size_t from = text_.size();
      emit_detections(fired);
      add_edit(ev.detections_begin, ev.detections_end, from);
    } else if (!fired.empty()) {
      const std::size_t from = text_.size();
      if (top_has_members) text_ += ',';
      text_ += detections_field_json_;
      text_ += ':';
      emit_detections(fired);
      add_edit(ev.top_last, ev.top_last, from);
    }
  }

  if (edits_.size() > 1)
    std::stable_sort(edits_.begin(), edits_.end(),
                     [](const edit& a, const edit& b) { return a.begin < b.begin; });
  const char* pos = line.data();
  for (const auto& e : edits_) {
    out.append(pos, static_cast<std::size_t>(e.begin - pos));
    out.append(text_, e.text_begin, e.text_end - e.text_begin);
    pos = e.end;
  }
  out.append(pos, static_cast<std::size_t>(line.data() + line.size() - pos));
}

}  // namespace fluxcap_cli
