// Sigma value modifiers: their names, and the value transformations that do not depend on
// the event (design sections 5.1, 5.2; spec appendix "Modifiers"; pySigma's
// sigma/modifiers.py is the reference for windash, base64offset and the UTF-16 family).
//
// - windash: pySigma semantics. A `-` or `/` at a word start (Python's `\B[-/]\b`,
//   evaluated inside each literal run: preceded by a non-word character or the run's
//   start, followed by a word character) becomes each of `-`, `/`, U+2013, U+2014,
//   U+2015 (as UTF-8); the variants are the cartesian product. Word characters: ASCII
//   letters, digits and `_`; Latin-1 letters and digits (U+00AA, U+00B2, U+00B3, U+00B5,
//   U+00B9, U+00BA, U+00BC-U+00BE, U+00C0-U+00FF except U+00D7 and U+00F7); every other
//   non-ASCII code point except the punctuation and space blocks U+2000-U+206F,
//   U+3000-U+3003 and U+FEFF (Python's Unicode `\w` approximated without tables). Bytes
//   that are not valid UTF-8 count as non-word.
// - utf16le/wide, utf16be, utf16 (BOM FF FE then little-endian): the UTF-8 text
//   re-encoded. pySigma works on Python str, which cannot hold invalid UTF-8; here a value
//   that is not valid UTF-8 (including overlong forms and encoded surrogates) makes the
//   rule unsupported (unsupported_error), never a silent guess.
// - base64 / base64offset: standard alphabet with `=` padding; base64offset gives
//   pySigma's three shifted variants (encode i spaces + value for i = 0, 1, 2, cut
//   (0, 2, 3)[i] characters at the front and (0, 3, 2)[(len + i) % 3] at the end).
#pragma once

#include <fluxcap/detail/abi_macros.hpp>
#include <fluxcap/sigma/rule.hpp>
#include <fluxcap/sigma/sigma_string.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

FLUXCAP_BEGIN_NAMESPACE

namespace sigma {

namespace detail {

struct modifier_spelling {
  std::string_view name;
  modifier value;
};

// Every name pySigma knows (sigma/modifiers.py, modifier_mapping) plus the spec's
// `utf16le`. The first spelling of a modifier is its canonical name.
inline constexpr std::array<modifier_spelling, 34> modifier_spellings{{
    {"contains", modifier::contains},
    {"startswith", modifier::startswith},
    {"endswith", modifier::endswith},
    {"all", modifier::all},
    {"neq", modifier::neq},
    {"cased", modifier::cased},
    {"exists", modifier::exists},
    {"windash", modifier::windash},
    {"re", modifier::re},
    {"i", modifier::re_i},
    {"m", modifier::re_m},
    {"s", modifier::re_s},
    {"base64", modifier::base64},
    {"base64offset", modifier::base64offset},
    {"utf16", modifier::utf16},
    {"utf16le", modifier::utf16le},
    {"utf16be", modifier::utf16be},
    {"wide", modifier::wide},
    {"cidr", modifier::cidr},
    {"lt", modifier::lt},
    {"lte", modifier::lte},
    {"gt", modifier::gt},
    {"gte", modifier::gte},
    {"minute", modifier::minute},
    {"hour", modifier::hour},
    {"day", modifier::day},
    {"week", modifier::week},
    {"month", modifier::month},
    {"year", modifier::year},
    {"expand", modifier::expand},
    {"fieldref", modifier::fieldref},
    {"ignorecase", modifier::re_i},
    {"multiline", modifier::re_m},
    {"dotall", modifier::re_s},
}};

/// One code point decoded from UTF-8 at `at`; `length` 0 when the bytes there are not
/// valid UTF-8 (truncated, overlong, a surrogate, beyond U+10FFFF, a stray continuation).
struct decoded_code_point {
  char32_t value = 0;
  std::size_t length = 0;
};

[[nodiscard]] constexpr decoded_code_point decode_utf8(std::string_view s,
                                                       std::size_t at) noexcept {
  if (at >= s.size()) return {};
  const auto b0 = static_cast<unsigned char>(s[at]);
  if (b0 < 0x80) return {b0, 1};
  std::size_t length = 0;
  char32_t value = 0;
  char32_t minimum = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    length = 2;
    value = b0 & 0x1Fu;
    minimum = 0x80;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    length = 3;
    value = b0 & 0x0Fu;
    minimum = 0x800;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    length = 4;
    value = b0 & 0x07u;
    minimum = 0x10000;
  } else {
    return {};
  }
  if (s.size() - at < length) return {};
  for (std::size_t i = 1; i < length; ++i) {
    const auto b = static_cast<unsigned char>(s[at + i]);
    if ((b & 0xC0u) != 0x80u) return {};
    value = (value << 6) | (b & 0x3Fu);
  }
  if (value < minimum || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) return {};
  return {value, length};
}

/// Python's `\w` for a code point, approximated (see the file comment).
[[nodiscard]] constexpr bool is_word_code_point(char32_t c) noexcept {
  if (c < 0x80)
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  if (c < 0xC0)
    return c == 0xAA || c == 0xB2 || c == 0xB3 || c == 0xB5 || c == 0xB9 || c == 0xBA ||
           (c >= 0xBC && c <= 0xBE);
  if (c < 0x100) return c != 0xD7 && c != 0xF7;
  if (c >= 0x2000 && c <= 0x206F) return false;
  if (c >= 0x3000 && c <= 0x3003) return false;
  return c != 0xFEFF;
}

/// Whether the code point that ends just before `at` is a word character.
[[nodiscard]] constexpr bool word_before(std::string_view s, std::size_t at) noexcept {
  if (at == 0) return false;
  std::size_t start = at - 1;
  // Back over at most three continuation bytes to the lead byte.
  for (int i = 0; i < 3 && start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0u) == 0x80u;
       ++i)
    --start;
  const decoded_code_point cp = decode_utf8(s, start);
  if (cp.length == 0 || start + cp.length != at) return false;
  return is_word_code_point(cp.value);
}

