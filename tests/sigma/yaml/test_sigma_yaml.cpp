// The Sigma rule and profile reader (fluxcap/sigma/yaml.hpp).
#include <fluxcap/sigma/yaml.hpp>

#include <doctest/doctest.h>

#include <sigma_test_util.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace {

using fluxcap::sigma::document_kind;
using fluxcap::sigma::modifier;
using fluxcap::sigma::read_rules;
using fluxcap::sigma::rule;
using fluxcap::sigma::sigma_error;
using fluxcap::sigma::sigma_value;
using kind = fluxcap::sigma::sigma_value::kind;

std::string error_of(const std::string& text, const fluxcap::sigma::rule_read_limits& limits = {}) {
  try {
    (void)read_rules(text, "r.yml", limits);
  } catch (const sigma_error& e) {
    return e.what();
  }
  return "no error";
}

std::string profile_error_of(const std::string& text) {
  try {
    (void)fluxcap::sigma::read_profile(text, "p.yml");
  } catch (const sigma_error& e) {
    return e.what();
  }
  return "no error";
}

rule one_rule(const std::string& text) {
  auto rules = read_rules(text, "r.yml");
  REQUIRE(rules.size() == 1);
  return rules[0];
}

/// A temporary directory removed at the end of the test.
struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() /
           ("fluxcap_sigma_yaml_" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  void write(const std::string& relative, const std::string& text) const {
    const auto p = path / relative;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
  }
};

const char* const basic_rule = R"(title: Suspicious Child
id: 11111111-2222-3333-4444-555555555555
status: test
level: high
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        ParentImage|endswith: '\winword.exe'
        Image|endswith:
            - '\cmd.exe'
            - '\powershell.exe'
    filter_main:
        - CommandLine|contains|all:
            - 'a'
            - 'b'
        - User: SYSTEM
    condition: selection and not 1 of filter_*
)";

}  // namespace

TEST_CASE("a rule: identity, metadata, logsource, detections, spans") {
  const auto r = one_rule(basic_rule);
  CHECK(r.identity == "11111111-2222-3333-4444-555555555555");
  CHECK(r.kind == document_kind::detection);
  CHECK(r.title == "Suspicious Child");
  CHECK(r.status == "test");
  CHECK(r.level == "high");
  CHECK(r.source.category == "process_creation");
  CHECK(r.source.product == "windows");
  CHECK_FALSE(r.source.service.has_value());
  CHECK(r.where == fluxcap::sigma::source_span{"r.yml", 1, 1});
  REQUIRE(r.conditions.size() == 1);
  CHECK(r.conditions[0] == "selection and not 1 of filter_*");
  CHECK(r.condition_where[0] == fluxcap::sigma::source_span{"r.yml", 19, 16});

  REQUIRE(r.detections.size() == 2);
  const auto& sel = r.detections[0];
  CHECK(sel.name == "selection");
  CHECK_FALSE(sel.keywords);
  CHECK(sel.where == fluxcap::sigma::source_span{"r.yml", 9, 5});
  REQUIRE(sel.any_of.size() == 1);
  CHECK(sel.any_of[0].where == fluxcap::sigma::source_span{"r.yml", 10, 9});
  REQUIRE(sel.any_of[0].items.size() == 2);
  const auto& parent = sel.any_of[0].items[0];
  CHECK(parent.field == "ParentImage");
  CHECK(parent.modifiers == std::vector<modifier>{modifier::endswith});
  CHECK(parent.unknown_modifiers.empty());
  REQUIRE(parent.values.size() == 1);
  CHECK(parent.values[0].type == kind::string);
  CHECK(parent.values[0].text == "\\winword.exe");
  CHECK(parent.where == fluxcap::sigma::source_span{"r.yml", 10, 9});
  CHECK(parent.values[0].where == fluxcap::sigma::source_span{"r.yml", 10, 31});
  const auto& image = sel.any_of[0].items[1];
  REQUIRE(image.values.size() == 2);
  CHECK(image.values[1].text == "\\powershell.exe");
  CHECK(image.values[1].where == fluxcap::sigma::source_span{"r.yml", 13, 15});

  const auto& filter = r.detections[1];
  CHECK(filter.name == "filter_main");
  REQUIRE(filter.any_of.size() == 2);
  CHECK(filter.any_of[0].items[0].modifiers ==
        std::vector<modifier>{modifier::contains, modifier::all});
  CHECK(filter.any_of[0].items[0].values.size() == 2);
  CHECK(filter.any_of[1].items[0].field == "User");
  CHECK(filter.any_of[1].where == fluxcap::sigma::source_span{"r.yml", 18, 11});
}

