// Compiled by tests/headers/strict.cmake with plain `-I include` (not -isystem, so the
// headers' own warnings show) and -Wall -Wextra -Wpedantic -Wconversion -Werror, under
// g++ and clang++: every header, and the templates instantiated for each memory.
#include <fluxcap/fluxcap.hpp>
#include <fluxcap/sigma/sigma.hpp>
#ifdef FLUXCAP_STRICT_YAML
#include <fluxcap/sigma/yaml.hpp>
#include <fluxcap/yaml.hpp>
#endif

#include <cstdint>
#include <vector>

namespace {

template <class Memory>
bool run_one() {
  const fluxcap::program prog = fluxcap::compile(
      fluxcap::spec{fluxcap::ancestor_rule("lineage", "parent_id", "id", {"office"}),
                    fluxcap::temporal_rule("recon", {"a", "b", "c"}).with_ordered()});
  fluxcap::dense_schema schema(prog);
  fluxcap::memory_config config;
  config.capacity = 1000;
  const fluxcap::flux_capacitor<fluxcap::dense_accessor, Memory> cap(
      prog, fluxcap::dense_accessor(schema), Memory(config));
  fluxcap::in_memory_state_store<fluxcap::group_state> hosts(cap.make_state());
  fluxcap::dense_event e(schema);
  e.set_tag(*schema.tag_index("lineage", "office"), true);
  e.set_column(*schema.column_index("id"), "10");
  cap.update(hosts.find_or_create("ws1"), e);
  const std::vector<std::uint8_t> saved = fluxcap::save_store(cap, hosts);
  fluxcap::in_memory_state_store<fluxcap::group_state> again(cap.make_state());
  fluxcap::load_store(cap, saved, again);
  const std::vector<std::uint8_t> one = fluxcap::save_state(cap, hosts.find_or_create("ws1"));
  return !saved.empty() && !one.empty();
}

/// A Sigma rule with a carried parent part, compiled and run once.
template <class Memory>
bool run_sigma() {
  namespace fs = fluxcap::sigma;
  fs::field_item parent_cli;
  parent_cli.field = "ParentCommandLine";
  parent_cli.modifiers = {fs::modifier::contains};
  parent_cli.values = {fs::sigma_value{fs::sigma_value::kind::string, "-enc", {}}};
  fs::rule r;
  r.identity = "encoded-parent";
  r.detections = {fs::detection{"selection", {fs::conjunction{{parent_cli}, {}}}, false, {}}};
  r.conditions = {"selection"};
  auto profile = *fs::builtin_profile("sysmon");
  profile.inline_parent_fields.clear();
  const std::vector<fs::rule> rules{r};
  fs::engine<fs::dense_fields, Memory> engine(fs::compile(rules, profile));
  auto scratch = engine.make_scratch();
  auto state = engine.make_state();
  fs::dense_field_event parent, child;
  parent.set("ProcessGuid", "1").set("CommandLine", "powershell -enc AAA");
  child.set("ProcessGuid", "2").set("ParentProcessGuid", "1");
  const bool parent_fires = !engine.process(state, parent, scratch).empty();
  const bool child_fires = !engine.process(state, child, scratch).empty();
  return !parent_fires && child_fires && !fs::describe_rules(engine.compiled()).empty();
}

}  // namespace

int main() {
  const bool ok = run_one<fluxcap::bloom_memory>() && run_one<fluxcap::cuckoo_memory>() &&
                  run_one<fluxcap::exact_memory>() && run_sigma<fluxcap::bloom_memory>() &&
                  run_sigma<fluxcap::cuckoo_memory>() && run_sigma<fluxcap::exact_memory>();
  return ok ? 0 : 1;
}