[[nodiscard]] constexpr bool word_at(std::string_view s, std::size_t at) noexcept {
  const decoded_code_point cp = decode_utf8(s, at);
  return cp.length != 0 && is_word_code_point(cp.value);
}

inline constexpr std::array<std::string_view, 5> windash_characters{"-", "/", "\xE2\x80\x93",
                                                                    "\xE2\x80\x94", "\xE2\x80\x95"};

}  // namespace detail

/// The modifier a name denotes (all of pySigma's names, `i`/`ignorecase`, `m`/`multiline`,
/// `s`/`dotall` for the regex flags, and the spec's `utf16le`); empty when unknown.
/// Names are case-sensitive, as in pySigma.
[[nodiscard]] constexpr std::optional<modifier> parse_modifier(std::string_view name) noexcept {
  for (const auto& spelling : detail::modifier_spellings)
    if (spelling.name == name) return spelling.value;
  return std::nullopt;
}

/// The canonical name of a modifier (`re_i` is "i", `wide` is "wide").
[[nodiscard]] constexpr std::string_view modifier_name(modifier m) noexcept {
  for (const auto& spelling : detail::modifier_spellings)
    if (spelling.value == m) return spelling.name;
  return "?";
}

/// The windash variants of a string (see the file comment): 5^k strings for k
/// replaceable dashes, the first position varying slowest, in the order `-`, `/`, U+2013,
/// U+2014, U+2015. One variant (the string itself) when k = 0. Throws unsupported_error
/// "windash expands to N variants, more than M" when 5^k > max_variants.
[[nodiscard]] inline std::vector<sigma_string> windash_variants(const sigma_string& s,
                                                                std::size_t max_variants) {
  struct site {
    std::size_t piece;
    std::size_t at;
  };
  std::vector<site> sites;
  const auto& pieces = s.pieces();
  for (std::size_t p = 0; p < pieces.size(); ++p) {
    if (pieces[p].type != glob_piece::kind::literal) continue;
    const std::string_view text = pieces[p].text;
    for (std::size_t i = 0; i < text.size(); ++i)
      if ((text[i] == '-' || text[i] == '/') && !detail::word_before(text, i) &&
          detail::word_at(text, i + 1))
        sites.push_back({p, i});
  }
  std::size_t count = 1;
  bool overflow = false;
  for (std::size_t k = 0; k < sites.size() && !overflow; ++k) {
    if (count > static_cast<std::size_t>(-1) / 5)
      overflow = true;
    else
      count *= 5;
  }
  if (overflow || count > max_variants) {
    const std::string n = overflow ? "5^" + std::to_string(sites.size()) : std::to_string(count);
    throw unsupported_error("windash expands to " + n + " variants, more than " +
                            std::to_string(max_variants));
  }
  std::vector<sigma_string> out;
  out.reserve(count);
  std::vector<std::size_t> choice(sites.size(), 0);
  for (std::size_t variant = 0; variant < count; ++variant) {
    // Decode `variant` in base 5, the first site most significant.
    std::size_t rest = variant;
    for (std::size_t k = sites.size(); k-- > 0;) {
      choice[k] = rest % 5;
      rest /= 5;
    }
    std::vector<glob_piece> built;
    built.reserve(pieces.size());
    std::size_t next_site = 0;
    for (std::size_t p = 0; p < pieces.size(); ++p) {
      if (pieces[p].type != glob_piece::kind::literal) {
        built.push_back(pieces[p]);
        continue;
      }
      std::string text;
      const std::string& original = pieces[p].text;
      std::size_t copied = 0;
      for (; next_site < sites.size() && sites[next_site].piece == p; ++next_site) {
        text.append(original, copied, sites[next_site].at - copied);
        text += detail::windash_characters[choice[next_site]];
        copied = sites[next_site].at + 1;
      }
      text.append(original, copied, std::string::npos);
      built.push_back({glob_piece::kind::literal, std::move(text)});
    }
    out.push_back(sigma_string::from_pieces(std::move(built)));
  }
  return out;
}