TEST_CASE("identity: id, else title; neither is an error") {
  CHECK(one_rule("title: T\ndetection: {s: {a: 1}, condition: s}\n").identity == "T");
  CHECK(one_rule("title: T\nid: X\ndetection: {s: {a: 1}, condition: s}\n").identity == "X");
  CHECK(error_of("status: test\ndetection: {s: {a: 1}, condition: s}\n") ==
        "r.yml:1:1: a rule needs an 'id' or a 'title' (its identity)");
  CHECK(error_of("title: A\ndetection: {s: {a: 1}, condition: s}\n---\ntitle: A\n"
                 "detection: {s: {a: 2}, condition: s}\n") ==
        "r.yml:4:1: rule 'A': duplicate rule identity, also r.yml:1:1");
  CHECK(error_of("title: [A]\n") == "r.yml:1:8: 'title' must be a string, not a list");
}

TEST_CASE("conditions: a string or a list; positions") {
  const auto r =
      one_rule("title: T\ndetection:\n  s: {a: 1}\n  condition:\n    - s\n    - 'not s'\n");
  CHECK(r.conditions == std::vector<std::string>{"s", "not s"});
  REQUIRE(r.condition_where.size() == 2);
  CHECK(r.condition_where[0] == fluxcap::sigma::source_span{"r.yml", 5, 7});
  CHECK(r.condition_where[1] == fluxcap::sigma::source_span{"r.yml", 6, 7});
  CHECK(error_of("title: T\ndetection:\n  s: {a: 1}\n") ==
        "r.yml:3:3: rule 'T': the detection has no 'condition'");
  CHECK(error_of("title: T\ndetection:\n  s: {a: 1}\n  condition:\n") ==
        "r.yml:4:3: rule 'T': 'condition' needs a value");
  CHECK(error_of("title: T\ndetection:\n  s: {a: 1}\n  condition: {x: 1}\n") ==
        "r.yml:4:14: rule 'T': a condition must be a string, not a mapping");
  CHECK(error_of("title: T\ndetection:\n  s: {a: 1}\n  condition: [s, [x]]\n") ==
        "r.yml:4:18: rule 'T': a condition must be a string, not a list");
  // Sigma 1.0 aggregation: the condition is kept as written, timeframe beside it.
  const auto agg = one_rule(
      "title: T\ndetection:\n  s: {a: 1}\n  timeframe: 5m\n  condition: s | count() by b > 5\n");
  CHECK(agg.conditions[0] == "s | count() by b > 5");
  CHECK(agg.timeframe == "5m");
  CHECK(agg.detections.size() == 1);
}

TEST_CASE("structure errors with their locations") {
  CHECK(error_of("title: T\nlogsource: windows\ndetection: {s: {a: 1}, condition: s}\n") ==
        "r.yml:2:12: rule 'T': 'logsource' must be a mapping, not 'windows'");
  CHECK(error_of("title: T\nlogsource: {product: windows}\n") ==
        "r.yml:1:1: rule 'T': a rule needs a 'detection'");
  CHECK(error_of("title: T\ndetection: [s]\n") ==
        "r.yml:2:12: rule 'T': 'detection' must be a mapping, not a list");
  CHECK(error_of("title: T\ndetection:\n") ==
        "r.yml:2:1: rule 'T': 'detection' must be a mapping, not nothing");
  CHECK(error_of("- title: T\n") ==
        "r.yml:1:1: a Sigma rule must be a mapping (title, logsource, detection...), not a list");
  // A nested mapping as a value, a mapping or list inside a value list.
  CHECK(error_of("title: T\ndetection:\n  s:\n    a:\n      b: 1\n  condition: s\n") ==
        "r.yml:5:7: rule 'T': the value of 'a' must be a value or a list of values, not a mapping");
  CHECK(
      error_of("title: T\ndetection:\n  s:\n    a:\n      - 1\n      - {b: 2}\n  condition: s\n") ==
      "r.yml:6:9: rule 'T': a list of values cannot hold a mapping");
  CHECK(error_of("title: T\ndetection:\n  s:\n    a: [1, [2]]\n  condition: s\n") ==
        "r.yml:4:12: rule 'T': a list of values cannot hold a list");
  CHECK(error_of("title: T\ndetection:\n  s:\n    - {a: 1}\n    - b\n  condition: s\n") ==
        "r.yml:5:7: rule 'T': a list of mappings (any of them) cannot also hold 'b'");
  CHECK(error_of("title: T\ndetection:\n  s:\n  condition: s\n") ==
        "r.yml:3:3: rule 'T': search identifier 's' is empty");
  CHECK(error_of("title: T\ndetection:\n  s: {}\n  condition: s\n") ==
        "r.yml:3:6: rule 'T': an empty mapping matches nothing; give field: value pairs");
  CHECK(error_of("title: T\ndetection:\n  s: {a||b: 1}\n  condition: s\n") ==
        "r.yml:3:7: rule 'T': empty modifier name in 'a||b'");
  // Duplicate keys, at every level.
  CHECK(error_of("title: T\ntitle: U\n") ==
        "r.yml:2:1: duplicate key 'title' (first at line 1, column 1)");
  CHECK(error_of("title: T\ndetection:\n  s:\n    a: 1\n    a: 2\n  condition: s\n") ==
        "r.yml:5:5: rule 'T': duplicate key 'a' (first at line 4, column 5)");
  CHECK(error_of("title: T\ndetection:\n  s: {a: 1}\n  s: {a: 2}\n  condition: s\n") ==
        "r.yml:4:3: rule 'T': duplicate key 's' (first at line 3, column 3)");
  CHECK(error_of("title: T\ndetection:\n  s: {a: 1}\n  [x]: 1\n  condition: s\n") ==
        "r.yml:4:3: rule 'T': a key must be a name, not a list");
  // YAML syntax, also in a later document (lines count from the file's start).
  CHECK(error_of("title: T\n  bad: indentation\n") ==
        "r.yml:2:6: YAML syntax error: mapping values are not allowed in this context");
  CHECK(error_of("title: A\ndetection: {s: {a: 1}, condition: s}\n---\ntitle: B\n"
                 "detection:\n  s: {a: 1}\n  condition: s\n---\ntitle: C\ndetection: [\n") ==
        "r.yml:11:1: YAML syntax error: did not find expected node content while parsing a flow "
        "node that starts at line 11, column 1");
  CHECK(error_of("title: A\ndetection: {s: {a: 1}, condition: s}\n---\ntitle: B\n"
                 "detection:\n  s: {a: 1}\n  conditio: s\n") ==
        "r.yml:6:3: rule 'B': the detection has no 'condition'");
  // Sigma 1.0 collections.
  CHECK(error_of("action: global\ntitle: T\n---\ndetection: {s: {a: 1}, condition: s}\n") ==
        "r.yml:1:1: Sigma 1.0 rule collections ('action: ...') are not supported: write each "
        "rule as a complete document");
}

