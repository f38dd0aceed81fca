// Unit tests of the tool's Sigma field reader (tools/fluxcap/sigma_fields.hpp): values
// of every kind, dotted keys at every split, escapes, arrays, duplicates, bad lines and
// limits, real Sysmon and evtx_dump events (skipped without realdata), and a comparison
// with a DOM reference (sigma_fields_reference.hpp) on random small documents.
#include "../../tools/fluxcap/sigma_fields.hpp"
#include "sigma_fields_reference.hpp"

#include <doctest/doctest.h>

#include <simdjson.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

using fluxcap::sigma::field_path;
using fluxcap::sigma::value_kind;
using fluxcap_cli::json_field_event;
using fluxcap_cli::json_fields;
using fluxcap_cli::json_fields_limits;

struct owned_value {
  value_kind kind;
  std::string text;
  bool operator==(const owned_value&) const = default;
};

/// The values of `h`, or nullopt when absent.
std::optional<std::vector<owned_value>> values(const json_fields& f, const json_field_event& e,
                                               json_fields::field_handle h) {
  std::vector<owned_value> out;
  if (!f.read(e, h, [&](fluxcap::sigma::field_value v) {
        out.push_back({v.kind, std::string(v.text)});
      }))
    return std::nullopt;
  return out;
}

std::vector<owned_value> one(value_kind k, std::string text = {}) {
  return {owned_value{k, std::move(text)}};
}

std::filesystem::path realdata() {
  std::filesystem::path p = FLUXCAP_DEFAULT_REALDATA;
  if (const char* env = std::getenv("FLUXCAP_REALDATA")) p = env;
  std::error_code ec;
  return std::filesystem::is_directory(p, ec) ? p : std::filesystem::path{};
}

/// Parses `line` with `f`; fails the test on a bad line.
json_field_event parsed(json_fields& f, std::string_view line) {
  json_field_event e;
  std::string problem;
  const bool ok = f.parse(line, e, problem);
  INFO(problem);
  REQUIRE(ok);
  return e;
}

}  // namespace

TEST_CASE("sigma fields: a flat Sysmon line") {
  json_fields f;
  const auto image = f.field_handle_for(field_path::parse("Image"));
  const auto cmd = f.field_handle_for(field_path::parse("CommandLine"));
  const auto id = f.field_handle_for(field_path::parse("EventID"));
  const auto user = f.field_handle_for(field_path::parse("ParentUser"));
  CHECK(f.field_handle_for(field_path::parse("Image")) == image);
  const std::string line =
      R"({"EventID":1,"Image":"C:\\Windows\\System32\\cmd.exe","Hostname":"ws1",)"
      R"("CommandLine":"cmd.exe /c \"echo hi\"","Message":"Process Create:\r\nImage: x"})";
  const auto e = parsed(f, line);
  CHECK(values(f, e, image) == one(value_kind::string, R"(C:\Windows\System32\cmd.exe)"));
  CHECK(values(f, e, cmd) == one(value_kind::string, R"(cmd.exe /c "echo hi")"));
  CHECK(values(f, e, id) == one(value_kind::number, "1"));
  CHECK_FALSE(values(f, e, user).has_value());
  std::vector<std::string_view> strings;
  f.for_each_string(e, [&](std::string_view s) { strings.push_back(s); });
  CHECK(strings.empty());  // not enabled
}

