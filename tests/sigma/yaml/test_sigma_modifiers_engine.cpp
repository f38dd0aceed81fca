// Every value modifier of the compiler (compile.hpp's decode_modifiers) and every
// condition form, through the engine, with the Sigma specification's own examples
// (sigma-rules-specification.md: escapes, wildcards, lists, maps, null/empty, exists,
// placeholders, keywords, conditions; sigma-appendix-modifiers.md: each modifier) and
// the built-in profiles security-4688 and ecs on hand-written events. Each case states
// its expected result and also checks that the naive evaluator
// (tests/sigma/naive_evaluator.hpp) agrees with the engine on every event.
#include <doctest/doctest.h>
#include <fluxcap/sigma/compile.hpp>
#include <fluxcap/sigma/engine.hpp>
#include <fluxcap/sigma/modifiers.hpp>
#include <fluxcap/sigma/yaml.hpp>
#if FLUXCAP_SIGMA_TEST_PCRE2
#include <fluxcap/sigma/pcre2.hpp>
#endif

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "naive_evaluator.hpp"

using namespace fluxcap::sigma;

namespace {

using event = dense_field_event;
using names = std::vector<std::string>;

#if FLUXCAP_SIGMA_TEST_PCRE2
using test_regex = pcre2_engine;
#else
using test_regex = no_regex;
#endif

/// A flat profile for single-event cases: the process's fields at the top level.
profile flat_profile() {
  profile p;
  p.name = "flat";
  p.source.category = "process_creation";
  p.group = "host";
  p.process_id = "pid";
  p.parent_id = "ppid";
  p.timestamp = "UtcTime";
  p.inline_parent_fields = {"ParentUser"};
  p.placeholders = {{"Administrators", {"admin", "root*"}}, {"name", {"x", "Y"}}};
  return p;
}

/// Rules (YAML, several documents) run over `events` by the engine (exact memory, one
/// state per group) and by the naive evaluator; CHECKs that they agree on each event
/// and that every rule compiled. Returns the identities fired per event.
std::vector<names> run(std::string_view rules_yaml, const std::vector<event>& events,
                       const profile& p = flat_profile()) {
  const auto rules = read_rules(rules_yaml, "test.yml");
  const auto compiled = compile(rules, p, {}, test_regex{});
  std::vector<bool> supported(rules.size(), false);
  for (const auto& r : compiled.reports) {
    INFO("rule " << r.identity << ": " << r.reason);
    CHECK(r.status == rule_status::ok);
    supported[r.source_index] = r.status == rule_status::ok;
  }
  engine<dense_fields, fluxcap::exact_memory, test_regex> eng(compiled);
  sigma_test::naive_evaluator<test_regex> naive(rules, p);
  auto scratch = eng.make_scratch();
  std::map<std::string, fluxcap::group_state> states;
  std::vector<names> out;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto group = std::string(eng.group_of(events[i], scratch).value_or(""));
    auto it = states.try_emplace(group, eng.make_state()).first;
    names fired;
    for (auto r : eng.process(it->second, events[i], scratch))
      fired.push_back(eng.compiled().rules[r].identity);
    INFO("event " << i);
    CHECK(fired == naive.process(events[i], supported));
    out.push_back(std::move(fired));
  }
  return out;
}

/// A rule `r` whose detection block is `detection` (indented by two spaces, with its
/// `condition:`).
std::string rule_doc(std::string_view detection, std::string_view id = "r") {
  return "title: t\nid: " + std::string(id) +
         "\nlogsource: {category: process_creation}\ndetection:\n" + std::string(detection);
}

/// One event with `fields` (path, text) as strings, in group h, pid P, parent X.
event ev(std::vector<std::pair<std::string, std::string>> fields) {
  event e;
  e.set("host", "h").set("pid", "P").set("ppid", "X");
  for (auto& [k, v] : fields) e.set(k, v);
  return e;
}

/// Whether a single-rule detection fires on each of `events` (engine == naive checked).
std::vector<bool> fires(std::string_view detection, const std::vector<event>& events,
                        const profile& p = flat_profile()) {
  std::vector<bool> out;
  for (const auto& fired : run(rule_doc(detection), events, p)) out.push_back(!fired.empty());
  return out;
}

using bools = std::vector<bool>;

/// The unsupported reason of a single-rule detection ("" when it compiled).
std::string unsupported_reason(std::string_view detection, const profile& p = flat_profile()) {
  const auto rules = read_rules(rule_doc(detection), "test.yml");
  const auto compiled = compile(rules, p, {}, test_regex{});
  REQUIRE(compiled.reports.size() == 1);
  if (compiled.reports[0].status != rule_status::unsupported) return "";
  CHECK(!compiled.reports[0].reason.empty());
  return compiled.reports[0].reason;
}

}  // namespace