TEST_CASE("keywords: a list, a scalar, '|all' and '|mod' maps") {
  const auto r = one_rule(
      "title: T\ndetection:\n"
      "  k1:\n    - evil\n    - 'bad thing'\n"
      "  k2: single\n"
      "  k3:\n    '|all':\n      - a\n      - b\n"
      "  k4:\n    '|re|i': 'x.*y'\n"
      "  mixed:\n    '|contains': a\n    Image: b\n"
      "  condition: k1 or k2\n");
  REQUIRE(r.detections.size() == 5);
  const auto& k1 = r.detections[0];
  CHECK(k1.keywords);
  REQUIRE(k1.any_of.size() == 1);
  REQUIRE(k1.any_of[0].items.size() == 1);
  CHECK(k1.any_of[0].items[0].field.empty());
  CHECK(k1.any_of[0].items[0].modifiers.empty());
  REQUIRE(k1.any_of[0].items[0].values.size() == 2);
  CHECK(k1.any_of[0].items[0].values[1].text == "bad thing");
  CHECK(k1.any_of[0].items[0].values[1].where == fluxcap::sigma::source_span{"r.yml", 5, 7});
  const auto& k2 = r.detections[1];
  CHECK(k2.keywords);
  REQUIRE(k2.any_of[0].items[0].values.size() == 1);
  CHECK(k2.any_of[0].items[0].values[0].text == "single");
  const auto& k3 = r.detections[2];
  CHECK(k3.keywords);
  CHECK(k3.any_of[0].items[0].field.empty());
  CHECK(k3.any_of[0].items[0].modifiers == std::vector<modifier>{modifier::all});
  CHECK(k3.any_of[0].items[0].values.size() == 2);
  const auto& k4 = r.detections[3];
  CHECK(k4.keywords);
  CHECK(k4.any_of[0].items[0].modifiers == std::vector<modifier>{modifier::re, modifier::re_i});
  // A keyword item beside field items: kept as an item without field, not a keyword search.
  const auto& mixed = r.detections[4];
  CHECK_FALSE(mixed.keywords);
  REQUIRE(mixed.any_of[0].items.size() == 2);
  CHECK(mixed.any_of[0].items[0].field.empty());
  CHECK(mixed.any_of[0].items[1].field == "Image");
}

