// The post-flux condition parser and evaluator (fluxcap/condition.hpp).
#include <fluxcap/condition.hpp>

#include <doctest/doctest.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>

using fluxcap::condition;
using fluxcap::condition_error;

namespace {

// rule -> tag -> value; std::less<> so string_view lookups need no temporary string.
using tag_map = std::map<std::string, std::map<std::string, bool, std::less<>>, std::less<>>;

bool eval(const condition& c, const tag_map& event) {
  const auto lookup = [&](std::string_view rule, std::string_view tag) -> std::optional<bool> {
    const auto r = event.find(rule);
    if (r == event.end()) return std::nullopt;
    const auto t = r->second.find(tag);
    if (t == r->second.end()) return std::nullopt;
    return t->second;
  };
  const auto for_each_tag = [&](std::string_view rule, auto&& fn) {
    if (const auto r = event.find(rule); r != event.end())
      for (const auto& [tag, value] : r->second) fn(tag, value);
  };
  return c.evaluate(lookup, for_each_tag);
}

bool eval(std::string_view text, const tag_map& event, std::string_view rule = "r") {
  return eval(condition::parse(text, rule), event);
}

// The column and message of the error `text` raises.
std::pair<std::size_t, std::string> error_of(std::string_view text, std::string_view rule = "r",
                                             fluxcap::condition_limits limits = {}) {
  try {
    (void)condition::parse(text, rule, limits);
  } catch (const condition_error& e) {
    return {e.column(), e.message()};
  }
  FAIL("no error for: " << text);
  return {};
}

}  // namespace

TEST_CASE("seed condition: selection and not 1 of filter*") {
  const auto c = condition::parse("selection and not 1 of filter*", "rule1");
  CHECK(c.to_string() == "rule1.selection and not 1 of rule1.filter*");
  CHECK(eval(c, {{"rule1", {{"selection", true}}}}));
  CHECK(eval(c, {{"rule1", {{"selection", true}, {"filter", false}, {"filter_git", false}}}}));
  CHECK_FALSE(eval(c, {{"rule1", {{"selection", true}, {"filter", true}}}}));
  CHECK_FALSE(eval(c, {{"rule1", {{"selection", true}, {"filter_iexplorer", true}}}}));
  CHECK_FALSE(eval(c, {{"rule1", {{"selection", false}}}}));
  CHECK_FALSE(eval(c, {}));
  // Another rule's tags do not count.
  CHECK(eval(c, {{"rule1", {{"selection", true}}}, {"rule2", {{"filter", true}}}}));
}

TEST_CASE("seed condition: selection and not 1 of filter_*") {
  const auto c = condition::parse("selection and not 1 of filter_*", "rule2");
  CHECK(eval(c, {{"rule2", {{"selection", true}, {"filter", true}}}}));  // `filter` not selected
  CHECK_FALSE(eval(c, {{"rule2", {{"selection", true}, {"filter_git", true}}}}));
  CHECK(eval(c, {{"rule2", {{"selection", true}, {"filter_provider", false}}}}));
}

TEST_CASE("seed condition: 1 of selection_*") {
  const auto c = condition::parse("1 of selection_*", "rule3");
  CHECK(eval(c, {{"rule3", {{"selection_other", true}}}}));
  CHECK(eval(c, {{"rule3", {{"selection_other", false}, {"selection_atexec", true}}}}));
  CHECK_FALSE(eval(c, {{"rule3", {{"selection_other", false}, {"selection_atexec", false}}}}));
  CHECK_FALSE(eval(c, {{"rule3", {{"selection", true}}}}));
  CHECK(condition::parse("any of selection_*", "rule3").to_string() == "1 of rule3.selection_*");
}

TEST_CASE("absent tags are false") {
  CHECK_FALSE(eval("a", {}));
  CHECK(eval("not a", {}));
  CHECK(eval("not a", {{"r", {{"a", false}}}}));
  CHECK_FALSE(eval("not a", {{"r", {{"a", true}}}}));
}

TEST_CASE("precedence: not > and > or") {
  // a or b and c == a or (b and c)
  const auto c = condition::parse("a or b and c", "r");
  CHECK(c.to_string() == "r.a or r.b and r.c");
  CHECK(eval(c, {{"r", {{"a", true}}}}));
  CHECK_FALSE(eval(c, {{"r", {{"b", true}}}}));
  CHECK(eval(c, {{"r", {{"b", true}, {"c", true}}}}));
  // not a and b == (not a) and b
  CHECK(eval("not a and b", {{"r", {{"b", true}}}}));
  CHECK_FALSE(eval("not a and b", {{"r", {{"a", true}, {"b", false}}}}));
  CHECK_FALSE(eval("not a and b", {}));
  // a and b or c == (a and b) or c
  CHECK(eval("a and b or c", {{"r", {{"c", true}}}}));
  CHECK(condition::parse("not a or b and not c", "r").to_string() == "not r.a or r.b and not r.c");
}