TEST_CASE("spec escape table: backslashes and wildcards") {
  // "Plain backslash not followed by a wildcard can be expressed as single \ or double \\"
  CHECK(fires("  s:\n    Image: 'C:\\Windows\\x.exe'\n  condition: s\n",
              {ev({{"Image", "C:\\Windows\\x.exe"}}), ev({{"Image", "C:\\\\Windows\\\\x.exe"}})}) ==
        bools{true, false});
  CHECK(fires("  s:\n    Image: 'C:\\\\Windows\\\\x.exe'\n  condition: s\n",
              {ev({{"Image", "C:\\Windows\\x.exe"}}), ev({{"Image", "C:\\\\Windows\\\\x.exe"}})}) ==
        bools{true, false});
  // "A wildcard has to be escaped to be handled as a plain character": \* and \?
  CHECK(fires("  s:\n    Image: 'a\\*b\\?'\n  condition: s\n",
              {ev({{"Image", "a*b?"}}), ev({{"Image", "axbc"}})}) == bools{true, false});
  // "\\* ... a backslash followed by a wildcard"
  CHECK(fires("  s:\n    Image: 'a\\\\*'\n  condition: s\n",
              {ev({{"Image", "a\\"}}), ev({{"Image", "a\\anything"}}), ev({{"Image", "ab"}})}) ==
        bools{true, true, false});
  // "\\\* ... handle [both] as plain values"
  CHECK(fires("  s:\n    Image: 'a\\\\\\*'\n  condition: s\n",
              {ev({{"Image", "a\\*"}}), ev({{"Image", "a\\x"}})}) == bools{true, false});
  // "Three or four backslashes are handled as double backslash": \\\\ and \\\ are \\ .
  CHECK(fires("  s:\n    Image: 'a\\\\\\\\b'\n  condition: s\n",
              {ev({{"Image", "a\\\\b"}}), ev({{"Image", "a\\b"}})}) == bools{true, false});
  CHECK(fires("  s:\n    Image: 'a\\\\\\b'\n  condition: s\n",
              {ev({{"Image", "a\\\\b"}}), ev({{"Image", "a\\b"}})}) == bools{true, false});
}

TEST_CASE("spec wildcards, lists (OR), maps (AND) and case-insensitivity") {
  // prog?.exe: "progA.exe or progB.exe"; antivirus_V*.exe
  CHECK(fires("  s:\n    Image: 'prog?.exe'\n  condition: s\n",
              {ev({{"Image", "progA.exe"}}), ev({{"Image", "PROGB.EXE"}}),
               ev({{"Image", "prog.exe"}}), ev({{"Image", "progAB.exe"}})}) ==
        bools{true, true, false, false});
  CHECK(fires("  s:\n    Image: 'antivirus_V*.exe'\n  condition: s\n",
              {ev({{"Image", "antivirus_V1.exe"}}), ev({{"Image", "antivirus_V21.2.1.exe"}}),
               ev({{"Image", "antivirus_.exe"}})}) == bools{true, true, false});
  // Maps AND, lists OR: EventLog 'Security' and (EventID 517 or 1102).
  const std::string map =
      "  selection:\n    EventLog: Security\n    EventID:\n      - 517\n"
      "      - 1102\n  condition: selection\n";
  event n517 = ev({{"EventLog", "Security"}});
  n517.set("EventID", "517", value_kind::number);
  event n1102 = ev({{"EventLog", "security"}});
  n1102.set("EventID", "1102", value_kind::number);
  event text1102 = ev({{"EventLog", "Security"}, {"EventID", "1102"}});
  event other = ev({{"EventLog", "System"}});
  other.set("EventID", "517", value_kind::number);
  event n4688 = ev({{"EventLog", "Security"}});
  n4688.set("EventID", "4688", value_kind::number);
  CHECK(fires(map, {n517, n1102, text1102, other, n4688}) == bools{true, true, true, false, false});
  // The spec's string-valued TicketOptions '0x40810000' is text, not a number.
  CHECK(fires("  s:\n    EventID: 4769\n    TicketOptions: '0x40810000'\n  condition: s\n",
              {ev({{"EventID", "4769"}, {"TicketOptions", "0x40810000"}}),
               ev({{"EventID", "4769"}, {"TicketOptions", "0x40810001"}})}) == bools{true, false});
  // List of maps: Image endswith '\example.exe' or Description contains 'Test executable'.
  CHECK(fires("  selection:\n    - Image|endswith: '\\example.exe'\n"
              "    - Description|contains: 'Test executable'\n  condition: selection\n",
              {ev({{"Image", "C:\\x\\EXAMPLE.exe"}}), ev({{"Description", "a test executable!"}}),
               ev({{"Image", "C:\\x\\example.exe.bak"}})}) == bools{true, true, false});
  // A JSON array matches when any element does.
  event arr = ev({});
  arr.set_array("Image", {"a", "prog1.exe"});
  CHECK(fires("  s:\n    Image: 'prog?.exe'\n  condition: s\n", {arr}) == bools{true});
}

