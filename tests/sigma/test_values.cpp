// Numbers, IP addresses and CIDR blocks, and timestamp parts for the comparison, cidr and
// time modifiers (fluxcap/sigma/detail/{number,ip,time_parts}.hpp). ISO weeks and epoch
// dates were checked against Python's datetime.isocalendar().
#include <doctest/doctest.h>
#include <fluxcap/sigma/detail/ip.hpp>
#include <fluxcap/sigma/detail/number.hpp>
#include <fluxcap/sigma/detail/time_parts.hpp>

#include <compare>
#include <cstdint>
#include <limits>
#include <string_view>

using namespace fluxcap::sigma::detail;

namespace {

number num(std::string_view text) {
  const auto n = parse_number(text);
  REQUIRE_MESSAGE(n.has_value(), text);
  return *n;
}

ip_address ip(std::string_view text) {
  const auto a = parse_ip(text);
  REQUIRE_MESSAGE(a.has_value(), text);
  return *a;
}

cidr_block cidr(std::string_view text) {
  const auto c = parse_cidr(text);
  REQUIRE_MESSAGE(c.has_value(), text);
  return *c;
}

time_parts parts(std::string_view text) {
  const auto p = parse_time_parts(text);
  REQUIRE_MESSAGE(p.has_value(), text);
  return *p;
}

}  // namespace

TEST_CASE("numbers: accepted forms") {
  CHECK(num("4688").integral);
  CHECK(num("4688").i == 4688);
  CHECK(num("-12").i == -12);
  CHECK(num("+12").i == 12);
  CHECK(num("007").i == 7);
  CHECK(num("0").i == 0);
  CHECK(num("9223372036854775807").i == 9223372036854775807);
  CHECK(num("-9223372036854775808").i == std::numeric_limits<std::int64_t>::min());
  // Beyond int64: a double.
  CHECK_FALSE(num("9223372036854775808").integral);
  CHECK(num("9223372036854775808").d == 9223372036854775808.0);
  CHECK_FALSE(num("1.5").integral);
  CHECK(num("1.5").d == 1.5);
  CHECK(num("-2.5e3").d == -2500.0);
  CHECK(num("1E2").d == 100.0);
  CHECK(num("1.").d == 1.0);
  CHECK(num(".5").d == 0.5);
  CHECK(num("-.5").d == -0.5);
  CHECK(num("+.5").d == 0.5);
  CHECK_FALSE(num("1e2").integral);
}

TEST_CASE("numbers: refused forms") {
  for (const std::string_view bad :
       {"",    "-",   "+",   ".",   "e5",  "1e",    "1e+",   " 1",     "1 ",  "0x10",
        "1,5", "--1", "+-1", "inf", "nan", "1.2.3", "1e999", "-1e999", "12a", "١"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_number(bad).has_value());
  }
}

TEST_CASE("numbers: comparison, exact where integers are involved") {
  CHECK(compare(num("1"), num("2")) == std::partial_ordering::less);
  CHECK(compare(num("2"), num("2")) == std::partial_ordering::equivalent);
  CHECK(compare(num("2.0"), num("2")) == std::partial_ordering::equivalent);
  CHECK(compare(num("2"), num("1.5")) == std::partial_ordering::greater);
  CHECK(compare(num("-1"), num("-0.5")) == std::partial_ordering::less);
  CHECK(compare(num("1.5"), num("2.5")) == std::partial_ordering::less);
  // Integers beyond 2^53 stay exact against each other...
  CHECK(compare(num("9007199254740993"), num("9007199254740992")) ==
        std::partial_ordering::greater);
  // ...and against a double (which would round 2^53 + 1 to 2^53).
  CHECK(compare(num("9007199254740993"), num("9007199254740992.0")) ==
        std::partial_ordering::greater);
  CHECK(compare(num("9007199254740992.0"), num("9007199254740993")) == std::partial_ordering::less);
  CHECK(compare(num("9223372036854775807"), num("9223372036854775808")) ==
        std::partial_ordering::less);
  CHECK(compare(num("-9223372036854775808"), num("-1e19")) == std::partial_ordering::greater);
  CHECK(compare(num("5"), num("5.000001")) == std::partial_ordering::less);
  CHECK(compare(num("-5"), num("-5.000001")) == std::partial_ordering::greater);
}