/// The `expand` modifier: every placeholder replaced by each of its values (Sigma strings,
/// which may carry wildcards), the cartesian product over several placeholders, the first
/// placeholder varying slowest. `lookup(name)` gives a `const std::vector<sigma_string>*`,
/// null when the profile does not define the name. Throws unsupported_error
/// "unresolved placeholder %name%" (contract section 4), "placeholder %name% has no
/// values", or "expand gives more than M variants".
template <class Lookup>
[[nodiscard]] std::vector<sigma_string> expand_placeholders(const sigma_string& s, Lookup&& lookup,
                                                            std::size_t max_variants) {
  const auto& pieces = s.pieces();
  std::vector<const std::vector<sigma_string>*> values;
  std::size_t count = 1;
  for (const auto& piece : pieces) {
    if (piece.type != glob_piece::kind::placeholder) continue;
    const std::vector<sigma_string>* found = lookup(std::string_view(piece.text));
    if (found == nullptr) throw unsupported_error("unresolved placeholder %" + piece.text + "%");
    if (found->empty()) throw unsupported_error("placeholder %" + piece.text + "% has no values");
    if (found->size() > max_variants / count)  // count * size > max, without overflow
      throw unsupported_error("expand gives more than " + std::to_string(max_variants) +
                              " variants");
    count *= found->size();
    values.push_back(found);
  }
  std::vector<sigma_string> out;
  out.reserve(count);
  std::vector<std::size_t> choice(values.size(), 0);
  for (std::size_t variant = 0; variant < count; ++variant) {
    std::size_t rest = variant;
    for (std::size_t k = values.size(); k-- > 0;) {
      choice[k] = rest % values[k]->size();
      rest /= values[k]->size();
    }
    sigma_string built;
    std::size_t next = 0;
    for (const auto& piece : pieces) {
      if (piece.type == glob_piece::kind::placeholder) {
        built.append((*values[next])[choice[next]]);
        ++next;
      } else {
        built.append(sigma_string::from_pieces({piece}));
      }
    }
    out.push_back(std::move(built));
  }
  return out;
}