TEST_CASE("spec special values: null, empty, exists") {
  // "selection and not filter" with PasswordLastSet: null.
  const std::string not_null =
      "  selection:\n    EventID: 4738\n  filter:\n"
      "    PasswordLastSet: null\n  condition: selection and not filter\n";
  event set = ev({{"EventID", "4738"}, {"PasswordLastSet", "2024-01-01"}});
  event absent = ev({{"EventID", "4738"}});
  event json_null = ev({{"EventID", "4738"}});
  json_null.set("PasswordLastSet", "", value_kind::null);
  event empty = ev({{"EventID", "4738"}, {"PasswordLastSet", ""}});
  CHECK(fires(not_null, {set, absent, json_null, empty}) == bools{true, false, false, true});
  // selection_main and 1 of selection_empty*: FieldB '' or null.
  const std::string empty_or_null =
      "  selection_main:\n    FieldA: 'something'\n  selection_empty1:\n    FieldB: ''\n"
      "  selection_empty2:\n    FieldB: null\n  condition: selection_main and 1 of "
      "selection_empty*\n";
  event b_null = ev({{"FieldA", "something"}});
  b_null.set("FieldB", "", value_kind::null);
  CHECK(fires(empty_or_null,
              {ev({{"FieldA", "something"}, {"FieldB", ""}}), ev({{"FieldA", "something"}}), b_null,
               ev({{"FieldA", "something"}, {"FieldB", "x"}}),
               ev({{"FieldA", "other"}, {"FieldB", ""}})}) ==
        bools{true, true, true, false, false});
  // exists: presence only, "be it empty or null".
  const std::string exists =
      "  selection:\n    EventID: 4738\n    PasswordLastSet|exists: true\n"
      "  condition: selection\n";
  CHECK(fires(exists, {set, absent, json_null, empty}) == bools{true, false, true, true});
  CHECK(fires("  s:\n    EventID: 4738\n    PasswordLastSet|exists: false\n  condition: s\n",
              {set, absent, json_null}) == bools{false, true, false});
  // contains '' matches any present string, not an absent field.
  CHECK(fires("  s:\n    PasswordLastSet|contains: ''\n  condition: s\n", {set, absent, empty}) ==
        bools{true, false, true});
}

TEST_CASE("generic modifiers: contains, startswith, endswith, all, cased, neq") {
  const std::vector<event> events = {ev({{"CommandLine", "cmd.exe /c Whoami /all"}}),
                                     ev({{"CommandLine", "whoami"}}),
                                     ev({{"CommandLine", "powershell -enc"}})};
  CHECK(fires("  s:\n    CommandLine|contains: 'WHOAMI'\n  condition: s\n", events) ==
        bools{true, true, false});
  CHECK(fires("  s:\n    CommandLine|startswith: 'whoami'\n  condition: s\n", events) ==
        bools{false, true, false});
  CHECK(fires("  s:\n    CommandLine|endswith: '/ALL'\n  condition: s\n", events) ==
        bools{true, false, false});
  // all: every value (the order of parameters may vary).
  CHECK(fires("  s:\n    CommandLine|contains|all: ['/all', 'cmd']\n  condition: s\n", events) ==
        bools{true, false, false});
  CHECK(fires("  s:\n    CommandLine|contains: ['/all', 'enc']\n  condition: s\n", events) ==
        bools{true, false, true});
  // cased: case-sensitive.
  CHECK(fires("  s:\n    CommandLine|contains|cased: 'Whoami'\n  condition: s\n", events) ==
        bools{true, false, false});
  CHECK(fires("  s:\n    CommandLine|cased: 'whoami'\n  condition: s\n", events) ==
        bools{false, true, false});
  // neq: present, not null and different from every value.
  event absent = ev({});
  event null_value = ev({});
  null_value.set("CommandLine", "", value_kind::null);
  CHECK(fires("  s:\n    CommandLine|neq: ['whoami', 'powershell -enc']\n  condition: s\n",
              {events[0], events[1], events[2], absent, null_value}) ==
        bools{true, false, false, false, false});
  CHECK(fires("  s:\n    CommandLine|neq|contains: 'who'\n  condition: s\n", events) ==
        bools{false, false, true});
  // neq on numbers ("Field is not equal than the value").
  event n4 = ev({});
  n4.set("EventID", "4", value_kind::number);
  event n5 = ev({});
  n5.set("EventID", "5", value_kind::number);
  CHECK(fires("  s:\n    EventID|neq: 4\n  condition: s\n", {n4, n5}) == bools{false, true});
  // A single value with all is not allowed ("some back-ends cannot support it").
  CHECK(unsupported_reason("  s:\n    CommandLine|contains|all: 'a'\n  condition: s\n") != "");
  CHECK(unsupported_reason("  s:\n    CommandLine|contains|startswith: 'a'\n  condition: s\n") !=
        "");
}

