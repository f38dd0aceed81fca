// Glob verification for Sigma string values (design sections 4.2, 4.3): a parsed
// sigma_string's pieces against one event value, on the event's bytes, no copy.
//
// `*` is any run of bytes, `?` exactly one byte (not one code point: identical on ASCII,
// documented), literals compare with ASCII simple case folding (A-Z <-> a-z) unless
// `cased`. Placeholders never match: the compiler expands them first.
//
// The algorithm is the classic two-pointer wildcard match with one back-track point (the
// last `*` seen), as glob_match in fluxcap/condition.hpp, generalised to literal runs,
// `?` and folding. It is correct for `*`/`?` globs because a later `*` can absorb anything
// an earlier one would: only the last star needs retrying. Each retry advances that
// star's start by one byte, so the cost is O(|value| * |pattern|) at worst, never
// exponential; no allocation.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>
#include <fluxcap/sigma/sigma_string.hpp>

#include <cstddef>
#include <span>
#include <string_view>

FLUXCAP_BEGIN_NAMESPACE

namespace sigma::detail {

/// ASCII simple case folding to lower case; every other byte unchanged.
[[nodiscard]] constexpr unsigned char fold_ascii(unsigned char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<unsigned char>(c + ('a' - 'A')) : c;
}

[[nodiscard]] constexpr bool glob_bytes_equal(char a, char b, bool cased) noexcept {
  const auto x = static_cast<unsigned char>(a);
  const auto y = static_cast<unsigned char>(b);
  return cased ? x == y : fold_ascii(x) == fold_ascii(y);
}

/// True iff `value` matches the whole pattern `pieces`.
[[nodiscard]] inline bool glob_match(std::span<const glob_piece> pieces, std::string_view value,
                                     bool cased) noexcept {
  using kind = glob_piece::kind;
  for (const auto& piece : pieces)
    if (piece.type == kind::placeholder) return false;

  constexpr std::size_t none = static_cast<std::size_t>(-1);
  std::size_t p = 0;              // current piece
  std::size_t offset = 0;         // position inside the current literal piece
  std::size_t t = 0;              // position in the value
  std::size_t star_piece = none;  // the piece after the last `*` seen
  std::size_t star_value = 0;     // where that `*`'s run currently ends in the value

  while (t < value.size()) {
    if (p < pieces.size()) {
      const glob_piece& piece = pieces[p];
      if (piece.type == kind::literal) {
        if (offset >= piece.text.size()) {  // an empty literal (a hand-built span): skip it
          ++p;
          offset = 0;
          continue;
        }
        if (glob_bytes_equal(piece.text[offset], value[t], cased)) {
          ++t;
          if (++offset == piece.text.size()) {
            ++p;
            offset = 0;
          }
          continue;
        }
      } else if (piece.type == kind::any_char) {
        ++p;
        ++t;
        continue;
      } else {  // any_run
        star_piece = ++p;
        offset = 0;
        star_value = t;
        continue;
      }
    }
    // Mismatch (or pattern exhausted): let the last `*` absorb one more byte, if any.
    if (star_piece == none) return false;
    p = star_piece;
    offset = 0;
    t = ++star_value;
  }
  // The value is consumed: what remains of the pattern must match the empty string.
  if (offset != 0) return false;
  for (; p < pieces.size(); ++p) {
    const glob_piece& piece = pieces[p];
    if (piece.type == kind::any_char) return false;
    if (piece.type == kind::literal && !piece.text.empty()) return false;
  }
  return true;
}

}  // namespace sigma::detail

FLUXCAP_END_NAMESPACE
