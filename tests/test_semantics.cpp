// Semantics section 3, rule by rule, in exact and bloom mode.
//
// Events here are maps (rule -> tag -> bool, column -> optional value) read through a
// test-local accessor, so that "absent" and "false" are different things: that is what
// the pass-through rules, the temporal skip rule and "a spec'd tag absent from the event
// is written with its evaluated value" are about.
#include <fluxcap/fluxcap.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "harness.hpp"

using namespace fluxcap;

namespace {

using tag_map = std::map<std::string, std::map<std::string, bool>>;
using column_map = std::map<std::string, std::optional<std::string>>;

/// An event whose tags and columns may be absent. A column present with nullopt is null.
struct map_event {
  tag_map tags;
  column_map columns;
};

struct map_accessor {
  using event_type = map_event;
  using tag_handle = std::pair<std::string, std::string>;
  using column_handle = std::string;

  [[nodiscard]] tag_handle tag_handle_for(std::string_view rule, std::string_view tag) const {
    return {std::string(rule), std::string(tag)};
  }
  [[nodiscard]] column_handle column_handle_for(std::string_view column) const {
    return std::string(column);
  }
  [[nodiscard]] bool get_tag(const map_event& e, const tag_handle& t) const {
    const auto r = e.tags.find(t.first);
    if (r == e.tags.end()) return false;
    const auto v = r->second.find(t.second);
    return v != r->second.end() && v->second;
  }
  void set_tag(map_event& e, const tag_handle& t, bool v) const { e.tags[t.first][t.second] = v; }
  [[nodiscard]] std::optional<std::string_view> get_column(const map_event& e,
                                                           const column_handle& c) const {
    const auto it = e.columns.find(c);
    if (it == e.columns.end() || !it->second) return std::nullopt;
    return std::string_view(*it->second);
  }
};
static_assert(event_accessor<map_accessor>);

/// One group: a capacitor over map events and its state.
template <class Memory>
struct group {
  flux_capacitor<map_accessor, Memory> cap;
  group_state state;

  /// A fixed hash key: groups of one test compare their states' bytes.
  explicit group(const spec& s, memory_config config = {})
      : cap(compile(s), map_accessor{}, Memory(config), default_hash(hash_key{1, 2})),
        state(cap.make_state()) {}

  /// Runs one event; returns its tags afterwards.
  tag_map run(tag_map tags, column_map columns = {}) {
    map_event e{std::move(tags), std::move(columns)};
    cap.update(state, e);
    return e.tags;
  }
  /// The serialized state: equal bytes mean the memory was not touched at all.
  [[nodiscard]] std::vector<std::uint8_t> snapshot() const { return save_state(cap, state); }
};

/// Shorthand for one rule's tags: t("r", {{"a", true}}).
tag_map t(const std::string& rule, std::map<std::string, bool> tags) {
  return {{rule, tags}};
}

}  // namespace

namespace doctest {
template <>
struct StringMaker<tag_map> {
  static String convert(const tag_map& tags) {
    std::ostringstream os;
    os << '{';
    for (const auto& [rule, m] : tags) {
      os << rule << ":{";
      for (const auto& [tag, v] : m) os << ' ' << tag << '=' << (v ? 'T' : 'F');
      os << " } ";
    }
    os << '}';
    return String(os.str().c_str());
  }
};
}  // namespace doctest

// ---------------------------------------------------------------------------------------
// Tag updates without a put condition

TEST_CASE_TEMPLATE("no put condition: a true tag is remembered, a false one recalled", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  group<Memory> g(spec{low_level_rule("r", {tag_update("a"), tag_update("b")})});
  // Nothing remembered yet: a false tag stays false (and is written).
  CHECK(g.run(t("r", {{"a", false}})) == t("r", {{"a", false}, {"b", false}}));
  CHECK(g.state.stored() == 0);
  // True: remembered (one key), and the output keeps it true.
  CHECK(g.run(t("r", {{"a", true}})) == t("r", {{"a", true}, {"b", false}}));
  CHECK(g.state.stored() == 1);
  // False later: recalled.
  CHECK(g.run(t("r", {{"a", false}})) == t("r", {{"a", true}, {"b", false}}));
  CHECK(g.run({}) == t("r", {{"a", true}, {"b", false}}));
  // Recalling does not store anything.
  CHECK(g.state.stored() == 1);
  // b is its own tag.
  CHECK(g.run(t("r", {{"b", true}})) == t("r", {{"a", true}, {"b", true}}));
  CHECK(g.state.stored() == 2);
}

TEST_CASE_TEMPLATE("parent rule: true remembered under the child id, recalled by the parent id",
                   Memory, FLUXCAP_MEMORY_POLICIES) {
  group<Memory> g(spec{parent_rule("p", "ppid", "pid", {"f"})});
  CHECK(g.run(t("p", {{"f", true}}), {{"pid", "10"}}) == t("p", {{"f", true}}));
  CHECK(g.state.stored() == 1);
  // A child recalls; recalling does not remember (no self condition): stored unchanged.
  CHECK(g.run({}, {{"pid", "11"}, {"ppid", "10"}}) == t("p", {{"f", true}}));
  CHECK(g.state.stored() == 1);
  // So a grandchild sees nothing.
  CHECK(g.run({}, {{"pid", "12"}, {"ppid", "11"}}) == t("p", {{"f", false}}));
  // Another id is another key.
  CHECK(g.run({}, {{"pid", "13"}, {"ppid", "1"}}) == t("p", {{"f", false}}));
  CHECK(g.run({}, {{"pid", "14"}, {"ppid", "100"}}) == t("p", {{"f", false}}));
}