TEST_CASE("sigma fields: nested ECS-like documents and dotted keys at every split") {
  json_fields f;
  const auto abc = f.field_handle_for(field_path::parse("a.b.c"));
  const auto cmd = f.field_handle_for(field_path::parse("process.command_line"));
  const auto parent = f.field_handle_for(field_path::parse("process.parent.name"));
  for (const char* line :
       {R"({"a":{"b":{"c":"v"}}})", R"({"a.b":{"c":"v"}})", R"({"a":{"b.c":"v"}})",
        R"({"a.b.c":"v"})", R"({"x":{"a":{"b":{"c":"w"}}},"a":{"q":1,"b":{"d":2,"c":"v"}}})"}) {
    CAPTURE(line);
    const auto e = parsed(f, line);
    CHECK(values(f, e, abc) == one(value_kind::string, "v"));
  }
  // Near misses: a longer key, a key that only starts like a segment, an array on the way.
  for (const char* line : {R"({"a":{"bb":{"c":"v"}}})", R"({"a.bc":"v"})", R"({"a.b.c.d":"v"})",
                           R"({"a":[{"b":{"c":"v"}}]})", R"({"ab.c":"v"})"}) {
    CAPTURE(line);
    const auto e = parsed(f, line);
    CHECK_FALSE(values(f, e, abc).has_value());
  }
  const auto e = parsed(f, R"({"@timestamp":"t","process":{"pid":4,"command_line":"a b",)"
                           R"("parent":{"name":"explorer.exe","pid":3}},"host":{"name":"h"}})");
  CHECK(values(f, e, cmd) == one(value_kind::string, "a b"));
  CHECK(values(f, e, parent) == one(value_kind::string, "explorer.exe"));
  // A literal dot in a segment (`\.`) matches only a key holding the dot.
  json_fields g;
  const auto literal = g.field_handle_for(field_path::parse(R"(a\.b)"));
  CHECK_FALSE(values(g, parsed(g, R"({"a":{"b":1}})"), literal).has_value());
  CHECK(values(g, parsed(g, R"({"a.b":1})"), literal) == one(value_kind::number, "1"));
}

TEST_CASE("sigma fields: escapes, numbers, literals, nulls, objects, arrays") {
  json_fields f;
  const auto s = f.field_handle_for(field_path::parse("s"));
  const auto n = f.field_handle_for(field_path::parse("n"));
  const auto t = f.field_handle_for(field_path::parse("t"));
  const auto z = f.field_handle_for(field_path::parse("z"));
  const auto o = f.field_handle_for(field_path::parse("o"));
  const auto a = f.field_handle_for(field_path::parse("a"));
  const auto empty = f.field_handle_for(field_path::parse("empty"));
  const auto missing = f.field_handle_for(field_path::parse("missing"));
  auto e = parsed(f, R"({"s":"nul\u0000 pair\ud83d\ude00 quote\" tab\t e\u00e9/\/",)"
                     R"( "n" : -1.5e3 , "t":true,"z":null,"o":{"k":[1,{"x":2}]},)"
                     R"("a":[1,"x\\y",null,false,{"k":1},[2,3],-0.5E+2],"empty":[]})");
  CHECK(values(f, e, s) ==
        one(value_kind::string,
            std::string("nul\0 pair\xf0\x9f\x98\x80 quote\" tab\t e\xc3\xa9//", 31)));
  CHECK(values(f, e, n) == one(value_kind::number, "-1.5e3"));
  CHECK(values(f, e, t) == one(value_kind::boolean, "true"));
  CHECK(values(f, e, z) == one(value_kind::null));
  CHECK(values(f, e, o) == one(value_kind::other));
  CHECK(values(f, e, a) == std::vector<owned_value>{{value_kind::number, "1"},
                                                    {value_kind::string, "x\\y"},
                                                    {value_kind::null, ""},
                                                    {value_kind::boolean, "false"},
                                                    {value_kind::other, ""},
                                                    {value_kind::other, ""},
                                                    {value_kind::number, "-0.5E+2"}});
  CHECK(values(f, e, empty) == std::vector<owned_value>{});
  CHECK_FALSE(values(f, e, missing).has_value());
  // The event is reused: nothing of the previous line is left.
  std::string problem;
  REQUIRE(f.parse(R"({"n":7 })", e, problem));
  CHECK(values(f, e, n) == one(value_kind::number, "7"));
  CHECK_FALSE(values(f, e, s).has_value());
}

TEST_CASE("sigma fields: a path that is a prefix of another") {
  json_fields f;
  const auto ab = f.field_handle_for(field_path::parse("a.b"));
  const auto abc = f.field_handle_for(field_path::parse("a.b.c"));
  auto e = parsed(f, R"({"a":{"b":{"c":"x","d":1}}})");
  CHECK(values(f, e, ab) == one(value_kind::other));
  CHECK(values(f, e, abc) == one(value_kind::string, "x"));
  e = parsed(f, R"({"a":{"b":"y"}})");
  CHECK(values(f, e, ab) == one(value_kind::string, "y"));
  CHECK_FALSE(values(f, e, abc).has_value());
  e = parsed(f, R"({"a.b":{"c":3}})");
  CHECK(values(f, e, ab) == one(value_kind::other));
  CHECK(values(f, e, abc) == one(value_kind::number, "3"));
}

