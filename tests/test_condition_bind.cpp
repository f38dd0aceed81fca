// Conditions bound to slots (condition::bind, bind_names, bound_condition): the
// same answers as condition::evaluate, errors, and witnesses for candidate gating.
#include <fluxcap/condition.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

using fluxcap::bound_condition;
using fluxcap::condition;
using fluxcap::condition_error;

namespace {

using slots = std::vector<std::uint32_t>;

/// Tags of several rules; slot i is tags[i]. Every tag is present on the event,
/// true when bit i of the assignment is set.
struct tag_table {
  std::vector<std::pair<std::string, std::string>> tags;  // rule, tag

  std::optional<std::uint32_t> resolve(std::string_view rule, std::string_view name) const {
    for (std::size_t i = 0; i < tags.size(); ++i)
      if (tags[i].first == rule && tags[i].second == name) return static_cast<std::uint32_t>(i);
    return std::nullopt;
  }
  slots select(std::string_view rule, std::string_view pattern) const {
    slots out;
    for (std::size_t i = 0; i < tags.size(); ++i)
      if (tags[i].first == rule && fluxcap::detail::pattern_selects(pattern, tags[i].second))
        out.push_back(static_cast<std::uint32_t>(i));
    return out;
  }

  /// condition::evaluate with name lookups over the same assignment.
  bool evaluate_by_name(const condition& c, std::uint32_t assignment) const {
    const auto lookup = [&](std::string_view rule, std::string_view name) {
      const auto slot = resolve(rule, name);
      return slot && (assignment >> *slot & 1U) != 0;
    };
    const auto for_each_tag = [&](std::string_view rule, auto&& fn) {
      for (std::size_t i = 0; i < tags.size(); ++i)
        if (tags[i].first == rule)
          fn(std::string_view(tags[i].second), (assignment >> i & 1U) != 0);
    };
    return c.evaluate(lookup, for_each_tag);
  }
};

bool evaluate_bits(const bound_condition& b, std::uint32_t assignment) {
  return b.evaluate([&](std::uint32_t slot) { return (assignment >> slot & 1U) != 0; });
}

const std::vector<std::string> sigma_names{"selection", "filter_git", "filter_ie",
                                           "filter",    "_hidden",    "selection_b"};

bound_condition bind_sigma(std::string_view text) {
  return condition::parse(text, "r").bind_names(sigma_names);
}

std::optional<slots> witness_unit_cost(std::string_view text) {
  return bind_sigma(text).witness([](std::uint32_t) { return 1; });
}

std::pair<std::size_t, std::string> bind_error(std::string_view text,
                                               const std::vector<std::string>& names) {
  const auto c = condition::parse(text, "r");
  try {
    (void)c.bind_names(names);
  } catch (const condition_error& e) {
    return {e.column(), e.message()};
  }
  FAIL("no error for: " << text);
  return {};
}

}  // namespace

TEST_CASE("bind_names: slots are indices into the names") {
  const auto b = bind_sigma("selection and not 1 of filter_*");
  // selection = slot 0; filter_* selects filter_git (1) and filter_ie (2), not filter.
  CHECK(b.slots() == slots{0, 1, 2});
  CHECK(evaluate_bits(b, 0b000001));
  CHECK_FALSE(evaluate_bits(b, 0b000011));
  CHECK_FALSE(evaluate_bits(b, 0b000101));
  CHECK(evaluate_bits(b, 0b001001));  // `filter` is not selected by filter_*
  CHECK_FALSE(evaluate_bits(b, 0b000000));
}

TEST_CASE("bind_names: them, '_' exclusion, empty selections") {
  CHECK(bind_sigma("1 of them").slots() == slots{0, 1, 2, 3, 5});  // not _hidden
  CHECK(bind_sigma("all of _*").slots() == slots{4});
  CHECK(evaluate_bits(bind_sigma("all of them"), 0b101111));
  CHECK_FALSE(evaluate_bits(bind_sigma("all of them"), 0b101110));
  CHECK(evaluate_bits(bind_sigma("all of them"), 0b011111) == false);
  // Over nothing: `1 of` and `all of` are false, their negation true.
  for (const auto* text : {"1 of nothing*", "all of nothing*"}) {
    const auto b = bind_sigma(text);
    CHECK(b.slots().empty());
    CHECK_FALSE(evaluate_bits(b, 0xff));
    CHECK(evaluate_bits(bind_sigma(std::string("not ") + text), 0));
  }
  CHECK(evaluate_bits(bind_sigma("selection or all of nothing*"), 1));
  CHECK_FALSE(evaluate_bits(bind_sigma("all of nothing* and selection"), 1));
}

