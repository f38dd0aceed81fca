// Correlation state save and load (fluxcap/sigma/correlation_state.hpp): an engine saved
// mid-stream and restored into a fresh one continues exactly as the uninterrupted engine
// (every type, chains, aliases, both memory modes, group and window caps); corrupt,
// truncated and foreign blobs are refused with decode_error and leave the engine as it
// was; the golden blobs of format version 3 (tests/data/corr_v3_*.bin) still decode and
// resume.
#include <doctest/doctest.h>
#include <fluxcap/sigma/correlation_state.hpp>

#include "correlation_state_rig.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <functional>
#include <iterator>
#include <span>
#include <string>
#include <vector>

using namespace corr_rig;
using fluxcap::decode_errc;
using fluxcap::decode_error;
namespace sigma = fluxcap::sigma;

namespace {

using blob = std::vector<std::uint8_t>;

bool same_counters(const sigma::correlation_counters& a, const sigma::correlation_counters& b) {
  return a.without_time == b.without_time && a.without_group == b.without_group &&
         a.without_value == b.without_value && a.late == b.late &&
         a.groups_refused == b.groups_refused && a.groups_expired == b.groups_expired &&
         a.window_dropped == b.window_dropped;
}

/// Fixes the checksum of a blob changed on purpose (to reach the structural checks).
void reseal(blob& b) {
  const std::uint64_t sum = fluxcap::detail::checksum(b.data(), b.size() - 8);
  for (std::size_t i = 0; i < 8; ++i)
    b[b.size() - 8 + i] = static_cast<std::uint8_t>(sum >> (8 * i));
}

decode_errc error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const decode_error& e) {
    return e.code();
  }
  FAIL("no decode_error");
  return decode_errc::truncated;
}

/// Saves at each split point of `events`, restores into a fresh engine and checks that it
/// fires, counts and holds groups exactly as the uninterrupted engine from then on.
template <class Windows>
void check_resume(const std::vector<stream_event>& events, std::vector<std::size_t> splits,
                  sigma::correlation_options options) {
  rig<Windows> whole(options);
  std::vector<std::vector<std::uint32_t>> expected;
  std::vector<sigma::correlation_counters> expected_counters;
  std::size_t fired = 0;
  for (const auto& e : events) {
    expected.push_back(whole.process(e));
    expected_counters.push_back(whole.engine->counters());
    fired += expected.back().size();
  }
  CHECK(fired > 100);  // the stream exercises firing, not only silence
  for (const std::size_t split : splits) {
    CAPTURE(split);
    rig<Windows> first(options);
    for (std::size_t i = 0; i < split; ++i) first.process(events[i]);
    const blob saved = sigma::save_correlation_state(*first.engine);
    rig<Windows> resumed(options);
    sigma::load_correlation_state(*resumed.engine, saved);
    CHECK(resumed.engine->live_groups() == first.engine->live_groups());
    CHECK(same_counters(resumed.engine->counters(), first.engine->counters()));
    CHECK(sigma::save_correlation_state(*resumed.engine) == saved);  // one encoding a state
    for (std::size_t i = split; i < events.size(); ++i) {
      CAPTURE(i);
      REQUIRE(resumed.process(events[i]) == expected[i]);
      REQUIRE(same_counters(resumed.engine->counters(), expected_counters[i]));
    }
    CHECK(resumed.engine->live_groups() == whole.engine->live_groups());
  }
}

template <class Windows>
void check_resume_all() {
  for (std::uint32_t seed = 1; seed <= 4; ++seed) {
    CAPTURE(seed);
    const auto events = stream(seed, 1500);
    // Small caps: groups refused and swept, exact windows dropping their oldest.
    check_resume<Windows>(events, {0, 1, 97, 700, 1499}, small_options());
    // Roomy caps, more users.
    sigma::correlation_options roomy;
    roomy.buckets = 32;
    check_resume<Windows>(stream(seed + 100, 1500, 12), {350, 1100}, roomy);
  }
  rig<Windows> r;
  for (const auto& e : stream(1, 1500)) r.process(e);
  const auto& k = r.engine->counters();
  // What the streams above reach (the counters are compared on every event).
  CHECK(k.groups_refused > 0);
  CHECK(k.groups_expired > 0);
  CHECK(k.late > 0);
  CHECK(k.without_time > 0);
  CHECK(k.without_group > 0);
  CHECK(k.without_value > 0);
}

/// A state of 23 groups of every correlation (a value_* group that saw no value, so has no
/// time, among them).
template <class Windows>
blob sample_state(rig<Windows>& r, std::size_t events = 80) {
  for (const auto& e : stream(7, events)) r.process(e);
  return sigma::save_correlation_state(*r.engine);
}

