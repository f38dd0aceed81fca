// The Sigma engine on real data (docs/design/sigma-frontend.md 8.2, 8.3), on the library
// level with the tool's JSON accessor (tools/fluxcap/sigma_fields.hpp): the six recorded
// Sysmon attacks of ../shared/realdata/sysmon, the SigmaHQ parent rules of
// ../shared/realdata/sigma/rules*, and context rules written here.
//
//  - 8.2: grandparent, ancestor and unseen-grandparent rules fire on exactly the lines
//    (and process GUIDs) docs/design/sigma-measure/results.txt lists;
//  - 8.3: ParentCommandLine (then ParentImage too) carried instead of inline gives the
//    same detections on every event whose parent's event is earlier in the stream; the
//    others are listed, and equal the naive evaluator's (unseen context is false); bloom
//    and cuckoo memory may only add detections (false positives), never lose one;
//  - the engine equals the naive evaluator (tests/sigma/naive_evaluator.hpp) on every
//    event of every file;
//  - a timing of the engine over the 410 events (a sanity figure, not a benchmark).
// Every test prints a message and passes when realdata is absent (FLUXCAP_REALDATA
// overrides the path).
#include "../../tools/fluxcap/sigma_fields.hpp"
#include "../sigma/naive_evaluator.hpp"