TEST_CASE("sigma fields: duplicates of a bound path make a bad line, others do not") {
  json_fields f;
  f.field_handle_for(field_path::parse("a.b"));
  std::string problem;
  json_field_event e;
  CHECK_FALSE(f.parse(R"({"a":{"b":1,"b":2}})", e, problem));
  CHECK(problem == "duplicate field 'a.b'");
  CHECK_FALSE(f.parse(R"({"a.b":1,"a":{"b":2}})", e, problem));
  CHECK(problem == "duplicate field 'a.b'");
  CHECK(f.parse(R"({"x":1,"x":2,"a":{"c":1,"c":2,"b":3}})", e, problem));
}

TEST_CASE("sigma fields: every string of the line, when enabled") {
  json_fields f;
  f.enable_all_strings();
  const auto k = f.field_handle_for(field_path::parse("k"));
  const auto e = parsed(f, R"({"k":"one","n":1,"o":{"key":"two","a":["th\"ree",{"x":"four"},)"
                           R"([["five"]],6]},"m":"six"})");
  std::vector<std::string> strings;
  f.for_each_string(e, [&](std::string_view s) { strings.emplace_back(s); });
  CHECK(strings == std::vector<std::string>{"one", "two", "th\"ree", "four", "five", "six"});
  CHECK(values(f, e, k) == one(value_kind::string, "one"));
  // A copy binds the same paths and parses on its own.
  json_fields copy = f;
  const auto e2 = parsed(copy, R"({"k":"x"})");
  CHECK(values(copy, e2, k) == one(value_kind::string, "x"));
  CHECK(values(f, e, k) == one(value_kind::string, "one"));
}

TEST_CASE("sigma fields: bad lines are errors, never crashes") {
  json_fields f;
  f.enable_all_strings();
  f.field_handle_for(field_path::parse("a"));
  f.field_handle_for(field_path::parse("a.b"));
  const std::vector<std::string> bad = {
      "",
      "   ",
      "[1,2]",
      "\"text\"",
      "{",
      R"({"a":})",
      R"({"a":1} x)",
      R"({"a":1}{"b":2})",
      R"({"a":"\q"})",
      R"({"a":"\ud800"})",
      R"({"a":"\udc00x"})",
      R"({"a":"\u12"})",
      R"({"a":tru})",
      R"({"a":01})",
      R"({"a":-})",
      R"({"a":1.})",
      R"({"a":[1,2})",
      R"({"a":{"b":nul}})",
      std::string("{\"a\":\"x\0y\"}", 11),
      std::string("{\"a\":1}\0", 8),
      "{\"a\":" + std::string(3000, '[') + std::string(3000, ']') + "}",
      "{\"b\":" + std::string(3000, '[') + std::string(3000, ']') + "}",
  };
  for (const auto& line : bad) {
    CAPTURE(line.substr(0, 60));
    json_field_event e;
    std::string problem;
    CHECK_FALSE(f.parse(line, e, problem));
    CHECK_FALSE(problem.empty());
  }
  json_field_event e;
  std::string problem;
  CHECK_FALSE(f.parse(R"({"a":"\ud800"})", e, problem));
  CHECK(problem == "not valid JSON (invalid escape in a string)");
  CHECK_FALSE(f.parse(R"({"a":[1,"x"]})" + std::string(1, '\0'), e, problem));
  CHECK(problem == "not valid JSON (a NUL byte at byte 14)");
  CHECK_FALSE(f.parse("[]", e, problem));
  CHECK(problem == "not a JSON object");
}

