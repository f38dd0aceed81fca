// The Sigma engine end to end on the library level: rules as YAML, events as
// dense_field_event, detections checked against expected values and against the naive
// evaluator (tests/sigma/naive_evaluator.hpp) on every event.
#include <doctest/doctest.h>
#include <fluxcap/sigma/compile.hpp>
#include <fluxcap/sigma/describe.hpp>
#include <fluxcap/sigma/engine.hpp>
#include <fluxcap/sigma/yaml.hpp>

#include <map>
#include <string>
#include <vector>

#include "naive_evaluator.hpp"

using namespace fluxcap::sigma;

namespace {

using event = dense_field_event;

/// A process-creation event in the flat Sysmon shape.
event proc(std::string host, std::string guid, std::string parent_guid, std::string image,
           std::string command_line = "") {
  event e;
  e.set("Hostname", std::move(host))
      .set("ProcessGuid", std::move(guid))
      .set("ParentProcessGuid", std::move(parent_guid))
      .set("Image", std::move(image));
  if (!command_line.empty()) e.set("CommandLine", std::move(command_line));
  return e;
}

/// Sysmon without parent fields inline: every Parent<X> is carried.
profile carried_profile() {
  auto p = *builtin_profile("sysmon");
  p.name = "sysmon-carried";
  p.inline_parent_fields = {"ParentProcessGuid", "ParentProcessId"};
  return p;
}

struct run_result {
  std::vector<std::vector<std::string>> detections;  // per event
  compiled_rules compiled;
};

/// Runs `events` through the engine (exact memory, one state per host) and the naive
/// evaluator; CHECKs that they agree on every event.
template <class Memory = fluxcap::exact_memory>
run_result run(std::string_view rules_yaml, const profile& p, const std::vector<event>& events) {
  auto rules = read_rules(rules_yaml, "test.yml");
  auto compiled = compile(rules, p);
  engine<dense_fields, Memory> eng(compiled);
  std::vector<bool> supported(rules.size(), false);
  for (const auto& r : compiled.reports) supported[r.source_index] = r.status == rule_status::ok;
  sigma_test::naive_evaluator<> naive(rules, p);
  auto scratch = eng.make_scratch();
  std::map<std::string, typename engine<dense_fields, Memory>::state_type> states;
  run_result out;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto group = eng.group_of(events[i], scratch);
    auto [it, inserted] = states.try_emplace(std::string(group.value_or("")), eng.make_state());
    std::vector<std::string> fired;
    for (auto r : eng.process(it->second, events[i], scratch))
      fired.push_back(eng.compiled().rules[r].identity);
    const auto expected = naive.process(events[i], supported);
    INFO("event " << i);
    CHECK(fired == expected);
    out.detections.push_back(std::move(fired));
  }
  out.compiled = std::move(compiled);
  return out;
}

using names = std::vector<std::string>;

}  // namespace

namespace doctest {
template <>
struct StringMaker<std::vector<std::string>> {
  static String convert(const std::vector<std::string>& v) {
    std::string out = "[";
    for (const auto& s : v) out += (out.size() > 1 ? ", " : "") + s;
    return String((out + "]").c_str());
  }
};
}  // namespace doctest

namespace {}  // namespace

