// The JSON Lines line parser (line_parser.hpp).
#include "line_parser.hpp"

#include "json_text.hpp"

#include <simdjson.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <bit>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace fluxcap_cli {

namespace od = simdjson::ondemand;

#define FLUXCAP_CLI_STRINGIFY2(x) #x
#define FLUXCAP_CLI_STRINGIFY(x) FLUXCAP_CLI_STRINGIFY2(x)
const char* simdjson_version() noexcept {
  return FLUXCAP_CLI_STRINGIFY(SIMDJSON_VERSION);
}

namespace {

using json_text::is_digit;
using json_text::is_space;
using json_text::trim_right;
using json_text::valid_number;

constexpr bool is_hex(char c) noexcept {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/// The group key by a plain scan of the top-level object, for the common line (no
/// escape in the keys before the field or in its value): 1 found or absent (`key` set
/// as line_processor forms it), 0 when it cannot tell (the caller asks simdjson). On a
/// valid line the answer is the full parse's; on an invalid one it does not matter.
int scan_group_key(std::string_view line, std::string_view name, std::string& key) {
  const char* p = line.data();
  const char* const end = p + line.size();
  const auto ws = [&] {
    while (p < end && is_space(*p)) ++p;
    return p < end;
  };
  // The end of the string whose opening quote is at `q`, or nullptr; `escaped` tells
  // whether it holds a backslash.
  const auto string_end = [&](const char* q, bool& escaped) -> const char* {
    const char* c = q + 1;
    const void* hit = std::memchr(c, '"', static_cast<std::size_t>(end - c));
    if (hit == nullptr) return nullptr;
    const auto* quote = static_cast<const char*>(hit);
    escaped = std::memchr(c, '\\', static_cast<std::size_t>(quote - c)) != nullptr;
    if (!escaped) return quote;
    for (; c < end; ++c) {  // the quote found may be escaped
      if (*c == '\\') {
        ++c;
      } else if (*c == '"') {
        return c;
      }
    }
    return nullptr;
  };
  if (!ws() || *p != '{') return 0;
  ++p;
  for (;;) {
    if (!ws()) return 0;
    if (*p == '}') return 1;  // absent
    if (*p != '"') return 0;
    bool escaped = false;
    const char* key_end = string_end(p, escaped);
    if (key_end == nullptr || escaped) return 0;
    const std::string_view field(p + 1, static_cast<std::size_t>(key_end - p - 1));
    p = key_end + 1;
    if (!ws() || *p != ':') return 0;
    ++p;
    if (!ws()) return 0;
    if (field == name) {
      if (*p == '"') {
        const char* v_end = string_end(p, escaped);
        if (v_end == nullptr || escaped) return 0;
        key = '=';
        key.append(p + 1, v_end);
        return 1;
      }
      if (*p == '{' || *p == '[') return 0;
      const char* t = p;
      while (t < end && *t != ',' && *t != '}' && !is_space(*t)) ++t;
      const std::string_view token(p, static_cast<std::size_t>(t - p));
      if (token != "null") {
        key = '=';
        key.append(token);
      }
      return 1;
    }
    // Skip the value.
    if (*p == '"') {
      const char* v_end = string_end(p, escaped);
      if (v_end == nullptr) return 0;
      p = v_end + 1;
    } else if (*p == '{' || *p == '[') {
      std::size_t depth = 0;
      do {
        if (*p == '"') {
          const char* s_end = string_end(p, escaped);
          if (s_end == nullptr) return 0;
          p = s_end;
        } else if (*p == '{' || *p == '[') {
          ++depth;
        } else if (*p == '}' || *p == ']') {
          --depth;
        }
        ++p;
      } while (depth > 0 && p < end);
      if (depth > 0) return 0;
    } else {
      while (p < end && *p != ',' && *p != '}' && !is_space(*p)) ++p;
    }
    if (!ws()) return 0;
    if (*p == '}') return 1;  // absent
    if (*p != ',') return 0;
    ++p;
  }
}

unsigned hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return static_cast<unsigned>(c - '0');
  if (c >= 'a' && c <= 'f') return static_cast<unsigned>(c - 'a' + 10);
  return static_cast<unsigned>(c - 'A' + 10);
}

/// The code unit of `\uXXXX` at `p` (pointing at the backslash), or -1 if malformed.
long utf16_unit(const char* p) noexcept {
  if (p[0] != '\\' || p[1] != 'u') return -1;
  unsigned v = 0;
  for (int i = 2; i < 6; ++i) {
    if (!is_hex(p[i])) return -1;
    v = v * 16 + hex_value(p[i]);
  }
  return static_cast<long>(v);
}

/// Checks the escapes of a string whose body starts at `p` (after the opening quote;
/// stage 1 guarantees the string is closed and free of control characters), as
/// strictly as simdjson unescapes strings: a `\u` surrogate must be a valid pair.
/// Returns the position after the closing quote, or nullptr on a bad escape.
const char* scan_string(const char* p) noexcept {
  for (;;) {
#if defined(__SSE2__)
    // 16 bytes at a time to the next quote or backslash. The reads stay within the line
    // and its padding: the string is closed before the line ends, and the padding
    // (simdjson's, 64 bytes) is longer than a read.
    for (;;) {
      const __m128i chunk = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      const int stops = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(chunk, _mm_set1_epi8('"')),
                                                       _mm_cmpeq_epi8(chunk, _mm_set1_epi8('\\'))));
      if (stops != 0) {
        p += std::countr_zero(static_cast<unsigned>(stops));
        break;
      }
      p += 16;
    }
#endif
    const char c = *p;
    if (c == '"') return p + 1;
    if (c != '\\') {
      ++p;
      continue;
    }
    switch (p[1]) {
      case '"':
      case '\\':
      case '/':
      case 'b':
      case 'f':
      case 'n':
      case 'r':
      case 't':
        p += 2;
        break;
      case 'u': {
        const long unit = utf16_unit(p);
        if (unit < 0 || (unit >= 0xdc00 && unit <= 0xdfff)) return nullptr;
        if (unit >= 0xd800 && unit <= 0xdbff) {
          const long low = utf16_unit(p + 6);
          if (low < 0xdc00 || low > 0xdfff) return nullptr;
          p += 6;
        }
        p += 6;
        break;
      }
      default:
        return nullptr;
    }
  }
}

}  // namespace

