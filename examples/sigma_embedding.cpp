// Embedding the Sigma front-end in an application that has its own event type (no JSON):
// docs/sigma.md, "Embedding". The application's process events are plain structs; an
// accessor tells the engine where each Sigma field is, once, when the engine is built.
// Rules come from YAML text (target fluxcap::yaml); the profile is written in C++ and
// does not carry parent fields inline, so ParentImage and GrandParentImage are matched on
// the parent's and grandparent's own events and carried by the flux capacitor.
//
// The program checks its own results and prints "sigma_embedding: OK" when they hold.
#include <fluxcap/memory.hpp>
#include <fluxcap/sigma/sigma.hpp>
#include <fluxcap/sigma/yaml.hpp>

#include <cstdio>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fs = fluxcap::sigma;

/// The application's event: what its agent reports when a process starts.
struct process_start {
  std::string host;
  std::string guid;
  std::string parent_guid;
  std::string image;
  std::string command_line;
};

/// The accessor: field paths are bound to members once; reading is a member access.
class process_start_fields {
 public:
  using event_type = process_start;
  /// The member a path names, or null for a field this application does not have.
  using field_handle = std::string process_start::*;

  field_handle field_handle_for(const fs::field_path& p) {
    static const std::pair<std::string_view, field_handle> members[] = {
        {"host", &process_start::host},
        {"guid", &process_start::guid},
        {"parent_guid", &process_start::parent_guid},
        {"Image", &process_start::image},
        {"CommandLine", &process_start::command_line}};
    for (const auto& [path, member] : members)
      if (p.text == path) return member;
    return nullptr;
  }

  template <class Sink>
  bool read(const event_type& e, field_handle h, Sink&& sink) const {
    if (h == nullptr) return false;  // absent: `exists: false` and `null` see it so
    sink(fs::field_value{fs::value_kind::string, e.*h});
    return true;
  }
};
static_assert(fs::field_accessor<process_start_fields>);

namespace {

constexpr std::string_view rules_yaml = R"(title: Shell spawned by Word
id: 0d2d9d3e-0000-4000-8000-000000000001
logsource: {category: process_creation, product: windows}
detection:
  selection:
    ParentImage|endswith: '\winword.exe'
    Image|endswith: '\cmd.exe'
  condition: selection
---
title: Discovery under a shell started by Office
id: 0d2d9d3e-0000-4000-8000-000000000002
logsource: {category: process_creation, product: windows}
detection:
  recon:
    CommandLine|contains|all: ['whoami', '/all']
  office_grandparent:
    GrandParentImage|endswith: ['\winword.exe', '\excel.exe']
  condition: recon and office_grandparent
)";

fs::profile application_profile() {
  fs::profile p;
  p.name = "my-agent";
  p.group = "host";
  p.process_id = "guid";
  p.parent_id = "parent_guid";
  // No inline_parent_fields: this agent reports a process, not its parent.
  return p;
}

}  // namespace

int main() {
  const std::vector<fs::rule> rules = fs::read_rules(rules_yaml, "<example>");
  // no_regex: these rules use no `re` modifier (fluxcap::sigma_pcre2 gives PCRE2).
  fs::compiled_rules compiled = fs::compile(rules, application_profile(), {}, fs::no_regex{});
  for (const auto& report : compiled.reports)
    if (report.status != fs::rule_status::ok) {
      std::printf("FAILED: rule %s: %s\n", report.identity.c_str(), report.reason.c_str());
      return 1;
    }

  const fs::engine<process_start_fields, fluxcap::exact_memory, fs::no_regex> engine(
      std::move(compiled));
  auto scratch = engine.make_scratch();                                      // one per thread
  std::map<std::string, decltype(engine.make_state()), std::less<>> states;  // one per host

  const std::vector<process_start> events = {
      {"ws1", "g1", "g0", R"(C:\Program Files\Office\WINWORD.EXE)", "winword report.docx"},
      {"ws1", "g2", "g1", R"(C:\Windows\System32\cmd.exe)", "cmd /c whoami /all"},
      {"ws1", "g3", "g2", R"(C:\Windows\System32\whoami.exe)", "whoami /all"},
      // The same commands on another host, under explorer: nothing fires.
      {"ws2", "h1", "h0", R"(C:\Windows\explorer.exe)", "explorer"},
      {"ws2", "h2", "h1", R"(C:\Windows\System32\cmd.exe)", "cmd /c whoami /all"},
      {"ws2", "h3", "h2", R"(C:\Windows\System32\whoami.exe)", "whoami /all"},
  };
  std::vector<std::string> seen;
  for (const auto& event : events) {
    const std::string host(engine.group_of(event, scratch).value_or(""));
    auto it = states.find(host);
    if (it == states.end()) it = states.emplace(host, engine.make_state()).first;
    for (const std::uint32_t r : engine.process(it->second, event, scratch)) {
      // compiled().rules[r].source_index: the rule's place in what was compiled.
      const std::string title =
          rules[engine.compiled().rules[r].source_index].title.value_or("(untitled)");
      std::printf("%s %s: %s\n", event.host.c_str(), event.guid.c_str(), title.c_str());
      seen.push_back(event.guid + ": " + title);
    }
  }

  const std::vector<std::string> expected = {
      "g2: Shell spawned by Word",                       // parent winword
      "g3: Discovery under a shell started by Office"};  // grandparent winword
  if (seen != expected) {
    std::printf("FAILED: unexpected detections\n");
    return 1;
  }
  std::printf("sigma_embedding: OK\n");
  return 0;
}
