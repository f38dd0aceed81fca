// The event path of `fluxcap run --rules`, one line at a time: read the fields the Sigma
// rules need (json_fields, which validates what it reads), group, run the Sigma engine,
// write the line with its detections. The same interface as line_processor (process.hpp),
// so run.cpp's loops and parallel_lines drive either.
#pragma once

#include "line_parser.hpp"
#include "process.hpp"
#include "sigma_fields.hpp"

#include <fluxcap/group_state.hpp>
#include <fluxcap/hash.hpp>
#include <fluxcap/memory.hpp>
#include <fluxcap/sigma/compile.hpp>
#include <fluxcap/sigma/describe.hpp>
#include <fluxcap/sigma/engine.hpp>
#include <fluxcap/sigma/regex.hpp>
#include <fluxcap/state_store.hpp>

#ifdef FLUXCAP_TOOL_HAS_PCRE2
#include <fluxcap/sigma/pcre2.hpp>
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace fluxcap_cli {

/// The regex engine of the tool's Sigma rules: PCRE2 when the build has it.
#ifdef FLUXCAP_TOOL_HAS_PCRE2
using sigma_regex = fluxcap::sigma::pcre2_engine;
#else
using sigma_regex = fluxcap::sigma::no_regex;
#endif

/// Compiled rules and what every processor of a run shares.
struct sigma_rule_set {
  fluxcap::sigma::compiled_rules compiled;
  /// Each rule's identity as a JSON string (escaped once, at load).
  std::vector<std::string> identity_json;
  std::string detections_field;  ///< the output array's name (top-level key)
  /// Items needing a field the profile never has (printed by `check`).
  std::vector<fluxcap::sigma::field_warning> warnings;
};

/// A Sigma-mode field name as a one-segment path: dots and backslashes escaped, so
/// that a top-level key "a.b" is read as such (the spec mode's --detections-field is a
/// top-level key too).
[[nodiscard]] inline std::string top_level_path(std::string_view key) {
  std::string path;
  for (const char c : key) {
    if (c == '.' || c == '\\') path += '\\';
    path += c;
  }
  return path;
}

namespace sigma_detail {

/// The span of the value of top-level key `name` in `line`, a JSON object that
/// json_fields accepted. Only used on the rare lines that already hold the detections
/// field. Every step is bounded by the line; nullopt if the scan gets lost.
struct value_span {
  std::size_t begin = 0;
  std::size_t end = 0;
};

inline std::size_t skip_ws(std::string_view s, std::size_t i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  return i;
}

/// The end of the JSON string starting at `i` (its opening quote), past the closing one.
inline std::optional<std::size_t> skip_string(std::string_view s, std::size_t i) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\')
      ++i;
    else if (s[i] == '"')
      return i + 1;
  }
  return std::nullopt;
}

inline unsigned hex_digit(char c) {
  if (c >= '0' && c <= '9') return static_cast<unsigned>(c - '0');
  if (c >= 'a' && c <= 'f') return static_cast<unsigned>(c - 'a' + 10);
  if (c >= 'A' && c <= 'F') return static_cast<unsigned>(c - 'A' + 10);
  return 16;
}

inline void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

/// The unescaped text of a JSON string's inside (a key with escapes).
inline std::string unescape(std::string_view raw) {
  std::string out;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '\\' || i + 1 >= raw.size()) {
      out += raw[i];
      continue;
    }
    const char c = raw[++i];
    switch (c) {
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        const auto code = [&](std::size_t at) -> std::uint32_t {
          if (at + 4 > raw.size()) return 0xffffffffU;
          std::uint32_t v = 0;
          for (std::size_t k = 0; k < 4; ++k) {
            const unsigned d = hex_digit(raw[at + k]);
            if (d > 15) return 0xffffffffU;
            v = v * 16 + d;
          }
          return v;
        };
        std::uint32_t cp = code(i + 1);
        if (cp == 0xffffffffU) return out;
        i += 4;
        if (cp >= 0xd800 && cp < 0xdc00 && i + 2 < raw.size() && raw[i + 1] == '\\' &&
            raw[i + 2] == 'u') {
          const std::uint32_t low = code(i + 3);
          if (low >= 0xdc00 && low < 0xe000) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
            i += 6;
          }
        }
        append_utf8(out, cp);
        break;
      }
      default:
        out += c;  // \" \\ \/
    }
  }
  return out;
}