TEST_CASE("windash: -, /, en dash, em dash and horizontal bar") {
  const std::string rule = "  s:\n    CommandLine|windash|contains: ' -exec '\n  condition: s\n";
  CHECK(fires(rule, {ev({{"CommandLine", "x -exec y"}}), ev({{"CommandLine", "x /exec y"}}),
                     ev({{"CommandLine",
                          "x \xe2\x80\x93"
                          "exec y"}}),
                     ev({{"CommandLine",
                          "x \xe2\x80\x94"
                          "exec y"}}),
                     ev({{"CommandLine",
                          "x \xe2\x80\x95"
                          "exec y"}}),
                     ev({{"CommandLine", "x \\exec y"}})}) ==
        bools{true, true, true, true, true, false});
  // A dash inside a word is not a flag (pySigma: `a-b` unchanged).
  CHECK(fires("  s:\n    CommandLine|windash|contains: 'a-b'\n  condition: s\n",
              {ev({{"CommandLine", "a-b"}}), ev({{"CommandLine", "a/b"}})}) == bools{true, false});
  // A flag written with '/' also expands.
  CHECK(fires("  s:\n    CommandLine|windash|startswith: '/c'\n  condition: s\n",
              {ev({{"CommandLine", "-c x"}}), ev({{"CommandLine", "/C x"}})}) == bools{true, true});
}

TEST_CASE("encodings: base64, base64offset, utf16le/be, utf16, wide") {
  // base64 'cmd' is 'Y21k'; base64 is case-sensitive text but matching folds case like
  // any value unless cased.
  CHECK(fires("  s:\n    CommandLine|base64: 'cmd'\n  condition: s\n",
              {ev({{"CommandLine", "Y21k"}}), ev({{"CommandLine", "cmd"}})}) == bools{true, false});
  CHECK(fires("  s:\n    CommandLine|base64|contains|cased: 'cmd'\n  condition: s\n",
              {ev({{"CommandLine", "xY21ky"}}), ev({{"CommandLine", "xy21ky"}})}) ==
        bools{true, false});
  // base64offset: the three shifts of a value inside a longer encoded text.
  const std::string offset =
      "  s:\n    CommandLine|base64offset|contains: 'http://'\n  condition: s\n";
  std::vector<event> encoded;
  for (const std::string prefix : {"", "a", "ab"})
    encoded.push_back(ev({{"CommandLine", base64_encode(prefix + "http://evil/x")}}));
  encoded.push_back(ev({{"CommandLine", base64_encode("ftp://evil/x")}}));
  CHECK(fires(offset, encoded) == bools{true, true, true, false});
  CHECK(base64offset_variants("http://") ==
        std::vector<std::string>{"aHR0cDovL", "h0dHA6Ly", "odHRwOi8v"});
  // utf16le: cmd > 63 00 6d 00 64 00; utf16be: 00 63 00 6d 00 64; utf16: FF FE 63 00 ...
  const std::string le("c\0m\0d\0", 6), be("\0c\0m\0d", 6), bom("\xff\xfe", 2);
  const std::vector<event> wide = {ev({{"CommandLine", le}}), ev({{"CommandLine", be}}),
                                   ev({{"CommandLine", bom + le}}), ev({{"CommandLine", "cmd"}})};
  CHECK(fires("  s:\n    CommandLine|utf16le: 'cmd'\n  condition: s\n", wide) ==
        bools{true, false, false, false});
  CHECK(fires("  s:\n    CommandLine|wide: 'cmd'\n  condition: s\n", wide) ==
        bools{true, false, false, false});
  CHECK(fires("  s:\n    CommandLine|utf16be: 'cmd'\n  condition: s\n", wide) ==
        bools{false, true, false, false});
  CHECK(fires("  s:\n    CommandLine|utf16: 'cmd'\n  condition: s\n", wide) ==
        bools{false, false, true, false});
  CHECK(fires("  s:\n    CommandLine|utf16le|contains: 'cmd'\n  condition: s\n", wide) ==
        bools{true, false, true, false});
  // A wildcard inside a utf16 value: one byte-order mark in front, not one per literal run.
  const std::string cmd_wide = bom + le;
  CHECK(fires("  s:\n    CommandLine|utf16: 'c*d'\n  condition: s\n",
              {ev({{"CommandLine", cmd_wide}}), ev({{"CommandLine", le}})}) == bools{true, false});
  CHECK(fires("  s:\n    CommandLine|utf16be|endswith: 'c*d'\n  condition: s\n",
              {ev({{"CommandLine", be}}), ev({{"CommandLine", le}})}) == bools{true, false});
  // The PowerShell -EncodedCommand form: UTF-16LE, then base64offset.
  const std::string ps =
      "  s:\n    CommandLine|wide|base64offset|contains: 'IEX'\n  condition: s\n";
  CHECK(
      fires(ps, {ev({{"CommandLine", "powershell -enc " + base64_encode(encode_utf16(
                                                              "x IEX(y)", modifier::utf16le))}}),
                 ev({{"CommandLine", base64_encode(encode_utf16("xy IEX(y)", modifier::utf16le))}}),
                 ev({{"CommandLine", base64_encode("IEX")}})}) == bools{true, true, false});
  // base64 of a wildcard cannot be matched.
  CHECK(unsupported_reason("  s:\n    CommandLine|base64: 'a*'\n  condition: s\n") != "");
}