namespace {
std::string shorten(std::string_view s) {
  constexpr std::size_t max = 40;
  if (s.size() <= max) return std::string(s);
  return std::string(s.substr(0, max)) + "...";
}

}  // namespace

std::string quote_name(std::string_view s) {
  std::string out(1, '\'');
  out += shorten(s);
  out += '\'';
  return out;
}

// simdjson On-Demand finds the tokens, but it is not a validating parser: it may
// accept some malformed documents (e.g. `{"a":"b":1}}`). So the parser below checks
// the grammar itself around the tokens On-Demand reports: every key, ':' and ','
// must be exactly where the previous token says, every container must close where
// its last element ends, scalars are checked against the JSON grammar, and only
// whitespace may follow the top-level object. A line is accepted only when this
// chain accounts for every one of its bytes.
struct line_parser::impl {
  impl(const json_schema& s, line_limits l) : schema(&s), limits(l), seen(64) {}

  const json_schema* schema;
  line_limits limits;
  od::parser parser;
  od::document doc;
  std::string* problem = nullptr;
  const char* line_end = nullptr;
  std::vector<const json_schema::top_field*> seen;
  std::vector<std::string_view> tag_names;  ///< scratch of duplicate_tag

  bool bad(std::string message) {
    *problem = std::move(message);
    return false;
  }
  bool bad_json(simdjson::error_code e) {
    return bad(std::string("not valid JSON (") + simdjson::error_message(e) + ")");
  }
  bool bad_json(const char* what) { return bad(std::string("not valid JSON (") + what + ")"); }
  bool bad_structure(const char* at) {
    if (at >= line_end) return bad_json("unexpected end of line");
    const char c = *at;
    std::string what = "unexpected ";
    if (static_cast<unsigned char>(c) < 0x20 || c == '\'') {
      what += "character";
    } else {
      what += '\'';
      what += c;
      what += '\'';
    }
    what += " at byte " + std::to_string(at - (line_end - line_size) + 1);
    return bad_json(what.c_str());
  }
  std::size_t line_size = 0;

