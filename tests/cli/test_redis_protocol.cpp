// The Redis Streams protocol's frozen parts (tools/fluxcap/redis_protocol.hpp): the
// partition hash (test vectors: SipHash-2-4's reference outputs, then group keys pinned
// once), key names and their hash tags. A change here moves groups between partitions and
// breaks every deployment: these values must never change.
#include "../../tools/fluxcap/redis_membership.hpp"
#include "../../tools/fluxcap/redis_protocol.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace rp = fluxcap_cli::redis_protocol;

TEST_CASE("redis partition hash: SipHash-2-4 reference vectors (key 00..0f)") {
  CHECK(rp::partition_hash("") == 0x726fdb47dd0e0e31ULL);
  CHECK(rp::partition_hash(std::string_view("\0", 1)) == 0x74f839c593dc67fdULL);
  std::string fifteen;
  for (int i = 0; i < 15; ++i) fifteen += static_cast<char>(i);
  CHECK(rp::partition_hash(fifteen) == 0xa129ca6149be45e5ULL);
}

TEST_CASE("redis partition hash: frozen group key vector") {
  CHECK(rp::partition_hash("=host-1") == 0x741d74da825be1cbULL);
  CHECK(rp::partition_hash("=host-2") == 0x44f862b248737571ULL);
  CHECK(rp::partition_hash("=WIN-7") == 0x06d892527e5eab43ULL);
  CHECK(rp::partition_of("", 16) == 1);
  CHECK(rp::partition_of("=host-1", 16) == 11);
  CHECK(rp::partition_of("=host-1", 7) == 2);
  CHECK(rp::partition_of("=WIN-7", 16) == 3);
  CHECK(rp::partition_of("=WIN-7", 1) == 0);
}

TEST_CASE("redis keys: one hash tag a partition, stream names that keep it") {
  CHECK(rp::partition_key("alerts", 3, rp::in_part) == "fluxcap:{alerts/3}:in");
  CHECK(rp::partition_key("alerts", 3, rp::lease_part) == "fluxcap:{alerts/3}:lease");
  CHECK(rp::deployment_key("alerts") == "fluxcap:{alerts}:deployment");
  CHECK(rp::valid_stream_name("a-b_c.9"));
  CHECK_FALSE(rp::valid_stream_name(""));
  CHECK_FALSE(rp::valid_stream_name("a{b}"));
  CHECK_FALSE(rp::valid_stream_name("a:b"));
  CHECK_FALSE(rp::valid_stream_name(std::string(65, 'a')));
  CHECK(rp::fingerprint_hex("abc") == "e81efa46153f754301d65f4901d5d4b2");
}

// ---------------------------------------------------------------------------------------
// Membership and assignment (tools/fluxcap/redis_membership.hpp).

namespace rm = fluxcap_cli::redis_membership;

namespace {

std::vector<rm::member> members_named(std::initializer_list<const char*> ids, unsigned max = 4096) {
  std::vector<rm::member> out;
  for (const char* id : ids) out.push_back({id, max});
  return out;
}

std::vector<std::string> owners(const std::vector<rm::member>& members, unsigned partitions) {
  std::vector<std::string> out;
  for (const int i : rm::assign(members, partitions))
    out.push_back(i < 0 ? std::string("-") : members[static_cast<std::size_t>(i)].id);
  return out;
}

}  // namespace

TEST_CASE("redis membership: keys share the deployment's hash tag") {
  CHECK(rm::members_key("alerts") == "fluxcap:{alerts}:members");
  CHECK(rm::members_max_key("alerts") == "fluxcap:{alerts}:members-max");
}

TEST_CASE("redis membership: frozen rendezvous weight vector") {
  CHECK(rm::mix64(0) == 0);
  CHECK(rm::mix64(1) == 0x5692161d100b05e5ULL);
  CHECK(rm::member_hash("host/1/a") == 0x40bf3326d0698603ULL);
  CHECK(rm::rendezvous_weight(rm::member_hash("host/1/a"), 0) == 0x328c211d77a7bfdfULL);
  CHECK(rm::rendezvous_weight(rm::member_hash("host/1/a"), 4095) == 0x2466833c085977fbULL);
  CHECK(rm::rendezvous_weight(rm::member_hash("host/2/b"), 0) == 0xc472df1f65d818e9ULL);
  CHECK(owners(members_named({"host/1/a", "host/2/b", "host/3/c"}), 8) ==
        std::vector<std::string>{"host/2/b", "host/3/c", "host/1/a", "host/1/a", "host/1/a",
                                 "host/1/a", "host/2/b", "host/3/c"});
}

