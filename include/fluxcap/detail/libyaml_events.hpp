// YAML parser events from libyaml, delivered to a yaml-cpp EventHandler. The readers
// (fluxcap/yaml.hpp, fluxcap/sigma/yaml.hpp) walk yaml-cpp trees, but yaml-cpp's own
// parser is ~7x slower than libyaml's on SigmaHQ rules (89 ms against 12 ms for the 496
// realdata rule files, bench/README.md "December 2026 (9)"), and rule files are parsed at
// every start of `fluxcap run --rules`. Only the events come from libyaml: tags, nulls and
// anchor numbers are given as yaml-cpp's parser gives them, so the trees are the same.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>

#include <yaml.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdio>
#include <new>
#include <string>
#include <string_view>
#include <unordered_map>

FLUXCAP_BEGIN_NAMESPACE
namespace detail {

/// Parses YAML text (UTF-8, or UTF-16 with a byte order mark) with libyaml and hands each
/// document's events to a yaml-cpp EventHandler, as YAML::Parser::HandleNextDocument does.
/// Syntax errors throw YAML::ParserException; so does nesting deeper than `max_depth`
/// collections (libyaml has no bound of its own; the readers recurse on the trees).
/// Marks are yaml-cpp's: byte offsets, lines and byte columns from 0 (mark_of).
class libyaml_events {
 public:
  static constexpr std::size_t default_max_depth = 2000;
  /// Most directive lines (`%TAG`, `%YAML`) in one text: libyaml compares each new `%TAG`
  /// with every earlier one of its document, and looks every tag up in that list, all
  /// before its first event (where no other bound can act), so a file of directives costs
  /// quadratic time. Rule files and specs use none.
  static constexpr std::size_t max_directives = 256;

  /// `text` must outlive the parser. Throws YAML::ParserException when the text holds more
  /// than max_directives lines starting with '%'.
  explicit libyaml_events(std::string_view text, std::size_t max_depth = default_max_depth)
      : text_(text), max_depth_(max_depth) {
    // libyaml skips a byte order mark without counting it; UTF-16 it decodes.
    if (text.starts_with("\xEF\xBB\xBF")) {
      start_.byte = 3;
    } else if (text.starts_with("\xFE\xFF") || text.starts_with("\xFF\xFE")) {
      utf16_ = text[0] == '\xFE' ? 'B' : 'L';
      start_.byte = 2;
    }
    cursor_ = start_;
    check_directives();
    if (yaml_parser_initialize(&parser_) == 0) throw std::bad_alloc();
    // libyaml asserts a non-null input, which an empty view need not have.
    static constexpr unsigned char empty[1] = {0};
    yaml_parser_set_input_string(
        &parser_,
        text.data() != nullptr ? reinterpret_cast<const unsigned char*>(text.data()) : empty,
        text.size());
  }
  ~libyaml_events() { yaml_parser_delete(&parser_); }
  libyaml_events(const libyaml_events&) = delete;
  libyaml_events& operator=(const libyaml_events&) = delete;

  /// The next document's events; false (and no event) when the stream has no more.
  bool handle_next_document(YAML::EventHandler& handler) {
    if (ended_) return false;
    for (;;) {
      event e(*this);
      if (e->type == YAML_STREAM_END_EVENT) {
        ended_ = true;
        return false;
      }
      if (e->type == YAML_NO_EVENT) throw YAML::ParserException(YAML::Mark(), "no more events");
      if (e->type == YAML_DOCUMENT_START_EVENT) {
        anchors_.clear();
        last_anchor_ = YAML::NullAnchor;
        depth_ = 0;
        handler.OnDocumentStart(mark_of(e->start_mark));
        break;
      }
      // YAML_STREAM_START_EVENT: nothing to hand on.
    }
    for (;;) {
      event e(*this);
      const YAML::Mark mark = mark_of(e->start_mark);
      switch (e->type) {
        case YAML_DOCUMENT_END_EVENT:
          handler.OnDocumentEnd();
          return true;
        case YAML_ALIAS_EVENT:
          handler.OnAlias(mark, find_anchor(e->data.alias.anchor, mark));
          break;
        case YAML_SCALAR_EVENT: {
          const auto& s = e->data.scalar;
          const YAML::anchor_t anchor = add_anchor(s.anchor);
          const std::string_view value(reinterpret_cast<const char*>(s.value), s.length);
          // yaml-cpp: an untagged plain scalar is tagged "?" (null when it reads as one),
          // an untagged quoted or block scalar "!".
          if (s.tag == nullptr && s.style == YAML_PLAIN_SCALAR_STYLE && is_null_text(value)) {
            handler.OnNull(mark, anchor);
          } else {
            handler.OnScalar(mark, tag_of(s.tag, s.style == YAML_PLAIN_SCALAR_STYLE ? "?" : "!"),
                             anchor, std::string(value));
          }
          break;
        }
        case YAML_SEQUENCE_START_EVENT: {
          const auto& s = e->data.sequence_start;
          const YAML::anchor_t anchor = add_anchor(s.anchor);
          deeper(mark);
          handler.OnSequenceStart(mark, tag_of(s.tag, "?"), anchor,
                                  s.style == YAML_FLOW_SEQUENCE_STYLE ? YAML::EmitterStyle::Flow
                                                                      : YAML::EmitterStyle::Block);
          break;
        }
        case YAML_SEQUENCE_END_EVENT:
          --depth_;
          handler.OnSequenceEnd();
          break;
        case YAML_MAPPING_START_EVENT: {
          const auto& m = e->data.mapping_start;
          const YAML::anchor_t anchor = add_anchor(m.anchor);
          deeper(mark);
          handler.OnMapStart(mark, tag_of(m.tag, "?"), anchor,
                             m.style == YAML_FLOW_MAPPING_STYLE ? YAML::EmitterStyle::Flow
                                                                : YAML::EmitterStyle::Block);
          break;
        }
        case YAML_MAPPING_END_EVENT:
          --depth_;
          handler.OnMapEnd();
          break;
        case YAML_NO_EVENT:  // only after an error, which threw; never spin on it
          throw YAML::ParserException(mark, "no more events");
        default:  // stream and document starts and ends cannot occur here
          break;
      }
    }
  }

