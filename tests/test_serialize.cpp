// Serialized states: round trips that resume a stream exactly, and rejection (with the
// right decode_errc, never a crash) of truncated, corrupted, foreign, incompatible and
// structurally inconsistent blobs, including crafted ones with a valid checksum.
#include <fluxcap/fluxcap.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "harness.hpp"

using namespace fluxcap;

namespace {

using fluxcap_test::numbered;

using bytes = std::vector<std::uint8_t>;

/// A hash policy that is not default_hash (states built with it must not load elsewhere).
struct other_hash {
  [[nodiscard]] std::uint64_t operator()(std::string_view s) const noexcept {
    return detail::hash_bytes(s.data(), s.size(), 42);
  }
};
static_assert(hash_policy<other_hash>);

const spec& serial_spec() {
  static const spec s{ancestor_rule("anc", "ppid", "pid", {"f"}),
                      temporal_rule("t", {"a", "b"}).with_ordered().with_groupby({"folder"}),
                      parent_rule("p", "ppid", "pid", {"g"})};
  return s;
}

/// A capacitor over dense events (not movable: the accessor points at the schema).
/// The hash key of the rigs: blobs built by hand need their fingerprint.
constexpr hash_key rig_key{0x5e5e5e5e01020304ULL, 0x0a0b0c0d5e5e5e5eULL};

template <class Memory, class Hash = default_hash>
struct rig {
  program prog;
  dense_schema schema;
  flux_capacitor<dense_accessor, Memory, Hash> cap;

