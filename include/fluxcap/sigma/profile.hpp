// Profiles: what the events of one log source look like (contract section 2).
//
// A profile says which rules apply (logsource), where the group key (host), the process
// id and parent id and the timestamp are, where each Sigma field is read, and which
// `Parent<X>` fields the child's own event carries ("inline"). Every other `Parent<X>`,
// and every `GrandParent<X>` and `Ancestor<X>`, is evaluated on that process's own event
// and carried by the flux capacitor (fluxcap/sigma/compile.hpp).
//
// Built-in profiles: `sysmon` (Sysmon EventID 1 as flat JSON), `security-4688` (Windows
// Security 4688, flat EventData), `ecs` (Elastic Common Schema) and `evtx-json`
// (evtx_dump's {"Event":{"System":...,"EventData":...}} documents). User profiles are
// YAML files (fluxcap/sigma/yaml.hpp).
#pragma once

#include <fluxcap/detail/abi_macros.hpp>
#include <fluxcap/sigma/rule.hpp>

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

FLUXCAP_BEGIN_NAMESPACE

namespace sigma {

struct profile {
  std::string name;
  /// Rules apply when each of these that is set equals the rule's (ASCII
  /// case-insensitively); a rule that omits one still applies.
  logsource source;
  std::string group;       ///< path of the group key (the host)
  std::string process_id;  ///< path of this process's id
  std::string parent_id;   ///< path of the parent process's id
  /// Lower-case ASCII letters of ids before keying (GUID case varies between sources;
  /// hexadecimal process ids).
  bool lower_case_ids = true;
  std::optional<std::string> timestamp;  ///< path; RFC 3339, epoch seconds or Sysmon UtcTime
  /// Where unmapped Sigma fields are read: `prefix.Field` ("" = the top level).
  std::string field_prefix;
  /// Sigma field -> path, for fields not read by their own name.
  std::vector<std::pair<std::string, std::string>> fields;
  /// `Parent<X>` fields the child's event carries; matched on the child.
  std::vector<std::string> inline_parent_fields;
  /// For `|expand`: `%name%` -> values (each a Sigma string).
  std::vector<std::pair<std::string, std::vector<std::string>>> placeholders;
  /// Fields this source never has: `check` warns about rules that need them.
  std::vector<std::string> absent_fields;
  source_span where;  ///< of a user profile's file

  /// The event path a Sigma field is read from.
  [[nodiscard]] std::string path_of(std::string_view sigma_field) const {
    for (const auto& [from, to] : fields)
      if (from == sigma_field) return to;
    if (field_prefix.empty()) return std::string(sigma_field);
    std::string path = field_prefix;
    path += '.';
    path += sigma_field;
    return path;
  }

  [[nodiscard]] bool is_inline_parent(std::string_view sigma_field) const {
    return std::find(inline_parent_fields.begin(), inline_parent_fields.end(), sigma_field) !=
           inline_parent_fields.end();
  }

  [[nodiscard]] const std::vector<std::string>* placeholder(
      std::string_view placeholder_name) const {
    for (const auto& [key, values] : placeholders)
      if (key == placeholder_name) return &values;
    return nullptr;
  }
};

/// Names of the built-in profiles, in documentation order.
inline constexpr std::array<std::string_view, 4> builtin_profile_names{"sysmon", "security-4688",
                                                                       "ecs", "evtx-json"};

/// A built-in profile by name, or nullopt.
[[nodiscard]] inline std::optional<profile> builtin_profile(std::string_view name) {
  profile p;
  p.source.category = "process_creation";
  p.source.product = "windows";
  if (name == "sysmon") {
    p.name = "sysmon";
    p.group = "Hostname";
    p.process_id = "ProcessGuid";
    p.parent_id = "ParentProcessGuid";
    p.timestamp = "UtcTime";
    p.inline_parent_fields = {"ParentImage", "ParentCommandLine", "ParentUser", "ParentProcessId",
                              "ParentProcessGuid"};
    return p;
  }
  if (name == "security-4688") {
    p.name = "security-4688";
    p.group = "Computer";
    p.process_id = "NewProcessId";
    p.parent_id = "ProcessId";  // 4688's ProcessId is the creator's
    p.timestamp = "TimeCreated";
    p.fields = {{"Image", "NewProcessName"},
                {"ParentImage", "ParentProcessName"},
                {"LogonId", "SubjectLogonId"},
                {"ProcessId", "NewProcessId"},
                {"ParentProcessId", "ProcessId"}};
    p.inline_parent_fields = {"ParentImage", "ParentProcessId"};
    p.absent_fields = {"OriginalFileName", "Hashes",  "CurrentDirectory", "Description",
                       "Product",          "Company", "IntegrityLevel",   "ParentCommandLine",
                       "ParentUser"};
    return p;
  }
  if (name == "ecs") {
    p.name = "ecs";
    p.group = "host.name";
    p.process_id = "process.entity_id";
    p.parent_id = "process.parent.entity_id";
    p.timestamp = "@timestamp";
    p.lower_case_ids = false;
    p.fields = {{"Image", "process.executable"},
                {"CommandLine", "process.command_line"},
                {"OriginalFileName", "process.pe.original_file_name"},
                {"CurrentDirectory", "process.working_directory"},
                {"User", "user.name"},
                {"ProcessId", "process.pid"},
                {"Description", "process.pe.description"},
                {"Product", "process.pe.product"},
                {"Company", "process.pe.company"},
                {"ParentImage", "process.parent.executable"},
                {"ParentCommandLine", "process.parent.command_line"},
                {"ParentProcessId", "process.parent.pid"}};
    p.inline_parent_fields = {"ParentImage", "ParentCommandLine", "ParentProcessId"};
    p.absent_fields = {"Hashes"};
    return p;
  }
  if (name == "evtx-json") {
    p.name = "evtx-json";
    p.group = "Event.System.Computer";
    p.process_id = "Event.EventData.ProcessGuid";
    p.parent_id = "Event.EventData.ParentProcessGuid";
    p.timestamp = "Event.System.TimeCreated.#attributes.SystemTime";
    p.field_prefix = "Event.EventData";
    p.fields = {{"Provider_Name", "Event.System.Provider.#attributes.Name"},
                {"EventID", "Event.System.EventID"},
                {"Channel", "Event.System.Channel"},
                {"Computer", "Event.System.Computer"}};
    p.inline_parent_fields = {"ParentImage", "ParentCommandLine", "ParentUser", "ParentProcessId",
                              "ParentProcessGuid"};
    return p;
  }
  return std::nullopt;
}

}  // namespace sigma

FLUXCAP_END_NAMESPACE
