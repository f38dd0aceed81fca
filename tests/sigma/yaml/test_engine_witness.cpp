// Candidate gating (compile.hpp choose_witnesses, engine.hpp mark_true_items): which
// item becomes a rule's witness (the rarest by the static estimate), an `all` item
// witnessed by its rarest value only, and detections in load order whatever order the
// candidates come in. Every event is also checked against the naive evaluator.
#include <doctest/doctest.h>
#include <fluxcap/sigma/compile.hpp>
#include <fluxcap/sigma/engine.hpp>
#include <fluxcap/sigma/yaml.hpp>

#include <string>
#include <vector>

#include "naive_evaluator.hpp"

using namespace fluxcap::sigma;

namespace {

using event = dense_field_event;
using names = std::vector<std::string>;

event make_event(std::string image, std::string command_line, std::string user = "u") {
  event e;
  e.set("Hostname", "h")
      .set("ProcessGuid", "{1}")
      .set("Image", std::move(image))
      .set("CommandLine", std::move(command_line))
      .set("User", std::move(user));
  return e;
}

/// Detections of each event (engine, bloom memory); CHECKs engine == naive on each.
std::vector<names> run(const std::vector<rule>& rules, const compiled_rules& compiled,
                       const std::vector<event>& events) {
  const auto p = *builtin_profile("sysmon");  // a copy: builtin_profile returns a value
  engine<dense_fields> eng(compiled);
  std::vector<bool> supported(rules.size(), false);
  for (const auto& r : compiled.reports) supported[r.source_index] = r.status == rule_status::ok;
  sigma_test::naive_evaluator<> naive(rules, p);
  auto scratch = eng.make_scratch();
  auto state = eng.make_state();
  std::vector<names> out;
  for (std::size_t i = 0; i < events.size(); ++i) {
    names fired;
    for (const auto r : eng.process(state, events[i], scratch))
      fired.push_back(eng.compiled().rules[r].identity);
    INFO("event " << i);
    CHECK(fired == naive.process(events[i], supported));
    out.push_back(std::move(fired));
  }
  return out;
}

/// The items of `c` that are a witness of rule `r`, as their `text`.
names witnesses_of(const compiled_rules& c, std::uint32_t r) {
  names out;
  for (const auto& it : c.items)
    if (it.witness_rule == r) out.push_back(it.text);
  return out;
}

constexpr const char* all_rules = R"(
title: a
id: all-long-last
logsource: {category: process_creation, product: windows}
detection:
  sel:
    CommandLine|contains|all: ['-e', 'invoke-some-rare-thing']
  condition: sel
---
title: b
id: all-long-first
logsource: {category: process_creation, product: windows}
detection:
  sel:
    CommandLine|contains|all: ['another-rare-thing', ' /c']
  condition: sel
)";

}  // namespace

TEST_CASE("sigma witness: an all item is witnessed by its rarest value only") {
  const auto rules = read_rules(all_rules, "all.yml");
  const auto c = compile(rules, *builtin_profile("sysmon"));
  REQUIRE(c.rules.size() == 2);
  REQUIRE(c.items.size() == 2);
  CHECK(c.items[0].witness_rule == 0);
  CHECK(c.items[0].witness_value == 1);  // 'invoke-some-rare-thing'
  CHECK(c.items[1].witness_rule == 1);
  CHECK(c.items[1].witness_value == 0);  // 'another-rare-thing'
  CHECK(c.always_candidates.empty());
  const std::vector<event> events = {
      make_event("C:\\x.exe", "x -e y"),                       // only the common value
      make_event("C:\\x.exe", "x invoke-some-rare-thing"),     // only the rare one
      make_event("C:\\x.exe", "x -e invoke-some-rare-thing"),  // both: fires
      make_event("C:\\x.exe", "cmd /c another-rare-thing"),    // both: fires
      make_event("C:\\x.exe", "-e another-rare-thing /c invoke-some-rare-thing"),  // both rules
      make_event("C:\\x.exe", "another-rare-thing"),
  };
  const auto got = run(rules, c, events);
  CHECK(got[0].empty());
  CHECK(got[1].empty());
  CHECK(got[2] == names{"all-long-last"});
  CHECK(got[3] == names{"all-long-first"});
  CHECK(got[4] == names{"all-long-last", "all-long-first"});
  CHECK(got[5].empty());
}

TEST_CASE("sigma witness: the rarer identifier of a conjunction is the witness") {
  // '\cmd.exe' is named by three rules (a common tool), the command-line literal is long.
  const auto rules = read_rules(R"(
title: a
id: img-and-cli
logsource: {category: process_creation, product: windows}
detection:
  img:
    Image|endswith: '\cmd.exe'
  cli:
    CommandLine|contains: 'some-rare-argument'
  condition: img and cli
---
title: b
id: img-2
logsource: {category: process_creation, product: windows}
detection:
  img:
    Image|endswith: '\cmd.exe'
  user:
    User: 'someone'
  condition: img and user
---
title: c
id: img-3
logsource: {category: process_creation, product: windows}
detection:
  img:
    Image|endswith: '\cmd.exe'
  condition: img
)",
                                "conj.yml");
  const auto c = compile(rules, *builtin_profile("sysmon"));
  REQUIRE(c.rules.size() == 3);
  CHECK(witnesses_of(c, 0) == names{"CommandLine|contains: 'some-rare-argument'"});
  CHECK(witnesses_of(c, 2) == names{"Image|endswith: '\\cmd.exe'"});
  const std::vector<event> events = {
      make_event("C:\\Windows\\cmd.exe", "cmd /c dir"),
      make_event("C:\\Windows\\cmd.exe", "cmd /c some-rare-argument", "someone"),
      make_event("C:\\Windows\\x.exe", "x some-rare-argument", "someone"),
  };
  const auto got = run(rules, c, events);
  CHECK(got[0] == names{"img-3"});
  CHECK(got[1] == names{"img-and-cli", "img-2", "img-3"});
  CHECK(got[2].empty());
}

TEST_CASE("sigma witness: detections in load order when candidates come in another") {
  // Rule 0 binds User before Image, so User's values are read (and its witnesses found)
  // first: rule 2 (User) becomes a candidate before rule 1 (Image).
  const auto rules = read_rules(R"(
title: a
id: binds-user-first
logsource: {category: process_creation, product: windows}
detection:
  u:
    User: 'nobody-at-all'
  i:
    Image: 'C:\none.exe'
  condition: u and i
---
title: b
id: on-image
logsource: {category: process_creation, product: windows}
detection:
  sel:
    Image|endswith: '\tool-with-a-long-name.exe'
  condition: sel
---
title: c
id: on-user
logsource: {category: process_creation, product: windows}
detection:
  sel:
    User: 'a-particular-user'
  condition: sel
)",
                                "order.yml");
  const auto c = compile(rules, *builtin_profile("sysmon"));
  REQUIRE(c.rules.size() == 3);
  const auto got =
      run(rules, c, {make_event("C:\\tool-with-a-long-name.exe", "x", "a-particular-user")});
  CHECK(got[0] == names{"on-image", "on-user"});
}
