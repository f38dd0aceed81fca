// Cuckoo memory (one aged fingerprint table a group): the guarantees of bloom memory
// measured on full groups, the table's invariants through rotations, the stash, and the
// bytes a group costs against CCCS's 479 KB.
#include <fluxcap/fluxcap.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <stdexcept>
#include <vector>

#include "harness.hpp"

using namespace fluxcap;

namespace {

using fluxcap_test::absent_key;
using fluxcap_test::stored_key;

/// Occupied slots (and stash entries) of each age distance (0 = active generation).
std::map<unsigned, std::uint64_t> entries_by_age(const group_state& s) {
  std::map<unsigned, std::uint64_t> out;
  const detail::aged_table* t = s.table();
  REQUIRE(t != nullptr);
  const std::uint64_t fp_mask = (std::uint64_t{1} << t->fingerprint_bits()) - 1;
  for (std::uint32_t b = 0; b < t->buckets(); ++b)
    for (unsigned j = 0; j < detail::table_bucket_slots; ++j) {
      const std::uint64_t slot = t->slot(b, j);
      if (slot == 0) continue;
      CHECK((slot & fp_mask) != 0);  // an occupied slot has a fingerprint
      ++out[t->age_distance(slot >> t->fingerprint_bits())];
    }
  for (const auto& e : t->stash()) ++out[t->age_distance(e.age)];
  return out;
}

}  // namespace

TEST_CASE("cuckoo geometry: fingerprint and age bits, table size, fpp bound") {
  const auto g = memory_geometry::make({200000, 1e-4, 10}, memory_mode::cuckoo);
  CHECK(g.age_bits == 4);           // 2^4 >= 10 generations
  CHECK(g.fingerprint_bits == 17);  // 8 * 0.96 / (2^17 - 1) <= 1e-4 < 8 * 0.96 / (2^16 - 1)
  CHECK(detail::table_fpp_bound(g.fingerprint_bits) <= 1e-4);
  CHECK(detail::table_fpp_bound(g.fingerprint_bits - 1) > 1e-4);
  // Room for all 10 generations of s = 22223 keys at 96% load.
  CHECK(std::uint64_t{g.table_buckets} * 4 * detail::table_max_load >= 10.0 * 22223);
  CHECK(std::uint64_t{g.table_buckets - 1} * 4 * detail::table_max_load < 10.0 * 22223);
  const auto g16 = memory_geometry::make({200000, 1e-3, 16}, memory_mode::cuckoo);
  CHECK(g16.age_bits == 4);  // 16 generations still fit 4 bits (ages are cleared at once)
  CHECK(g16.fingerprint_bits == 13);
  // An fpp too small for the slot width (f + a <= 30) is refused.
  CHECK_THROWS_AS((void)memory_geometry::make({1000, 1e-9, 200}, memory_mode::cuckoo),
                  std::invalid_argument);
  CHECK_NOTHROW((void)memory_geometry::make({1000, 1e-6, 10}, memory_mode::cuckoo));
}

