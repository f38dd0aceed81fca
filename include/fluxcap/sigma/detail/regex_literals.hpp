// Required literals of a regex, for gating (design 4.4): strings that every subject
// matched by the regex contains, found at rule-compile time, so that the engine runs the
// regex only on values where the literal automaton saw them.
//
// Conservative by construction: the literals come from the top-level concatenation of
// the pattern only (e.g. `net` and `user` for `net\s+user$`). Groups, classes, `.`,
// escapes that are not one literal byte, and quantifiers end a literal run; an atom
// repeated at least once (`x+`, `x{2,5}`) still ends the run before it and starts the
// next one (the first copy follows the run, the last precedes the next). Whatever is not
// understood gives no literal at all: a top-level `|`, `(*VERB)`, `(?x)`, `(?#`, `(?C`,
// `\Q`/`\E`, back references, a `{` that is not a quantifier, an unbalanced pattern.
// No literal is always a correct answer (the regex then runs on every value).
//
// Case: when the `i` flag is set or an inline option group may turn on `(?i)` anywhere,
// the literals are ASCII-lowercased and `case_insensitive` is set: they must then be
// found ASCII case-insensitively.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>
#include <fluxcap/sigma/regex.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

FLUXCAP_BEGIN_NAMESPACE

namespace sigma::detail {

struct required_literals {
  /// Every subject the regex matches contains each of these (folded: see below); none
  /// means no gating. No duplicates, none empty, at most `max_literals`.
  std::vector<std::string> literals;
  /// The literals are ASCII-lowercased and must be looked for ASCII case-insensitively.
  bool case_insensitive = false;
  /// The longest literal (the first of equal length), or empty when there is none.
  [[nodiscard]] std::string_view best() const noexcept {
    std::string_view b;
    for (const auto& l : literals) {
      if (l.size() > b.size()) b = l;
    }
    return b;
  }
};

inline constexpr std::size_t max_required_literals = 16;

namespace regex_literal_parse {

constexpr bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}
constexpr bool is_alnum(char c) noexcept {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
constexpr char ascii_lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

/// Scans the raw text for constructs this parser does not model. Returns false to give up;
/// sets `fold` when an inline option group may contain `i`.
inline bool prescan(std::string_view p, bool& fold) noexcept {
  for (std::size_t i = 0; i + 1 < p.size(); ++i) {
    if (p[i] == '\\' && (p[i + 1] == 'Q' || p[i + 1] == 'E')) return false;
    if (p[i] != '(') continue;
    if (p[i + 1] == '*') return false;  // verbs ((*ACCEPT) ends a match early), (*UTF)...
    if (p[i + 1] != '?') continue;
    // Read option letters the way `(?i)`, `(?-i:`, `(?^x)` write them; `\(?` lands here
    // too, which only makes the answer more cautious.
    for (std::size_t j = i + 2; j < p.size(); ++j) {
      const char c = p[j];
      if (c == 'x' || c == 'C' || c == '#') return false;  // extended mode, callouts, comments
      if (c == 'i') fold = true;
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '^' || c == '-')) break;
    }
  }
  return true;
}

/// Skips a character class starting at p[i] == '['; returns the index after its `]`, or
/// npos when it cannot tell (no end, or a nested `[` as in `[[:alpha:]]`).
inline std::size_t skip_class(std::string_view p, std::size_t i) noexcept {
  ++i;
  if (i < p.size() && p[i] == '^') ++i;
  if (i < p.size() && p[i] == ']') ++i;  // a leading `]` is literal
  while (i < p.size()) {
    const char c = p[i];
    if (c == ']') return i + 1;
    if (c == '[') return std::string_view::npos;
    if (c == '\\') {
      if (i + 1 >= p.size()) return std::string_view::npos;
      // `\c` takes the next character as its argument, whatever it is.
      i += p[i + 1] == 'c' ? 3 : 2;
      continue;
    }
    ++i;
  }
  return std::string_view::npos;
}