TEST_CASE("engine: string matching, case, wildcards and escapes") {
  const auto result =
      run(R"(
title: ends
id: ends
logsource: {category: process_creation, product: windows}
detection:
  sel:
    Image|endswith: '\cmd.exe'
  condition: sel
---
title: star
id: star
logsource: {category: process_creation, product: windows}
detection:
  sel:
    CommandLine: '*whoami*/all*'
  condition: sel
---
title: escaped
id: escaped
logsource: {category: process_creation, product: windows}
detection:
  sel:
    CommandLine|contains: 'a\*b'
  condition: sel
---
title: cased
id: cased
logsource: {category: process_creation, product: windows}
detection:
  sel:
    CommandLine|contains|cased: 'WHO'
  condition: sel
---
title: exact
id: exact
logsource: {category: process_creation, product: windows}
detection:
  sel:
    Image: 'C:\Windows\System32\whoami.exe'
  condition: sel
---
title: one char
id: one-char
logsource: {category: process_creation, product: windows}
detection:
  sel:
    CommandLine: 'x?z'
  condition: sel
)",
          *builtin_profile("sysmon"),
          {proc("h", "1", "0", "C:\\Windows\\System32\\CMD.EXE", "cmd /c WHOAMI /ALL"),
           proc("h", "2", "0", "c:\\windows\\system32\\whoami.exe", "a*b and who"),
           proc("h", "3", "0", "C:\\x\\cmd.exe.bak", "aXb xyz"),
           proc("h", "4", "0", "cmd.exe", "xYz")});
  CHECK(result.detections[0] == names{"ends", "star", "cased"});
  CHECK(result.detections[1] == names{"escaped", "exact"});
  CHECK(result.detections[2].empty());
  CHECK(result.detections[3] == names{"one-char"});
}

TEST_CASE("engine: null, empty, numbers, booleans and arrays") {
  const auto result = run(R"(
title: no command line
id: null-rule
logsource: {category: process_creation, product: windows}
detection:
  sel:
    CommandLine: null
  condition: sel
---
title: empty
id: empty
logsource: {category: process_creation, product: windows}
detection:
  sel:
    CommandLine: ''
  condition: sel
---
title: number
id: number
logsource: {category: process_creation, product: windows}
detection:
  sel:
    EventID: 1
  condition: sel
---
title: string vs number
id: string-number
logsource: {category: process_creation, product: windows}
detection:
  sel:
    ProcessId: '4242'
  condition: sel
---
title: array
id: array
logsource: {category: process_creation, product: windows}
detection:
  sel:
    Tags|contains: evil
  condition: sel
---
title: boolean
id: boolean
logsource: {category: process_creation, product: windows}
detection:
  sel:
    Signed: false
  condition: sel
)",
                          *builtin_profile("sysmon"), [] {
                            std::vector<event> events;
                            events.push_back(proc("h", "1", "0", "a.exe"));  // no CommandLine
                            events.push_back(proc("h", "2", "0", "a.exe", ""));
                            events.back().set("CommandLine", "");
                            events.push_back(proc("h", "3", "0", "a.exe", "x"));
                            events.back().set("EventID", "1", value_kind::number);
                            events.back().set("ProcessId", "4242", value_kind::number);
                            events.push_back(proc("h", "4", "0", "a.exe", "x"));
                            events.back().set("EventID", "1");  // a string with the text
                            events.back().set_array("Tags", {"good", "very EVIL"});
                            events.back().set("Signed", "false", value_kind::boolean);
                            events.push_back(proc("h", "5", "0", "a.exe", "x"));
                            events.back().set("CommandLine", "", value_kind::null);
                            events.back().set("EventID", "1.0", value_kind::number);
                            events.back().set("Signed", "FALSE");
                            return events;
                          }());
  CHECK(result.detections[0] == names{"null-rule"});
  CHECK(result.detections[1] == names{"empty"});
  CHECK(result.detections[2] == names{"number", "string-number"});
  CHECK(result.detections[3] == names{"number", "array", "boolean"});
  CHECK(result.detections[4] == names{"null-rule", "number", "boolean"});
}

TEST_CASE("engine: conditions, keywords and lists of conditions") {
  const auto result = run(R"(
title: filters
id: filters
logsource: {category: process_creation, product: windows}
detection:
  selection_img:
    Image|endswith: '\powershell.exe'
  selection_cli:
    CommandLine|contains: ' -enc '
  filter_main:
    CommandLine|contains: 'benign'
  filter_other:
    CommandLine|contains: 'harmless'
  condition: all of selection_* and not 1 of filter_*
---
title: keywords
id: keywords
logsource: {category: process_creation, product: windows}
detection:
  keywords:
    - mimikatz
    - 'sekurlsa::'
  condition: keywords
---
title: any of two conditions
id: list
logsource: {category: process_creation, product: windows}
detection:
  a:
    Image|endswith: '\a.exe'
  b:
    Image|endswith: '\b.exe'
  condition:
    - a
    - b
)",
                          *builtin_profile("sysmon"),
                          {proc("h", "1", "0", "C:\\powershell.exe", "powershell -enc AAA"),
                           proc("h", "2", "0", "C:\\powershell.exe", "powershell -enc benign"),
                           proc("h", "3", "0", "C:\\powershell.exe", "powershell -nop"),
                           proc("h", "4", "0", "C:\\x\\a.exe", "run Mimikatz"),
                           proc("h", "5", "0", "C:\\x\\b.exe", "nothing")});
  CHECK(result.detections[0] == names{"filters"});
  CHECK(result.detections[1].empty());
  CHECK(result.detections[2].empty());
  CHECK(result.detections[3] == names{"keywords", "list"});
  CHECK(result.detections[4] == names{"list"});
}