TEST_CASE("re with i, m, s and anchors") {
#if FLUXCAP_SIGMA_TEST_PCRE2
  const std::vector<event> events = {ev({{"CommandLine", "net user Admin /add"}}),
                                     ev({{"CommandLine", "NET USER admin /ADD"}}),
                                     ev({{"CommandLine", "line1\nnet user x\nline3"}})};
  // "Regex is matched case-sensitive by default."
  CHECK(fires("  s:\n    CommandLine|re: 'net user .* /add'\n  condition: s\n", events) ==
        bools{true, false, false});
  CHECK(fires("  s:\n    CommandLine|re|i: 'net user .* /add'\n  condition: s\n", events) ==
        bools{true, true, false});
  // m: ^ and $ at line boundaries.
  CHECK(fires("  s:\n    CommandLine|re: '^net user x$'\n  condition: s\n", events) ==
        bools{false, false, false});
  CHECK(fires("  s:\n    CommandLine|re|m: '^net user x$'\n  condition: s\n", events) ==
        bools{false, false, true});
  // s: dot matches newline.
  CHECK(fires("  s:\n    CommandLine|re: 'line1.net'\n  condition: s\n", events) ==
        bools{false, false, false});
  CHECK(fires("  s:\n    CommandLine|re|s: 'line1.net'\n  condition: s\n", events) ==
        bools{false, false, true});
  CHECK(fires("  s:\n    CommandLine|re|i|m|s: '^LINE1.NET USER X$'\n  condition: s\n", events) ==
        bools{false, false, true});
  // The spec's metacharacters: classes, quantifiers, alternation, grouping.
  CHECK(fires("  s:\n    CommandLine|re: '(net|NET) [a-z]{4} [^ ]+ /(add|ADD)'\n  condition: s\n",
              events) == bools{true, false, false});
  CHECK(fires("  s:\n    CommandLine|re: '(net|NET) [a-zA-Z]{4} [^ ]+ /(add|ADD)'\n"
              "  condition: s\n",
              events) == bools{true, true, false});
  // startswith/endswith with re anchor the pattern.
  CHECK(fires("  s:\n    CommandLine|re|startswith: 'user'\n  condition: s\n", events) ==
        bools{false, false, false});
  CHECK(fires("  s:\n    CommandLine|re|startswith: 'net'\n  condition: s\n", events) ==
        bools{true, false, false});
  CHECK(fires("  s:\n    CommandLine|re|endswith: '/a.d'\n  condition: s\n", events) ==
        bools{true, false, false});
  // neq with re; an invalid regex is unsupported with PCRE2's reason.
  CHECK(fires("  s:\n    CommandLine|re|neq: 'add'\n  condition: s\n", events) ==
        bools{false, true, true});
  CHECK(unsupported_reason("  s:\n    CommandLine|re: 'a(b'\n  condition: s\n") != "");
  CHECK(unsupported_reason("  s:\n    CommandLine|i: 'a'\n  condition: s\n") != "");
#else
  MESSAGE("PCRE2 not built: re rules are unsupported");
  CHECK(unsupported_reason("  s:\n    CommandLine|re: 'a'\n  condition: s\n") != "");
#endif
}

TEST_CASE("numeric modifiers: lt, lte, gt, gte") {
  std::vector<event> events;
  for (const char* n : {"1", "2", "3", "2.5"}) {
    event e = ev({});
    e.set("Level", n, value_kind::number);
    events.push_back(e);
  }
  events.push_back(ev({{"Level", "3"}}));      // a number as text
  events.push_back(ev({{"Level", "three"}}));  // not a number
  CHECK(fires("  s:\n    Level|lt: 2\n  condition: s\n", events) ==
        bools{true, false, false, false, false, false});
  CHECK(fires("  s:\n    Level|lte: 2\n  condition: s\n", events) ==
        bools{true, true, false, false, false, false});
  CHECK(fires("  s:\n    Level|gt: 2\n  condition: s\n", events) ==
        bools{false, false, true, true, true, false});
  CHECK(fires("  s:\n    Level|gte: 2.5\n  condition: s\n", events) ==
        bools{false, false, true, true, true, false});
  CHECK(unsupported_reason("  s:\n    Level|gt: 'abc'\n  condition: s\n") != "");
  CHECK(unsupported_reason("  s:\n    Level|gt|contains: 1\n  condition: s\n") != "");
}