/// Skips a group starting at p[i] == '('; returns the index after its `)`, or npos.
inline std::size_t skip_group(std::string_view p, std::size_t i) noexcept {
  std::size_t depth = 0;
  while (i < p.size()) {
    const char c = p[i];
    if (c == '\\') {
      if (i + 1 >= p.size()) return std::string_view::npos;
      i += p[i + 1] == 'c' ? 3 : 2;
      continue;
    }
    if (c == '[') {
      i = skip_class(p, i);
      if (i == std::string_view::npos) return i;
      continue;
    }
    if (c == '(') ++depth;
    if (c == ')' && --depth == 0) return i + 1;
    ++i;
  }
  return std::string_view::npos;
}

/// Reads `{n}`, `{n,}` or `{n,m}` (PCRE2 10.42's quantifier forms: digits only) at p[i];
/// returns its length and sets `min`, or 0 when it is not one.
inline std::size_t read_brace_quantifier(std::string_view p, std::size_t i,
                                         std::size_t& min) noexcept {
  std::size_t j = i + 1;
  std::size_t n = 0;
  const std::size_t digits_start = j;
  while (j < p.size() && is_digit(p[j])) {
    if (n < 1'000'000) n = n * 10 + static_cast<std::size_t>(p[j] - '0');
    ++j;
  }
  if (j == digits_start || j >= p.size()) return 0;
  if (p[j] == ',') {
    ++j;
    while (j < p.size() && is_digit(p[j])) ++j;
  }
  if (j >= p.size() || p[j] != '}') return 0;
  min = n;
  return j + 1 - i;
}

}  // namespace regex_literal_parse

