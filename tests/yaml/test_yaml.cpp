// The YAML/JSON spec reader (fluxcap/yaml.hpp): the seeds' examples parse to the
// expected specs, and every error names file:line:col and the problem.
//
// data/seed000_*.yaml are the YAML blocks of seed 000, verbatim.
// data/seed002_example*.json are the five JSON examples of seed 002, with the one
// fix they need to be JSON at all: the ',' missing after "rule_name" (the trailing
// commas they also have are valid YAML flow syntax, so they are kept).
#include <fluxcap/yaml.hpp>

#include <doctest/doctest.h>

#include "yaml_tree_equal.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

using namespace fluxcap;
using fluxcap::yaml::parse_spec_file;
using fluxcap::yaml::parse_spec_string;

namespace {

std::string data(const std::string& name) {
  return std::string(FLUXCAP_YAML_TEST_DATA) + "/" + name;
}

// Compares what a spec says, not where it was written.
void check_same(const spec& got, const spec& want) {
  REQUIRE(got.rules.size() == want.rules.size());
  for (std::size_t i = 0; i < want.rules.size(); ++i) {
    const auto& g = got.rules[i];
    const auto& w = want.rules[i];
    CAPTURE(w.name);
    CHECK(g.name == w.name);
    CHECK(g.description == w.description);
    CHECK(g.act == w.act);
    CHECK(g.ordered == w.ordered);
    CHECK(g.groupby == w.groupby);
    CHECK(g.parent == w.parent);
    CHECK(g.child == w.child);
    CHECK(g.exclusive == w.exclusive);
    REQUIRE(g.tags.size() == w.tags.size());
    for (std::size_t t = 0; t < w.tags.size(); ++t) {
      CAPTURE(w.tags[t].name);
      CHECK(g.tags[t].name == w.tags[t].name);
      CHECK(g.tags[t].prefix_get == w.tags[t].prefix_get);
      CHECK(g.tags[t].prefix_put == w.tags[t].prefix_put);
      CHECK(g.tags[t].put_condition == w.tags[t].put_condition);
    }
  }
}

// The message of the spec_error that parsing `text` as `file` under `limits` raises.
std::string error_of(const std::string& text, const std::string& file = "spec.yaml",
                     const yaml::spec_limits& limits = {}) {
  try {
    (void)parse_spec_string(text, file, limits);
  } catch (const spec_error& e) {
    return e.what();
  }
  FAIL("no error for:\n" << text);
  return {};
}

const std::vector<tag_spec> recon_abc{"recon_cmd_a", "recon_cmd_b", "recon_cmd_c"};

}  // namespace

TEST_CASE("seed 000: the five rule examples") {
  const std::string rule6_description =
      "ordered list of events by host and for particular context key for example the a regex "
      "applied to a file path could capture a folder name and store that value under "
      "captured_folder_colname The flux capacitor will propagate the tags seen for folder XYZ to "
      "all subsequent rows which have a captured_folder_colname of XYZ\n";
  check_same(parse_spec_file(data("seed000_rule6.yaml")).spec,
             spec{temporal_rule("rule6", recon_abc)
                      .with_description(rule6_description)
                      .with_ordered(true)
                      .with_groupby({"captured_folder_colname"})});
  check_same(parse_spec_file(data("seed000_rule3.yaml")).spec,
             spec{ancestor_rule("rule3", "parent_id", "id", {"ancestor_process_feature1"})
                      .with_description("propagate to all decendents")});
  check_same(parse_spec_file(data("seed000_rule4.yaml")).spec,
             spec{parent_rule("rule4", "parent_id", "id", {"parent_process_feature1"})
                      .with_description("propagate to child only")});
  check_same(parse_spec_file(data("seed000_rule1.yaml")).spec,
             spec{temporal_rule("rule1", recon_abc)
                      .with_description("ordered list of events by host")
                      .with_ordered(true)});
  check_same(parse_spec_file(data("seed000_rule5.yaml")).spec,
             spec{temporal_rule("rule5", recon_abc)
                      .with_description("un-ordered set of events by host")
                      .with_ordered(false)});
}

TEST_CASE("seed 000: the spec passed to flux_capacitor from Python") {
  const auto doc = parse_spec_file(data("seed000_flux_update_spec.yaml"));
  check_same(doc.spec, spec{parent_rule("rule4", "parent_id", "id", {"parent_process_feature1"})
                                .with_description("propagate to child only"),
                            temporal_rule("rule5", recon_abc)
                                .with_description("un-ordered set of events by host")
                                .with_ordered(false)});
  CHECK(doc.conditions.empty());
}

TEST_CASE("seed 002: the five low-level JSON examples") {
  const std::string folder = "captured_folder_colname";
  check_same(
      parse_spec_file(data("seed002_example1.json")).spec,
      spec{low_level_rule("rule1", {tag_update("recon_cmd_a", folder, folder),
                                    tag_update("recon_cmd_b", folder, folder, "recon_cmd_a"),
                                    tag_update("recon_cmd_c", folder, folder, "recon_cmd_b")})});
  check_same(parse_spec_file(data("seed002_example2.json")).spec,
             spec{low_level_rule("rule2", {tag_update("recon_cmd_a", folder, folder),
                                           tag_update("recon_cmd_b", folder, folder)})});
  check_same(parse_spec_file(data("seed002_example3.json")).spec,
             spec{low_level_rule("rule3", {tag_update("selection_parent", "parent_process_id",
                                                      "process_id", "selection_parent")})});
  check_same(parse_spec_file(data("seed002_example4.json")).spec,
             spec{low_level_rule(
                 "rule4", {tag_update("selection_parent", "parent_process_id", "process_id")})});
  check_same(parse_spec_file(data("seed002_example5.json")).spec,
             spec{low_level_rule("rule5", {"recon_cmd_a", "recon_cmd_b", "recon_cmd_c"})});
}

