// Frozen state format: the golden blobs of tests/data/ (state format versions 1 and 2,
// written once by tests/data/generate_golden_states.cpp) must still decode, answer
// lookups exactly as they did, and re-encode to the same bytes. A change to the
// format, to how keys are hashed, or to where a key's bits lie in a Bloom filter
// breaks old state files: it fails here. Compatibility policy: docs/reliability.md.
#include <fluxcap/fluxcap.hpp>

#include "data/golden_states.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace {

std::vector<std::uint8_t> read_blob(const std::string& name) {
  std::ifstream in(std::string(FLUXCAP_TEST_DATA) + "/" + name, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open tests/data/" << name);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::uint16_t version_of(const std::vector<std::uint8_t>& blob) {
  REQUIRE(blob.size() > 10);
  return static_cast<std::uint16_t>(blob[8] | (blob[9] << 8));
}

/// How many of the keys first..last the state finds.
std::uint64_t found(const fluxcap::group_state& s, std::uint64_t first, std::uint64_t last) {
  std::uint64_t n = 0;
  for (std::uint64_t i = first; i <= last; ++i) n += s.contains(golden::key(i)) ? 1 : 0;
  return n;
}

/// The sum of the indices i in first..last whose key the state finds: with `found`, a
/// fingerprint of exactly which keys are (falsely) found.
std::uint64_t found_sum(const fluxcap::group_state& s, std::uint64_t first, std::uint64_t last) {
  std::uint64_t sum = 0;
  for (std::uint64_t i = first; i <= last; ++i) sum += s.contains(golden::key(i)) ? i : 0;
  return sum;
}

constexpr std::uint64_t last_probe = 200000;

struct expected_state {
  const char* name;
  fluxcap::memory_mode mode;
  std::uint64_t stores;           ///< keys 1..stores were stored
  std::size_t generations;        ///< generations held
  std::uint64_t first_kept;       ///< keys first_kept..stores must all be found
  std::uint64_t found_before;     ///< keys 1..first_kept-1 found (forgotten: 0 when exact)
  std::uint64_t found_never;      ///< keys stores+1..last_probe found (never stored: 0 if exact)
  std::uint64_t found_never_sum;  ///< found_sum over the same keys
};

}  // namespace

TEST_CASE("golden state blobs (formats v1, v2) decode and answer as when they were written") {
  using fluxcap::memory_mode;
  // Bloom and cuckoo counts are pinned: their answers are deterministic, so a changed
  // count means the filter's bit layout (or the table's fingerprints and buckets) changed
  // and old states would answer wrongly.
  const expected_state cases[] = {
      {"state_v1_exact_empty.bin", memory_mode::exact, 0, 0, 1, 0, 0, 0},
      {"state_v1_exact_partial.bin", memory_mode::exact, 30, 2, 1, 0, 0, 0},
      {"state_v1_exact_full.bin", memory_mode::exact, 300, 5, 176, 0, 0, 0},
      {"state_v1_bloom_empty.bin", memory_mode::bloom, 0, 0, 1, 0, 0, 0},
      {"state_v1_bloom_partial.bin", memory_mode::bloom, 30, 2, 1, 0, 37, 3338573},
      {"state_v1_bloom_full.bin", memory_mode::bloom, 300, 5, 176, 0, 128, 12157059},
      // Format version 2: cuckoo states (the empty one has no table; the others do).
      {"state_v2_cuckoo_empty.bin", memory_mode::cuckoo, 0, 0, 1, 0, 0, 0},
      {"state_v2_cuckoo_partial.bin", memory_mode::cuckoo, 30, 2, 1, 0, 338, 35481789},
      {"state_v2_cuckoo_full.bin", memory_mode::cuckoo, 300, 5, 176, 2, 1445, 153079995},
  };
  for (const auto& c : cases) {
    const std::string name = c.name;
    CAPTURE(name);
    const auto blob = read_blob(c.name);
    CHECK(version_of(blob) == (c.mode == memory_mode::cuckoo ? 2 : 1));
    const auto geometry = fluxcap::memory_geometry::make(golden::state_config, c.mode);
    const fluxcap::group_state s = fluxcap::decode_state(blob, geometry, golden::fingerprint);
    CHECK(s.generation_count() == c.generations);
    CHECK(found(s, c.first_kept, c.stores) == c.stores + 1 - c.first_kept);
    CHECK(found(s, 1, c.first_kept - 1) == c.found_before);
    CHECK(found(s, c.stores + 1, last_probe) == c.found_never);
    CHECK(found_sum(s, c.stores + 1, last_probe) == c.found_never_sum);
    // The writer is frozen too: the decoded state encodes to the very same bytes.
    std::vector<std::uint8_t> again;
    fluxcap::encode_state(s, golden::fingerprint, again);
    CHECK(again == blob);
  }
}

