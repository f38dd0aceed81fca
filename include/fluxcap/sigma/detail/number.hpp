// Decimal numbers in rules and events, for `lt`/`lte`/`gt`/`gte` and number equality
// (contract section 4, design sections 5.2, 5.3).
//
// Accepted text: an optional sign, then digits with an optional fraction (`1`, `1.`,
// `1.5`, `.5`), then an optional exponent (`1e3`, `2.5E-3`), nothing else: no spaces,
// no hex, no `inf`/`nan` (the YAML 1.2 core schema's decimal forms). Integers that fit
// int64 stay exact; larger ones, and everything with a fraction or an exponent, are
// doubles. A finite double is required (`1e999` is not a number).
#pragma once

#include <fluxcap/detail/abi_macros.hpp>

#include <charconv>
#include <cmath>
#include <compare>
#include <cstdint>
#include <optional>
#include <string_view>
#include <system_error>

FLUXCAP_BEGIN_NAMESPACE

namespace sigma::detail {

struct number {
  bool integral = false;  ///< `i` holds the value exactly
  std::int64_t i = 0;     ///< the value when integral
  double d = 0;           ///< the value as a double (always set; rounded when integral)
};

[[nodiscard]] inline std::optional<number> parse_number(std::string_view text) noexcept {
  std::size_t at = 0;
  const bool negative = !text.empty() && text[0] == '-';
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) ++at;
  const std::size_t mantissa_start = at;
  std::size_t digits = 0;
  while (at < text.size() && text[at] >= '0' && text[at] <= '9') ++at, ++digits;
  bool integral = true;
  if (at < text.size() && text[at] == '.') {
    integral = false;
    ++at;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') ++at, ++digits;
  }
  if (digits == 0) return std::nullopt;
  if (at < text.size() && (text[at] == 'e' || text[at] == 'E')) {
    integral = false;
    ++at;
    if (at < text.size() && (text[at] == '+' || text[at] == '-')) ++at;
    std::size_t exponent_digits = 0;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') ++at, ++exponent_digits;
    if (exponent_digits == 0) return std::nullopt;
  }
  if (at != text.size()) return std::nullopt;

  // from_chars takes no '+'; a '-' it reads itself.
  const std::string_view body = negative ? text : text.substr(mantissa_start);
  number out;
  if (integral) {
    std::int64_t value = 0;
    const auto [end, error] = std::from_chars(body.data(), body.data() + body.size(), value);
    if (error == std::errc() && end == body.data() + body.size()) {
      out.integral = true;
      out.i = value;
      out.d = static_cast<double>(value);
      return out;
    }
    // Beyond int64: a double.
  }
  double value = 0;
  const auto [end, error] = std::from_chars(body.data(), body.data() + body.size(), value);
  if (error != std::errc() || end != body.data() + body.size() || !std::isfinite(value))
    return std::nullopt;
  out.d = value;
  return out;
}

/// An int64 against a finite double, exactly (no rounding of the integer).
[[nodiscard]] inline std::partial_ordering compare_exact(std::int64_t i, double d) noexcept {
  constexpr double two_63 = 9223372036854775808.0;
  if (d >= two_63) return std::partial_ordering::less;
  if (d < -two_63) return std::partial_ordering::greater;
  const double whole = std::trunc(d);  // in [-2^63, 2^63): converts exactly
  const auto w = static_cast<std::int64_t>(whole);
  if (i != w) return i <=> w;
  const double fraction = d - whole;
  if (fraction > 0) return std::partial_ordering::less;
  if (fraction < 0) return std::partial_ordering::greater;
  return std::partial_ordering::equivalent;
}

/// Numeric order: exact for two integers, and exact for an integer against a double too
/// (the integer is not rounded to a double first); double against double as doubles.
[[nodiscard]] inline std::partial_ordering compare(const number& a, const number& b) noexcept {
  if (a.integral && b.integral) return a.i <=> b.i;
  if (a.integral) return compare_exact(a.i, b.d);
  if (b.integral) {
    const std::partial_ordering reversed = compare_exact(b.i, a.d);
    return 0 <=> reversed;
  }
  return a.d <=> b.d;
}

}  // namespace sigma::detail

FLUXCAP_END_NAMESPACE
