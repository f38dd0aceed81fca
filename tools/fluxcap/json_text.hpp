// Small pieces of JSON's text grammar (RFC 8259) that the tool's two JSON readers share:
// the validating line parser (line_parser.cpp) and the Sigma field reader
// (sigma_fields.cpp).
#pragma once

#include <cstddef>
#include <string_view>

namespace fluxcap_cli::json_text {

/// JSON whitespace.
constexpr bool is_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/// `s` without its trailing JSON whitespace.
constexpr std::string_view trim_right(std::string_view s) noexcept {
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

constexpr bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

/// JSON number grammar (RFC 8259 section 6).
constexpr bool valid_number(std::string_view s) noexcept {
  std::size_t i = 0;
  const std::size_t n = s.size();
  if (i < n && s[i] == '-') ++i;
  if (i == n) return false;
  if (s[i] == '0') {
    ++i;
  } else if (is_digit(s[i])) {
    while (i < n && is_digit(s[i])) ++i;
  } else {
    return false;
  }
  if (i < n && s[i] == '.') {
    if (++i == n || !is_digit(s[i])) return false;
    while (i < n && is_digit(s[i])) ++i;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
    if (i == n || !is_digit(s[i])) return false;
    while (i < n && is_digit(s[i])) ++i;
  }
  return i == n;
}

static_assert(valid_number("-0.5e+3") && !valid_number("01") && !valid_number("1.") &&
              !valid_number("-") && valid_number("0"));

}  // namespace fluxcap_cli::json_text
