// Semantics section 6: time-bounded memory (`timespan` per rule, event time from the
// spec's `timestamp` column), event-time parsing, and the spec checks around them.
#include "harness.hpp"

#include <doctest/doctest.h>
#include <fluxcap/fluxcap.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

using namespace fluxcap;
using namespace std::chrono_literals;
using fluxcap_test::harness;
using fluxcap_test::tag_set;

namespace {

/// Seconds since the epoch as the timestamp column's text.
fluxcap_test::columns at_s(std::int64_t seconds, fluxcap_test::columns more = {}) {
  more["ts"] = std::to_string(seconds);
  return more;
}

spec timed(rule_spec r) {
  spec s{std::move(r)};
  s.with_timestamp("ts");
  return s;
}

}  // namespace

TEST_CASE("parse_timespan: a positive number and a unit") {
  CHECK(parse_timespan("500ms") == 500ms);
  CHECK(parse_timespan("30s") == 30s);
  CHECK(parse_timespan("5m") == 5min);
  CHECK(parse_timespan("2h") == 2h);
  CHECK(parse_timespan("7d") == std::chrono::milliseconds(7 * 86'400'000LL));
  for (const char* bad : {"", "5", "m", "0s", "-5m", "5 m", "5min", "5M", "1.5h", "5m ", "s5",
                          "99999999999999999999d", "200000000000d"})
    CHECK_MESSAGE(!parse_timespan(bad), std::string(bad));
}

TEST_CASE("parse_event_time: RFC 3339 and epoch seconds, in milliseconds") {
  // 2025-12-01T10:00:00Z is 1764583200 s after the epoch.
  CHECK(parse_event_time("2025-12-01T10:00:00Z") == 1764583200000);
  CHECK(parse_event_time("2025-12-01t10:00:00z") == 1764583200000);
  CHECK(parse_event_time("2025-12-01 10:00:00") == 1764583200000);  // no offset: UTC
  CHECK(parse_event_time("2025-12-01T10:00:00.25Z") == 1764583200250);
  CHECK(parse_event_time("2025-12-01T10:00:00.123456789Z") == 1764583200123);  // truncated
  CHECK(parse_event_time("2025-12-01T12:30:00+02:30") == 1764583200000);
  CHECK(parse_event_time("2025-12-01T08:00:00-02:00") == 1764583200000);
  CHECK(parse_event_time("1970-01-01T00:00:00Z") == 0);
  CHECK(parse_event_time("1969-12-31T23:59:59Z") == -1000);
  CHECK(parse_event_time("2024-02-29T00:00:00Z") == 1709164800000);  // leap day
  CHECK(parse_event_time("1764583200") == 1764583200000);
  CHECK(parse_event_time("1764583200.5") == 1764583200500);
  CHECK(parse_event_time("-1.5") == -1500);
  CHECK(parse_event_time("0") == 0);
  for (const char* bad : {"",
                          "-",
                          "abc",
                          "1.",
                          ".5",
                          "1e9",
                          "12:00",
                          "2026-12-01",
                          "2026-12-01T10:00Z",
                          "2026-13-01T10:00:00Z",
                          "2026-02-30T10:00:00Z",
                          "2023-02-29T00:00:00Z",
                          "2026-12-01T24:00:00Z",
                          "2026-12-01T10:60:00Z",
                          "2026-12-01T10:00:00+0200",
                          "2026-12-01T10:00:00Zjunk",
                          "2026-12-01T10:00:00.Z",
                          "2026-12-01X10:00:00Z",
                          "99999999999999999999",
                          "2026-12-01T10:00:00 "})
    CHECK_MESSAGE(!parse_event_time(bad), std::string(bad));
}

