// Sigma correlation rules without YAML: timespans, exact windows, linking, and every
// semantic decision of docs/semantics.md "Correlation rules" on events the test writes
// (detections given directly, as the Sigma engine would report them).
#include <doctest/doctest.h>
#include <fluxcap/sigma/bounded_window.hpp>
#include <fluxcap/sigma/correlation.hpp>
#include <fluxcap/sigma/correlation_engine.hpp>
#include <fluxcap/sigma/correlation_window.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "correlation_test_util.hpp"

using namespace fluxcap::sigma;

namespace {

constexpr event_time s = 1000;  // one second in milliseconds

using corr_test::bound;
using corr_test::correlation;
using corr_test::detection_rule;

/// Detection rules a, b, c, d (compiled indices 0..3) and correlations over them.
template <class Windows = exact_windows>
struct basic_harness {
  std::vector<rule> rules{detection_rule("a"), detection_rule("b"), detection_rule("c"),
                          detection_rule("d")};
  compiled_rules compiled;
  profile prof;
  std::optional<correlation_engine<dense_fields, Windows>> engine;

  explicit basic_harness(std::vector<correlation_rule> correlations,
                         correlation_options options = {}, std::size_t uncompiled = SIZE_MAX) {
    for (std::size_t i = 0; i < rules.size(); ++i) {
      if (i == uncompiled) continue;
      compiled_rule r;
      r.source_index = i;
      r.identity = rules[i].identity;
      compiled.rules.push_back(std::move(r));
    }
    compiled.timestamp_path = "ts";
    (void)link_correlations(rules, correlations);
    // A fixed key: value hashes (the bounded distinct sketch's input) are the same each run.
    engine.emplace(std::move(correlations), compiled, prof, dense_fields{}, options,
                   fluxcap::default_hash(fluxcap::hash_key{0x5eed, 0xc0ffee}));
  }

  /// Identities of the correlations firing on an event at `t_ms` with `detections`
  /// (names of a..d) and fields.
  std::vector<std::string> step(std::vector<std::string> detected, std::optional<event_time> t_ms,
                                std::vector<std::pair<std::string, std::string>> fields = {
                                    {"User", "alice"}}) {
    dense_field_event e;
    if (t_ms) e.set("ts", std::to_string(*t_ms / 1000) + "." + pad(*t_ms % 1000));
    for (auto& [k, v] : fields) e.set(k, v);
    std::vector<std::uint32_t> indices;
    for (const auto& d : detected)
      for (std::uint32_t j = 0; j < compiled.rules.size(); ++j)
        if (compiled.rules[j].identity == d + "-id") indices.push_back(j);
    std::vector<std::string> out;
    for (const auto c : engine->process(indices, e)) out.push_back(engine->rule(c).identity);
    return out;
  }

  static std::string pad(event_time ms) {
    std::string t = std::to_string(ms);
    return std::string(3 - t.size(), '0') + t;
  }
};

using harness = basic_harness<>;
using names = std::vector<std::string>;

}  // namespace

TEST_CASE("correlation timespans: number + s, m, h, d") {
  CHECK(parse_timespan_ms("10s") == 10 * s);
  CHECK(parse_timespan_ms("90m") == 90 * 60 * s);
  CHECK(parse_timespan_ms("1h") == 3600 * s);
  CHECK(parse_timespan_ms("2d") == 2 * 86400 * s);
  CHECK(parse_timespan_ms("010s") == 10 * s);
  for (const char* bad : {"", "10", "s", "0s", "-1m", "1.5h", "10S", "10 m", "10ms", "1w", "m10",
                          "99999999999999999999d", "40000d"})
    CHECK_MESSAGE(!parse_timespan_ms(bad), bad);
  CHECK(parse_timespan_ms("36000d"));  // about 98.6 years: still a timespan
}

TEST_CASE("conditions: every bound must hold") {
  correlation_condition c;
  c.bounds = {bound(comparison::gt, 100), bound(comparison::lte, 200)};
  CHECK(!c.holds(100));
  CHECK(c.holds(101));
  CHECK(c.holds(200));
  CHECK(!c.holds(201));
  c.bounds = {bound(comparison::neq, 3)};
  CHECK(c.holds(2));
  CHECK(!c.holds(3));
  c.bounds = {bound(comparison::eq, 3)};
  CHECK(c.holds(3));
  c.bounds = {bound(comparison::lt, 3)};
  CHECK(c.holds(2));
  CHECK(!c.holds(3));
  CHECK(parse_condition_number("10") == 10.0);
  CHECK(parse_condition_number("+2.5") == 2.5);
  CHECK(!parse_condition_number("ten"));
  CHECK(!parse_condition_number("inf"));
  CHECK(!parse_condition_number(""));
}

