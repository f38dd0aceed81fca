// group_state: idle cost, rotation and forgetting, re-stores, growth, bytes a key, and the
// measured false-positive rate of bloom mode against the configured fpp.
#include <fluxcap/fluxcap.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>

#include "harness.hpp"

using namespace fluxcap;

namespace {

using fluxcap_test::absent_key;
using fluxcap_test::stored_key;

template <class Memory>
group_state make_state(const memory_config& config) {
  return Memory(config).make_state();
}

constexpr bool is_bloom(const exact_memory&) {
  return false;
}
constexpr bool is_bloom(const bloom_memory&) {
  return true;
}
constexpr bool is_bloom(const cuckoo_memory&) {  // approximate, as bloom
  return true;
}

}  // namespace

TEST_CASE_TEMPLATE("an idle group state costs < 100 bytes and allocates nothing", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  const Memory memory;  // default parameters: capacity 200000
  const group_state s = memory.make_state();
  CHECK(s.memory_bytes() < 100);
  // memory_bytes() counts the object plus everything it owns: nothing owned.
  CHECK(s.memory_bytes() == sizeof(group_state));
  CHECK(s.generation_count() == 0);
  CHECK(s.stored() == 0);
  CHECK_FALSE(s.contains(stored_key(0)));
  CHECK_FALSE(s.contains(0));
  const group_state copy = s;
  CHECK(copy.memory_bytes() == sizeof(group_state));
  MESSAGE("idle group state: " << s.memory_bytes() << " bytes");
}

TEST_CASE_TEMPLATE("rotation and forgetting (capacity 100, 5 generations)", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  const memory_config config{100, 1e-4, 5};
  group_state s = make_state<Memory>(config);
  const std::uint64_t capacity = config.capacity;
  const std::uint64_t G = config.generations;
  const std::uint64_t share = s.geometry().generation_capacity;
  REQUIRE(share == 25);  // ceil(100 / (5 - 1))
  const bool bloom = is_bloom(Memory(config));

  const std::uint64_t total = 5000;
  // Ages at which old keys are probed once each (a key is probed at most once per age).
  const std::uint64_t old_ages[] = {G * share + share, 2 * G * share, 400, 1000, 3000};
  std::uint64_t old_checks = 0;
  std::uint64_t old_found = 0;
  std::uint64_t missing_recent = 0;
  std::uint64_t exact_mismatch = 0;

  for (std::uint64_t i = 0; i < total; ++i) {
    s.insert(stored_key(i));
    // Every key stored within the last `capacity` stores is found, in both modes.
    for (std::uint64_t j = i + 1 > capacity ? i + 1 - capacity : 0; j <= i; ++j)
      missing_recent += s.contains(stored_key(j)) ? 0 : 1;
    if (!bloom) {
      // Exact mode: key j lives in generation j / share; generations i/share - G + 1 ..
      // i/share are alive. Found exactly when alive, for the last 3 G shares.
      const std::uint64_t window = 3 * G * share;
      for (std::uint64_t j = i + 1 > window ? i + 1 - window : 0; j <= i; ++j) {
        const bool alive = j / share + G > i / share;
        exact_mismatch += s.contains(stored_key(j)) == alive ? 0 : 1;
      }
      const std::uint64_t full_gens = i / share + 1 > G ? i / share + 1 - G : 0;
      CHECK(s.stored() == i + 1 - full_gens * share);
      CHECK(s.generation_count() == std::min<std::uint64_t>(i / share + 1, G));
    }
    for (const auto age : old_ages) {
      if (i < age) continue;
      ++old_checks;
      old_found += s.contains(stored_key(i - age)) ? 1 : 0;
    }
    // Never more than G generations of `share` keys.
    CHECK(s.generation_count() <= G);
    CHECK(s.stored() <= G * share);
  }
  CHECK(missing_recent == 0);
  CHECK(exact_mismatch == 0);
  if (!bloom) {
    CHECK(old_found == 0);
  } else {
    // Old keys may only be found as false positives. Each key is probed once per age (5
    // ages), so the count is a sum of clusters of at most 5 correlated Bernoulli(p <= fpp)
    // trials: variance <= 5 * N * fpp. Allow the mean plus 4 standard deviations.
    const double mean = static_cast<double>(old_checks) * config.fpp;
    const double bound = mean + 4 * std::sqrt(5 * mean) + 1;
    MESSAGE("bloom: " << old_found << " of " << old_checks << " old keys found (bound " << bound
                      << ")");
    CHECK(static_cast<double>(old_found) <= bound);
  }
  CHECK(old_checks > 20000);
}

