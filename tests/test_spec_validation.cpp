// compile(): every rejected spec, the diagnostics, the evaluation order and the lowering
// of each action to key recipes.
#include <fluxcap/fluxcap.hpp>

#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "test_util.hpp"

using namespace fluxcap;

namespace {

/// compile(s) must throw a spec_error naming `rule` and `tag`, whose message contains
/// `needle`, and whose what() contains all of it.
void expect_error(const spec& s, const std::string& rule, const std::string& tag,
                  const std::string& needle) {
  CAPTURE(rule);
  CAPTURE(tag);
  CAPTURE(needle);
  bool thrown = false;
  try {
    (void)compile(s);
  } catch (const spec_error& e) {
    thrown = true;
    const std::string what = e.what();
    CAPTURE(what);
    CHECK(e.rule() == rule);
    CHECK(e.tag() == tag);
    CHECK(e.message().find(needle) != std::string::npos);
    CHECK(what.find(e.message()) != std::string::npos);
    if (!rule.empty()) CHECK(what.find("rule '" + rule + "'") != std::string::npos);
    if (!tag.empty()) CHECK(what.find("tag '" + tag + "'") != std::string::npos);
    if (rule.empty()) CHECK(what.find("rule '") == std::string::npos);
    if (tag.empty()) CHECK(what.find("tag '") == std::string::npos);
  }
  CHECK(thrown);
}

rule_spec with_tags(rule_spec r, std::vector<tag_spec> tags) {
  r.tags = std::move(tags);
  return r;
}

/// Names of a compiled rule's tags in evaluation order.
std::vector<std::string> order_of(const compiled_rule& r) {
  std::vector<std::string> out;
  for (const auto& t : r.tags) out.push_back(t.name);
  return out;
}

using names = std::vector<std::string>;

}  // namespace

TEST_CASE("spec errors: rules and tags") {
  expect_error(spec{}, "", "", "no rules");

  expect_error(spec{temporal_rule("", {"a"})}, "", "", "empty name");
  expect_error(spec{temporal_rule("r1", {"a"}), parent_rule("r1", "ppid", "pid", {"b"})}, "r1", "",
               "duplicate rule name");
  expect_error(spec{temporal_rule("r1", {"a"}), temporal_rule("r2", {})}, "r2", "",
               "at least one tag");
  expect_error(spec{low_level_rule("r", {})}, "r", "", "at least one tag");
  expect_error(spec{temporal_rule("r", {"a", ""})}, "r", "", "empty name");
  expect_error(spec{temporal_rule("r", {"a", "b", "a"})}, "r", "a", "duplicate tag name");
  expect_error(spec{low_level_rule("r", {tag_update("x"), tag_update("x", "c")})}, "r", "x",
               "duplicate tag name");
}