// ---------------------------------------------------------------------------------------
// Put condition = the tag itself (ancestor)

TEST_CASE_TEMPLATE("ancestor: recall first, then remember if true", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  group<Memory> g(spec{ancestor_rule("anc", "ppid", "pid", {"f"})});
  CHECK(g.run(t("anc", {{"f", true}}), {{"pid", "1"}}) == t("anc", {{"f", true}}));
  CHECK(g.state.stored() == 1);
  // Recalled from the parent, then remembered under its own id.
  CHECK(g.run({}, {{"pid", "2"}, {"ppid", "1"}}) == t("anc", {{"f", true}}));
  CHECK(g.state.stored() == 2);
  CHECK(g.run({}, {{"pid", "3"}, {"ppid", "2"}}) == t("anc", {{"f", true}}));
  CHECK(g.run({}, {{"pid", "4"}, {"ppid", "3"}}) == t("anc", {{"f", true}}));
  CHECK(g.state.stored() == 4);
  // Neither true nor recalled: nothing remembered.
  CHECK(g.run({}, {{"pid", "5"}, {"ppid", "99"}}) == t("anc", {{"f", false}}));
  CHECK(g.state.stored() == 4);
  CHECK(g.run({}, {{"pid", "6"}, {"ppid", "5"}}) == t("anc", {{"f", false}}));
  // True without a remembered parent: remembered, and reaches its descendants.
  CHECK(g.run(t("anc", {{"f", true}}), {{"pid", "7"}, {"ppid", "99"}}) == t("anc", {{"f", true}}));
  CHECK(g.state.stored() == 5);
  CHECK(g.run({}, {{"pid", "8"}, {"ppid", "7"}}) == t("anc", {{"f", true}}));
  // Siblings share the parent.
  CHECK(g.run({}, {{"pid", "9"}, {"ppid", "1"}}) == t("anc", {{"f", true}}));
}

// ---------------------------------------------------------------------------------------
// Put condition = another tag: "established", not "merged value"

TEST_CASE_TEMPLATE("ordered: b and c together before any a; c is not remembered", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  group<Memory> g(spec{temporal_rule("o", {"a", "b", "c"}).with_ordered()});
  // b's merged value is true on this event, but b is not established (a never seen),
  // so c keeps its value and is not remembered; b is not remembered either.
  CHECK(g.run(t("o", {{"b", true}, {"c", true}})) ==
        t("o", {{"a", false}, {"b", true}, {"c", true}}));
  CHECK(g.state.stored() == 0);
  CHECK(g.run(t("o", {{"a", true}})) == t("o", {{"a", true}, {"b", false}, {"c", false}}));
  CHECK(g.state.stored() == 1);
  // c gated (b not established): keeps its input, nothing recalled or remembered.
  CHECK(g.run(t("o", {{"c", true}})) == t("o", {{"a", true}, {"b", false}, {"c", true}}));
  CHECK(g.state.stored() == 1);
  // b is established through memory (a recalled): b remembered.
  CHECK(g.run(t("o", {{"b", true}})) == t("o", {{"a", true}, {"b", true}, {"c", false}}));
  CHECK(g.state.stored() == 2);
  // c now behaves as "no condition"; it is false: recalled, and it was never remembered.
  CHECK(g.run(t("o", {{"a", true}})) == t("o", {{"a", true}, {"b", true}, {"c", false}}));
  CHECK(g.run(t("o", {{"c", true}})) == t("o", {{"a", true}, {"b", true}, {"c", true}}));
  CHECK(g.state.stored() == 3);
  CHECK(g.run(t("o", {{"a", true}})) == t("o", {{"a", true}, {"b", true}, {"c", true}}));
}

TEST_CASE_TEMPLATE("ordered: a, b, c on one event are all remembered", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  group<Memory> g(spec{temporal_rule("o", {"a", "b", "c"}).with_ordered()});
  // a remembered -> established; then b remembered -> established; then c remembered.
  CHECK(g.run(t("o", {{"a", true}, {"b", true}, {"c", true}})) ==
        t("o", {{"a", true}, {"b", true}, {"c", true}}));
  CHECK(g.state.stored() == 3);
  CHECK(g.run(t("o", {{"a", true}})) == t("o", {{"a", true}, {"b", true}, {"c", true}}));
}