 private:
  /// One parsed event, freed when it goes out of scope.
  class event {
   public:
    explicit event(libyaml_events& p) {
      if (yaml_parser_parse(&p.parser_, &e_) == 0) p.fail();
    }
    ~event() { yaml_event_delete(&e_); }
    event(const event&) = delete;
    event& operator=(const event&) = delete;
    const yaml_event_t* operator->() const noexcept { return &e_; }

   private:
    yaml_event_t e_{};
  };

  /// A place in the text: libyaml's character index, and the byte offset, line and
  /// byte column that yaml-cpp would give (lines end at '\n' only).
  struct position {
    std::size_t index = 0, byte = 0, line = 0, column = 0;
  };

  /// libyaml's mark as yaml-cpp's: a byte offset, lines ended by '\n' alone (libyaml also
  /// ends them at a lone '\r' and at Unicode line separators, which editors and grep
  /// don't), columns in bytes. Event marks come in text order, so one cursor walks the
  /// text once; an earlier mark (an error's context) walks it again from the start.
  /// In UTF-16 text (libyaml decodes it) columns count characters.
  YAML::Mark mark_of(const yaml_mark_t& m) {
    YAML::Mark out;
    if (m.index < cursor_.index) cursor_ = start_;
    while (cursor_.index < m.index && cursor_.byte < text_.size()) {
      std::size_t width = 0;
      bool newline = false;
      if (utf16_ == 0) {
        const auto c = static_cast<unsigned char>(text_[cursor_.byte]);
        width = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        newline = c == '\n';
      } else {
        // A code unit, or a surrogate pair; columns count characters here.
        const unsigned unit = cursor_.byte + 1 < text_.size() ? unit_at(cursor_.byte) : 0U;
        width = unit >= 0xD800 && unit <= 0xDBFF ? 4 : 2;
        newline = unit == '\n';
      }
      if (newline) {
        ++cursor_.line;
        cursor_.column = 0;
      } else {
        cursor_.column += utf16_ == 0 ? width : 1;
      }
      cursor_.byte += width;
      ++cursor_.index;
    }
    out.pos = clamp_int(cursor_.byte);
    out.line = clamp_int(cursor_.line);
    out.column = clamp_int(cursor_.column);
    return out;
  }
  static int clamp_int(std::size_t n) {
    return static_cast<int>(std::min<std::size_t>(n, INT_MAX));
  }

  /// The place of byte `offset`: lines ended by '\n' (a code unit in UTF-16), the column
  /// in bytes from the line's start (or the byte order mark's end).
  [[nodiscard]] YAML::Mark byte_mark(std::size_t offset) const noexcept {
    std::size_t line = 0;
    std::size_t line_start = std::min(start_.byte, offset);
    const std::size_t step = utf16_ == 0 ? 1 : 2;
    for (std::size_t i = line_start; i + step <= offset; i += step) {
      if (utf16_ == 0 ? text_[i] == '\n' : unit_at(i) == '\n') {
        ++line;
        line_start = i + step;
      }
    }
    YAML::Mark mark;
    mark.pos = clamp_int(offset);
    mark.line = clamp_int(line);
    mark.column = clamp_int(offset - line_start);
    return mark;
  }

  /// The UTF-16 code unit at byte `i` (i + 1 in the text).
  [[nodiscard]] unsigned unit_at(std::size_t i) const noexcept {
    const unsigned a = static_cast<unsigned char>(text_[i]);
    const unsigned b = static_cast<unsigned char>(text_[i + 1]);
    return utf16_ == 'B' ? (a << 8U | b) : (b << 8U | a);
  }