TEST_CASE("spec errors: fields that do not belong to the action") {
  // parent / ancestor need both columns.
  for (const auto act : {action::parent, action::ancestor}) {
    CAPTURE(to_string(act));
    auto r = parent_rule("r", "ppid", "pid", {"f"});
    r.act = act;
    auto no_parent = r;
    no_parent.parent.reset();
    expect_error(spec{no_parent}, "r", "", "needs a 'parent' column");
    auto no_child = r;
    no_child.child.reset();
    expect_error(spec{no_child}, "r", "", "needs a 'child' column");
    auto empty_parent = r;
    empty_parent.parent = "";
    expect_error(spec{empty_parent}, "r", "", "empty column");
    expect_error(spec{rule_spec(r).with_ordered(false)}, "r", "", "'ordered' is only valid");
    expect_error(spec{rule_spec(r).with_groupby({"folder"})}, "r", "", "'groupby' is only valid");
  }
  // temporal takes neither parent nor child.
  auto tp = temporal_rule("t", {"a"});
  tp.parent = "ppid";
  expect_error(spec{tp}, "t", "", "'parent' is only valid");
  auto tc = temporal_rule("t", {"a"});
  tc.child = "pid";
  expect_error(spec{tc}, "t", "", "'child' is only valid");
  expect_error(spec{temporal_rule("t", {"a"}).with_groupby({"f", ""})}, "t", "", "empty column");
  expect_error(spec{temporal_rule("t", {"a"}).with_groupby({"f", "g", "f"})}, "t", "", "twice");

  // Low-level fields on a high-level rule.
  expect_error(spec{with_tags(temporal_rule("h", {}), {tag_update("a", "folder")})}, "h", "a",
               "prefix_get");
  expect_error(spec{with_tags(parent_rule("h", "ppid", "pid", {}),
                              {"a", tag_update("b", std::nullopt, "pid")})},
               "h", "b", "prefix_put");
  expect_error(spec{with_tags(ancestor_rule("h", "ppid", "pid", {}),
                              {tag_update("a", std::nullopt, std::nullopt, "a")})},
               "h", "a", "put_condition");
  expect_error(spec{with_tags(temporal_rule("h", {}).with_ordered(),
                              {"a", tag_update("b", std::nullopt, std::nullopt, "a")})},
               "h", "b", "put_condition");

  // High-level fields on a low-level rule.
  auto ll = low_level_rule("l", {tag_update("a")});
  expect_error(spec{rule_spec(ll).with_ordered()}, "l", "", "'ordered' needs an 'action'");
  expect_error(spec{rule_spec(ll).with_groupby({"f"})}, "l", "", "'groupby' needs an 'action'");
  auto lp = ll;
  lp.parent = "ppid";
  expect_error(spec{lp}, "l", "", "'parent' needs an 'action'");
  auto lc = ll;
  lc.child = "pid";
  expect_error(spec{lc}, "l", "", "'child' needs an 'action'");
  expect_error(spec{low_level_rule("l", {tag_update("a", "")})}, "l", "a", "empty column");
  expect_error(spec{low_level_rule("l", {tag_update("a", "x", "")})}, "l", "a", "empty column");
}

TEST_CASE("spec errors: put conditions") {
  expect_error(spec{low_level_rule("l", {tag_update("a"), tag_update("b", {}, {}, "zz")})}, "l",
               "b", "put_condition 'zz' names no tag of this rule");
  // A condition naming a tag of another rule is unknown too.
  expect_error(spec{low_level_rule("m", {tag_update("x")}),
                    low_level_rule("l", {tag_update("a", {}, {}, "x")})},
               "l", "a", "names no tag");

  // Two-cycle.
  try {
    (void)compile(
        spec{low_level_rule("l", {tag_update("a", {}, {}, "b"), tag_update("b", {}, {}, "a")})});
    FAIL("a -> b -> a accepted");
  } catch (const spec_error& e) {
    CHECK(e.rule() == "l");
    CHECK(e.tag() == "a");
    CHECK(e.message() == "put conditions form a cycle: a -> b -> a");
  }
  // Three-cycle, behind an acyclic prefix (d -> a, which is on the cycle).
  try {
    (void)compile(
        spec{low_level_rule("l", {tag_update("d", {}, {}, "a"), tag_update("a", {}, {}, "c"),
                                  tag_update("b", {}, {}, "a"), tag_update("c", {}, {}, "b")})});
    FAIL("3-cycle accepted");
  } catch (const spec_error& e) {
    CHECK(e.rule() == "l");
    CHECK(e.tag() == "a");
    CHECK(e.message() == "put conditions form a cycle: a -> c -> b -> a");
    CHECK(std::string(e.what()).find("a -> c -> b -> a") != std::string::npos);
  }

  // A tag naming itself is not a cycle; it is the ancestor behaviour.
  const program p = compile(spec{
      low_level_rule("l", {tag_update("s", "ppid", "pid", "s"), tag_update("t", {}, {}, "s")})});
  REQUIRE(p.rules.size() == 1);
  REQUIRE(p.rules[0].tags.size() == 2);
  CHECK(p.rules[0].tags[0].condition == condition_kind::self);
  CHECK(p.rules[0].tags[0].feeds_condition);
  CHECK(p.rules[0].tags[1].condition == condition_kind::other);
  CHECK(p.rules[0].tags[1].condition_tag == 0);
}