TEST_CASE_TEMPLATE("put condition: P true now but its get key not recalled is not established",
                   Memory, FLUXCAP_MEMORY_POLICIES) {
  // P is a parent-style tag: get key from ppid, put key from pid. T has no prefix.
  group<Memory> g(spec{low_level_rule(
      "r", {tag_update("P", "ppid", "pid"), tag_update("T", std::nullopt, std::nullopt, "P")})});
  // P true (so its merged value is true) and remembered under pid 1, but recall(P's get
  // key) is false: no parent. T is gated: keeps its value, is not remembered.
  CHECK(g.run(t("r", {{"P", true}, {"T", true}}), {{"pid", "1"}}) ==
        t("r", {{"P", true}, {"T", true}}));
  CHECK(g.state.stored() == 1);
  // A child of 1: P recalled, hence established; T false -> recalled -> false, which
  // shows T was not remembered before.
  CHECK(g.run({}, {{"pid", "2"}, {"ppid", "1"}}) == t("r", {{"P", true}, {"T", false}}));
  // Established only via memory (P false on the event): T true is remembered.
  CHECK(g.run(t("r", {{"T", true}}), {{"pid", "3"}, {"ppid", "1"}}) ==
        t("r", {{"P", true}, {"T", true}}));
  CHECK(g.state.stored() == 2);
  // Not established (unknown parent): T keeps its input (false), recalls nothing.
  CHECK(g.run({}, {{"pid", "4"}, {"ppid", "77"}}) == t("r", {{"P", false}, {"T", false}}));
  // Established again: T recalled.
  CHECK(g.run({}, {{"pid", "5"}, {"ppid", "1"}}) == t("r", {{"P", true}, {"T", true}}));
}

TEST_CASE_TEMPLATE("put condition: established after P's own update (self condition, pid == ppid)",
                   Memory, FLUXCAP_MEMORY_POLICIES) {
  // P carries itself down a tree (self condition). On an event whose ppid equals its pid,
  // P remembers under its put key, which *is* its get key: after P's update, recall(P's
  // get key) is true, so P is established and T is remembered.
  group<Memory> g(spec{low_level_rule("r", {tag_update("P", "ppid", "pid", "P"),
                                            tag_update("T", std::nullopt, std::nullopt, "P")})});
  CHECK(g.run(t("r", {{"P", true}, {"T", true}}), {{"pid", "0"}, {"ppid", "0"}}) ==
        t("r", {{"P", true}, {"T", true}}));
  CHECK(g.state.stored() == 2);
  // A child of 0: P recalled and established; T recalled.
  CHECK(g.run({}, {{"pid", "4"}, {"ppid", "0"}}) == t("r", {{"P", true}, {"T", true}}));
}

TEST_CASE_TEMPLATE("put condition chain given out of spec order (c <- b <- a, listed c, a, b)",
                   Memory, FLUXCAP_MEMORY_POLICIES) {
  const auto f = std::string("folder");
  group<Memory> g(spec{low_level_rule(
      "r", {tag_update("c", f, f, "b"), tag_update("a", f, f), tag_update("b", f, f, "a")})});
  const column_map A{{"folder", "A"}};
  CHECK(g.run(t("r", {{"b", true}}), A) == t("r", {{"a", false}, {"b", true}, {"c", false}}));
  CHECK(g.run(t("r", {{"c", true}}), A) == t("r", {{"a", false}, {"b", false}, {"c", true}}));
  CHECK(g.state.stored() == 0);
  CHECK(g.run(t("r", {{"a", true}}), A) == t("r", {{"a", true}, {"b", false}, {"c", false}}));
  CHECK(g.run(t("r", {{"c", true}}), A) == t("r", {{"a", true}, {"b", false}, {"c", true}}));
  CHECK(g.run(t("r", {{"b", true}}), A) == t("r", {{"a", true}, {"b", true}, {"c", false}}));
  CHECK(g.run(t("r", {{"c", true}}), A) == t("r", {{"a", true}, {"b", true}, {"c", true}}));
  CHECK(g.state.stored() == 3);
  // b and c together before any a, in another folder: c not remembered.
  const column_map B{{"folder", "B"}};
  CHECK(g.run(t("r", {{"b", true}, {"c", true}}), B) ==
        t("r", {{"a", false}, {"b", true}, {"c", true}}));
  CHECK(g.run(t("r", {{"a", true}}), B) == t("r", {{"a", true}, {"b", false}, {"c", false}}));
  CHECK(g.run(t("r", {{"b", true}}), B) == t("r", {{"a", true}, {"b", true}, {"c", false}}));
}

// ---------------------------------------------------------------------------------------
// Temporal skip rule

