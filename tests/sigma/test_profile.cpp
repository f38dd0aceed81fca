// Profiles, field paths and the dense accessor (fluxcap/sigma/profile.hpp,
// fluxcap/sigma/field_accessor.hpp).
#include <doctest/doctest.h>
#include <fluxcap/sigma/field_accessor.hpp>
#include <fluxcap/sigma/profile.hpp>

#include <string>
#include <vector>

using namespace fluxcap::sigma;

TEST_CASE("field_path splits at dots and honours escapes") {
  CHECK(field_path::parse("a.b.c").segments == std::vector<std::string>{"a", "b", "c"});
  CHECK(field_path::parse("Image").segments == std::vector<std::string>{"Image"});
  CHECK(field_path::parse("a\\.b.c").segments == std::vector<std::string>{"a.b", "c"});
  CHECK(field_path::parse("a\\\\.b").segments == std::vector<std::string>{"a\\", "b"});
  CHECK(field_path::parse("Event.System.TimeCreated.#attributes.SystemTime").segments.size() == 5);
  CHECK(field_path::parse("@timestamp").segments == std::vector<std::string>{"@timestamp"});
}

TEST_CASE("built-in profiles map fields and name their inline parent fields") {
  for (auto name : builtin_profile_names) CHECK(builtin_profile(name).has_value());
  CHECK_FALSE(builtin_profile("nope").has_value());

  const auto sysmon = *builtin_profile("sysmon");
  CHECK(sysmon.path_of("CommandLine") == "CommandLine");
  CHECK(sysmon.is_inline_parent("ParentCommandLine"));
  CHECK(sysmon.group == "Hostname");

  const auto s4688 = *builtin_profile("security-4688");
  CHECK(s4688.path_of("Image") == "NewProcessName");
  CHECK(s4688.path_of("ParentProcessId") == "ProcessId");
  CHECK(s4688.is_inline_parent("ParentImage"));
  CHECK_FALSE(s4688.is_inline_parent("ParentCommandLine"));

  const auto ecs = *builtin_profile("ecs");
  CHECK(ecs.path_of("CommandLine") == "process.command_line");
  CHECK(ecs.path_of("ParentCommandLine") == "process.parent.command_line");

  const auto evtx = *builtin_profile("evtx-json");
  CHECK(evtx.path_of("CommandLine") == "Event.EventData.CommandLine");
  CHECK(evtx.path_of("EventID") == "Event.System.EventID");
}

TEST_CASE("dense_fields reads values, arrays and absence") {
  static_assert(field_accessor<dense_fields>);
  static_assert(string_enumerating_accessor<dense_fields>);
  dense_fields a;
  const auto image = a.field_handle_for(field_path::parse("Image"));
  const auto tags = a.field_handle_for(field_path::parse("Tags"));
  const auto missing = a.field_handle_for(field_path::parse("Missing"));
  dense_field_event e;
  e.set("Image", "C:\\Windows\\cmd.exe").set_array("Tags", {"a", "b"});
  std::vector<std::string> seen;
  auto sink = [&](field_value v) { seen.emplace_back(v.text); };
  CHECK(a.read(e, image, sink));
  CHECK(a.read(e, tags, sink));
  CHECK_FALSE(a.read(e, missing, sink));
  CHECK(seen == std::vector<std::string>{"C:\\Windows\\cmd.exe", "a", "b"});
  std::size_t strings = 0;
  a.for_each_string(e, [&](std::string_view) { ++strings; });
  CHECK(strings == 3);
}
