// Fuzz target: Sigma string parsing and glob verification (fluxcap/sigma/sigma_string.hpp,
// fluxcap/sigma/detail/glob.hpp; design sections 4.3, 8.4).
//
// Input: one flags byte (bit 0: cased, bit 1: parse placeholders), then the written
// pattern up to the first NUL byte, then the event value (both truncated to bound the
// reference's cost).
//
// Invariants: detail::glob_match agrees with a plain dynamic-programming reference over
// the pattern's bytes (`*`, `?`, folded literals); parse(to_written()) gives back the same
// string; case-insensitive matching equals case-sensitive matching of folded copies;
// `contains` (a `*` on both sides, never doubled) matches whenever the plain pattern does.
#include <fluxcap/sigma/detail/glob.hpp>
#include <fluxcap/sigma/sigma_string.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace sigma = fluxcap::sigma;
using kind = sigma::glob_piece::kind;

struct token {
  kind type;
  unsigned char byte;
};

// matches[i][j]: tokens[i..] match value[j..]. O(|tokens| * |value|) time and memory.
bool reference_match(const sigma::sigma_string& s, std::string_view value, bool cased) {
  std::vector<token> tokens;
  for (const auto& piece : s.pieces()) {
    if (piece.type == kind::placeholder) return false;
    if (piece.type == kind::literal) {
      for (const char c : piece.text)
        tokens.push_back({kind::literal, static_cast<unsigned char>(c)});
    } else {
      tokens.push_back({piece.type, 0});
    }
  }
  const std::size_t m = tokens.size();
  const std::size_t n = value.size();
  std::vector<std::vector<bool>> matches(m + 1, std::vector<bool>(n + 1, false));
  matches[m][n] = true;
  for (std::size_t i = m; i-- > 0;) {
    for (std::size_t j = n + 1; j-- > 0;) {
      const token& t = tokens[i];
      bool result = false;
      if (t.type == kind::any_run) {
        result = matches[i + 1][j] || (j < n && matches[i][j + 1]);
      } else if (j < n) {
        const auto v = static_cast<unsigned char>(value[j]);
        const bool same = t.type == kind::any_char || (cased ? t.byte == v
                                                             : sigma::detail::fold_ascii(t.byte) ==
                                                                   sigma::detail::fold_ascii(v));
        result = same && matches[i + 1][j + 1];
      }
      matches[i][j] = result;
    }
  }
  return matches[0][0];
}

std::string folded(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    c = static_cast<char>(sigma::detail::fold_ascii(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool cased = (data[0] & 1u) != 0;
  const bool placeholders = (data[0] & 2u) != 0;
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::size_t nul = rest.find('\0');
  std::string_view pattern = rest.substr(0, nul);
  std::string_view value =
      nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
  if (pattern.size() > 64) pattern = pattern.substr(0, 64);
  if (value.size() > 512) value = value.substr(0, 512);

  const sigma::sigma_string s = sigma::sigma_string::parse(pattern, placeholders);
  if (placeholders == false && s.has_placeholders()) std::abort();
  for (std::size_t i = 0; i < s.pieces().size(); ++i) {
    const auto& piece = s.pieces()[i];
    if (piece.type == kind::literal && piece.text.empty()) std::abort();
    if (i > 0 && piece.type == kind::literal && s.pieces()[i - 1].type == kind::literal)
      std::abort();
  }
  if (sigma::sigma_string::parse(s.to_written(), s.has_placeholders()) != s) std::abort();

  const std::span<const sigma::glob_piece> pieces(s.pieces());
  const bool got = sigma::detail::glob_match(pieces, value, cased);
  if (got != reference_match(s, value, cased)) std::abort();

  if (!cased) {
    const sigma::sigma_string folded_pattern =
        s.transform_literals([](std::string_view run) { return folded(run); });
    if (got != sigma::detail::glob_match(folded_pattern.pieces(), folded(value), true))
      std::abort();
  }

  sigma::sigma_string contains = s;
  contains.prepend_any_run().append_any_run();
  const auto& cp = contains.pieces();
  if (cp.size() > s.pieces().size() + 2) std::abort();
  if (got && !sigma::detail::glob_match(cp, value, cased)) std::abort();
  if (!s.has_placeholders() &&
      sigma::detail::glob_match(cp, value, cased) != reference_match(contains, value, cased))
    std::abort();
  return 0;
}