TEST_CASE("bind_names: a pattern selects in index order, asking each slot once") {
  const auto b = bind_sigma("1 of filter*");
  std::vector<std::uint32_t> asked;
  CHECK_FALSE(b.evaluate([&](std::uint32_t slot) {
    asked.push_back(slot);
    return false;
  }));
  CHECK(asked == slots{1, 2, 3});
  asked.clear();
  CHECK(b.evaluate([&](std::uint32_t slot) {
    asked.push_back(slot);
    return slot == 2;
  }));
  CHECK(asked == slots{1, 2});  // stops at the first true one
}

TEST_CASE("bind_names: identifiers containing '.'") {
  const std::vector<std::string> names{"sel.a", "sel.b", "x", "r.y", "y"};
  const auto c = condition::parse("sel.a and not 1 of sel.b* and all of r.*y", "r");
  const auto b = c.bind_names(names);
  // sel.a -> "sel.a" (0); sel.b* -> "sel.b" (1); r.*y is the default rule's `*y`: r.y, y.
  CHECK(b.slots() == slots{0, 1, 3, 4});
  CHECK(evaluate_bits(b, 0b11001));
  CHECK_FALSE(evaluate_bits(b, 0b11011));
  CHECK_FALSE(evaluate_bits(b, 0b01001));
  // `them` (and `*`) is every identifier, dotted ones included.
  CHECK(condition::parse("1 of them", "r").bind_names(names).slots() == slots{0, 1, 2, 3, 4});
  // r.y with r the default rule: `y` (4) first; r.q only as the whole text.
  CHECK(condition::parse("r.y", "r").bind_names(names).slots() == slots{4});
  const std::vector<std::string> dotted{"r.q", "other"};
  CHECK(condition::parse("r.q", "r").bind_names(dotted).slots() == slots{0});
  CHECK(condition::parse("1 of r.q*", "r").bind_names(dotted).slots() == slots{0});
  // Without a default rule every reference is its whole text.
  CHECK(condition::parse("sel.a or sel.b").bind_names(names).slots() == slots{0, 1});
}

TEST_CASE("bind: unknown names fail at their column") {
  CHECK(bind_error("selection and not filtr", sigma_names) ==
        std::make_pair(std::size_t{19}, std::string("unknown name 'filtr'")));
  CHECK(bind_error("selection or (other.x and selection)", sigma_names) ==
        std::make_pair(std::size_t{15}, std::string("unknown name 'other.x'")));
  CHECK(bind_error("r.missing", sigma_names) ==
        std::make_pair(std::size_t{1}, std::string("unknown name 'missing'")));
  // A pattern that selects nothing is not an error: it is false.
  CHECK_NOTHROW((void)bind_sigma("1 of nothing*"));
  // A name is resolved once per occurrence; the message names the first unknown one.
  CHECK(bind_error("a or b", {"b"}).second == "unknown name 'a'");
}

TEST_CASE("bind: a custom resolver; selections asked once per distinct pattern") {
  struct counting {
    int selects = 0;
    std::optional<std::uint32_t> resolve(std::string_view rule, std::string_view name) {
      if (rule == "proc" && name == "shell") return 7;
      if (rule == "net" && name == "beacon") return 40;
      return std::nullopt;
    }
    std::vector<std::uint32_t> select(std::string_view rule, std::string_view pattern) {
      ++selects;
      if (rule == "net" && pattern == "dns_*") return {41, 42};
      return {};
    }
  } resolver;
  const auto c =
      condition::parse("proc.shell and (1 of net.dns_* or all of net.dns_*) and not net.beacon");
  const auto b = c.bind(resolver);
  CHECK(resolver.selects == 1);
  CHECK(b.slots() == slots{7, 40, 41, 42});
  const auto truth = [](std::initializer_list<std::uint32_t> on) {
    return [on](std::uint32_t slot) {
      for (const auto s : on)
        if (s == slot) return true;
      return false;
    };
  };
  CHECK(b.evaluate(truth({7, 42})));
  CHECK_FALSE(b.evaluate(truth({7, 42, 40})));
  CHECK_FALSE(b.evaluate(truth({41, 42})));
  // value may answer std::optional<bool>: empty is false.
  CHECK(b.evaluate([](std::uint32_t slot) -> std::optional<bool> {
    if (slot == 7 || slot == 41) return true;
    return std::nullopt;
  }));
}