/// A golden store blob (`prefix`.bin) resumes: the groups answer as the capacitor that
/// saved them would have.
template <class Hash>
void check_store_blob(const std::string& prefix, std::uint16_t version) {
  const auto blob = read_blob(prefix + ".bin");
  CHECK(version_of(blob) == version);
  const golden::store_rig<Hash> rig;
  const auto& schema = rig.schema;
  const auto& cap = rig.cap;
  fluxcap::in_memory_state_store<fluxcap::group_state> store(cap.make_state());
  fluxcap::load_store(cap, std::span<const std::uint8_t>(blob), store);
  REQUIRE(store.size() == 3);
  REQUIRE(store.find("=ws1") != nullptr);
  REQUIRE(store.find("=ws2") != nullptr);
  REQUIRE(store.find("") != nullptr);

  const std::size_t office = *schema.tag_index("lineage", "office");
  const std::size_t a = *schema.tag_index("recon", "a");
  const std::size_t b = *schema.tag_index("recon", "b");
  const std::size_t c = *schema.tag_index("recon", "c");
  // ws1: 11 (child of the office process 10) passes office on to its child 12.
  CHECK(rig.run(store, {"=ws1", {}, "12", "11"}).tag(office));
  // ws1: a then b were established, so c now carries a, b and c.
  const auto seq = rig.run(store, {"=ws1", {{"recon", "c"}}, std::nullopt, std::nullopt});
  CHECK((seq.tag(a) && seq.tag(b) && seq.tag(c)));
  // ws2: the 40th descendant of the office root still inherits it; ws1's ids do not.
  CHECK(rig.run(store, {"=ws2", {}, "141", "140"}).tag(office));
  CHECK_FALSE(rig.run(store, {"=ws2", {}, "13", "10"}).tag(office));
  // The null group saw only a: b carries a, but c is not yet established.
  const auto null_b = rig.run(store, {"", {{"recon", "b"}}, std::nullopt, std::nullopt});
  CHECK((null_b.tag(a) && null_b.tag(b) && !null_b.tag(c)));
  // A group that was not saved starts empty.
  CHECK_FALSE(rig.run(store, {"=ws3", {}, "11", "10"}).tag(office));
}

/// A golden store delta (`prefix`_delta.bin) applies to its store blob.
template <class Hash>
void check_store_delta(const std::string& prefix, std::uint16_t version) {
  const auto base = read_blob(prefix + ".bin");
  const auto delta = read_blob(prefix + "_delta.bin");
  CHECK(version_of(delta) == version);
  const golden::store_rig<Hash> rig;
  const auto& schema = rig.schema;
  const auto& cap = rig.cap;
  fluxcap::in_memory_state_store<fluxcap::group_state> store(cap.make_state());
  fluxcap::load_store(cap, std::span<const std::uint8_t>(base), store);
  fluxcap::apply_store_delta(cap, std::span<const std::uint8_t>(delta), store);
  REQUIRE(store.size() == 4);

  // The store blob run through the delta's events: the applied delta gives its states.
  fluxcap::in_memory_state_store<fluxcap::group_state> fresh(cap.make_state());
  fluxcap::load_store(cap, std::span<const std::uint8_t>(base), fresh);
  for (const auto& e : golden::delta_events()) rig.run(fresh, e);
  store.for_each([&](std::string_view key, const fluxcap::group_state& s) {
    CAPTURE(key);
    REQUIRE(fresh.find(key) != nullptr);
    CHECK(fluxcap::save_state(cap, s) == fluxcap::save_state(cap, *fresh.find(key)));
  });

  const std::size_t office = *schema.tag_index("lineage", "office");
  // ws3 came with the delta: 201's child inherits office.
  CHECK(rig.run(store, {"=ws3", {}, "202", "201"}).tag(office));
  // ws2 was not in the delta and is as the store blob left it.
  CHECK(rig.run(store, {"=ws2", {}, "141", "140"}).tag(office));
  // The delta holds the groups that changed, ws1 and ws3, and nothing of ws2 and the
  // null group (each group here has one generation, which it carries whole).
  fluxcap::in_memory_state_store<fluxcap::group_state> alone(cap.make_state());
  fluxcap::apply_store_delta(cap, std::span<const std::uint8_t>(delta), alone);
  CHECK(alone.size() == 2);
  CHECK(alone.find("=ws1") != nullptr);
  CHECK(alone.find("=ws3") != nullptr);
}

TEST_CASE("golden store blob (format v1, fluxcap 0.1's unkeyed hash): the groups resume") {
  check_store_blob<fluxcap::unkeyed_hash>("store_v1_bloom", 1);
}

