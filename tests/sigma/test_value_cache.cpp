// detail::value_cache: the per-thread memo of what a field value makes true.
#include <fluxcap/sigma/detail/value_cache.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

using fluxcap::hash_key;
using fluxcap::sigma::value_cache_limits;
using fluxcap::sigma::value_kind;
using fluxcap::sigma::detail::value_cache;

namespace {

std::vector<std::uint32_t> found_leaves(value_cache& c, std::uint32_t field, value_kind kind,
                                        const std::string& text, bool& found) {
  const auto span = c.find(field, kind, c.fingerprint_of(text), found);
  return {span.begin(), span.end()};
}

}  // namespace

TEST_CASE("value_cache: a stored value is found by field, kind and bytes, nothing else") {
  value_cache c(value_cache_limits{64, 4}, hash_key{1, 2});
  REQUIRE(c.enabled());
  CHECK(c.wants("abcd"));
  CHECK_FALSE(c.wants("abc"));
  const std::string cmd = R"(C:\Windows\system32\cmd.exe /c whoami)";
  const std::vector<std::uint32_t> leaves{3, 17, 42};
  c.store(5, value_kind::string, c.fingerprint_of(cmd), leaves);
  bool found = false;
  CHECK(found_leaves(c, 5, value_kind::string, cmd, found) == leaves);
  CHECK(found);
  CHECK(found_leaves(c, 6, value_kind::string, cmd, found).empty());  // another field
  CHECK_FALSE(found);
  (void)found_leaves(c, 5, value_kind::number, cmd, found);  // another kind
  CHECK_FALSE(found);
  (void)found_leaves(c, 5, value_kind::string, cmd + " ", found);  // another value
  CHECK_FALSE(found);
  CHECK(c.hits() == 1);
  CHECK(c.misses() == 3);
  // A value that makes nothing true is remembered as such.
  c.store(5, value_kind::string, c.fingerprint_of("nothing here"), {});
  CHECK(found_leaves(c, 5, value_kind::string, "nothing here", found).empty());
  CHECK(found);
}

TEST_CASE("value_cache: bounded: too many leaves are not cached, a slot is overwritten") {
  value_cache one(value_cache_limits{1, 0}, hash_key{7, 8});
  std::vector<std::uint32_t> many(value_cache::max_leaves + 1, 9);
  one.store(0, value_kind::string, one.fingerprint_of("a"), many);
  bool found = true;
  (void)found_leaves(one, 0, value_kind::string, "a", found);
  CHECK_FALSE(found);
  CHECK(one.too_many() == 1);
  one.store(0, value_kind::string, one.fingerprint_of("a"), std::vector<std::uint32_t>{1});
  one.store(0, value_kind::string, one.fingerprint_of("b"), std::vector<std::uint32_t>{2});
  CHECK(found_leaves(one, 0, value_kind::string, "b", found) == std::vector<std::uint32_t>{2});
  (void)found_leaves(one, 0, value_kind::string, "a", found);  // evicted by "b"
  CHECK_FALSE(found);
  CHECK(one.memory_bytes() == 64);
}

