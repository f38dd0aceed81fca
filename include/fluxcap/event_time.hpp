// Event time for rules with a `timespan` (semantics section 6): the text of an event's
// timestamp column read as milliseconds since the Unix epoch.
//
// Accepted forms (anything else is "no time": the event stores and recalls nothing
// for timed rules, see flux_capacitor.hpp):
// - RFC 3339 / ISO 8601: `2026-12-01T10:00:00Z`, a `t` or a space for the `T`, an
//   optional fraction (`.250`, digits beyond milliseconds are truncated), and an offset
//   `Z`, `z`, `+hh:mm` or `-hh:mm`; without an offset the time is taken as UTC.
// - Seconds since the epoch, optionally signed and with a fraction: `1764583200`,
//   `1764583200.25` (a JSON number's text).
#pragma once

#include <fluxcap/detail/abi_macros.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

FLUXCAP_BEGIN_NAMESPACE

namespace detail {

/// Reads exactly `n` digits at `s[at]`; advances `at`.
constexpr bool read_digits(std::string_view s, std::size_t& at, std::size_t n, int& out) noexcept {
  if (s.size() - at < n) return false;
  out = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const char c = s[at + i];
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  at += n;
  return true;
}

/// The fraction's milliseconds (digits after the point, at least one); advances `at`.
constexpr bool read_fraction_ms(std::string_view s, std::size_t& at, std::int64_t& ms) noexcept {
  std::size_t digits = 0;
  ms = 0;
  for (; at < s.size() && s[at] >= '0' && s[at] <= '9'; ++at, ++digits)
    if (digits < 3) ms = ms * 10 + (s[at] - '0');
  if (digits == 0) return false;
  for (std::size_t d = digits; d < 3; ++d) ms *= 10;
  return true;
}

constexpr std::optional<std::int64_t> parse_rfc3339_ms(std::string_view s) noexcept {
  std::size_t at = 0;
  int year = 0;
  int month = 0;
  int day = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
  if (!read_digits(s, at, 4, year) || at >= s.size() || s[at++] != '-' ||
      !read_digits(s, at, 2, month) || at >= s.size() || s[at++] != '-' ||
      !read_digits(s, at, 2, day))
    return std::nullopt;
  if (at >= s.size() || (s[at] != 'T' && s[at] != 't' && s[at] != ' ')) return std::nullopt;
  ++at;
  if (!read_digits(s, at, 2, hour) || at >= s.size() || s[at++] != ':' ||
      !read_digits(s, at, 2, minute) || at >= s.size() || s[at++] != ':' ||
      !read_digits(s, at, 2, second))
    return std::nullopt;
  // 60, a leap second, reads as the next minute's first second (as POSIX time has it).
  if (hour > 23 || minute > 59 || second > 60) return std::nullopt;
  std::int64_t fraction = 0;
  if (at < s.size() && (s[at] == '.' || s[at] == ',')) {
    ++at;
    if (!read_fraction_ms(s, at, fraction)) return std::nullopt;
  }
  std::int64_t offset_minutes = 0;
  if (at < s.size()) {
    const char sign = s[at++];
    if (sign == 'Z' || sign == 'z') {
      // UTC
    } else if (sign == '+' || sign == '-') {
      int oh = 0;
      int om = 0;
      if (!read_digits(s, at, 2, oh) || at >= s.size() || s[at++] != ':' ||
          !read_digits(s, at, 2, om) || oh > 23 || om > 59)
        return std::nullopt;
      offset_minutes = (sign == '+' ? 1 : -1) * (std::int64_t{oh} * 60 + om);
    } else {
      return std::nullopt;
    }
    if (at != s.size()) return std::nullopt;
  }
  const std::chrono::year_month_day date{std::chrono::year{year},
                                         std::chrono::month{static_cast<unsigned>(month)},
                                         std::chrono::day{static_cast<unsigned>(day)}};
  if (!date.ok()) return std::nullopt;
  const std::int64_t days = std::chrono::sys_days(date).time_since_epoch().count();
  const std::int64_t seconds = days * 86400 + std::int64_t{hour} * 3600 +
                               std::int64_t{minute} * 60 + second - offset_minutes * 60;
  return seconds * 1000 + fraction;
}

constexpr std::optional<std::int64_t> parse_epoch_seconds_ms(std::string_view s) noexcept {
  std::size_t at = 0;
  const bool negative = !s.empty() && s[0] == '-';
  if (negative) ++at;
  std::int64_t seconds = 0;
  std::size_t digits = 0;
  // 10^13 s is ~317,000 years: beyond it the milliseconds would overflow soon.
  for (; at < s.size() && s[at] >= '0' && s[at] <= '9'; ++at, ++digits) {
    seconds = seconds * 10 + (s[at] - '0');
    if (seconds > 10'000'000'000'000) return std::nullopt;
  }
  if (digits == 0) return std::nullopt;
  std::int64_t fraction = 0;
  if (at < s.size() && s[at] == '.') {
    ++at;
    if (!read_fraction_ms(s, at, fraction)) return std::nullopt;
  }
  if (at != s.size()) return std::nullopt;
  const std::int64_t ms = seconds * 1000 + fraction;
  return negative ? -ms : ms;
}

}  // namespace detail

/// The time an event's timestamp text names, in milliseconds since the Unix epoch;
/// empty optional when it is in none of the accepted forms.
[[nodiscard]] constexpr std::optional<std::int64_t> parse_event_time(std::string_view s) noexcept {
  if (s.size() >= 10 && s[4] == '-') return detail::parse_rfc3339_ms(s);
  return detail::parse_epoch_seconds_ms(s);
}

FLUXCAP_END_NAMESPACE
