// Sigma string values: the written text of a rule value parsed into literal runs,
// wildcards and placeholders (design section 4.3; spec "Escape Character" and
// "Placeholders").
//
// Escapes, as the specification and pySigma's SigmaString have them: `\*` is a literal
// `*`, `\?` a literal `?`, `\\` one backslash; a backslash before any other character (or
// at the end) is itself literal, so `C:\Windows` needs no doubling. `\\*` is a backslash
// then a wildcard, `\\\*` a backslash then a literal `*`. With placeholders (the `expand`
// modifier), `%name%` (name: ASCII letters, digits, `_`) is a placeholder and `\%` a
// literal `%`; without them both are plain text (`\%` stays two bytes, as in pySigma).
//
// One deviation from pySigma, deliberate: `\\%name%` with placeholders is a backslash then
// the placeholder (pySigma's look-behind sees the unescaped backslash and keeps
// `%name%` as text, dropping the backslash).
#pragma once

#include <fluxcap/detail/abi_macros.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

FLUXCAP_BEGIN_NAMESPACE

namespace sigma {

/// One run of a parsed Sigma string.
struct glob_piece {
  enum class kind : std::uint8_t {
    literal,     ///< `text`: unescaped bytes, never empty; adjacent literals are merged
    any_run,     ///< `*`: any run of bytes, possibly empty; `text` empty
    any_char,    ///< `?`: exactly one byte; `text` empty
    placeholder  ///< `%name%` (expand): `text` is the name
  };
  kind type = kind::literal;
  std::string text;

  friend bool operator==(const glob_piece&, const glob_piece&) = default;
};

/// A Sigma string value: literal runs, `*`, `?` and placeholders, in order. Invariants:
/// no empty literal, no two adjacent literals (every builder keeps them).
class sigma_string {
 public:
  sigma_string() = default;

  /// Parses a value as written in a rule (see the file comment for the escapes).
  [[nodiscard]] static sigma_string parse(std::string_view written, bool placeholders = false) {
    sigma_string out;
    std::string literal;
    const auto flush = [&] {
      if (!literal.empty()) out.push_literal(std::move(literal));
      literal.clear();
    };
    for (std::size_t at = 0; at < written.size();) {
      const char c = written[at];
      if (c == '\\') {
        const bool has_next = at + 1 < written.size();
        const char next = has_next ? written[at + 1] : '\0';
        if (has_next &&
            (next == '*' || next == '?' || next == '\\' || (placeholders && next == '%'))) {
          literal += next;
          at += 2;
        } else {
          literal += '\\';
          ++at;
        }
      } else if (c == '*' || c == '?') {
        flush();
        out.pieces_.push_back(
            {c == '*' ? glob_piece::kind::any_run : glob_piece::kind::any_char, {}});
        ++at;
      } else if (c == '%' && placeholders) {
        std::size_t end = at + 1;
        while (end < written.size() && is_placeholder_char(written[end])) ++end;
        if (end > at + 1 && end < written.size() && written[end] == '%') {
          flush();
          out.pieces_.push_back(
              {glob_piece::kind::placeholder, std::string(written.substr(at + 1, end - at - 1))});
          at = end + 1;
        } else {
          literal += '%';
          ++at;
        }
      } else {
        literal += c;
        ++at;
      }
    }
    flush();
    return out;
  }

  /// A string of these bytes only, no wildcard (`fieldref` names, encoded values...).
  [[nodiscard]] static sigma_string from_literal(std::string_view bytes) {
    sigma_string out;
    if (!bytes.empty()) out.push_literal(std::string(bytes));
    return out;
  }

  /// A string of these pieces, normalised (empty literals dropped, adjacent ones merged).
  [[nodiscard]] static sigma_string from_pieces(std::vector<glob_piece> pieces) {
    sigma_string out;
    for (auto& piece : pieces) out.push(std::move(piece));
    return out;
  }

  [[nodiscard]] const std::vector<glob_piece>& pieces() const noexcept { return pieces_; }
  [[nodiscard]] bool empty() const noexcept { return pieces_.empty(); }

  /// Only literal pieces (or none): matched by equality, fit for encodings.
  [[nodiscard]] bool is_literal() const noexcept {
    for (const auto& piece : pieces_)
      if (piece.type != glob_piece::kind::literal) return false;
    return true;
  }

  /// Any `*` or `?` (base64 and fieldref refuse them, as in pySigma).
  [[nodiscard]] bool has_wildcards() const noexcept {
    for (const auto& piece : pieces_)
      if (piece.type == glob_piece::kind::any_run || piece.type == glob_piece::kind::any_char)
        return true;
    return false;
  }