TEST_CASE("value_cache: a value with many leaves spans slots; a slot overwritten is a miss") {
  value_cache c(value_cache_limits{64, 0}, hash_key{3, 4});
  std::vector<std::uint32_t> many;
  for (std::uint32_t i = 0; i < value_cache::max_leaves; ++i) many.push_back(100 + i);
  const std::string cmd = "cmd.exe /c a command line with many patterns";
  c.store(1, value_kind::string, c.fingerprint_of(cmd), many);
  bool found = false;
  CHECK(found_leaves(c, 1, value_kind::string, cmd, found) == many);
  CHECK(found);
  const std::vector<std::uint32_t> some(many.begin(), many.begin() + 15);
  c.store(1, value_kind::string, c.fingerprint_of(cmd), some);  // replaced, 2 slots
  CHECK(found_leaves(c, 1, value_kind::string, cmd, found) == some);
  CHECK(found);
  CHECK(found_leaves(c, 2, value_kind::string, cmd, found).empty());  // another field
  CHECK_FALSE(found);
  CHECK(c.too_many() == 0);
  many.push_back(7);
  c.store(1, value_kind::string, c.fingerprint_of("x"), many);  // more than max_leaves
  CHECK(c.too_many() == 1);

  // Two slots: a 15-leaf value fills both; any other value stored then overwrites its
  // first slot or its continuation, and either way it is no longer found.
  for (const char* other : {"b", "c", "d", "e", "f", "g"}) {
    value_cache two(value_cache_limits{2, 0}, hash_key{5, 6});
    two.store(0, value_kind::string, two.fingerprint_of("big"), some);
    CHECK(found_leaves(two, 0, value_kind::string, "big", found) == some);
    two.store(0, value_kind::string, two.fingerprint_of(other), std::vector<std::uint32_t>{1});
    CHECK(found_leaves(two, 0, value_kind::string, other, found) == std::vector<std::uint32_t>{1});
    CHECK(found_leaves(two, 0, value_kind::string, "big", found).empty());
    CHECK_FALSE(found);
  }
  // One slot cannot hold more than leaves_per_slot.
  value_cache one(value_cache_limits{1, 0}, hash_key{7, 8});
  one.store(0, value_kind::string, one.fingerprint_of("a"), some);
  (void)found_leaves(one, 0, value_kind::string, "a", found);
  CHECK_FALSE(found);
  CHECK(one.too_many() == 1);
}

TEST_CASE("value_cache: disabled, and fingerprints depend on the key") {
  value_cache off;
  CHECK_FALSE(off.enabled());
  CHECK_FALSE(off.wants("a long enough value"));
  CHECK(value_cache(value_cache_limits{0, 0}, hash_key{1, 1}).enabled() == false);
  const value_cache a(value_cache_limits{}, hash_key{1, 2});
  const value_cache b(value_cache_limits{}, hash_key{1, 3});
  CHECK(a.fingerprint_of("x").a != b.fingerprint_of("x").a);
  CHECK(a.fingerprint_of("x").a == a.fingerprint_of("x").a);
  CHECK(value_cache(value_cache_limits{100, 0}, hash_key{}).memory_bytes() == 128 * 64);
  CHECK(value_cache(value_cache_limits{}, hash_key{}).memory_bytes() == 16384 * 64);
  // By default every non-empty value is remembered, short ones too (IntegrityLevel,
  // LogonId: a short scan costs more than a fingerprint and a probe).
  CHECK(a.wants("x"));
  CHECK_FALSE(a.wants(""));
}

TEST_CASE("value_cache: the same text in several fields and kinds keeps one entry each") {
  // A child and its parent both cmd.exe, User == ParentUser: before the field was mixed
  // into the slot, such pairs evicted each other on every event (the replicated
  // benchmark's memo hit 69% of its lookups; 92% after, 98.5% with 16,384 slots).
  value_cache c(value_cache_limits{64, 0}, hash_key{9, 10});
  const std::string user = R"(PANDALAB\pedro.gustavo)";
  const auto fp = c.fingerprint_of(user);
  for (std::uint32_t field = 0; field < 12; ++field)
    c.store(field, value_kind::string, fp, std::vector<std::uint32_t>{field});
  c.store(0, value_kind::number, fp, std::vector<std::uint32_t>{99});
  bool found = false;
  for (std::uint32_t field = 0; field < 12; ++field) {
    CHECK(found_leaves(c, field, value_kind::string, user, found) ==
          std::vector<std::uint32_t>{field});
    CHECK(found);
  }
  CHECK(found_leaves(c, 0, value_kind::number, user, found) == std::vector<std::uint32_t>{99});
  CHECK(c.hits() == 13);
  CHECK(c.misses() == 0);
  // Two fields in a two-slot table: both kept.
  value_cache two(value_cache_limits{2, 0}, hash_key{11, 12});
  two.store(0, value_kind::string, two.fingerprint_of(user), std::vector<std::uint32_t>{1});
  two.store(1, value_kind::string, two.fingerprint_of(user), std::vector<std::uint32_t>{2});
  CHECK(found_leaves(two, 0, value_kind::string, user, found) == std::vector<std::uint32_t>{1});
  CHECK(found_leaves(two, 1, value_kind::string, user, found) == std::vector<std::uint32_t>{2});
  CHECK(two.misses() == 0);
}