TEST_CASE_TEMPLATE("rotation happens on the store that finds the active generation full", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  group_state s = make_state<Memory>({100, 1e-4, 5});
  for (std::uint64_t i = 0; i < 25; ++i) s.insert(stored_key(i));
  CHECK(s.generation_count() == 1);
  CHECK(s.generation_at(0).count() == 25);
  s.insert(stored_key(25));
  CHECK(s.generation_count() == 2);
  CHECK(s.generation_at(0).count() == 1);
  CHECK(s.generation_at(1).count() == 25);
  // The ring: after 5 full generations the 6th store of a share replaces the oldest.
  for (std::uint64_t i = 26; i < 125; ++i) s.insert(stored_key(i));
  CHECK(s.generation_count() == 5);
  CHECK(s.stored() == 125);
  CHECK(s.contains(stored_key(0)));
  s.insert(stored_key(125));
  CHECK(s.generation_count() == 5);
  CHECK(s.stored() == 101);
  CHECK_FALSE(s.contains(stored_key(0)));
  CHECK_FALSE(s.contains(stored_key(24)));
  CHECK(s.contains(stored_key(25)));
  CHECK(s.contains(stored_key(125)));
}

TEST_CASE_TEMPLATE("re-storing a key already in the active generation is not a store", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  group_state s = make_state<Memory>({100, 1e-4, 5});
  for (std::uint64_t i = 0; i < 10; ++i) s.insert(stored_key(i));
  for (int round = 0; round < 100; ++round)
    for (std::uint64_t i = 0; i < 10; ++i) s.insert(stored_key(i));
  CHECK(s.stored() == 10);
  CHECK(s.generation_count() == 1);

  // Fill the active generation exactly, then re-store its keys: still one generation.
  for (std::uint64_t i = 10; i < 25; ++i) s.insert(stored_key(i));
  REQUIRE(s.generation_at(0).count() == 25);
  for (std::uint64_t i = 0; i < 25; ++i) s.insert(stored_key(i));
  CHECK(s.generation_count() == 1);
  CHECK(s.stored() == 25);

  // A new key opens a new generation; re-storing it does not count.
  s.insert(stored_key(25));
  s.insert(stored_key(25));
  CHECK(s.generation_count() == 2);
  CHECK(s.stored() == 26);
  // A key of an older (sealed) generation is stored again in the active one: it counts,
  // and so it lives as long as the active generation.
  s.insert(stored_key(3));
  CHECK(s.stored() == 27);
  CHECK(s.generation_at(0).count() == 2);

  // A tag seen on every event does not use up the capacity: 1000 re-stores of the same
  // few keys between new ones keep a recent key alive like any other.
  group_state t = make_state<Memory>({100, 1e-4, 5});
  for (std::uint64_t i = 0; i < 99; ++i) {
    t.insert(stored_key(1000 + i));
    for (int k = 0; k < 10; ++k) t.insert(stored_key(1000));
  }
  for (std::uint64_t i = 0; i < 99; ++i) CHECK(t.contains(stored_key(1000 + i)));
}

TEST_CASE_TEMPLATE("memory grows with what is stored, not with capacity", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  group_state s = make_state<Memory>({});  // capacity 200000
  std::size_t last = s.memory_bytes();
  const std::size_t idle = last;
  std::uint64_t i = 0;
  auto fill_to = [&](std::uint64_t n) {
    for (; i < n; ++i) {
      s.insert(stored_key(i));
      CHECK(s.memory_bytes() >= last);  // within the first generation: never shrinks
      last = s.memory_bytes();
    }
  };
  fill_to(1);
  const std::size_t one = s.memory_bytes();
  CHECK(one > idle);
  CHECK(one < 512);
  fill_to(10);
  CHECK(s.memory_bytes() < 512);
  fill_to(100);
  CHECK(s.memory_bytes() < 4096);
  fill_to(10000);
  const std::size_t ten_thousand = s.memory_bytes();
  CHECK(ten_thousand < 10000 * 24);
  fill_to(22000);  // still one generation (share 22223)
  CHECK(s.generation_count() == 1);
  if (std::is_same_v<Memory, bloom_memory>) {
    // A set turned into the generation's filter: fixed size from then on.
    CHECK(s.memory_bytes() <= sizeof(group_state) + 10 * sizeof(generation) +
                                  std::size_t{s.geometry().bloom_blocks} * 64);
  } else {
    // Cuckoo mode: sets until they would outgrow the group's table (here they do not).
    CHECK(s.memory_bytes() > ten_thousand);
  }
  MESSAGE("capacity 200000: idle " << idle << " B, 1 key " << one << " B, 10000 keys "
                                   << ten_thousand << " B, 22000 keys " << s.memory_bytes()
                                   << " B");
}