TEST_CASE("modifiers: every pySigma name, aliases, unknown ones kept") {
  const std::vector<std::pair<std::string, modifier>> names{
      {"contains", modifier::contains},
      {"startswith", modifier::startswith},
      {"endswith", modifier::endswith},
      {"all", modifier::all},
      {"neq", modifier::neq},
      {"cased", modifier::cased},
      {"exists", modifier::exists},
      {"windash", modifier::windash},
      {"re", modifier::re},
      {"i", modifier::re_i},
      {"ignorecase", modifier::re_i},
      {"m", modifier::re_m},
      {"multiline", modifier::re_m},
      {"s", modifier::re_s},
      {"dotall", modifier::re_s},
      {"base64", modifier::base64},
      {"base64offset", modifier::base64offset},
      {"utf16", modifier::utf16},
      {"utf16le", modifier::utf16le},
      {"utf16be", modifier::utf16be},
      {"wide", modifier::wide},
      {"cidr", modifier::cidr},
      {"lt", modifier::lt},
      {"lte", modifier::lte},
      {"gt", modifier::gt},
      {"gte", modifier::gte},
      {"minute", modifier::minute},
      {"hour", modifier::hour},
      {"day", modifier::day},
      {"week", modifier::week},
      {"month", modifier::month},
      {"year", modifier::year},
      {"expand", modifier::expand},
      {"fieldref", modifier::fieldref}};
  for (const auto& [name, m] : names) {
    CAPTURE(name);
    const auto r = one_rule("title: T\ndetection:\n  s:\n    F|" + name + ": x\n  condition: s\n");
    const auto& item = r.detections[0].any_of[0].items[0];
    CHECK(item.field == "F");
    CHECK(item.modifiers == std::vector<modifier>{m});
    CHECK(item.unknown_modifiers.empty());
  }
  const auto r = one_rule(
      "title: T\ndetection:\n  s:\n    F|contains|Contains|frobnicate|all: x\n"
      "  condition: s\n");
  const auto& item = r.detections[0].any_of[0].items[0];
  CHECK(item.modifiers == std::vector<modifier>{modifier::contains, modifier::all});
  CHECK(item.unknown_modifiers == std::vector<std::string>{"Contains", "frobnicate"});
  // Flag spellings that are not Sigma's are unknown too.
  const auto flags = one_rule("title: T\ndetection:\n  s:\n    F|re|re_i: x\n  condition: s\n");
  CHECK(flags.detections[0].any_of[0].items[0].unknown_modifiers ==
        std::vector<std::string>{"re_i"});
}

TEST_CASE("values: null, booleans, numbers, strings as written") {
  const auto r = one_rule(
      "title: T\ndetection:\n  s:\n"
      "    a:\n"
      "      - null\n      - ~\n      - true\n      - False\n      - 'true'\n"
      "      - 123\n      - '123'\n      - 0x1F\n      - 0o17\n      - +007\n      - -0\n"
      "      - 1.5\n      - +1e3\n      - .inf\n      - -.Inf\n      - .NaN\n"
      "      - yes\n      - 0x\n      - 1_000\n      - \"tab\\there\"\n      - 'C:\\*'\n"
      "      - ''\n      - 0xFFFFFFFFFFFFFFFFF\n"
      "    b:\n"
      "  condition: s\n");
  const auto& values = r.detections[0].any_of[0].items[0].values;
  const std::vector<std::pair<kind, std::string>> expected{{kind::null, ""},
                                                           {kind::null, ""},
                                                           {kind::boolean, "true"},
                                                           {kind::boolean, "false"},
                                                           {kind::string, "true"},
                                                           {kind::number, "123"},
                                                           {kind::string, "123"},
                                                           {kind::number, "31"},
                                                           {kind::number, "15"},
                                                           {kind::number, "7"},
                                                           {kind::number, "0"},
                                                           {kind::number, "1.5"},
                                                           {kind::number, "1e3"},
                                                           {kind::number, "inf"},
                                                           {kind::number, "-inf"},
                                                           {kind::number, "nan"},
                                                           {kind::string, "yes"},
                                                           {kind::string, "0x"},
                                                           {kind::string, "1_000"},
                                                           {kind::string, "tab\there"},
                                                           {kind::string, "C:\\*"},
                                                           {kind::string, ""},
                                                           {kind::string, "0xFFFFFFFFFFFFFFFFF"}};
  REQUIRE(values.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(i);
    CHECK(values[i].type == expected[i].first);
    CHECK(values[i].text == expected[i].second);
  }
  CHECK(values[5].where == fluxcap::sigma::source_span{"r.yml", 10, 9});
  // An empty value is null, placed at its key.
  const auto& b = r.detections[0].any_of[0].items[1];
  REQUIRE(b.values.size() == 1);
  CHECK(b.values[0].type == kind::null);
  CHECK(b.values[0].where == fluxcap::sigma::source_span{"r.yml", 28, 5});
}

