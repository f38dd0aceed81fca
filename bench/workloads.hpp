// The benchmark workloads: their specs and their pre-generated event streams.
//
// A stream is a vector of pristine dense_events (inputs; the benchmark copies one
// into a work event before each update, since update rewrites tags in place), the
// group of each event, and the number of tag operations each event costs. Column
// values live in the stream (stable addresses), so the events' views stay valid.
#pragma once

#include "bench_util.hpp"

#include <fluxcap/fluxcap.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fluxcap_bench {

/// A compiled spec and its dense layout. Not movable: events point at the schema.
struct workload {
  explicit workload(const fluxcap::spec& s) : prog(fluxcap::compile(s)), schema(prog) {}
  workload(const workload&) = delete;
  workload& operator=(const workload&) = delete;

  fluxcap::program prog;
  fluxcap::dense_schema schema;
};

struct event_stream {
  std::vector<fluxcap::dense_event> events;  ///< pristine inputs
  std::vector<std::uint32_t> group;          ///< index into group_names
  std::vector<std::uint16_t> tag_ops;        ///< tags evaluated by each event
  std::vector<std::string> group_names;      ///< host ids (the state store's keys)
  std::deque<std::string> values;            ///< column values the events point into
  std::size_t warmup = 0;                    ///< events [0, warmup) prepare the states
  std::uint64_t parent_links = 0;            ///< events whose parent was seen before (trees)

  [[nodiscard]] std::size_t timed() const noexcept { return events.size() - warmup; }
};

/// Tag operations of one event under `prog`: every tag of every rule that is
/// evaluated (parent and ancestor rules always; temporal rules only when one of
/// their tags is true on the input). Each is one recall or remember (ancestor
/// tags that are true: a recall and a remember; ordered tags gated off: none).
inline std::uint16_t count_tag_ops(const workload& w, const fluxcap::dense_event& e) {
  std::size_t ops = 0;
  for (const auto& rule : w.prog.rules) {
    bool evaluated = !rule.skip_unless_tagged;
    for (std::size_t i = 0; i < rule.tags.size() && !evaluated; ++i)
      evaluated = e.tag(*w.schema.tag_index(rule.name, rule.tags[i].name));
    if (evaluated) ops += rule.tags.size();
  }
  return static_cast<std::uint16_t>(ops);
}

// ---------------------------------------------------------------------------
// Workload 1: the original's load test ("harness").

/// 4 parent rules, `parent: parent_key`, `child: key`; 143 tags in all.
inline fluxcap::spec harness_spec() {
  std::vector<fluxcap::tag_spec> rule1;
  for (const char* prefix : {"k", "m", "w", "x"})
    for (int i = 1; i <= 25; ++i) rule1.emplace_back(numbered(prefix, static_cast<std::size_t>(i)));
  std::vector<fluxcap::tag_spec> rule2{"pr2_selection", "pr2_filter_git"};
  std::vector<fluxcap::tag_spec> rule3{"pr3_selection_other", "pr3_selection_atexec"};
  for (int i = 1; i <= 12; ++i) {
    rule2.emplace_back(numbered("k", static_cast<std::size_t>(i)));
    rule3.emplace_back(numbered("k", static_cast<std::size_t>(i)));
  }
  std::vector<fluxcap::tag_spec> rule4;
  for (char c = 'a'; c <= 'o'; ++c) rule4.emplace_back(std::string(1, c));
  return fluxcap::spec{fluxcap::parent_rule("rule1", "parent_key", "key", rule1),
                       fluxcap::parent_rule("rule2", "parent_key", "key", rule2),
                       fluxcap::parent_rule("rule3", "parent_key", "key", rule3),
                       fluxcap::parent_rule("rule4", "parent_key", "key", rule4)};
}

/// Events of the load test: rule1's 100 tags and rule2's and rule3's k1..k12 are
/// each true with probability 1/2 (the other tags absent, i.e. false). Hosts take
/// turns; the n-th event of a host has key `<host uuid>_<n>_childkey` and
/// parent_key `<host uuid>_<n>_parentkey` (so a parent lookup never hits, as in
/// the original). `linked` (for verification only) instead points half of the
/// parent keys at the host's previous child key, so that lookups hit.
inline std::unique_ptr<event_stream> make_harness_stream(const workload& w, std::size_t hosts,
                                                         std::size_t warmup, std::size_t timed,
                                                         bool linked = false,
                                                         std::uint64_t seed = 1) {
  auto s = std::make_unique<event_stream>();
  rng r(seed);
  for (std::size_t h = 0; h < hosts; ++h) s->group_names.push_back(make_uuid(r));
  std::vector<std::size_t> random_tags;  // rule1's 100 tags, rule2's and rule3's k1..k12
  for (const auto& t : w.prog.rules[0].tags)
    random_tags.push_back(*w.schema.tag_index("rule1", t.name));
  for (std::size_t i = 1; i <= 12; ++i)
    for (const char* rule : {"rule2", "rule3"})
      random_tags.push_back(*w.schema.tag_index(rule, numbered("k", i)));
  const std::size_t key_col = *w.schema.column_index("key");
  const std::size_t parent_col = *w.schema.column_index("parent_key");
  const std::size_t total = warmup + timed;
  s->events.reserve(total);
  for (std::size_t j = 0; j < total; ++j) {
    const std::size_t h = j % hosts;
    const std::size_t n = j / hosts;
    const std::string& host = s->group_names[h];
    fluxcap::dense_event e(w.schema);
    for (const std::size_t t : random_tags)
      if (r.next() & 1U) e.set_tag(t, true);
    const std::string prefix = host + "_";
    const std::string& key = s->values.emplace_back(numbered(prefix, n, "_childkey"));
    const std::string& parent = s->values.emplace_back(linked && n > 0 && (r.next() & 1U)
                                                           ? numbered(prefix, n - 1, "_childkey")
                                                           : numbered(prefix, n, "_parentkey"));
    e.set_column(key_col, key);
    e.set_column(parent_col, parent);
    s->tag_ops.push_back(count_tag_ops(w, e));
    s->group.push_back(static_cast<std::uint32_t>(h));
    s->events.push_back(std::move(e));
  }
  s->warmup = warmup;
  return s;
}