TEST_CASE("cuckoo: a full group keeps every key within capacity, fpp within its bound") {
  // Default parameters: capacity 200000, fpp 1e-4, 10 generations. 5 capacities of stores:
  // the table fills, rotates and forgets many times.
  const cuckoo_memory memory;
  group_state s = memory.make_state();
  const std::uint64_t capacity = memory.config().capacity;
  const std::uint64_t total = 5 * capacity;
  std::uint64_t missing = 0;
  std::uint64_t checked = 0;
  std::size_t max_stash = 0;
  for (std::uint64_t i = 0; i < total; ++i) {
    s.insert(stored_key(i));
    if (i % 997 == 0 && i >= capacity) {
      // A spread of keys stored within the last `capacity` stores, oldest included.
      for (std::uint64_t back = 0; back < capacity; back += capacity / 64 + 1) {
        missing += !s.contains(stored_key(i - back));
        ++checked;
      }
      missing += !s.contains(stored_key(i + 1 - capacity));
      ++checked;
      max_stash = std::max(max_stash, s.table()->stash().size());
    }
  }
  CHECK(missing == 0);
  CHECK(checked > 50000);
  REQUIRE(s.table() != nullptr);
  CHECK(s.generation_count() == 10);
  // Every occupied slot belongs to one of the 10 generations, and holds no more entries
  // than the generation counted stores.
  for (const auto& [distance, n] : entries_by_age(s)) {
    CHECK(distance < 10);
    CHECK(n <= s.generation_at(distance).count());
  }
  // Keys older than capacity + s + s are forgotten (their generation was dropped).
  std::uint64_t old_found = 0;
  for (std::uint64_t i = 0; i < 20000; ++i) old_found += s.contains(stored_key(i + capacity));
  CHECK(old_found < 20);  // only false positives: about 20000 * 1e-4 = 2

  // Measured false-positive rate on never-stored keys, full table.
  const std::uint64_t probes = 1000000;
  std::uint64_t positives = 0;
  for (std::uint64_t i = 0; i < probes; ++i) positives += s.contains(absent_key(i));
  const double rate = static_cast<double>(positives) / static_cast<double>(probes);
  CHECK(rate <= 1e-4);
  const double bytes_per_tag =
      static_cast<double>(s.memory_bytes()) / static_cast<double>(s.stored());
  MESSAGE("cuckoo, capacity 200000, fpp 1e-4: "
          << s.memory_bytes() << " bytes, " << s.stored() << " keys (" << bytes_per_tag
          << " B a key), measured fpp " << rate << ", stash at most " << max_stash);
  CHECK(max_stash <= 4);
  // Smaller than bloom mode's full group (836 KB at these parameters).
  CHECK(s.memory_bytes() < 640 * 1000);
}

TEST_CASE("cuckoo: a full group at fpp 1e-3 takes less than CCCS's 479 KB") {
  // CCCS: 10 Guava filters of 20000 keys at 1e-4 each (about 1e-3 across them), 479 KB
  // allocated whatever the group stored. Here: 16 generations (forgetting 1/15 of the
  // capacity at a time) and 1e-3 for a lookup across all of them.
  const cuckoo_memory memory({200000, 1e-3, 16});
  group_state s = memory.make_state();
  for (std::uint64_t i = 0; i < 600000; ++i) s.insert(stored_key(i));
  REQUIRE(s.table() != nullptr);
  CHECK(s.memory_bytes() < 479 * 1000);
  std::uint64_t missing = 0;
  for (std::uint64_t back = 1; back <= 200000; back += 7)
    missing += !s.contains(stored_key(600000 - back));
  CHECK(missing == 0);
  std::uint64_t positives = 0;
  const std::uint64_t probes = 1000000;
  for (std::uint64_t i = 0; i < probes; ++i) positives += s.contains(absent_key(i));
  const double rate = static_cast<double>(positives) / static_cast<double>(probes);
  CHECK(rate <= 1e-3);
  MESSAGE("cuckoo, capacity 200000, fpp 1e-3, 16 generations: "
          << s.memory_bytes() << " bytes (" << static_cast<double>(s.memory_bytes()) / 200000
          << " B a remembered tag), measured fpp " << rate);
}

TEST_CASE("cuckoo: table invariants hold through rotations, and every state round trips") {
  // Small and busy: the table rotates many times; each saved state must decode (the
  // decoder checks every invariant) and answer as the original.
  const memory_config config{300, 1e-3, 4};
  const cuckoo_memory memory(config);
  group_state s = memory.make_state();
  std::uint64_t round_trips = 0;
  for (std::uint64_t i = 0; i < 6000; ++i) {
    s.insert(stored_key(i % 1700));  // re-stores too: keys move to the active generation
    if (i % 131 == 0) {
      std::vector<std::uint8_t> blob;
      encode_state(s, 7, blob);
      const group_state back = decode_state(blob, memory.geometry(), 7);
      std::vector<std::uint8_t> again;
      encode_state(back, 7, again);
      CHECK(again == blob);
      std::uint64_t differ = 0;
      for (std::uint64_t k = 0; k < 400; ++k)
        differ += back.contains(stored_key(k)) != s.contains(stored_key(k));
      CHECK(differ == 0);
      ++round_trips;
    }
    if (s.table() != nullptr && i % 50 == 0)
      for (const auto& [distance, n] : entries_by_age(s)) {
        CHECK(distance < s.generation_count());
        CHECK(n <= s.generation_at(distance).count());
      }
  }
  CHECK(round_trips > 40);
  CHECK(s.table() != nullptr);
}