TEST_CASE("time modifiers: minute, hour, day, week, month, year") {
  // 2024-02-29 is a Thursday of ISO week 9.
  const std::vector<event> events = {
      ev({{"UtcTime", "2024-02-29 12:30:45.123"}}), ev({{"UtcTime", "2024-02-29T12:30:45Z"}}),
      ev({{"UtcTime", "2023-12-31T23:59:00Z"}}), ev({{"UtcTime", "not a time"}})};
  CHECK(fires("  s:\n    UtcTime|minute: 30\n  condition: s\n", events) ==
        bools{true, true, false, false});
  CHECK(fires("  s:\n    UtcTime|hour: 23\n  condition: s\n", events) ==
        bools{false, false, true, false});
  CHECK(fires("  s:\n    UtcTime|day: 29\n  condition: s\n", events) ==
        bools{true, true, false, false});
  CHECK(fires("  s:\n    UtcTime|week: 9\n  condition: s\n", events) ==
        bools{true, true, false, false});
  // 2023-12-31 is a Sunday: ISO week 52 of 2023.
  CHECK(fires("  s:\n    UtcTime|week: 52\n  condition: s\n", events) ==
        bools{false, false, true, false});
  CHECK(fires("  s:\n    UtcTime|month: 2\n  condition: s\n", events) ==
        bools{true, true, false, false});
  CHECK(fires("  s:\n    UtcTime|year: 2023\n  condition: s\n", events) ==
        bools{false, false, true, false});
  CHECK(fires("  s:\n    UtcTime|hour: [1, 12]\n  condition: s\n", events) ==
        bools{true, true, false, false});
  CHECK(unsupported_reason("  s:\n    UtcTime|hour: 1.5\n  condition: s\n") != "");
}

TEST_CASE("cidr: IPv4 and IPv6") {
  const std::vector<event> events = {
      ev({{"DestinationIp", "10.1.2.3"}}), ev({{"DestinationIp", "11.0.0.1"}}),
      ev({{"DestinationIp", "fe80::1"}}), ev({{"DestinationIp", "not an ip"}})};
  CHECK(fires("  s:\n    DestinationIp|cidr: 10.0.0.0/8\n  condition: s\n", events) ==
        bools{true, false, false, false});
  CHECK(fires("  s:\n    DestinationIp|cidr: ['10.0.0.0/8', 'fe80::/10']\n  condition: s\n",
              events) == bools{true, false, true, false});
  CHECK(unsupported_reason("  s:\n    DestinationIp|cidr: 'x/8'\n  condition: s\n") != "");
}

TEST_CASE("fieldref: equal, anchored and cased comparisons of two fields") {
  const std::vector<event> events = {ev({{"TargetUser", "Bob"}, {"SubjectUser", "bob"}}),
                                     ev({{"TargetUser", "alice"}, {"SubjectUser", "bob"}}),
                                     ev({{"TargetUser", "bob.admin"}, {"SubjectUser", "Bob"}}),
                                     ev({{"TargetUser", "bob"}})};
  CHECK(fires("  s:\n    TargetUser|fieldref: SubjectUser\n  condition: s\n", events) ==
        bools{true, false, false, false});
  CHECK(fires("  s:\n    TargetUser|fieldref|cased: SubjectUser\n  condition: s\n", events) ==
        bools{false, false, false, false});
  CHECK(fires("  s:\n    TargetUser|fieldref|startswith: SubjectUser\n  condition: s\n", events) ==
        bools{true, false, true, false});
  CHECK(fires("  s:\n    TargetUser|fieldref|contains: SubjectUser\n  condition: s\n", events) ==
        bools{true, false, true, false});
  CHECK(fires("  s:\n    TargetUser|fieldref|endswith: SubjectUser\n  condition: s\n", events) ==
        bools{true, false, false, false});
  // "Can be combined with the neq modifier."
  CHECK(fires("  s:\n    TargetUser|fieldref|neq: SubjectUser\n  condition: s\n", events) ==
        bools{false, true, true, true});
  // Across two processes: only boolean context is carried.
  CHECK(unsupported_reason("  s:\n    Image|fieldref: ParentImage\n  condition: s\n") != "");
}

TEST_CASE("expand: placeholders from the profile") {
  // `%Administrators%` is {admin, root*} in flat_profile.
  CHECK(fires("  s:\n    User|expand: '%Administrators%'\n  condition: s\n",
              {ev({{"User", "ADMIN"}}), ev({{"User", "rootkit"}}), ev({{"User", "user"}}),
               ev({{"User", "%Administrators%"}})}) == bools{true, true, false, false});
  // Without expand, "field: %name%" is a literal value.
  CHECK(fires("  s:\n    User: '%name%'\n  condition: s\n",
              {ev({{"User", "%name%"}}), ev({{"User", "x"}})}) == bools{true, false});
  // "field|expand: \%plain%name%": %plain plain, %name% a placeholder ({x, Y}).
  CHECK(fires("  s:\n    User|expand: '\\%plain%name%'\n  condition: s\n",
              {ev({{"User", "%plainx"}}), ev({{"User", "%plainy"}}), ev({{"User", "%plain%name%"}}),
               ev({{"User", "plainx"}})}) == bools{true, true, false, false});
  CHECK(fires("  s:\n    User|expand|contains: 'a%name%b'\n  condition: s\n",
              {ev({{"User", "-AxB-"}}), ev({{"User", "ayb"}}), ev({{"User", "azb"}})}) ==
        bools{true, true, false});
  // "If the tool isn't able to handle placeholders, it must reject the rule."
  CHECK(unsupported_reason("  s:\n    User|expand: '%Servers%'\n  condition: s\n") != "");
}