  const char* skip_ws(const char* p) const noexcept {
    while (p < line_end && is_space(*p)) ++p;
    return p;
  }

  bool validate_scalar(std::string_view tok, const char*& end) {
    const std::string_view t = trim_right(tok);
    bool ok = false;
    switch (t.front()) {
      case '"': {
        const char* after = scan_string(t.data() + 1);
        if (after == nullptr) return bad_json("invalid escape in a string");
        ok = after == t.data() + t.size();
        break;
      }
      case 't':
        ok = t == "true";
        break;
      case 'f':
        ok = t == "false";
        break;
      case 'n':
        ok = t == "null";
        break;
      default:
        ok = valid_number(t);
    }
    if (!ok) return bad_json(("unexpected " + quote_name(t)).c_str());
    end = t.data() + t.size();
    return true;
  }

  /// Iterates object `o`, whose '{' is at `open`, checking the grammar between its
  /// tokens. `on_field(field&, const char*& value_end)` handles (and must consume or
  /// validate) each value. Sets `end` just past the closing '}'.
  template <class OnField>
  bool walk_object(od::object& o, const char* open, OnField&& on_field, const char*& end) {
    const char* expect = skip_ws(open + 1);
    bool closed = false;
    for (auto fr : o) {
      od::field f;
      if (const auto e = std::move(fr).get(f)) return bad_json(e);
      if (closed) return bad_structure(expect);
      const char* quote = f.key().raw() - 1;
      if (quote != expect || *quote != '"') return bad_structure(expect);
      const char* key_end = scan_string(quote + 1);
      if (key_end == nullptr) return bad_json("invalid escape in a key");
      const char* colon = skip_ws(key_end);
      if (colon >= line_end || *colon != ':') return bad_structure(colon);
      const char* value = skip_ws(colon + 1);
      if (f.value().raw_json_token().data() != value) return bad_structure(value);
      const char* value_end = nullptr;
      if (!on_field(f, value_end)) return false;
      const char* sep = skip_ws(value_end);
      if (sep < line_end && *sep == ',') {
        expect = skip_ws(sep + 1);
      } else if (sep < line_end && *sep == '}') {
        closed = true;
        end = sep + 1;
      } else {
        return bad_structure(sep);
      }
    }
    if (!closed) {
      if (expect >= line_end || *expect != '}') return bad_structure(expect);
      if (expect != skip_ws(open + 1)) return bad_structure(expect);  // a ',' before '}'
      end = expect + 1;
    }
    return true;
  }

  template <class OnItem>
  bool walk_array(od::array& a, const char* open, OnItem&& on_item, const char*& end) {
    const char* expect = skip_ws(open + 1);
    bool closed = false;
    for (auto er : a) {
      od::value item;
      // get() is &&-qualified in simdjson: the move is what makes the call valid.
      if (const auto e = std::move(er).get(item))  // NOLINT(performance-move-const-arg)
        return bad_json(e);
      if (closed) return bad_structure(expect);
      if (item.raw_json_token().data() != expect) return bad_structure(expect);
      const char* item_end = nullptr;
      if (!on_item(item, item_end)) return false;
      const char* sep = skip_ws(item_end);
      if (sep < line_end && *sep == ',') {
        expect = skip_ws(sep + 1);
      } else if (sep < line_end && *sep == ']') {
        closed = true;
        end = sep + 1;
      } else {
        return bad_structure(sep);
      }
    }
    if (!closed) {
      if (expect >= line_end || *expect != ']') return bad_structure(expect);
      if (expect != skip_ws(open + 1)) return bad_structure(expect);
      end = expect + 1;
    }
    return true;
  }

  bool too_deep() {
    return bad("nesting deeper than " + std::to_string(limits.max_depth) +
               " levels of objects and arrays");
  }

