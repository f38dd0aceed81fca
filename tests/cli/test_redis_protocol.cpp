// The Redis Streams protocol's frozen parts (tools/fluxcap/redis_protocol.hpp): the
// partition hash (test vectors: SipHash-2-4's reference outputs, then group keys pinned
// once), key names and their hash tags. A change here moves groups between partitions and
// breaks every deployment: these values must never change.
#include "../../tools/fluxcap/redis_protocol.hpp"

#include <doctest/doctest.h>

#include <string>

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