  /// Refuses a text with more than max_directives lines starting with '%' (a directive
  /// starts a line; a line break is LF, CR, NEL, LS or PS, as for libyaml). Some such
  /// lines may be text inside a quoted or block scalar: counting them too errs on the
  /// safe side.
  void check_directives() const {
    std::size_t count = 0;
    const auto found = [&](std::size_t at) {
      if (++count <= max_directives) return;
      throw YAML::ParserException(byte_mark(at),
                                  "more than " + std::to_string(max_directives) +
                                      " lines starting with '%' (YAML directives; limit)");
    };
    if (utf16_ == 0) {
      bool line_start = true;
      for (std::size_t i = start_.byte; i < text_.size(); ++i) {
        const auto c = static_cast<unsigned char>(text_[i]);
        if (c == '%' && line_start) found(i);
        // LF, CR, and the last byte of NEL (C2 85), LS (E2 80 A8) and PS (E2 80 A9).
        line_start =
            c == '\n' || c == '\r' || (c == 0x85 && i > 0 && text_[i - 1] == '\xC2') ||
            ((c == 0xA8 || c == 0xA9) && i > 1 && text_[i - 1] == '\x80' && text_[i - 2] == '\xE2');
      }
    } else {
      bool line_start = true;
      for (std::size_t i = start_.byte; i + 1 < text_.size(); i += 2) {
        const unsigned u = unit_at(i);
        if (u == '%' && line_start) found(i);
        line_start = u == '\n' || u == '\r' || u == 0x85 || u == 0x2028 || u == 0x2029;
      }
    }
  }

  static bool is_null_text(std::string_view v) {
    return v.empty() || v == "~" || v == "null" || v == "Null" || v == "NULL";
  }

  static std::string tag_of(const yaml_char_t* tag, const char* untagged) {
    return tag != nullptr ? std::string(reinterpret_cast<const char*>(tag)) : untagged;
  }

  /// yaml-cpp numbers a document's anchors from 1 as they are defined; a name defined
  /// again refers to its latest node from there on.
  YAML::anchor_t add_anchor(const yaml_char_t* name) {
    if (name == nullptr) return YAML::NullAnchor;
    const YAML::anchor_t id = ++last_anchor_;
    anchors_[reinterpret_cast<const char*>(name)] = id;
    return id;
  }
  YAML::anchor_t find_anchor(const yaml_char_t* name, const YAML::Mark& mark) const {
    const auto it = anchors_.find(reinterpret_cast<const char*>(name));
    if (it == anchors_.end())
      throw YAML::ParserException(mark, "the referenced anchor is not defined");
    return it->second;
  }

  void deeper(const YAML::Mark& mark) {
    if (++depth_ > max_depth_)
      throw YAML::ParserException(
          mark, "collections nested deeper than " + std::to_string(max_depth_) + " levels (limit)");
  }

  /// libyaml's error as a ParserException at its place.
  [[noreturn]] void fail() {
    if (parser_.error == YAML_MEMORY_ERROR) throw std::bad_alloc();
    const char* problem = parser_.problem != nullptr ? parser_.problem : "malformed YAML";
    if (parser_.error == YAML_READER_ERROR) {
      // An encoding error: libyaml gives a byte offset (the text is not valid there, so
      // characters cannot be trusted): the place in bytes (byte_mark).
      const YAML::Mark mark = byte_mark(std::min(parser_.problem_offset, text_.size()));
      std::string message = problem;
      if (parser_.problem_value >= 0) {
        char byte[16];
        std::snprintf(byte, sizeof byte, " (0x%02X)", static_cast<unsigned>(parser_.problem_value));
        message += byte;
      }
      throw YAML::ParserException(mark, message);
    }
    // "did not find expected ',' or ']' while parsing a flow sequence that starts at
    // line 1, column 8"
    std::string message = problem;
    if (parser_.context != nullptr) {
      const YAML::Mark context = mark_of(parser_.context_mark);
      message += std::string(" ") + parser_.context + " that starts at line " +
                 std::to_string(context.line + 1) + ", column " +
                 std::to_string(context.column + 1);
    }
    throw YAML::ParserException(mark_of(parser_.problem_mark), message);
  }

  std::string_view text_;
  std::size_t max_depth_;
  yaml_parser_t parser_{};
  bool ended_ = false;
  char utf16_ = 0;  ///< 'B' or 'L': UTF-16 big or little endian (a byte order mark)
  position start_, cursor_;
  std::size_t depth_ = 0;
  YAML::anchor_t last_anchor_ = YAML::NullAnchor;
  std::unordered_map<std::string, YAML::anchor_t> anchors_;
};

/// Whether a libyaml syntax error is an unclosed flow collection: in JSON-like YAML,
/// usually a missing ',' between entries.
[[nodiscard]] inline bool is_unclosed_flow_error(std::string_view message) {
  return message.starts_with("did not find expected ',' or ']'") ||
         message.starts_with("did not find expected ',' or '}'");
}

}  // namespace detail
FLUXCAP_END_NAMESPACE