TEST_CASE("parentheses") {
  const auto c = condition::parse("(a or b) and c", "r");
  CHECK(c.to_string() == "(r.a or r.b) and r.c");
  CHECK_FALSE(eval(c, {{"r", {{"a", true}}}}));
  CHECK(eval(c, {{"r", {{"a", true}, {"c", true}}}}));
  CHECK(eval("not (a and b)", {{"r", {{"a", true}}}}));
  CHECK_FALSE(eval("not (a and b)", {{"r", {{"a", true}, {"b", true}}}}));
  CHECK(condition::parse("not (a and b)", "r").to_string() == "not (r.a and r.b)");
  // Redundant parentheses disappear; same operators merge.
  CHECK(condition::parse("((a)) and ((b and c))", "r").to_string() == "r.a and r.b and r.c");
  CHECK(condition::parse("a or (b or (c))", "r").to_string() == "r.a or r.b or r.c");
  CHECK(condition::parse("not not a", "r").to_string() == "not not r.a");
  CHECK(eval("not not a", {{"r", {{"a", true}}}}));
}

TEST_CASE("qualified names and patterns") {
  const auto c = condition::parse("rule1.sel and not 1 of rule2.filter_*");
  CHECK(c.to_string() == "rule1.sel and not 1 of rule2.filter_*");
  CHECK(eval(c, {{"rule1", {{"sel", true}}}, {"rule2", {{"x", true}}}}));
  CHECK_FALSE(eval(c, {{"rule1", {{"sel", true}}}, {"rule2", {{"filter_a", true}}}}));
  // The tag part may contain dots; the rule part is up to the first one.
  CHECK(eval("r.a.b", {{"r", {{"a.b", true}}}}, ""));
  const auto with_refs = condition::parse("x and 1 of q.f* or all of them", "r");
  const auto refs = with_refs.references();  // views into `with_refs`
  REQUIRE(refs.size() == 3);
  CHECK((refs[0].rule == "r" && refs[0].name == "x" && !refs[0].pattern));
  CHECK((refs[1].rule == "q" && refs[1].name == "f*" && refs[1].pattern));
  CHECK((refs[2].rule == "r" && refs[2].name == "*" && refs[2].pattern));
}

TEST_CASE("wildcards") {
  CHECK(fluxcap::detail::glob_match("*", ""));
  CHECK(fluxcap::detail::glob_match("a*c", "abbbc"));
  CHECK(fluxcap::detail::glob_match("a*b*c", "aXbYbZc"));
  CHECK(fluxcap::detail::glob_match("*_git", "filter_git"));
  CHECK_FALSE(fluxcap::detail::glob_match("a*c", "abcd"));
  CHECK_FALSE(fluxcap::detail::glob_match("filter", "filter_git"));  // whole name
  CHECK(eval("1 of *_git", {{"r", {{"filter_git", true}}}}));
  CHECK(eval("1 of f*r*", {{"r", {{"filter", true}}}}));
  CHECK_FALSE(eval("1 of filter", {{"r", {{"filter_git", true}}}}));
  // '_'-prefixed tags are hidden from patterns unless the pattern asks for them.
  CHECK_FALSE(eval("1 of *", {{"r", {{"_helper", true}}}}));
  CHECK(eval("1 of _*", {{"r", {{"_helper", true}}}}));
  CHECK(eval("_helper", {{"r", {{"_helper", true}}}}));
}

TEST_CASE("all of: at least one match and every match true") {
  CHECK(eval("all of sel*", {{"r", {{"sel1", true}, {"sel2", true}, {"other", false}}}}));
  CHECK_FALSE(eval("all of sel*", {{"r", {{"sel1", true}, {"sel2", false}}}}));
  CHECK_FALSE(eval("all of sel*", {{"r", {{"other", true}}}}));  // nothing matches
  CHECK_FALSE(eval("all of sel*", {}));
}

TEST_CASE("them: every tag of the default rule") {
  const tag_map some{{"r", {{"a", true}, {"b", false}}}};
  const tag_map all{{"r", {{"a", true}, {"b", true}, {"_h", false}}}};
  CHECK(eval("1 of them", some));
  CHECK_FALSE(eval("all of them", some));
  CHECK(eval("all of them", all));  // `_h` is not one of them
  CHECK_FALSE(eval("1 of them", {{"r", {{"a", false}}}, {"s", {{"a", true}}}}));
  CHECK(condition::parse("all of them", "r").to_string() == "all of r.*");
}

TEST_CASE("to_string round-trips") {
  for (const char* text :
       {"selection and not 1 of filter*", "(a or b) and not (c or d and e)", "all of them",
        "not (not a or b)", "a and (b or c) and d", "1 of x.y_* or q.z"}) {
    CAPTURE(text);
    const auto once = condition::parse(text, "r").to_string();
    CHECK(condition::parse(once).to_string() == once);
    CHECK(condition::parse(once, "other").to_string() == once);
  }
}