TEST_CASE("redis membership: rendezvous assignment without caps") {
  const unsigned partitions = 1024;
  const auto three = members_named({"w1", "w2", "w3"});
  const auto before = owners(three, partitions);
  // Every partition has an owner, the one of highest weight; shares are about even.
  std::map<std::string, unsigned> share;
  for (unsigned p = 0; p < partitions; ++p) {
    ++share[before[p]];
    std::uint64_t best = 0;
    std::string best_id;
    for (const auto& m : three) {
      const auto w = rm::rendezvous_weight(rm::member_hash(m.id), p);
      if (w > best) best = w, best_id = m.id;
    }
    CHECK(before[p] == best_id);
  }
  CHECK(share.size() == 3);
  for (const auto& [id, n] : share) CHECK((n > 280 && n < 400));
  // The order of the members does not matter.
  const auto reversed = members_named({"w3", "w1", "w2"});
  CHECK(owners(reversed, partitions) == before);
  // A member joining takes partitions only for itself; nothing moves between the others.
  const auto four = members_named({"w1", "w2", "w3", "w4"});
  const auto joined = owners(four, partitions);
  unsigned moved = 0;
  for (unsigned p = 0; p < partitions; ++p)
    if (joined[p] != before[p]) {
      CHECK(joined[p] == "w4");
      ++moved;
    }
  CHECK((moved > 200 && moved < 320));
  // A member leaving: only its partitions move, spread over the others.
  const auto two = members_named({"w1", "w3"});
  const auto left = owners(two, partitions);
  std::map<std::string, unsigned> took;
  for (unsigned p = 0; p < partitions; ++p) {
    if (before[p] != "w2")
      CHECK(left[p] == before[p]);
    else
      ++took[left[p]];
  }
  CHECK(took.size() == 2);
  // One member owns everything; none owns nothing.
  CHECK(owners(members_named({"solo"}), 16) == std::vector<std::string>(16, "solo"));
  CHECK(rm::assign({}, 4) == std::vector<int>(4, -1));
}

TEST_CASE("redis membership: caps (--partitions-max) are respected") {
  auto members = members_named({"a", "b"}, 4);
  auto got = owners(members, 8);
  CHECK(std::count(got.begin(), got.end(), "a") == 4);
  CHECK(std::count(got.begin(), got.end(), "b") == 4);
  // More partitions than the caps allow: the rest go to no one.
  got = owners(members, 10);
  CHECK(std::count(got.begin(), got.end(), "-") == 2);
  // One capped member, one not: the capped one owns at most its cap.
  members[0].max_partitions = 1;
  members[1].max_partitions = 4096;
  got = owners(members, 64);
  CHECK(std::count(got.begin(), got.end(), "a") <= 1);
  CHECK(std::count(got.begin(), got.end(), "-") == 0);
}

TEST_CASE("redis timed state values (--state-ttl): frozen layout, the expiry rule") {
  std::string v;
  rp::append_timed_state(v, 0x0102030405060708, "blob");
  CHECK(v == std::string("\x08\x07\x06\x05\x04\x03\x02\x01", 8) + "blob");
  CHECK(rp::timed_state_time(v) == 0x0102030405060708);
  for (const std::int64_t t : {std::int64_t{0}, std::int64_t{-1}, std::int64_t{1767225600000},
                               rp::no_time, std::numeric_limits<std::int64_t>::max()}) {
    std::string w;
    rp::append_timed_state(w, t, "");
    REQUIRE(w.size() == rp::timed_state_header);
    CHECK(rp::timed_state_time(w) == t);
  }
  // rocksdb_state_store's rule: strictly older than the watermark minus the TTL.
  CHECK_FALSE(rp::expired(1000, 2000, 1000));
  CHECK(rp::expired(999, 2000, 1000));
  CHECK_FALSE(rp::expired(0, 2000, 0));  // no TTL
  CHECK_FALSE(rp::expired(rp::no_time, 2000, 1000));
  CHECK_FALSE(rp::expired(0, rp::no_time, 1000));
}