TEST_CASE_TEMPLATE("temporal skip rule: no spec'd tag true -> rule left exactly as it came", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  for (const bool ordered : {false, true}) {
    CAPTURE(ordered);
    auto rule = temporal_rule("tr", {"a", "b"}).with_ordered(ordered).with_groupby({"folder"});
    group<Memory> g(spec{rule});
    const column_map A{{"folder", "A"}};
    REQUIRE(g.run(t("tr", {{"a", true}}), A) == t("tr", {{"a", true}, {"b", false}}));
    const auto before = g.snapshot();
    const auto stored = g.state.stored();

    // The rule absent from the event: nothing added.
    CHECK(g.run({}, A) == tag_map{});
    // Present with only an out-of-spec tag (true): a is not recalled, b not written.
    CHECK(g.run(t("tr", {{"d", true}}), A) == t("tr", {{"d", true}}));
    // Present with its spec'd tags explicitly false: they stay false, nothing recalled.
    CHECK(g.run(t("tr", {{"a", false}, {"b", false}}), A) == t("tr", {{"a", false}, {"b", false}}));
    CHECK(g.run(t("tr", {{"b", false}, {"x", false}}), A) == t("tr", {{"b", false}, {"x", false}}));
    // Other rules on the event are no reason to evaluate this one.
    CHECK(g.run(t("other", {{"a", true}}), A) == t("other", {{"a", true}}));
    // Memory untouched: same stored count, byte-identical state.
    CHECK(g.state.stored() == stored);
    CHECK(g.snapshot() == before);

    // One spec'd tag true: the rule is evaluated (a recalled).
    CHECK(g.run(t("tr", {{"b", true}}), A) == t("tr", {{"a", true}, {"b", true}}));
  }
}

TEST_CASE_TEMPLATE("parent and ancestor rules are always evaluated", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  group<Memory> g(
      spec{parent_rule("p", "ppid", "pid", {"f", "g"}), ancestor_rule("a", "ppid", "pid", {"f"})});
  CHECK(g.run(tag_map{{"p", {{"f", true}}}, {"a", {{"f", true}}}}, {{"pid", "1"}}) ==
        tag_map{{"p", {{"f", true}, {"g", false}}}, {"a", {{"f", true}}}});
  // The child carries none of the rules' tags: both rules are evaluated anyway, and every
  // spec'd tag is written with its evaluated value.
  CHECK(g.run({}, {{"pid", "2"}, {"ppid", "1"}}) ==
        tag_map{{"p", {{"f", true}, {"g", false}}}, {"a", {{"f", true}}}});
  // Nothing to recall: written false.
  CHECK(g.run({}, {{"pid", "3"}}) ==
        tag_map{{"p", {{"f", false}, {"g", false}}}, {"a", {{"f", false}}}});
}

// ---------------------------------------------------------------------------------------
// Tags and rules not in the spec

TEST_CASE_TEMPLATE("tags and rules not in the spec pass through unchanged", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  group<Memory> g(spec{temporal_rule("tr", {"a", "b"}), parent_rule("p", "ppid", "pid", {"f"}),
                       low_level_rule("l", {tag_update("x")})});
  const tag_map foreign{{"zz", {{"a", true}, {"b", false}, {"f", true}}}, {"yy", {{"q", false}}}};
  // Foreign rules alone: untouched (spec'd parent/low-level rules are added, evaluated).
  auto out = g.run(foreign, {{"pid", "1"}});
  CHECK(out.at("zz") == foreign.at("zz"));
  CHECK(out.at("yy") == foreign.at("yy"));
  CHECK(out.count("tr") == 0);  // skipped temporal rule: not even added
  CHECK(out.at("p") == std::map<std::string, bool>{{"f", false}});
  CHECK(out.at("l") == std::map<std::string, bool>{{"x", false}});

  // Unknown tags of spec'd rules, true or false, pass through while the rule is evaluated
  // and never influence it.
  CHECK(g.run(tag_map{{"tr", {{"a", true}, {"c", true}, {"e", false}}},
                      {"p", {{"f", true}, {"h", true}}},
                      {"l", {{"x", true}, {"y", false}}}},
              {{"pid", "2"}}) ==
        tag_map{{"tr", {{"a", true}, {"b", false}, {"c", true}, {"e", false}}},
                {"p", {{"f", true}, {"h", true}}},
                {"l", {{"x", true}, {"y", false}}}});
  CHECK(g.run(tag_map{{"tr", {{"b", true}, {"c", false}}}, {"p", {{"h", false}}}, {"zz", {}}},
              {{"pid", "3"}, {"ppid", "2"}}) ==
        tag_map{{"tr", {{"a", true}, {"b", true}, {"c", false}}},
                {"p", {{"f", true}, {"h", false}}},
                {"l", {{"x", true}}},
                {"zz", {}}});
}

TEST_CASE_TEMPLATE("a spec'd tag absent from the event counts as false", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  group<Memory> g(spec{temporal_rule("o", {"a", "b"}).with_ordered()});
  // b absent: counts as false, not remembered, and written with its evaluated value.
  CHECK(g.run(t("o", {{"a", true}})) == t("o", {{"a", true}, {"b", false}}));
  // a absent (false): recalled and written true; b true and remembered (a established).
  CHECK(g.run(t("o", {{"b", true}})) == t("o", {{"a", true}, {"b", true}}));
  CHECK(g.state.stored() == 2);
  // A parent rule's tag absent from the event: recalled and added.
  group<Memory> p(spec{parent_rule("p", "ppid", "pid", {"f"})});
  p.run(t("p", {{"f", true}}), {{"pid", "1"}});
  CHECK(p.run(t("q", {{"f", false}}), {{"pid", "2"}, {"ppid", "1"}}) ==
        tag_map{{"p", {{"f", true}}}, {"q", {{"f", false}}}});
}

// ---------------------------------------------------------------------------------------
// Missing columns