TEST_CASE("bloom mode: a full group costs <= 4 bytes a remembered tag at fpp 1e-4") {
  const memory_config config{200000, 1e-4, 10};
  group_state s = bloom_memory(config).make_state();
  const std::uint64_t share = s.geometry().generation_capacity;
  double worst = 0;
  // Fill well past capacity; measure at the end of each generation and right after each
  // rotation (the active generation then holds one key).
  for (std::uint64_t i = 0; i < 3 * config.capacity; ++i) {
    s.insert(stored_key(i));
    if (i > config.capacity && (i % share == 0 || i % share == share - 1)) {
      const double per = static_cast<double>(s.memory_bytes()) / static_cast<double>(s.stored());
      worst = std::max(worst, per);
    }
  }
  CHECK(s.generation_count() == config.generations);
  CHECK(s.stored() >= config.capacity);
  const double per = static_cast<double>(s.memory_bytes()) / static_cast<double>(s.stored());
  MESSAGE("bloom, capacity 200000, fpp 1e-4, 10 generations: "
          << s.memory_bytes() << " bytes for " << s.stored() << " remembered tags (" << per
          << " B a tag; worst seen " << worst << "); k = " << int(s.geometry().bloom_k)
          << ", blocks a generation = " << s.geometry().bloom_blocks);
  CHECK(per <= 4.0);
  CHECK(worst <= 4.0);
  // Exact mode, same fill, for comparison (not a requirement).
  group_state e = exact_memory(config).make_state();
  for (std::uint64_t i = 0; i < 3 * config.capacity; ++i) e.insert(stored_key(i));
  MESSAGE("exact, same parameters: " << e.memory_bytes() << " bytes for " << e.stored() << " tags");
}

TEST_CASE("measured false-positive rate of a full bloom state is within fpp") {
  for (const double fpp : {1e-4, 1e-2}) {
    CAPTURE(fpp);
    const memory_config config{200000, fpp, 10};
    group_state bloom = bloom_memory(config).make_state();
    group_state exact = exact_memory(config).make_state();
    const std::uint64_t share = bloom.geometry().generation_capacity;
    // Exactly full: every generation at its share (the worst case for lookups).
    const std::uint64_t fill = share * config.generations;
    for (std::uint64_t i = 0; i < fill; ++i) {
      bloom.insert(stored_key(i));
      exact.insert(stored_key(i));
    }
    REQUIRE(bloom.generation_count() == config.generations);
    for (std::size_t g = 0; g < bloom.generation_count(); ++g) {
      CHECK(bloom.generation_at(g).type() == generation::kind::bloom);
      // A store that sets no new bit is not counted, so a full filter may count a few less.
      CHECK(bloom.generation_at(g).count() >= share - share / 100);
    }
    // No false negative anywhere in the fill.
    std::uint64_t misses = 0;
    for (std::uint64_t i = 0; i < fill; ++i) misses += bloom.contains(stored_key(i)) ? 0 : 1;
    CHECK(misses == 0);

    const std::uint64_t lookups = 1000000;
    std::uint64_t bloom_fp = 0;
    std::uint64_t exact_fp = 0;
    for (std::uint64_t i = 0; i < lookups; ++i) {
      const std::uint64_t k = absent_key(i);
      bloom_fp += bloom.contains(k) ? 1 : 0;
      exact_fp += exact.contains(k) ? 1 : 0;
    }
    const double n = static_cast<double>(lookups);
    const double measured = static_cast<double>(bloom_fp) / n;
    // Lookups of distinct never-stored keys are independent Bernoulli(p <= fpp) trials:
    // the measured rate has standard deviation sigma = sqrt(fpp / N) (1e-5 at fpp 1e-4,
    // 1e-4 at fpp 1e-2). Margin: 4 sigma (a false alarm about once in 30000 runs).
    const double sigma = std::sqrt(fpp / n);
    MESSAGE("fpp " << fpp << ": measured " << measured << " (" << bloom_fp << " of " << lookups
                   << "), bound " << fpp + 4 * sigma);
    CHECK(measured <= fpp + 4 * sigma);
    CHECK(exact_fp == 0);
  }
}