TEST_CASE("engine: parent context is the parent's own event, never the process itself") {
  // svchost under services: a carried `ParentImage|endswith \svchost.exe` must be false on
  // an svchost whose parent is services (the inclusive carry would say true).
  const std::string rules = R"(
title: child of svchost
id: parent-svchost
logsource: {category: process_creation, product: windows}
detection:
  sel:
    ParentImage|endswith: '\svchost.exe'
  condition: sel
---
title: not under explorer
id: not-explorer
logsource: {category: process_creation, product: windows}
detection:
  sel:
    Image|endswith: '\cmd.exe'
  filter:
    ParentImage|endswith: '\explorer.exe'
  condition: sel and not filter
)";
  const auto result =
      run(rules, carried_profile(),
          {proc("h", "s", "0", "C:\\services.exe"), proc("h", "v", "s", "C:\\svchost.exe"),
           proc("h", "c", "v", "C:\\x\\cmd.exe"), proc("h", "e", "0", "C:\\explorer.exe"),
           proc("h", "c2", "e", "C:\\x\\cmd.exe"), proc("h", "c3", "unseen", "C:\\x\\cmd.exe"),
           proc("other", "c4", "e", "C:\\x\\cmd.exe")});
  CHECK(result.detections[1].empty());  // svchost itself
  CHECK(result.detections[2] == names{"parent-svchost", "not-explorer"});
  CHECK(result.detections[4].empty());  // cmd under explorer: filtered
  // Unseen parent (or another host's): the carried filter is false, so `not filter` holds.
  CHECK(result.detections[5] == names{"not-explorer"});
  CHECK(result.detections[6] == names{"not-explorer"});
  CHECK(result.compiled.parts.size() == 2);
  CHECK(result.compiled.flux.rules.size() == 1);
}

TEST_CASE("engine: grandparent and ancestor context") {
  const std::string rules = R"(
title: whoami under a shell started by the launcher
id: gp
logsource: {category: process_creation, product: windows}
detection:
  sel:
    Image|endswith: '\whoami.exe'
    GrandParentCommandLine|contains|all: ['/c start', 'powershell']
  condition: sel
---
title: descends from Downloads
id: anc
logsource: {category: process_creation, product: windows}
detection:
  sel:
    AncestorImage|contains: '\Downloads\'
  condition: sel
---
title: recon not under diagnostics
id: anc-not
logsource: {category: process_creation, product: windows}
detection:
  sel:
    Image|endswith: '\whoami.exe'
  filter:
    AncestorCommandLine|contains: 'gatherNetworkInfo.vbs'
  condition: sel and not filter
)";
  const auto result =
      run(rules, carried_profile(),
          {proc("h", "1", "0", "C:\\Users\\u\\Downloads\\payload.exe", "payload"),
           proc("h", "2", "1", "C:\\Windows\\cmd.exe", "cmd /c start /b powershell"),
           proc("h", "3", "2", "C:\\Windows\\powershell.exe", "powershell -nop"),
           proc("h", "4", "3", "C:\\Windows\\whoami.exe", "whoami"),
           proc("h", "5", "0", "C:\\Windows\\cscript.exe", "cscript gatherNetworkInfo.vbs"),
           proc("h", "6", "5", "C:\\Windows\\cmd.exe", "cmd /c whoami"),
           proc("h", "7", "6", "C:\\Windows\\whoami.exe", "whoami"),
           // the middle event missing: no grandparent, no ancestry
           proc("h", "9", "8", "C:\\Windows\\whoami.exe", "whoami")});
  CHECK(result.detections[0].empty());  // Ancestor never matches the process itself
  CHECK(result.detections[1] == names{"anc"});
  CHECK(result.detections[2] == names{"anc"});
  CHECK(result.detections[3] == names{"gp", "anc", "anc-not"});
  CHECK(result.detections[6].empty());  // under the diagnostics script
  CHECK(result.detections[7] == names{"anc-not"});
  // One grandparent part, two hops; one ancestor rule for two parts.
  REQUIRE(result.compiled.flux.rules.size() == 3);
  CHECK(result.compiled.flux.rules[0].name == "sigma-grandparent-1");
  CHECK(result.compiled.flux.rules[1].name == "sigma-grandparent-2");
  CHECK(result.compiled.flux.rules[2].name == "sigma-ancestor");
}

