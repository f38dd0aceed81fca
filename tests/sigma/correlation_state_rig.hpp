// A correlation engine of every correlation type (chains, aliases and both temporal
// kinds among them) and random event streams for it: shared by the correlation state
// tests (tests/sigma/test_correlation_state.cpp), the golden blob generator
// (tests/data/generate_golden_states.cpp) and the fuzz target
// tests/fuzz/fuzz_correlation_state.cpp. Never change the rules, the options, the hash
// key or the stream below: the committed golden blobs corr_v3_*.bin were made from them.
#pragma once

#include <fluxcap/sigma/bounded_window.hpp>
#include <fluxcap/sigma/correlation.hpp>
#include <fluxcap/sigma/correlation_engine.hpp>
#include <fluxcap/sigma/correlation_state.hpp>
#include <fluxcap/sigma/field_accessor.hpp>

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "correlation_test_util.hpp"

namespace corr_rig {

namespace sigma = fluxcap::sigma;
using sigma::event_time;

inline constexpr event_time second = 1000;

using corr_test::bound;
using corr_test::correlation;

/// Detection rules a, b, c, d: compiled indices 0..3.
inline std::vector<sigma::rule> detection_rules() {
  std::vector<sigma::rule> out;
  for (const char* name : {"a", "b", "c", "d"}) out.push_back(corr_test::detection_rule(name));
  return out;
}

/// Every type, a chain (`chain` counts `count`'s firings) and an alias (`who` is User for
/// a, Actor for d). Spans of 3 to 20 s; streams step by 0 to 1.5 s.
inline std::vector<sigma::correlation_rule> correlations() {
  using sigma::comparison;
  using sigma::correlation_type;
  std::vector<sigma::correlation_rule> c{
      correlation("count", correlation_type::event_count, {"a", "b"}, {"User"}, 5 * second,
                  {bound(comparison::gte, 3)}),
      correlation("range", correlation_type::event_count, {"c"}, {"User"}, 5 * second,
                  {bound(comparison::gt, 1), bound(comparison::lte, 3)}),
      correlation("values", correlation_type::value_count, {"a"}, {"User"}, 5 * second,
                  {bound(comparison::gte, 3)}, {"V"}),
      correlation("pairs", correlation_type::value_count, {"b", "d"}, {"User", "Host"}, 8 * second,
                  {bound(comparison::gte, 4)}, {"V", "Host"}),
      correlation("sum", correlation_type::value_sum, {"b"}, {"User"}, 5 * second,
                  {bound(comparison::gt, 10)}, {"V"}),
      correlation("avg", correlation_type::value_avg, {"a", "c"}, {"User"}, 4 * second,
                  {bound(comparison::gte, 2.5)}, {"V"}),
      correlation("p90", correlation_type::value_percentile, {"d"}, {"User"}, 6 * second,
                  {bound(comparison::gte, 3)}, {"V"}),
      correlation("all", correlation_type::temporal, {"a", "b", "c"}, {"User"}, 5 * second),
      correlation("ordered", correlation_type::temporal_ordered, {"a", "b", "c"}, {"User"},
                  5 * second),
      correlation("ordered2", correlation_type::temporal_ordered, {"c", "a"}, {"User"}, 3 * second,
                  {bound(comparison::gte, 2)}),
      correlation("chain", correlation_type::event_count, {"count"}, {"User"}, 20 * second,
                  {bound(comparison::gte, 2)}),
      correlation("after", correlation_type::temporal_ordered, {"ordered", "sum"}, {"User"},
                  20 * second),
      correlation("who", correlation_type::event_count, {"a", "d"}, {"who"}, 5 * second,
                  {bound(comparison::gte, 2)}),
  };
  c[6].condition.percentile = 90;
  c[6].condition.percentile_written = true;
  sigma::correlation_alias who;
  who.name = "who";
  who.fields = {{"a", "User"}, {"d", "Actor"}};
  c[12].aliases.push_back(who);
  return c;
}

/// The fixed hash key of the rig (the distinct windows' value hashes depend on it).
inline const fluxcap::hash_key key{0x5eed, 0xc0ffee};

/// Small caps, so that streams reach the group cap (sweeps, refusals) and the exact
/// windows' cap (drops).
inline sigma::correlation_options small_options() {
  sigma::correlation_options o;
  o.max_groups = 24;
  o.max_window_events = 6;
  o.buckets = 8;
  return o;
}

template <class Windows>
struct rig {
  using engine_type = sigma::correlation_engine<sigma::dense_fields, Windows>;
  std::vector<sigma::rule> rules = detection_rules();
  sigma::compiled_rules compiled;
  sigma::profile prof;
  std::optional<engine_type> engine;