TEST_CASE("IPv4: strict dotted quad") {
  const auto a = ip("192.168.1.10");
  CHECK(a.v4);
  CHECK(a.bytes[10] == 0xFF);
  CHECK(a.bytes[15] == 10);
  CHECK(ip("0.0.0.0").v4);
  CHECK(ip("255.255.255.255").bytes[12] == 255);
  for (const std::string_view bad :
       {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.04", "1..2.3", "1.2.3.4 ",
        " 1.2.3.4", "1.2.3.", ".1.2.3", "1.2.3.4/8", "a.b.c.d", "1.2.3.-4", "1234.1.1.1",
        "0x1.2.3.4"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_ip(bad).has_value());
  }
}

TEST_CASE("IPv6: RFC 4291 text forms") {
  const auto loopback = ip("::1");
  CHECK_FALSE(loopback.v4);
  CHECK(loopback.bytes[15] == 1);
  CHECK(ip("::").bytes == std::array<std::uint8_t, 16>{});
  CHECK(ip("0:0:0:0:0:0:0:1") == loopback);
  CHECK(ip("2001:db8::8:800:200c:417a") == ip("2001:DB8:0:0:8:800:200C:417A"));
  CHECK(ip("2001:db8::").bytes[3] == 0xb8);
  CHECK(ip("1:2:3:4:5:6:7::").bytes[13] == 7);
  CHECK(ip("::2:3:4:5:6:7:8").bytes[3] == 2);
  CHECK(ip("1::8").bytes[15] == 8);
  // Embedded IPv4.
  CHECK(ip("::13.1.68.3").bytes[12] == 13);
  CHECK_FALSE(ip("::13.1.68.3").v4);
  CHECK(ip("0:0:0:0:0:0:13.1.68.3") == ip("::13.1.68.3"));
  // IPv4-mapped counts as IPv4, in either spelling.
  CHECK(ip("::ffff:129.144.52.38").v4);
  CHECK(ip("::ffff:129.144.52.38") == ip("129.144.52.38"));
  CHECK(ip("::FFFF:8190:3426") == ip("129.144.52.38"));
  for (const std::string_view bad : {":", ":::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "1::2::3",
                                     "12345::", "::1:", ":1::", "1:2:3:4:5:6:7:8::", "::1.2.3",
                                     "::1.2.3.256", "1.2.3.4::", "::ffff:1.2.3.4:1", "fe80::1%eth0",
                                     "[::1]", "g::1", "1:2:3:4:5:6:7:1.2.3.4", "::1/128", " ::1"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_ip(bad).has_value());
  }
}

TEST_CASE("CIDR blocks") {
  const auto ten = cidr("10.0.0.0/8");
  CHECK(ten.prefix == 8);
  CHECK_FALSE(ten.host_bits_set);
  CHECK(ten.contains(ip("10.255.1.2")));
  CHECK_FALSE(ten.contains(ip("11.0.0.1")));
  CHECK(ten.contains(ip("::ffff:10.1.2.3")));   // mapped counts as v4
  CHECK_FALSE(ten.contains(ip("::10.1.2.3")));  // not mapped: IPv6

  const auto odd = cidr("192.168.1.0/23");
  CHECK(odd.host_bits_set);  // 1.0 has a bit below /23: masked to 192.168.0.0
  CHECK(odd.network == ip("192.168.0.0"));
  CHECK(odd.contains(ip("192.168.1.77")));
  CHECK(odd.contains(ip("192.168.0.1")));
  CHECK_FALSE(odd.contains(ip("192.168.2.1")));

  CHECK(cidr("0.0.0.0/0").contains(ip("8.8.8.8")));
  CHECK_FALSE(cidr("0.0.0.0/0").contains(ip("::1")));
  CHECK(cidr("1.2.3.4/32").contains(ip("1.2.3.4")));
  CHECK_FALSE(cidr("1.2.3.4/32").contains(ip("1.2.3.5")));
  CHECK(cidr("1.2.3.4").prefix == 32);  // a bare address is a host block

  const auto v6 = cidr("2001:db8::/32");
  CHECK(v6.contains(ip("2001:db8:ffff::1")));
  CHECK_FALSE(v6.contains(ip("2001:db9::1")));
  CHECK(cidr("::/0").contains(ip("::1")));
  CHECK_FALSE(cidr("::/0").contains(ip("10.0.0.1")));  // as Python's ipaddress
  CHECK(cidr("fe80::1/10").host_bits_set);
  CHECK(cidr("fe80::1/10").contains(ip("febf::")));
  CHECK(cidr("::1").prefix == 128);
  // A v4-mapped network with a prefix of at least 96 is a v4 block.
  const auto mapped = cidr("::ffff:10.0.0.0/104");
  CHECK(mapped.network.v4);
  CHECK(mapped.prefix == 8);
  CHECK(mapped.contains(ip("10.9.9.9")));

  for (const std::string_view bad :
       {"10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/08", "10.0.0.0/8/8", "::/129",
        "::/1000", "10.0.0/8", "/8", "10.0.0.0/ 8", "10.0.0.0/+8"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_cidr(bad).has_value());
  }
}

