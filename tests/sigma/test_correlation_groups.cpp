// The correlation engine's group index (open addressing over key hashes, keys compared
// whole) under churn, and drop_idle_groups: dropping the groups whose window is empty at
// the stream's time changes no answer, and frees them.
#include <doctest/doctest.h>
#include <fluxcap/sigma/bounded_window.hpp>
#include <fluxcap/sigma/correlation.hpp>
#include <fluxcap/sigma/correlation_engine.hpp>

#include <optional>
#include <random>
#include <string>
#include <vector>

using namespace fluxcap::sigma;

namespace {

template <class Windows>
struct churn_engine {
  std::vector<rule> rules;
  compiled_rules compiled;
  profile prof;
  std::optional<correlation_engine<dense_fields, Windows>> engine;

  explicit churn_engine(correlation_options options = {}) {
    for (const char* name : {"a", "b"}) {
      rule r;
      r.identity = std::string(name) + "-id";
      r.id = r.identity;
      r.name = name;
      r.where = {"rules.yml", 1, 1};
      rules.push_back(r);
    }
    for (std::size_t i = 0; i < rules.size(); ++i) {
      compiled_rule r;
      r.source_index = i;
      r.identity = rules[i].identity;
      compiled.rules.push_back(std::move(r));
    }
    compiled.timestamp_path = "ts";
    std::vector<correlation_rule> cs(2);
    for (std::size_t c = 0; c < 2; ++c) {
      cs[c].identity = c == 0 ? "twice" : "both";
      cs[c].id = cs[c].identity;
      cs[c].name = cs[c].identity;
      cs[c].group_by = {"User"};
      cs[c].timespan_ms = 1000;
    }
    cs[0].type = correlation_type::event_count;
    cs[0].rules = {"a"};
    cs[0].condition.bounds = {{comparison::gte, 2, "2", {}}};
    cs[1].type = correlation_type::temporal;
    cs[1].rules = {"a", "b"};
    (void)link_correlations(rules, cs);
    engine.emplace(std::move(cs), compiled, prof, dense_fields{}, options,
                   fluxcap::default_hash(fluxcap::hash_key{1, 2}));
  }
};

template <class Windows>
void churn(correlation_options options, bool capped = false) {
  churn_engine<Windows> kept(options), dropping(options);
  std::mt19937_64 rng(99);
  event_time t = 1'765'000'000'000;
  std::size_t fired = 0, most_live = 0;
  for (int i = 0; i < 40000; ++i) {
    CAPTURE(i);
    t += static_cast<event_time>(rng() % 40);
    dense_field_event e;
    e.set("ts", std::to_string(t / 1000) + "." + std::to_string(1000 + t % 1000).substr(1));
    e.set("User", "user-" + std::to_string(rng() % (i < 20000 ? 3000 : 200)));
    const std::uint32_t d = static_cast<std::uint32_t>(rng() % 2);
    const auto a = kept.engine->process(std::span<const std::uint32_t>(&d, 1), e);
    const std::vector<std::uint32_t> fired_kept(a.begin(), a.end());
    const auto b = dropping.engine->process(std::span<const std::uint32_t>(&d, 1), e);
    REQUIRE(fired_kept == std::vector<std::uint32_t>(b.begin(), b.end()));
    fired += b.size();
    most_live = std::max(most_live, kept.engine->live_groups());
    if (i % 97 == 0) dropping.engine->drop_idle_groups(t);
  }
  CHECK(fired > 1000);
  CHECK(dropping.engine->counters().groups_expired > 3000);
  if (capped) {
    CHECK(kept.engine->counters().groups_refused > 0);
    CHECK(kept.engine->counters().groups_refused == dropping.engine->counters().groups_refused);
    return;
  }
  CHECK(dropping.engine->live_groups() < kept.engine->live_groups());
  // Everything is idle a timespan after the last event: dropped, every key and window.
  CHECK(dropping.engine->drop_idle_groups(t + 1000) > 0);
  CHECK(dropping.engine->live_groups() == 0);
  CHECK(dropping.engine->memory_bytes() < kept.engine->memory_bytes());
  CHECK(most_live > 2000);
}

}  // namespace

TEST_CASE("correlation groups: the index under churn; dropping idle groups changes no answer") {
  churn<exact_windows>({});
  churn<bounded_windows>({});
  // Few groups allowed: the engine sweeps idle groups itself, and refuses new ones past it.
  correlation_options few;
  few.max_groups = 40;
  churn<exact_windows>(few, true);
}