#include <doctest/doctest.h>
#include <fluxcap/memory.hpp>
#include <fluxcap/sigma/compile.hpp>
#include <fluxcap/sigma/engine.hpp>
#include <fluxcap/sigma/pcre2.hpp>
#include <fluxcap/sigma/yaml.hpp>

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace {

namespace fs = fluxcap::sigma;
using fluxcap_cli::json_field_event;
using fluxcap_cli::json_fields;
using names = std::vector<std::string>;
using detections = std::vector<names>;  // per event: identities of the rules that fired

std::filesystem::path realdata() {
  std::filesystem::path p = FLUXCAP_DEFAULT_REALDATA;
  if (const char* env = std::getenv("FLUXCAP_REALDATA")) p = env;
  std::error_code ec;
  return std::filesystem::is_directory(p, ec) ? p : std::filesystem::path{};
}

constexpr std::array<std::string_view, 6> file_names{
    "empire_dcom_shellwindows_stager.jsonl", "empire_psexec_dcerpc_tcp_svcctl.jsonl",
    "empire_uac_shellapi_fodhelper.jsonl",   "metasploit_logonpasswords_lsass_memory_dump.jsonl",
    "proxylogon_ssrf_rce_poc.jsonl",         "purplesharp_ad_playbook_I.jsonl"};

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      char buffer[8];
      std::snprintf(buffer, sizeof buffer, "\\u%04x", static_cast<unsigned>(u));
      out += buffer;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

/// One line of a realdata file, and what the tests need of it.
struct sysmon_event {
  std::string line;
  std::string host, guid, parent_guid;  // as written
  fs::dense_field_event dense;          // every top-level field (the naive evaluator's input)
  /// The line re-serialised without ParentCommandLine, and without ParentImage as well.
  std::string without_parent_command_line, without_parent_command_line_and_image;
  bool parent_seen = false;  ///< an earlier line of the file is its parent (same host)
};

struct sysmon_file {
  std::string name;
  std::vector<sysmon_event> events;
};

fs::dense_field_event::value dense_value(simdjson::dom::element e) {
  using t = simdjson::dom::element_type;
  switch (e.type()) {
    case t::STRING:
      return {fs::value_kind::string, std::string(std::string_view(e))};
    case t::INT64:
    case t::UINT64:
    case t::DOUBLE:
      return {fs::value_kind::number, simdjson::minify(e)};
    case t::BOOL:
      return {fs::value_kind::boolean, bool(e) ? "true" : "false"};
    case t::NULL_VALUE:
      return {fs::value_kind::null, ""};
    default:
      return {fs::value_kind::other, ""};
  }
}

/// The object's members as JSON text, but for the keys in `drop`.
std::string without_keys(simdjson::dom::object o, std::initializer_list<std::string_view> drop) {
  std::string out = "{";
  for (const auto [key, value] : o) {
    if (std::find(drop.begin(), drop.end(), key) != drop.end()) continue;
    if (out.size() > 1) out += ',';
    out += json_string(key);
    out += ':';
    out += simdjson::minify(value);
  }
  return out + "}";
}

std::string lower(std::string s) {
  for (auto& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

sysmon_file load_file(const std::filesystem::path& path) {
  sysmon_file f;
  f.name = path.filename().string();
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  simdjson::dom::parser parser;
  std::set<std::pair<std::string, std::string>> seen;  // (host, lower-case guid)
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    sysmon_event ev;
    ev.line = line;
    simdjson::dom::object o;
    REQUIRE(parser.parse(line).get_object().get(o) == simdjson::SUCCESS);
    for (const auto [key, value] : o) {
      fs::dense_field_event::field field{std::string(key), {}};
      simdjson::dom::array a;
      if (value.get_array().get(a) == simdjson::SUCCESS) {
        for (const auto element : a) field.values.push_back(dense_value(element));
      } else {
        field.values.push_back(dense_value(value));
      }
      ev.dense.fields.push_back(std::move(field));
    }
    const auto text = [&](std::string_view key) {
      std::string_view s;
      REQUIRE(o[key].get_string().get(s) == simdjson::SUCCESS);
      return std::string(s);
    };
    ev.host = text("Hostname");
    ev.guid = text("ProcessGuid");
    ev.parent_guid = text("ParentProcessGuid");
    ev.without_parent_command_line = without_keys(o, {"ParentCommandLine"});
    ev.without_parent_command_line_and_image =
        without_keys(o, {"ParentCommandLine", "ParentImage"});
    ev.parent_seen = seen.count({ev.host, lower(ev.parent_guid)}) != 0;
    seen.emplace(ev.host, lower(ev.guid));
    f.events.push_back(std::move(ev));
  }
  return f;
}

/// The six files, read once.
const std::vector<sysmon_file>& sysmon_files() {
  static const std::vector<sysmon_file> files = [] {
    std::vector<sysmon_file> out;
    for (const auto name : file_names) out.push_back(load_file(realdata() / "sysmon" / name));
    return out;
  }();
  return files;
}

const sysmon_file& file_named(std::string_view name) {
  for (const auto& f : sysmon_files())
    if (f.name == name) return f;
  FAIL("no realdata file " << std::string(name));
  throw std::logic_error("unreachable");
}

/// The SigmaHQ parent rules of realdata (rules, rules-emerging-threats,
/// rules-threat-hunting), read once.
const std::vector<fs::rule>& realdata_rules() {
  static const std::vector<fs::rule> rules = [] {
    std::vector<std::filesystem::path> dirs;
    for (const auto& entry : std::filesystem::directory_iterator(realdata() / "sigma"))
      if (entry.is_directory() && entry.path().filename().string().rfind("rules", 0) == 0)
        dirs.push_back(entry.path());
    std::sort(dirs.begin(), dirs.end());
    return fs::read_rule_paths(dirs);
  }();
  return rules;
}

/// Design 8.2: the project's context rules.
constexpr std::string_view context_rules_yaml = R"(
title: recon under the Empire launcher (grandparent)
id: gp-empire
logsource: {category: process_creation, product: windows}
detection:
  selection:
    Image|endswith: ['\whoami.exe', '\systeminfo.exe', '\tasklist.exe']
    GrandParentCommandLine|contains|all: ['/c start /b', 'powershell', '-enc']
  condition: selection
---
title: recon under powershell under the Empire launcher (self, inline parent, grandparent)
id: gp-empire-inline-parent
logsource: {category: process_creation, product: windows}
detection:
  selection:
    Image|endswith: ['\whoami.exe', '\systeminfo.exe', '\tasklist.exe']
    ParentImage|endswith: '\powershell.exe'
    GrandParentCommandLine|contains|all: ['/c start /b', 'powershell', '-enc']
  condition: selection
---
title: recon whose parent is the Empire launcher (negative control of gp-empire)
id: p-empire
logsource: {category: process_creation, product: windows}
detection:
  selection:
    Image|endswith: ['\whoami.exe', '\systeminfo.exe', '\tasklist.exe']
    ParentCommandLine|contains|all: ['/c start /b', 'powershell', '-enc']
  condition: selection
---
title: recon descending from a program run from Downloads
id: anc-downloads
logsource: {category: process_creation, product: windows}
detection:
  recon:
    Image|endswith: ['\whoami.exe', '\systeminfo.exe', '\tasklist.exe']
  downloads:
    AncestorImage|contains: '\Downloads\'
  condition: recon and downloads
---
title: recon not descending from the network diagnostics script
id: anc-not-diag
logsource: {category: process_creation, product: windows}
detection:
  recon:
    Image|endswith: ['\whoami.exe', '\systeminfo.exe', '\tasklist.exe']
  diagnostics:
    AncestorCommandLine|contains: 'gatherNetworkInfo.vbs'
  condition: recon and not diagnostics
---
title: any descendant of a program run from Downloads
id: anc-self
logsource: {category: process_creation, product: windows}
detection:
  selection:
    AncestorImage|contains: '\Downloads\'
  condition: selection
---
title: whoami whose grandparent is the IIS worker
id: gp-w3wp
logsource: {category: process_creation, product: windows}
detection:
  selection:
    Image|endswith: '\whoami.exe'
    GrandParentImage|endswith: '\w3wp.exe'
  condition: selection
---
title: children of the IIS worker (inline parent)
id: p-w3wp
logsource: {category: process_creation, product: windows}
detection:
  selection:
    ParentImage|endswith: '\w3wp.exe'
  condition: selection
---
title: whoami whose grandparent is not the IIS worker
id: gp-w3wp-not
logsource: {category: process_creation, product: windows}
detection:
  whoami:
    Image|endswith: '\whoami.exe'
  iis:
    GrandParentImage|endswith: '\w3wp.exe'
  condition: whoami and not iis
)";

const std::vector<fs::rule>& context_rules() {
  static const std::vector<fs::rule> rules = fs::read_rules(context_rules_yaml, "context.yml");
  return rules;
}

/// Sysmon with `ParentCommandLine` (and, with `carry_image`, `ParentImage`) carried.
fs::profile carried_profile(bool carry_image) {
  auto p = *fs::builtin_profile("sysmon");
  p.name = carry_image ? "sysmon-carried-image" : "sysmon-carried";
  p.inline_parent_fields = {"ParentUser", "ParentProcessId", "ParentProcessGuid"};
  if (!carry_image) p.inline_parent_fields.push_back("ParentImage");
  return p;
}

fs::compiled_rules compile_all(const std::vector<fs::rule>& rules, const fs::profile& p) {
  auto compiled = fs::compile(rules, p, {}, fs::pcre2_engine{});
  for (const auto& r : compiled.reports) {
    INFO(p.name << ": " << r.identity << ": " << r.reason);
    CHECK(r.status != fs::rule_status::unsupported);
  }
  return compiled;
}

/// The engine over JSON lines read by the tool's accessor. The accessor is bound to the
/// compiled rules' paths in the engine's own order before the engine copies it, so
/// that this copy (which parses) and the engine's (which reads) agree on every handle.
template <class Memory = fluxcap::exact_memory>
class json_engine {
 public:
  using engine_type = fs::engine<json_fields, Memory, fs::pcre2_engine>;

  explicit json_engine(fs::compiled_rules compiled, Memory memory = Memory{})
      : fields_(bound(compiled)),
        engine_(std::move(compiled), fields_, std::move(memory), fs::pcre2_engine{}) {}

  [[nodiscard]] const engine_type& engine() const noexcept { return engine_; }
  json_fields& fields() noexcept { return fields_; }

  /// One stream (fresh states, one per host): the detections of each line.
  detections run(const std::vector<const std::string*>& lines) {
    auto scratch = engine_.make_scratch();
    std::map<std::string, typename engine_type::state_type, std::less<>> states;
    json_field_event e;
    std::string problem;
    detections out;
    for (const auto* line : lines) {
      const bool ok = fields_.parse(*line, e, problem);
      INFO(problem);
      REQUIRE(ok);
      const auto group = std::string(engine_.group_of(e, scratch).value_or(""));
      auto it = states.find(group);
      if (it == states.end()) it = states.emplace(group, engine_.make_state()).first;
      names fired;
      for (const auto r : engine_.process(it->second, e, scratch))
        fired.push_back(engine_.compiled().rules[r].identity);
      out.push_back(std::move(fired));
    }
    return out;
  }

 private:
  static json_fields bound(const fs::compiled_rules& c) {
    json_fields f;
    for (const auto& path : c.fields) f.field_handle_for(fs::field_path::parse(path));
    for (const auto* path : {&c.group_path, &c.id_path, &c.parent_id_path})
      f.field_handle_for(fs::field_path::parse(*path));
    if (c.uses_keywords) f.enable_all_strings();
    return f;
  }

  json_fields fields_;
  engine_type engine_;
};

std::vector<const std::string*> lines_of(const sysmon_file& f,
                                         std::string sysmon_event::*which = &sysmon_event::line) {
  std::vector<const std::string*> out;
  for (const auto& e : f.events) out.push_back(&(e.*which));
  return out;
}

/// The event without the fields named in `drop`.
fs::dense_field_event without_fields(const fs::dense_field_event& e,
                                     const std::vector<std::string>& drop) {
  fs::dense_field_event out;
  for (const auto& f : e.fields)
    if (std::find(drop.begin(), drop.end(), f.path) == drop.end()) out.fields.push_back(f);
  return out;
}

/// The naive evaluator's detections over one file (one stream) without the fields in
/// `drop`. With `only_parent_unseen`, rules are evaluated only on the events whose
/// parent was not seen (the others are recorded in the tree, with no detection).
detections naive_run(const std::vector<fs::rule>& rules, const fs::profile& p,
                     const fs::compiled_rules& compiled, const sysmon_file& f,
                     const std::vector<std::string>& drop = {}, bool only_parent_unseen = false) {
  std::vector<bool> supported(rules.size(), false);
  for (const auto& r : compiled.reports)
    supported[r.source_index] = r.status == fs::rule_status::ok;
  const std::vector<bool> none(rules.size(), false);
  sigma_test::naive_evaluator<fs::pcre2_engine> naive(rules, p);
  detections out;
  for (const auto& e : f.events) {
    const auto& which = only_parent_unseen && e.parent_seen ? none : supported;
    out.push_back(naive.process(drop.empty() ? e.dense : without_fields(e.dense, drop), which));
  }
  return out;
}

/// 1-based lines on which `identity` fired.
std::vector<std::size_t> lines_firing(const detections& d, std::string_view identity) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < d.size(); ++i)
    if (std::find(d[i].begin(), d[i].end(), identity) != d[i].end()) out.push_back(i + 1);
  return out;
}

