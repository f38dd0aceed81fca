// The engine against the naive evaluator on random rule sets and random process trees:
// every modifier the generator knows, wildcards, escapes, case variants, keywords,
// null/exists/neq, conditions with `not`, `1 of`, `all of`, and self, parent,
// grandparent and ancestor context. Exact memory, so any difference is a bug.
#include <doctest/doctest.h>
#include <fluxcap/sigma/compile.hpp>
#include <fluxcap/sigma/engine.hpp>
#include <fluxcap/sigma/yaml.hpp>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "naive_evaluator.hpp"
#include "random_rules.hpp"

using namespace fluxcap::sigma;

namespace {

/// Returns the value memo's hits (events replay remembered values through it).
std::uint64_t differential(std::uint32_t seed, std::size_t rules_count, std::size_t events_count,
                           const value_cache_limits& cache = {}) {
  std::mt19937 rng(seed);
  sigma_test::random_rule_generator gen(rng);
  const std::string yaml = gen.rules(rules_count);
  std::vector<rule> rules;
  try {
    rules = read_rules(yaml, "random.yml");
  } catch (const sigma_error& e) {
    FAIL("generator wrote an unreadable rule: " << e.what() << "\n" << yaml);
    return 0;
  }
  const profile p = gen.profile_for();
  const auto compiled = compile(rules, p);
  std::vector<bool> supported(rules.size(), false);
  std::size_t ok = 0;
  for (const auto& r : compiled.reports) {
    supported[r.source_index] = r.status == rule_status::ok;
    ok += r.status == rule_status::ok;
  }
  CHECK(ok * 2 >= rules.size());  // mostly supported (base64 of a wildcard is not)
  engine<dense_fields, fluxcap::exact_memory> eng(compiled);
  sigma_test::naive_evaluator<> naive(rules, p);
  auto scratch = eng.make_scratch(cache);
  std::map<std::string, fluxcap::group_state> states;
  std::size_t fired_total = 0;
  for (std::size_t i = 0; i < events_count; ++i) {
    const auto e = gen.event(i);
    const auto group = std::string(eng.group_of(e, scratch).value_or(""));
    auto it = states.try_emplace(group, eng.make_state()).first;
    std::vector<std::string> fired;
    for (auto r : eng.process(it->second, e, scratch))
      fired.push_back(eng.compiled().rules[r].identity);
    const auto expected = naive.process(e, supported);
    fired_total += fired.size();
    if (fired != expected) {
      std::string a, b;
      for (auto& x : fired) a += x + " ";
      for (auto& x : expected) b += x + " ";
      std::string docs, ev;
      for (const auto& f : e.fields) {
        ev += f.path + "=";
        for (const auto& v : f.values)
          ev += "<" + std::to_string(static_cast<int>(v.kind)) + ":" + v.text + ">";
        ev += " ";
      }
      // The rules that differ, as written.
      std::size_t start = 0;
      while (start < yaml.size()) {
        std::size_t end = yaml.find("---\n", start);
        if (end == std::string::npos) end = yaml.size();
        const std::string doc = yaml.substr(start, end - start);
        const auto id_at = doc.find("\nid: ");
        const std::string id = doc.substr(id_at + 5, doc.find('\n', id_at + 1) - id_at - 5);
        const bool in_a = a.find(id + " ") != std::string::npos,
                   in_b = b.find(id + " ") != std::string::npos;
        if (in_a != in_b) docs += doc;
        start = end + 4;
      }
      FAIL("seed " << seed << " event " << i << ": engine [" << a << "] naive [" << b
                   << "]\nevent: " << ev << "\n"
                   << docs);
    }
  }
  MESSAGE("seed " << seed << ": " << ok << " rules, " << fired_total << " detections");
  return scratch.cache_hits();
}

}  // namespace

TEST_CASE("engine equals the naive evaluator on random rules and trees") {
  for (std::uint32_t seed = 1; seed <= 40; ++seed) (void)differential(seed, 25, 300);
}

TEST_CASE("the value memo changes no answer: every value remembered, or thrashing two slots") {
  // The random events repeat short values a lot: with min_bytes 0 most are replayed from
  // the memo; with two slots most are evicted before they come back.
  std::uint64_t hits = 0;
  for (std::uint32_t seed = 41; seed <= 60; ++seed) {
    hits += differential(seed, 25, 300, value_cache_limits{4096, 0});
    (void)differential(seed, 25, 300, value_cache_limits{2, 0});
  }
  CHECK(hits > 1000);  // the memo was used (about 4,900 hits here)
  (void)differential(61, 25, 300, value_cache_limits{0, 0});  // off
}
