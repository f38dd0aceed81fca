// Exclusive carry (docs/semantics.md, "Exclusive carry (beyond CCCS)"): `exclusive: true`
// on parent and ancestor rules. The worked examples, the update rule's details, timespan,
// the spec checks, byte-identical behaviour without the flag, and the rule-order property
// the Sigma front-end's grandparent hops rely on (design sigma-frontend.md 3.4).
#include "harness.hpp"

#include <doctest/doctest.h>
#include <fluxcap/fluxcap.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

using namespace fluxcap;
using namespace std::chrono_literals;
using fluxcap_test::harness;
using fluxcap_test::tag_set;

// ---------------------------------------------------------------------------------------
// The worked examples (docs/semantics.md)

TEST_CASE_TEMPLATE("exclusive parent: a child sees its parent's tag, never its own", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  harness<Memory> h(spec{parent_rule("rule4", "parent_id", "id", {"f"}).with_exclusive()});
  CHECK(h.run({"rule4.f"}, {{"id", "3"}}) == tag_set{});  // remembered under 3
  CHECK(h.state().stored() == 1);
  CHECK(h.run({}, {{"id", "13"}, {"parent_id", "3"}}) == tag_set{"rule4.f"});
  CHECK(h.state().stored() == 1);  // a recall alone stores nothing
  CHECK(h.run({}, {{"id", "133"}, {"parent_id", "13"}}) == tag_set{});
}

TEST_CASE_TEMPLATE("exclusive ancestor: descendants see the tag, the process itself does not",
                   Memory, FLUXCAP_MEMORY_POLICIES) {
  harness<Memory> h(spec{ancestor_rule("rule3", "parent_id", "id", {"f"}).with_exclusive()});
  CHECK(h.run({"rule3.f"}, {{"id", "3"}}) == tag_set{});
  CHECK(h.state().stored() == 1);
  CHECK(h.run({}, {{"id", "13"}, {"parent_id", "3"}}) == tag_set{"rule3.f"});
  CHECK(h.state().stored() == 2);  // 13 re-remembers
  CHECK(h.run({}, {{"id", "133"}, {"parent_id", "13"}}) == tag_set{"rule3.f"});
  // From its ancestors, not from itself.
  CHECK(h.run({"rule3.f"}, {{"id", "4"}, {"parent_id", "133"}}) == tag_set{"rule3.f"});
  CHECK(h.run({"rule3.f"}, {{"id", "5"}, {"parent_id", "99"}}) == tag_set{});
  // 5's own input reaches its descendants.
  CHECK(h.run({}, {{"id", "6"}, {"parent_id", "5"}}) == tag_set{"rule3.f"});
  CHECK(h.run({}, {{"id", "7"}, {"parent_id", "6"}}) == tag_set{"rule3.f"});
  CHECK(h.run({}, {{"id", "8"}, {"parent_id", "99"}}) == tag_set{});
}

// ---------------------------------------------------------------------------------------
// The update rule's details

TEST_CASE_TEMPLATE("exclusive parent: true input with a tagged parent outputs the parent's tag",
                   Memory, FLUXCAP_MEMORY_POLICIES) {
  harness<Memory> h(spec{parent_rule("p", "ppid", "pid", {"f", "g"}).with_exclusive()});
  CHECK(h.run({"p.f"}, {{"pid", "1"}}) == tag_set{});
  // Input f and g; the parent has f only: out(f), and both are remembered under 2.
  CHECK(h.run({"p.f", "p.g"}, {{"pid", "2"}, {"ppid", "1"}}) == tag_set{"p.f"});
  CHECK(h.run({}, {{"pid", "3"}, {"ppid", "2"}}) == tag_set{"p.f", "p.g"});
  // The grandchild does not see 1's f through 3 (3 had no input).
  CHECK(h.run({}, {{"pid", "4"}, {"ppid", "3"}}) == tag_set{});
}