TEST_CASE("engine: a mixed selection is split by context and ANDed") {
  const auto result = run(R"(
title: mixed
id: mixed
logsource: {category: process_creation, product: windows}
detection:
  sel:
    Image|endswith: '\whoami.exe'
    ParentImage|endswith: '\powershell.exe'
    ParentCommandLine|contains: '-enc'
    GrandParentImage|endswith: '\cmd.exe'
  condition: sel
)",
                          carried_profile(),
                          {proc("h", "1", "0", "C:\\cmd.exe", "cmd"),
                           proc("h", "2", "1", "C:\\powershell.exe", "powershell -enc x"),
                           proc("h", "3", "2", "C:\\whoami.exe", "whoami"),
                           proc("h", "4", "0", "C:\\powershell.exe", "powershell -enc x"),
                           proc("h", "5", "4", "C:\\whoami.exe", "whoami"),
                           proc("h", "6", "1", "C:\\powershell.exe", "powershell -nop"),
                           proc("h", "7", "6", "C:\\whoami.exe", "whoami")});
  CHECK(result.detections[2] == names{"mixed"});
  CHECK(result.detections[4].empty());  // no cmd grandparent
  CHECK(result.detections[6].empty());  // parent's command line lacks -enc
  // Both parent items form one part: they must hold on the same (parent) event.
  CHECK(result.compiled.parts.size() == 2);
}

TEST_CASE("compile: content-addressed tags, unsupported rules and skipped log sources") {
  auto rules = read_rules(R"(
title: a
id: a
logsource: {category: process_creation, product: windows}
detection:
  sel:
    ParentCommandLine|contains: 'x'
  condition: sel
---
title: b
id: b
logsource: {category: process_creation, product: windows}
detection:
  other:
    ParentCommandLine|contains: 'x'
  condition: other
---
title: unknown modifier
id: c
logsource: {category: process_creation, product: windows}
detection:
  sel:
    Image|sorcery: 'x'
  condition: sel
---
title: unknown identifier
id: d
logsource: {category: process_creation, product: windows}
detection:
  sel:
    Image: 'x'
  condition: sel and nothere
---
title: aggregation
id: e
logsource: {category: process_creation, product: windows}
detection:
  sel:
    Image: 'x'
  condition: sel | count() > 5
---
title: linux
id: f
logsource: {category: process_creation, product: linux}
detection:
  sel:
    Image: 'x'
  condition: sel
)",
                          "rules.yml");
  const auto c = compile(rules, carried_profile());
  REQUIRE(c.reports.size() == 6);
  CHECK(c.count(rule_status::ok) == 2);
  CHECK(c.count(rule_status::unsupported) == 3);
  CHECK(c.count(rule_status::skipped_logsource) == 1);
  CHECK(c.parts.size() == 1);  // a and b share one tag
  CHECK(c.parts[0].tag.size() == 17);
  CHECK(c.parts[0].tag[0] == 'p');
  CHECK(c.reports[2].reason.find("sorcery") != std::string::npos);
  CHECK(c.reports[3].reason.find("nothere") != std::string::npos);
  CHECK(c.reports[4].reason.find("aggregation") != std::string::npos);
  CHECK(c.reports[5].reason.find("linux") != std::string::npos);

  // The tag name depends on the part alone: compiling b alone gives the same name.
  const auto alone = compile(std::span(rules).subspan(1, 1), carried_profile());
  CHECK(alone.parts.at(0).tag == c.parts[0].tag);

  // A condition that does not parse is malformed input, with its location.
  auto bad = read_rules(R"(
title: bad
logsource: {category: process_creation, product: windows}
detection:
  sel:
    Image: x
  condition: sel and (
)",
                        "bad.yml");
  CHECK_THROWS_AS((void)compile(bad, carried_profile()), sigma_error);
}