TEST_CASE_TEMPLATE("keys 0 and ~0 are ordinary keys, through a set-to-filter conversion", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  // Sets mark empty slots with 0 and hold key 0 under another value; a bloom generation
  // converted from such a set must still find key 0 (and not match it on one bit).
  group_state s = make_state<Memory>({100, 1e-4, 5});
  s.insert(0);
  s.insert(~std::uint64_t{0});
  for (std::uint64_t i = 0; i < 23; ++i) s.insert(stored_key(i));  // 25: converted in bloom mode
  CHECK(s.generation_count() == 1);
  CHECK(s.contains(0));
  CHECK(s.contains(~std::uint64_t{0}));
  if (std::is_same_v<Memory, bloom_memory>)
    CHECK(s.generation_at(0).type() == generation::kind::bloom);
  if (std::is_same_v<Memory, cuckoo_memory>) {
    CHECK(s.table() != nullptr);
    CHECK(s.generation_at(0).type() == generation::kind::in_table);
  }
  // Forgotten like any other key once its generation is dropped.
  for (std::uint64_t i = 23; i < 23 + 4 * 25 + 1; ++i) s.insert(stored_key(i));
  CHECK_FALSE(s.contains(0));
  CHECK_FALSE(s.contains(~std::uint64_t{0}));
  // Key 0 stored into a filter directly.
  group_state t = make_state<Memory>({100, 1e-4, 5});
  for (std::uint64_t i = 0; i < 20; ++i) t.insert(stored_key(i));
  t.insert(0);
  CHECK(t.contains(0));
  CHECK_FALSE(t.contains(absent_key(0)));
}

TEST_CASE("memory_geometry::make rejects bad configurations") {
  for (const auto mode : {memory_mode::exact, memory_mode::bloom}) {
    CHECK_THROWS_AS(memory_geometry::make({100, 1e-4, 0}, mode), std::invalid_argument);
    CHECK_THROWS_AS(memory_geometry::make({100, 1e-4, 1}, mode), std::invalid_argument);
    CHECK_THROWS_AS(memory_geometry::make({100, 1e-4, 256}, mode), std::invalid_argument);
    CHECK_THROWS_AS(memory_geometry::make({0, 1e-4, 10}, mode), std::invalid_argument);
    CHECK_THROWS_AS(memory_geometry::make({(std::uint64_t{1} << 32) + 1, 1e-4, 10}, mode),
                    std::invalid_argument);
    CHECK_THROWS_AS(memory_geometry::make({100, 0.0, 10}, mode), std::invalid_argument);
    CHECK_THROWS_AS(memory_geometry::make({100, -0.5, 10}, mode), std::invalid_argument);
    CHECK_THROWS_AS(memory_geometry::make({100, 1.0, 10}, mode), std::invalid_argument);
    CHECK_THROWS_AS(memory_geometry::make({100, 1.5, 10}, mode), std::invalid_argument);
    CHECK_THROWS_AS(
        memory_geometry::make({100, std::numeric_limits<double>::quiet_NaN(), 10}, mode),
        std::invalid_argument);
    CHECK_THROWS_AS(memory_geometry::make({100, std::numeric_limits<double>::infinity(), 10}, mode),
                    std::invalid_argument);
    CHECK_THROWS_AS(memory_geometry::make({100, 1e-13, 10}, mode), std::invalid_argument);
    // The policies validate too.
    CHECK_THROWS_AS(bloom_memory(memory_config{100, 1e-4, 1}), std::invalid_argument);
    CHECK_THROWS_AS(exact_memory(memory_config{0, 1e-4, 10}), std::invalid_argument);
    // Edges that are valid.
    CHECK_NOTHROW((void)memory_geometry::make({1, 1e-4, 2}, mode));
    CHECK_NOTHROW((void)memory_geometry::make({std::uint64_t{1} << 32, 0.5, 255}, mode));
    CHECK_NOTHROW((void)memory_geometry::make({100, 1e-12, 10}, mode));
    const auto g = memory_geometry::make({1000, 1e-3, 11}, mode);
    CHECK(g.generation_capacity == 100);
    CHECK(g.mode == mode);
    CHECK(g.bloom_k >= 1);
    CHECK(g.bloom_blocks >= 1);
  }
}