TEST_CASE("spec errors report the source location as file:line:col") {
  // Rule-level problem: the rule's (or a field's) location.
  auto r = parent_rule("rule4", "ppid", "pid", {"f"});
  r.parent.reset();
  r.where.rule = {"spec.yaml", 7, 3};
  r.where.action = {"spec.yaml", 9, 13};
  try {
    (void)compile(spec{r});
    FAIL("accepted");
  } catch (const spec_error& e) {
    CHECK(e.where().to_string() == "spec.yaml:9:13");
    CHECK(std::string(e.what()) ==
          "spec.yaml:9:13: rule 'rule4': action 'parent' needs a 'parent' column");
  }
  // Without a field location, the rule's.
  r.where.action = {};
  try {
    (void)compile(spec{r});
    FAIL("accepted");
  } catch (const spec_error& e) {
    CHECK(std::string(e.what()).rfind("spec.yaml:7:3: rule 'rule4': ", 0) == 0);
  }
  // Tag-level problem: the tag's location; a put_condition's own location when set.
  auto l = low_level_rule("l", {tag_update("a"), tag_update("b", {}, {}, "nope")});
  l.where.rule = {"s.yaml", 1, 3};
  l.tags[1].where = {"s.yaml", 5, 9};
  try {
    (void)compile(spec{l});
    FAIL("accepted");
  } catch (const spec_error& e) {
    CHECK(std::string(e.what()).rfind("s.yaml:5:9: rule 'l': tag 'b': ", 0) == 0);
  }
  l.tags[1].put_condition_where = {"s.yaml", 6, 24};
  try {
    (void)compile(spec{l});
    FAIL("accepted");
  } catch (const spec_error& e) {
    CHECK(std::string(e.what()).rfind("s.yaml:6:24: rule 'l': tag 'b': ", 0) == 0);
    CHECK(e.where().line == 6);
    CHECK(e.where().column == 24);
  }
  // A duplicate names where the first one was defined.
  auto d1 = temporal_rule("dup", {"a"});
  d1.where.rule = {"s.yaml", 2, 3};
  auto d2 = temporal_rule("dup", {"a"});
  d2.where.rule = {"s.yaml", 8, 3};
  try {
    (void)compile(spec{d1, d2});
    FAIL("accepted");
  } catch (const spec_error& e) {
    CHECK(std::string(e.what()) ==
          "s.yaml:8:3: rule 'dup': duplicate rule name (first defined at s.yaml:2:3)");
  }
  // Whole-spec problem: the document's location; no line -> the file alone; nothing -> "".
  spec empty;
  empty.where = {"empty.yaml", 1, 1};
  try {
    (void)compile(empty);
    FAIL("accepted");
  } catch (const spec_error& e) {
    CHECK(std::string(e.what()) == "empty.yaml:1:1: the spec has no rules");
  }
  empty.where = {"empty.yaml", 0, 0};
  try {
    (void)compile(empty);
    FAIL("accepted");
  } catch (const spec_error& e) {
    CHECK(std::string(e.what()) == "empty.yaml: the spec has no rules");
  }
  try {
    (void)compile(spec{});
    FAIL("accepted");
  } catch (const spec_error& e) {
    CHECK(std::string(e.what()) == "the spec has no rules");
    CHECK_FALSE(e.where().known());
  }
  // Line without column.
  CHECK(source_location{"f", 3, 0}.to_string() == "f:3");
  CHECK(source_location{"", 3, 4}.to_string() == "<spec>:3:4");
}