/// The required literals of `pattern` compiled with `flags` (see the header comment).
inline required_literals extract_required_literals(std::string_view pattern, regex_flags flags) {
  namespace rp = regex_literal_parse;
  constexpr auto npos = std::string_view::npos;
  required_literals out;
  bool fold = flags.ignore_case;
  if (!rp::prescan(pattern, fold)) return out;

  std::vector<std::string> runs;
  std::string run;
  const auto end_run = [&] {
    if (!run.empty()) runs.push_back(run);
    run.clear();
  };

  std::size_t i = 0;
  const std::size_t n = pattern.size();
  while (i < n) {
    // One atom: a literal byte (is_literal) or anything else.
    const char c = pattern[i];
    bool is_literal = false;
    char literal = 0;
    std::size_t next = i + 1;
    switch (c) {
      case '|':
        return out;  // a top-level alternative: nothing is required
      case ')':
      case '*':
      case '+':
      case '?':
        return out;  // unbalanced or a quantifier without an atom: PCRE2 rejects these
      case '{':
        // A quantifier with nothing to repeat, or a literal `{` that later PCRE2 versions
        // may read as a quantifier (`{,3}`, `{ 1 }`): not modelled.
        return out;
      case '.':
      case '^':
      case '$':
        break;
      case '[':
        next = rp::skip_class(pattern, i);
        if (next == npos) return out;
        break;
      case '(':
        next = rp::skip_group(pattern, i);
        if (next == npos) return out;
        break;
      case '\\': {
        if (i + 1 >= n) return out;
        const char e = pattern[i + 1];
        next = i + 2;
        if (!rp::is_alnum(e)) {
          // `\.`, `\\`, `\ `: the byte itself. Bytes >= 0x80 stay unmodelled atoms.
          if (static_cast<unsigned char>(e) < 0x80) {
            is_literal = true;
            literal = e;
          }
          break;
        }
        switch (e) {
          case 't':
            is_literal = true, literal = '\t';
            break;
          case 'n':
            is_literal = true, literal = '\n';
            break;
          case 'r':
            is_literal = true, literal = '\r';
            break;
          case 'f':
            is_literal = true, literal = '\f';
            break;
          case 'e':
            is_literal = true, literal = '\x1b';
            break;
          case 'a':
            is_literal = true, literal = '\a';
            break;
          // One-byte classes and zero-width assertions.
          case 'd':
          case 'D':
          case 's':
          case 'S':
          case 'w':
          case 'W':
          case 'h':
          case 'H':
          case 'v':
          case 'V':
          case 'R':
          case 'X':
          case 'C':
          case 'b':
          case 'B':
          case 'A':
          case 'Z':
          case 'z':
          case 'G':
          case 'K':
            break;
          case 'N':
            if (next < n && pattern[next] == '{') return out;
            break;
          case 'c':
            if (next >= n) return out;
            next += 1;
            break;
          case 'p':
          case 'P':
            if (next >= n) return out;
            if (pattern[next] == '{') {
              const std::size_t close = pattern.find('}', next);
              if (close == npos) return out;
              next = close + 1;
            } else {
              next += 1;
            }
            break;
          case 'x':
            if (next < n && pattern[next] == '{') {
              const std::size_t close = pattern.find('}', next);
              if (close == npos) return out;
              next = close + 1;
            } else {
              std::size_t k = 0;
              while (k < 2 && next < n && rp::is_alnum(pattern[next]) &&
                     (rp::is_digit(pattern[next]) || (rp::ascii_lower(pattern[next]) >= 'a' &&
                                                      rp::ascii_lower(pattern[next]) <= 'f'))) {
                ++next, ++k;
              }
            }
            break;
          case 'o':
            if (next < n && pattern[next] == '{') {
              const std::size_t close = pattern.find('}', next);
              if (close == npos) return out;
              next = close + 1;
            } else {
              return out;
            }
            break;
          case '0': {
            std::size_t k = 0;
            while (k < 2 && next < n && pattern[next] >= '0' && pattern[next] <= '7') ++next, ++k;
            break;
          }
          default:
            return out;  // back references (\1, \g, \k), \Q, \E, and what PCRE2 rejects
        }
        break;
      }
      default:
        is_literal = true;
        literal = c;
        break;
    }

    // Its quantifier, if any: `?`, `*`, `+`, `{n}`, `{n,}`, `{n,m}`, then `?` or `+`.
    bool quantified = false;
    std::size_t min = 1;
    if (next < n) {
      const char q = pattern[next];
      std::size_t brace_min = 0;
      std::size_t brace_length = 0;
      if (q == '?' || q == '*') {
        quantified = true, min = 0, next += 1;
      } else if (q == '+') {
        quantified = true, min = 1, next += 1;
      } else if (q == '{' &&
                 (brace_length = rp::read_brace_quantifier(pattern, next, brace_min)) != 0) {
        quantified = true, min = brace_min, next += brace_length;
      }
      if (quantified && next < n && (pattern[next] == '?' || pattern[next] == '+')) next += 1;
      // A second quantifier is either an error or something this parser does not model.
      if (quantified && next < n) {
        std::size_t ignored = 0;
        const char q2 = pattern[next];
        if (q2 == '?' || q2 == '*' || q2 == '+' ||
            (q2 == '{' && rp::read_brace_quantifier(pattern, next, ignored) != 0)) {
          return out;
        }
      }
    }

    if (!is_literal) {
      end_run();
    } else if (!quantified) {
      run += fold ? rp::ascii_lower(literal) : literal;
    } else if (min == 0) {
      end_run();
    } else {
      const char l = fold ? rp::ascii_lower(literal) : literal;
      run += l;
      end_run();
      run += l;
    }
    i = next;
  }
  end_run();

  for (auto& r : runs) {
    bool seen = false;
    for (const auto& l : out.literals) seen = seen || l == r;
    if (!seen && out.literals.size() < max_required_literals) out.literals.push_back(std::move(r));
  }
  out.case_insensitive = fold && !out.literals.empty();
  return out;
}

}  // namespace sigma::detail

FLUXCAP_END_NAMESPACE