TEST_CASE("seed 002 as printed (missing ',') is a syntax error at the right place") {
  CHECK(error_of(R"({
    "rule_name": "rule1"
    "tags": [ { "name": "recon_cmd_a" } ]
})",
                 "spec.json") ==
        "spec.json:3:5: YAML syntax error: did not find expected ',' or '}' while parsing a flow "
        "mapping that starts at line 1, column 1 (a missing ',' or closing bracket before this?)");
}

TEST_CASE("low-level rules: list form, rules: form, YAML form, mixed with high-level") {
  const spec want{low_level_rule("r1", {tag_update("a", "f", "f"), tag_update("b", "f", "f", "a")}),
                  low_level_rule("r2", {"x"})};
  check_same(parse_spec_string(R"([
  {"rule_name": "r1", "tags": [{"name": "a", "prefix_get": "f", "prefix_put": "f"},
                               {"name": "b", "prefix_get": "f", "prefix_put": "f",
                                "put_condition": "a"}]},
  {"rule_name": "r2", "tags": [{"name": "x"}]}
])")
                 .spec,
             want);
  check_same(parse_spec_string(R"(
rules:
  - rule_name: r1
    tags:
      - {name: a, prefix_get: f, prefix_put: f}
      - name: b
        prefix_get: f
        prefix_put: f
        put_condition: a
  - rule_name: r2
    tags: [x]
)")
                 .spec,
             want);
  check_same(
      parse_spec_string(R"(
- rulename: t
  action: temporal
  groupby: folder
  tags: [a, {name: b}]
- rule_name: r2
  tags: [x]
)")
          .spec,
      spec{temporal_rule("t", {"a", "b"}).with_groupby({"folder"}), low_level_rule("r2", {"x"})});
  // `rule_name` may also name a high-level rule.
  check_same(
      parse_spec_string("rule_name: p\naction: parent\nparent: pid\nchild: id\ntags: [f]").spec,
      spec{parent_rule("p", "pid", "id", {"f"})});
}

TEST_CASE("source locations are filled in") {
  const auto doc = parse_spec_string(R"(rules:
  - rulename: rule1
    action: temporal
    ordered: true
    groupby: [folder]
    tags:
      - name: a
      - b
  - rule_name: low
    tags:
      - {name: x, put_condition: x}
)",
                                     "s.yaml");
  const auto& r = doc.spec.rules[0];
  CHECK(doc.spec.where.to_string() == "s.yaml:2:3");
  CHECK(r.where.rule.to_string() == "s.yaml:2:5");
  CHECK(r.where.name.to_string() == "s.yaml:2:15");
  CHECK(r.where.action.to_string() == "s.yaml:3:13");
  CHECK(r.where.ordered.to_string() == "s.yaml:4:14");
  CHECK(r.where.groupby.to_string() == "s.yaml:5:14");
  CHECK(r.where.tags.to_string() == "s.yaml:7:7");
  CHECK(r.tags[0].where.to_string() == "s.yaml:7:9");
  CHECK(r.tags[1].where.to_string() == "s.yaml:8:9");
  const auto& low = doc.spec.rules[1];
  CHECK(low.tags[0].where.to_string() == "s.yaml:11:9");
  CHECK(low.tags[0].put_condition_where.to_string() == "s.yaml:11:34");
}

TEST_CASE("conditions beside the rules") {
  const auto doc = parse_spec_string(R"(rules:
  - rulename: rule1
    action: temporal
    tags: [selection]
conditions:
  rule1: selection and not 1 of filter*
  detect2:
    rule: rule1
    condition: "1 of selection_*"
)",
                                     "s.yaml");
  REQUIRE(doc.conditions.size() == 2);
  CHECK(doc.conditions[0].name == "rule1");
  CHECK(doc.conditions[0].rule.empty());
  CHECK(doc.conditions[0].text == "selection and not 1 of filter*");
  CHECK(doc.conditions[0].where.to_string() == "s.yaml:6:10");
  CHECK(doc.conditions[1].name == "detect2");
  CHECK(doc.conditions[1].rule == "rule1");
  CHECK(doc.conditions[1].text == "1 of selection_*");
  CHECK(doc.conditions[1].where.to_string() == "s.yaml:9:16");
  // The texts are meant for fluxcap::condition.
  CHECK(condition::parse(doc.conditions[1].text, doc.conditions[1].rule).to_string() ==
        "1 of rule1.selection_*");
}

