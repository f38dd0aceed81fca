// Identical regexes and leaves are compiled once and shared (compile.hpp,
// share_identical_checks; engine.hpp): one regex per (pattern, flags), one check per
// distinct leaf, while each rule keeps its own items (`all`, `neq`, negation in the
// condition). Detections are checked by value and against the naive evaluator.
#if FLUXCAP_SIGMA_TEST_YAML
#include <doctest/doctest.h>
#include <fluxcap/memory.hpp>
#include <fluxcap/sigma/compile.hpp>
#include <fluxcap/sigma/engine.hpp>
#include <fluxcap/sigma/pcre2.hpp>
#include <fluxcap/sigma/yaml.hpp>

#include <set>
#include <string>
#include <vector>

#include "../naive_evaluator.hpp"

using namespace fluxcap::sigma;

namespace {

constexpr const char* shared_rules = R"(title: a
id: a
logsource: {category: process_creation, product: windows}
detection:
  selection:
    CommandLine|re: 'foo\d+bar'
    Image|endswith: '\cmd.exe'
  condition: selection
---
title: b
id: b
logsource: {category: process_creation, product: windows}
detection:
  re: {CommandLine|re: 'foo\d+bar'}
  img: {Image|endswith: '\cmd.exe'}
  condition: re and not img
---
title: c
id: c
logsource: {category: process_creation, product: windows}
detection:
  selection:
    CommandLine|contains|all: ['foo', 'bar']
  condition: selection
---
title: d
id: d
logsource: {category: process_creation, product: windows}
detection:
  selection:
    CommandLine|contains: ['zzz', 'foo']
  condition: selection
---
title: e
id: e
logsource: {category: process_creation, product: windows}
detection:
  selection:
    ParentCommandLine|re: 'foo\d+bar'
  condition: selection
---
title: f
id: f
logsource: {category: process_creation, product: windows}
detection:
  selection:
    CommandLine|re|i: 'foo\d+bar'
  condition: selection
---
title: g
id: g
logsource: {category: process_creation, product: windows}
detection:
  selection:
    CommandLine|contains|cased: 'foo'
  condition: selection
)";

dense_field_event event(std::string image, std::string command_line,
                        std::string parent_command_line = "") {
  dense_field_event e;
  e.set("Hostname", "h")
      .set("ProcessGuid", "{1}")
      .set("ParentProcessGuid", "{0}")
      .set("Image", std::move(image))
      .set("CommandLine", std::move(command_line));
  if (!parent_command_line.empty()) e.set("ParentCommandLine", std::move(parent_command_line));
  return e;
}

}  // namespace

TEST_CASE("identical regexes and leaves are shared, rules keep their own items") {
  const auto rules = read_rules(shared_rules, "shared.yml");
  const pcre2_engine regex;
  const profile sysmon = *builtin_profile("sysmon");
  auto compiled = compile(rules, sysmon, {}, regex);
  REQUIRE(compiled.rules.size() == 7);
  // 'foo\d+bar' on CommandLine (a, b), on ParentCommandLine (e), and with `i` (f).
  CHECK(compiled.regexes.size() == 2);
  std::set<std::uint32_t> checks;
  for (std::uint32_t l = 0; l < compiled.leaves.size(); ++l) {
    const auto& leaf = compiled.leaves[l];
    CHECK(leaf.check <= l);
    CHECK(compiled.leaves[leaf.check].check == leaf.check);
    checks.insert(leaf.check);
  }
  // Leaves: a 2, b 2, c 2, d 2, e 1, f 1, g 1 = 11; shared: b's two with a's, d's 'foo'
  // with c's (same field, anchor, case). g's is cased: its own. e's and f's regex leaves
  // differ by field and by flags.
  CHECK(compiled.leaves.size() == 11);
  CHECK(checks.size() == 8);

  const engine<dense_fields, fluxcap::exact_memory, pcre2_engine> eng(
      compiled, dense_fields{}, fluxcap::exact_memory{}, regex);
  sigma_test::naive_evaluator<pcre2_engine> naive(rules, sysmon, regex);
  const std::vector<bool> supported(rules.size(), true);
  auto scratch = eng.make_scratch();
  auto state = eng.make_state();
  const auto fired = [&](const dense_field_event& e) {
    std::vector<std::string> out;
    for (const auto r : eng.process(state, e, scratch))
      out.push_back(eng.compiled().rules[r].identity);
    CHECK(out == naive.process(e, supported));
    return out;
  };
  using names = std::vector<std::string>;
  CHECK(fired(event("C:\\Windows\\cmd.exe", "x foo12bar y")) == names{"a", "c", "d", "f", "g"});
  CHECK(fired(event("C:\\Windows\\ps.exe", "x foo12bar y")) == names{"b", "c", "d", "f", "g"});
  CHECK(fired(event("C:\\Windows\\cmd.exe", "x FOO12BAR y")) == names{"c", "d", "f"});
  CHECK(fired(event("C:\\Windows\\cmd.exe", "x foo y")) == names{"d", "g"});
  CHECK(fired(event("C:\\Windows\\cmd.exe", "x bar y", "foo7bar")) == names{"e"});
  CHECK(fired(event("C:\\Windows\\cmd.exe", "foo1bar", "foo7bar")) ==
        names{"a", "c", "d", "e", "f", "g"});
}
#endif