TEST_CASE_TEMPLATE("exclusive: a process that is its own parent recalls before it remembers",
                   Memory, FLUXCAP_MEMORY_POLICIES) {
  SUBCASE("parent") {
    harness<Memory> h(spec{parent_rule("p", "ppid", "pid", {"f"}).with_exclusive()});
    CHECK(h.run({"p.f"}, {{"pid", "5"}, {"ppid", "5"}}) == tag_set{});
    CHECK(h.run({}, {{"pid", "5"}, {"ppid", "5"}}) == tag_set{"p.f"});
  }
  SUBCASE("ancestor") {
    harness<Memory> h(spec{ancestor_rule("a", "ppid", "pid", {"f"}).with_exclusive()});
    CHECK(h.run({"a.f"}, {{"pid", "5"}, {"ppid", "5"}}) == tag_set{});
    CHECK(h.run({}, {{"pid", "5"}, {"ppid", "5"}}) == tag_set{"a.f"});
  }
}

TEST_CASE_TEMPLATE("exclusive: null, missing or empty parent recalls nothing; child stores nothing",
                   Memory, FLUXCAP_MEMORY_POLICIES) {
  for (const bool ancestor : {false, true}) {
    CAPTURE(ancestor);
    rule_spec r = ancestor ? ancestor_rule("r", "ppid", "pid", {"f"})
                           : parent_rule("r", "ppid", "pid", {"f"});
    harness<Memory> h(spec{r.with_exclusive()});
    CHECK(h.run({"r.f"}, {{"pid", "1"}}) == tag_set{});
    CHECK(h.state().stored() == 1);
    // No parent: nothing recalled, the input still remembered under the child.
    CHECK(h.run({"r.f"}, {{"pid", "2"}, {"ppid", std::nullopt}}) == tag_set{});
    CHECK(h.run({"r.f"}, {{"pid", "3"}, {"ppid", ""}}) == tag_set{});
    CHECK(h.state().stored() == 3);
    // No identity: recalled, but nothing remembered (for an ancestor: not even the recall).
    CHECK(h.run({"r.f"}, {{"ppid", "1"}}) == tag_set{"r.f"});
    CHECK(h.run({"r.f"}, {{"pid", ""}, {"ppid", "1"}}) == tag_set{"r.f"});
    CHECK(h.run({}, {{"pid", std::nullopt}, {"ppid", "1"}}) == tag_set{"r.f"});
    CHECK(h.state().stored() == 3);
  }
}

TEST_CASE_TEMPLATE("exclusive rules with many tags (prefetched keys) keep tags apart", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  // More tags than the update plans ahead: the prefetched key of an exclusive tag is
  // always its get key, whatever its input.
  std::vector<tag_spec> tags;
  for (int i = 0; i < 40; ++i)
    tags.emplace_back(fluxcap_test::numbered("t", static_cast<std::uint64_t>(i)));
  for (const bool ancestor : {false, true}) {
    CAPTURE(ancestor);
    rule_spec r =
        ancestor ? ancestor_rule("r", "ppid", "pid", tags) : parent_rule("r", "ppid", "pid", tags);
    harness<Memory> h(spec{r.with_exclusive()});
    tag_set odd;
    tag_set even;
    tag_set threes;
    tag_set all;
    for (std::uint64_t i = 0; i < 40; ++i) {
      (i % 2 == 1 ? odd : even).insert(fluxcap_test::numbered("r.t", i));
      if (i % 3 == 0) threes.insert(fluxcap_test::numbered("r.t", i));
      all.insert(fluxcap_test::numbered("r.t", i));
    }
    CHECK(h.run(odd, {{"pid", "1"}}) == tag_set{});
    CHECK(h.run(even, {{"pid", "2"}, {"ppid", "1"}}) == odd);
    // 2 remembered its input (an ancestor: its recall too).
    CHECK(h.run(threes, {{"pid", "3"}, {"ppid", "2"}}) == (ancestor ? all : even));
    CHECK(h.run({}, {{"pid", "4"}, {"ppid", "3"}}) == (ancestor ? all : threes));
  }
}