TEST_CASE("a timespan needs the spec's timestamp column, and a positive span") {
  spec no_column{temporal_rule("r", {"a"}).with_timespan(5min)};
  CHECK_THROWS_WITH_AS(
      (void)compile(no_column),
      "rule 'r': 'timespan' needs the spec's 'timestamp' column (the events' time)", spec_error);
  CHECK_THROWS_WITH_AS((void)compile(timed(temporal_rule("r", {"a"}).with_timespan(0ms))),
                       "rule 'r': 'timespan' must be positive", spec_error);
  spec empty_column{temporal_rule("r", {"a"}).with_timespan(5min)};
  empty_column.with_timestamp("");
  CHECK_THROWS_WITH_AS((void)compile(empty_column), "'timestamp' names an empty column",
                       spec_error);
  // The timestamp column is bound (it is among the program's columns) only when read.
  spec unread{temporal_rule("r", {"a"})};
  unread.with_timestamp("ts");
  CHECK(compile(unread).columns().empty());
  CHECK(compile(timed(temporal_rule("r", {"a"}).with_timespan(5min))).columns() ==
        std::vector<std::string>{"ts"});
}

TEST_CASE_TEMPLATE("temporal rule with a timespan: recalled within it, forgotten after", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  // 100 s, buckets of 25 s: recalled when at most 100 s old; forgotten once 125 s old.
  harness<Memory> g(timed(temporal_rule("r", {"a", "b"}).with_timespan(100s)));
  const std::int64_t t0 = 1'000'000;  // a multiple of 25: a bucket starts here
  CHECK(g.run({"r.a"}, at_s(t0)) == tag_set{"r.a"});
  CHECK(g.run({"r.b"}, at_s(t0 + 1)) == tag_set{"r.a", "r.b"});
  // Never forgotten early: exactly the timespan after the store, still recalled.
  CHECK(g.run({"r.b"}, at_s(t0 + 100)) == tag_set{"r.a", "r.b"});
  // Forgotten late by less than one bucket: 124 s after a store at a bucket's start...
  CHECK(g.run({"r.b"}, at_s(t0 + 124)) == tag_set{"r.a", "r.b"});
  // ... and gone at 125 s.
  CHECK(g.run({"r.b"}, at_s(t0 + 125)) == tag_set{"r.b"});
  // A store refreshes: storing a again restarts its span.
  CHECK(g.run({"r.a"}, at_s(t0 + 130)) == tag_set{"r.a", "r.b"});
  CHECK(g.run({"r.b"}, at_s(t0 + 230)) == tag_set{"r.a", "r.b"});
  CHECK(g.run({"r.b"}, at_s(t0 + 255)) == tag_set{"r.b"});
}

TEST_CASE_TEMPLATE("timespan: the exact bound at every offset, for stores anywhere in a bucket",
                   Memory, FLUXCAP_MEMORY_POLICIES) {
  // For each store time s and lookup time t >= s: recalled when t - s <= 10 s; never
  // when t - s >= 10 s + one bucket (2.5 s).
  for (std::int64_t s_ms = 0; s_ms < 5000; s_ms += 700) {
    for (std::int64_t age_ms = 0; age_ms < 14000; age_ms += 300) {
      harness<Memory> g(timed(temporal_rule("r", {"a", "b"}).with_timespan(10s)));
      const auto ms_text = [](std::int64_t ms) {
        return std::to_string(ms / 1000) + "." + std::to_string(1000 + ms % 1000).substr(1);
      };
      const std::int64_t base = 2'000'000'000;  // ms
      g.run({"r.a"}, {{"ts", ms_text(base + s_ms)}});
      const bool recalled =
          g.run({"r.b"}, {{"ts", ms_text(base + s_ms + age_ms)}}).count("r.a") == 1;
      INFO("stored at +" << s_ms << " ms, looked up " << age_ms << " ms later");
      if (age_ms <= 10000) CHECK(recalled);
      if (age_ms >= 12500) CHECK_FALSE(recalled);
    }
  }
}