template <class Windows>
void check_corruption() {
  rig<Windows> source;
  const blob good = sample_state(source);
  CAPTURE(good.size());
  rig<Windows> target;
  for (const auto& e : stream(8, 40)) target.process(e);
  const blob before = sigma::save_correlation_state(*target.engine);
  const auto unchanged = [&] { return sigma::save_correlation_state(*target.engine) == before; };

  for (std::size_t n = 0; n < good.size(); ++n) {
    const std::span<const std::uint8_t> cut(good.data(), n);
    CHECK_THROWS_AS(sigma::load_correlation_state(*target.engine, cut), decode_error);
  }
  CHECK(unchanged());
  std::size_t structural_rejects = 0, structural_loads = 0;
  const rig<Windows> fresh;
  const auto probe_events = stream(9, 12);
  const std::size_t stride = std::max<std::size_t>(1, good.size() * 8 / 4000) | 1;
  for (std::size_t bit = 0; bit < good.size() * 8; ++bit) {
    blob flipped = good;
    flipped[bit / 8] ^= static_cast<std::uint8_t>(1U << (bit % 8));
    REQUIRE_THROWS_AS(sigma::load_correlation_state(*target.engine, flipped), decode_error);
    // The same flip behind a valid checksum: refused by a structural check, or a state
    // the engine runs on (and that saves and loads again). Every bit of the header, then
    // a sample of about 4000 (time: the whole bounded blob took 5 s).
    if (bit / 8 >= good.size() - 8) continue;
    if (bit / 8 >= sigma::detail::correlation_state_header_bytes && bit % stride != 0) continue;
    reseal(flipped);
    auto probe = *fresh.engine;
    try {
      sigma::load_correlation_state(probe, flipped);
    } catch (const decode_error&) {
      ++structural_rejects;
      continue;
    }
    // Magic, version, policy, options, fingerprints, correlation count: never accepted.
    REQUIRE(bit / 8 >= 52);
    ++structural_loads;
    const blob again = sigma::save_correlation_state(probe);
    auto reloaded = *fresh.engine;
    sigma::load_correlation_state(reloaded, again);
    CHECK(sigma::save_correlation_state(reloaded) == again);
    for (const auto& [detections, event] : probe_events) {
      const auto a = probe.process(detections, event);
      const std::vector<std::uint32_t> fired(a.begin(), a.end());
      const auto b = reloaded.process(detections, event);
      REQUIRE(std::equal(fired.begin(), fired.end(), b.begin(), b.end()));
    }
  }
  CHECK(unchanged());
  MESSAGE("bit flips behind a valid checksum: " << structural_rejects << " refused, "
                                                << structural_loads << " loaded");
  CHECK(structural_rejects > 52 * 8);
  CHECK(structural_loads > 0);  // values (times, counters, window contents) may be any
}

template <class Windows>
void check_mismatches() {
  rig<Windows> source;
  const blob good = sample_state(source, 60);
  const auto refused = [&](auto& other) {
    const blob before = sigma::save_correlation_state(*other.engine);
    const auto code = error_of([&] { sigma::load_correlation_state(*other.engine, good); });
    CHECK(sigma::save_correlation_state(*other.engine) == before);
    return code;
  };
  {
    auto options = small_options();
    options.max_groups += 1;
    rig<Windows> other(options);
    CHECK(refused(other) == decode_errc::bad_parameters);
  }
  {
    auto options = small_options();
    options.max_window_events += 1;
    rig<Windows> other(options);
    CHECK(refused(other) == decode_errc::bad_parameters);
  }
  {
    auto options = small_options();
    options.buckets += 1;
    rig<Windows> other(options);
    CHECK(refused(other) == decode_errc::bad_parameters);
  }
  {
    rig<Windows> other(small_options(), correlations(), fluxcap::hash_key{1, 2});
    CHECK(refused(other) == decode_errc::bad_parameters);
  }
  // Another rule set: a changed timespan, bound, percentile, alias, order, or one rule less.
  std::vector<std::vector<sigma::correlation_rule>> sets(6, correlations());
  sets[0][0].timespan_ms += 1;
  sets[1][1].condition.bounds[0].value = 2;
  sets[2][6].condition.percentile = 95;
  sets[3][12].aliases[0].fields[1].second = "Other";
  std::swap(sets[4][0], sets[4][1]);
  sets[5].pop_back();
  for (auto& set : sets) {
    rig<Windows> other(small_options(), set);
    CHECK(refused(other) == decode_errc::bad_parameters);
  }
  {
    blob b = good;
    b[8] = 4;  // a newer format version
    rig<Windows> other;
    const auto code = error_of([&] { sigma::load_correlation_state(*other.engine, b); });
    CHECK(code == decode_errc::unsupported_version);
    try {
      sigma::load_correlation_state(*other.engine, b);
    } catch (const decode_error& e) {
      CHECK(std::string(e.what()).find("format version 4 is not supported (this build reads 3)") !=
            std::string::npos);
    }
  }
  {
    blob b = good;
    b[0] = 'G';
    rig<Windows> other;
    CHECK(error_of([&] { sigma::load_correlation_state(*other.engine, b); }) ==
          decode_errc::bad_magic);
  }
  {
    blob b = good;
    b.insert(b.end() - 8, 0);
    reseal(b);
    rig<Windows> other;
    CHECK(error_of([&] { sigma::load_correlation_state(*other.engine, b); }) ==
          decode_errc::trailing_bytes);
  }
}

}  // namespace

