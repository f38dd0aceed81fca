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
}
