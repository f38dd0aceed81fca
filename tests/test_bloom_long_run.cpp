// The limits of the bloom guarantees, measured on a long stream (docs/reliability.md):
// a group stores far more distinct tags than its capacity, and along the way
//  - every key among the last `capacity` stores is found (no false negative): the
//    oldest such key after every store, the whole window at checkpoints;
//  - never-stored keys are found at a rate within the configured fpp: at every
//    checkpoint fresh keys are looked up in the current state, and the measured rate
//    must not be significantly above fpp (one-sided, 4 standard deviations).
// The CI variant streams 10x capacity; FLUXCAP_LONG_RUN=1 runs the long variant
// (default capacity 200000 and fpp 1e-4, 100x capacity: 20 million stores).
#include <fluxcap/memory.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace {

constexpr std::uint64_t splitmix64(std::uint64_t x) noexcept {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

/// Key of the i-th store; never-stored keys come from another stream.
constexpr std::uint64_t stored_key(std::uint64_t i) noexcept {
  return splitmix64(2 * i);
}
constexpr std::uint64_t absent_key(std::uint64_t i) noexcept {
  return splitmix64(2 * i + 1);
}

bool long_run() {
  const char* v = std::getenv("FLUXCAP_LONG_RUN");
  return v != nullptr && *v != '\0' && *v != '0';
}

}  // namespace

TEST_CASE("bloom long run: no false negative within capacity, false-positive rate within fpp") {
  const bool full = long_run();
  const fluxcap::memory_config config =
      full ? fluxcap::memory_config{200000, 1e-4, 10} : fluxcap::memory_config{20000, 1e-3, 10};
  const std::uint64_t capacity = config.capacity;
  const std::uint64_t stores = capacity * (full ? 100 : 10);
  const std::uint64_t checkpoint_every = capacity / 4;
  const std::uint64_t probes_per_checkpoint = full ? 250000 : 50000;

  const fluxcap::bloom_memory memory(config);
  fluxcap::group_state state = memory.make_state();
  std::uint64_t misses = 0, window_misses = 0, lookups = 0, false_positives = 0, absent = 0;
  for (std::uint64_t i = 0; i < stores; ++i) {
    state.insert(stored_key(i));
    // The oldest key that must still be remembered, and the newest.
    const std::uint64_t oldest = i + 1 >= capacity ? i + 1 - capacity : 0;
    misses += state.contains(stored_key(oldest)) ? 0 : 1;
    misses += state.contains(stored_key(i)) ? 0 : 1;
    if ((i + 1) % checkpoint_every != 0 || i + 1 < capacity) continue;
    for (std::uint64_t j = oldest; j <= i; ++j)
      window_misses += state.contains(stored_key(j)) ? 0 : 1;
    for (std::uint64_t j = 0; j < probes_per_checkpoint; ++j)
      false_positives += state.contains(absent_key(absent++)) ? 1 : 0;
    lookups += probes_per_checkpoint;
  }
  CHECK(misses == 0);
  CHECK(window_misses == 0);
  CHECK(state.stored() <= capacity + capacity / (config.generations - 1) + 1);

  // Every lookup of a fresh never-stored key is a Bernoulli trial with p <= fpp, so
  // the measured rate has standard deviation <= sqrt(fpp / lookups).
  const double measured = static_cast<double>(false_positives) / static_cast<double>(lookups);
  const double sigma = std::sqrt(config.fpp / static_cast<double>(lookups));
  const std::string variant = full ? " (long variant)" : "";
  MESSAGE("bloom long run" << variant << ": capacity " << capacity << ", " << stores
                           << " stores, fpp " << config.fpp
                           << ": no false negative; false positives " << false_positives << " of "
                           << lookups << " = " << measured << " (bound " << config.fpp << " + 4 x "
                           << sigma << ")");
  CHECK(measured <= config.fpp + 4 * sigma);
}