TEST_CASE("correlation state: exact windows resume mid-stream exactly") {
  check_resume_all<sigma::exact_windows>();
}

TEST_CASE("correlation state: bounded windows resume mid-stream exactly") {
  check_resume_all<sigma::bounded_windows>();
}

TEST_CASE("correlation state: an empty engine's state, and a state loaded over another") {
  rig<sigma::exact_windows> empty;
  const blob none = sigma::save_correlation_state(*empty.engine);
  CHECK(none.size() == sigma::detail::correlation_state_header_bytes + 8);
  rig<sigma::exact_windows> busy;
  for (const auto& e : stream(3, 300)) busy.process(e);
  REQUIRE(busy.engine->live_groups() > 0);
  sigma::load_correlation_state(*busy.engine, none);  // replaces, never merges
  CHECK(busy.engine->live_groups() == 0);
  CHECK(sigma::save_correlation_state(*busy.engine) == none);
  // Then it runs as a new engine does.
  rig<sigma::exact_windows> fresh;
  for (const auto& e : stream(4, 300)) REQUIRE(busy.process(e) == fresh.process(e));
}

TEST_CASE("correlation state: every truncation and bit flip is refused (exact)") {
  check_corruption<sigma::exact_windows>();
}

TEST_CASE("correlation state: every truncation and bit flip is refused (bounded)") {
  check_corruption<sigma::bounded_windows>();
}

TEST_CASE("correlation state: another mode, options, hash or rule set is refused") {
  check_mismatches<sigma::exact_windows>();
  check_mismatches<sigma::bounded_windows>();
  rig<sigma::exact_windows> exact;
  const blob b = sample_state(exact, 50);
  rig<sigma::bounded_windows> bounded;
  try {
    sigma::load_correlation_state(*bounded.engine, b);
    FAIL("loaded an exact state into a bounded engine");
  } catch (const decode_error& e) {
    CHECK(e.code() == decode_errc::bad_parameters);
    CHECK(std::string(e.what()).find("exact windows, the engine bounded ones") !=
          std::string::npos);
  }
}