  explicit rig(sigma::correlation_options options = small_options(),
               std::vector<sigma::correlation_rule> set = correlations(),
               fluxcap::hash_key hash_key = key) {
    for (std::size_t i = 0; i < rules.size(); ++i) {
      sigma::compiled_rule r;
      r.source_index = i;
      r.identity = rules[i].identity;
      compiled.rules.push_back(std::move(r));
    }
    compiled.timestamp_path = "ts";
    (void)sigma::link_correlations(rules, set);
    engine.emplace(std::move(set), compiled, prof, sigma::dense_fields{}, options,
                   fluxcap::default_hash(hash_key));
  }

  /// The correlations firing on `e` (indices), copied.
  std::vector<std::uint32_t> process(
      const std::pair<std::vector<std::uint32_t>, sigma::dense_field_event>& e) {
    const auto fired = engine->process(e.first, e.second);
    return {fired.begin(), fired.end()};
  }
};

/// A stream event: the detections (compiled indices of a..d) and the event.
using stream_event = std::pair<std::vector<std::uint32_t>, sigma::dense_field_event>;

/// An event from random bits: times mostly forward (0 to 1.5 s, late by up to 0.1 s one
/// time in ten), sometimes missing a time, user, value or host; values 0..4 or not a
/// number; users u0..u`users - 1`.
template <class Random>
stream_event random_event(Random& rng, event_time& t, unsigned users = 4) {
  t += rng() % 10 == 0 ? -static_cast<event_time>(rng() % 100)
                       : static_cast<event_time>(500 * (rng() % 4));
  stream_event out;
  auto& e = out.second;
  if (rng() % 33 != 0) {
    const event_time ms = t % 1000;
    e.set("ts", std::to_string(t / 1000) + "." +
                    (ms < 10    ? "00"
                     : ms < 100 ? "0"
                                : "") +
                    std::to_string(ms));
  }
  if (rng() % 33 != 0) e.set("User", "u" + std::to_string(rng() % users));
  if (rng() % 5 != 0) e.set("Actor", "u" + std::to_string(rng() % users));
  if (rng() % 20 != 0) e.set("V", std::to_string(rng() % 5));
  if (rng() % 40 == 0) e.set("V", "x");
  if (rng() % 8 != 0) e.set("Host", "h" + std::to_string(rng() % 3));
  for (std::uint32_t d = 0; d < 4; ++d)
    if (rng() % 3 == 0) out.first.push_back(d);
  return out;
}

/// `n` events of the stream of `seed` (std::mt19937: the same on every platform).
inline std::vector<stream_event> stream(std::uint32_t seed, std::size_t n, unsigned users = 4) {
  std::mt19937 rng(seed);
  event_time t = 1'700'000'000'000;
  std::vector<stream_event> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) out.push_back(random_event(rng, t, users));
  return out;
}

/// The golden blobs' stream: seed 13, the first golden_split events before the save.
inline constexpr std::uint32_t golden_seed = 13;
inline constexpr std::size_t golden_split = 700;
inline constexpr std::size_t golden_events = 1000;

}  // namespace corr_rig