TEST_CASE("lookup may return plain bool") {
  const auto c = condition::parse("a and not b", "r");
  const auto no_tags = [](std::string_view, auto&&) {};
  CHECK(c.evaluate([](std::string_view, std::string_view tag) { return tag == "a"; }, no_tags));
  CHECK_FALSE(c.evaluate([](std::string_view, std::string_view) { return true; }, no_tags));
}

TEST_CASE("errors name what and where") {
  using E = std::pair<std::size_t, std::string>;
  CHECK(error_of("") == E{1, "empty condition"});
  CHECK(error_of("   ") == E{1, "empty condition"});
  CHECK(error_of("(a and b") ==
        E{9, "missing ')' to close '(' at column 1, found end of condition"});
  CHECK(error_of("a and (b c)") ==
        E{10, "expected 'and', 'or' or ')' to close '(' at column 7, found 'c'"});
  CHECK(error_of("a and b)") == E{8, "unmatched ')'"});
  CHECK(error_of("a and") ==
        E{6,
          "expected a tag name, '(', 'not', '1 of' or 'all of' after 'and', found end of "
          "condition"});
  CHECK(error_of("a or or b") ==
        E{6, "expected a tag name, '(', 'not', '1 of' or 'all of' after 'or', found 'or'"});
  CHECK(error_of("not") ==
        E{4,
          "expected a tag name, '(', 'not', '1 of' or 'all of' after 'not', found end of "
          "condition"});
  CHECK(error_of("()") ==
        E{2, "expected a tag name, '(', 'not', '1 of' or 'all of' after '(', found ')'"});
  CHECK(error_of("and a").first == 1);
  CHECK(error_of("a b") == E{3, "expected 'and', 'or' or end of condition, found 'b'"});
  CHECK(error_of("a & b") == E{3, "unexpected character '&'"});
  CHECK(error_of("a\x01") == E{2, "unexpected character '\\x01'"});
  CHECK(error_of("sel | count() > 5").first == 5);
  CHECK(error_of("filter*") == E{7,
                                 "wildcard in 'filter*' is only allowed after '1 of' or "
                                 "'all of'"});
  CHECK(error_of("1 of") == E{5,
                              "expected a name pattern or 'them' after 'of', found end of "
                              "condition"});
  CHECK(error_of("1 of (a)").first == 6);
  CHECK(error_of("2 of sel*") == E{1,
                                   "only '1 of', 'any of' and 'all of' are supported, not "
                                   "'2 of'"});
  CHECK(error_of("all sel") == E{5, "expected 'of' after 'all'"});
  CHECK(error_of("a and of b") == E{7, "'of' must follow '1', 'any' or 'all'"});
  CHECK(error_of("them") == E{1, "'them' must follow '1 of' or 'all of'"});
  CHECK(error_of("sel", "") == E{1, "'sel' has no rule: write 'rule.sel' or give a default rule"});
  CHECK(error_of("1 of them", "") == E{6, "'them' needs a default rule; write 'rule.*' instead"});
  CHECK(error_of("a and .x") == E{7, "empty rule name in '.x'"});
  CHECK(error_of("a and r.") == E{9, "empty tag name in 'r.'"});
  CHECK(error_of("1 of r*.x") ==
        E{7, "wildcards are only allowed in the tag name, not in rule 'r*'"});
  CHECK(error_of("a", "x.y").first == 0);
}

TEST_CASE("a number alone is a tag name") {
  CHECK(eval("1 and 2", {{"r", {{"1", true}, {"2", true}}}}));
  CHECK(condition::parse("1", "r").to_string() == "r.1");
}

TEST_CASE("nesting and length are bounded") {
  std::string deep;
  for (int i = 0; i < 64; ++i) deep += '(';
  deep += 'a';
  for (int i = 0; i < 64; ++i) deep += ')';
  CHECK(eval(deep, {{"r", {{"a", true}}}}));
  CHECK(error_of("(" + deep + ")") ==
        std::pair<std::size_t, std::string>{65, "nesting deeper than 64 levels"});

  std::string nots;
  for (int i = 0; i < 65; ++i) nots += "not ";
  CHECK(error_of(nots + "a").second == "nesting deeper than 64 levels");
  CHECK(eval(condition::parse(nots + "a", "r", {.max_depth = 100}), {}));  // 65 nots of false

  // A hostile input far past the hard cap fails cleanly instead of overflowing the stack.
  const std::string hostile(200000, '(');
  CHECK(error_of(hostile).second == "condition is longer than 65536 bytes");
  CHECK(error_of(hostile, "r", {.max_depth = 1000000, .max_length = 1000000}).second ==
        "nesting deeper than 1000 levels");

  // Long flat chains are fine: they do not nest.
  std::string chain = "a";
  for (int i = 0; i < 5000; ++i) chain += " or a";
  CHECK(eval(chain, {{"r", {{"a", true}}}}));
  CHECK(error_of("a or b", "r", {.max_depth = 64, .max_length = 5}) ==
        std::pair<std::size_t, std::string>{6, "condition is longer than 5 bytes"});
}