TEST_CASE("keywords: lists OR, '|all' AND, modifiers in the keyword key") {
  const std::vector<event> events = {
      ev({{"Message", "EVENT::CLEAR done"}}), ev({{"A", "x event::drop"}, {"B", "y"}}),
      ev({{"Message", "Set-OabVirtualDirectory -ExternalUrl https://x"}}),
      ev({{"A", "OabVirtualDirectory"}, {"B", " -ExternalUrl "}}), ev({{"Message", "nothing"}})};
  CHECK(fires("  mimikatz_keywords:\n    - 'event::clear'\n    - 'event::drop'\n"
              "  condition: mimikatz_keywords\n",
              events) == bools{true, true, false, false, false});
  // '|all': every keyword, each in any string of the event.
  CHECK(fires("  keywords_cmdlet:\n    '|all':\n      - 'OabVirtualDirectory'\n"
              "      - ' -ExternalUrl '\n  condition: keywords_cmdlet\n",
              events) == bools{false, false, true, true, false});
  // A single-string keyword identifier.
  CHECK(fires("  k: 'nothing'\n  condition: k\n", events) ==
        bools{false, false, false, false, true});
  // Modifiers in the key apply as for fields: cased, startswith.
  CHECK(fires("  k:\n    '|cased':\n      - 'EVENT::'\n  condition: k\n", events) ==
        bools{true, false, false, false, false});
  CHECK(fires("  k:\n    '|startswith':\n      - 'event'\n  condition: k\n", events) ==
        bools{true, false, false, false, false});
  CHECK(fires("  k:\n    '|windash':\n      - '/ExternalUrl'\n  condition: k\n", events) ==
        bools{false, false, true, true, false});
}

TEST_CASE("conditions: every form and the precedence") {
  const std::string det =
      "  sel_a:\n    A: 'a'\n  sel_b:\n    B: 'b'\n  filter_c:\n    C: 'c'\n"
      "  _hidden:\n    D: 'd'\n";
  // Events: bits of (A, B, C, D) present.
  std::vector<event> events;
  for (int m = 0; m < 16; ++m) {
    event e = ev({});
    if (m & 1) e.set("A", "a");
    if (m & 2) e.set("B", "b");
    if (m & 4) e.set("C", "c");
    if (m & 8) e.set("D", "d");
    events.push_back(e);
  }
  const auto truth = [&](std::string_view condition, auto expected) {
    INFO("condition: " << condition);
    bools want;
    for (int m = 0; m < 16; ++m)
      want.push_back(expected((m & 1) != 0, (m & 2) != 0, (m & 4) != 0, (m & 8) != 0));
    CHECK(fires(det + "  condition: " + std::string(condition) + "\n", events) == want);
  };
  truth("sel_a or sel_b", [](bool a, bool b, bool, bool) { return a || b; });
  truth("sel_a and sel_b", [](bool a, bool b, bool, bool) { return a && b; });
  truth("not sel_a", [](bool a, bool, bool, bool) { return !a; });
  truth("1 of them", [](bool a, bool b, bool c, bool) { return a || b || c; });  // not _hidden
  truth("any of them", [](bool a, bool b, bool c, bool) { return a || b || c; });
  truth("all of them", [](bool a, bool b, bool c, bool) { return a && b && c; });
  truth("all of sel_*", [](bool a, bool b, bool, bool) { return a && b; });
  truth("1 of sel_* and not 1 of filter_*",
        [](bool a, bool b, bool c, bool) { return (a || b) && !c; });
  truth("1 of sel_* and _hidden", [](bool a, bool b, bool, bool d) { return (a || b) && d; });
  truth("1 of _hid*", [](bool, bool, bool, bool d) { return d; });
  truth("sel_a and (filter_c or _hidden)",
        [](bool a, bool, bool c, bool d) { return a && (c || d); });
  // Precedence: or < and < not.
  truth("sel_a or sel_b and filter_c", [](bool a, bool b, bool c, bool) { return a || (b && c); });
  truth("not sel_a and sel_b", [](bool a, bool b, bool, bool) { return !a && b; });
  truth("not (sel_a or sel_b)", [](bool a, bool b, bool, bool) { return !(a || b); });
  truth("not 1 of sel_* or filter_c", [](bool a, bool b, bool c, bool) { return !(a || b) || c; });
  // A list of conditions: their OR.
  CHECK(fires(det + "  condition:\n    - sel_a and sel_b\n    - filter_c\n", events) == [&] {
    bools want;
    for (int m = 0; m < 16; ++m) want.push_back(((m & 3) == 3) || (m & 4) != 0);
    return want;
  }());
}