inline std::optional<value_span> find_top_level_value(std::string_view s, std::string_view name) {
  std::size_t i = skip_ws(s, 0);
  if (i >= s.size() || s[i] != '{') return std::nullopt;
  i = skip_ws(s, i + 1);
  while (i < s.size() && s[i] == '"') {
    const auto key_end = skip_string(s, i);
    if (!key_end) return std::nullopt;
    const std::string_view raw = s.substr(i + 1, *key_end - i - 2);
    const bool match =
        raw.find('\\') == std::string_view::npos ? raw == name : unescape(raw) == name;
    i = skip_ws(s, *key_end);
    if (i >= s.size() || s[i] != ':') return std::nullopt;
    const std::size_t begin = skip_ws(s, i + 1);
    std::size_t j = begin;
    std::size_t depth = 0;
    while (j < s.size()) {
      const char c = s[j];
      if (c == '"') {
        const auto e = skip_string(s, j);
        if (!e) return std::nullopt;
        j = *e;
        if (depth == 0) break;
        continue;
      }
      if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (depth == 0) break;
        if (--depth == 0) {
          ++j;
          break;
        }
      } else if (depth == 0 && (c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n')) {
        break;
      }
      ++j;
    }
    if (match) return value_span{begin, j};
    i = skip_ws(s, j);
    if (i < s.size() && s[i] == ',') i = skip_ws(s, i + 1);
  }
  return std::nullopt;
}

}  // namespace sigma_detail

/// What the state file code (state_files, fluxcap::save_store/load_store) needs of a
/// capacitor: the memory's geometry and the hash. The Sigma engine's flux capacitor is
/// built from the same memory and hash, so states encode and decode identically.
template <class Memory>
class sigma_state_codec {
 public:
  using state_type = fluxcap::group_state;
  using hash_type = fluxcap::default_hash;
  sigma_state_codec(const Memory& memory, const fluxcap::hash_key& key)
      : memory_(&memory), hash_(key) {}
  [[nodiscard]] const Memory& memory() const noexcept { return *memory_; }
  [[nodiscard]] const hash_type& hash() const noexcept { return hash_; }
  [[nodiscard]] fluxcap::group_state make_state() const { return memory_->make_state(); }

 private:
  const Memory* memory_;
  hash_type hash_;
};

/// Runs lines through the Sigma engine and its group states.
template <class Memory>
class sigma_line_processor {
 public:
  using engine_type =
      fluxcap::sigma::engine<json_fields, Memory, sigma_regex, fluxcap::default_hash>;
  using capacitor_type = sigma_state_codec<Memory>;
  using store_type = bounded_groups::store_type;
  enum class outcome : std::uint8_t { blank, event, bad };

  /// An accessor with every path the engine binds (so that the engine's copy and the
  /// processors' copies agree on the handles), plus the detections field (last).
  [[nodiscard]] static json_fields bound_fields(const sigma_rule_set& rules,
                                                const json_fields_limits& limits) {
    using fluxcap::sigma::field_path;
    json_fields f(limits);
    const auto& c = rules.compiled;
    for (const auto& path : c.fields) (void)f.field_handle_for(field_path::parse(path));
    (void)f.field_handle_for(field_path::parse(c.group_path));
    (void)f.field_handle_for(field_path::parse(c.id_path));
    (void)f.field_handle_for(field_path::parse(c.parent_id_path));
    (void)f.field_handle_for(field_path::parse(top_level_path(rules.detections_field)));
    if (c.uses_keywords) f.enable_all_strings();
    return f;
  }

  /// `rules`, `engine` (built from `rules.compiled` and a copy of `fields`) and `memory`
  /// must outlive the processor; the engine is shared (it is const). `fields`:
  /// bound_fields(rules, field_limits). `key`: the run's hash key (the engine's too).
  sigma_line_processor(const sigma_rule_set& rules, const engine_type& engine,
                       const json_fields& fields, const Memory& memory, const event_limits& limits,
                       const fluxcap::hash_key& key, const json_fields_limits& field_limits)
      : rules_(&rules),
        fields_(fields),
        group_fields_(field_limits),
        engine_(&engine),
        codec_(memory, key),
        groups_(codec_.make_state(), limits),
        scratch_(engine.make_scratch()) {
    using fluxcap::sigma::field_path;
    detections_handle_ =
        fields_.field_handle_for(field_path::parse(top_level_path(rules.detections_field)));
    group_handle_ = group_fields_.field_handle_for(field_path::parse(rules.compiled.group_path));
  }

  [[nodiscard]] const capacitor_type& capacitor() const noexcept { return codec_; }
  void set_group_budget(std::uint64_t n) noexcept { groups_.set_budget(n); }
  [[nodiscard]] store_type& store() noexcept { return groups_.store(); }
  void forget_current_group() noexcept { groups_.forget_current(); }
  void set_group_backend(group_backend* backend) noexcept { groups_.set_backend(backend); }
  /// As line_processor's; --rules runs give the groups no event times (--state-ttl is
  /// refused with them), so there is nothing to bound.
  void set_time_ceiling(std::int64_t) noexcept {}