TEST_CASE("golden store delta (format v1): applied to the store blob, the groups resume") {
  check_store_delta<fluxcap::unkeyed_hash>("store_v1_bloom", 1);
}

TEST_CASE("golden store blob and delta (format v2, keyed hash): the groups resume") {
  check_store_blob<fluxcap::default_hash>("store_v2_bloom_keyed", 2);
  check_store_delta<fluxcap::default_hash>("store_v2_bloom_keyed", 2);
  // The key is in the file, and the file's groups answer only under it.
  const auto blob = read_blob("store_v2_bloom_keyed.bin");
  CHECK(fluxcap::stored_hash_key(blob) == std::optional<fluxcap::hash_key>(golden::store_key));
  CHECK(fluxcap::stored_hash_key(read_blob("store_v2_bloom_keyed_delta.bin")) ==
        std::optional<fluxcap::hash_key>(golden::store_key));
  CHECK(fluxcap::stored_hash_key(read_blob("store_v1_bloom.bin")) == std::nullopt);
  const golden::store_rig<fluxcap::default_hash> keyed;
  const fluxcap::flux_capacitor<fluxcap::dense_accessor, fluxcap::bloom_memory> other_key(
      keyed.prog, fluxcap::dense_accessor(keyed.schema),
      fluxcap::bloom_memory(golden::store_config));
  fluxcap::in_memory_state_store<fluxcap::group_state> states(other_key.make_state());
  CHECK_THROWS_WITH_AS(fluxcap::load_store(other_key, std::span<const std::uint8_t>(blob), states),
                       "state decode error at byte 10: the state file was written with another "
                       "hash key (build the flux capacitor with the key stored_hash_key reads "
                       "from it)",
                       fluxcap::decode_error);
  // A keyed capacitor refuses fluxcap 0.1's unkeyed files, saying why.
  CHECK_THROWS_WITH_AS(
      fluxcap::load_store(other_key, std::span<const std::uint8_t>(read_blob("store_v1_bloom.bin")),
                          states),
      "state decode error at byte 8: the state file was written by fluxcap 0.1 with its unkeyed "
      "hash (unsafe against hostile input); it loads only with fluxcap::unkeyed_hash",
      fluxcap::decode_error);
  CHECK(states.size() == 0);
}

TEST_CASE(
    "golden store blob and delta (format v3, with attachments): the groups resume, the "
    "attachments read back") {
  check_store_blob<fluxcap::default_hash>("store_v3_bloom_attached", 3);
  check_store_delta<fluxcap::default_hash>("store_v3_bloom_attached", 3);
  const golden::store_rig<fluxcap::default_hash> rig;
  fluxcap::in_memory_state_store<fluxcap::group_state> store(rig.cap.make_state());
  auto expected = golden::store_attachments();
  std::sort(expected.begin(), expected.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  CHECK(fluxcap::load_store(rig.cap,
                            std::span<const std::uint8_t>(read_blob("store_v3_bloom_attached.bin")),
                            store) == expected);
  CHECK(fluxcap::apply_store_delta(
            rig.cap, std::span<const std::uint8_t>(read_blob("store_v3_bloom_attached_delta.bin")),
            store) == golden::delta_attachments());
  // This build writes the same bytes.
  fluxcap::in_memory_state_store<fluxcap::group_state> fresh(rig.cap.make_state());
  for (const auto& e : golden::store_events()) rig.run(fresh, e);
  CHECK(fluxcap::save_store(rig.cap, fresh, golden::store_attachments()) ==
        read_blob("store_v3_bloom_attached.bin"));
}

TEST_CASE("a state from a newer format version fails with a clear message") {
  auto blob = read_blob("state_v1_exact_partial.bin");
  blob[8] = 3;
  const auto geometry =
      fluxcap::memory_geometry::make(golden::state_config, fluxcap::memory_mode::exact);
  CHECK_THROWS_WITH_AS((void)fluxcap::decode_state(blob, geometry, golden::fingerprint),
                       "state decode error at byte 8: format version 3 is not supported (this "
                       "build reads 1 and 2)",
                       fluxcap::decode_error);
  auto store = read_blob("store_v1_bloom.bin");
  store[8] = 7;
  const golden::store_rig<fluxcap::unkeyed_hash> rig;
  const auto& cap = rig.cap;
  fluxcap::in_memory_state_store<fluxcap::group_state> states(cap.make_state());
  CHECK_THROWS_WITH_AS(fluxcap::load_store(cap, std::span<const std::uint8_t>(store), states),
                       "state decode error at byte 8: state file format version 7 is not "
                       "supported (this build reads 1 to 3)",
                       fluxcap::decode_error);
}
