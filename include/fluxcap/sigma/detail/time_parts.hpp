// Calendar parts of an event timestamp, for the time modifiers `minute`, `hour`, `day`,
// `week`, `month`, `year` (design section 5.2; contract section 2's timestamp forms).
//
// Read forms:
// - RFC 3339 (`2026-12-01T10:00:00Z`, `t` or a space for the `T`, optional fraction,
//   offset `Z`/`z`/`+hh:mm`/`-hh:mm` or none). The parts are those written: the offset is
//   checked but NOT applied (the specification warns that time modifiers see the time
//   as written, without time-zone conversion). A leap second `:60` is kept as 60.
// - Sysmon's `YYYY-MM-DD HH:MM:SS.fff`: the RFC 3339 form with a space and no offset.
// - Epoch seconds (optionally signed, with a fraction), read as UTC.
// `iso_week` is the ISO 8601 week number (1-53) of the date, whose week-year may differ
// from `year` around New Year: 2021-01-03 is week 53 (of 2020), 2024-12-30 week 1 (of
// 2025); `iso_week_year` says which.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>
#include <fluxcap/event_time.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

FLUXCAP_BEGIN_NAMESPACE

namespace sigma::detail {

struct time_parts {
  int year = 0;
  int month = 0;          ///< 1-12
  int day = 0;            ///< 1-31
  int hour = 0;           ///< 0-23
  int minute = 0;         ///< 0-59
  int second = 0;         ///< 0-60
  int iso_week = 0;       ///< 1-53
  int iso_week_year = 0;  ///< the year the ISO week belongs to

  friend bool operator==(const time_parts&, const time_parts&) = default;
};

/// Days since 1970-01-01 of a valid civil date.
[[nodiscard]] constexpr std::int64_t days_from_civil(int year, int month, int day) noexcept {
  const std::chrono::year_month_day date{std::chrono::year{year},
                                         std::chrono::month{static_cast<unsigned>(month)},
                                         std::chrono::day{static_cast<unsigned>(day)}};
  return std::chrono::sys_days(date).time_since_epoch().count();
}

/// ISO 8601 weekday, Monday 1 .. Sunday 7, of a day count since 1970-01-01 (a Thursday).
[[nodiscard]] constexpr int iso_weekday(std::int64_t days) noexcept {
  const std::int64_t r = ((days % 7) + 7 + 3) % 7;  // 0 = Monday
  return static_cast<int>(r) + 1;
}

/// Sets iso_week and iso_week_year from year, month, day (which must be a valid date).
constexpr void fill_iso_week(time_parts& parts) noexcept {
  const std::int64_t days = days_from_civil(parts.year, parts.month, parts.day);
  // The week belongs to the year of its Thursday.
  const std::int64_t thursday = days + 4 - iso_weekday(days);
  const std::chrono::year_month_day thursday_date{
      std::chrono::sys_days{std::chrono::days{thursday}}};
  const int week_year = static_cast<int>(thursday_date.year());
  const std::int64_t first_day = days_from_civil(week_year, 1, 1);
  parts.iso_week = static_cast<int>((thursday - first_day) / 7) + 1;
  parts.iso_week_year = week_year;
}

[[nodiscard]] constexpr std::optional<time_parts> parse_written_time_parts(
    std::string_view s) noexcept {
  time_parts parts;
  std::size_t at = 0;
  using fluxcap::detail::read_digits;
  if (!read_digits(s, at, 4, parts.year) || at >= s.size() || s[at++] != '-' ||
      !read_digits(s, at, 2, parts.month) || at >= s.size() || s[at++] != '-' ||
      !read_digits(s, at, 2, parts.day))
    return std::nullopt;
  if (at >= s.size() || (s[at] != 'T' && s[at] != 't' && s[at] != ' ')) return std::nullopt;
  ++at;
  if (!read_digits(s, at, 2, parts.hour) || at >= s.size() || s[at++] != ':' ||
      !read_digits(s, at, 2, parts.minute) || at >= s.size() || s[at++] != ':' ||
      !read_digits(s, at, 2, parts.second))
    return std::nullopt;
  if (parts.hour > 23 || parts.minute > 59 || parts.second > 60) return std::nullopt;
  if (at < s.size() && (s[at] == '.' || s[at] == ',')) {
    ++at;
    std::int64_t ignored = 0;
    if (!fluxcap::detail::read_fraction_ms(s, at, ignored)) return std::nullopt;
  }
  if (at < s.size()) {
    const char sign = s[at++];
    if (sign == '+' || sign == '-') {
      int oh = 0;
      int om = 0;
      if (!read_digits(s, at, 2, oh) || at >= s.size() || s[at++] != ':' ||
          !read_digits(s, at, 2, om) || oh > 23 || om > 59)
        return std::nullopt;
    } else if (sign != 'Z' && sign != 'z') {
      return std::nullopt;
    }
    if (at != s.size()) return std::nullopt;
  }
  if (parts.month < 1 || parts.month > 12 || parts.day < 1) return std::nullopt;
  const std::chrono::year_month_day date{std::chrono::year{parts.year},
                                         std::chrono::month{static_cast<unsigned>(parts.month)},
                                         std::chrono::day{static_cast<unsigned>(parts.day)}};
  if (!date.ok()) return std::nullopt;
  fill_iso_week(parts);
  return parts;
}

[[nodiscard]] constexpr std::optional<time_parts> parse_epoch_time_parts(
    std::string_view s) noexcept {
  const auto ms = fluxcap::detail::parse_epoch_seconds_ms(s);
  if (!ms) return std::nullopt;
  // Floor to whole seconds, then to days (negative times are before 1970).
  std::int64_t seconds = *ms / 1000;
  if (*ms % 1000 < 0) --seconds;
  std::int64_t days = seconds / 86400;
  std::int64_t second_of_day = seconds % 86400;
  if (second_of_day < 0) {
    second_of_day += 86400;
    --days;
  }
  // std::chrono::year holds -32767..32767: stay well inside (about -28000..32000).
  if (days > 11'000'000 || days < -11'000'000) return std::nullopt;
  const std::chrono::year_month_day date{std::chrono::sys_days{std::chrono::days{days}}};
  if (!date.ok()) return std::nullopt;
  time_parts parts;
  parts.year = static_cast<int>(date.year());
  parts.month = static_cast<int>(static_cast<unsigned>(date.month()));
  parts.day = static_cast<int>(static_cast<unsigned>(date.day()));
  parts.hour = static_cast<int>(second_of_day / 3600);
  parts.minute = static_cast<int>(second_of_day / 60 % 60);
  parts.second = static_cast<int>(second_of_day % 60);
  fill_iso_week(parts);
  return parts;
}

/// The parts of a timestamp in one of the read forms; empty when it is in none.
[[nodiscard]] constexpr std::optional<time_parts> parse_time_parts(std::string_view s) noexcept {
  if (s.size() >= 10 && s[4] == '-') return parse_written_time_parts(s);
  return parse_epoch_time_parts(s);
}

}  // namespace sigma::detail

FLUXCAP_END_NAMESPACE