TEST_CASE("context: Parent, GrandParent and Ancestor fields on a process tree") {
  auto p = flat_profile();
  const std::string rules =
      rule_doc(
          "  s:\n    ParentImage|endswith: '\\cmd.exe'\n    Image|endswith: '\\whoami.exe'\n"
          "  condition: s\n",
          "parent") +
      "---\n" +
      rule_doc("  s:\n    GrandParentImage|endswith: '\\winword.exe'\n  condition: s\n", "grand") +
      "---\n" +
      rule_doc(
          "  s:\n    AncestorImage|endswith: '\\winword.exe'\n    Image|endswith: "
          "'\\whoami.exe'\n  condition: s\n",
          "ancestor") +
      "---\n" + rule_doc("  s:\n    ParentUser: 'bob'\n  condition: s\n", "inline");
  const auto proc = [](std::string pid, std::string ppid, std::string image) {
    event e;
    e.set("host", "h").set("pid", pid).set("ppid", ppid).set("Image", image);
    return e;
  };
  std::vector<event> events = {proc("1", "0", "C:\\winword.exe"), proc("2", "1", "C:\\cmd.exe"),
                               proc("3", "2", "C:\\whoami.exe"), proc("4", "3", "C:\\whoami.exe"),
                               proc("5", "9", "C:\\whoami.exe")};
  events.back().set("ParentUser", "Bob");
  const auto got = run(rules, events, p);
  CHECK(got ==
        std::vector<names>{{}, {}, {"parent", "grand", "ancestor"}, {"ancestor"}, {"inline"}});
}

TEST_CASE("profile security-4688: hex ids, mapped fields, the parent's command line") {
  const auto p = *builtin_profile("security-4688");
  const auto proc = [](std::string pid, std::string creator, std::string name,
                       std::string command_line) {
    event e;
    e.set("Computer", "ws1")
        .set("NewProcessId", pid)
        .set("ProcessId", creator)
        .set("NewProcessName", name)
        .set("CommandLine", command_line);
    return e;
  };
  const std::string rules =
      rule_doc(
          "  s:\n    Image|endswith: '\\whoami.exe'\n    ParentCommandLine|contains: "
          "'/c evil'\n  condition: s\n",
          "parent-cmd") +
      "---\n" +
      rule_doc("  s:\n    ParentImage|endswith: '\\cmd.exe'\n  condition: s\n", "parent-image") +
      "---\n" + rule_doc("  s:\n    ProcessId: '0x1a4'\n  condition: s\n", "pid");
  std::vector<event> events = {
      proc("0x1a4", "0x3e8", "C:\\Windows\\System32\\cmd.exe", "cmd.exe /c evil"),
      // The creator's id in upper-case hex is the same process (ids are case-folded).
      proc("0x1b0", "0x1A4", "C:\\Windows\\System32\\whoami.exe", "whoami"),
      proc("0x1b4", "0x1a5", "C:\\Windows\\System32\\whoami.exe", "whoami")};
  events[1].set("ParentProcessName", "C:\\Windows\\System32\\cmd.exe");
  const auto got = run(rules, events, p);
  CHECK(got == std::vector<names>{{"pid"}, {"parent-cmd", "parent-image"}, {}});
}

TEST_CASE("profile ecs: nested paths, case-sensitive ids") {
  const auto p = *builtin_profile("ecs");
  const auto proc = [](std::string id, std::string parent, std::string exe, std::string cmd) {
    event e;
    e.set("host.name", "h1")
        .set("process.entity_id", id)
        .set("process.parent.entity_id", parent)
        .set("process.executable", exe)
        .set("process.command_line", cmd)
        .set("user.name", "svc");
    return e;
  };
  const std::string rules =
      rule_doc("  s:\n    CommandLine|contains: 'whoami'\n    User: 'SVC'\n  condition: s\n",
               "self") +
      "---\n" +
      rule_doc("  s:\n    ParentCommandLine|contains: 'cmd'\n  condition: s\n", "inline-parent") +
      "---\n" +
      rule_doc("  s:\n    GrandParentImage|endswith: '/bash'\n  condition: s\n", "grandparent");
  std::vector<event> events = {
      proc("Aa", "root", "/bin/bash", "bash"), proc("Bb", "Aa", "/bin/sh", "sh -c cmd"),
      proc("Cc", "Bb", "/usr/bin/whoami", "whoami"), proc("Dd", "bB", "/usr/bin/id", "id")};
  events[2].set("process.parent.command_line", "sh -c cmd");
  // Entity ids are case-sensitive in ECS: "bB" is not "Bb", so Dd has no grandparent.
  const auto got = run(rules, events, p);
  CHECK(got == std::vector<names>{{}, {}, {"self", "inline-parent", "grandparent"}, {}});
}