TEST_CASE_TEMPLATE("null, missing or empty child: nothing remembered", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  for (const auto& rule :
       {parent_rule("r", "ppid", "pid", {"f"}), ancestor_rule("r", "ppid", "pid", {"f"}),
        low_level_rule("r", {tag_update("f", "ppid", "pid")})}) {
    group<Memory> g(spec{rule});
    const std::vector<column_map> no_identity{
        {{"pid", std::nullopt}}, {}, {{"pid", ""}}, {{"pid", std::nullopt}, {"ppid", ""}}};
    for (const auto& cols : no_identity)
      CHECK(g.run(t("r", {{"f", true}}), cols) == t("r", {{"f", true}}));
    CHECK(g.state.stored() == 0);
    CHECK(g.state.generation_count() == 0);
    // In CCCS both would become "" and a process with an empty/null parent would see f.
    for (const auto& cols : no_identity) CHECK(g.run({}, cols) == t("r", {{"f", false}}));
  }
}

TEST_CASE_TEMPLATE("null, missing or empty parent: nothing recalled", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  for (const auto& rule :
       {parent_rule("r", "ppid", "pid", {"f"}), ancestor_rule("r", "ppid", "pid", {"f"}),
        low_level_rule("r", {tag_update("f", "ppid", "pid")})}) {
    group<Memory> g(spec{rule});
    // Two roots (null parents) with real ids: the first has f.
    CHECK(g.run(t("r", {{"f", true}}), {{"pid", "1"}, {"ppid", std::nullopt}}) ==
          t("r", {{"f", true}}));
    CHECK(g.state.stored() == 1);
    // The second root does not share the first one's tags (CCCS would: both keys "").
    CHECK(g.run({}, {{"pid", "2"}, {"ppid", std::nullopt}}) == t("r", {{"f", false}}));
    CHECK(g.run({}, {{"pid", "3"}}) == t("r", {{"f", false}}));
    CHECK(g.run({}, {{"pid", "4"}, {"ppid", ""}}) == t("r", {{"f", false}}));
    CHECK(g.state.stored() == 1);
    // And a real parent still works.
    CHECK(g.run({}, {{"pid", "5"}, {"ppid", "1"}}) == t("r", {{"f", true}}));
  }
}

TEST_CASE_TEMPLATE("null or missing groupby value is its own context", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  group<Memory> g(spec{temporal_rule("u", {"a", "b"}).with_groupby({"folder"})});
  const column_map null_folder{{"folder", std::nullopt}};
  const column_map missing{};
  const column_map empty{{"folder", ""}};
  const column_map named{{"folder", "x"}};
  const column_map null_text{{"folder", "null"}};
  CHECK(g.run(t("u", {{"a", true}}), null_folder) == t("u", {{"a", true}, {"b", false}}));
  CHECK(g.state.stored() == 1);  // remembered: null is a context, not "no key"
  // Null and missing are the same context.
  CHECK(g.run(t("u", {{"b", true}}), missing) == t("u", {{"a", true}, {"b", true}}));
  // Distinct from "", from a value, and from the text "null".
  CHECK(g.run(t("u", {{"b", true}}), empty) == t("u", {{"a", false}, {"b", true}}));
  CHECK(g.run(t("u", {{"b", true}}), named) == t("u", {{"a", false}, {"b", true}}));
  CHECK(g.run(t("u", {{"b", true}}), null_text) == t("u", {{"a", false}, {"b", true}}));
  // "" is a context too, separate from null.
  CHECK(g.run(t("u", {{"a", true}}), empty) == t("u", {{"a", true}, {"b", true}}));
  CHECK(g.run(t("u", {{"b", true}}), named) == t("u", {{"a", false}, {"b", true}}));
  CHECK(g.run(t("u", {{"a", true}}), null_folder) == t("u", {{"a", true}, {"b", true}}));
}

TEST_CASE_TEMPLATE("low-level prefix columns: null, missing or empty means no key", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  // Semantics section 3: a null/missing/empty prefix_get recalls nothing and a
  // null/missing/empty prefix_put remembers nothing, even when both name one column
  // (only a high-level groupby makes null a context of its own).
  group<Memory> g(spec{low_level_rule("r", {tag_update("a", "folder", "folder")})});
  CHECK(g.run(t("r", {{"a", true}}), {{"folder", std::nullopt}}) == t("r", {{"a", true}}));
  CHECK(g.state.stored() == 0);
  CHECK(g.run(t("r", {{"a", true}}), {{"folder", ""}}) == t("r", {{"a", true}}));
  CHECK(g.run(t("r", {{"a", true}}), {}) == t("r", {{"a", true}}));
  CHECK(g.state.stored() == 0);
  CHECK(g.run({}, {}) == t("r", {{"a", false}}));
  CHECK(g.run({}, {{"folder", ""}}) == t("r", {{"a", false}}));
  CHECK(g.run(t("r", {{"a", true}}), {{"folder", "A"}}) == t("r", {{"a", true}}));
  CHECK(g.state.stored() == 1);
  CHECK(g.run({}, {{"folder", "A"}}) == t("r", {{"a", true}}));
  CHECK(g.run({}, {{"folder", "B"}}) == t("r", {{"a", false}}));
}