TEST_CASE("correlation and filter documents; multi-document files") {
  const auto rules = read_rules(
      "title: base\nid: b1\nname: base_rule\ndetection: {s: {a: 1}, condition: s}\n"
      "---\n"
      "title: many\nid: c1\ncorrelation:\n  type: event_count\n  rules: [base_rule]\n"
      "  group-by: [User]\n  timespan: 10m\n  condition: {gte: 10}\n"
      "---\n"
      "---\n"
      "title: not admins\nid: f1\nlogsource: {category: process_creation}\n"
      "filter:\n  rules: [b1]\n  selection: {User|startswith: adm_}\n  condition: not selection\n",
      "multi.yml");
  REQUIRE(rules.size() == 3);
  CHECK(rules[0].kind == document_kind::detection);
  CHECK(rules[0].name == "base_rule");
  CHECK(rules[1].kind == document_kind::correlation);
  CHECK(rules[1].identity == "c1");
  CHECK(rules[1].title == "many");
  CHECK(rules[1].where == fluxcap::sigma::source_span{"multi.yml", 6, 1});
  CHECK(rules[2].kind == document_kind::filter);
  CHECK(rules[2].identity == "f1");
  CHECK(rules[2].source.category == "process_creation");
  CHECK(rules[2].where == fluxcap::sigma::source_span{"multi.yml", 16, 1});
  CHECK(error_of("title: T\ncorrelation: event_count\n") ==
        "r.yml:2:14: rule 'T': 'correlation' must be a mapping, not 'event_count'");
  CHECK(read_rules("", "e.yml").empty());
  CHECK(read_rules("# nothing\n---\n", "e.yml").empty());
}

TEST_CASE("many documents: every one read, lines counted from the file's start") {
  std::string text;
  for (int i = 0; i < 10000; ++i)
    text += (i == 0 ? "" : "---\n") + std::string("title: R") + std::to_string(i) +
            "\ndetection: {s: {a: " + std::to_string(i) + "}, condition: s}\n";
  const auto rules = read_rules(text, "many.yml");
  REQUIRE(rules.size() == 10000);
  CHECK(rules[9999].identity == "R9999");
  CHECK(rules[9999].where == fluxcap::sigma::source_span{"many.yml", 29998, 1});
  CHECK(rules[9999].detections[0].any_of[0].items[0].values[0].where ==
        fluxcap::sigma::source_span{"many.yml", 29999, 20});
  CHECK(error_of(text + "---\ntitle: one too many\n") ==
        "r.yml:30000:1: more than 10000 YAML documents in one file (limit)");
}

TEST_CASE("limits: file size, values, identifiers, documents, alias bombs") {
  fluxcap::sigma::rule_read_limits small;
  small.max_values_per_item = 3;
  const std::string rule4 = "title: T\ndetection:\n  s:\n    a: [1, 2, 3, 4]\n  condition: s\n";
  CHECK(error_of(rule4, small) == "r.yml:4:18: rule 'T': more than 3 values in one item (limit)");
  CHECK(error_of(rule4) == "no error");

  std::string many = "title: T\ndetection:\n  s:\n    a:\n";
  for (int i = 0; i < 65537; ++i) many += "      - v\n";
  many += "  condition: s\n";
  CHECK(error_of(many) == "r.yml:65541:9: rule 'T': more than 65536 values in one item (limit)");

  small.max_detections_per_rule = 2;
  CHECK(error_of("title: T\ndetection:\n  a: x\n  b: y\n  c: z\n  condition: a\n", small) ==
        "r.yml:5:3: rule 'T': more than 2 search identifiers in one rule (limit)");
  small.max_documents = 2;
  CHECK(error_of("title: A\n---\ntitle: B\n---\ntitle: C\n", small) ==
        "r.yml:4:1: more than 2 YAML documents in one file (limit)");
  small.max_file_bytes = 10;
  CHECK(error_of("title: a long one\n", small) ==
        "r.yml: the rule file is larger than 10 bytes (limit)");

  // A billion laughs: nine levels of nine aliases, about 387 million values expanded.
  std::string bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 9; ++i) {
    // Appended piece by piece: g++ 12 warns (-Wrestrict, a false positive) on "a" + string.
    std::string prev = "*a";
    prev += std::to_string(i - 1);
    bomb += 'a';
    bomb += std::to_string(i);
    bomb += ": &a";
    bomb += std::to_string(i);
    bomb += " [";
    bomb += prev;
    for (int j = 0; j < 8; ++j) bomb += ", " + prev;
    bomb += "]\n";
  }
  const auto bomb_error = error_of(bomb);
  CHECK(bomb_error.find("YAML nodes with aliases expanded (limit)") != std::string::npos);
  CHECK(bomb_error.rfind("r.yml:", 0) == 0);
  // The same bound holds over all documents of a file together.
  fluxcap::sigma::rule_read_limits nodes;
  nodes.max_nodes = 20;
  CHECK(error_of("title: A\nx: [1, 2, 3, 4]\n---\ntitle: B\nx: [1, 2, 3, 4]\n"
                 "---\ntitle: C\nx: [1, 2, 3, 4]\n",
                 nodes) ==
        "r.yml:7:8: the file has more than 20 YAML nodes with aliases "
        "expanded (limit)");
  nodes.max_nodes = 500000;
  nodes.max_expanded_bytes = 60;
  CHECK(error_of("title: T\nv: &v 0123456789012345678901234567890123456789\nw: *v\n", nodes) ==
        "r.yml:3:4: the file holds more than 60 bytes of text with aliases expanded (limit)");
}