/// UTF-16 bytes of UTF-8 text: `utf16le`/`wide` little-endian, `utf16be` big-endian,
/// `utf16` the byte-order mark FF FE then little-endian. Throws unsupported_error when the
/// text is not valid UTF-8, std::invalid_argument for any other modifier.
[[nodiscard]] inline std::string encode_utf16(std::string_view utf8, modifier which) {
  if (which != modifier::utf16le && which != modifier::wide && which != modifier::utf16be &&
      which != modifier::utf16)
    throw std::invalid_argument("encode_utf16: not a UTF-16 modifier");
  const bool big_endian = which == modifier::utf16be;
  std::string out;
  out.reserve(utf8.size() * 2 + 2);
  if (which == modifier::utf16) out += "\xFF\xFE";
  const auto unit = [&](std::uint32_t u) {
    const auto hi = static_cast<char>((u >> 8) & 0xFFu);
    const auto lo = static_cast<char>(u & 0xFFu);
    if (big_endian) {
      out += hi;
      out += lo;
    } else {
      out += lo;
      out += hi;
    }
  };
  for (std::size_t at = 0; at < utf8.size();) {
    const detail::decoded_code_point cp = detail::decode_utf8(utf8, at);
    if (cp.length == 0)
      throw unsupported_error(std::string(modifier_name(which)) +
                              ": the value is not valid UTF-8 (byte " + std::to_string(at) + ")");
    const std::uint32_t c = cp.value;
    if (c < 0x10000) {
      unit(c);
    } else {
      const std::uint32_t v = c - 0x10000;
      unit(0xD800u | (v >> 10));
      unit(0xDC00u | (v & 0x3FFu));
    }
    at += cp.length;
  }
  return out;
}

/// The UTF-16 encoding of a Sigma string: literal runs encoded, wildcards kept (pySigma);
/// for `utf16` one byte-order mark in front of the whole string, not of each run.
[[nodiscard]] inline sigma_string encode_utf16(const sigma_string& s, modifier which) {
  const modifier per_run = which == modifier::utf16 ? modifier::utf16le : which;
  sigma_string encoded =
      s.transform_literals([&](std::string_view run) { return encode_utf16(run, per_run); });
  if (which != modifier::utf16) return encoded;
  sigma_string out = sigma_string::from_literal("\xFF\xFE");
  out.append(encoded);
  return out;
}

/// Standard base64 (RFC 4648 alphabet, `=` padding).
[[nodiscard]] inline std::string base64_encode(std::string_view bytes) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t at = 0;
  for (; bytes.size() - at >= 3; at += 3) {
    const std::uint32_t v = (std::uint32_t{static_cast<unsigned char>(bytes[at])} << 16) |
                            (std::uint32_t{static_cast<unsigned char>(bytes[at + 1])} << 8) |
                            std::uint32_t{static_cast<unsigned char>(bytes[at + 2])};
    out += alphabet[(v >> 18) & 63u];
    out += alphabet[(v >> 12) & 63u];
    out += alphabet[(v >> 6) & 63u];
    out += alphabet[v & 63u];
  }
  const std::size_t rest = bytes.size() - at;
  if (rest != 0) {
    std::uint32_t v = std::uint32_t{static_cast<unsigned char>(bytes[at])} << 16;
    if (rest == 2) v |= std::uint32_t{static_cast<unsigned char>(bytes[at + 1])} << 8;
    out += alphabet[(v >> 18) & 63u];
    out += alphabet[(v >> 12) & 63u];
    out += rest == 2 ? alphabet[(v >> 6) & 63u] : '=';
    out += '=';
  }
  return out;
}

/// pySigma's three base64offset variants of `bytes` (shift 0, 1, 2): the encodings of
/// the value at any byte offset inside a longer base64 text, cut to the characters that do
/// not depend on the surrounding bytes. A cut longer than the encoding gives "".
[[nodiscard]] inline std::vector<std::string> base64offset_variants(std::string_view bytes) {
  static constexpr std::array<std::size_t, 3> cut_front{0, 2, 3};
  static constexpr std::array<std::size_t, 3> cut_back{0, 3, 2};
  std::vector<std::string> out;
  out.reserve(3);
  for (std::size_t shift = 0; shift < 3; ++shift) {
    std::string shifted(shift, ' ');
    shifted.append(bytes);
    const std::string encoded = base64_encode(shifted);
    const std::size_t back = cut_back[(bytes.size() + shift) % 3];
    const std::size_t begin = cut_front[shift];
    const std::size_t end = encoded.size() >= back ? encoded.size() - back : 0;
    out.push_back(end > begin ? encoded.substr(begin, end - begin) : std::string());
  }
  return out;
}

}  // namespace sigma

FLUXCAP_END_NAMESPACE