TEST_CASE_TEMPLATE("multi-column groupby keys are unambiguous", Memory, FLUXCAP_MEMORY_POLICIES) {
  group<Memory> g(spec{temporal_rule("u", {"a", "b"}).with_groupby({"c1", "c2"})});
  auto ctx = [](std::optional<std::string> c1, std::optional<std::string> c2) {
    return column_map{{"c1", std::move(c1)}, {"c2", std::move(c2)}};
  };
  CHECK(g.run(t("u", {{"a", true}}), ctx("ab", "c")) == t("u", {{"a", true}, {"b", false}}));
  const std::vector<column_map> others{
      ctx("a", "bc"),          ctx("abc", ""),         ctx("", "abc"),
      ctx("ab", std::nullopt), ctx(std::nullopt, "c"), ctx("c", "ab"),
      ctx("ab", "c\x1f"),      ctx("ab\x1f", "c"),     ctx(std::nullopt, std::nullopt)};
  for (const auto& cols : others)
    CHECK(g.run(t("u", {{"b", true}}), cols) == t("u", {{"a", false}, {"b", true}}));
  CHECK(g.run(t("u", {{"b", true}}), ctx("ab", "c")) == t("u", {{"a", true}, {"b", true}}));

  // Null vs empty in one column of two.
  CHECK(g.run(t("u", {{"a", true}}), ctx("x", std::nullopt)) ==
        t("u", {{"a", true}, {"b", false}}));
  CHECK(g.run(t("u", {{"b", true}}), ctx("x", "")) == t("u", {{"a", false}, {"b", true}}));
  CHECK(g.run(t("u", {{"b", true}}), {{"c1", "x"}}) == t("u", {{"a", true}, {"b", true}}));
  CHECK(g.run(t("u", {{"b", true}}), ctx(std::nullopt, "x")) ==
        t("u", {{"a", false}, {"b", true}}));
}

// ---------------------------------------------------------------------------------------
// The low-level form (seed 002), examples 1-5

TEST_CASE_TEMPLATE("seed 002 example 1: ordered recon_cmd a, b, c per captured folder", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  const std::string f = "captured_folder_colname";
  group<Memory> g(spec{low_level_rule(
      "rule1", {tag_update("recon_cmd_a", f, f), tag_update("recon_cmd_b", f, f, "recon_cmd_a"),
                tag_update("recon_cmd_c", f, f, "recon_cmd_b")})});
  auto out = [](bool a, bool b, bool c, bool d = false) {
    tag_map m = t("rule1", {{"recon_cmd_a", a}, {"recon_cmd_b", b}, {"recon_cmd_c", c}});
    if (d) m["rule1"]["recon_cmd_d"] = true;
    return m;
  };
  const column_map A{{f, "C:\\Users\\a\\AppData"}};
  const column_map B{{f, "C:\\Temp"}};
  CHECK(g.run(t("rule1", {{"recon_cmd_b", true}}), A) == out(false, true, false));
  CHECK(g.run(t("rule1", {{"recon_cmd_c", true}}), A) == out(false, false, true));
  CHECK(g.run(t("rule1", {{"recon_cmd_a", true}}), A) == out(true, false, false));
  CHECK(g.run(t("rule1", {{"recon_cmd_c", true}}), A) == out(true, false, true));
  CHECK(g.run(t("rule1", {{"recon_cmd_b", true}}), A) == out(true, true, false));
  CHECK(g.run(t("rule1", {{"recon_cmd_c", true}}), B) == out(false, false, true));
  CHECK(g.run(t("rule1", {{"recon_cmd_c", true}}), A) == out(true, true, true));
  // recon_cmd_d is omitted from the spec: passes through; a low-level rule has no skip
  // rule, so the folder's accumulated tags are recalled onto it.
  CHECK(g.run(t("rule1", {{"recon_cmd_d", true}}), A) == out(true, true, true, true));
  CHECK(g.run(t("rule1", {{"recon_cmd_d", true}}), B) == out(false, false, false, true));
}

TEST_CASE_TEMPLATE("seed 002 example 2: unordered a, b per folder, c omitted", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  const std::string f = "captured_folder_colname";
  group<Memory> g(spec{
      low_level_rule("rule2", {tag_update("recon_cmd_a", f, f), tag_update("recon_cmd_b", f, f)})});
  const column_map A{{f, "A"}};
  CHECK(g.run(t("rule2", {{"recon_cmd_b", true}}), A) ==
        t("rule2", {{"recon_cmd_a", false}, {"recon_cmd_b", true}}));
  CHECK(g.run(t("rule2", {{"recon_cmd_a", true}, {"recon_cmd_c", true}}), A) ==
        t("rule2", {{"recon_cmd_a", true}, {"recon_cmd_b", true}, {"recon_cmd_c", true}}));
  // c was not remembered: not in the spec.
  CHECK(g.run({}, A) == t("rule2", {{"recon_cmd_a", true}, {"recon_cmd_b", true}}));
  CHECK(g.run({}, {{f, "B"}}) == t("rule2", {{"recon_cmd_a", false}, {"recon_cmd_b", false}}));
}