  explicit rig(memory_config config = {100, 1e-4, 5})
      : prog(compile(serial_spec())),
        schema(prog),
        cap(prog, dense_accessor(schema), Memory(config), make_hash<Hash>(rig_key)) {}
};

struct event {
  std::size_t group = 0;
  std::vector<std::size_t> tags;  // indices in program order: anc.f, t.a, t.b, p.g
  std::string pid, ppid, folder;
};

std::vector<event> make_stream(std::uint64_t seed, std::size_t n, std::size_t groups) {
  std::mt19937_64 rng(seed);
  auto pick = [&](std::size_t k) {
    return std::uniform_int_distribution<std::size_t>(0, k - 1)(rng);
  };
  std::vector<event> out;
  for (std::size_t i = 0; i < n; ++i) {
    event e;
    e.group = pick(groups);
    e.pid = std::to_string(i + 1);
    e.ppid = i == 0 || pick(10) == 0
                 ? ""
                 : std::to_string(i + 1 - 1 - pick(std::min<std::size_t>(i, 50)));
    e.folder = numbered("F", pick(4));
    if (pick(20) == 0) e.tags.push_back(0);
    for (std::size_t t = 1; t < 4; ++t)
      if (pick(8) == 0) e.tags.push_back(t);
    out.push_back(std::move(e));
  }
  return out;
}

/// Runs one event; returns the tags afterwards as a bit mask.
template <class R>
std::uint64_t apply(const R& r, group_state& state, const event& ev) {
  dense_event e(r.schema);
  for (const auto t : ev.tags) e.set_tag(t, true);
  e.set_column(*r.schema.column_index("pid"), std::string_view(ev.pid));
  if (!ev.ppid.empty()) e.set_column(*r.schema.column_index("ppid"), std::string_view(ev.ppid));
  e.set_column(*r.schema.column_index("folder"), std::string_view(ev.folder));
  r.cap.update(state, e);
  std::uint64_t out = 0;
  for (std::size_t i = 0; i < r.schema.tag_count(); ++i) out |= std::uint64_t{e.tag(i)} << i;
  return out;
}

/// Rewrites the trailing checksum so that a deliberately altered blob passes it.
void reseal(bytes& b) {
  REQUIRE(b.size() >= 8);
  const std::uint64_t sum = detail::checksum(b.data(), b.size() - 8);
  for (std::size_t i = 0; i < 8; ++i)
    b[b.size() - 8 + i] = static_cast<std::uint8_t>(sum >> (8 * i));
}

template <class T>
void put_le(bytes& b, T v) {
  for (std::size_t i = 0; i < sizeof(T); ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

/// One generation of a hand-made blob.
struct raw_generation {
  std::uint8_t kind = 0;
  std::uint32_t count = 0;
  std::vector<std::uint64_t> words;
  std::optional<std::uint32_t> size = std::nullopt;  // announced word count, if not words.size()
};

/// A state blob written field by field from the format documented in serialize.hpp.
/// Cuckoo mode: `table` is what follows the generations (default: the flag "no table").
bytes build_state(const memory_geometry& g, std::uint64_t fingerprint, std::uint8_t count,
                  std::uint8_t newest, const std::vector<raw_generation>& gens,
                  std::optional<std::uint8_t> mode = std::nullopt, const bytes& table = {0}) {
  const bool cuckoo = g.mode == memory_mode::cuckoo;
  bytes b;
  for (const char c : std::string_view("FLXCSTAT")) b.push_back(static_cast<std::uint8_t>(c));
  put_le<std::uint16_t>(b, cuckoo ? 2 : 1);
  put_le<std::uint8_t>(b, mode.value_or(static_cast<std::uint8_t>(g.mode)));
  put_le<std::uint8_t>(b, static_cast<std::uint8_t>(g.config.generations));
  put_le<std::uint64_t>(b, g.config.capacity);
  put_le<std::uint64_t>(b, std::bit_cast<std::uint64_t>(g.config.fpp));
  put_le<std::uint32_t>(b, g.generation_capacity);
  put_le<std::uint32_t>(b, cuckoo ? g.table_buckets : g.bloom_blocks);
  put_le<std::uint8_t>(b, cuckoo ? g.fingerprint_bits : g.bloom_k);
  put_le<std::uint64_t>(b, fingerprint);
  put_le<std::uint8_t>(b, count);
  put_le<std::uint8_t>(b, newest);
  for (const auto& gen : gens) {
    put_le<std::uint8_t>(b, gen.kind);
    put_le<std::uint32_t>(b, gen.count);
    put_le<std::uint32_t>(b, gen.size.value_or(static_cast<std::uint32_t>(gen.words.size())));
    for (const auto w : gen.words) put_le<std::uint64_t>(b, w);
  }
  if (cuckoo) b.insert(b.end(), table.begin(), table.end());
  put_le<std::uint64_t>(b, 0);
  reseal(b);
  return b;
}

template <class Capacitor>
std::optional<decode_errc> load_error(const Capacitor& cap, const bytes& b) {
  try {
    (void)load_state(cap, std::span<const std::uint8_t>(b));
  } catch (const decode_error& e) {
    CHECK(e.offset() <= b.size());
    return e.code();
  }
  return std::nullopt;
}

template <class Capacitor, class Store>
std::optional<decode_errc> load_store_error(const Capacitor& cap, const bytes& b, Store& store) {
  try {
    load_store(cap, std::span<const std::uint8_t>(b), store);
  } catch (const decode_error& e) {
    return e.code();
  }
  return std::nullopt;
}

/// Every group's state as bytes: equal maps mean equal stores.
template <class Capacitor>
std::map<std::string, bytes> snapshot(const Capacitor& cap,
                                      const in_memory_state_store<group_state>& store) {
  std::map<std::string, bytes> out;
  store.for_each([&](std::string_view key, const group_state& s) {
    out[std::string(key)] = save_state(cap, s);
  });
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Round trips

TEST_CASE_TEMPLATE("save_state/load_state round trips resume a stream exactly", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  const rig<Memory> r;
  const auto stream = make_stream(7, 3000, 1);
  // The uninterrupted run.
  std::vector<std::uint64_t> expected;
  std::vector<bytes> saved_at;
  group_state s = r.cap.make_state();
  for (const auto& ev : stream) expected.push_back(apply(r, s, ev));
  CHECK(s.generation_count() == 5);  // full, with rotations
  CHECK(s.stored() > 100);

  // Interrupted at several points: save, load into a fresh state, continue.
  for (const std::size_t cut : {0, 1, 5, 40, 700, 2999}) {
    CAPTURE(cut);
    group_state a = r.cap.make_state();
    for (std::size_t i = 0; i < cut; ++i) apply(r, a, stream[i]);
    const bytes blob = save_state(r.cap, a);
    group_state b = load_state(r.cap, std::span<const std::uint8_t>(blob));
    CHECK(save_state(r.cap, b) == blob);  // byte-identical re-encoding
    CHECK(b.stored() == a.stored());
    CHECK(b.generation_count() == a.generation_count());
    CHECK(b.memory_bytes() <= a.memory_bytes());
    std::size_t mismatches = 0;
    for (std::size_t i = cut; i < stream.size(); ++i)
      mismatches += apply(r, b, stream[i]) != expected[i];
    CHECK(mismatches == 0);
  }

  // The empty state: 47 header bytes and the checksum (cuckoo: and the table flag).
  const bytes empty = save_state(r.cap, r.cap.make_state());
  CHECK(empty.size() == (std::is_same_v<Memory, cuckoo_memory> ? 56 : 55));
  const group_state e = load_state(r.cap, std::span<const std::uint8_t>(empty));
  CHECK(e.generation_count() == 0);
  CHECK(e.memory_bytes() < 100);
}

TEST_CASE_TEMPLATE("the blob layout is the documented one", Memory, FLUXCAP_MEMORY_POLICIES) {
  const rig<Memory> r;
  const auto& g = r.cap.memory().geometry();
  const std::uint64_t fp = detail::hash_fingerprint(default_hash(rig_key));
  CHECK(save_state(r.cap, r.cap.make_state()) == build_state(g, fp, 0, 0, {}));
  group_state s = r.cap.make_state();
  s.insert(1);
  s.insert(2);
  s.insert(3);
  const generation& gen = s.generation_at(0);
  raw_generation raw{0, 3, std::vector<std::uint64_t>(gen.words(), gen.words() + gen.size_words())};
  CHECK(save_state(r.cap, s) == build_state(g, fp, 1, 0, {raw}));
}

TEST_CASE_TEMPLATE("save_store/load_store round trips resume every group exactly", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  const rig<Memory> r;
  const std::size_t groups = 5;
  const auto stream = make_stream(11, 4000, groups);
  auto name = [](std::size_t g) { return numbered("host-", g); };

  std::vector<std::uint64_t> expected;
  {
    in_memory_state_store<group_state> store(r.cap.make_state());
    for (const auto& ev : stream)
      expected.push_back(apply(r, store.find_or_create(name(ev.group)), ev));
  }
  for (const std::size_t cut : {0, 3, 100, 2500}) {
    CAPTURE(cut);
    in_memory_state_store<group_state> a(r.cap.make_state());
    for (std::size_t i = 0; i < cut; ++i)
      apply(r, a.find_or_create(name(stream[i].group)), stream[i]);
    const bytes blob = save_store(r.cap, a);
    in_memory_state_store<group_state> b(r.cap.make_state());
    load_store(r.cap, std::span<const std::uint8_t>(blob), b);
    CHECK(b.size() == a.size());
    CHECK(snapshot(r.cap, b) == snapshot(r.cap, a));
    std::size_t mismatches = 0;
    for (std::size_t i = cut; i < stream.size(); ++i)
      mismatches += apply(r, b.find_or_create(name(stream[i].group)), stream[i]) != expected[i];
    CHECK(mismatches == 0);
  }

  // load_store replaces the groups it carries and keeps the others.
  in_memory_state_store<group_state> src(r.cap.make_state());
  apply(r, src.find_or_create("h1"), stream[0]);
  src.find_or_create("h1").insert(99);
  in_memory_state_store<group_state> dst(r.cap.make_state());
  dst.find_or_create("h1").insert(1);
  dst.find_or_create("h2").insert(2);
  const bytes blob = save_store(r.cap, src);
  load_store(r.cap, std::span<const std::uint8_t>(blob), dst);
  CHECK(dst.size() == 2);
  CHECK(dst.find("h1")->contains(99));
  CHECK_FALSE(dst.find("h1")->contains(1));
  CHECK(dst.find("h2")->contains(2));
}

TEST_CASE_TEMPLATE("store_checksum reads the checksum a state file or checkpoint ends with", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  const rig<Memory> r;
  in_memory_state_store<group_state> store(r.cap.make_state());
  store.find_or_create("h1").insert(1);
  const bytes full = save_store(r.cap, store);
  CHECK(store_checksum(full) == detail::checksum(full.data(), full.size() - 8));
  store.find_or_create("h2").insert(2);
  const bytes delta = save_store_delta(r.cap, store);
  CHECK(store_checksum(delta) == detail::checksum(delta.data(), delta.size() - 8));
  CHECK(store_checksum(save_store(r.cap, store)) != store_checksum(full));
  CHECK_THROWS_AS((void)store_checksum(bytes(7, 0)), decode_error);
}

// ---------------------------------------------------------------------------------------
// Rejections

TEST_CASE_TEMPLATE("truncated blobs are rejected at every length", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  const rig<Memory> r;
  group_state s = r.cap.make_state();
  for (std::uint64_t k = 0; k < 40; ++k) s.insert(detail::mix64(k + 1));  // two generations
  const bytes blob = save_state(r.cap, s);
  for (std::size_t n = 0; n < blob.size(); ++n) {
    CAPTURE(n);
    const bytes cut(blob.begin(), blob.begin() + static_cast<std::ptrdiff_t>(n));
    const auto code = load_error(r.cap, cut);
    REQUIRE(code.has_value());
    if (n < 55)
      CHECK(*code == decode_errc::truncated);
    else
      CHECK(*code == decode_errc::bad_checksum);
  }

  in_memory_state_store<group_state> store(r.cap.make_state());
  store.assign("a", s);
  store.assign("bb", r.cap.make_state());
  const bytes all = save_store(r.cap, store);
  for (std::size_t n = 0; n < all.size(); ++n) {
    CAPTURE(n);
    const bytes cut(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n));
    in_memory_state_store<group_state> dst(r.cap.make_state());
    const auto code = load_store_error(r.cap, cut, dst);
    REQUIRE(code.has_value());
    CHECK((*code == decode_errc::truncated || *code == decode_errc::bad_checksum));
    CHECK(dst.size() == 0);
  }
}

TEST_CASE_TEMPLATE("every single bit flip is rejected", Memory, FLUXCAP_MEMORY_POLICIES) {
  const rig<Memory> r;
  group_state s = r.cap.make_state();
  // Bloom mode: 13 keys turn the set into a (2-block) filter; exact: a 32-slot set.
  for (std::uint64_t k = 0; k < 13; ++k) s.insert(detail::mix64(k + 1));
  const bytes blob = save_state(r.cap, s);
  CHECK(blob.size() < 400);
  for (std::size_t bit = 0; bit < blob.size() * 8; ++bit) {
    bytes b = blob;
    b[bit / 8] = static_cast<std::uint8_t>(b[bit / 8] ^ (1U << (bit % 8)));
    const auto code = load_error(r.cap, b);
    CAPTURE(bit);
    REQUIRE(code.has_value());
    if (bit < 64)
      CHECK(*code == decode_errc::bad_magic);
    else if (bit < 80)
      CHECK(*code == decode_errc::unsupported_version);
    else
      CHECK(*code == decode_errc::bad_checksum);
  }

  in_memory_state_store<group_state> store(r.cap.make_state());
  store.assign("a", s);
  store.assign("b", r.cap.make_state());
  const bytes all = save_store(r.cap, store);
  in_memory_state_store<group_state> dst(r.cap.make_state());
  dst.find_or_create("a").insert(5);
  const auto before = snapshot(r.cap, dst);
  for (std::size_t bit = 0; bit < all.size() * 8; ++bit) {
    bytes b = all;
    b[bit / 8] = static_cast<std::uint8_t>(b[bit / 8] ^ (1U << (bit % 8)));
    const auto code = load_store_error(r.cap, b, dst);
    CAPTURE(bit);
    REQUIRE(code.has_value());
    if (bit < 64)
      CHECK(*code == decode_errc::bad_magic);
    else if (bit == 64)  // version 2 -> 3, a version there is (with attachments): the checksum
      CHECK(*code == decode_errc::bad_checksum);
    else if (bit < 80)
      CHECK(*code == decode_errc::unsupported_version);
    else
      CHECK(*code == decode_errc::bad_checksum);
  }
  CHECK(snapshot(r.cap, dst) == before);
}

TEST_CASE_TEMPLATE("wrong magic, version, parameters, hash or trailing bytes are rejected", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  const rig<Memory> r;
  group_state s = r.cap.make_state();
  for (std::uint64_t k = 0; k < 30; ++k) s.insert(detail::mix64(k + 1));
  const bytes blob = save_state(r.cap, s);
  REQUIRE_FALSE(load_error(r.cap, blob).has_value());

  SUBCASE("version") {
    bytes b = blob;
    b[8] = 3;  // version 3, with a valid checksum: the version check itself rejects it
    reseal(b);
    CHECK(load_error(r.cap, b) == decode_errc::unsupported_version);
    // Cuckoo states are version 2, the others version 1: the other one is rejected.
    b[8] = std::is_same_v<Memory, cuckoo_memory> ? 1 : 2;
    reseal(b);
    CHECK(load_error(r.cap, b) == decode_errc::bad_parameters);
    b[8] = 0;
    reseal(b);
    CHECK(load_error(r.cap, b) == decode_errc::unsupported_version);
  }
  SUBCASE("magic") {
    bytes b = blob;
    b[0] = 'X';
    reseal(b);
    CHECK(load_error(r.cap, b) == decode_errc::bad_magic);
    // A store file is not a state, and the other way round.
    in_memory_state_store<group_state> store(r.cap.make_state());
    const bytes st = save_store(r.cap, store);
    CHECK(load_error(r.cap, st) == decode_errc::bad_magic);
    CHECK(load_store_error(r.cap, blob, store) == decode_errc::bad_magic);
  }
  SUBCASE("parameters") {
    const bool bloom = r.cap.memory().geometry().mode != memory_mode::exact;
    const rig<Memory> capacity(memory_config{101, 1e-4, 5});
    const rig<Memory> fpp(memory_config{100, 2e-4, 5});
    const rig<Memory> generations(memory_config{100, 1e-4, 6});
    CHECK(load_error(capacity.cap, blob) == decode_errc::bad_parameters);
    CHECK(load_error(fpp.cap, blob) == decode_errc::bad_parameters);
    CHECK(load_error(generations.cap, blob) == decode_errc::bad_parameters);
    if (bloom) {
      const rig<exact_memory> other(memory_config{100, 1e-4, 5});
      CHECK(load_error(other.cap, blob) == decode_errc::bad_parameters);
      // Bloom and cuckoo states do not load as each other.
      if constexpr (std::is_same_v<Memory, bloom_memory>) {
        const rig<cuckoo_memory> cuckoo(memory_config{100, 1e-4, 5});
        CHECK(load_error(cuckoo.cap, blob) == decode_errc::bad_parameters);
      } else {
        const rig<bloom_memory> bloom_rig(memory_config{100, 1e-4, 5});
        CHECK(load_error(bloom_rig.cap, blob) == decode_errc::bad_parameters);
      }
    } else {
      const rig<bloom_memory> other(memory_config{100, 1e-4, 5});
      CHECK(load_error(other.cap, blob) == decode_errc::bad_parameters);
    }
    // Stores check the parameters of every group.
    in_memory_state_store<group_state> store(r.cap.make_state());
    store.assign("h", s);
    const bytes st = save_store(r.cap, store);
    in_memory_state_store<group_state> dst(capacity.cap.make_state());
    CHECK(load_store_error(capacity.cap, st, dst) == decode_errc::bad_parameters);
    CHECK(dst.size() == 0);
  }
  SUBCASE("hash policy") {
    const rig<Memory, other_hash> other;
    CHECK(load_error(other.cap, blob) == decode_errc::bad_parameters);
    const bytes theirs = save_state(other.cap, other.cap.make_state());
    CHECK(load_error(r.cap, theirs) == decode_errc::bad_parameters);
    CHECK_FALSE(load_error(other.cap, theirs).has_value());
  }
  SUBCASE("trailing bytes") {
    bytes b = blob;
    b.insert(b.end() - 8, {0, 0, 0});
    reseal(b);
    CHECK(load_error(r.cap, b) == decode_errc::trailing_bytes);
    // A whole valid state appended.
    bytes twice(blob.begin(), blob.end() - 8);
    twice.insert(twice.end(), blob.begin(), blob.end());
    reseal(twice);
    CHECK(load_error(r.cap, twice) == decode_errc::trailing_bytes);
    // Stores too.
    in_memory_state_store<group_state> store(r.cap.make_state());
    store.assign("h", s);
    bytes st = save_store(r.cap, store);
    st.insert(st.end() - 8, std::uint8_t{7});
    reseal(st);
    in_memory_state_store<group_state> dst(r.cap.make_state());
    CHECK(load_store_error(r.cap, st, dst) == decode_errc::trailing_bytes);
    CHECK(dst.size() == 0);
    // Version of a store file.
    bytes v = save_store(r.cap, store);
    v[8] = 9;
    reseal(v);
    CHECK(load_store_error(r.cap, v, dst) == decode_errc::unsupported_version);
  }
}

TEST_CASE("structurally inconsistent blobs with a valid checksum are rejected") {
  const rig<exact_memory> ex(memory_config{1000, 1e-4, 4});
  const rig<bloom_memory> bl(memory_config{1000, 1e-4, 4});
  const auto& ge = ex.cap.memory().geometry();
  const auto& gb = bl.cap.memory().geometry();
  const std::uint64_t fp = detail::hash_fingerprint(default_hash(rig_key));
  const std::vector<std::uint64_t> empty8(8, 0);
  const std::uint32_t filter_words = gb.bloom_blocks * 8;

  // Sanity: well-formed hand-made blobs load.
  CHECK_FALSE(load_error(ex.cap, build_state(ge, fp, 1, 0, {{0, 0, empty8}})).has_value());
  CHECK_FALSE(load_error(ex.cap, build_state(ge, fp, 1, 0, {{0, 0, {}}})).has_value());
  CHECK_FALSE(load_error(bl.cap, build_state(gb, fp, 1, 0,
                                             {{1, 5, std::vector<std::uint64_t>(filter_words, 0)}}))
                  .has_value());
  CHECK_FALSE(
      load_error(ex.cap, build_state(ge, fp, 2, 1, {{0, 0, empty8}, {0, 0, empty8}})).has_value());
  CHECK_FALSE(
      load_error(ex.cap,
                 build_state(ge, fp, 4, 2,
                             {{0, 0, empty8}, {0, 0, empty8}, {0, 0, empty8}, {0, 0, empty8}}))
          .has_value());

  // A key whose home slot (top 3 bits for 8 slots) is 0, stored in slot 0 or 1.
  const std::uint64_t home0 = 0x0123456789abcdefULL;  // top 3 bits 000
  std::vector<std::uint64_t> reachable = empty8;
  reachable[0] = home0;
  CHECK_FALSE(load_error(ex.cap, build_state(ge, fp, 1, 0, {{0, 1, reachable}})).has_value());
  std::vector<std::uint64_t> unreachable = empty8;
  unreachable[1] = home0;  // slot 0 empty: a lookup stops there and never sees slot 1

  struct bad_case {
    const char* what;
    bytes blob;
    bool bloom;
    decode_errc code;
  };
  std::vector<std::uint64_t> five_keys = empty8;
  for (std::size_t i = 0; i < 5; ++i) five_keys[i] = (std::uint64_t{i} << 61) | 1;
  std::vector<std::uint64_t> seven_keys = empty8;
  for (std::size_t i = 0; i < 7; ++i) seven_keys[i] = (std::uint64_t{i} << 61) | 1;
  const std::vector<bad_case> cases{
      {"count over the load limit", build_state(ge, fp, 1, 0, {{0, 7, seven_keys}}), false,
       decode_errc::inconsistent},
      {"set size not a power of two",
       build_state(ge, fp, 1, 0, {{0, 0, std::vector<std::uint64_t>(12, 0)}}), false,
       decode_errc::inconsistent},
      {"set size below 8", build_state(ge, fp, 1, 0, {{0, 0, std::vector<std::uint64_t>(4, 0)}}),
       false, decode_errc::inconsistent},
      {"bloom generation in exact mode",
       build_state(ge, fp, 1, 0, {{1, 1, std::vector<std::uint64_t>(filter_words, 0)}}), false,
       decode_errc::inconsistent},
      {"bloom size not the parameters'",
       build_state(gb, fp, 1, 0, {{1, 1, std::vector<std::uint64_t>(filter_words + 8, 0)}}), true,
       decode_errc::inconsistent},
      {"newest index out of range", build_state(ge, fp, 1, 1, {{0, 0, empty8}}), false,
       decode_errc::inconsistent},
      {"newest set without generations", build_state(ge, fp, 0, 1, {}), false,
       decode_errc::inconsistent},
      {"partial ring whose newest is not the last",
       build_state(ge, fp, 2, 0, {{0, 0, empty8}, {0, 0, empty8}}), false,
       decode_errc::inconsistent},
      {"more generations than configured",
       build_state(
           ge, fp, 5, 4,
           {{0, 0, empty8}, {0, 0, empty8}, {0, 0, empty8}, {0, 0, empty8}, {0, 0, empty8}}),
       false, decode_errc::inconsistent},
      {"unknown generation kind", build_state(ge, fp, 1, 0, {{2, 0, empty8}}), false,
       decode_errc::inconsistent},
      {"count above the generation capacity",
       build_state(gb, fp, 1, 0,
                   {{1, gb.generation_capacity + 1, std::vector<std::uint64_t>(filter_words, 0)}}),
       true, decode_errc::inconsistent},
      {"keys counted in an empty generation", build_state(ge, fp, 1, 0, {{0, 3, {}}}), false,
       decode_errc::inconsistent},
      {"unreachable key", build_state(ge, fp, 1, 0, {{0, 1, unreachable}}), false,
       decode_errc::inconsistent},
      {"key count mismatch", build_state(ge, fp, 1, 0, {{0, 4, five_keys}}), false,
       decode_errc::inconsistent},
      {"unknown memory mode", build_state(ge, fp, 0, 0, {}, std::uint8_t{3}), false,
       decode_errc::bad_parameters},
      {"cuckoo mode in a version 1 state", build_state(ge, fp, 0, 0, {}, std::uint8_t{2}), false,
       decode_errc::bad_parameters},
      {"words announced but missing", build_state(ge, fp, 1, 0, {{0, 0, empty8, 16}}), false,
       decode_errc::truncated},
      {"huge word count", build_state(ge, fp, 1, 0, {{0, 0, {}, 0xffffffffU}}), false,
       decode_errc::truncated},
      {"generation header cut", build_state(ge, fp, 1, 0, {}), false, decode_errc::truncated},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    const auto code = c.bloom ? load_error(bl.cap, c.blob) : load_error(ex.cap, c.blob);
    CHECK(code == c.code);
  }

  // In a store file with a valid outer checksum: same code, destination untouched.
  in_memory_state_store<group_state> dst(ex.cap.make_state());
  dst.find_or_create("keep").insert(42);
  const auto before = snapshot(ex.cap, dst);
  for (const auto& c : cases) {
    if (c.bloom) continue;
    CAPTURE(c.what);
    bytes st;
    for (const char ch : std::string_view("FLXCSTOR")) st.push_back(static_cast<std::uint8_t>(ch));
    put_le<std::uint16_t>(st, 2);  // store format version 2
    put_le<std::uint8_t>(st, 1);   // keyed
    put_le<std::uint64_t>(st, rig_key.k0);
    put_le<std::uint64_t>(st, rig_key.k1);
    put_le<std::uint64_t>(st, 2);
    // A good group first, so that an all-or-nothing failure is visible.
    const bytes good = save_state(ex.cap, ex.cap.make_state());
    put_le<std::uint32_t>(st, 4);
    for (const char ch : std::string_view("keep")) st.push_back(static_cast<std::uint8_t>(ch));
    put_le<std::uint64_t>(st, good.size());
    st.insert(st.end(), good.begin(), good.end());
    put_le<std::uint32_t>(st, 3);
    for (const char ch : std::string_view("bad")) st.push_back(static_cast<std::uint8_t>(ch));
    put_le<std::uint64_t>(st, c.blob.size());
    st.insert(st.end(), c.blob.begin(), c.blob.end());
    put_le<std::uint64_t>(st, 0);
    reseal(st);
    CHECK(load_store_error(ex.cap, st, dst) == c.code);
    CHECK(snapshot(ex.cap, dst) == before);
  }
}

// ---------------------------------------------------------------------------------------
// Incremental checkpoints (save_store_delta / apply_store_delta)

TEST_CASE_TEMPLATE("a full checkpoint and its deltas restore the store exactly", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  const rig<Memory> r({60, 1e-3, 4});  // small: generations rotate and wrap many times
  const std::size_t groups = 7;
  const auto stream = make_stream(23, 6000, groups);
  auto name = [](std::size_t g) { return numbered("host-", g); };

  in_memory_state_store<group_state> live(r.cap.make_state());
  for (std::size_t i = 0; i < 300; ++i)
    apply(r, live.find_or_create(name(stream[i].group % 3)), stream[i]);  // 3 groups at first
  const bytes base = save_store(r.cap, live);
  mark_checkpoint(live);
  in_memory_state_store<group_state> restored(r.cap.make_state());
  load_store(r.cap, std::span<const std::uint8_t>(base), restored);

  std::size_t deltas = 0, empty_deltas = 0;
  std::size_t i = 300;
  for (const std::size_t step : {1, 0, 7, 50, 400, 0, 1200, 3, 2000, 2039}) {
    for (std::size_t end = i + step; i < end; ++i)
      apply(r, live.find_or_create(name(stream[i].group)), stream[i]);
    const bytes delta = save_store_delta(r.cap, live);
    mark_checkpoint(live);
    apply_store_delta(r.cap, std::span<const std::uint8_t>(delta), restored);
    ++deltas;
    empty_deltas += step == 0;
    if (step == 0) CHECK(delta.size() == 8 + 2 + 1 + 16 + 8 + 8);  // no group changed
    CHECK(restored.size() == live.size());
    CHECK(snapshot(r.cap, restored) == snapshot(r.cap, live));
  }
  CHECK(i == stream.size());
  CHECK(deltas == 10);
  CHECK(empty_deltas == 2);

  // The restored store goes on exactly like the live one.
  const auto more = make_stream(29, 500, groups);
  for (const auto& ev : more)
    CHECK(apply(r, restored.find_or_create(name(ev.group)), ev) ==
          apply(r, live.find_or_create(name(ev.group)), ev));
}

TEST_CASE_TEMPLATE("a delta carries only what changed", Memory, FLUXCAP_MEMORY_POLICIES) {
  const rig<Memory> r({1000, 1e-3, 5});
  in_memory_state_store<group_state> store(r.cap.make_state());
  // A full group (every generation open and sealed) and a quiet one.
  group_state& busy = store.find_or_create("busy");
  for (std::uint64_t k = 1; k <= 1600; ++k) busy.insert(detail::mix64(k));
  REQUIRE(busy.generation_count() == 5);
  store.find_or_create("quiet").insert(7);
  const bytes full = save_store(r.cap, store);
  mark_checkpoint(store);
  CHECK_FALSE(busy.changed_since_checkpoint());
  for (std::size_t g = 0; g < busy.generation_count(); ++g) CHECK_FALSE(busy.generation_changed(g));

  // Nothing changed: an empty delta.
  CHECK(save_store_delta(r.cap, store).size() == 43);

  // A few keys into the active generation: the delta holds that generation alone.
  // (Cuckoo mode: the group's table, which holds every generation, changes as a whole.)
  constexpr bool whole = std::is_same_v<Memory, cuckoo_memory>;
  if (whole) CHECK(busy.table() != nullptr);
  for (std::uint64_t k = 5000; k < 5010; ++k) busy.insert(detail::mix64(k));
  std::size_t changed = 0;
  for (std::size_t g = 0; g < busy.generation_count(); ++g) changed += busy.generation_changed(g);
  CHECK(changed == (whole ? 5 : 1));
  const bytes one = save_store_delta(r.cap, store);
  const bytes busy_full = save_state(r.cap, busy);
  const std::size_t generation_bytes = (busy_full.size() - 55) / 5;  // about: all are alike
  if (whole)
    CHECK(one.size() < busy_full.size() + 200);
  else
    CHECK(one.size() < busy_full.size() / 4 + 200);
  CHECK(one.size() > generation_bytes / 2);
  CHECK(one.size() < full.size());
  CHECK(std::search(one.begin(), one.end(), std::begin("quiet"), std::end("quiet") - 1) ==
        one.end());  // the quiet group is not in it

  // A rotation adds the generation it opened.
  for (std::uint64_t k = 6000; k < 6300; ++k) busy.insert(detail::mix64(k));
  changed = 0;
  for (std::size_t g = 0; g < busy.generation_count(); ++g) changed += busy.generation_changed(g);
  CHECK(changed == (whole ? 5 : 2));
  // clear() and a new group: everything they hold.
  store.find_or_create("quiet").clear();
  store.find_or_create("new");
  in_memory_state_store<group_state> copy(r.cap.make_state());
  load_store(r.cap, std::span<const std::uint8_t>(full), copy);
  const bytes delta = save_store_delta(r.cap, store);
  apply_store_delta(r.cap, std::span<const std::uint8_t>(delta), copy);
  CHECK(copy.size() == 3);  // a new group counts even while empty (as in a full save)
  CHECK(snapshot(r.cap, copy) == snapshot(r.cap, store));
}

TEST_CASE_TEMPLATE("bad deltas are rejected and leave the store untouched", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  const rig<Memory> r({60, 1e-3, 4});
  const auto stream = make_stream(31, 800, 3);
  in_memory_state_store<group_state> live(r.cap.make_state());
  for (std::size_t i = 0; i < 400; ++i)
    apply(r, live.find_or_create(numbered("h", stream[i].group)), stream[i]);
  const bytes base = save_store(r.cap, live);
  mark_checkpoint(live);
  for (std::size_t i = 400; i < 800; ++i)
    apply(r, live.find_or_create(numbered("h", stream[i].group)), stream[i]);
  const bytes delta = save_store_delta(r.cap, live);

  auto fresh = [&] {
    in_memory_state_store<group_state> s(r.cap.make_state());
    load_store(r.cap, std::span<const std::uint8_t>(base), s);
    return s;
  };
  const auto before = snapshot(r.cap, fresh());
  auto rejected = [&](const bytes& b, in_memory_state_store<group_state>& s) {
    try {
      apply_store_delta(r.cap, std::span<const std::uint8_t>(b), s);
    } catch (const decode_error& e) {
      CHECK(e.offset() <= b.size());
      return std::optional<decode_errc>(e.code());
    }
    return std::optional<decode_errc>();
  };

  // Every truncation and every byte flip.
  for (std::size_t len = 0; len < delta.size(); len += 1 + len / 64) {
    auto s = fresh();
    CHECK(rejected(bytes(delta.begin(), delta.begin() + static_cast<std::ptrdiff_t>(len)), s));
    CHECK(snapshot(r.cap, s) == before);
  }
  for (std::size_t at = 0; at < delta.size(); at += 1 + at / 32) {
    bytes b = delta;
    b[at] ^= 0x10;
    auto s = fresh();
    CHECK(rejected(b, s));
    CHECK(snapshot(r.cap, s) == before);
  }
  // A full save is not a delta, nor a delta a full save.
  {
    auto s = fresh();
    CHECK(rejected(base, s) == decode_errc::bad_magic);
    in_memory_state_store<group_state> t(r.cap.make_state());
    CHECK(load_store_error(r.cap, delta, t) == decode_errc::bad_magic);
  }
  // Kept generations need their base: applied to an empty store, the delta fails whole.
  // (Cuckoo groups with a table keep no generation: their delta carries them whole.)
  if constexpr (!std::is_same_v<Memory, cuckoo_memory>) {
    in_memory_state_store<group_state> empty(r.cap.make_state());
    CHECK(rejected(delta, empty) == decode_errc::inconsistent);
    CHECK(empty.size() == 0);
  } else {
    in_memory_state_store<group_state> empty(r.cap.make_state());
    CHECK_FALSE(rejected(delta, empty).has_value());
    CHECK(snapshot(r.cap, empty) == snapshot(r.cap, live));
  }
  // A group twice.
  {
    in_memory_state_store<group_state> one(r.cap.make_state());
    one.find_or_create("x").insert(1);
    const bytes d = save_store_delta(r.cap, one);
    // header 35 bytes, then the entry, then the checksum: duplicate the entry.
    bytes twice(d.begin(), d.end() - 8);
    twice.insert(twice.end(), d.begin() + 35, d.end() - 8);
    twice[27] = 2;
    twice.resize(twice.size() + 8);
    reseal(twice);
    in_memory_state_store<group_state> s(r.cap.make_state());
    CHECK(rejected(twice, s) == decode_errc::inconsistent);
    CHECK(s.size() == 0);
  }
  // Another capacitor's parameters.
  {
    const rig<Memory> other({61, 1e-3, 4});
    in_memory_state_store<group_state> s(other.cap.make_state());
    try {
      apply_store_delta(other.cap, std::span<const std::uint8_t>(delta), s);
      FAIL("accepted a delta of other parameters");
    } catch (const decode_error& e) {
      CHECK(e.code() == decode_errc::bad_parameters);
    }
  }
  // And the intact delta applies.
  auto s = fresh();
  CHECK_FALSE(rejected(delta, s));
  CHECK(snapshot(r.cap, s) == snapshot(r.cap, live));
}

TEST_CASE("structurally inconsistent cuckoo tables with a valid checksum are rejected") {
  const rig<cuckoo_memory> r(memory_config{60, 1e-3, 4});
  const auto& geo = r.cap.memory().geometry();
  group_state s = r.cap.make_state();
  for (std::uint64_t k = 1; k <= 70; ++k) s.insert(detail::mix64(k));  // a table, 4 generations
  REQUIRE(s.table() != nullptr);
  REQUIRE(s.generation_count() == 4);
  const bytes blob = save_state(r.cap, s);
  REQUIRE_FALSE(load_error(r.cap, blob).has_value());
  CHECK(blob[8] == 2);  // format version 2
  const std::size_t n = s.generation_count();
  const std::size_t flag_at = 47 + 9 * n;
  const std::size_t active_at = flag_at + 1;
  const std::size_t stash_at = flag_at + 2;
  const std::size_t slots_at = flag_at + 6;
  const unsigned w = geo.fingerprint_bits + geo.age_bits;
  const std::uint64_t slot_bits_total = std::uint64_t{geo.table_buckets} * 4 * w;
  REQUIRE(blob.size() == slots_at + (slot_bits_total + 7) / 8 + 8);  // no stash here

  auto altered = [&](auto&& change) {
    bytes b = blob;
    change(b);
    reseal(b);
    return load_error(r.cap, b);
  };
  // The first occupied slot, and its bit offset.
  std::uint64_t first = 0;
  while ((blob[slots_at + first / 8] >> (first % 8) & 1) == 0) ++first;
  const std::uint64_t first_slot = first / w * w;
  auto set_bits = [&](bytes& b, std::uint64_t bit, std::uint64_t value, unsigned count) {
    for (unsigned i = 0; i < count; ++i) {
      auto& byte = b[slots_at + (bit + i) / 8];
      const auto mask = static_cast<std::uint8_t>(1U << ((bit + i) % 8));
      byte = static_cast<std::uint8_t>(((value >> i) & 1) ? byte | mask : byte & ~mask);
    }
  };

  CHECK(altered([&](bytes& b) { b[flag_at] = 2; }) == decode_errc::inconsistent);
  CHECK(altered([&](bytes& b) { b[flag_at] = 0; }) == decode_errc::inconsistent);  // no table
  CHECK(altered([&](bytes& b) { b[47] = 0; }) == decode_errc::inconsistent);       // a set kind
  CHECK(altered([&](bytes& b) { b[active_at] = static_cast<std::uint8_t>(1U << geo.age_bits); }) ==
        decode_errc::inconsistent);
  // An empty slot with an age.
  std::uint64_t empty = first_slot + w;
  for (;; empty += w) {
    bool zero = true;
    for (unsigned i = 0; i < w; ++i)
      zero &= (blob[slots_at + (empty + i) / 8] >> ((empty + i) % 8) & 1) == 0;
    if (zero) break;
  }
  CHECK(altered([&](bytes& b) { set_bits(b, empty + geo.fingerprint_bits, 1, 1); }) ==
        decode_errc::inconsistent);
  // A slot of a generation the state does not hold: ages of 4 generations only, 2^a = 4
  // values... so make the state hold fewer: announce 3 generations' worth of counts as 0.
  CHECK(altered([&](bytes& b) {
          for (std::size_t g = 0; g < n; ++g)
            for (std::size_t i = 0; i < 4; ++i) b[47 + 9 * g + 1 + i] = 0;
        }) == decode_errc::inconsistent);  // every generation holds more entries than counted
  // The unused bits after the last slot.
  if (slot_bits_total % 8 != 0)
    CHECK(altered([&](bytes& b) {
            b[slots_at + slot_bits_total / 8] =
                static_cast<std::uint8_t>(b[slots_at + slot_bits_total / 8] | 0x80);
          }) == decode_errc::inconsistent);
  // A stash announced but missing, or bad.
  CHECK(altered([&](bytes& b) { b[stash_at] = 1; }) == decode_errc::truncated);
  CHECK(altered([&](bytes& b) {
          b[stash_at] = 1;
          const bytes entry(8 + 4 + 1, 0);  // fingerprint 0
          b.insert(b.end() - 8, entry.begin(), entry.end());
        }) == decode_errc::inconsistent);
  CHECK(altered([&](bytes& b) {
          for (std::size_t i = 0; i < 4; ++i) b[stash_at + i] = 0xff;
        }) == decode_errc::truncated);
  // A good stash entry loads.
  CHECK_FALSE(altered([&](bytes& b) {
                b[stash_at] = 1;
                ++b[47 + 9 * b[46] + 1];  // the active generation counted one more store
                bytes entry(8 + 4 + 1, 0);
                entry[0] = 5;  // fingerprint 5, bucket 0
                entry[12] = s.table()->active_age();
                b.insert(b.end() - 8, entry.begin(), entry.end());
              }).has_value());
  // Table sizing out of range.
  CHECK(altered([&](bytes& b) {
          for (std::size_t i = 0; i < 4; ++i) b[32 + i] = 0;
        }) == decode_errc::bad_parameters);
  CHECK(altered([&](bytes& b) { b[36] = 40; }) == decode_errc::bad_parameters);
  // A cuckoo state without its table flag (cut after the generations) is truncated.
  {
    bytes b(blob.begin(), blob.begin() + static_cast<std::ptrdiff_t>(flag_at));
    put_le<std::uint64_t>(b, 0);
    reseal(b);
    CHECK(load_error(r.cap, b) == decode_errc::truncated);
  }
}

TEST_CASE_TEMPLATE(
    "paging groups out (save_state) and in (load_state) between checkpoints loses "
    "nothing from the next delta",
    Memory, FLUXCAP_MEMORY_POLICIES) {
  // An embedder's store that pages idle groups out and back in (docs/concepts.md): a
  // paged-in state must still count its earlier changes as not yet checkpointed, or the
  // next delta would miss them and a restore would silently lack keys.
  const rig<Memory> r({60, 1e-3, 4});  // small: generations rotate often
  const std::size_t groups = 40;
  const auto stream = make_stream(31, 8000, groups);
  auto name = [](std::size_t g) { return numbered("host-", g); };

  in_memory_state_store<group_state> live(r.cap.make_state());   // never paged
  in_memory_state_store<group_state> paged(r.cap.make_state());  // pages groups out and in
  std::map<std::string, bytes> paged_out;
  auto page_in = [&](const std::string& key) {
    if (const auto it = paged_out.find(key); it != paged_out.end()) {
      paged.assign(key, load_state(r.cap, std::span<const std::uint8_t>(it->second)));
      paged_out.erase(it);
    }
  };
  std::mt19937_64 rng(77);
  in_memory_state_store<group_state> restored(r.cap.make_state());
  bool have_base = false;
  std::size_t page_outs = 0;
  for (std::size_t i = 0; i < stream.size(); ++i) {
    const std::string key = name(stream[i].group);
    page_in(key);
    apply(r, paged.find_or_create(key), stream[i]);
    apply(r, live.find_or_create(key), stream[i]);
    if (rng() % 7 == 0) {  // page a random resident group out
      const std::string victim = name(rng() % groups);
      if (const group_state* s = paged.find(victim)) {
        paged_out[victim] = save_state(r.cap, *s);
        paged.erase(victim);
        ++page_outs;
      }
    }
    if ((i + 1) % 500 == 0) {  // a checkpoint: every group paged in first
      for (std::size_t g = 0; g < groups; ++g) page_in(name(g));
      if (!have_base) {
        const bytes base = save_store(r.cap, paged);
        load_store(r.cap, std::span<const std::uint8_t>(base), restored);
        have_base = true;
      } else {
        const bytes delta = save_store_delta(r.cap, paged);
        apply_store_delta(r.cap, std::span<const std::uint8_t>(delta), restored);
      }
      mark_checkpoint(paged);
      CAPTURE(i);
      REQUIRE(snapshot(r.cap, paged) == snapshot(r.cap, live));
      CHECK(snapshot(r.cap, restored) == snapshot(r.cap, live));
    }
  }
  CHECK(page_outs > 500);
}

// ---------------------------------------------------------------------------------------
// Attachments (store format version 3)

namespace {

std::vector<store_attachment> sample_attachments() {
  return {{"sigma.correlations", bytes{1, 2, 3, 0, 255}}, {"a", bytes{}}, {"notes", bytes(300, 7)}};
}

std::vector<store_attachment> sorted_by_name(std::vector<store_attachment> a) {
  std::sort(a.begin(), a.end(), [](const auto& x, const auto& y) { return x.name < y.name; });
  return a;
}

std::uint16_t version_of(const bytes& b) {
  return static_cast<std::uint16_t>(b.at(8) | (b.at(9) << 8));
}

}  // namespace

TEST_CASE(
    "attachments: written with the groups (version 3), read back by load_store and "
    "apply_store_delta") {
  const rig<bloom_memory> r;
  in_memory_state_store<group_state> store(r.cap.make_state());
  for (const auto& ev : make_stream(3, 200, 4))
    apply(r, store.find_or_create(numbered("h", ev.group)), ev);
  const auto attachments = sample_attachments();

  // Without attachments: version 2, byte for byte what it was.
  const bytes plain = save_store(r.cap, store);
  CHECK(version_of(plain) == 2);
  CHECK(save_store(r.cap, store, {}) == plain);
  in_memory_state_store<group_state> from_plain(r.cap.make_state());
  CHECK(load_store(r.cap, std::span<const std::uint8_t>(plain), from_plain).empty());

  const bytes full = save_store(r.cap, store, attachments);
  CHECK(version_of(full) == 3);
  // The order given does not matter: names are written sorted.
  auto reversed = attachments;
  std::reverse(reversed.begin(), reversed.end());
  CHECK(save_store(r.cap, store, reversed) == full);
  in_memory_state_store<group_state> loaded(r.cap.make_state());
  CHECK(load_store(r.cap, std::span<const std::uint8_t>(full), loaded) ==
        sorted_by_name(attachments));
  CHECK(snapshot(r.cap, loaded) == snapshot(r.cap, store));
  CHECK(stored_hash_key(full) == rig_key);

  // A checkpoint carries its attachments whole; the groups as a delta.
  mark_checkpoint(store);
  store.find_or_create("h-new").insert(42);
  const std::vector<store_attachment> later{{"sigma.correlations", bytes{9}}};
  const bytes delta = save_store_delta(r.cap, store, later);
  CHECK(version_of(delta) == 3);
  CHECK(apply_store_delta(r.cap, std::span<const std::uint8_t>(delta), loaded) == later);
  CHECK(snapshot(r.cap, loaded) == snapshot(r.cap, store));
}

TEST_CASE("attachments: names are 1 to 255 bytes, each once") {
  const rig<exact_memory> r;
  in_memory_state_store<group_state> store(r.cap.make_state());
  const auto saves = [&](std::vector<store_attachment> a) {
    try {
      (void)save_store(r.cap, store, a);
      return true;
    } catch (const std::invalid_argument&) {
      return false;
    }
  };
  CHECK_FALSE(saves({{"", bytes{}}}));
  CHECK_FALSE(saves({{std::string(256, 'n'), bytes{}}}));
  CHECK(saves({{std::string(255, 'n'), bytes{}}}));
  CHECK_FALSE(saves({{"x", bytes{1}}, {"y", bytes{}}, {"x", bytes{2}}}));
}

TEST_CASE(
    "attachments: truncations, bit flips and inconsistent sections are rejected, the "
    "store untouched") {
  const rig<bloom_memory> r;
  in_memory_state_store<group_state> store(r.cap.make_state());
  store.find_or_create("h1").insert(1);
  store.find_or_create("h2").insert(2);
  const std::vector<store_attachment> attachments{{"b", bytes{1, 2}}, {"c", bytes{3}}};
  const bytes full = save_store(r.cap, store, attachments);

  for (std::size_t n = 0; n < full.size(); ++n) {
    CAPTURE(n);
    const bytes cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    in_memory_state_store<group_state> dst(r.cap.make_state());
    CHECK(load_store_error(r.cap, cut, dst).has_value());
    CHECK(dst.size() == 0);
  }
  for (std::size_t bit = 0; bit < full.size() * 8; ++bit) {
    bytes flipped = full;
    flipped[bit / 8] ^= static_cast<std::uint8_t>(1U << (bit % 8));
    in_memory_state_store<group_state> dst(r.cap.make_state());
    if (!load_store_error(r.cap, flipped, dst)) FAIL_CHECK("bit " << bit << " flipped: accepted");
    CHECK(dst.size() == 0);
  }

  // Crafted sections with a valid checksum. The attachments start after the groups: the
  // file without attachments, less its checksum, is that prefix (with version 2).
  const bytes plain = save_store(r.cap, store);
  const std::size_t at = plain.size() - 8;
  const auto crafted = [&](const bytes& section) {
    bytes b(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(at));
    b.insert(b.end(), section.begin(), section.end());
    b.resize(b.size() + 8);
    reseal(b);
    in_memory_state_store<group_state> dst(r.cap.make_state());
    const auto code = load_store_error(r.cap, b, dst);
    CHECK(dst.size() == (code ? 0U : 2U));  // all or nothing
    return code;
  };
  const auto entry = [](std::string_view name, const bytes& payload) {
    bytes e{static_cast<std::uint8_t>(name.size())};
    e.insert(e.end(), name.begin(), name.end());
    put_le<std::uint64_t>(e, payload.size());
    e.insert(e.end(), payload.begin(), payload.end());
    return e;
  };
  const auto section = [&](std::uint32_t count, std::vector<bytes> entries) {
    bytes s;
    put_le<std::uint32_t>(s, count);
    for (const auto& e : entries) s.insert(s.end(), e.begin(), e.end());
    return s;
  };
  // The honest section passes (the crafting is right).
  CHECK_FALSE(crafted(section(2, {entry("b", {1, 2}), entry("c", {3})})).has_value());
  CHECK(crafted(section(0, {})) == decode_errc::inconsistent);
  CHECK(crafted(section(1, {entry("", {1})})) == decode_errc::inconsistent);
  CHECK(crafted(section(2, {entry("c", {3}), entry("b", {1, 2})})) == decode_errc::inconsistent);
  CHECK(crafted(section(2, {entry("b", {1}), entry("b", {2})})) == decode_errc::inconsistent);
  CHECK(crafted(section(3, {entry("b", {1, 2}), entry("c", {3})})) == decode_errc::truncated);
  CHECK(crafted(section(0xffffffffU, {entry("b", {1, 2})})) == decode_errc::truncated);
  bytes trailing = section(1, {entry("b", {1, 2})});
  trailing.push_back(0);
  CHECK(crafted(trailing) == decode_errc::trailing_bytes);
  bytes too_long = section(1, {entry("b", {1, 2})});
  too_long[1 + 4 + 1] = 200;  // the length's low byte: past the end
  CHECK(crafted(too_long) == decode_errc::truncated);
}