  /// Validates a whole value (every byte of it), and sets `end` past it. `depth`: the
  /// nesting level of the value (a member of the event object is at level 2).
  bool validate(od::value& v, const char*& end, std::size_t depth) {
    const std::string_view tok = v.raw_json_token();
    if (tok.empty()) return bad_json("empty value");
    if ((tok.front() == '{' || tok.front() == '[') && depth > limits.max_depth) return too_deep();
    if (tok.front() == '{') {
      od::object o;
      if (const auto e = v.get_object().get(o)) return bad_json(e);
      return walk_object(
          o, tok.data(),
          [&](od::field& f, const char*& value_end) {
            return validate(f.value(), value_end, depth + 1);
          },
          end);
    }
    if (tok.front() == '[') {
      od::array a;
      if (const auto e = v.get_array().get(a)) return bad_json(e);
      return walk_array(
          a, tok.data(),
          [&](od::value& item, const char*& item_end) {
            return validate(item, item_end, depth + 1);
          },
          end);
    }
    return validate_scalar(tok, end);
  }

  bool read_column(od::value& v, std::optional<std::string_view>& out, const char*& end) {
    const std::string_view tok = v.raw_json_token();
    if (tok.empty()) return bad_json("empty value");
    if (tok.front() == '"') {
      if (!validate_scalar(tok, end)) return false;
      std::string_view s;
      if (const auto e = v.get_string().get(s)) return bad_json(e);
      out = s;
      return true;
    }
    if (!validate(v, end, 2)) return false;
    if (tok.front() != 'n')
      out = std::string_view(tok.data(), static_cast<std::size_t>(end - tok.data()));
    return true;
  }

  bool parse_tags(od::value& rv, std::string_view rule, std::uint32_t spec_rule, json_event& ev,
                  const char*& end) {
    const std::string& field = schema->fields().tags_field;
    const std::string_view rtok = rv.raw_json_token();
    if (rtok.empty()) return bad_json("empty value");
    if (rtok.front() != '{') {
      if (!validate(rv, end, 3)) return false;
      return bad("tag map " + quote_name(field) + ": rule " + quote_name(rule) +
                 " is not an object");
    }
    od::object ro;
    if (const auto e = rv.get_object().get(ro)) return bad_json(e);
    return walk_object(
        ro, rtok.data(),
        [&](od::field& tf, const char*& value_end) {
          std::string_view tag;
          if (const auto e = tf.unescaped_key().get(tag)) return bad_json(e);
          od::value& tv = tf.value();
          const std::string_view t = trim_right(tv.raw_json_token());
          bool b = false;
          if (t == "true") {
            b = true;
          } else if (t != "false") {
            if (t.empty()) return bad_json("empty value");
            if (!validate(tv, value_end, 4)) return false;
            return bad("tag map " + quote_name(field) + ": rule " + quote_name(rule) + ": tag " +
                       quote_name(tag) + " is not a boolean (" + shorten(t) + ")");
          }
          value_end = t.data() + t.size();
          if (ev.entries.size() >= limits.max_tags)
            return bad("tag map " + quote_name(field) + " has more than " +
                       std::to_string(limits.max_tags) + " tags");
          std::uint32_t spec_tag = json_schema::none;
          if (spec_rule != json_schema::none) {
            spec_tag = schema->find_tag(spec_rule, tag);
            if (spec_tag != json_schema::none) {
              if (ev.present[spec_tag])
                return bad("tag map " + quote_name(field) + ": rule " + quote_name(rule) +
                           ": duplicate tag " + quote_name(tag));
              ev.present[spec_tag] = 1;
              ev.value[spec_tag] = b ? 1 : 0;
            }
          }
          ev.entries.push_back({tag, spec_tag, b});
          return true;
        },
        end);
  }