TEST_CASE_TEMPLATE("exclusive: false behaves exactly as no flag, to the state's bytes", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  const hash_key key{0x0123456789abcdefULL, 0xfedcba9876543210ULL};
  for (const bool ancestor : {false, true}) {
    CAPTURE(ancestor);
    const rule_spec base = ancestor ? ancestor_rule("r", "ppid", "pid", {"f", "g"})
                                    : parent_rule("r", "ppid", "pid", {"f", "g"});
    rule_spec off = base;
    off.with_exclusive(false);
    const program plain_prog = compile(spec{base});
    const dense_schema schema(plain_prog);
    const flux_capacitor<dense_accessor, Memory> plain(plain_prog, dense_accessor(schema), Memory{},
                                                       default_hash(key));
    const flux_capacitor<dense_accessor, Memory> flagged(compile(spec{off}), dense_accessor(schema),
                                                         Memory{}, default_hash(key));
    auto plain_state = plain.make_state();
    auto flagged_state = flagged.make_state();
    const std::size_t f = *schema.tag_index("r", "f");
    const std::size_t g = *schema.tag_index("r", "g");
    const std::size_t pid = *schema.column_index("pid");
    const std::size_t ppid = *schema.column_index("ppid");
    std::mt19937_64 rng(7);
    for (int n = 0; n < 2000; ++n) {
      dense_event a(schema);
      a.set_tag(f, rng() % 4 == 0);
      a.set_tag(g, rng() % 4 == 0);
      const std::string own = std::to_string(n);
      const std::string parent = std::to_string(n - 1 - static_cast<int>(rng() % 5));
      a.set_column(pid, std::string_view(own));
      a.set_column(ppid, std::string_view(parent));
      dense_event b = a;
      plain.update(plain_state, a);
      flagged.update(flagged_state, b);
      REQUIRE(a.tag(f) == b.tag(f));
      REQUIRE(a.tag(g) == b.tag(g));
    }
    CHECK(plain_state.stored() > 100);
    CHECK(save_state(plain, plain_state) == save_state(flagged, flagged_state));
  }
}

// ---------------------------------------------------------------------------------------
// Timespan