TEST_CASE("a default-constructed bound condition is false") {
  const bound_condition b;
  CHECK_FALSE(b.evaluate([](std::uint32_t) { return true; }));
  CHECK(b.slots().empty());
  CHECK(b.witness([](std::uint32_t) { return 1; }) == slots{});
}

TEST_CASE("witness: rules") {
  // names: selection 0, filter_git 1, filter_ie 2, filter 3, _hidden 4, selection_b 5
  CHECK(witness_unit_cost("selection") == slots{0});
  CHECK(witness_unit_cost("not selection") == std::nullopt);
  CHECK(witness_unit_cost("not not selection") == slots{0});
  CHECK(witness_unit_cost("selection and not 1 of filter_*") == slots{0});
  CHECK(witness_unit_cost("selection or filter") == slots{0, 3});
  CHECK(witness_unit_cost("selection or not filter") == std::nullopt);
  CHECK(witness_unit_cost("1 of filter*") == slots{1, 2, 3});
  CHECK(witness_unit_cost("all of filter*").value().size() == 1);
  CHECK(witness_unit_cost("not (not selection and not filter)") == slots{0, 3});
  CHECK(witness_unit_cost("not (not selection or not filter)").value().size() == 1);
  CHECK(witness_unit_cost("not 1 of filter*") == std::nullopt);
  CHECK(witness_unit_cost("not all of filter*") == std::nullopt);
  // Never true: the empty set is a witness; its negation is always true: none.
  CHECK(witness_unit_cost("1 of nothing*") == slots{});
  CHECK(witness_unit_cost("all of nothing*") == slots{});
  CHECK(witness_unit_cost("not all of nothing*") == std::nullopt);
  CHECK(witness_unit_cost("selection and all of nothing*") == slots{});
  // and: the operand whose set costs least; a witness-less operand is skipped.
  CHECK(witness_unit_cost("1 of filter* and (selection or selection_b)") == slots{0, 5});
  CHECK(witness_unit_cost("not filter and 1 of filter_*") == slots{1, 2});
  CHECK(witness_unit_cost("(selection or filter) and (selection or filter_git)") == slots{0, 3});
  // Costs are summed over distinct slots: `selection or selection` costs 1, and the
  // first of equally cheap operands wins.
  CHECK(witness_unit_cost("(selection or selection) and filter_ie") == slots{0});
}

TEST_CASE("witness: costs choose") {
  const auto b = bind_sigma("(selection or selection_b) and all of filter*");
  // Cheap filters: all of filter* costs one slot, the cheapest one.
  CHECK(b.witness([](std::uint32_t slot) { return slot == 2 ? 0.5 : 3.0; }) == slots{2});
  // Expensive filters: the or's two slots are cheaper than any single filter.
  CHECK(b.witness([](std::uint32_t slot) { return slot >= 1 && slot <= 3 ? 100 : 1; }) ==
        slots{0, 5});
}

namespace {

// A random condition over `table` (rules r and q), as text.
struct condition_generator {
  std::mt19937& rng;
  const tag_table& table;

  std::size_t pick(std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
  }

  std::string leaf() {
    static const char* const patterns[] = {"a*", "*1",  "_*",   "*",    "b*",  "zz*",
                                           "ab", "q.*", "q.a*", "q._*", "*b*", "them"};
    switch (pick(3)) {
      case 0:
      case 1: {
        const auto& [rule, tag] = table.tags[pick(table.tags.size())];
        return rule == "r" && pick(2) == 0 ? tag : rule + "." + tag;
      }
      default:
        return std::string(pick(2) == 0 ? "1 of " : "all of ") +
               patterns[pick(std::size(patterns))];
    }
  }