TEST_CASE("evaluation order: conditions before dependents, spec order otherwise") {
  auto order = [](std::vector<tag_spec> tags) {
    return order_of(compile(spec{low_level_rule("l", std::move(tags))}).rules.at(0));
  };
  const std::optional<std::string> none;
  // No conditions: spec order.
  CHECK(order({tag_update("z"), tag_update("a"), tag_update("m")}) == names{"z", "a", "m"});
  // c <- b <- a listed c, a, b.
  CHECK(order({tag_update("c", none, none, "b"), tag_update("a"),
               tag_update("b", none, none, "a")}) == names{"a", "b", "c"});
  // Independent tags keep their places; a chain is pulled in front of its first user.
  CHECK(order({tag_update("x"), tag_update("c", none, none, "b"), tag_update("y"), tag_update("a"),
               tag_update("b", none, none, "a")}) == names{"x", "a", "b", "c", "y"});
  // Self conditions do not reorder.
  CHECK(order({tag_update("s", none, none, "s"), tag_update("r")}) == names{"s", "r"});
  // Fan-out: two tags gated by the same condition listed before it.
  CHECK(order({tag_update("u", none, none, "p"), tag_update("v", none, none, "p"),
               tag_update("p")}) == names{"p", "u", "v"});

  // condition_tag indexes the evaluation order; spec_index the spec order.
  const program p = compile(
      spec{low_level_rule("l", {tag_update("x"), tag_update("c", none, none, "b"), tag_update("y"),
                                tag_update("a"), tag_update("b", none, none, "a")})});
  const auto& tags = p.rules.at(0).tags;
  REQUIRE(tags.size() == 5);
  const std::size_t spec_index[] = {0, 3, 4, 1, 2};  // x a b c y
  for (std::size_t i = 0; i < 5; ++i) CHECK(tags[i].spec_index == spec_index[i]);
  CHECK(tags[0].condition == condition_kind::none);
  CHECK(tags[1].condition == condition_kind::none);
  CHECK(tags[2].condition == condition_kind::other);
  CHECK(tags[2].condition_tag == 1);  // b <- a
  CHECK(tags[3].condition == condition_kind::other);
  CHECK(tags[3].condition_tag == 2);  // c <- b
  CHECK(tags[4].condition == condition_kind::none);
  CHECK_FALSE(tags[0].feeds_condition);
  CHECK(tags[1].feeds_condition);
  CHECK(tags[2].feeds_condition);
  CHECK_FALSE(tags[3].feeds_condition);
  CHECK_FALSE(tags[4].feeds_condition);

  // Rules keep spec order.
  const program q = compile(spec{temporal_rule("z", {"a"}), temporal_rule("a", {"a"}),
                                 parent_rule("m", "p", "c", {"a"})});
  REQUIRE(q.rules.size() == 3);
  CHECK(q.rules[0].name == "z");
  CHECK(q.rules[1].name == "a");
  CHECK(q.rules[2].name == "m");
}