namespace {

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

TEST_CASE_TEMPLATE("exclusive parent and ancestor rules with a timespan", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  SUBCASE("parent: the child sees the parent's tag within the span only, never its own") {
    harness<Memory> g(
        timed(parent_rule("p", "ppid", "pid", {"f"}).with_exclusive().with_timespan(10min)));
    CHECK(g.run({"p.f"}, at_s(0, {{"pid", "1"}})) == tag_set{});
    CHECK(g.run({"p.f"}, at_s(600, {{"pid", "2"}, {"ppid", "1"}})) == tag_set{"p.f"});
    CHECK(g.run({}, at_s(751, {{"pid", "3"}, {"ppid", "1"}})) == tag_set{});
    // 2 remembered its own input at 600.
    CHECK(g.run({}, at_s(1100, {{"pid", "4"}, {"ppid", "2"}})) == tag_set{"p.f"});
  }
  SUBCASE("ancestor: each generation re-remembers, the span runs from the nearest link") {
    harness<Memory> g(
        timed(ancestor_rule("a", "ppid", "pid", {"f"}).with_exclusive().with_timespan(10min)));
    CHECK(g.run({"a.f"}, at_s(0, {{"pid", "1"}})) == tag_set{});
    CHECK(g.run({}, at_s(500, {{"pid", "2"}, {"ppid", "1"}})) == tag_set{"a.f"});
    CHECK(g.run({}, at_s(1000, {{"pid", "3"}, {"ppid", "2"}})) == tag_set{"a.f"});
    CHECK(g.run({}, at_s(2000, {{"pid", "4"}, {"ppid", "3"}})) == tag_set{});
    // An own input long after: 5 outputs nothing of its own, 6 sees 5's.
    CHECK(g.run({"a.f"}, at_s(3000, {{"pid", "5"}, {"ppid", "4"}})) == tag_set{});
    CHECK(g.run({}, at_s(3100, {{"pid", "6"}, {"ppid", "5"}})) == tag_set{"a.f"});
  }
  SUBCASE("events without a time: nothing recalled, so the output is false; nothing stored") {
    harness<Memory> g(
        timed(ancestor_rule("a", "ppid", "pid", {"f"}).with_exclusive().with_timespan(10min)));
    CHECK(g.run({"a.f"}, at_s(0, {{"pid", "1"}})) == tag_set{});
    CHECK(g.state().stored() == 1);
    CHECK(g.run({"a.f"}, {{"pid", "2"}, {"ppid", "1"}}) == tag_set{});
    CHECK(g.run({"a.f"}, {{"pid", "3"}, {"ppid", "1"}, {"ts", "yesterday"}}) == tag_set{});
    CHECK(g.state().stored() == 1);
    CHECK(g.run({}, at_s(10, {{"pid", "4"}, {"ppid", "2"}})) == tag_set{});
    CHECK(g.run({}, at_s(10, {{"pid", "5"}, {"ppid", "1"}})) == tag_set{"a.f"});
  }
}

// ---------------------------------------------------------------------------------------
// Spec checks

TEST_CASE("exclusive is only valid for parent and ancestor rules") {
  auto expect_error = [](rule_spec r, const std::string& needle) {
    CAPTURE(needle);
    r.where.exclusive = {"spec.yaml", 7, 5};
    r.where.rule = {"spec.yaml", 3, 3};
    bool thrown = false;
    try {
      (void)compile(spec{r});
    } catch (const spec_error& e) {
      thrown = true;
      CHECK(e.rule() == r.name);
      CHECK(e.tag().empty());
      CHECK(e.message().find(needle) != std::string::npos);
      CHECK(e.where().to_string() == "spec.yaml:7:5");
    }
    CHECK(thrown);
  };
  expect_error(temporal_rule("t", {"a"}).with_exclusive(),
               "'exclusive' is only valid for parent and ancestor rules, not 'temporal'");
  expect_error(temporal_rule("t", {"a"}).with_exclusive(false),
               "'exclusive' is only valid for parent and ancestor rules, not 'temporal'");
  expect_error(low_level_rule("l", {tag_update("a", "ppid", "pid")}).with_exclusive(),
               "'exclusive' is only valid for parent and ancestor rules, not low-level rules");

  const program p = compile(spec{parent_rule("p", "ppid", "pid", {"f"}).with_exclusive(),
                                 ancestor_rule("a", "ppid", "pid", {"f"}).with_exclusive(),
                                 parent_rule("q", "ppid", "pid", {"f"}).with_exclusive(false),
                                 ancestor_rule("b", "ppid", "pid", {"f"}).with_exclusive(false)});
  CHECK(p.rules[0].tags[0].condition == condition_kind::exclusive);
  CHECK(p.rules[1].tags[0].condition == condition_kind::exclusive_self);
  CHECK(p.rules[2].tags[0].condition == condition_kind::none);
  CHECK(p.rules[3].tags[0].condition == condition_kind::self);
  for (const auto& r : p.rules) {
    CHECK(r.tags[0].get.columns == std::vector<std::string>{"ppid"});
    CHECK(r.tags[0].put.columns == std::vector<std::string>{"pid"});
  }
}

// ---------------------------------------------------------------------------------------
// Rule order: a later rule's inputs are read only after the earlier rules have written
// (design sigma-frontend.md 3.4, the grandparent hops)

namespace {

/// Events of the aliasing accessor: one bool a (rule, tag) slot, the columns, and a log of
/// the accessor calls of one update.
struct chain_event {
  std::vector<bool> tags;
  std::map<std::string, std::string, std::less<>> columns;
  struct call {
    bool set = false;
    std::size_t slot = 0;  // the slot the handle writes
  };
  mutable std::vector<call> log;
};

/// An accessor whose handle for some (rule, tag) reads another's slot (`read_from`) and
/// writes its own, as the Sigma front-end wires hop 2's input to hop 1's output.
class aliasing_accessor {
 public:
  using event_type = chain_event;
  struct tag_handle {
    std::size_t read = 0;
    std::size_t write = 0;
  };
  using column_handle = std::string;