TEST_CASE("sigma fields: limits") {
  json_fields_limits limits;
  limits.max_depth = 4;
  limits.max_values_per_path = 3;
  limits.max_line_bytes = 100;
  json_fields f(limits);
  const auto a = f.field_handle_for(field_path::parse("a.b.c"));
  json_field_event e;
  std::string problem;
  // Depth: the event object is level 1; a.b.c's object is level 4.
  REQUIRE(f.parse(R"({"a":{"b":{"c":{"d":1}}}})", e, problem));
  CHECK(values(f, e, a) == one(value_kind::other));
  // Also in parts no path reads: the whole line is walked.
  CHECK_FALSE(f.parse(R"({"q":[[[[1]]]]})", e, problem));
  CHECK(problem == "nesting deeper than 4 levels of objects and arrays");
  CHECK(f.parse(R"({"q":[[[1]]]})", e, problem));
  f.enable_all_strings();
  CHECK_FALSE(f.parse(R"({"x":{"y":{"z":{"w":{}}}}})", e, problem));
  CHECK(problem == "nesting deeper than 4 levels of objects and arrays");
  CHECK(f.parse(R"({"x":{"y":{"z":{}}}})", e, problem));
  CHECK(f.parse(R"({"a":{"b":{"c":[1,2,3]}}})", e, problem));
  CHECK_FALSE(f.parse(R"({"a":{"b":{"c":[1,2,3,4]}}})", e, problem));
  CHECK(problem == "field 'a.b.c' has more than 3 values");
  CHECK_FALSE(f.parse("{\"q\":\"" + std::string(100, 'x') + "\"}", e, problem));
  CHECK(problem == "line longer than 100 bytes");
}

TEST_CASE("sigma fields: evtx_dump documents (#attributes keys)") {
  json_fields f;
  const auto provider =
      f.field_handle_for(field_path::parse("Event.System.Provider.#attributes.Name"));
  const auto id = f.field_handle_for(field_path::parse("Event.System.EventID"));
  const auto image = f.field_handle_for(field_path::parse("Event.EventData.Image"));
  const auto corr = f.field_handle_for(field_path::parse("Event.System.Correlation"));
  const auto e = parsed(
      f,
      R"({"Event":{"#attributes":{"xmlns":"http://schemas.microsoft.com/win/2004/08/events/event"},)"
      R"("System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Sysmon","Guid":"5770"}},)"
      R"("EventID":1,"Correlation":null},"EventData":{"Image":"C:\\a.exe","ProcessId":8752}}})");
  CHECK(values(f, e, provider) == one(value_kind::string, "Microsoft-Windows-Sysmon"));
  CHECK(values(f, e, id) == one(value_kind::number, "1"));
  CHECK(values(f, e, image) == one(value_kind::string, "C:\\a.exe"));
  CHECK(values(f, e, corr) == one(value_kind::null));

  const auto root = realdata();
  std::error_code ec;
  if (root.empty() || !std::filesystem::is_directory(root / "sigma" / "regression_data", ec)) {
    MESSAGE("realdata absent: the evtx_dump regression events are not read");
    return;
  }
  // Every regression event, minified to one line, against the reference.
  std::vector<std::filesystem::path> files;
  for (const auto& dir : {root / "sigma" / "regression_data", root / "sigma-regression-extra"}) {
    if (!std::filesystem::is_directory(dir, ec)) continue;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir))
      if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  REQUIRE_FALSE(files.empty());
  json_fields g;
  g.enable_all_strings();
  for (const char* p : {"Event.System.Provider.#attributes.Name", "Event.System.EventID",
                        "Event.System.TimeCreated.#attributes.SystemTime", "Event.System.Computer",
                        "Event.EventData.Image", "Event.EventData.CommandLine",
                        "Event.EventData.ParentImage", "Event.EventData.ProcessId",
                        "Event.EventData.ParentUser", "Event.EventData.Hashes", "Event.System"})
    g.field_handle_for(field_path::parse(p));
  simdjson::dom::parser dom;
  simdjson::dom::parser ref_parser;
  std::size_t events = 0;
  json_field_event ev;
  for (const auto& file : files) {
    simdjson::padded_string text;
    REQUIRE_FALSE(simdjson::padded_string::load(file.string()).get(text));
    simdjson::dom::document_stream docs;
    REQUIRE_FALSE(dom.parse_many(text).get(docs));
    for (auto doc : docs) {
      simdjson::dom::element el;
      if (doc.get(el)) break;
      const std::string line = simdjson::minify(el);
      std::string problem;
      const bool ok = g.parse(line, ev, problem);
      const auto ref = sigma_fields_reference::read(ref_parser, line, g.paths());
      CAPTURE(file.string());
      CHECK(sigma_fields_reference::compare(g, ok, problem, ev, ref) == "");
      CHECK(values(g, ev, 0) == one(value_kind::string, "Microsoft-Windows-Sysmon"));
      ++events;
    }
  }
  MESSAGE(events << " regression events read");
  CHECK(events >= files.size());
}