std::string joined(const names& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

#define FLUXCAP_SKIP_WITHOUT_REALDATA()                         \
  if (realdata().empty()) {                                     \
    MESSAGE("realdata absent (set FLUXCAP_REALDATA): skipped"); \
    return;                                                     \
  }

using lines = std::vector<std::size_t>;

}  // namespace

namespace doctest {
template <>
struct StringMaker<std::vector<std::size_t>> {
  static String convert(const std::vector<std::size_t>& v) {
    std::string out = "[";
    for (const auto n : v) out += (out.size() > 1 ? ", " : "") + std::to_string(n);
    return String((out + "]").c_str());
  }
};
template <>
struct StringMaker<std::vector<std::string>> {
  static String convert(const std::vector<std::string>& v) {
    return String(("[" + joined(v) + "]").c_str());
  }
};
}  // namespace doctest

TEST_CASE("sigma realdata 8.2: context split on the recorded process chains") {
  FLUXCAP_SKIP_WITHOUT_REALDATA();
  const auto sysmon = *fs::builtin_profile("sysmon");
  const auto compiled = compile_all(context_rules(), sysmon);
  REQUIRE(compiled.rules.size() == context_rules().size());
  json_engine<> eng(compiled);

  std::map<std::string, detections> by_file;
  for (const auto& f : sysmon_files()) {
    const auto d = eng.run(lines_of(f));
    // The naive evaluator walks the recorded tree: the same answer on every event.
    const auto naive = naive_run(context_rules(), sysmon, compiled, f);
    for (std::size_t i = 0; i < d.size(); ++i) {
      INFO(f.name << " line " << i + 1);
      CHECK(d[i] == naive[i]);
    }
    by_file[f.name] = d;
  }
  const auto guid_of = [&](std::string_view file, std::size_t line) {
    return file_named(file).events.at(line - 1).guid;
  };
  // The 1-based lines of `line`'s chain of seen ancestors (same host, earlier lines).
  const auto chain = [&](std::string_view file, std::size_t line) {
    const auto& events = file_named(file).events;
    lines out{line};
    for (;;) {
      const auto& e = events.at(out.back() - 1);
      std::size_t parent = 0;
      for (std::size_t j = 0; j + 1 < out.back(); ++j)
        if (events[j].host == e.host && lower(events[j].guid) == lower(e.parent_guid))
          parent = j + 1;
      if (parent == 0) return out;
      out.push_back(parent);
    }
  };
  const std::string dcom = "empire_dcom_shellwindows_stager.jsonl";
  const std::string psexec = "empire_psexec_dcerpc_tcp_svcctl.jsonl";
  const std::string metasploit = "metasploit_logonpasswords_lsass_memory_dump.jsonl";
  const std::string proxylogon = "proxylogon_ssrf_rce_poc.jsonl";

  {  // 1. grandparent: recon under the Empire launcher
    for (const auto& [name, d] : by_file) {
      INFO(name);
      const lines expected = name == dcom ? lines{80} : name == psexec ? lines{6} : lines{};
      CHECK(lines_firing(d, "gp-empire") == expected);
      CHECK(lines_firing(d, "gp-empire-inline-parent") == expected);
      // The hop count matters: the parent (powershell) is not the launcher.
      CHECK(lines_firing(d, "p-empire") == lines{});
    }
    CHECK(guid_of(dcom, 80) == "{d273d0f0-e9c8-5f64-5001-000000000800}");
    CHECK(guid_of(psexec, 6) == "{d273d0f0-808e-5f67-cf06-000000000800}");
    // whoami <- powershell <- cmd /C start /b ... -enc <- the launcher cmd <- explorer
    CHECK(chain(dcom, 80) == lines{80, 78, 77, 75, 26, 24, 7, 5});
    // whoami <- powershell <- the launcher cmd (its parent, services.exe, is not logged)
    CHECK(chain(psexec, 6) == lines{6, 3, 2});
  }

  {  // 2. ancestor: descendants of a payload run from Downloads
    const auto& d = by_file.at(metasploit);
    CHECK(lines_firing(d, "anc-downloads") == lines{30, 34, 35, 41, 49});
    CHECK(lines_firing(d, "anc-not-diag") == lines{30, 34, 35, 41, 49});
    CHECK(lines_firing(d, "anc-self") == lines{28, 29, 30, 34, 35, 41, 47, 48, 49});
    const std::map<std::size_t, std::string> guids{{30, "{81056205-56a2-64dc-4004-000000000800}"},
                                                   {34, "{81056205-56ab-64dc-4404-000000000800}"},
                                                   {35, "{81056205-56ab-64dc-4504-000000000800}"},
                                                   {41, "{81056205-56c3-64dc-4b04-000000000800}"},
                                                   {49, "{81056205-5713-64dc-5304-000000000800}"},
                                                   {113, "{81056205-57bb-64dc-9304-000000000800}"},
                                                   {123, "{81056205-57bf-64dc-9d04-000000000800}"},
                                                   {25, "{81056205-5686-64dc-3b04-000000000800}"}};
    for (const auto& [line, guid] : guids) CHECK(guid_of(metasploit, line) == guid);
    // Through cmd (28 or 47) to the payload (25); or through cmd (111, 121) and cscript
    // gatherNetworkInfo.vbs (56) to netsh trace stop (54).
    for (const std::size_t line : {30, 34, 35, 41})
      CHECK(chain(metasploit, line) == lines{line, 28, 25});
    CHECK(chain(metasploit, 49) == lines{49, 47, 25});
    CHECK(chain(metasploit, 113) == lines{113, 111, 56, 54});
    CHECK(chain(metasploit, 123) == lines{123, 121, 56, 54});
    // Lines 113 and 123 are recon under the diagnostics script (not from Downloads),
    // line 25 is the payload itself (never its own ancestor).
    const auto& payload = file_named(metasploit).events.at(24);
    CHECK(payload.line.find(R"(\\Downloads\\)") != std::string::npos);
  }

  {  // 3. a grandparent never logged (proxylogon's w3wp)
    const auto& d = by_file.at(proxylogon);
    CHECK(lines_firing(d, "gp-w3wp") == lines{});
    CHECK(lines_firing(d, "p-w3wp") == lines{6, 8, 9});
    CHECK(lines_firing(d, "gp-w3wp-not") == lines{12, 13});
    CHECK(guid_of(proxylogon, 12) == "{6004D249-AFCF-604D-2E27-000000000900}");
    CHECK(guid_of(proxylogon, 13) == "{6004D249-AFCF-604D-2F27-000000000900}");
    CHECK(guid_of(proxylogon, 6) == "{6004D249-AFCF-604D-2827-000000000900}");
    CHECK(guid_of(proxylogon, 8) == "{6004D249-AFCF-604D-2A27-000000000900}");
    CHECK(guid_of(proxylogon, 9) == "{6004D249-AFCF-604D-2B27-000000000900}");
    // whoami <- cmd, whose parent w3wp.exe has no event of its own.
    CHECK(chain(proxylogon, 12) == lines{12, 8});
    CHECK(chain(proxylogon, 13) == lines{13, 9});
  }
}