  /// A tag the rule `in` gives twice (spec'd tags are checked as they are read).
  std::optional<std::string_view> duplicate_tag(const json_event& ev,
                                                const json_event::input_rule& in) {
    tag_names.clear();
    for (std::uint32_t i = 0; i < in.entry_count; ++i) {
      const auto& e = ev.entries[in.first_entry + i];
      if (e.spec_tag == json_schema::none) tag_names.push_back(e.name);
    }
    std::sort(tag_names.begin(), tag_names.end());
    const auto it = std::adjacent_find(tag_names.begin(), tag_names.end());
    if (it == tag_names.end()) return std::nullopt;
    return *it;
  }

  bool parse_tag_map(od::value& v, json_event& ev, const char*& end) {
    const std::string& field = schema->fields().tags_field;
    const std::string_view tok = v.raw_json_token();
    if (tok.empty()) return bad_json("empty value");
    if (tok.front() != '{') {
      if (!validate(v, end, 2)) return false;
      if (tok.front() == 'n') {
        ev.map = json_event::map_kind::null;
        ev.map_begin = tok.data();
        ev.map_end = end;
        return true;
      }
      return bad("tag map " + quote_name(field) + " is not an object");
    }
    od::object m;
    if (const auto e = v.get_object().get(m)) return bad_json(e);
    ev.map = json_event::map_kind::object;
    ev.map_begin = tok.data();
    ev.map_last = tok.data() + 1;
    const bool ok = walk_object(
        m, tok.data(),
        [&](od::field& f, const char*& value_end) {
          std::string_view rule;
          if (const auto e = f.unescaped_key().get(rule)) return bad_json(e);
          const std::uint32_t spec_rule = schema->find_rule(rule);
          if (spec_rule != json_schema::none && ev.spec_rule_at[spec_rule] != json_schema::none)
            return bad("tag map " + quote_name(field) + ": duplicate rule " + quote_name(rule));
          // A rule a post-flux condition reads: it must not be given twice, nor any of its
          // tags (the condition would have to pick one value, JSON readers another).
          bool read = spec_rule != json_schema::none && schema->read_by_condition(spec_rule);
          if (spec_rule == json_schema::none) {
            if (const std::uint32_t slot = schema->read_rule_slot(rule);
                slot != json_schema::none) {
              if (ev.read_rule_seen[slot] != 0)
                return bad("tag map " + quote_name(field) + ": duplicate rule " + quote_name(rule) +
                           " (a condition reads it)");
              ev.read_rule_seen[slot] = 1;
              read = true;
            }
          }
          json_event::input_rule in;
          in.name = rule;
          in.spec_rule = spec_rule;
          in.first_entry = static_cast<std::uint32_t>(ev.entries.size());
          in.begin = f.value().raw_json_token().data();
          if (!parse_tags(f.value(), rule, spec_rule, ev, value_end)) return false;
          in.end = value_end;
          in.entry_count = static_cast<std::uint32_t>(ev.entries.size()) - in.first_entry;
          if (read && in.entry_count > 1)
            if (const auto dup = duplicate_tag(ev, in))
              return bad("tag map " + quote_name(field) + ": rule " + quote_name(rule) +
                         ": duplicate tag " + quote_name(*dup) + " (a condition reads the rule)");
          if (spec_rule != json_schema::none)
            ev.spec_rule_at[spec_rule] = static_cast<std::uint32_t>(ev.rules.size());
          ev.map_last = value_end;
          ev.rules.push_back(in);
          return true;
        },
        end);
    if (!ok) return false;
    ev.map_end = end;
    return true;
  }

  /// The group key of `line` as line_processor builds it ('=' and the value; empty for
  /// null or missing), found without validating the line. False when that needs a full
  /// parse: a JSON error, or an object or array as the value.
  bool peek_group_key(std::string_view line, std::size_t readable, std::string& key) {
    key.clear();
    if (schema->group_column() == json_schema::none) return true;
    if (scan_group_key(line, *schema->fields().group_key, key) == 1) return true;
    key.clear();
    if (parser.iterate(simdjson::padded_string_view(line.data(), line.size(), readable)).get(doc))
      return false;
    od::object top;
    if (doc.get_object().get(top)) return false;
    const std::string& name = *schema->fields().group_key;
    for (auto fr : top) {
      od::field f;
      if (std::move(fr).get(f)) return false;
      std::string_view k;
      if (f.unescaped_key().get(k)) return false;
      if (k != name) continue;  // On-Demand skips the unread value
      const std::string_view tok = f.value().raw_json_token();
      if (tok.empty() || tok.front() == '{' || tok.front() == '[') return false;
      if (tok.front() == '"') {
        std::string_view s;
        if (f.value().get_string().get(s)) return false;
        key += '=';
        key.append(s);
        return true;
      }
      const std::string_view t = trim_right(tok);
      if (t != "null") {
        key += '=';
        key.append(t);
      }
      return true;  // the first occurrence: a second one makes the line bad anyway
    }
    return true;
  }