TEST_CASE("sigma fields: real Sysmon lines against the reference") {
  const auto root = realdata();
  const auto dir = root / "sysmon";
  std::error_code ec;
  if (root.empty() || !std::filesystem::is_directory(dir, ec)) {
    MESSAGE("realdata absent: the Sysmon lines are not read");
    return;
  }
  json_fields f;
  const char* names[] = {
      "CommandLine",    "Image",       "ParentImage",       "OriginalFileName", "ParentCommandLine",
      "IntegrityLevel", "User",        "Description",       "CurrentDirectory", "Product",
      "Hashes",         "LogonId",     "ParentUser",        "Company",          "Provider_Name",
      "Hostname",       "ProcessGuid", "ParentProcessGuid", "UtcTime",          "EventID"};
  for (const char* n : names) f.field_handle_for(field_path::parse(n));
  json_fields all = f;
  all.enable_all_strings();
  simdjson::dom::parser ref_parser;
  std::size_t lines = 0;
  std::size_t with_command_line = 0;
  json_field_event e;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".jsonl") continue;
    std::ifstream in(entry.path());
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      for (json_fields* acc : {&f, &all}) {
        std::string problem;
        const bool ok = acc->parse(line, e, problem);
        const auto ref = sigma_fields_reference::read(ref_parser, line, acc->paths());
        REQUIRE(ref.ok);
        CHECK(sigma_fields_reference::compare(*acc, ok, problem, e, ref) == "");
      }
      with_command_line += values(all, e, 0).has_value() ? 1 : 0;
      ++lines;
    }
  }
  MESSAGE(lines << " Sysmon lines read, " << with_command_line << " with a CommandLine");
  CHECK(lines > 0);
  CHECK(with_command_line > 0);
}

namespace {

/// A random small document over a few keys (dotted ones and repeats included) and
/// values of every kind, with random whitespace.
struct doc_generator {
  std::mt19937 rng;
  std::string out;

  std::size_t pick(std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
  }
  void ws() {
    if (pick(4) == 0) out += pick(2) == 0 ? " " : "\t ";
  }
  void value(int depth) {
    static const char* const scalars[] = {R"("plain")",
                                          R"("es\"c")",
                                          R"("\u00e9\u0000")",
                                          R"("\ud83d\ude00")",
                                          R"("C:\\Win")",
                                          R"("")",
                                          "-1.5e3",
                                          "0",
                                          "42",
                                          "1E+2",
                                          "-0.0",
                                          "true",
                                          "false",
                                          "null",
                                          "18446744073709551615"};
    const std::size_t k = pick(depth > 3 ? 1 : 4);
    ws();
    if (k == 0 || k == 1) {
      out += scalars[pick(std::size(scalars))];
    } else if (k == 2) {
      object(depth + 1);
    } else {
      out += '[';
      const std::size_t n = pick(4);
      for (std::size_t i = 0; i < n; ++i) {
        if (i > 0) out += ',';
        value(depth + 1);
      }
      out += ']';
    }
    ws();
  }
  void object(int depth) {
    static const char* const keys[] = {"a",     "b", "c",           "a.b", "b.c",
                                       "a.b.c", "x", "#attributes", ""};
    out += '{';
    const std::size_t n = pick(5);
    for (std::size_t i = 0; i < n; ++i) {
      if (i > 0) out += ',';
      ws();
      out += '"';
      out += keys[pick(std::size(keys))];
      out += '"';
      ws();
      out += ':';
      value(depth);
    }
    out += '}';
  }
  std::string document() {
    out.clear();
    ws();
    object(1);
    ws();
    return out;
  }
  field_path path() {
    static const char* const segments[] = {"a", "b", "c", "x", "#attributes", R"(a\.b)", ""};
    std::string text;
    const std::size_t n = 1 + pick(3);
    for (std::size_t i = 0; i < n; ++i) {
      if (i > 0) text += '.';
      text += segments[pick(std::size(segments))];
    }
    return field_path::parse(text);
  }
};

}  // namespace