TEST_CASE("semantic errors from compile() point into the file") {
  CHECK(error_of(R"(rules:
  - rulename: rule1
    action: temporal
    tags: [a]

  - rulename: rule4
    action: parent
    child: id
    tags:
      - name: parent_process_feature1
)") == "spec.yaml:7:13: rule 'rule4': action 'parent' needs a 'parent' column");
  CHECK(error_of("rules:\n  - {rulename: r, action: temporal, tags: [a]}\n"
                 "  - {rulename: r, action: temporal, tags: [b]}\n") ==
        "spec.yaml:3:5: rule 'r': duplicate rule name (first defined at spec.yaml:2:5)");
  CHECK(error_of("rulename: r\naction: temporal\ntags: [a, b, a]\n") ==
        "spec.yaml:3:14: rule 'r': tag 'a': duplicate tag name (first defined at spec.yaml:3:8)");
  CHECK(error_of("rulename: r\naction: temporal\ntags: []\n") ==
        "spec.yaml:3:7: rule 'r': needs at least one tag");
  CHECK(error_of("rules: []\n") == "spec.yaml:1:8: the spec has no rules");
  CHECK(error_of(R"(rule_name: r
tags:
  - name: a
  - name: b
    put_condition: c
)") == "spec.yaml:5:20: rule 'r': tag 'b': put_condition 'c' names no tag of this rule");
  CHECK(error_of(R"(rule_name: r
tags:
  - {name: a, put_condition: b}
  - {name: b, put_condition: a}
)") == "spec.yaml:3:30: rule 'r': tag 'a': put conditions form a cycle: a -> b -> a");
  CHECK(error_of(R"(rulename: r
action: temporal
tags:
  - name: a
    prefix_get: x
)") == "spec.yaml:4:5: rule 'r': tag 'a': 'prefix_get'/'prefix_put' belong to the low-level "
       "form; a rule with an action derives its keys");
  CHECK(error_of("rulename: r\naction: parent\nparent: p\nchild: c\nordered: true\ntags: [a]\n") ==
        "spec.yaml:5:10: rule 'r': 'ordered' is only valid for temporal rules, not 'parent'");
  CHECK(error_of("rule_name: r\ngroupby: [x]\ntags: [a]\n") ==
        "spec.yaml:2:10: rule 'r': 'groupby' needs an 'action' (low-level rules give keys per "
        "tag)");
  CHECK(error_of("rulename: r\naction: parent\nparent: ''\nchild: c\ntags: [a]\n") ==
        "spec.yaml:3:9: rule 'r': 'parent' names an empty column");
}

TEST_CASE("structural errors: keys") {
  CHECK(error_of("rules:\n  - rulename: rule4\n    acton: parent\n    tags: [a]\n") ==
        "spec.yaml:3:5: rule 'rule4': unknown key 'acton' in a rule (did you mean 'action'?)");
  CHECK(error_of("rulename: r\naction: temporal\ntags: [a]\ncolor: red\n") ==
        "spec.yaml:4:1: rule 'r': unknown key 'color' in a rule");
  CHECK(error_of("rulename: r\naction: temporal\ntags:\n  - {name: a, prefx_get: x}\n") ==
        "spec.yaml:4:15: rule 'r': tag 'a': unknown key 'prefx_get' in a tag (did you mean "
        "'prefix_get'?)");
  CHECK(error_of("rulename: r\naction: temporal\naction: parent\ntags: [a]\n") ==
        "spec.yaml:3:1: duplicate key 'action' (first at spec.yaml:2:1)");
  CHECK(
      error_of("rule: []\n") ==
      "spec.yaml:1:1: unknown top-level key 'rule'; expected 'rules', 'conditions' or 'timestamp' "
      "(did you mean 'rules'?)");
  CHECK(error_of("rules:\n  - {rulename: r, action: temporal, tags: [a]}\ntags: [b]\n") ==
        "spec.yaml:3:1: 'tags' belongs to a rule; list rules under 'rules:'");
  CHECK(error_of("rules:\n  - action: temporal\n    tags: [a]\n") ==
        "spec.yaml:2:5: a rule needs a 'rulename' (or 'rule_name' in the low-level form)");
  CHECK(error_of("rules:\n  - rulname: r\n    tags: [a]\n") ==
        "spec.yaml:2:5: a rule needs a 'rulename' (or 'rule_name' in the low-level form) (did "
        "you mean 'rulename'?)");
  CHECK(error_of("rulename: r\nrule_name: r\ntags: [a]\n") ==
        "spec.yaml:2:1: give either 'rulename' or 'rule_name', not both");
  CHECK(error_of("rules:\n  - rulename: r\n    tags: [a]\n") ==
        "spec.yaml:2:5: rule 'r': missing 'action' (temporal, parent or ancestor); a rule "
        "without an action is a low-level rule, named with 'rule_name'");
  CHECK(error_of("rulename: r\naction: temporal\n") ==
        "spec.yaml:1:1: rule 'r': a rule needs 'tags'");
  CHECK(error_of("rulename: r\naction: temporal\ntags:\n  - {prefix_get: x}\n") ==
        "spec.yaml:4:5: rule 'r': a tag needs a 'name'");
  CHECK(error_of("{? [a]: b}\n") == "spec.yaml:1:4: a key must be a name, not a list");
}

TEST_CASE("structural errors: types and values") {
  CHECK(error_of("rulename: r\naction: parnet\ntags: [a]\n") ==
        "spec.yaml:2:9: rule 'r': unknown action 'parnet'; expected temporal, parent or ancestor "
        "(did you mean 'parent'?)");
  CHECK(error_of("rulename: r\naction: [temporal]\ntags: [a]\n") ==
        "spec.yaml:2:9: rule 'r': 'action' must be a string, not a list");
  CHECK(error_of("rulename: r\naction: temporal\nordered: maybe\ntags: [a]\n") ==
        "spec.yaml:3:10: rule 'r': 'ordered' must be true or false, not 'maybe'");
  CHECK(error_of("rulename: r\naction: temporal\nordered: \"true\"\ntags: [a]\n") ==
        "spec.yaml:3:10: rule 'r': 'ordered' must be true or false, not 'true'");
  CHECK(error_of("rulename: r\naction: temporal\nordered:\ntags: [a]\n") ==
        "spec.yaml:3:1: rule 'r': 'ordered' must be true or false, not nothing");
  CHECK(error_of("rulename: r\naction: parent\nparent: [a, b]\nchild: c\ntags: [a]\n") ==
        "spec.yaml:3:9: rule 'r': 'parent' must be a string, not a list");
  CHECK(error_of("rulename: r\naction: parent\nparent:\nchild: c\ntags: [a]\n") ==
        "spec.yaml:3:1: rule 'r': 'parent' needs a value");
  CHECK(error_of("rulename: r\naction: temporal\ngroupby: {a: b}\ntags: [a]\n") ==
        "spec.yaml:3:10: rule 'r': 'groupby' must be a column or a list of columns, not a "
        "mapping");
  CHECK(error_of("rulename: r\naction: temporal\ngroupby: [a, [b]]\ntags: [a]\n") ==
        "spec.yaml:3:14: rule 'r': 'groupby' entries must be column names, not a list");
  CHECK(error_of("rulename: r\naction: temporal\ntags: a\n") ==
        "spec.yaml:3:7: rule 'r': 'tags' must be a list of tags, not 'a'");
  CHECK(error_of("rulename: r\naction: temporal\ntags: [[a]]\n") ==
        "spec.yaml:3:8: rule 'r': a tag must be a name or a mapping with 'name', not a list");
  CHECK(error_of("rules:\n  rulename: r\n") ==
        "spec.yaml:2:3: 'rules' must be a list of rules, not a mapping");
  CHECK(error_of("rules:\n  - r\n") ==
        "spec.yaml:2:5: each rule must be a mapping with 'rulename', 'tags', ...; found 'r'");
  CHECK(error_of("just a string\n") ==
        "spec.yaml:1:1: expected a mapping with 'rules:', a rule, or a list of rules; found 'just "
        "a string'");
}

TEST_CASE("structural errors: documents and YAML syntax") {
  CHECK(error_of("") == "spec.yaml: the spec is empty");
  CHECK_THROWS_WITH(parse_spec_string(std::string_view{}), "<spec>: the spec is empty");
  CHECK(error_of("# only a comment\n") == "spec.yaml: the spec is empty");
  CHECK(error_of("rule_name: a\ntags: [x]\n---\nrule_name: b\ntags: [y]\n") ==
        "spec.yaml:3:1: a spec holds one YAML document; a second one starts here");
  // Text after a flow collection (yaml-cpp 0.7's LoadAll looped forever on this).
  CHECK(error_of("{a: b},\n ; ]\n}") ==
        "spec.yaml:1:7: YAML syntax error: did not find expected <document start>");
  CHECK(error_of("rules: [\n  {rulename: r}\n") ==
        "spec.yaml:3:1: YAML syntax error: did not find expected ',' or ']' while parsing a flow "
        "sequence that starts at line 1, column 8 (a missing ',' or closing bracket before "
        "this?)");
  CHECK(error_of("rulename: r\n  action: temporal\n") ==
        "spec.yaml:2:9: YAML syntax error: mapping values are not allowed in this context");
  const std::string deep(5000, '[');
  CHECK(error_of(deep).rfind("spec.yaml:1:", 0) == 0);
}

TEST_CASE("condition errors point into the file") {
  const std::string rules = "rules:\n  - {rulename: r, action: temporal, tags: [a]}\n";
  CHECK(error_of(rules + "conditions:\n  r: a and (b or c\n") ==
        "spec.yaml:4:19: condition 'r': missing ')' to close '(' at column 7, found end of "
        "condition");
  CHECK(error_of(rules + "conditions:\n  r: \"a and or b\"\n") ==
        "spec.yaml:4:13: condition 'r': expected a tag name, '(', 'not', '1 of' or 'all of' after "
        "'and', found 'or'");
  CHECK(error_of(rules + "conditions:\n  d:\n    rule: r\n    condition: 'a b'\n") ==
        "spec.yaml:6:19: condition 'd': expected 'and', 'or' or end of condition, found 'b'");
  // A block scalar (here "a and\n"): the position is the scalar's, the column the condition's.
  CHECK(error_of(rules + "conditions:\n  r: >\n    a and\n") ==
        "spec.yaml:4:6: condition 'r': expected a tag name, '(', 'not', '1 of' or 'all of' after "
        "'and', found end of condition (at column 7 of the condition)");
  CHECK(error_of(rules + "conditions:\n  r: [a]\n") ==
        "spec.yaml:4:6: condition 'r' must be a condition string, not a list");
  CHECK(error_of(rules + "conditions:\n  r:\n") ==
        "spec.yaml:4:3: condition 'r' needs a condition text");
  CHECK(error_of(rules + "conditions:\n  d: {rul: r, condition: a}\n") ==
        "spec.yaml:4:7: condition 'd': unknown key 'rul'; expected 'rule' and 'condition' (did you "
        "mean 'rule'?)");
  CHECK(error_of(rules + "conditions:\n  d: {rule: r}\n") ==
        "spec.yaml:4:6: condition 'd' needs a 'condition'");
  CHECK(error_of(rules + "conditions: [a]\n") ==
        "spec.yaml:3:13: 'conditions' must map detection names to conditions, not a list");
  CHECK(error_of(rules + "conditions:\n  r: a\n  r: b\n") ==
        "spec.yaml:5:3: duplicate key 'r' (first at spec.yaml:4:3)");
}

TEST_CASE("unreadable file") {
  CHECK_THROWS_WITH_AS(
      (void)parse_spec_file(data("no-such-file.yaml")),
      (data("no-such-file.yaml") + ": cannot open the spec file: No such file or directory")
          .c_str(),
      spec_error);
}

TEST_CASE("spec limits: rules, tags, conditions, condition depth, size, YAML depth") {
  yaml::spec_limits limits;
  limits.max_rules = 2;
  limits.max_tags_per_rule = 3;
  limits.max_conditions = 1;
  limits.condition.max_depth = 2;
  limits.max_bytes = 400;
  auto error_with_limits = [&](const std::string& text) {
    return error_of(text, "spec.yaml", limits);
  };
  const std::string rule = "  - {rulename: r1, action: temporal, tags: [a, b, c]}\n";
  CHECK_NOTHROW((void)parse_spec_string("rules:\n" + rule +
                                            "  - {rulename: r2, action: temporal, tags: [a]}\n" +
                                            "conditions:\n  d: (a and (b))\n",
                                        "spec.yaml", limits));
  CHECK(error_with_limits("rules:\n" + rule + "  - {rulename: r2, action: temporal, tags: [a]}\n" +
                          "  - {rulename: r3, action: temporal, tags: [a]}\n") ==
        "spec.yaml:4:5: more than 2 rules (limit)");
  CHECK(error_with_limits("rules:\n  - {rulename: r1, action: temporal, tags: [a, b, c, d]}\n") ==
        "spec.yaml:2:54: rule 'r1': more than 3 tags in one rule (limit)");
  CHECK(error_with_limits("rules:\n" + rule + "conditions:\n  d: a\n  e: b\n") ==
        "spec.yaml:5:3: more than 1 conditions (limit)");
  CHECK(error_with_limits("rules:\n" + rule + "conditions:\n  r1: not (not (a))\n") ==
        "spec.yaml:4:12: condition 'r1': nesting deeper than 2 levels");
  CHECK(error_with_limits("rules:\n" + rule + "# " + std::string(400, 'x') + "\n") ==
        "spec.yaml: the spec is larger than 400 bytes (limit)");

  // The defaults: a condition nested 65 levels deep is refused, 64 is fine.
  const std::string spec = "rules:\n" + rule + "conditions:\n  r1: ";
  auto nested = [](std::size_t depth) {
    return std::string(depth, '(') + "a" + std::string(depth, ')') + "\n";
  };
  CHECK_NOTHROW((void)parse_spec_string(spec + nested(64)));
  CHECK(error_of(spec + nested(65)) ==
        "spec.yaml:4:71: condition 'r1': nesting deeper than 64 levels");
  // YAML nested far deeper than yaml-cpp's guard is a syntax error, not a stack overflow.
  CHECK(error_of(std::string(100000, '[') + std::string(100000, ']')).find("YAML syntax error") !=
        std::string::npos);
}

TEST_CASE("spec limits: a spec file is read only up to its limit") {
  yaml::spec_limits limits;
  limits.max_bytes = 1000;
  // /dev/zero never ends: reading it whole would exhaust memory.
  CHECK_THROWS_WITH_AS((void)parse_spec_file("/dev/zero", limits),
                       "/dev/zero: the spec is larger than 1000 bytes (limit)", spec_error);
}

TEST_CASE("timespan and timestamp (semantics section 6)") {
  const auto doc = parse_spec_string(R"(timestamp: "@timestamp"
rules:
  - rulename: recon
    action: temporal
    ordered: true
    timespan: 5m
    tags: [a, b]
  - rulename: lineage
    action: ancestor
    parent: ppid
    child: pid
    tags: [office]
)");
  REQUIRE(doc.spec.rules.size() == 2);
  CHECK(doc.spec.timestamp == "@timestamp");
  CHECK(doc.spec.timestamp_where.line == 1);
  CHECK(doc.spec.rules[0].timespan == std::chrono::minutes(5));
  CHECK(doc.spec.rules[0].where.timespan.line == 6);
  CHECK_FALSE(doc.spec.rules[1].timespan);
  const auto prog = fluxcap::compile(doc.spec);
  CHECK(prog.rules[0].timespan == std::chrono::minutes(5));
  CHECK(prog.timestamp_column == "@timestamp");

  CHECK(error_of("rules:\n  - {rulename: r, action: temporal, timespan: 5m, tags: [a]}\n") ==
        "spec.yaml:2:47: rule 'r': 'timespan' needs the spec's 'timestamp' column (the "
        "events' time)");
  CHECK(error_of("timestamp: ts\nrules:\n  - {rulename: r, action: temporal, timespan: 5, "
                 "tags: [a]}\n") ==
        "spec.yaml:3:47: rule 'r': 'timespan' must be a positive number and a unit (ms, s, m, "
        "h or d), like '5m'; found '5'");
  CHECK(error_of("timestamp: ts\nrules:\n  - {rulename: r, action: temporal, timespan: 0s, "
                 "tags: [a]}\n") ==
        "spec.yaml:3:47: rule 'r': 'timespan' must be a positive number and a unit (ms, s, m, "
        "h or d), like '5m'; found '0s'");
  CHECK(error_of("timestamp: [ts]\nrules:\n  - {rulename: r, action: temporal, tags: [a]}\n") ==
        "spec.yaml:1:12: 'timestamp' must be a string, not a list");
  CHECK(error_of("timestamp: ''\nrules:\n  - {rulename: r, action: temporal, tags: [a]}\n") ==
        "spec.yaml:1:12: 'timestamp' names an empty column");
  CHECK(error_of("timespan: 5m\nrules:\n  - {rulename: r, action: temporal, tags: [a]}\n") ==
        "spec.yaml:1:1: 'timespan' belongs to a rule; list rules under 'rules:'");
  CHECK(error_of("timestmp: ts\nrules:\n  - {rulename: r, action: temporal, tags: [a]}\n") ==
        "spec.yaml:1:1: unknown top-level key 'timestmp'; expected 'rules', 'conditions' or "
        "'timestamp' (did you mean 'timestamp'?)");
}

TEST_CASE("spec limits: aliases are counted expanded (alias bombs), before any tree is built") {
  // One rule of 1000 tags of 100 bytes, then 9999 aliases of it: 150 KB of text, 1 GB of
  // tag names once expanded. Refused at the alias that passes the limit.
  std::string bomb = "rules:\n  - &r\n    rulename: r\n    action: temporal\n    tags:\n";
  for (int i = 0; i < 1000; ++i) {
    const std::string n = std::to_string(10000 + i);
    bomb += "      - " + std::string(95, 't') + n + "\n";
  }
  for (int i = 0; i < 9999; ++i) bomb += "  - *r\n";
  CHECK(error_of(bomb) ==
        "spec.yaml:1172:5: the spec holds more than 16777216 bytes of text with aliases "
        "expanded (limit)");

  // Billion laughs: ten levels of ten aliases. The node count stops it at the level that
  // passes the limit, long before any of it is expanded.
  std::string laughs = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int i = 1; i < 10; ++i) {
    laughs += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) laughs += (j ? ", *a" : "*a") + std::to_string(i - 1);
    laughs += "]\n";
  }
  CHECK(error_of(laughs) ==
        "spec.yaml:6:25: the spec has more than 500000 YAML nodes with aliases expanded (limit)");

  yaml::spec_limits limits;
  limits.max_nodes = 20;
  limits.max_expanded_bytes = 50;
  auto error_with_limits = [&](const std::string& text) {
    return error_of(text, "spec.yaml", limits);
  };
  // 1 map, 'rules', 1 list, 1 rule map of 3 keys and 2 values, a list of 2 tags: 12
  // nodes, 36 bytes of text.
  const std::string rule = "rules:\n  - &r {rulename: r, action: temporal, tags: [ab, cd]}\n";
  CHECK_NOTHROW((void)parse_spec_string(rule, "spec.yaml", limits));
  // An alias of the rule adds its 9 nodes (the rule is then a duplicate, never reached).
  CHECK(error_with_limits(rule + "  - *r\n") ==
        "spec.yaml:3:5: the spec has more than 20 YAML nodes with aliases expanded (limit)");
  // An alias of a 10-byte scalar adds 10 bytes each time it is used: 42, then 52.
  CHECK(error_with_limits(
            "rules:\n  - {rulename: r, action: temporal, tags: [&t abcdefghij, *t]}\n") ==
        "spec.yaml:2:59: the spec holds more than 50 bytes of text with aliases expanded "
        "(limit)");
  // Without aliases, the node count bounds yaml-cpp's tree too.
  CHECK(
      error_with_limits("rules: [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q, r, s, t]\n") ==
      "spec.yaml:1:60: the spec has more than 20 YAML nodes with aliases expanded (limit)");
  // A cycle (an alias inside its own anchor) is refused by its shape, not looped over.
  CHECK(error_of("rules: &l [*l]\n") ==
        "spec.yaml:1:8: each rule must be a mapping with 'rulename', 'tags', ...; found a list");
  // Aliases in moderation are fine.
  const auto doc = parse_spec_string(
      "rules:\n  - {rulename: r1, action: temporal, tags: &tags [a, b]}\n"
      "  - {rulename: r2, action: temporal, tags: *tags}\n");
  CHECK(doc.spec.rules.size() == 2);
  CHECK(doc.spec.rules[1].tags.size() == 2);
}

TEST_CASE("messages: a timespan too large says so; long names are cut at 200 bytes") {
  CHECK(error_of("timestamp: ts\nrules:\n  - {rulename: r, action: temporal, timespan: "
                 "99999999999999999999d, tags: [a]}\n") ==
        "spec.yaml:3:47: rule 'r': 'timespan' '99999999999999999999d' is too large (at most "
        "9000000000000000000 ms, about 285 million years)");
  CHECK(error_of("timestamp: ts\nrules:\n  - {rulename: r, action: temporal, timespan: "
                 "106751992214d, tags: [a]}\n")
            .find("is too large") != std::string::npos);
  CHECK_NOTHROW((void)parse_spec_string(
      "timestamp: ts\nrules:\n  - {rulename: r, action: temporal, timespan: 10000d, tags: [a]}\n"));
  const std::string long_key(1000, 'k');  // yaml-cpp takes keys up to 1024 bytes
  CHECK(error_of("rules: []\n" + long_key + ": 1\n") ==
        "spec.yaml:2:1: unknown top-level key '" + std::string(200, 'k') +
            "...'; expected 'rules', 'conditions' or 'timestamp'");
  const std::string long_rule(5000, 'r');
  const std::string e =
      error_of("rules:\n  - {rulename: " + long_rule + ", action: tmporal, tags: [a]}\n");
  CHECK(e.size() < 600);
  CHECK(e.find(std::string(200, 'r') + "...'") != std::string::npos);
  // A cut never splits a UTF-8 character: 199 ASCII bytes, then 'é' (2 bytes).
  const std::string accented = std::string(199, 'a') + "\xc3\xa9" + std::string(10, 'b');
  CHECK(error_of("rules: []\n" + accented + ": 1\n") ==
        "spec.yaml:2:1: unknown top-level key '" + std::string(199, 'a') +
            "...'; expected 'rules', 'conditions' or 'timestamp'");
}

TEST_CASE("exclusive (docs/semantics.md, exclusive carry)") {
  const auto doc = parse_spec_string(R"(rules:
  - rulename: sigma-parent
    action: parent
    exclusive: true
    parent: parent_id
    child: id
    tags: [p1]
  - {rulename: sigma-ancestor, action: ancestor, exclusive: true, parent: parent_id, child: id,
     tags: [a1]}
  - {rulename: plain, action: parent, exclusive: false, parent: parent_id, child: id, tags: [f]}
  - {rulename: unset, action: ancestor, parent: parent_id, child: id, tags: [f]}
)");
  REQUIRE(doc.spec.rules.size() == 4);
  CHECK(doc.spec.rules[0].exclusive == true);
  CHECK(doc.spec.rules[0].where.exclusive.line == 4);
  CHECK(doc.spec.rules[0].where.exclusive.column == 16);
  CHECK(doc.spec.rules[1].exclusive == true);
  CHECK(doc.spec.rules[2].exclusive == false);
  CHECK_FALSE(doc.spec.rules[3].exclusive.has_value());
  check_same(doc.spec,
             spec{parent_rule("sigma-parent", "parent_id", "id", {"p1"}).with_exclusive(),
                  ancestor_rule("sigma-ancestor", "parent_id", "id", {"a1"}).with_exclusive(),
                  parent_rule("plain", "parent_id", "id", {"f"}).with_exclusive(false),
                  ancestor_rule("unset", "parent_id", "id", {"f"})});
  const auto prog = fluxcap::compile(doc.spec);
  CHECK(prog.rules[0].tags[0].condition == condition_kind::exclusive);
  CHECK(prog.rules[1].tags[0].condition == condition_kind::exclusive_self);
  CHECK(prog.rules[2].tags[0].condition == condition_kind::none);
  CHECK(prog.rules[3].tags[0].condition == condition_kind::self);

  // Errors: the value, the action, the form, the key's spelling.
  CHECK(error_of("rulename: r\naction: parent\nparent: p\nchild: c\nexclusive: yes please\n"
                 "tags: [a]\n") ==
        "spec.yaml:5:12: rule 'r': 'exclusive' must be true or false, not 'yes please'");
  CHECK(error_of("rulename: r\naction: parent\nparent: p\nchild: c\nexclusive: \"true\"\n"
                 "tags: [a]\n") ==
        "spec.yaml:5:12: rule 'r': 'exclusive' must be true or false, not 'true'");
  CHECK(error_of("rulename: r\naction: parent\nparent: p\nchild: c\nexclusive:\ntags: [a]\n") ==
        "spec.yaml:5:1: rule 'r': 'exclusive' must be true or false, not nothing");
  CHECK(error_of("rulename: r\naction: parent\nparent: p\nchild: c\nexclusive: [true]\n"
                 "tags: [a]\n") ==
        "spec.yaml:5:12: rule 'r': 'exclusive' must be true or false, not a list");
  CHECK(error_of("rulename: r\naction: temporal\nexclusive: true\ntags: [a]\n") ==
        "spec.yaml:3:12: rule 'r': 'exclusive' is only valid for parent and ancestor rules, not "
        "'temporal'");
  CHECK(error_of("rules:\n  - {rulename: r, action: temporal, exclusive: false, tags: [a]}\n") ==
        "spec.yaml:2:48: rule 'r': 'exclusive' is only valid for parent and ancestor rules, not "
        "'temporal'");
  CHECK(error_of("rule_name: r\nexclusive: true\ntags:\n  - {name: a, prefix_get: p, "
                 "prefix_put: c}\n") ==
        "spec.yaml:2:12: rule 'r': 'exclusive' is only valid for parent and ancestor rules, not "
        "low-level rules");
  CHECK(error_of("rulename: r\naction: parent\nparent: p\nchild: c\nexclusiv: true\n"
                 "tags: [a]\n") ==
        "spec.yaml:5:1: rule 'r': unknown key 'exclusiv' in a rule (did you mean 'exclusive'?)");
  CHECK(error_of("exclusive: true\nrules:\n  - {rulename: r, action: temporal, tags: [a]}\n") ==
        "spec.yaml:1:1: 'exclusive' belongs to a rule; list rules under 'rules:'");
}

TEST_CASE("load_documents: marks are byte offsets, lines end at '\\n', columns count bytes") {
  const auto mark_of_key = [](std::string_view text, std::size_t index) {
    const auto docs = fluxcap::detail::load_documents(text, {});
    REQUIRE(docs.roots.size() == 1);
    std::size_t i = 0;
    for (const auto& pair : docs.roots[0]) {
      if (i++ == index) return pair.first.Mark();
    }
    FAIL("no such key");
    return YAML::Mark();
  };
  const auto check = [](const YAML::Mark& m, int pos, int line, int column) {
    CHECK(m.pos == pos);
    CHECK(m.line == line);
    CHECK(m.column == column);
  };
  // Multi-byte characters before a mark, on its line and on an earlier one.
  check(mark_of_key("k: \"\xc3\xa9\xc3\xa9\"\nv: 1\n", 1), 10, 1, 0);
  check(mark_of_key("{\"\xc3\xa9\": 1, x: 2}", 1), 10, 0, 10);
  // A lone '\r' ends a line for libyaml, not for editors, grep or yaml-cpp.
  check(mark_of_key("a: 1\rb: 2\n", 1), 5, 0, 5);
  check(mark_of_key("a: 1\r\nb: 2\n", 1), 6, 1, 0);
  // A UTF-8 byte order mark is skipped, and counted in the offset only.
  check(mark_of_key("\xEF\xBB\xBF"
                    "a: 1\nb: 2\n",
                    1),
        8, 1, 0);
  // UTF-16 with a byte order mark: byte offsets, columns in characters.
  const auto utf16 = [](std::string_view ascii, bool big) {
    std::string out = big ? "\xFE\xFF" : "\xFF\xFE";
    for (const char c : ascii) {
      out += big ? '\0' : c;
      out += big ? c : '\0';
    }
    return out;
  };
  check(mark_of_key(utf16("a: 1\nb: 2", false), 1), 12, 1, 0);
  check(mark_of_key(utf16("{a: 1, b: 2}", true), 1), 16, 0, 7);
  // A syntax error names the place the same way.
  try {
    (void)fluxcap::detail::load_documents("x: \xc3\xa9\ry: ]\n", {});
    FAIL("no syntax error");
  } catch (const YAML::ParserException& e) {
    CAPTURE(e.msg);
    CHECK(e.mark.line == 0);
    CHECK(e.mark.column == 9);
  }
}

TEST_CASE("load_documents: errors of our own and libyaml's, at their places") {
  const auto error = [](const std::string& text) -> std::optional<YAML::ParserException> {
    try {
      (void)fluxcap::detail::load_documents(text, {});
    } catch (const YAML::ParserException& e) {
      return e;
    }
    return std::nullopt;
  };
  // Nesting: 2000 collections are read, one more is refused where it opens.
  const auto nested = [](std::size_t n) { return std::string(n, '[') + std::string(n, ']'); };
  CHECK_FALSE(error(nested(2000)));
  const auto deep = error(nested(2001));
  REQUIRE(deep);
  CHECK(deep->msg == "collections nested deeper than 2000 levels (limit)");
  CHECK(deep->mark.column == 2000);
  // An alias of an anchor never defined (libyaml's parser leaves that to its loader).
  const auto alias = error("a: 1\nb: *nowhere\n");
  REQUIRE(alias);
  CHECK(alias->msg == "the referenced anchor is not defined");
  CHECK(alias->mark.line == 1);
  CHECK(alias->mark.column == 3);
  // Invalid UTF-8: placed in bytes, the byte named.
  const auto bad = error("a: 1\nbb: \xff\n");
  REQUIRE(bad);
  CHECK(bad->msg.find("(0xFF)") != std::string::npos);
  CHECK(bad->mark.pos == 9);
  CHECK(bad->mark.line == 1);
  CHECK(bad->mark.column == 4);
}

TEST_CASE("load_documents: the trees of a naive reading, in one pass, also past the tree budget") {
  // Every shape the readers meet: block and flow collections, quoted, tagged and block
  // scalars, anchors and aliases (of scalars and of collections), empty values and
  // documents, comments, directives, several documents.
  const std::vector<std::string> texts{
      "a: 1\nb: [x, 'y', \"z\\n\"]\nc: {d: ~, e: !!str 2}\n",
      "- &s scalar\n- *s\n- &m {k: v, l: [1, 2]}\n- *m\n- k: *m\n",
      "title: t\ndetection:\n  sel:\n    Image|endswith: '\\cmd.exe'\n  condition: sel\n",
      "text: |\n  two\n  lines\nfolded: >-\n  one\n  line\nempty:\n? complex\n: key\n",
      "# a comment\n%YAML 1.2\n---\na: b\n...\n---\n- 1\n---\n---\nlast: [x]\n",
      "[a, [b, [c, {d: [e]}]], !custom {f: g}]",
      "&cycle [*cycle, x]\n",
      "",
      "---\n",
  };
  for (const auto& text : texts) {
    CAPTURE(text);
    const auto expected = yaml_test::read_reference(text);
    REQUIRE(expected.ok);
    for (const std::size_t budget : {std::size_t{65536}, std::size_t{1}, std::size_t{3}}) {
      CAPTURE(budget);
      const auto got = fluxcap::detail::load_documents(text, {10, 500000, 1U << 24, true, budget});
      CHECK(got.exceeded == fluxcap::detail::yaml_scan::limit::none);
      CHECK(got.starts.size() == got.roots.size());
      REQUIRE(got.roots.size() == expected.roots.size());
      for (std::size_t i = 0; i < expected.roots.size(); ++i)
        CHECK(yaml_test::tree_difference(got.roots[i], expected, expected.roots[i]) == "");
    }
  }
  // An alias shares the node it refers to, as in yaml-cpp's trees.
  const auto shared = fluxcap::detail::load_documents("- &m {k: v}\n- *m\n", {});
  REQUIRE(shared.roots.size() == 1);
  CHECK(shared.roots[0][0].is(shared.roots[0][1]));

  // A limit is found at the same event whether the trees were dropped or not, and no
  // tree is returned then.
  std::string laughs = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int i = 1; i < 10; ++i) {
    laughs += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) laughs += (j ? ", *a" : "*a") + std::to_string(i - 1);
    laughs += "]\n";
  }
  for (const std::size_t budget : {std::size_t{65536}, std::size_t{5}}) {
    const auto got = fluxcap::detail::load_documents(laughs, {1, 500000, 1U << 24, false, budget});
    CHECK(got.exceeded == fluxcap::detail::yaml_scan::limit::nodes);
    CHECK(got.where.line == 5);
    CHECK(got.where.column == 24);
    CHECK(got.roots.empty());
  }
  // A second document past max_documents: the first one's tree is kept, its start named.
  const auto two = fluxcap::detail::load_documents("a: 1\n---\nb: 2\n", {1, 100, 100, false, 1});
  CHECK(two.exceeded == fluxcap::detail::yaml_scan::limit::documents);
  CHECK(two.where.line == 1);
  REQUIRE(two.roots.size() == 1);
  CHECK(two.roots[0]["a"].Scalar() == "1");

  // A spec of 70,000 nodes (past the tree budget, within the limits) reads whole: the
  // second pass builds what the first one dropped.
  std::string big = "rules:\n";
  for (int i = 0; i < 7000; ++i)
    big += "  - {rulename: r" + std::to_string(i) + ", action: temporal, tags: [a, b, c]}\n";
  const auto doc = parse_spec_string(big, "big.yaml");
  CHECK(doc.spec.rules.size() == 7000);
  CHECK(doc.spec.rules.back().name == "r6999");
}