TEST_CASE_TEMPLATE("seed 002 example 3: infinite ancestor", Memory, FLUXCAP_MEMORY_POLICIES) {
  group<Memory> g(spec{low_level_rule("rule3", {tag_update("selection_parent", "parent_process_id",
                                                           "process_id", "selection_parent")})});
  auto cols = [](const char* pid, std::optional<std::string> ppid) {
    return column_map{{"process_id", pid}, {"parent_process_id", std::move(ppid)}};
  };
  const auto yes = t("rule3", {{"selection_parent", true}});
  const auto no = t("rule3", {{"selection_parent", false}});
  CHECK(g.run(yes, cols("3", std::nullopt)) == yes);
  CHECK(g.run({}, cols("13", "3")) == yes);
  CHECK(g.run({}, cols("133", "13")) == yes);
  CHECK(g.run({}, cols("1333", "133")) == yes);
  CHECK(g.run({}, cols("7", "99")) == no);
  CHECK(g.run({}, cols("8", std::nullopt)) == no);
}

TEST_CASE_TEMPLATE("seed 002 example 4: just check parent", Memory, FLUXCAP_MEMORY_POLICIES) {
  group<Memory> g(spec{low_level_rule(
      "rule4", {tag_update("selection_parent", "parent_process_id", "process_id")})});
  auto cols = [](const char* pid, const char* ppid) {
    return column_map{{"process_id", pid}, {"parent_process_id", ppid}};
  };
  const auto yes = t("rule4", {{"selection_parent", true}});
  const auto no = t("rule4", {{"selection_parent", false}});
  CHECK(g.run(yes, cols("3", "1")) == yes);
  CHECK(g.run({}, cols("13", "3")) == yes);
  CHECK(g.run({}, cols("133", "13")) == no);
}

TEST_CASE_TEMPLATE("seed 002 example 5: unordered, no prefix, the whole machine", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  group<Memory> g(spec{low_level_rule(
      "rule5", {tag_update("recon_cmd_a"), tag_update("recon_cmd_b"), tag_update("recon_cmd_c")})});
  auto out = [](bool a, bool b, bool c) {
    return t("rule5", {{"recon_cmd_a", a}, {"recon_cmd_b", b}, {"recon_cmd_c", c}});
  };
  CHECK(g.run(t("rule5", {{"recon_cmd_a", true}}), {{"folder", "x"}}) == out(true, false, false));
  CHECK(g.run(t("rule5", {{"recon_cmd_b", true}}), {{"folder", "y"}}) == out(true, true, false));
  CHECK(g.run(t("rule5", {{"recon_cmd_c", true}})) == out(true, true, true));
  // No skip rule for a low-level rule: an event with none of its tags gets all three.
  CHECK(g.run({}) == out(true, true, true));
  // The same spec written high-level skips such an event.
  group<Memory> h(spec{temporal_rule("rule5", {"recon_cmd_a", "recon_cmd_b", "recon_cmd_c"})});
  h.run(t("rule5", {{"recon_cmd_a", true}}));
  CHECK(h.run(t("rule5", {{"recon_cmd_d", true}})) == t("rule5", {{"recon_cmd_d", true}}));
}

TEST_CASE_TEMPLATE("low-level spec equals the high-level rule it lowers to", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  // ancestor == tag_update(T, parent, child, T); parent == tag_update(T, parent, child).
  group<Memory> hi(
      spec{ancestor_rule("x", "ppid", "pid", {"f"}), parent_rule("y", "ppid", "pid", {"f"})});
  group<Memory> lo(spec{low_level_rule("x", {tag_update("f", "ppid", "pid", "f")}),
                        low_level_rule("y", {tag_update("f", "ppid", "pid")})});
  const std::vector<std::pair<tag_map, column_map>> events{
      {tag_map{{"x", {{"f", true}}}, {"y", {{"f", true}}}}, {{"pid", "1"}}},
      {{}, {{"pid", "2"}, {"ppid", "1"}}},
      {{}, {{"pid", "3"}, {"ppid", "2"}}},
      {tag_map{{"y", {{"f", true}}}}, {{"pid", "4"}, {"ppid", "3"}}},
      {{}, {{"pid", "5"}, {"ppid", "4"}}},
      {{}, {{"pid", "6"}, {"ppid", std::nullopt}}},
  };
  for (const auto& [tags, cols] : events) CHECK(hi.run(tags, cols) == lo.run(tags, cols));
  CHECK(hi.snapshot() == lo.snapshot());  // same keys: the tag seeds use rule and tag only
}

// ---------------------------------------------------------------------------------------
// Independence: rules, tags of the same name, groups

