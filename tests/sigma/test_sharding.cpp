// More carried context parts of one kind than a flux rule may hold (program.hpp,
// max_tags_per_rule): the compiler shards them over several generated flux rules, and
// each shard carries its parts, for parents and for both hops of grandparents.
#include <fluxcap/memory.hpp>
#include <fluxcap/program.hpp>
#include <fluxcap/sigma/compile.hpp>
#include <fluxcap/sigma/engine.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace fluxcap::sigma;

namespace {

field_item endswith(std::string field, std::string value) {
  field_item item;
  item.field = std::move(field);
  item.modifiers = {modifier::endswith};
  item.values = {sigma_value{sigma_value::kind::string, std::move(value), {}}};
  return item;
}

/// `Image|endswith: child` and `<context_field>|endswith: \<prefix><i>.exe`.
rule context_rule(const std::string& prefix, std::size_t i, const std::string& context_field,
                  const std::string& child) {
  rule r;
  r.identity = prefix + std::to_string(i);
  r.id = r.identity;
  r.source.category = "process_creation";
  detection d;
  d.name = "sel";
  conjunction c;
  c.items = {endswith("Image", child),
             endswith(context_field, "\\" + prefix + std::to_string(i) + ".exe")};
  d.any_of = {c};
  r.detections = {d};
  r.conditions = {"sel"};
  r.condition_where = {source_span{}};
  return r;
}

profile sharding_profile() {
  profile p;
  p.name = "sharding";
  p.source.category = "process_creation";
  p.group = "host";
  p.process_id = "pid";
  p.parent_id = "ppid";
  return p;
}

dense_field_event process(const std::string& pid, const std::string& ppid,
                          const std::string& image) {
  dense_field_event e;
  e.set("host", "h").set("pid", pid).set("ppid", ppid).set("Image", image);
  return e;
}

}  // namespace

TEST_CASE("sharding: more carried parts than a flux rule holds are split over rules") {
  constexpr std::size_t per_kind = fluxcap::max_tags_per_rule + 200;
  std::vector<rule> rules;
  for (std::size_t i = 0; i < per_kind; ++i)
    rules.push_back(context_rule("p", i, "ParentImage", "\\cmd.exe"));
  for (std::size_t i = 0; i < per_kind; ++i)
    rules.push_back(context_rule("g", i, "GrandParentImage", "\\whoami.exe"));
  auto compiled = compile(rules, sharding_profile(), {}, no_regex{});
  REQUIRE(compiled.count(rule_status::ok) == 2 * per_kind);
  REQUIRE(compiled.parts.size() == 2 * per_kind);

  // Two shards a kind (grandparents: two hops each), every tag in exactly one shard of
  // its kind, no shard over the limit.
  std::map<std::string, std::string> shard_of_tag;  // tag -> rule name, per hop prefix
  std::vector<std::string> names;
  for (const auto& r : compiled.flux.rules) {
    names.push_back(r.name);
    CHECK(r.tags.size() <= fluxcap::max_tags_per_rule);
    for (const auto& t : r.tags) {
      const std::string key = r.name.substr(0, r.name.rfind('-')) + "|" + t.name;
      CHECK(shard_of_tag.emplace(key, r.name).second);
    }
  }
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"sigma-grandparent-1-0", "sigma-grandparent-1-1",
                                          "sigma-grandparent-2-0", "sigma-grandparent-2-1",
                                          "sigma-parent-0", "sigma-parent-1"});

  // Sampled rules of both kinds, covering both shards of each: every one fires on its
  // own tree and on no other.
  const auto tag_of = [&](std::size_t rule_index) {
    return compiled.parts[compiled.rules[rule_index].identifiers[0].any_of[0].carried_parts[0]].tag;
  };
  std::vector<std::size_t> sample;
  for (std::size_t i = 0; i < per_kind; i += 97) sample.push_back(i);
  sample.push_back(per_kind - 1);
  std::set<std::string> shards_used;
  for (const auto i : sample) {
    shards_used.insert(shard_of_tag.at("sigma-parent|" + tag_of(i)));
    shards_used.insert(shard_of_tag.at("sigma-grandparent-1|" + tag_of(per_kind + i)));
  }
  CHECK(shards_used == std::set<std::string>{"sigma-grandparent-1-0", "sigma-grandparent-1-1",
                                             "sigma-parent-0", "sigma-parent-1"});

  const engine<dense_fields, fluxcap::exact_memory, no_regex> eng(std::move(compiled));
  auto scratch = eng.make_scratch();
  auto state = eng.make_state();
  for (const auto i : sample) {
    const std::string n = std::to_string(i);
    // g<i> -> p<i> -> cmd (parent rule p<i>) and -> whoami (grandparent rule g<i>).
    const auto fired = [&](const dense_field_event& e) {
      std::vector<std::string> ids;
      for (const auto r : eng.process(state, e, scratch))
        ids.push_back(eng.compiled().rules[r].identity);
      return ids;
    };
    CHECK(fired(process("a" + n, "root", "C:\\g" + n + ".exe")).empty());
    CHECK(fired(process("b" + n, "a" + n, "C:\\p" + n + ".exe")).empty());
    CHECK(fired(process("c" + n, "b" + n, "C:\\cmd.exe")) == std::vector<std::string>{"p" + n});
    CHECK(fired(process("d" + n, "b" + n, "C:\\whoami.exe")) == std::vector<std::string>{"g" + n});
    // Under another parent nothing fires.
    CHECK(fired(process("e" + n, "a" + n, "C:\\whoami.exe")).empty());
  }
}