// ---------------------------------------------------------------------------
// Workload 2: process trees.

/// Parent, ancestor and temporal rules (unordered; ordered; ordered by folder).
inline fluxcap::spec process_tree_spec() {
  using fluxcap::temporal_rule;
  return fluxcap::spec{
      fluxcap::parent_rule("suspicious_parent", "parent_id", "id",
                           {"office_app", "script_host", "encoded_command", "lolbin", "net_tool",
                            "unsigned_image", "temp_path", "admin_share"}),
      fluxcap::ancestor_rule(
          "suspicious_lineage", "parent_id", "id",
          {"remote_session", "browser", "dropper", "uac_bypass", "service_install", "injected"}),
      temporal_rule("recon", {"whoami", "net_user", "ipconfig", "systeminfo", "tasklist"}),
      temporal_rule("lateral_movement",
                    {"credential_dump", "remote_exec", "persistence", "log_cleared"})
          .with_ordered(),
      temporal_rule("staging", {"archive_created", "archive_copied", "archive_sent"})
          .with_ordered()
          .with_groupby({"captured_folder"}),
  };
}

inline constexpr std::array<std::string_view, 8> folders = {
    "C:\\Windows\\System32",
    "C:\\Windows\\Temp",
    "C:\\Users\\alice\\AppData\\Local\\Temp",
    "C:\\Users\\bob\\Downloads",
    "C:\\ProgramData\\Microsoft\\Windows\\Start Menu\\Programs\\StartUp",
    "C:\\Program Files\\Microsoft Office\\root\\Office16",
    "/tmp",
    "/home/alice/.cache"};

/// Process-creation events. Hosts: 80% of events go to a uniformly chosen host,
/// 20% to the busiest 1% (most hosts are quiet). 80% of hosts are Windows
/// (Sysmon ProcessGuid ids, 38 characters), 20% Linux (PIDs, reused after wrap).
/// Parents: 1% null, 5% a process never seen on the host (started before the
/// stream), 40% the host's most recent process (deep chains: shell -> shell ->
/// ...), else one of its 16 most recent, biased to the newest. Every spec'd tag
/// is true with probability `p_tag`; the folder is null for 2% of events.
inline std::unique_ptr<event_stream> make_process_tree_stream(const workload& w, std::size_t hosts,
                                                              std::size_t warmup, std::size_t timed,
                                                              double p_tag = 0.05,
                                                              std::uint64_t seed = 2) {
  auto s = std::make_unique<event_stream>();
  rng r(seed);
  struct host_state {
    bool linux_pids = false;
    std::uint32_t next_pid = 1000;
    std::array<const std::string*, 16> recent{};
    std::uint32_t recent_count = 0;
    std::uint32_t newest = 0;
  };
  std::vector<host_state> hs(hosts);
  for (std::size_t h = 0; h < hosts; ++h) {
    s->group_names.push_back(make_uuid(r));
    hs[h].linux_pids = r.chance(0.2);
    hs[h].next_pid = 300 + static_cast<std::uint32_t>(r.below(30000));
  }
  std::vector<std::size_t> tag_indices;
  for (const auto& rule : w.prog.rules)
    for (const auto& t : rule.tags) tag_indices.push_back(*w.schema.tag_index(rule.name, t.name));
  const std::size_t id_col = *w.schema.column_index("id");
  const std::size_t parent_col = *w.schema.column_index("parent_id");
  const std::size_t folder_col = *w.schema.column_index("captured_folder");
  const std::size_t busy = std::max<std::size_t>(1, hosts / 100);

  auto new_id = [&](host_state& host) -> const std::string& {
    if (!host.linux_pids) return s->values.emplace_back(make_guid(r));
    host.next_pid += 1 + static_cast<std::uint32_t>(r.below(8));
    if (host.next_pid >= 4194304) host.next_pid = 300;  // pid_max: PIDs are reused
    return s->values.emplace_back(std::to_string(host.next_pid));
  };

  const std::size_t total = warmup + timed;
  s->events.reserve(total);
  for (std::size_t j = 0; j < total; ++j) {
    const std::size_t h = r.chance(0.2) ? r.below(busy) : r.below(hosts);
    host_state& host = hs[h];
    fluxcap::dense_event e(w.schema);
    for (const std::size_t t : tag_indices)
      if (r.chance(p_tag)) e.set_tag(t, true);

    const double u = r.uniform();
    if (host.recent_count == 0 || (u >= 0.01 && u < 0.06)) {
      e.set_column(parent_col, new_id(host));  // a parent from before the stream
    } else if (u >= 0.01) {
      std::uint32_t age = 0;  // 0: the newest process of the host
      if (u >= 0.46) {
        age = static_cast<std::uint32_t>(
            std::min(r.below(host.recent_count), r.below(host.recent_count)));
      }
      const std::uint32_t at = (host.newest + 16 - age) % 16;
      e.set_column(parent_col, *host.recent[at]);
      ++s->parent_links;
    }  // else: null parent (column missing)

    const std::string& id = new_id(host);
    e.set_column(id_col, id);
    host.newest = (host.newest + 1) % 16;
    host.recent[host.newest] = &id;
    host.recent_count = std::min<std::uint32_t>(host.recent_count + 1, 16);

    if (!r.chance(0.02)) e.set_column(folder_col, folders[r.below(folders.size())]);
    s->tag_ops.push_back(count_tag_ops(w, e));
    s->group.push_back(static_cast<std::uint32_t>(h));
    s->events.push_back(std::move(e));
  }
  s->warmup = warmup;
  return s;
}