TEST_CASE_TEMPLATE("several rules in one spec do not interfere", Memory, FLUXCAP_MEMORY_POLICIES) {
  const std::vector<rule_spec> rules{
      temporal_rule("r1", {"a", "b", "c"}).with_ordered(),
      temporal_rule("r5", {"a", "b", "c"}),
      temporal_rule("r6", {"a", "b"}).with_ordered().with_groupby({"folder"}),
      parent_rule("r4", "ppid", "pid", {"a"}),
      ancestor_rule("r3", "ppid", "pid", {"a", "b"}),
      low_level_rule(
          "rl", {tag_update("b", "folder", "folder", "a"), tag_update("a", "folder", "folder")}),
  };
  group<Memory> all{spec(rules)};
  std::vector<group<Memory>> alone;
  for (const auto& r : rules) alone.emplace_back(spec{r});

  // A fixed stream where every rule carries some of a, b, c.
  const char* folders[] = {"A", "B", "A", "C", "B"};
  for (int i = 0; i < 60; ++i) {
    tag_map tags;
    for (const auto& r : rules) {
      const std::size_t salt =
          static_cast<std::size_t>(r.name[1]) * 7u + static_cast<std::size_t>(i) * 13u;
      if (salt % 3 == 0) tags[r.name]["a"] = true;
      if (salt % 4 == 1) tags[r.name]["b"] = true;
      if (salt % 5 == 2) tags[r.name]["c"] = true;
    }
    const column_map cols{
        {"pid", std::to_string(i)}, {"ppid", std::to_string(i / 2)}, {"folder", folders[i % 5]}};
    const tag_map combined = all.run(tags, cols);
    for (std::size_t k = 0; k < rules.size(); ++k) {
      tag_map only;
      if (auto it = tags.find(rules[k].name); it != tags.end()) only.insert(*it);
      const tag_map single = alone[k].run(only, cols);
      const auto it = combined.find(rules[k].name);
      CAPTURE(i);
      CAPTURE(rules[k].name);
      if (single.empty())
        CHECK(it == combined.end());
      else
        CHECK((it != combined.end() && it->second == single.at(rules[k].name)));
    }
  }
}

TEST_CASE_TEMPLATE("the same tag name in two rules is two different tags", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  group<Memory> g(
      spec{temporal_rule("x", {"a", "b"}), temporal_rule("y", {"a", "b"}),
           parent_rule("p", "ppid", "pid", {"a"}), parent_rule("q", "ppid", "pid", {"a"}),
           low_level_rule("l", {tag_update("a")}), low_level_rule("m", {tag_update("a")})});
  CHECK(g.run(tag_map{{"x", {{"a", true}}}, {"p", {{"a", true}}}, {"l", {{"a", true}}}},
              {{"pid", "1"}}) == tag_map{{"x", {{"a", true}, {"b", false}}},
                                         {"p", {{"a", true}}},
                                         {"q", {{"a", false}}},
                                         {"l", {{"a", true}}},
                                         {"m", {{"a", false}}}});
  CHECK(g.run(tag_map{{"x", {{"b", true}}}, {"y", {{"b", true}}}}, {{"pid", "2"}, {"ppid", "1"}}) ==
        tag_map{{"x", {{"a", true}, {"b", true}}},
                {"y", {{"a", false}, {"b", true}}},
                {"p", {{"a", true}}},
                {"q", {{"a", false}}},
                {"l", {{"a", true}}},
                {"m", {{"a", false}}}});
}

TEST_CASE_TEMPLATE("groups never see each other's state", Memory, FLUXCAP_MEMORY_POLICIES) {
  const spec s{temporal_rule("u", {"a", "b"}), ancestor_rule("anc", "ppid", "pid", {"f"}),
               low_level_rule("l", {tag_update("x")})};
  group<Memory> host1(s);
  group<Memory> host2(s);
  CHECK(host1.run(tag_map{{"u", {{"a", true}}}, {"anc", {{"f", true}}}, {"l", {{"x", true}}}},
                  {{"pid", "1"}}) ==
        tag_map{{"u", {{"a", true}, {"b", false}}}, {"anc", {{"f", true}}}, {"l", {{"x", true}}}});
  CHECK(host1.state.stored() == 3);
  CHECK(host2.state.stored() == 0);
  // Same ids, same contexts in the other group: nothing.
  CHECK(
      host2.run(t("u", {{"b", true}}), {{"pid", "2"}, {"ppid", "1"}}) ==
      tag_map{{"u", {{"a", false}, {"b", true}}}, {"anc", {{"f", false}}}, {"l", {{"x", false}}}});
  CHECK(host1.run(t("u", {{"b", true}}), {{"pid", "2"}, {"ppid", "1"}}) ==
        tag_map{{"u", {{"a", true}, {"b", true}}}, {"anc", {{"f", true}}}, {"l", {{"x", true}}}});

  // The same through a state store with one capacitor.
  flux_capacitor<map_accessor, Memory> cap(compile(s), map_accessor{});
  in_memory_state_store<group_state> store(cap.make_state());
  map_event e1{t("l", {{"x", true}}), {}};
  cap.update(store.find_or_create("h1"), e1);
  map_event e2{{}, {}};
  cap.update(store.find_or_create("h2"), e2);
  CHECK(e2.tags.at("l").at("x") == false);
  map_event e3{{}, {}};
  cap.update(store.find_or_create("h1"), e3);
  CHECK(e3.tags.at("l").at("x") == true);
}