TEST_CASE("rule files: read whole, up to the size limit, none at all with no limit") {
  temp_dir dir;
  dir.write("r.yml", basic_rule);
  const auto file = dir.path / "r.yml";
  fluxcap::sigma::rule_read_limits limits;
  CHECK(fluxcap::sigma::read_rule_file(file, limits).size() == 1);
  limits.max_file_bytes = SIZE_MAX;  // no limit: read to the end (it once spun forever)
  CHECK(fluxcap::sigma::read_rule_file(file, limits).size() == 1);
  const auto size = std::string_view(basic_rule).size();
  limits.max_file_bytes = size;  // exactly the file
  CHECK(fluxcap::sigma::read_rule_file(file, limits).size() == 1);
  limits.max_file_bytes = size - 1;
  CHECK_THROWS_WITH(fluxcap::sigma::read_rule_file(file, limits),
                    doctest::Contains("is larger than"));
#ifdef __linux__
  // A file with no size, endless: read only one byte past the limit.
  limits.max_file_bytes = 100000;
  CHECK_THROWS_WITH(fluxcap::sigma::read_rule_file("/dev/zero", limits),
                    doctest::Contains("larger than 100000 bytes"));
#endif
}

TEST_CASE("YAML text: empty views, directive lines bounded") {
  CHECK(read_rules(std::string_view{}, "r.yml").empty());
  std::string tags;
  for (int i = 0; i < 256; ++i)
    tags += "%TAG !t" + std::to_string(i) + "! tag:x" + std::to_string(i) + "\n";
  CHECK(read_rules(tags + "---\ntitle: T\ndetection:\n  s: {a: 1}\n  condition: s\n", "r.yml")
            .size() == 1);
  CHECK(error_of(tags + "%TAG !u! tag:y\n---\ntitle: T\n") ==
        "r.yml:257:1: YAML syntax error: more than 256 lines starting with '%' (YAML "
        "directives; limit)");
  // libyaml compares each %TAG with the earlier ones: a file of them is refused before.
  std::string many;
  for (int i = 0; i < 200000; ++i) many += "%TAG !t" + std::to_string(i) + "! x\n";
  const auto start = std::chrono::steady_clock::now();
  CHECK(error_of(many).find("(YAML directives; limit)") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
}

TEST_CASE("files and directories: order, extensions, duplicate identity across files") {
  const temp_dir dir;
  dir.write("b/two.yml", "title: Two\ndetection: {s: {a: 1}, condition: s}\n");
  dir.write("a/one.yaml", "title: One\ndetection: {s: {a: 1}, condition: s}\n");
  dir.write("a/z/three.yml",
            "title: Three\ndetection: {s: {a: 1}, condition: s}\n---\ntitle: Four\n"
            "detection: {s: {a: 1}, condition: s}\n");
  dir.write("a/notes.txt", "not a rule");
  dir.write("c.yml", "title: Five\ndetection: {s: {a: 1}, condition: s}\n");
  const std::vector<std::filesystem::path> paths{dir.path};
  const auto rules = fluxcap::sigma::read_rule_paths(paths);
  std::vector<std::string> names;
  for (const auto& r : rules) names.push_back(r.identity);
  CHECK(names == std::vector<std::string>{"One", "Three", "Four", "Two", "Five"});
  CHECK(rules[0].where.file == (dir.path / "a/one.yaml").string());
  // Arguments keep their order; a file argument is read whatever its extension.
  dir.write("x.rule", "title: Six\ndetection: {s: {a: 1}, condition: s}\n");
  const std::vector<std::filesystem::path> two{dir.path / "x.rule", dir.path / "b"};
  const auto some = fluxcap::sigma::read_rule_paths(two);
  REQUIRE(some.size() == 2);
  CHECK(some[0].identity == "Six");
  CHECK(some[1].identity == "Two");

  dir.write("d/dup.yml", "id: X\ntitle: other\ndetection: {s: {a: 1}, condition: s}\n");
  dir.write("d/e/dup.yml", "\n\nid: X\ndetection: {s: {a: 2}, condition: s}\n");
  try {
    const std::vector<std::filesystem::path> d{dir.path / "d"};
    (void)fluxcap::sigma::read_rule_paths(d);
    FAIL("no error");
  } catch (const sigma_error& e) {
    CHECK(std::string(e.what()) == (dir.path / "d/e/dup.yml").string() +
                                       ":3:1: rule 'X': duplicate rule identity, also " +
                                       (dir.path / "d/dup.yml").string() + ":1:1");
  }
  fluxcap::sigma::rule_read_limits one_file;
  one_file.max_files = 1;
  const std::vector<std::filesystem::path> b_dir{dir.path / "b"};
  CHECK(fluxcap::sigma::read_rule_paths(b_dir, one_file).size() == 1);
  const std::vector<std::filesystem::path> a_dir{dir.path / "a"};
  try {
    (void)fluxcap::sigma::read_rule_paths(a_dir, one_file);
    FAIL("no error");
  } catch (const sigma_error& e) {
    // At whichever file the directory listing gives second (listing order is the OS's).
    CHECK(e.message() == "more than 1 rule files (limit)");
    CHECK(e.where().file.rfind(dir.path.string(), 0) == 0);
  }
  const std::vector<std::filesystem::path> missing{dir.path / "nope"};
  CHECK_THROWS_WITH_AS((void)fluxcap::sigma::read_rule_paths(missing),
                       ((dir.path / "nope").string() + ": no such rule file or directory").c_str(),
                       sigma_error);
}

TEST_CASE("realdata: every SigmaHQ rule reads") {
  const auto root = sigma_test::realdata();
  if (root.empty()) {
    MESSAGE("realdata absent: skipped");
    return;
  }
  const std::vector<std::filesystem::path> dirs{
      root / "sigma/rules", root / "sigma/rules-emerging-threats",
      root / "sigma/rules-threat-hunting", root / "sigma-regression-extra/rules",
      root / "sigma-regression-extra/rules-emerging-threats"};
  // One call: identities are unique over all of them.
  const auto rules = fluxcap::sigma::read_rule_paths(dirs);
  std::size_t with_parent = 0, keywords = 0;
  CHECK(rules.size() == 496);
  for (const auto& r : rules) {
    CAPTURE(r.where.file);
    CHECK(r.kind == document_kind::detection);
    CHECK_FALSE(r.conditions.empty());
    CHECK_FALSE(r.detections.empty());
    CHECK(r.source.category == "process_creation");
    for (const auto& d : r.detections) {
      keywords += d.keywords ? 1 : 0;
      for (const auto& c : d.any_of)
        for (const auto& item : c.items) {
          CHECK(item.unknown_modifiers.empty());
          if (item.field.rfind("Parent", 0) == 0) ++with_parent;
        }
    }
  }
  CHECK(with_parent > 0);
  MESSAGE("realdata: ", rules.size(), " rules, ", with_parent, " Parent* items, ", keywords,
          " keyword identifiers");

  // The correlation examples of the specification, file by file (they repeat one
  // another's rules): correlations beside their base rules.
  std::vector<std::filesystem::path> examples;
  for (const auto& entry : std::filesystem::directory_iterator(
           root / "sigma-specification/extracted-correlation-examples"))
    examples.push_back(entry.path());
  std::size_t correlations = 0, documents = 0;
  std::sort(examples.begin(), examples.end());
  std::size_t without_identity = 0;
  for (const auto& file : examples) {
    CAPTURE(file);
    // Two examples are fragments of a rule (no title, no id): malformed on their own.
    const auto name = file.filename().string();
    if (name.find("_L461") != std::string::npos || name.find("_L487") != std::string::npos) {
      CHECK_THROWS_WITH_AS(
          (void)fluxcap::sigma::read_rule_file(file),
          (file.string() + ":2:1: a rule needs an 'id' or a 'title' (its identity)").c_str(),
          sigma_error);
      ++without_identity;
      continue;
    }
    const auto part = fluxcap::sigma::read_rule_file(file);
    documents += part.size();
    correlations +=
        static_cast<std::size_t>(std::count_if(part.begin(), part.end(), [](const rule& r) {
          return r.kind == document_kind::correlation;
        }));
  }
  CHECK(examples.size() == 10);
  CHECK(without_identity == 2);

  // pySigma's correlation test file: three base rules and three correlations.
  const auto pysigma = fluxcap::sigma::read_rule_file(
      root / "correlation/pySigma/tests/files/correlation_rule_valid/correlation_rule.yml");
  REQUIRE(pysigma.size() == 6);
  CHECK(pysigma[0].name == "base_rule");
  CHECK(pysigma[0].kind == document_kind::detection);
  CHECK(pysigma[1].kind == document_kind::correlation);
  CHECK(pysigma[2].kind == document_kind::correlation);
  CHECK(pysigma[4].name == "base_rule_2");
  CHECK(pysigma[5].kind == document_kind::correlation);
  CHECK(documents == 11);
  CHECK(correlations == 9);
}

TEST_CASE("profiles: the design's format") {
  const auto p = fluxcap::sigma::read_profile(
      "name: my-sysmon\n"
      "logsource: {category: process_creation, product: windows}\n"
      "group: Hostname\n"
      "process: {id: ProcessGuid, parent_id: ParentProcessGuid, normalize: none}\n"
      "timestamp: UtcTime\n"
      "field_prefix: Event.EventData\n"
      "fields: {Image: NewProcessName, User: user.name}\n"
      "inline_parent_fields: [ParentImage, ParentCommandLine]\n"
      "placeholders:\n  admins: [adm_*, root]\n  one: x\n"
      "absent_fields: [Hashes]\n",
      "p.yml");
  CHECK(p.name == "my-sysmon");
  CHECK(p.source.category == "process_creation");
  CHECK(p.source.product == "windows");
  CHECK(p.group == "Hostname");
  CHECK(p.process_id == "ProcessGuid");
  CHECK(p.parent_id == "ParentProcessGuid");
  CHECK_FALSE(p.lower_case_ids);
  CHECK(p.timestamp == "UtcTime");
  CHECK(p.field_prefix == "Event.EventData");
  CHECK(p.path_of("Image") == "NewProcessName");
  CHECK(p.path_of("CommandLine") == "Event.EventData.CommandLine");
  CHECK(p.is_inline_parent("ParentCommandLine"));
  REQUIRE(p.placeholder("admins") != nullptr);
  CHECK(*p.placeholder("admins") == std::vector<std::string>{"adm_*", "root"});
  CHECK(*p.placeholder("one") == std::vector<std::string>{"x"});
  CHECK(p.absent_fields == std::vector<std::string>{"Hashes"});
  CHECK(p.where == fluxcap::sigma::source_span{"p.yml", 1, 1});

  const auto minimal = fluxcap::sigma::read_profile(
      "group: host\nprocess: {id: pid, parent_id: ppid}\n", "dir/minimal.yml");
  CHECK(minimal.name == "minimal");
  CHECK(minimal.lower_case_ids);
  CHECK_FALSE(minimal.timestamp.has_value());
  CHECK(minimal.field_prefix.empty());
}

TEST_CASE("profiles: errors with locations") {
  CHECK(profile_error_of("group: h\nprocess: {id: a, parent_id: b}\ngroupp: x\n") ==
        "p.yml:3:1: unknown key 'groupp' in a profile (did you mean 'group'?)");
  CHECK(profile_error_of("name: n\nprocess: {id: a, parent_id: b}\n") ==
        "p.yml:1:1: profile 'n': a profile needs 'group' (the path of the group key)");
  CHECK(profile_error_of("group: h\n") ==
        "p.yml:1:1: a profile needs 'process' with 'id' and 'parent_id'");
  CHECK(profile_error_of("group: h\nprocess:\n  id: a\n") ==
        "p.yml:3:3: 'process' needs 'parent_id' (the path of the parent's id)");
  CHECK(profile_error_of("group: h\nprocess: {id: a, parent_id: b, normalize: upper}\n") ==
        "p.yml:2:43: 'normalize' must be 'lower' or 'none', not 'upper'");
  CHECK(profile_error_of("group: h\nprocess: {id: a, parent_id: b, pid: c}\n") ==
        "p.yml:2:32: unknown key 'pid' in 'process' (did you mean 'id'?)");
  CHECK(profile_error_of("group: h\nprocess: {id: a, parent_id: b}\nlogsource: {os: x}\n") ==
        "p.yml:3:13: unknown key 'os' in 'logsource'");
  CHECK(profile_error_of("group: [h]\nprocess: {id: a, parent_id: b}\n") ==
        "p.yml:1:8: 'group' must be a string, not a list");
  CHECK(profile_error_of("group: h\nprocess: {id: a, parent_id: b}\nfields: [a]\n") ==
        "p.yml:3:9: 'fields' must be a mapping, not a list");
  CHECK(profile_error_of("group: h\nprocess: {id: a, parent_id: b}\nfields: {a: 1, a: 2}\n") ==
        "p.yml:3:16: duplicate key 'a' (first at line 3, column 10)");
  CHECK(profile_error_of("group: h\nprocess: {id: a, parent_id: b}\n---\ngroup: i\n") ==
        "p.yml:3:1: a profile holds one YAML document; a second one starts here");
  CHECK(profile_error_of("") == "p.yml: the profile is empty");
  CHECK(profile_error_of("- a\n") == "p.yml:1:1: a profile must be a mapping, not a list");
  CHECK(profile_error_of("group: h\nprocess: {id: a, parent_id: b}\nfilter: {}\n") ==
        "p.yml:3:1: profile filters ('filter:') are not supported yet");

  const temp_dir dir;
  dir.write("good.yml", "group: h\nprocess: {id: a, parent_id: b}\n");
  CHECK(fluxcap::sigma::read_profile_file(dir.path / "good.yml").name == "good");
  CHECK_THROWS_AS((void)fluxcap::sigma::read_profile_file(dir.path / "missing.yml"), sigma_error);
}