  aliasing_accessor(std::vector<std::string> slots, std::map<std::string, std::string> read_from)
      : slots_(std::move(slots)), read_from_(std::move(read_from)) {}

  [[nodiscard]] std::size_t slot(std::string_view name) const {
    for (std::size_t i = 0; i < slots_.size(); ++i)
      if (slots_[i] == name) return i;
    throw std::out_of_range("no slot " + std::string(name));
  }
  [[nodiscard]] std::size_t slot_count() const { return slots_.size(); }

  [[nodiscard]] tag_handle tag_handle_for(std::string_view rule, std::string_view tag) const {
    std::string name(rule);
    name += '.';
    name += tag;
    const auto alias = read_from_.find(name);
    return {slot(alias == read_from_.end() ? name : alias->second), slot(name)};
  }
  [[nodiscard]] column_handle column_handle_for(std::string_view column) const {
    return std::string(column);
  }
  [[nodiscard]] bool get_tag(const chain_event& e, tag_handle t) const {
    e.log.push_back({false, t.write});
    return e.tags[t.read];
  }
  void set_tag(chain_event& e, tag_handle t, bool v) const {
    e.log.push_back({true, t.write});
    e.tags[t.write] = v;
  }
  [[nodiscard]] std::optional<std::string_view> get_column(const chain_event& e,
                                                           const column_handle& c) const {
    const auto it = e.columns.find(c);
    if (it == e.columns.end()) return std::nullopt;
    return std::string_view(it->second);
  }

 private:
  std::vector<std::string> slots_;
  std::map<std::string, std::string> read_from_;
};
static_assert(event_accessor<aliasing_accessor>);

/// Two exclusive parent hops over `n` grandparent tags g0..g<n-1>: hop 2's input is hop 1's
/// output. Slot names "rule.tag".
struct grandparent_chain {
  static constexpr std::size_t n = 12;  // more than the update plans ahead
  static std::string tag(std::size_t i) { return fluxcap_test::numbered("g", i); }

  static spec make_spec() {
    std::vector<tag_spec> tags;
    for (std::size_t i = 0; i < n; ++i) tags.emplace_back(tag(i));
    return spec{parent_rule("gp1", "parent_id", "id", tags).with_exclusive(),
                parent_rule("gp2", "parent_id", "id", tags).with_exclusive()};
  }
  static aliasing_accessor make_accessor() {
    std::vector<std::string> slots;
    std::map<std::string, std::string> read_from;
    for (const char* rule : {"gp1", "gp2"})
      for (std::size_t i = 0; i < n; ++i) slots.push_back(std::string(rule) + "." + tag(i));
    for (std::size_t i = 0; i < n; ++i) read_from["gp2." + tag(i)] = "gp1." + tag(i);
    return {slots, read_from};
  }
};

}  // namespace

TEST_CASE_TEMPLATE(
    "rule order: hop 2 input after hop 1 update (grandparent via two exclusive hops)", Memory,
    FLUXCAP_MEMORY_POLICIES) {
  using chain = grandparent_chain;
  const aliasing_accessor acc = chain::make_accessor();
  const flux_capacitor<aliasing_accessor, Memory> cap(compile(chain::make_spec()), acc);
  auto state = cap.make_state();

  // G(i) holds on the event for the tags in `g`; returns the tags whose hop-2 output is true.
  auto run = [&](std::vector<std::size_t> g, const std::string& id,
                 std::optional<std::string> parent) {
    chain_event e;
    e.tags.assign(acc.slot_count(), false);
    for (const auto i : g) e.tags[acc.slot("gp1." + chain::tag(i))] = true;
    e.columns["id"] = id;
    if (parent) e.columns["parent_id"] = *parent;
    cap.update(state, e);

    // Every read of a hop-2 tag comes after every write of hop 1 in this update.
    std::size_t last_hop1_set = 0;
    std::size_t first_hop2_get = e.log.size();
    std::size_t hop2_gets = 0;
    for (std::size_t k = 0; k < e.log.size(); ++k) {
      const bool hop2 = e.log[k].slot >= chain::n;
      if (!hop2 && e.log[k].set) last_hop1_set = k;
      if (hop2 && !e.log[k].set) {
        ++hop2_gets;
        first_hop2_get = std::min(first_hop2_get, k);
      }
    }
    CHECK(hop2_gets >= chain::n);
    CHECK(last_hop1_set < first_hop2_get);

    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < chain::n; ++i)
      if (e.tags[acc.slot("gp2." + chain::tag(i))]) out.push_back(i);
    return out;
  };
  using tags = std::vector<std::size_t>;