namespace {

/// Realdata rules and context rules together (8.3's rule set).
std::vector<fs::rule> exactness_rules() {
  auto rules = realdata_rules();
  rules.insert(rules.end(), context_rules().begin(), context_rules().end());
  return rules;
}

struct carried_run {
  std::string what;
  fs::profile profile;
  std::string sysmon_event::*lines;
  std::vector<std::string> removed;  ///< the keys removed from every line
};

/// Compares the carried run's detections with the inline run's, file by file: equal on
/// every event whose parent's event is earlier in the stream; the others are listed.
void check_carried_equals_inline(const std::map<std::string, detections>& inline_run,
                                 const std::map<std::string, detections>& carried,
                                 const std::string& what) {
  std::size_t seen = 0, unseen = 0, differ_unseen = 0, detections_seen = 0;
  for (const auto& f : sysmon_files()) {
    const auto& a = inline_run.at(f.name);
    const auto& b = carried.at(f.name);
    REQUIRE(a.size() == f.events.size());
    REQUIRE(b.size() == f.events.size());
    for (std::size_t i = 0; i < f.events.size(); ++i) {
      if (f.events[i].parent_seen) {
        ++seen;
        detections_seen += a[i].size();
        INFO(what << ": " << f.name << " line " << i + 1);
        CHECK(a[i] == b[i]);
      } else {
        ++unseen;
        if (a[i] != b[i]) {
          ++differ_unseen;
          MESSAGE(what << ": parent unseen, " << f.name << " line " << i + 1 << ": inline ["
                       << joined(a[i]) << "] carried [" << joined(b[i]) << "]");
        }
      }
    }
  }
  MESSAGE(what << ": " << seen << " events with the parent seen (" << detections_seen
               << " detections, identical), " << unseen << " without, of which " << differ_unseen
               << " differ");
  CHECK(seen == 284);  // design 8.3 / sigma-measure incl.py
  CHECK(seen + unseen == 410);
}

/// Bloom or cuckoo memory against exact: they may only add detections (a false
/// positive recall), never lose one (well within capacity). Prints the count.
void check_approximate_memory(const std::map<std::string, detections>& exact,
                              const std::map<std::string, detections>& approximate,
                              const std::string& what) {
  std::size_t extra = 0;
  for (const auto& f : sysmon_files()) {
    const auto& a = exact.at(f.name);
    const auto& b = approximate.at(f.name);
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (a[i] == b[i]) continue;
      INFO(what << ": " << f.name << " line " << i + 1 << ": exact [" << joined(a[i])
                << "] approximate [" << joined(b[i]) << "]");
      const std::set<std::string> approximate_set(b[i].begin(), b[i].end());
      for (const auto& r : a[i]) CHECK(approximate_set.count(r) == 1);
      ++extra;
      MESSAGE(what << ": differs from exact on " << f.name << " line " << i + 1);
    }
  }
  MESSAGE(what << ": " << extra << " events differ from exact memory");
}

}  // namespace