  /// With write-through on, `process` leaves out of `out` an event line of at least
  /// min_write_through bytes that it would copy unchanged (nothing fired, no detections
  /// field to replace), and `unchanged()` says so: the caller writes the line itself.
  void set_write_through(bool on) noexcept { write_through_ = on; }
  [[nodiscard]] bool unchanged() const noexcept { return unchanged_; }
  /// Shorter lines are copied: for them a write entry of their own costs more.
  static constexpr std::size_t min_write_through = 256;

  /// The group key `process` would use for `line` ('=' and the value; empty when absent,
  /// null or not a scalar): read with an accessor bound to the group path alone. False
  /// for a blank line and for a line that does not parse (`key` is then empty).
  bool group_key_of(std::string_view line, std::size_t readable, std::string& key) {
    key.clear();
    if (is_blank_line(line)) return false;
    if (!group_fields_.parse(line, readable, group_event_, scratch_problem_)) return false;
    bool found = false;
    group_fields_.read(group_event_, group_handle_, [&](fluxcap::sigma::field_value v) {
      if (found || !fluxcap::sigma::detail::value_has_text(v.kind)) return;
      found = true;
      key += '=';
      key.append(v.text);
    });
    return true;
  }

  /// As line_processor::process: an event or a blank line appends its output line,
  /// without '\n', to `out`; a bad line appends nothing, changes no memory and sets
  /// `problem`.
  outcome process(std::string_view line, std::size_t readable, std::string& out,
                  std::string& problem) {
    unchanged_ = false;
    if (is_blank_line(line)) {
      out.append(line);
      return outcome::blank;
    }
    if (!fields_.parse(line, readable, event_, problem)) return outcome::bad;

    group_key_.clear();
    if (const auto g = engine_->group_of(event_, scratch_)) {
      group_key_ += '=';
      group_key_.append(*g);
    }
    fluxcap::group_state* group = groups_.select(group_key_, rules_->compiled.group_path, problem);
    if (group == nullptr) return outcome::bad;
    const auto fired = engine_->process(*group, event_, scratch_);
    write(line, fired, out);
    return outcome::event;
  }

 private:
  void write(std::string_view line, std::span<const std::uint32_t> fired, std::string& out) {
    const bool has_field =
        fields_.read(event_, detections_handle_, [](fluxcap::sigma::field_value) {});
    if (has_field) {  // replaced by the array, [] when none fired (as with --spec)
      if (const auto at = sigma_detail::find_top_level_value(line, rules_->detections_field)) {
        out.append(line.substr(0, at->begin));
        append_array(fired, out);
        out.append(line.substr(at->end));
        return;
      }
    }
    if (fired.empty()) {
      if (write_through_ && line.size() >= min_write_through) {
        unchanged_ = true;
        return;
      }
      out.append(line);
      return;
    }
    // Before the final '}' (json_fields accepted the line: one object, then whitespace).
    std::size_t close = line.size();
    while (close > 0 && line[close - 1] != '}') --close;
    if (close == 0) {  // cannot happen for an accepted line; keep it unchanged
      out.append(line);
      return;
    }
    --close;
    std::size_t last = close;  // the last non-blank byte before it
    while (last > 0 && (line[last - 1] == ' ' || line[last - 1] == '\t' || line[last - 1] == '\r' ||
                        line[last - 1] == '\n'))
      --last;
    const bool empty_object = last > 0 && line[last - 1] == '{';
    out.append(line.substr(0, close));
    if (!empty_object) out += ',';
    append_json_string(out, rules_->detections_field);
    out += ':';
    append_array(fired, out);
    out.append(line.substr(close));
  }

  void append_array(std::span<const std::uint32_t> fired, std::string& out) const {
    out += '[';
    for (std::size_t i = 0; i < fired.size(); ++i) {
      if (i > 0) out += ',';
      out += rules_->identity_json[fired[i]];
    }
    out += ']';
  }

  const sigma_rule_set* rules_;
  json_fields fields_;
  json_fields group_fields_;
  json_fields::field_handle detections_handle_ = 0;
  json_fields::field_handle group_handle_ = 0;
  const engine_type* engine_;
  capacitor_type codec_;
  bounded_groups groups_;
  typename engine_type::scratch scratch_;
  json_field_event event_;
  json_field_event group_event_;
  std::string group_key_;
  std::string scratch_problem_;
  bool write_through_ = false;
  bool unchanged_ = false;
};

}  // namespace fluxcap_cli