  bool parse(std::string_view line, std::size_t readable, json_event& ev) {
    ev.reset();
    line_end = line.data() + line.size();
    line_size = line.size();
    if (const auto e =
            parser.iterate(simdjson::padded_string_view(line.data(), line.size(), readable))
                .get(doc))
      return bad_json(e);
    od::json_type type;
    if (const auto e = doc.type().get(type)) return bad_json(e);
    if (type != od::json_type::object) return bad("not a JSON object");
    od::object top;
    if (const auto e = doc.get_object().get(top)) return bad_json(e);
    const char* open = skip_ws(line.data());
    ev.top_last = open + 1;

    std::fill(seen.begin(), seen.end(), nullptr);
    std::size_t seen_count = 0;
    const char* end = nullptr;
    const bool ok = walk_object(
        top, open,
        [&](od::field& f, const char*& value_end) {
          std::string_view key;
          if (const auto e = f.unescaped_key().get(key)) return bad_json(e);
          od::value& v = f.value();
          const json_schema::top_field* role = schema->find_top(key);
          if (role == nullptr) {
            if (!validate(v, value_end, 2)) return false;
          } else {
            for (std::size_t i = 0; i < seen_count; ++i)
              if (seen[i] == role) return bad("duplicate field " + quote_name(key));
            if (seen_count == seen.size()) seen.resize(seen.size() * 2);
            seen[seen_count++] = role;
            if (role->tags) {
              if (!parse_tag_map(v, ev, value_end)) return false;
            } else if (role->detections) {
              ev.detections_begin = v.raw_json_token().data();
              if (!validate(v, value_end, 2)) return false;
              ev.detections_end = value_end;
            } else if (!read_column(v, ev.columns[role->column], value_end)) {
              return false;
            }
          }
          ev.top_last = value_end;
          ev.top_empty = false;
          return true;
        },
        end);
    if (!ok) return false;
    // Only whitespace may follow the object.
    if (const char* rest = skip_ws(end); rest != line_end)
      return bad_json("trailing content after the object");
    return true;
  }
};

line_parser::line_parser(const json_schema& schema, line_limits limits)
    : impl_(std::make_unique<impl>(schema, limits)) {}
line_parser::~line_parser() = default;

std::size_t line_parser::padding() noexcept {
  return simdjson::SIMDJSON_PADDING;
}

bool line_parser::parse(std::string_view line, std::size_t readable, json_event& event,
                        std::string& problem) {
  impl_->problem = &problem;
  if (impl_->parse(line, readable, event)) return true;
  // simdjson reads a NUL byte as the end of the text: name it rather than let its message
  // ("ended early", "improper structure") mislead.
  if (const void* nul = std::memchr(line.data(), '\0', line.size())) {
    const auto at = static_cast<std::size_t>(static_cast<const char*>(nul) - line.data());
    std::string before_problem;
    impl_->problem = &before_problem;
    const bool object_before = at > 0 && impl_->parse(line.substr(0, at), readable, event);
    impl_->problem = &problem;
    const std::string where = "a NUL byte at byte " + std::to_string(at + 1);
    if (object_before)
      problem = "not valid JSON (" + where + ", after the object)";
    else
      problem += "; " + where;
  }
  return false;
}

bool line_parser::peek_group_key(std::string_view line, std::size_t readable, std::string& key) {
  return impl_->peek_group_key(line, readable, key);
}

}  // namespace fluxcap_cli