  // Grandparent 1 holds G for g0, g3 and g11; its child 2; its grandchild 3.
  CHECK(run({0, 3, 11}, "1", std::nullopt) == tags{});
  CHECK(run({}, "2", "1") == tags{});  // the child: hop 1 true, hop 2 not yet
  CHECK(run({}, "3", "2") == tags{0, 3, 11});
  CHECK(run({}, "4", "3") == tags{});  // great-grandchild: not a grandparent any more
  // The grandchild's own G and its parent's G do not count.
  CHECK(run({5}, "5", "1") == tags{});
  CHECK(run({6}, "6", "5") == tags{0, 3, 11});
  // Middle event missing: 12's parent 11 was never seen, so nothing relays 10's G.
  CHECK(run({1, 2}, "10", std::nullopt) == tags{});
  CHECK(run({}, "12", "11") == tags{});
  // A child of 10 is not a grandchild.
  CHECK(run({}, "13", "10") == tags{});
  CHECK(run({}, "14", "13") == tags{1, 2});
}

TEST_CASE("rule order: a later rule's inputs are read after an earlier rule's outputs") {
  // The same property for rules that are not exclusive (whose update reads inputs ahead,
  // within the rule, to prefetch): a later rule is never read before an earlier one wrote.
  std::vector<tag_spec> tags;
  for (std::size_t i = 0; i < 20; ++i) tags.emplace_back(fluxcap_test::numbered("t", i));
  const spec s{parent_rule("a", "parent_id", "id", tags), temporal_rule("b", tags),
               ancestor_rule("c", "parent_id", "id", tags)};
  std::vector<std::string> slots;
  std::map<std::string, std::string> read_from;
  for (const char* rule : {"a", "b", "c"})
    for (const auto& t : tags) slots.push_back(std::string(rule) + "." + t.name);
  for (const auto& t : tags) {
    read_from["b." + t.name] = "a." + t.name;
    read_from["c." + t.name] = "b." + t.name;
  }
  const aliasing_accessor acc(slots, read_from);
  const flux_capacitor<aliasing_accessor, bloom_memory> cap(compile(s), acc);
  auto state = cap.make_state();
  chain_event e;
  e.tags.assign(acc.slot_count(), false);
  e.tags[acc.slot("a.t3")] = true;
  e.columns["id"] = "1";
  cap.update(state, e);
  // a.t3 was stored (and output), b read it as its input and so did c.
  CHECK(e.tags[acc.slot("b.t3")]);
  CHECK(e.tags[acc.slot("c.t3")]);
  std::size_t rule_of_last_write = 0;
  for (const auto& call : e.log) {
    const std::size_t rule = call.slot / tags.size();
    if (call.set) {
      CHECK(rule >= rule_of_last_write);
      rule_of_last_write = rule;
    } else {
      CHECK(rule >= rule_of_last_write);  // no read of a rule whose predecessor is done
      if (rule > 0) {
        // Reading rule r means rule r-1 has written all its tags.
        std::size_t writes_before = 0;
        for (const auto& c : e.log) {
          if (&c == &call) break;
          if (c.set && c.slot / tags.size() == rule - 1) ++writes_before;
        }
        CHECK(writes_before == tags.size());
      }
    }
  }
}