TEST_CASE("cuckoo: a key re-stored in a later generation outlives its first store") {
  // fpp 1e-6: no fingerprint collision turns a store into a re-store in this short run.
  const memory_config config{400, 1e-6, 5};  // s = 100
  group_state s = cuckoo_memory(config).make_state();
  group_state e = exact_memory(config).make_state();
  const std::uint64_t kept = detail::mix64(424242);
  for (std::uint64_t i = 0; i < 5000; ++i) {
    if (i % 150 == 0) {
      s.insert(kept);
      e.insert(kept);
    }
    s.insert(stored_key(i));
    e.insert(stored_key(i));
    CHECK(s.contains(kept));
    CHECK(e.contains(kept));
  }
  CHECK(s.table() != nullptr);
  // Rotations happen on the same stores as in exact mode.
  CHECK(s.generation_count() == e.generation_count());
  CHECK(s.stored() == e.stored());
}

TEST_CASE("cuckoo: entries with nowhere to go are stashed, found, saved and forgotten") {
  // Keys that all have the same two buckets: 8 slots; the 9th and later go to the stash.
  const memory_config config{64, 1e-2, 2};
  const cuckoo_memory memory(config);
  group_state s = memory.make_state();
  // Move the state into its table first (the sets outgrow it after a dozen keys).
  for (std::uint64_t i = 0; i < 20; ++i) s.insert(stored_key(i));
  REQUIRE(s.table() != nullptr);
  const detail::aged_table& t = *s.table();
  const std::uint32_t x = 3;
  const std::uint32_t y = t.other_bucket(x, 1);
  std::vector<std::uint64_t> crowd;
  std::vector<std::uint64_t> fingerprints;
  for (std::uint64_t i = 1000; crowd.size() < 12 && i < 50000000; ++i) {
    const std::uint64_t key = detail::mix64(i);
    const std::uint32_t b1 = t.home_bucket(key);
    const std::uint64_t fp = t.fingerprint(key);
    const std::uint32_t b2 = t.other_bucket(b1, fp);
    if (!((b1 == x && b2 == y) || (b1 == y && b2 == x))) continue;
    if (std::find(fingerprints.begin(), fingerprints.end(), fp) != fingerprints.end()) continue;
    crowd.push_back(key);
    fingerprints.push_back(fp);
  }
  REQUIRE(crowd.size() == 12);
  for (const auto key : crowd) s.insert(key);
  CHECK(s.generation_count() == 1);
  CHECK(t.stash().size() >= 4);  // 12 keys, at most 8 in the two buckets
  for (const auto key : crowd) CHECK(s.contains(key));
  // Saved and restored with the stash.
  std::vector<std::uint8_t> blob;
  encode_state(s, 1, blob);
  const group_state back = decode_state(blob, memory.geometry(), 1);
  REQUIRE(back.table() != nullptr);
  CHECK(back.table()->stash() == t.stash());
  for (const auto key : crowd) CHECK(back.contains(key));
  // Two rotations later the crowd's generation is dropped: its stash entries too.
  for (std::uint64_t i = 100; i < 100 + 2 * 64 + 1; ++i) s.insert(stored_key(i));
  for (const auto& e : s.table()->stash()) CHECK(s.table()->age_distance(e.age) < 2);
  std::size_t crowd_left = 0;
  for (const auto key : crowd) crowd_left += s.contains(key);
  CHECK(crowd_left <= 1);  // a false positive at most (fpp 1e-2)
}

TEST_CASE("cuckoo: a lookup never needs more than the table and the stash") {
  // Exact phase first: small groups have no false positives at all.
  group_state s = cuckoo_memory({200000, 1e-2, 10}).make_state();
  for (std::uint64_t i = 0; i < 5000; ++i) s.insert(stored_key(i));
  CHECK(s.table() == nullptr);
  std::uint64_t positives = 0;
  for (std::uint64_t i = 0; i < 100000; ++i) positives += s.contains(absent_key(i));
  CHECK(positives == 0);
}