TEST_CASE("exact count window: (now - span, now], out of order, cap") {
  exact_count_window w(window_params{10 * s, 64, 4});
  w.add(0);
  w.add(5 * s);
  CHECK(w.count(5 * s) == 2);
  CHECK(w.count(9999) == 2);
  CHECK(w.count(10 * s) == 1);  // t - span itself is outside
  w.add(3 * s);                 // out of order: inserted in place
  CHECK(w.count(12 * s) == 2);  // 3 s and 5 s
  w.add(12 * s);
  w.add(12 * s);
  w.add(12 * s);  // the fifth kept event would pass max_events = 4
  CHECK(w.dropped() == 1);
  CHECK(w.count(12 * s) == 4);
  w.add(-100 * s);  // far in the past: outside already, not kept
  CHECK(w.count(12 * s) == 4);
  CHECK(w.memory_bytes() > 0);

  std::string blob;
  w.save(blob);
  std::string_view in = blob;
  const auto back = exact_count_window::load(in, window_params{10 * s, 64, 4});
  REQUIRE(back);
  CHECK(in.empty());
  CHECK(back->count(12 * s) == 4);
  // Hostile bytes: truncated, a count past the cap, a count past the bytes.
  std::string_view cut = std::string_view(blob).substr(0, blob.size() - 1);
  CHECK(!exact_count_window::load(cut, window_params{10 * s, 64, 4}));
  std::string_view small = blob;
  CHECK(!exact_count_window::load(small, window_params{10 * s, 64, 2}));
  std::string huge(8, '\xff');
  std::string_view h = huge;
  CHECK(!exact_count_window::load(h, window_params{10 * s, 64, 4}));
  std::string far;
  fluxcap::sigma::detail::put_u64(far, 1);
  fluxcap::sigma::detail::put_u64(far, 0x8000000000000000ULL);  // INT64_MIN
  fluxcap::sigma::detail::put_u64(far, 0);
  std::string_view f = far;
  CHECK(!exact_count_window::load(f, window_params{10 * s, 64, 4}));
}