TEST_CASE("sigma realdata 8.3: carried context equals inline context (exactness)") {
  FLUXCAP_SKIP_WITHOUT_REALDATA();
  const auto rules = exactness_rules();
  const auto sysmon = *fs::builtin_profile("sysmon");

  std::map<std::string, detections> inline_run;
  {
    json_engine<> eng(compile_all(rules, sysmon));
    for (const auto& f : sysmon_files()) inline_run[f.name] = eng.run(lines_of(f));
  }
  const carried_run variants[] = {{"ParentCommandLine carried",
                                   carried_profile(false),
                                   &sysmon_event::without_parent_command_line,
                                   {"ParentCommandLine"}},
                                  {"ParentCommandLine and ParentImage carried",
                                   carried_profile(true),
                                   &sysmon_event::without_parent_command_line_and_image,
                                   {"ParentCommandLine", "ParentImage"}}};
  for (const auto& v : variants) {
    const auto compiled = compile_all(rules, v.profile);
    std::map<std::string, detections> exact, bloom, cuckoo;
    {
      json_engine<fluxcap::exact_memory> eng(compiled);
      for (const auto& f : sysmon_files()) exact[f.name] = eng.run(lines_of(f, v.lines));
    }
    check_carried_equals_inline(inline_run, exact, v.what);
    // Where the parent was not seen, the carried run may differ from the inline one;
    // the naive evaluator (which walks the recorded tree) says it differs exactly so.
    for (const auto& f : sysmon_files()) {
      const auto naive = naive_run(rules, v.profile, compiled, f, v.removed, true);
      for (std::size_t i = 0; i < f.events.size(); ++i) {
        if (f.events[i].parent_seen) continue;
        INFO(v.what << ": " << f.name << " line " << i + 1);
        CHECK(exact[f.name][i] == naive[i]);
      }
    }
    {
      json_engine<fluxcap::bloom_memory> eng(compiled);
      for (const auto& f : sysmon_files()) bloom[f.name] = eng.run(lines_of(f, v.lines));
    }
    check_approximate_memory(exact, bloom, v.what + ", bloom");
    {
      json_engine<fluxcap::cuckoo_memory> eng(compiled);
      for (const auto& f : sysmon_files()) cuckoo[f.name] = eng.run(lines_of(f, v.lines));
    }
    check_approximate_memory(exact, cuckoo, v.what + ", cuckoo");
  }
}