TEST_CASE("time parts: RFC 3339 as written, offset not applied") {
  const auto p = parts("2026-12-01T10:20:30.250+05:30");
  CHECK(p.year == 2026);
  CHECK(p.month == 12);
  CHECK(p.day == 1);
  CHECK(p.hour == 10);  // not 04 (UTC): the parts as written
  CHECK(p.minute == 20);
  CHECK(p.second == 30);
  CHECK(parts("2026-12-01t23:59:59z").hour == 23);
  CHECK(parts("2026-12-01T00:00:00").day == 1);
  CHECK(parts("2016-12-31T23:59:60Z").second == 60);
  // Sysmon's UtcTime.
  const auto sysmon = parts("2024-03-05 07:08:09.123");
  CHECK(sysmon.year == 2024);
  CHECK(sysmon.month == 3);
  CHECK(sysmon.hour == 7);
  CHECK(sysmon.second == 9);
  for (const std::string_view bad :
       {"2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-00-10T00:00:00Z",
        "2026-12-00T00:00:00Z", "2026-12-01T24:00:00Z", "2026-12-01T10:60:00Z",
        "2026-12-01T10:00:00+24:00", "2026-12-01T10:00:00Zjunk", "2026-12-01", "2026-12-01T10:00",
        "2026-12-01X10:00:00", "2026-12-01T10:00:00.", "", "abc", "12:00:00"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_time_parts(bad).has_value());
  }
}

TEST_CASE("time parts: epoch seconds as UTC") {
  const auto zero = parts("0");
  CHECK(zero.year == 1970);
  CHECK(zero.month == 1);
  CHECK(zero.day == 1);
  CHECK(zero.hour == 0);
  CHECK(zero.iso_week == 1);
  const auto t = parts("1764583200");  // 2025-12-01 10:00:00 UTC
  CHECK(t.year == 2025);
  CHECK(t.month == 12);
  CHECK(t.day == 1);
  CHECK(t.hour == 10);
  CHECK(t.iso_week == 49);
  CHECK(parts("1764583200.999").second == 0);
  const auto before = parts("-1");  // 1969-12-31 23:59:59
  CHECK(before.year == 1969);
  CHECK(before.day == 31);
  CHECK(before.hour == 23);
  CHECK(before.second == 59);
  CHECK(before.iso_week == 1);
  CHECK(before.iso_week_year == 1970);
  CHECK(parts("-0.5").second == 59);  // floor, not truncation
  CHECK(parts("-86401").day == 30);
  const auto leap = parts("951782400");
  CHECK(leap.month == 2);
  CHECK(leap.day == 29);
  CHECK(leap.iso_week == 9);
  CHECK(parts("253402300799").year == 9999);
  CHECK(parts("253402300799").iso_week == 52);
  // Beyond what a calendar year holds: no parts (not a wrapped year).
  CHECK_FALSE(parse_time_parts("9999999999999").has_value());
  CHECK_FALSE(parse_time_parts("-9999999999999").has_value());
  CHECK_FALSE(parse_time_parts("1e9").has_value());
}

TEST_CASE("time parts: ISO 8601 weeks at year boundaries") {
  struct expected {
    std::string_view text;
    int week;
    int week_year;
  };
  for (const auto& e :
       {expected{"2021-01-03T12:00:00Z", 53, 2020}, expected{"2021-01-04T12:00:00Z", 1, 2021},
        expected{"2026-12-31T12:00:00Z", 53, 2026}, expected{"2027-01-01T12:00:00Z", 53, 2026},
        expected{"2027-01-04T00:00:00Z", 1, 2027}, expected{"2024-12-30T00:00:00Z", 1, 2025},
        expected{"2020-12-31T00:00:00Z", 53, 2020}, expected{"2026-01-01T00:00:00Z", 1, 2026},
        expected{"2008-12-29T00:00:00Z", 1, 2009}, expected{"2010-01-03T00:00:00Z", 53, 2009},
        expected{"2000-02-29 00:00:00.000", 9, 2000}, expected{"1609632000", 53, 2020}}) {
    CAPTURE(e.text);
    const auto p = parts(e.text);
    CHECK(p.iso_week == e.week);
    CHECK(p.iso_week_year == e.week_year);
  }
}