  [[nodiscard]] bool has_placeholders() const noexcept {
    for (const auto& piece : pieces_)
      if (piece.type == glob_piece::kind::placeholder) return true;
    return false;
  }

  /// The literal bytes concatenated (wildcards and placeholders skipped).
  [[nodiscard]] std::string literal() const {
    std::string out;
    for (const auto& piece : pieces_)
      if (piece.type == glob_piece::kind::literal) out += piece.text;
    return out;
  }

  /// A leading `*` unless there is one already (`contains`, `endswith`): pySigma does not
  /// double them, so `contains: '*x'` is `*x*`.
  sigma_string& prepend_any_run() {
    if (pieces_.empty() || pieces_.front().type != glob_piece::kind::any_run)
      pieces_.insert(pieces_.begin(), glob_piece{glob_piece::kind::any_run, {}});
    return *this;
  }

  /// A trailing `*` unless there is one already (`contains`, `startswith`).
  sigma_string& append_any_run() {
    if (pieces_.empty() || pieces_.back().type != glob_piece::kind::any_run)
      pieces_.push_back(glob_piece{glob_piece::kind::any_run, {}});
    return *this;
  }

  /// Appends another string's pieces (placeholder expansion), keeping the invariants.
  sigma_string& append(const sigma_string& other) {
    for (const auto& piece : other.pieces_) push(piece);
    return *this;
  }

  /// A copy in which each literal run is replaced by `f(run)` (a std::string): the
  /// encodings, which pySigma applies to literal runs only, wildcards staying wildcards.
  template <class F>
  [[nodiscard]] sigma_string transform_literals(F&& f) const {
    static_assert(std::is_convertible_v<std::invoke_result_t<F&, std::string_view>, std::string>,
                  "transform_literals: f(std::string_view) must return a std::string");
    sigma_string out;
    for (const auto& piece : pieces_) {
      if (piece.type == glob_piece::kind::literal)
        out.push(
            glob_piece{glob_piece::kind::literal, std::string(f(std::string_view(piece.text)))});
      else
        out.push(piece);
    }
    return out;
  }

  /// The canonical written form: `*`, `?` for wildcards, `%name%` for placeholders, and
  /// literal bytes escaped only where needed (`\*`, `\?`, a backslash doubled only before
  /// something special; with placeholders, `\%`). `parse(to_written(), has_placeholders())`
  /// gives back this string.
  [[nodiscard]] std::string to_written() const {
    const bool placeholders = has_placeholders();
    std::string out;
    for (std::size_t p = 0; p < pieces_.size(); ++p) {
      const glob_piece& piece = pieces_[p];
      switch (piece.type) {
        case glob_piece::kind::any_run:
          out += '*';
          break;
        case glob_piece::kind::any_char:
          out += '?';
          break;
        case glob_piece::kind::placeholder:
          out += '%';
          out += piece.text;
          out += '%';
          break;
        case glob_piece::kind::literal:
          for (std::size_t i = 0; i < piece.text.size(); ++i) {
            const char c = piece.text[i];
            if (c == '*' || c == '?' || (placeholders && c == '%')) {
              out += '\\';
              out += c;
            } else if (c == '\\') {
              // Doubled only when the next written character would make it an escape.
              bool special_next = false;
              if (i + 1 < piece.text.size()) {
                const char n = piece.text[i + 1];
                special_next = n == '*' || n == '?' || n == '\\' || (placeholders && n == '%');
              } else {
                special_next = p + 1 < pieces_.size();  // a wildcard or placeholder follows
              }
              out += special_next ? "\\\\" : "\\";
            } else {
              out += c;
            }
          }
          break;
      }
    }
    return out;
  }

  friend bool operator==(const sigma_string&, const sigma_string&) = default;

 private:
  static constexpr bool is_placeholder_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  }

  void push_literal(std::string text) {
    push(glob_piece{glob_piece::kind::literal, std::move(text)});
  }

  void push(glob_piece piece) {
    if (piece.type == glob_piece::kind::literal) {
      if (piece.text.empty()) return;
      if (!pieces_.empty() && pieces_.back().type == glob_piece::kind::literal) {
        pieces_.back().text += piece.text;
        return;
      }
    } else if (piece.type != glob_piece::kind::placeholder) {
      piece.text.clear();
    }
    pieces_.push_back(std::move(piece));
  }

  std::vector<glob_piece> pieces_;
};

}  // namespace sigma

FLUXCAP_END_NAMESPACE