TEST_CASE_TEMPLATE("timespan: events without a time store and recall nothing for timed rules",
                   Memory, FLUXCAP_MEMORY_POLICIES) {
  spec s{temporal_rule("timed", {"a", "b"}).with_timespan(1h), temporal_rule("plain", {"a", "b"})};
  s.with_timestamp("ts");
  harness<Memory> g(s);
  // No time (missing, null, unreadable): the timed rule's tags keep their input.
  CHECK(g.run({"timed.a", "plain.a"}) == tag_set{"timed.a", "plain.a"});
  CHECK(g.state().stored() == 1);  // plain.a only
  CHECK(g.run({"timed.a"}, {{"ts", std::nullopt}}) == tag_set{"timed.a"});
  CHECK(g.run({"timed.a"}, {{"ts", "yesterday"}}) == tag_set{"timed.a"});
  CHECK(g.state().stored() == 1);
  // The untimed rule works as ever on the same events.
  CHECK(g.run({"plain.b"}, {{"ts", "yesterday"}}) == tag_set{"plain.a", "plain.b"});
  // With a time, nothing was remembered before: b true recalls no a.
  CHECK(g.run({"timed.b"}, at_s(1000)) == tag_set{"timed.b"});
  CHECK(g.run({"timed.a"}, at_s(1001)) == tag_set{"timed.a", "timed.b"});
  // A later event without a time recalls nothing of the timed rule.
  CHECK(g.run({"timed.a"}) == tag_set{"timed.a"});
  CHECK(g.run({"timed.a"}, at_s(1002)) == tag_set{"timed.a", "timed.b"});
}

TEST_CASE_TEMPLATE(
    "timespan: an event earlier than a store (out of order) recalls it only "
    "within the store's bucket",
    Memory, FLUXCAP_MEMORY_POLICIES) {
  harness<Memory> g(timed(temporal_rule("r", {"a", "b"}).with_timespan(40s)));  // buckets of 10 s
  g.run({"r.a"}, at_s(1005));
  CHECK(g.run({"r.b"}, at_s(1001)).count("r.a") == 1);  // same bucket [1000, 1010)
  CHECK(g.run({"r.b"}, at_s(999)).count("r.a") == 0);   // the bucket before
}

TEST_CASE_TEMPLATE("ordered temporal rule with a timespan: a, then b, within the span", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  harness<Memory> g(
      timed(temporal_rule("seq", {"a", "b", "c"}).with_ordered().with_timespan(1min)));
  CHECK(g.run({"seq.a"}, at_s(0)) == tag_set{"seq.a"});
  CHECK(g.run({"seq.b"}, at_s(30)) == tag_set{"seq.a", "seq.b"});
  // a has expired by now (0 + 60 + 15 < 80), so b is gated off (not recalled), but b
  // itself is still remembered: c, gated by b, is stored.
  CHECK(g.run({"seq.c"}, at_s(80)) == tag_set{"seq.c"});
  // b alone, with a expired, is not remembered: a fresh a starts the sequence again.
  CHECK(g.run({"seq.b"}, at_s(200)) == tag_set{"seq.b"});
  CHECK(g.run({"seq.c"}, at_s(201)) == tag_set{"seq.c"});
  CHECK(g.run({"seq.a"}, at_s(202)) == tag_set{"seq.a"});
  CHECK(g.run({"seq.b"}, at_s(203)) == tag_set{"seq.a", "seq.b"});
  CHECK(g.run({"seq.c"}, at_s(204)) == tag_set{"seq.a", "seq.b", "seq.c"});
}

TEST_CASE_TEMPLATE("parent and ancestor rules with a timespan", Memory, FLUXCAP_MEMORY_POLICIES) {
  SUBCASE("parent: a child sees its parent's tag only within the span") {
    harness<Memory> g(timed(parent_rule("p", "ppid", "pid", {"f"}).with_timespan(10min)));
    g.run({"p.f"}, at_s(0, {{"pid", "1"}}));
    CHECK(g.run({}, at_s(600, {{"pid", "2"}, {"ppid", "1"}})) == tag_set{"p.f"});
    CHECK(g.run({}, at_s(751, {{"pid", "3"}, {"ppid", "1"}})).empty());
  }
  SUBCASE("ancestor: each generation re-remembers, so the span runs from the nearest link") {
    harness<Memory> g(timed(ancestor_rule("a", "ppid", "pid", {"f"}).with_timespan(10min)));
    g.run({"a.f"}, at_s(0, {{"pid", "1"}}));
    CHECK(g.run({}, at_s(500, {{"pid", "2"}, {"ppid", "1"}})) == tag_set{"a.f"});
    // 1000 s after the root but 500 s after its parent remembered it.
    CHECK(g.run({}, at_s(1000, {{"pid", "3"}, {"ppid", "2"}})) == tag_set{"a.f"});
    // A child of 3 long after: 3's store has expired.
    CHECK(g.run({}, at_s(2000, {{"pid", "4"}, {"ppid", "3"}})).empty());
  }
}