TEST_CASE("correlation state: structural checks behind a valid checksum") {
  rig<sigma::exact_windows> r;
  const blob good = sample_state(r, 80);
  const std::size_t groups_at = sigma::detail::correlation_state_header_bytes;
  const auto code_of = [](blob b) {
    reseal(b);
    rig<sigma::exact_windows> target;
    return error_of([&] { sigma::load_correlation_state(*target.engine, b); });
  };
  {
    blob b = good;  // more groups than max_groups
    b[116] = 200;
    CHECK(code_of(b) == decode_errc::bad_parameters);
  }
  {
    blob b = good;  // a correlation index past the rule set
    b[groups_at] = 99;
    CHECK(code_of(b) == decode_errc::inconsistent);
  }
  {
    blob b = good;  // unknown group flags
    b[groups_at + 4] = 7;
    CHECK(code_of(b) == decode_errc::inconsistent);
  }
  {
    blob b = good;  // a group count one lower: the last group is trailing bytes
    b[116] = static_cast<std::uint8_t>(b[116] - 1);
    CHECK(code_of(b) == decode_errc::trailing_bytes);
  }
  {
    // One value_sum group (exact window): its value and its time, found by their bytes.
    rig<sigma::exact_windows> one(small_options());
    sigma::dense_field_event e;
    e.set("ts", "1800000000.000").set("User", "solo").set("V", "3.25");
    one.engine->process(std::vector<std::uint32_t>{1}, e);
    const blob b = sigma::save_correlation_state(*one.engine);
    const auto replaced = [&](std::uint64_t from, std::uint64_t to) {
      blob out = b;
      for (std::size_t at = groups_at; at + 8 <= out.size() - 8; ++at) {
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < 8; ++i) v |= std::uint64_t{out[at + i]} << (8 * i);
        if (v != from) continue;
        for (std::size_t i = 0; i < 8; ++i) out[at + i] = static_cast<std::uint8_t>(to >> (8 * i));
        return out;
      }
      FAIL("value not found");
      return out;
    };
    rig<sigma::exact_windows> ok;
    CHECK_NOTHROW(sigma::load_correlation_state(*ok.engine, b));
    // A NaN in the window (the engine adds finite numbers only).
    CHECK(code_of(replaced(std::bit_cast<std::uint64_t>(3.25),
                           std::bit_cast<std::uint64_t>(std::nan("")))) ==
          decode_errc::inconsistent);
    // The group's time after its window's newest event (the first occurrence is the
    // group's latest time).
    CHECK(code_of(replaced(1'800'000'000'000, 1'800'000'000'001)) == decode_errc::inconsistent);
    // Out of range.
    CHECK(code_of(replaced(1'800'000'000'000, std::uint64_t{1} << 62)) ==
          decode_errc::inconsistent);
  }
  {
    // The same group twice: the first group's bytes repeated.
    rig<sigma::exact_windows> one(small_options());
    sigma::dense_field_event e;
    e.set("ts", "1800000000.000").set("User", "solo");
    one.engine->process(std::vector<std::uint32_t>{0}, e);
    blob b = sigma::save_correlation_state(*one.engine);
    REQUIRE(one.engine->live_groups() >= 1);
    // The first group is correlation `count`'s (the first evaluated); copy its bytes.
    const std::size_t body_end = b.size() - 8;
    std::size_t first_end = groups_at;
    // The first group: u32 correlation, u8 flags, u32 length + value, i64 latest, u64 window
    // length + window.
    first_end += 5;
    const std::uint32_t n = b[first_end] | (b[first_end + 1] << 8);
    first_end += 4 + n + 8;
    std::uint64_t w = 0;
    for (int i = 0; i < 8; ++i)
      w |= std::uint64_t{b[first_end + static_cast<std::size_t>(i)]} << (8 * i);
    first_end += 8 + w;
    REQUIRE(first_end <= body_end);
    const blob group(b.begin() + static_cast<std::ptrdiff_t>(groups_at),
                     b.begin() + static_cast<std::ptrdiff_t>(first_end));
    b.insert(b.begin() + static_cast<std::ptrdiff_t>(first_end), group.begin(), group.end());
    b[116] = static_cast<std::uint8_t>(b[116] + 1);
    CHECK(code_of(b) == decode_errc::inconsistent);
  }
}

namespace {

blob read_golden(const std::string& name) {
  std::ifstream in(std::string(FLUXCAP_TEST_DATA) + "/" + name, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open tests/data/" << name);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

template <class Windows>
void check_golden(const char* name, std::size_t groups) {
  CAPTURE(name);
  const blob golden = read_golden(name);
  REQUIRE(golden.size() > 10);
  CHECK((golden[8] | (golden[9] << 8)) == sigma::correlation_state_format_version);
  rig<Windows> resumed;
  sigma::load_correlation_state(*resumed.engine, golden);
  CHECK(resumed.engine->live_groups() == groups);
  CHECK(sigma::save_correlation_state(*resumed.engine) == golden);  // re-encodes to itself
  // Continues as the uninterrupted engine of the same stream.
  const auto events = stream(golden_seed, golden_events);
  rig<Windows> whole;
  for (std::size_t i = 0; i < golden_split; ++i) whole.process(events[i]);
  CHECK(same_counters(resumed.engine->counters(), whole.engine->counters()));
  std::size_t fired = 0;
  for (std::size_t i = golden_split; i < events.size(); ++i) {
    CAPTURE(i);
    const auto got = resumed.process(events[i]);
    REQUIRE(got == whole.process(events[i]));
    fired += got.size();
  }
  CHECK(fired > 20);
  CHECK(same_counters(resumed.engine->counters(), whole.engine->counters()));
}

}  // namespace

TEST_CASE("golden correlation states (format v3) decode and resume") {
  check_golden<sigma::exact_windows>("corr_v3_exact.bin", 24);
  check_golden<sigma::bounded_windows>("corr_v3_bounded.bin", 24);
}