TEST_CASE("describe: absent_field_warnings names items on fields the profile never has") {
  auto rules = read_rules(R"(
title: needs hashes
id: needs-hashes
logsource: {category: process_creation, product: windows}
detection:
  img:
    - Image|endswith: '\x.exe'
    - OriginalFileName: x.exe
  gp:
    GrandParentHashes|contains: 'MD5='
  condition: img and gp
---
title: tests absence
id: tests-absence
logsource: {category: process_creation, product: windows}
detection:
  a:
    OriginalFileName|exists: false
  b:
    Hashes: null
  condition: a and b
---
title: other source
id: other-source
logsource: {category: file_event, product: windows}
detection:
  a:
    OriginalFileName: x
  condition: a
)",
                          "w.yml");
  auto p = carried_profile();
  p.absent_fields = {"OriginalFileName", "Hashes"};
  const auto c = compile(rules, p);
  const auto warnings = absent_field_warnings(rules, c, p);
  REQUIRE(warnings.size() == 2);
  CHECK(warnings[0].identity == "needs-hashes");
  CHECK(warnings[0].field == "OriginalFileName");
  CHECK(warnings[0].where.line == 8);
  CHECK(warnings[1].field == "GrandParentHashes");  // read as Hashes on the grandparent
  CHECK(warnings[1].text.find("never have Hashes") != std::string::npos);
  const auto text = describe_rules(c, warnings);
  CHECK(text.find("  warning: w.yml:8:") != std::string::npos);
  CHECK(text.find("warnings: 2 (items on fields") != std::string::npos);
  p.absent_fields.clear();
  CHECK(absent_field_warnings(rules, c, p).empty());
  CHECK(describe_rules(c).find("warning") == std::string::npos);
}

TEST_CASE("describe: check output, generated spec and graph") {
  auto rules = read_rules(R"(
title: mixed
id: mixed
logsource: {category: process_creation, product: windows}
detection:
  sel:
    Image|endswith: '\whoami.exe'
    GrandParentCommandLine|contains: 'launcher'
  condition: sel
---
title: broken
id: broken
logsource: {category: process_creation, product: windows}
detection:
  sel:
    Image|sorcery: x
  condition: sel
)",
                          "d.yml");
  const auto c = compile(rules, carried_profile());
  const auto text = describe_rules(c);
  CHECK(text.find("rule mixed (d.yml:2") != std::string::npos);
  CHECK(text.find("Image|endswith: '\\whoami.exe'") != std::string::npos);
  CHECK(text.find("grandparent g") != std::string::npos);
  CHECK(text.find("rule broken (d.yml:") != std::string::npos);
  CHECK(text.find("unsupported: unknown modifier 'sorcery'") != std::string::npos);
  CHECK(text.find("summary: 1 rules compiled, 0 skipped (logsource), 1 unsupported") !=
        std::string::npos);
  CHECK(text.find("- rulename: \"sigma-grandparent-2\"") != std::string::npos);
  CHECK(text.find("exclusive: true") != std::string::npos);
  const auto dot = rules_graph(c);
  CHECK(dot.starts_with("digraph sigma {"));
  CHECK(dot.find("\"flux:sigma-grandparent-1\" -> \"flux:sigma-grandparent-2\"") !=
        std::string::npos);
  CHECK(dot.find("-> \"rule:mixed\"") != std::string::npos);
}