TEST_CASE("sigma realdata: the engine equals the naive evaluator on every event") {
  FLUXCAP_SKIP_WITHOUT_REALDATA();
  const auto& rules = realdata_rules();
  const auto sysmon = *fs::builtin_profile("sysmon");
  const auto compiled = compile_all(rules, sysmon);
  MESSAGE(rules.size() << " realdata rules: " << compiled.count(fs::rule_status::ok) << " ok, "
                       << compiled.count(fs::rule_status::skipped_logsource) << " skipped, "
                       << compiled.count(fs::rule_status::unsupported) << " unsupported");
  json_engine<> eng(compiled);
  std::set<std::string> fired_rules;
  std::vector<std::size_t> counts;
  for (const auto& f : sysmon_files()) {
    const auto d = eng.run(lines_of(f));
    const auto naive = naive_run(rules, sysmon, compiled, f);
    std::size_t count = 0;
    std::string listing;
    for (std::size_t i = 0; i < d.size(); ++i) {
      INFO(f.name << " line " << i + 1);
      CHECK(d[i] == naive[i]);
      count += d[i].size();
      fired_rules.insert(d[i].begin(), d[i].end());
      for (const auto& r : d[i]) listing += "\n  line " + std::to_string(i + 1) + ": " + r;
    }
    counts.push_back(count);
    MESSAGE(f.name << ": " << count << " detections" << listing);
  }
  std::size_t total = 0;
  for (const auto c : counts) total += c;
  MESSAGE(total << " detections in all; " << fired_rules.size() << " rules fired at least once");
  // The counts of docs/design/sigma-measure/mini_eval.py, a third evaluator (Python).
  CHECK(counts == std::vector<std::size_t>{3, 5, 5, 2, 5, 12});
}