  std::string expression(int depth) {
    const auto kind = depth <= 0 ? 0 : pick(5);
    switch (kind) {
      case 0:
      case 1:
        return leaf();
      case 2:
        return "not " + expression(depth - 1);
      default: {
        const char* op = kind == 3 ? " and " : " or ";
        std::string out = "(" + expression(depth - 1);
        const auto operands = 1 + pick(3);
        for (std::size_t k = 0; k < operands; ++k) out += op + expression(depth - 1);
        return out + ")";
      }
    }
  }
};

}  // namespace

TEST_CASE("property: bound evaluation equals evaluate; a true condition has a true witness slot") {
  const tag_table table{{{"r", "a1"},
                         {"r", "a2"},
                         {"r", "b1"},
                         {"r", "_c"},
                         {"r", "ab"},
                         {"q", "a1"},
                         {"q", "b"},
                         {"q", "_x"}}};
  std::mt19937 rng(12345);
  condition_generator gen{rng, table};
  std::size_t with_witness = 0, conditions = 0;
  for (int round = 0; round < 3000; ++round) {
    const std::string text = gen.expression(1 + round % 5);
    const auto c = condition::parse(text, "r");
    const auto b = c.bind(table);
    const auto costs = [&](std::uint32_t slot) {
      return (slot * 7 + static_cast<std::uint32_t>(round)) % 5;
    };
    const auto witness = b.witness(costs);
    ++conditions;
    if (witness) ++with_witness;
    for (std::uint32_t assignment = 0; assignment < 256; ++assignment) {
      const bool expected = table.evaluate_by_name(c, assignment);
      const bool bound = evaluate_bits(b, assignment);
      if (bound != expected) FAIL_CHECK(text << " assignment " << assignment);
      if (bound && witness) {
        bool some = false;
        for (const auto s : *witness) some = some || (assignment >> s & 1U) != 0;
        if (!some) FAIL_CHECK("witness misses: " << text << " assignment " << assignment);
      }
    }
  }
  // Not vacuous: most random conditions have a witness, some do not.
  CHECK(with_witness > conditions / 4);
  CHECK(with_witness < conditions);
}

TEST_CASE("property: bind_names equals evaluate over dot-free names") {
  const tag_table table{{{"r", "selection"},
                         {"r", "filter_a"},
                         {"r", "filter_b"},
                         {"r", "_x"},
                         {"r", "a1"},
                         {"r", "ab"},
                         {"r", "b1"},
                         {"r", "filter"}}};
  std::vector<std::string> names;
  for (const auto& [rule, tag] : table.tags) names.push_back(tag);
  std::mt19937 rng(777);
  const std::vector<std::string> leaves{"selection",       "filter",    "a1",        "1 of filter*",
                                        "all of filter_*", "1 of them", "all of *1", "1 of _*",
                                        "all of a*",       "1 of zz*"};
  for (int round = 0; round < 500; ++round) {
    std::string text;
    const auto n = 1 + rng() % 4;
    for (std::uint32_t k = 0; k < n; ++k) {
      if (k != 0) text += rng() % 2 ? " and " : " or ";
      if (rng() % 3 == 0) text += "not ";
      text += leaves[rng() % leaves.size()];
    }
    const auto c = condition::parse(text, "r");
    const auto b = c.bind_names(names);
    for (std::uint32_t assignment = 0; assignment < 256; ++assignment)
      if (evaluate_bits(b, assignment) != table.evaluate_by_name(c, assignment))
        FAIL_CHECK(text << " assignment " << assignment);
  }
}

TEST_CASE("bound conditions are deep-safe: evaluation does not recurse") {
  // 60 nested negations and parentheses (under the default depth limit of 64).
  std::string text;
  for (int k = 0; k < 30; ++k) text += "not (";
  text += "selection";
  for (int k = 0; k < 30; ++k) text += ")";
  const auto b = bind_sigma(text);
  CHECK(evaluate_bits(b, 1));
  CHECK(b.witness([](std::uint32_t) { return 1; }) == slots{0});
  // A long flat disjunction: one step per operand.
  std::string wide = "selection";
  for (int k = 0; k < 5000; ++k) wide += " or filter";
  CHECK(evaluate_bits(bind_sigma(wide), 0b1000));
  CHECK(bind_sigma(wide).witness([](std::uint32_t) { return 1; }) == slots{0, 3});
}