TEST_CASE("exact distinct and value windows") {
  exact_distinct_window d(window_params{10 * s, 64, 100});
  d.add(0, 1);
  d.add(1 * s, 2);
  d.add(2 * s, 1);
  CHECK(d.distinct(2 * s) == 2);
  CHECK(d.distinct(10 * s) == 2);  // off the newest time: 1 s and 2 s remain (1, 2)
  CHECK(d.distinct(11 * s) == 1);  // 2 s only
  d.add(11 * s, 3);                // expires 0 s and 1 s
  CHECK(d.distinct(11 * s) == 2);  // 1 (at 2 s) and 3
  std::string blob;
  d.save(blob);
  std::string_view in = blob;
  const auto back = exact_distinct_window::load(in, window_params{10 * s, 64, 100});
  REQUIRE(back);
  CHECK(back->distinct(11 * s) == 2);

  exact_value_window v(window_params{10 * s, 64, 100});
  CHECK(std::isnan(v.percentile(0, 50)));
  for (int i = 1; i <= 5; ++i) v.add(i * s, i * 10.0);
  CHECK(v.count(5 * s) == 5);
  CHECK(v.sum(5 * s) == 150.0);
  CHECK(v.percentile(5 * s, 50) == 30.0);
  CHECK(v.percentile(5 * s, 0) == 10.0);
  CHECK(v.percentile(5 * s, 100) == 50.0);
  CHECK(v.percentile(5 * s, 25) == 20.0);
  CHECK(v.percentile(5 * s, 90) == doctest::Approx(46.0));
  CHECK(v.sum(12 * s) == 120.0);  // 3, 4, 5 s
  std::string vb;
  v.save(vb);
  std::string_view vin = vb;
  const auto vback = exact_value_window::load(vin, window_params{10 * s, 64, 100});
  REQUIRE(vback);
  CHECK(vback->sum(5 * s) == 150.0);
  // Saved values the engine never adds (NaN, infinities) are refused: percentile()
  // could not order them.
  for (const double bad :
       {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    exact_value_window w(window_params{10 * s, 64, 100});
    w.add(s, 1.0);
    w.add(2 * s, bad);
    std::string wb;
    w.save(wb);
    std::string_view win = wb;
    CHECK(!exact_value_window::load(win, window_params{10 * s, 64, 100}));
  }
}

TEST_CASE("link_correlations: references by name or id; errors at their place") {
  std::vector<rule> rules{detection_rule("a"), detection_rule("b")};
  auto c1 = correlation("c1", correlation_type::event_count, {"a", "b-id"}, {"User"}, 10 * s,
                        {bound(comparison::gte, 2)});
  c1.rule_where = {{"c.yml", 5, 7}, {"c.yml", 6, 7}};
  auto c2 = correlation("c2", correlation_type::temporal, {"c1", "a"}, {"User"}, 10 * s);
  std::vector<correlation_rule> cs{c2, c1};
  const auto order = link_correlations(rules, cs);
  CHECK(order == std::vector<std::size_t>{1, 0});
  REQUIRE(cs[1].resolved.size() == 2);
  CHECK(cs[1].resolved[0].target == correlation_reference::kind::detection);
  CHECK(cs[1].resolved[0].index == 0);
  CHECK(cs[1].resolved[1].index == 1);
  CHECK(cs[0].resolved[0].target == correlation_reference::kind::correlation);
  CHECK(cs[0].resolved[0].index == 1);

  auto unknown = c1;
  unknown.rules[1] = "nope";
  std::vector<correlation_rule> u{unknown};
  CHECK_THROWS_WITH_AS(link_correlations(rules, u),
                       "c.yml:6:7: correlation 'c1': no rule or correlation has the name or id "
                       "'nope'",
                       sigma_error);

  auto x = correlation("x", correlation_type::temporal, {"y", "a"}, {"User"}, s);
  x.rule_where = {{"x.yml", 4, 7}, {"x.yml", 5, 7}};
  auto y = correlation("y", correlation_type::temporal, {"x"}, {"User"}, s);
  y.rule_where = {{"y.yml", 4, 7}};
  std::vector<correlation_rule> cyc{x, y};
  CHECK_THROWS_WITH_AS(link_correlations(rules, cyc),
                       "y.yml:4:7: correlation 'y': referencing 'x' makes a cycle of correlations",
                       sigma_error);
  auto self = correlation("self", correlation_type::temporal, {"self"}, {"User"}, s);
  self.rule_where = {{"s.yml", 3, 9}};
  std::vector<correlation_rule> selfs{self};
  CHECK_THROWS_AS(link_correlations(rules, selfs), sigma_error);

  auto aliased = c1;
  aliased.aliases.push_back(
      {"ip", {{"a", "src"}, {"zzz", "dst"}}, {{"c.yml", 9, 9}, {"c.yml", 10, 9}}, {}});
  std::vector<correlation_rule> al{aliased};
  CHECK_THROWS_WITH_AS(link_correlations(rules, al),
                       "c.yml:10:9: correlation 'c1': alias 'ip' names rule 'zzz', which the "
                       "correlation does not reference",
                       sigma_error);

  std::vector<rule> twice{detection_rule("a"), detection_rule("a")};
  twice[1].id = "other";
  twice[1].where = {"t.yml", 9, 1};
  std::vector<correlation_rule> none;
  CHECK_THROWS_WITH_AS(link_correlations(twice, none),
                       "t.yml:9:1: rule name 'a' is given to two rules (also rules.yml:1)",
                       sigma_error);
}

TEST_CASE("event_count: fires when the condition becomes true, once while it stays true") {
  harness h({correlation("many", correlation_type::event_count, {"a"}, {"User"}, 10 * s,
                         {bound(comparison::gte, 3)})});
  CHECK(h.step({"a"}, 0).empty());
  CHECK(h.step({"a"}, 1 * s).empty());
  CHECK(h.step({"a"}, 2 * s) == names{"many"});
  CHECK(h.step({"a"}, 3 * s).empty());    // still true: suppressed
  CHECK(h.step({"b"}, 4 * s).empty());    // not a referenced rule: no evaluation
  CHECK(h.step({"a"}, 100 * s).empty());  // window emptied: count 1, false, re-armed
  CHECK(h.step({"a"}, 101 * s).empty());
  CHECK(h.step({"a"}, 102 * s) == names{"many"});
  // Groups are separate.
  CHECK(h.step({"a"}, 103 * s, {{"User", "bob"}}).empty());
  CHECK(h.step({"a"}, 104 * s, {{"User", "bob"}}).empty());
  CHECK(h.step({"a"}, 105 * s, {{"User", "bob"}}) == names{"many"});
  CHECK(h.engine->live_groups() == 2);
}

TEST_CASE("event_count: the window edge t - timespan is excluded, exactly") {
  harness h({correlation("many", correlation_type::event_count, {"a"}, {"User"}, 10 * s,
                         {bound(comparison::gte, 3)})});
  CHECK(h.step({"a"}, 0).empty());
  CHECK(h.step({"a"}, 5 * s).empty());
  CHECK(h.step({"a"}, 10 * s).empty());  // (0 s, 10 s] holds 5 s and 10 s only
  harness g({correlation("many", correlation_type::event_count, {"a"}, {"User"}, 10 * s,
                         {bound(comparison::gte, 3)})});
  CHECK(g.step({"a"}, 1).empty());
  CHECK(g.step({"a"}, 5 * s).empty());
  CHECK(g.step({"a"}, 10 * s) == names{"many"});  // 1 ms is inside (0 s, 10 s]
}

TEST_CASE("event_count: a range condition fires again after leaving it") {
  harness h({correlation("range", correlation_type::event_count, {"a"}, {"User"}, 100 * s,
                         {bound(comparison::gt, 1), bound(comparison::lte, 2)})});
  CHECK(h.step({"a"}, 0).empty());
  CHECK(h.step({"a"}, 1 * s) == names{"range"});  // 2
  CHECK(h.step({"a"}, 2 * s).empty());            // 3: false
  CHECK(h.step({"a"}, 200 * s).empty());          // 1
  CHECK(h.step({"a"}, 201 * s) == names{"range"});
}

TEST_CASE("out-of-order events are taken at their group's latest time") {
  harness h({correlation("many", correlation_type::event_count, {"a"}, {"User"}, 10 * s,
                         {bound(comparison::gte, 3)})});
  CHECK(h.step({"a"}, 1000).empty());
  CHECK(h.step({"a"}, 10'990).empty());  // (0.99 s, 10.99 s]: 1 s and 10.99 s
  // 85 ms late: counted at 10.99 s, not at 10.905 s, so the 1 s event is still seen
  // (a window at 10.905 s would hold it too; what changes is only how long it stays).
  CHECK(h.step({"a"}, 10'905) == names{"many"});
  CHECK(h.engine->counters().late == 1);
  // A late event does not move the group's clock back: 11.0 s sees 10.99, 10.99 (late), 11.0.
  CHECK(h.step({"a"}, 11'000).empty());  // still true (3): suppressed
}

TEST_CASE("events without a time or a group-by value are counted and skipped") {
  harness h({correlation("many", correlation_type::event_count, {"a"}, {"User", "Host"}, 10 * s,
                         {bound(comparison::gte, 2)})});
  const std::vector<std::pair<std::string, std::string>> full{{"User", "u"}, {"Host", "h"}};
  CHECK(h.step({"a"}, std::nullopt, full).empty());
  CHECK(h.engine->counters().without_time == 1);
  CHECK(h.step({"a"}, 1 * s, {{"User", "u"}}).empty());
  CHECK(h.engine->counters().without_group == 1);
  CHECK(h.step({"a"}, 1 * s, {{"User", "u"}, {"Host", "h"}}).empty());
  CHECK(h.step({"a"}, 2 * s, {{"Host", "h"}, {"User", "u"}}) == names{"many"});
  // An unparseable time is no time.
  dense_field_event e;
  e.set("ts", "yesterday").set("User", "u").set("Host", "h");
  std::vector<std::uint32_t> det{0};
  CHECK(h.engine->process(det, e).empty());
  CHECK(h.engine->counters().without_time == 2);
}

TEST_CASE("temporal: every referenced rule within the timespan, in any order") {
  harness h({correlation("recon", correlation_type::temporal, {"a", "b", "c"}, {"User"}, 60 * s)});
  CHECK(h.step({"c"}, 0).empty());
  CHECK(h.step({"a"}, 10 * s).empty());
  CHECK(h.step({"a"}, 20 * s).empty());
  CHECK(h.step({"b"}, 30 * s) == names{"recon"});
  CHECK(h.step({"b"}, 40 * s).empty());  // still all three: suppressed
  // c (0 s) leaves at 60 s: at 61 s only a and b remain; a new c completes again.
  CHECK(h.step({"a"}, 61 * s).empty());
  CHECK(h.step({"c"}, 62 * s) == names{"recon"});
  // One event matching several rules counts for each.
  harness g({correlation("recon", correlation_type::temporal, {"a", "b"}, {"User"}, 60 * s)});
  CHECK(g.step({"a", "b"}, 0) == names{"recon"});
}

TEST_CASE("temporal: an explicit condition counts distinct rules") {
  harness h({correlation("two", correlation_type::temporal, {"a", "b", "c"}, {"User"}, 60 * s,
                         {bound(comparison::gte, 2)})});
  CHECK(h.step({"a"}, 0).empty());
  CHECK(h.step({"a"}, 1 * s).empty());
  CHECK(h.step({"c"}, 2 * s) == names{"two"});
}

TEST_CASE("temporal_ordered: in the listed order, within the timespan") {
  const auto make = [] {
    return correlation("seq", correlation_type::temporal_ordered, {"a", "b", "c"}, {"User"},
                       60 * s);
  };
  harness in_order({make()});
  CHECK(in_order.step({"a"}, 0).empty());
  CHECK(in_order.step({"b"}, 1 * s).empty());
  CHECK(in_order.step({"c"}, 2 * s) == names{"seq"});

  harness reversed({make()});
  CHECK(reversed.step({"c"}, 0).empty());
  CHECK(reversed.step({"b"}, 1 * s).empty());
  CHECK(reversed.step({"a"}, 2 * s).empty());
  CHECK(reversed.step({"c"}, 3 * s).empty());  // a, c: b is missing after a
  CHECK(reversed.step({"b"}, 4 * s).empty());
  CHECK(reversed.step({"c"}, 5 * s) == names{"seq"});  // a (2 s), b (4 s), c (5 s)

  harness too_slow({make()});
  CHECK(too_slow.step({"a"}, 0).empty());
  CHECK(too_slow.step({"b"}, 30 * s).empty());
  CHECK(too_slow.step({"c"}, 60 * s).empty());  // the chain starts at 0 s: outside
  CHECK(too_slow.step({"a"}, 61 * s).empty());
  CHECK(too_slow.step({"b"}, 62 * s).empty());
  CHECK(too_slow.step({"c"}, 63 * s) == names{"seq"});

  // The latest start is kept: a at 0 s and again at 50 s, b at 55 s, c at 100 s fires
  // (the chain from 50 s), though the chain from 0 s is too old.
  harness latest({make()});
  CHECK(latest.step({"a"}, 0).empty());
  CHECK(latest.step({"a"}, 50 * s).empty());
  CHECK(latest.step({"b"}, 55 * s).empty());
  CHECK(latest.step({"c"}, 100 * s) == names{"seq"});

  // One event cannot fill two steps; equal times in arrival order do.
  harness one_event(
      {correlation("seq", correlation_type::temporal_ordered, {"a", "b"}, {"User"}, 60 * s)});
  CHECK(one_event.step({"a", "b"}, 0).empty());
  CHECK(one_event.step({"b"}, 0) == names{"seq"});
}

TEST_CASE("chains: a correlation referencing a correlation, evaluated on the same event") {
  // The specification's example: many failed logins, then a successful one.
  auto failed = correlation("multiple_failed_login", correlation_type::event_count, {"a"}, {"User"},
                            600 * s, {bound(comparison::gte, 3)});
  auto outer = correlation("brute_force", correlation_type::temporal_ordered,
                           {"multiple_failed_login", "b"}, {"User"}, 600 * s);
  harness h({outer, failed});
  CHECK(h.step({"b"}, 0).empty());
  CHECK(h.step({"a"}, 1 * s).empty());
  CHECK(h.step({"a"}, 2 * s).empty());
  CHECK(h.step({"a"}, 3 * s) == names{"multiple_failed_login"});
  CHECK(h.step({"b"}, 4 * s) == names{"brute_force"});
  // Reporting: generate is false everywhere, so the base rules and the inner correlation
  // are building blocks; the outer correlation and unreferenced rules are reported.
  CHECK(!h.engine->reports_detection(0));  // a
  CHECK(!h.engine->reports_detection(1));  // b
  CHECK(h.engine->reports_detection(2));   // c: referenced by nothing
  CHECK(h.engine->reports_correlation(0));
  CHECK(!h.engine->reports_correlation(1));

  // A chain completing on one event: the inner fires and the outer sees it at once.
  auto inner = correlation("inner", correlation_type::event_count, {"a"}, {"User"}, 60 * s,
                           {bound(comparison::gte, 1)});
  auto top = correlation("top", correlation_type::temporal, {"inner", "c"}, {"User"}, 60 * s);
  top.generate = true;
  harness one({top, inner});
  CHECK(one.step({"c"}, 0).empty());
  CHECK(one.step({"a"}, 1 * s) == names{"inner", "top"});
  CHECK(!one.engine->reports_detection(0));   // a: only `inner` (generate: false) names it
  CHECK(one.engine->reports_detection(2));    // c: `top` has generate: true
  CHECK(one.engine->reports_correlation(1));  // inner, for the same reason
}

TEST_CASE("aliases: one group-by name, a different field per rule") {
  auto c = correlation("proximity", correlation_type::temporal, {"a", "b"},
                       {"internal_ip", "remote_ip"}, 10 * s);
  c.aliases.push_back({"internal_ip", {{"a", "destination.ip"}, {"b", "source.ip"}}, {{}, {}}, {}});
  c.aliases.push_back({"remote_ip", {{"a", "source.ip"}, {"b", "destination.ip"}}, {{}, {}}, {}});
  harness h({c});
  CHECK(h.step({"a"}, 0, {{"destination.ip", "10.0.0.1"}, {"source.ip", "8.8.8.8"}}).empty());
  // Same addresses the other way round: the same group.
  CHECK(h.step({"b"}, 1 * s, {{"source.ip", "10.0.0.1"}, {"destination.ip", "8.8.8.8"}}) ==
        names{"proximity"});
  // Same direction as the first: another group.
  harness g({c});
  CHECK(g.step({"a"}, 0, {{"destination.ip", "10.0.0.1"}, {"source.ip", "8.8.8.8"}}).empty());
  CHECK(g.step({"b"}, 1 * s, {{"destination.ip", "10.0.0.1"}, {"source.ip", "8.8.8.8"}}).empty());
}

TEST_CASE("value_count: distinct values (tuples for several fields)") {
  harness h({correlation("spray", correlation_type::value_count, {"a"}, {"Host"}, 60 * s,
                         {bound(comparison::gte, 3)}, {"User"})});
  CHECK(h.step({"a"}, 0, {{"Host", "h"}, {"User", "u1"}}).empty());
  CHECK(h.step({"a"}, 1 * s, {{"Host", "h"}, {"User", "u1"}}).empty());
  CHECK(h.step({"a"}, 2 * s, {{"Host", "h"}, {"User", "u2"}}).empty());
  CHECK(h.step({"a"}, 3 * s, {{"Host", "h"}}).empty());  // no value: skipped
  CHECK(h.engine->counters().without_value == 1);
  CHECK(h.step({"a"}, 4 * s, {{"Host", "h"}, {"User", "u3"}}) == names{"spray"});

  harness t({correlation("pairs", correlation_type::value_count, {"a"}, {"Host"}, 60 * s,
                         {bound(comparison::gte, 2)}, {"User", "Domain"})});
  CHECK(t.step({"a"}, 0, {{"Host", "h"}, {"User", "u"}, {"Domain", "d1"}}).empty());
  CHECK(t.step({"a"}, 1, {{"Host", "h"}, {"User", "u"}, {"Domain", "d1"}}).empty());
  CHECK(t.step({"a"}, 2, {{"Host", "h"}, {"User", "u"}, {"Domain", "d2"}}) == names{"pairs"});

  // lt: true on the first event (one value), as a search bucket with few values is.
  harness lt({correlation("few", correlation_type::value_count, {"a"}, {"Host"}, 60 * s,
                          {bound(comparison::lt, 2)}, {"User"})});
  CHECK(lt.step({"a"}, 0, {{"Host", "h"}, {"User", "u1"}}) == names{"few"});
  CHECK(lt.step({"a"}, 1, {{"Host", "h"}, {"User", "u1"}}).empty());
}

TEST_CASE("value_sum, value_avg, value_percentile") {
  harness sum({correlation("exfil", correlation_type::value_sum, {"a"}, {"User"}, 3600 * s,
                           {bound(comparison::gt, 1000)}, {"bytes"})});
  CHECK(sum.step({"a"}, 0, {{"User", "u"}, {"bytes", "600"}}).empty());
  CHECK(sum.step({"a"}, 1 * s, {{"User", "u"}, {"bytes", "many"}}).empty());
  CHECK(sum.engine->counters().without_value == 1);
  CHECK(sum.step({"a"}, 2 * s, {{"User", "u"}, {"bytes", "400.5"}}) == names{"exfil"});

  harness avg({correlation("avg", correlation_type::value_avg, {"a"}, {"User"}, 3600 * s,
                           {bound(comparison::gt, 500)}, {"out"})});
  CHECK(avg.step({"a"}, 0, {{"User", "u"}, {"out", "400"}}).empty());
  CHECK(avg.step({"a"}, 1, {{"User", "u"}, {"out", "700"}}) == names{"avg"});  // 550

  auto p = correlation("p90", correlation_type::value_percentile, {"a"}, {"User"}, 3600 * s,
                       {bound(comparison::gte, 90)}, {"v"});
  p.condition.percentile = 90;
  harness pct({p});
  for (int i = 1; i <= 9; ++i)
    CHECK(pct.step({"a"}, i, {{"User", "u"}, {"v", std::to_string(i * 10)}}).empty());
  // 10..90 and 100: the 90th percentile is 91.
  CHECK(pct.step({"a"}, 10, {{"User", "u"}, {"v", "100"}}) == names{"p90"});
}

TEST_CASE("groups are capped: a new group is refused while all are live") {
  correlation_options options;
  options.max_groups = 2;
  harness h({correlation("many", correlation_type::event_count, {"a"}, {"User"}, 10 * s,
                         {bound(comparison::gte, 2)})},
            options);
  CHECK(h.step({"a"}, 0, {{"User", "u1"}}).empty());
  CHECK(h.step({"a"}, 1 * s, {{"User", "u2"}}).empty());
  CHECK(h.step({"a"}, 2 * s, {{"User", "u3"}}).empty());
  CHECK(h.engine->counters().groups_refused == 1);
  CHECK(h.step({"a"}, 3 * s, {{"User", "u1"}}) == names{"many"});  // live groups go on
  // At 11.5 s u2's window (1 s) is empty: it is dropped to make room for u3.
  CHECK(h.step({"a"}, 11'500, {{"User", "u3"}}).empty());
  CHECK(h.engine->counters().groups_expired == 1);
  CHECK(h.engine->counters().groups_refused == 1);
  CHECK(h.step({"a"}, 12 * s, {{"User", "u3"}}) == names{"many"});
}

TEST_CASE("exact windows are capped: the oldest event is dropped and counted") {
  correlation_options options;
  options.max_window_events = 3;
  harness h({correlation("many", correlation_type::event_count, {"a"}, {"User"}, 60 * s,
                         {bound(comparison::gte, 4)})},
            options);
  for (int i = 0; i < 5; ++i) CHECK(h.step({"a"}, i * s).empty());  // never more than 3
  CHECK(h.engine->counters().window_dropped == 2);
  CHECK(h.engine->memory_bytes() > 0);
}

TEST_CASE("a correlation over an unsupported rule never fires, and says why") {
  harness h({correlation("many", correlation_type::event_count, {"a"}, {"User"}, 60 * s,
                         {bound(comparison::gte, 1)}),
             correlation("fine", correlation_type::event_count, {"b"}, {"User"}, 60 * s,
                         {bound(comparison::gte, 1)})},
            {}, 0);
  CHECK(h.engine->unsupported_reason(0) == "references rule 'a', which is not supported");
  CHECK(h.engine->unsupported_reason(1).empty());
  CHECK(h.step({"b"}, 0) == names{"fine"});
}

namespace {

/// The documented semantics, naively: every match of a group kept (its effective time,
/// the rules it matched, its value), every condition recomputed from them.
class naive_correlation {
 public:
  explicit naive_correlation(correlation_rule c) : c_(std::move(c)) {}

  /// One event's matches of this correlation (rule positions k); returns whether it fires.
  bool step(const std::vector<std::uint32_t>& ks, std::optional<event_time> t,
            const std::optional<std::string>& group_key, const std::optional<std::string>& value) {
    if (ks.empty() || !t || !group_key) return false;
    if (needs_value_field(c_.type)) {
      if (!value) return false;
      if (c_.type != correlation_type::value_count && !parse_condition_number(*value)) return false;
    }
    auto& g = groups_[*group_key];
    const event_time now = g.matches.empty() ? *t : std::max(*t, g.latest);
    const event_time edge = now - c_.timespan_ms;
    if (!g.matches.empty() && g.latest <= edge) g.active = false;
    g.latest = now;
    g.matches.push_back({now, ks, value.value_or("")});
    std::vector<const match*> in;
    for (const auto& m : g.matches)
      if (m.t > edge && m.t <= now) in.push_back(&m);
    double observed = 0;
    switch (c_.type) {
      case correlation_type::event_count:
        observed = static_cast<double>(in.size());
        break;
      case correlation_type::value_count: {
        std::set<std::string> distinct;
        for (const auto* m : in) distinct.insert(m->value);
        observed = static_cast<double>(distinct.size());
        break;
      }
      case correlation_type::value_sum:
        for (const auto* m : in) observed += *parse_condition_number(m->value);
        break;
      case correlation_type::temporal: {
        std::set<std::uint32_t> rules;
        for (const auto* m : in) rules.insert(m->ks.begin(), m->ks.end());
        observed = static_cast<double>(rules.size());
        break;
      }
      case correlation_type::temporal_ordered: {
        std::uint32_t next = 0;  // greedy: the longest in-order prefix, one step an event
        for (const auto* m : in)
          if (next < c_.rules.size() && std::find(m->ks.begin(), m->ks.end(), next) != m->ks.end())
            ++next;
        observed = next;
        break;
      }
      default:
        FAIL("not modelled");
    }
    const bool holds = c_.condition.bounds.empty()
                           ? observed >= static_cast<double>(c_.rules.size())
                           : c_.condition.holds(observed);
    const bool fires = holds && !g.active;
    g.active = holds;
    return fires;
  }

 private:
  struct match {
    event_time t;
    std::vector<std::uint32_t> ks;
    std::string value;
  };
  struct group {
    std::vector<match> matches;
    event_time latest = 0;
    bool active = false;
  };
  correlation_rule c_;
  std::map<std::string, group> groups_;
};

}  // namespace

TEST_CASE("exact engine == the naive model on random streams (late, missing, several groups)") {
  const std::vector<correlation_rule> correlations{
      correlation("count", correlation_type::event_count, {"a", "b"}, {"User"}, 5 * s,
                  {bound(comparison::gte, 3)}),
      correlation("range", correlation_type::event_count, {"c"}, {"User"}, 5 * s,
                  {bound(comparison::gt, 1), bound(comparison::lte, 3)}),
      correlation("values", correlation_type::value_count, {"a"}, {"User"}, 5 * s,
                  {bound(comparison::gte, 3)}, {"V"}),
      correlation("sum", correlation_type::value_sum, {"b"}, {"User"}, 5 * s,
                  {bound(comparison::gt, 10)}, {"V"}),
      correlation("all", correlation_type::temporal, {"a", "b", "c"}, {"User"}, 5 * s),
      correlation("ordered", correlation_type::temporal_ordered, {"a", "b", "c"}, {"User"}, 5 * s),
      correlation("ordered2", correlation_type::temporal_ordered, {"c", "a"}, {"User"}, 3 * s,
                  {bound(comparison::gte, 2)}),
  };
  for (std::uint32_t seed = 1; seed <= 20; ++seed) {
    CAPTURE(seed);
    harness h(correlations);
    std::vector<naive_correlation> naive;
    for (const auto& c : correlations) naive.emplace_back(c);
    std::mt19937 rng(seed);
    event_time t = 1'000'000;
    std::size_t fired = 0;
    for (int i = 0; i < 3000; ++i) {
      CAPTURE(i);
      t += rng() % 10 == 0 ? -static_cast<event_time>(rng() % 100)
                           : static_cast<event_time>(500 * (rng() % 4));  // edges hit often
      const std::optional<event_time> when =
          rng() % 33 == 0 ? std::nullopt : std::optional<event_time>(t);
      std::optional<std::string> user;
      if (rng() % 33 != 0) user = "u" + std::to_string(rng() % 3);
      std::optional<std::string> value;
      if (rng() % 20 != 0) value = std::to_string(rng() % 5);
      if (rng() % 40 == 0) value = "x";  // not a number
      std::vector<std::string> detected;
      for (const char* r : {"a", "b", "c"})
        if (rng() % 3 == 0) detected.emplace_back(r);
      std::vector<std::pair<std::string, std::string>> fields;
      if (user) fields.emplace_back("User", *user);
      if (value) fields.emplace_back("V", *value);
      const auto got = h.step(detected, when, fields);
      names expected;
      for (std::size_t c = 0; c < correlations.size(); ++c) {
        std::vector<std::uint32_t> ks;
        for (std::uint32_t k = 0; k < correlations[c].rules.size(); ++k)
          if (std::find(detected.begin(), detected.end(), correlations[c].rules[k]) !=
              detected.end())
            ks.push_back(k);
        if (naive[c].step(ks, when, user, value)) expected.push_back(correlations[c].identity);
      }
      std::sort(expected.begin(), expected.end());
      auto sorted = got;
      std::sort(sorted.begin(), sorted.end());
      REQUIRE(sorted == expected);
      fired += got.size();
    }
    CHECK(fired > 50);  // the streams exercise firing, not only silence
    CHECK(h.engine->counters().late > 0);
  }
}

static_assert(count_window<bounded_count_window> && distinct_window<bounded_distinct_window> &&
              value_window<bounded_value_window>);

TEST_CASE("bounded windows run in the engine: event_count and value_count agree with exact here") {
  // Well inside the window (no event near its edge) and few distinct values (the sketch
  // is exact below its register count in practice), so both modes give the same answers.
  const auto run = [](auto h) {
    names fired;
    for (int i = 0; i < 6; ++i) {
      const auto out = h.step({"a"}, event_time{100 * s + i * s},
                              {{"User", "alice"}, {"Host", "h" + std::to_string(i % 3)}});
      fired.insert(fired.end(), out.begin(), out.end());
    }
    return fired;
  };
  const auto rules = [] {
    return std::vector<correlation_rule>{
        correlation("three", correlation_type::event_count, {"a"}, {"User"}, 60 * s,
                    {bound(comparison::gte, 3)}),
        correlation("hosts", correlation_type::value_count, {"a"}, {"User"}, 60 * s,
                    {bound(comparison::gte, 3)}, {"Host"})};
  };
  const names exact = run(basic_harness<exact_windows>(rules()));
  const names bounded = run(basic_harness<bounded_windows>(rules()));
  CHECK(exact == names{"three", "hosts"});
  CHECK(bounded == exact);
}