TEST_CASE("sigma fields: random documents and paths against the DOM reference") {
  doc_generator gen{std::mt19937(20261206), {}};
  simdjson::dom::parser ref_parser;
  json_field_event e;  // reused across lines and accessors
  std::size_t accepted = 0;
  std::size_t duplicates = 0;
  for (int i = 0; i < 20000; ++i) {
    json_fields f;
    if (gen.pick(2) == 0) f.enable_all_strings();
    const std::size_t paths = 1 + gen.pick(5);
    for (std::size_t p = 0; p < paths; ++p) f.field_handle_for(gen.path());
    std::string line = gen.document();
    if (gen.pick(8) == 0 && !line.empty()) {  // a broken line now and then: no crash
      static const char noise[] = "{}[]\",:\\ax0e-.u";
      line[gen.pick(line.size())] = noise[gen.pick(sizeof noise - 1)];
    }
    std::string problem;
    const bool ok = f.parse(line, e, problem);
    const auto ref = sigma_fields_reference::read(ref_parser, line, f.paths());
    const std::string diff = sigma_fields_reference::compare(f, ok, problem, e, ref);
    if (!diff.empty()) {
      std::string bound;
      for (const auto& p : f.paths()) bound += p.text + " ";
      FAIL_CHECK(diff << "\n  line: " << line << "\n  paths: " << bound);
      break;
    }
    accepted += ok ? 1 : 0;
    duplicates += ref.duplicate ? 1 : 0;
  }
  MESSAGE(accepted << " accepted, " << duplicates << " with a duplicate path");
  CHECK(accepted > 5000);
  CHECK(accepted < 20000 - 500);  // the broken lines and the duplicates
  CHECK(duplicates > 200);
}

TEST_CASE("sigma fields: keys remembered by position, over a sequence of lines") {
  // json_fields remembers the event object's keys by position from line to line. Lines
  // of a few shapes (fixed key orders, as a source writes them), mutated now and then,
  // through one accessor: every line against the reference. The keys are 15 to 17 and
  // 31 to 33 bytes long (the comparison's block edges), escaped, dotted, or differ from
  // a bound key in their last byte only.
  const std::string k15(15, 'k');
  const std::string k16(16, 'k');
  const std::string k32(32, 'k');
  const std::vector<std::string> keys = {"Image",
                                         "Imagf",
                                         "Image2",
                                         "Imag",
                                         R"(Im\u0061ge)",
                                         "CommandLine",
                                         k15,
                                         k15 + "x",
                                         k16,
                                         k16 + "x",
                                         k32.substr(1),
                                         k32,
                                         k32 + "x",
                                         k32 + "y",
                                         "a.b",
                                         "a",
                                         "b",
                                         R"(a\"b)",
                                         "x",
                                         "Hostname",
                                         k16 + "y",
                                         k32.substr(2) + "x",
                                         k32.substr(1) + "x"};
  json_fields f;
  for (const std::string& p : {std::string("Image"), std::string("CommandLine"), k16, k32,
                               k32 + "x", k15 + "x", std::string("a.b"), std::string("Hostname"),
                               k16 + "y", k32.substr(1) + "x", k32.substr(2) + "x"})
    f.field_handle_for(field_path::parse(p));
  std::mt19937 rng(20261207);
  const auto pick = [&](std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
  };
  std::vector<std::vector<std::size_t>> shapes(4);
  for (auto& shape : shapes)
    for (std::size_t i = 0, n = 3 + pick(10); i < n; ++i) shape.push_back(pick(keys.size()));
  simdjson::dom::parser ref_parser;
  json_field_event e;
  std::size_t accepted = 0;
  std::size_t with_image = 0;
  for (int i = 0; i < 20000; ++i) {
    std::vector<std::size_t> shape = shapes[pick(shapes.size())];
    if (pick(4) == 0) shape[pick(shape.size())] = pick(keys.size());  // one key changed
    if (pick(8) == 0) std::swap(shape.front(), shape.back());
    std::string line = "{";
    for (std::size_t k = 0; k < shape.size(); ++k) {
      if (k > 0) line += pick(8) == 0 ? " , " : ",";
      line += '"' + keys[shape[k]] + '"' + (pick(8) == 0 ? " : " : ":");
      line += pick(3) == 0 ? std::to_string(i) : "\"v" + std::to_string(k) + "\"";
    }
    line += "}";
    std::string problem;
    const bool ok = f.parse(line, e, problem);
    const auto ref = sigma_fields_reference::read(ref_parser, line, f.paths());
    REQUIRE(ref.ok);
    const std::string diff = sigma_fields_reference::compare(f, ok, problem, e, ref);
    if (!diff.empty()) {
      FAIL_CHECK(diff << "\n  line " << i << ": " << line);
      break;
    }
    accepted += ok ? 1 : 0;
    with_image += ok && values(f, e, 0).has_value() ? 1 : 0;
  }
  MESSAGE(accepted << " lines accepted, " << with_image << " with an Image");
  CHECK(accepted > 3000);
  CHECK(with_image > 1000);

  // A path bound after lines were read is found in the next line: binding forgets the
  // remembered keys.
  json_fields late;
  late.field_handle_for(field_path::parse("Image"));
  const std::string line = R"({"Image":"a","User":"u"})";
  CHECK(values(late, parsed(late, line), 0) == one(value_kind::string, "a"));
  const auto user = late.field_handle_for(field_path::parse("User"));
  CHECK(values(late, parsed(late, line), user) == one(value_kind::string, "u"));

  // More keys than are remembered (256): the rest are looked up, line after line.
  std::string wide = "{";
  for (int k = 0; k < 300; ++k) wide += "\"w" + std::to_string(k) + "\":1,";
  wide += R"("Image":"far"})";
  for (int round = 0; round < 2; ++round) {
    const auto w = parsed(f, wide);
    CHECK(values(f, w, 0) == one(value_kind::string, "far"));
  }
}

