// A reference for the tool's Sigma field reader (tools/fluxcap/sigma_fields.hpp), for its
// unit test and its fuzz target: the same line through simdjson's DOM API and a plain
// recursive search that tries every way of joining a path's segments into a key, then
// a comparison of the two answers.
#pragma once

#include "../../tools/fluxcap/sigma_fields.hpp"

#include <simdjson.h>

#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sigma_fields_reference {

using fluxcap::sigma::field_path;
using fluxcap::sigma::value_kind;

struct value {
  value_kind kind = value_kind::null;
  std::string text;  ///< strings and booleans
  simdjson::dom::element number;
};

struct result {
  bool ok = false;         ///< the DOM parser accepted the line as an object
  bool duplicate = false;  ///< a path is found more than once
  std::vector<std::optional<std::vector<value>>> fields;  ///< by handle
  std::vector<std::string> strings;                       ///< every string, in order
};

inline value scalar(simdjson::dom::element e) {
  value v;
  switch (e.type()) {
    case simdjson::dom::element_type::STRING:
      v.kind = value_kind::string;
      v.text = std::string(std::string_view(e));
      break;
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64:
    case simdjson::dom::element_type::DOUBLE:
      v.kind = value_kind::number;
      v.number = e;
      break;
    case simdjson::dom::element_type::BOOL:
      v.kind = value_kind::boolean;
      v.text = bool(e) ? "true" : "false";
      break;
    case simdjson::dom::element_type::NULL_VALUE:
      v.kind = value_kind::null;
      break;
    default:
      v.kind = value_kind::other;
  }
  return v;
}

inline std::vector<value> values_of(simdjson::dom::element e) {
  std::vector<value> out;
  if (e.type() == simdjson::dom::element_type::ARRAY) {
    for (auto item : simdjson::dom::array(e)) out.push_back(scalar(item));
  } else {
    out.push_back(scalar(e));
  }
  return out;
}

/// Every element `path[from..]` reaches in object `o`, trying each run of segments
/// joined by dots as one key.
inline void find(simdjson::dom::object o, const std::vector<std::string>& path, std::size_t from,
                 std::vector<simdjson::dom::element>& found) {
  for (auto [key, child] : o) {
    std::string joined;
    for (std::size_t to = from; to < path.size(); ++to) {
      if (to > from) joined += '.';
      joined += path[to];
      if (key != joined) continue;
      if (to + 1 == path.size()) {
        found.push_back(child);
      } else if (child.type() == simdjson::dom::element_type::OBJECT) {
        find(simdjson::dom::object(child), path, to + 1, found);
      }
    }
  }
}

inline void all_strings(simdjson::dom::element e, std::vector<std::string>& out) {
  switch (e.type()) {
    case simdjson::dom::element_type::STRING:
      out.emplace_back(std::string_view(e));
      break;
    case simdjson::dom::element_type::OBJECT:
      for (auto [key, child] : simdjson::dom::object(e)) all_strings(child, out);
      break;
    case simdjson::dom::element_type::ARRAY:
      for (auto child : simdjson::dom::array(e)) all_strings(child, out);
      break;
    default:
      break;
  }
}

/// The reference answer; `parser` must outlive the result (numbers point into it).
inline result read(simdjson::dom::parser& parser, std::string_view line,
                   const std::vector<field_path>& paths) {
  result r;
  simdjson::dom::element doc;
  if (parser.parse(line.data(), line.size()).get(doc)) return r;
  if (doc.type() != simdjson::dom::element_type::OBJECT) return r;
  r.ok = true;
  for (const auto& p : paths) {
    std::vector<simdjson::dom::element> found;
    find(simdjson::dom::object(doc), p.segments, 0, found);
    if (found.size() > 1) r.duplicate = true;
    if (found.empty())
      r.fields.emplace_back();
    else
      r.fields.emplace_back(values_of(found.front()));
  }
  all_strings(doc, r.strings);
  return r;
}

/// Whether `text` is the JSON text of the number `e`.
inline bool same_number(std::string_view text, simdjson::dom::element e) {
  const char* end = text.data() + text.size();
  switch (e.type()) {
    case simdjson::dom::element_type::INT64: {
      std::int64_t v = 0;
      const auto [p, ec] = std::from_chars(text.data(), end, v);
      if (ec == std::errc() && p == end) return v == std::int64_t(e);
      break;
    }
    case simdjson::dom::element_type::UINT64: {
      std::uint64_t v = 0;
      const auto [p, ec] = std::from_chars(text.data(), end, v);
      if (ec == std::errc() && p == end) return v == std::uint64_t(e);
      break;
    }
    default:
      break;
  }
  const std::string s(text);
  char* stop = nullptr;
  const double d = std::strtod(s.c_str(), &stop);
  return stop == s.c_str() + s.size() && d == double(e);
}

/// "" when json_fields' answer (`ok`, `problem`, `event`) agrees with the reference
/// `ref`, else what differs.
inline std::string compare(const fluxcap_cli::json_fields& fields, bool ok,
                           const std::string& problem, const fluxcap_cli::json_field_event& event,
                           const result& ref) {
  if (!ref.ok) return "";  // any outcome but a crash: On-Demand checks less than DOM
  if (ref.duplicate) {
    if (ok) return "accepted a line with a duplicate path";
    if (problem.rfind("duplicate field", 0) != 0) return "duplicate reported as: " + problem;
    return "";
  }
  if (!ok) return "rejected a line the DOM accepts: " + problem;
  for (std::uint32_t h = 0; h < fields.paths().size(); ++h) {
    std::vector<fluxcap::sigma::field_value> got;
    const bool present =
        fields.read(event, h, [&](fluxcap::sigma::field_value v) { got.push_back(v); });
    const auto& want = ref.fields[h];
    const std::string where = "path '" + fields.paths()[h].text + "': ";
    if (present != want.has_value()) return where + (present ? "present" : "absent");
    if (!present) continue;
    if (got.size() != want->size())
      return where + std::to_string(got.size()) + " values, want " + std::to_string(want->size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      const auto& w = (*want)[i];
      if (got[i].kind != w.kind) return where + "kind of value " + std::to_string(i);
      switch (w.kind) {
        case value_kind::string:
        case value_kind::boolean:
          if (got[i].text != w.text) return where + "text of value " + std::to_string(i);
          break;
        case value_kind::number:
          if (!same_number(got[i].text, w.number))
            return where + "number '" + std::string(got[i].text) + "'";
          break;
        default:
          if (!got[i].text.empty()) return where + "text of a null/other value";
      }
    }
  }
  std::vector<std::string> strings;
  fields.for_each_string(event, [&](std::string_view s) { strings.emplace_back(s); });
  if (fields.all_strings_enabled() && strings != ref.strings) return "all strings differ";
  if (!fields.all_strings_enabled() && !strings.empty()) return "strings not asked for";
  return "";
}

}  // namespace sigma_fields_reference