TEST_CASE("lowering: each action to key recipes") {
  const key_recipe none_ctx{{}, key_role::context};
  const key_recipe folder_ctx{{"folder", "user"}, key_role::context};
  const key_recipe parent_rel{{"ppid"}, key_role::relation};
  const key_recipe none_rel{{}, key_role::relation};
  const key_recipe child_rel{{"pid"}, key_role::relation};

  const program p = compile(spec{
      temporal_rule("tu", {"a", "b"}),
      temporal_rule("to", {"a", "b", "c"}).with_ordered().with_groupby({"folder", "user"}),
      parent_rule("pa", "ppid", "pid", {"f", "g"}),
      ancestor_rule("an", "ppid", "pid", {"f"}),
      low_level_rule("ll", {tag_update("same", "folder", "folder"),
                            tag_update("rel", "ppid", "pid"), tag_update("get_only", "ppid"),
                            tag_update("put_only", {}, "pid"), tag_update("bare")}),
  });
  REQUIRE(p.rules.size() == 5);

  const auto& tu = p.rules[0];
  CHECK(tu.act == action::temporal);
  CHECK(tu.skip_unless_tagged);
  CHECK(order_of(tu) == names{"a", "b"});
  for (const auto& t : tu.tags) {
    CHECK(t.get == none_ctx);
    CHECK(t.put == none_ctx);
    CHECK(t.condition == condition_kind::none);
    CHECK_FALSE(t.feeds_condition);
  }

  const auto& to = p.rules[1];
  CHECK(to.skip_unless_tagged);
  CHECK(order_of(to) == names{"a", "b", "c"});
  for (const auto& t : to.tags) {
    CHECK(t.get == folder_ctx);
    CHECK(t.put == folder_ctx);
  }
  CHECK(to.tags[0].condition == condition_kind::none);
  CHECK(to.tags[1].condition == condition_kind::other);
  CHECK(to.tags[1].condition_tag == 0);
  CHECK(to.tags[2].condition == condition_kind::other);
  CHECK(to.tags[2].condition_tag == 1);
  CHECK(to.tags[0].feeds_condition);
  CHECK(to.tags[1].feeds_condition);
  CHECK_FALSE(to.tags[2].feeds_condition);

  const auto& pa = p.rules[2];
  CHECK(pa.act == action::parent);
  CHECK_FALSE(pa.skip_unless_tagged);
  for (const auto& t : pa.tags) {
    CHECK(t.get == parent_rel);
    CHECK(t.put == child_rel);
    CHECK(t.condition == condition_kind::none);
  }

  const auto& an = p.rules[3];
  CHECK(an.act == action::ancestor);
  CHECK_FALSE(an.skip_unless_tagged);
  CHECK(an.tags[0].get == parent_rel);
  CHECK(an.tags[0].put == child_rel);
  CHECK(an.tags[0].condition == condition_kind::self);
  CHECK_FALSE(an.tags[0].feeds_condition);

  const auto& ll = p.rules[4];
  CHECK_FALSE(ll.act.has_value());
  CHECK_FALSE(ll.skip_unless_tagged);
  REQUIRE(ll.tags.size() == 5);
  CHECK(ll.tags[0].get == key_recipe{{"folder"}, key_role::relation});
  CHECK(ll.tags[0].put == key_recipe{{"folder"}, key_role::relation});
  CHECK(ll.tags[1].get == parent_rel);
  CHECK(ll.tags[1].put == child_rel);
  CHECK(ll.tags[2].get == parent_rel);
  CHECK(ll.tags[2].put == key_recipe{{}, key_role::relation});
  CHECK(ll.tags[3].get == key_recipe{{}, key_role::relation});
  CHECK(ll.tags[3].put == child_rel);
  CHECK(ll.tags[4].get == none_rel);
  CHECK(ll.tags[4].put == none_rel);

  // Columns: distinct, first-use order.
  CHECK(p.columns() == names{"folder", "user", "ppid", "pid"});
  CHECK(p.tag_count() == 2 + 3 + 2 + 1 + 5);
}

using fluxcap_test::numbered;

TEST_CASE("spec limits") {
  // Too many key columns for the per-event cache.
  spec many;
  for (std::size_t i = 0; i <= max_key_columns; ++i)
    many.add(temporal_rule(numbered("r", i), {"a"}).with_groupby({numbered("c", i)}));
  expect_error(many, "", "", "distinct key columns");
  many.rules.pop_back();
  CHECK(compile(many).columns().size() == max_key_columns);

  std::vector<tag_spec> tags;
  for (std::size_t i = 0; i <= max_tags_per_rule; ++i) tags.emplace_back(numbered("t", i));
  expect_error(spec{temporal_rule("big", tags)}, "big", "", "at most");
  tags.pop_back();
  CHECK(compile(spec{temporal_rule("big", tags)}).tag_count() == max_tags_per_rule);
}