TEST_CASE("sigma fields: the grammar is checked in parts no path reads") {
  json_fields f;
  f.field_handle_for(field_path::parse("a"));
  for (const std::string line :
       {R"({"z":tru,"a":1})", R"({"z":[1,,2],"a":1})", R"({"z":{"q" 1},"a":1})",
        R"({"z":1 "y":2,"a":1})", R"({"z":,"a":1})", R"({"z":[1,2}],"a":1})", R"({"z":01,"a":1})",
        R"({"z":{"q":1,},"a":1})", R"({"z":{1:2},"a":1})", R"({"z":"x" "y","a":1})"}) {
    CAPTURE(line);
    json_field_event e;
    std::string problem;
    CHECK_FALSE(f.parse(line, e, problem));
    CHECK(problem.rfind("not valid JSON (unexpected ", 0) == 0);
  }
  json_field_event e;
  std::string problem;
  CHECK_FALSE(f.parse(R"({"z":[1,,2],"a":1})", e, problem));
  CHECK(problem == "not valid JSON (unexpected ',' at byte 9)");
  CHECK_FALSE(f.parse(R"({"a":1,"z":{"q":1)", e, problem));
  CHECK(problem == "not valid JSON (the line ends in the middle of an object or array)");
  // Strings no path reads are checked as far as simdjson's structural pass goes, not
  // for their escapes.
  CHECK(f.parse(R"({"z":"\q","a":1})", e, problem));
}

TEST_CASE("sigma fields: a NUL byte anywhere is named, whatever the paths read") {
  // The reader looks for a NUL byte only once a line has failed: every line holding one
  // must fail, in parts read or not, in strings, keys, numbers, literals and whitespace.
  const std::string good = R"({"Image":"C:\\a.exe", "n":-1.5e3,"t":true,"f":false,"z":null,)"
                           R"("o":{"k":"v","a":[1,"s",{"x":2}]},"e":"\u00e9","Hostname":"h"} )";
  json_fields reads;
  reads.field_handle_for(field_path::parse("Image"));
  reads.field_handle_for(field_path::parse("o.k"));
  json_fields strings = reads;
  strings.enable_all_strings();
  json_fields nothing;
  nothing.field_handle_for(field_path::parse("absent"));
  for (json_fields* f : {&reads, &strings, &nothing}) {
    json_field_event e;
    std::string problem;
    REQUIRE(f->parse(good, e, problem));
    REQUIRE(f->parse(good, e, problem));  // the keys remembered, too
    for (std::size_t at = 0; at <= good.size(); ++at) {
      for (const bool replace : {false, true}) {
        if (replace && at == good.size()) continue;
        std::string line = good;
        if (replace) {
          line[at] = '\0';
        } else {
          line.insert(at, 1, '\0');
        }
        CAPTURE(at);
        CAPTURE(replace);
        CHECK_FALSE(f->parse(line, e, problem));
        CHECK(problem == "not valid JSON (a NUL byte at byte " + std::to_string(at + 1) + ")");
      }
    }
  }
}