TEST_CASE("value_cache: two values sharing a slot both stay (two choices)") {
  // Direct-mapped, such a pair evicted each other on every event that carried both: on the
  // replicated benchmark, 2.6x the misses of two choices (32,850 against 10,701).
  value_cache c(value_cache_limits{8, 0}, hash_key{21, 22});
  const auto first_slot = [&](const std::string& v) { return c.fingerprint_of(v).a & 7; };
  const auto second_slot = [&](const std::string& v) { return c.fingerprint_of(v).b & 7; };
  // Three values with one first slot and three other second slots (found by search: the
  // key is fixed).
  std::vector<std::string> same;
  for (int i = 0; same.size() < 3 && i < 100000; ++i) {
    const std::string v = "value-" + std::to_string(i);
    if (first_slot(v) != 0 || second_slot(v) == 0) continue;
    bool fresh = true;
    for (const auto& s : same) fresh = fresh && second_slot(s) != second_slot(v);
    if (fresh) same.push_back(v);
  }
  REQUIRE(same.size() == 3);
  bool found = false;
  c.store(3, value_kind::string, c.fingerprint_of(same[0]), std::vector<std::uint32_t>{10});
  c.store(3, value_kind::string, c.fingerprint_of(same[1]), std::vector<std::uint32_t>{11});
  CHECK(found_leaves(c, 3, value_kind::string, same[0], found) == std::vector<std::uint32_t>{10});
  CHECK(found);
  CHECK(found_leaves(c, 3, value_kind::string, same[1], found) == std::vector<std::uint32_t>{11});
  CHECK(found);
  // Re-storing a cached value replaces its own entry: no stale copy stays findable.
  c.store(3, value_kind::string, c.fingerprint_of(same[1]), std::vector<std::uint32_t>{12});
  CHECK(found_leaves(c, 3, value_kind::string, same[1], found) == std::vector<std::uint32_t>{12});
  CHECK(found);
  // A third value whose both slots are taken evicts the one written longer ago, never a
  // wrong answer (its second slot is empty: it takes that one, and both others stay).
  c.store(3, value_kind::string, c.fingerprint_of(same[2]), std::vector<std::uint32_t>{13});
  CHECK(found_leaves(c, 3, value_kind::string, same[2], found) == std::vector<std::uint32_t>{13});
  CHECK(found);
  CHECK(found_leaves(c, 3, value_kind::string, same[0], found) == std::vector<std::uint32_t>{10});
  CHECK(found);
}

TEST_CASE("value_cache: with both places taken, the entry written longer ago is replaced") {
  value_cache c(value_cache_limits{2, 0}, hash_key{23, 24});
  // Values whose two places are the table's two slots.
  std::vector<std::string> values;
  for (int i = 0; values.size() < 3 && i < 100000; ++i) {
    const std::string v = "v" + std::to_string(i);
    const auto fp = c.fingerprint_of(v);
    if ((fp.a & 1) != (fp.b & 1)) values.push_back(v);
  }
  REQUIRE(values.size() == 3);
  bool found = false;
  for (std::uint32_t i = 0; i < 3; ++i)
    c.store(0, value_kind::string, c.fingerprint_of(values[i]), std::vector<std::uint32_t>{i});
  (void)found_leaves(c, 0, value_kind::string, values[0], found);
  CHECK_FALSE(found);  // the oldest
  CHECK(found_leaves(c, 0, value_kind::string, values[1], found) == std::vector<std::uint32_t>{1});
  CHECK(found);
  CHECK(found_leaves(c, 0, value_kind::string, values[2], found) == std::vector<std::uint32_t>{2});
  CHECK(found);
}