// ---------------------------------------------------------------------------
// Workload 3: temporal rules only.

/// 5 temporal rules of 3 to 5 tags: unordered, ordered, one ordered by folder.
inline fluxcap::spec temporal_spec() {
  using fluxcap::temporal_rule;
  return fluxcap::spec{
      temporal_rule("recon", {"whoami", "net_user", "ipconfig", "systeminfo"}),
      temporal_rule("lateral", {"credential_dump", "remote_exec", "persistence"}).with_ordered(),
      temporal_rule("exfil", {"archive", "stage", "upload", "wipe", "beacon"}),
      temporal_rule("staging", {"drop", "execute", "rename", "cleanup"})
          .with_ordered()
          .with_groupby({"captured_folder"}),
      temporal_rule("discovery", {"share_enum", "domain_trust", "spn_query"}),
  };
}

/// The same rules, each with a 5-minute timespan (semantics section 6), time in `ts`.
inline fluxcap::spec timed_temporal_spec() {
  fluxcap::spec s = temporal_spec();
  for (auto& r : s.rules) r.with_timespan(std::chrono::minutes(5));
  s.with_timestamp("ts");
  return s;
}

/// Each event carries 1 or 2 (equally likely) of the spec's 19 tags, chosen
/// uniformly, and a folder; hosts chosen uniformly. With a `ts` column in the schema
/// (timed_temporal_spec), events are 10 ms apart, as epoch seconds with milliseconds.
inline std::unique_ptr<event_stream> make_temporal_stream(const workload& w, std::size_t hosts,
                                                          std::size_t warmup, std::size_t timed,
                                                          std::uint64_t seed = 3) {
  auto s = std::make_unique<event_stream>();
  rng r(seed);
  for (std::size_t h = 0; h < hosts; ++h) s->group_names.push_back(make_uuid(r));
  std::vector<std::size_t> tag_indices;
  for (const auto& rule : w.prog.rules)
    for (const auto& t : rule.tags) tag_indices.push_back(*w.schema.tag_index(rule.name, t.name));
  const std::size_t folder_col = *w.schema.column_index("captured_folder");
  const std::optional<std::size_t> time_col = w.schema.column_index("ts");
  const std::size_t total = warmup + timed;
  s->events.reserve(total);
  for (std::size_t j = 0; j < total; ++j) {
    fluxcap::dense_event e(w.schema);
    const int n = 1 + static_cast<int>(r.next() & 1U);
    for (int i = 0; i < n; ++i) e.set_tag(tag_indices[r.below(tag_indices.size())], true);
    e.set_column(folder_col, folders[r.below(folders.size())]);
    if (time_col) {
      const std::uint64_t ms = 1'796'119'200'000ULL + 10 * j;  // from 2026-12-01T10:00:00Z
      e.set_column(*time_col, s->values.emplace_back(std::to_string(ms / 1000) + "." +
                                                     std::to_string(1000 + ms % 1000).substr(1)));
    }
    s->tag_ops.push_back(count_tag_ops(w, e));
    s->group.push_back(static_cast<std::uint32_t>(r.below(hosts)));
    s->events.push_back(std::move(e));
  }
  s->warmup = warmup;
  return s;
}

}  // namespace fluxcap_bench