TEST_CASE("timespan: exact and bloom memory agree on a long timed stream") {
  spec s{temporal_rule("t", {"a", "b", "c"}).with_timespan(30s).with_groupby({"user"}),
         parent_rule("p", "ppid", "pid", {"x", "y"}).with_timespan(2min)};
  s.with_timestamp("ts");
  memory_config config;
  config.capacity = 1 << 16;
  harness<exact_memory> exact(s, config);
  harness<bloom_memory> bloom(s, config);
  harness<cuckoo_memory> cuckoo(s, config);
  std::uint64_t rng = 12345;
  const auto next = [&] {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return rng >> 33;
  };
  std::int64_t now = 1'700'000'000'000;  // ms
  int differ_bloom = 0;
  int differ_cuckoo = 0;
  int recalled = 0;
  const int events = 20000;
  for (int i = 0; i < events; ++i) {
    now += static_cast<std::int64_t>(next() % 40);  // ~20 ms apart: spans cover ~1,500 events
    tag_set in;
    for (const char* tag : {"t.a", "t.b", "t.c", "p.x", "p.y"})
      if (next() % 8 == 0) in.insert(tag);
    fluxcap_test::columns cols{
        {"ts", std::to_string(now / 1000) + "." + std::to_string(1000 + now % 1000).substr(1)},
        {"user", std::to_string(next() % 5)},
        {"pid", std::to_string(i)}};
    if (i > 0) cols["ppid"] = std::to_string(static_cast<int>(next() % static_cast<unsigned>(i)));
    const tag_set want = exact.run(in, cols);
    recalled += static_cast<int>(want.size() - in.size());
    const tag_set got_bloom = bloom.run(in, cols);
    const tag_set got_cuckoo = cuckoo.run(in, cols);
    // Approximate memories only add tags (false positives), never lose one.
    for (const auto& t : want) {
      CHECK(got_bloom.count(t) == 1);
      CHECK(got_cuckoo.count(t) == 1);
    }
    differ_bloom += got_bloom != want;
    differ_cuckoo += got_cuckoo != want;
  }
  CHECK(recalled > events / 2);  // the stream does exercise recalls
  // At the default fpp (1e-4 a lookup, a few timed lookups a tag): far below 1% of events.
  CHECK(differ_bloom < events / 100);
  CHECK(differ_cuckoo < events / 100);
}

TEST_CASE_TEMPLATE("timespan: spans not a multiple of 4 ms, and spans under 4 ms", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  // 3 ms: buckets of 1 ms, so the bound is exact. 10 ms: buckets of 2 ms (10 / 4 rounded
  // down), recalled up to 10 ms, never from 12 ms.
  for (const std::int64_t span : {3, 10}) {
    const std::int64_t bucket = std::max<std::int64_t>(1, span / 4);
    for (std::int64_t s_ms = 0; s_ms < 4; ++s_ms) {
      for (std::int64_t age = 0; age < span + 2 * bucket + 2; ++age) {
        harness<Memory> g(
            timed(temporal_rule("r", {"a", "b"}).with_timespan(std::chrono::milliseconds(span))));
        const auto text = [](std::int64_t ms) { return "1000." + std::to_string(100 + ms); };
        g.run({"r.a"}, {{"ts", text(s_ms)}});
        const bool recalled = g.run({"r.b"}, {{"ts", text(s_ms + age)}}).count("r.a") == 1;
        INFO("span " << span << " ms, stored at +" << s_ms << " ms, looked up " << age
                     << " ms later");
        if (age <= span) CHECK(recalled);
        if (age >= span + bucket) CHECK_FALSE(recalled);
      }
    }
  }
}