TEST_CASE("sigma realdata: engine time per event (sanity, not a benchmark)") {
  FLUXCAP_SKIP_WITHOUT_REALDATA();
  const auto compiled = compile_all(exactness_rules(), *fs::builtin_profile("sysmon"));
  json_engine<> eng(compiled);
  // Parse once; time process() alone, and parse + process.
  std::vector<json_field_event> parsed;
  std::vector<const std::string*> all_lines;
  for (const auto& f : sysmon_files())
    for (const auto& e : f.events) {
      all_lines.push_back(&e.line);
      parsed.emplace_back();
      std::string problem;
      REQUIRE(eng.fields().parse(e.line, parsed.back(), problem));
    }
  REQUIRE(parsed.size() == 410);
  using clock = std::chrono::steady_clock;
  double best_process = 1e300, best_both = 1e300;
  std::size_t fired = 0;
  for (int round = 0; round < 10; ++round) {
    auto scratch = eng.engine().make_scratch();
    std::map<std::string, fluxcap::exact_memory::state_type> states;
    const auto t0 = clock::now();
    fired = 0;
    for (const auto& e : parsed) {
      const auto group = std::string(eng.engine().group_of(e, scratch).value_or(""));
      auto it = states.find(group);
      if (it == states.end()) it = states.emplace(group, eng.engine().make_state()).first;
      fired += eng.engine().process(it->second, e, scratch).size();
    }
    const auto t1 = clock::now();
    best_process = std::min(best_process, std::chrono::duration<double>(t1 - t0).count());
    const auto t2 = clock::now();
    const auto d = eng.run(all_lines);
    const auto t3 = clock::now();
    best_both = std::min(best_both, std::chrono::duration<double>(t3 - t2).count());
    std::size_t fired_run = 0;
    for (const auto& n : d) fired_run += n.size();
    CHECK(fired_run == fired);
  }
  MESSAGE(compiled.rules.size() << " rules, 410 events: process " << best_process * 1e6 / 410
                                << " us/event; parse + process (one state map lookup, identities) "
                                << best_both * 1e6 / 410 << " us/event; " << fired
                                << " detections");
  CHECK(fired > 0);
}
