// Who works on which partition, for `fluxcap worker` (docs/scale-out.md, "Membership and
// assignment"): the membership keys and their Lua scripts, the frozen rendezvous weight
// of (worker, partition), and the assignment every worker computes alike from the live
// members. Pure code, no Redis client: the unit tests pin it without a server. The
// assignment only decides which worker *tries* to take a partition; the leases and the
// generation-checked commit (redis_protocol.hpp) keep the outputs exact whatever it says.
#pragma once

#include "redis_protocol.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace fluxcap_cli::redis_membership {

/// The live workers of a deployment: a sorted set, worker id -> the time its membership
/// expires (milliseconds, the server's clock). `fluxcap:{NAME}:members`.
[[nodiscard]] inline std::string members_key(std::string_view stream) {
  return "fluxcap:{" + std::string(stream) + "}:members";
}
/// The most partitions each live worker owns (its --partitions-max): a hash, worker id ->
/// decimal. `fluxcap:{NAME}:members-max` (same hash tag, one slot with members_key).
[[nodiscard]] inline std::string members_max_key(std::string_view stream) {
  return "fluxcap:{" + std::string(stream) + "}:members-max";
}

/// Renews this worker's membership and returns the live members. KEYS: members,
/// members-max. ARGV: worker id, time to live (milliseconds), its --partitions-max.
/// Members whose expiry is past (the server's TIME) are removed first, from both keys.
/// Reply: [id, max, id, max, ...] of the live members (this one included).
inline constexpr std::string_view heartbeat_script = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now))
for _, m in ipairs(dead) do
  redis.call('ZREM', KEYS[1], m)
  redis.call('HDEL', KEYS[2], m)
end
redis.call('ZADD', KEYS[1], string.format('%.0f', now + tonumber(ARGV[2])), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return redis.call('HGETALL', KEYS[2])
)lua";

/// Removes a member (a worker leaving). KEYS: members, members-max. ARGV[1] worker id.
inline constexpr std::string_view leave_script = R"lua(
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
)lua";

/// The first step of a worker's weights: SipHash-2-4 of its id under the protocol's key.
[[nodiscard]] inline std::uint64_t member_hash(std::string_view worker_id) noexcept {
  return redis_protocol::partition_hash(worker_id);
}

/// splitmix64's finalizer: a bijection of 64-bit words that mixes every input bit into
/// every output bit.
[[nodiscard]] constexpr std::uint64_t mix64(std::uint64_t z) noexcept {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// The rendezvous (highest random weight) weight of a worker for partition `p`:
/// mix64(member_hash(id) ^ mix64(p + 1)). Frozen (test vector in
/// tests/cli/test_redis_protocol.cpp): workers of different versions must agree on it, or
/// two of them would each think a partition theirs (harmless, fenced, but they would take
/// it from each other).
[[nodiscard]] constexpr std::uint64_t rendezvous_weight(std::uint64_t member_hash,
                                                        unsigned p) noexcept {
  return mix64(member_hash ^ mix64(static_cast<std::uint64_t>(p) + 1));
}

/// A live member as the heartbeat reports it.
struct member {
  std::string id;
  unsigned max_partitions = redis_protocol::max_partitions;
};

/// The partitions assigned to each member, from the live members (in any order: the
/// result does not depend on it). Partition by partition, in order 0..P-1, each goes to
/// the member of highest rendezvous weight that still has room under its max_partitions
/// (ties, which need equal 64-bit weights, to the greater id). Without caps this is plain
/// rendezvous hashing: a member joining takes about P/(n+1) partitions, one from each
/// other member's share, and a member leaving spreads its share over all others; nothing
/// else moves. With caps smaller than a share, the assignment is still the same on every
/// worker (it depends only on the members and their caps); partitions beyond the total of
/// the caps go to no one. Returns, for each partition, the index into `members` of its
/// member, or -1. O(P x members), no allocation beyond the result and one counter a member.
[[nodiscard]] inline std::vector<int> assign(std::span<const member> members, unsigned partitions) {
  std::vector<int> owner(partitions, -1);
  std::vector<std::uint64_t> hashes;
  std::vector<unsigned> room;
  hashes.reserve(members.size());
  room.reserve(members.size());
  for (const auto& m : members) {
    hashes.push_back(member_hash(m.id));
    room.push_back(m.max_partitions);
  }
  for (unsigned p = 0; p < partitions; ++p) {
    int best = -1;
    std::uint64_t best_weight = 0;
    for (std::size_t i = 0; i < members.size(); ++i) {
      if (room[i] == 0) continue;
      const std::uint64_t w = rendezvous_weight(hashes[i], p);
      if (best < 0 || w > best_weight ||
          (w == best_weight && members[i].id > members[static_cast<std::size_t>(best)].id)) {
        best = static_cast<int>(i);
        best_weight = w;
      }
    }
    if (best >= 0) {
      --room[static_cast<std::size_t>(best)];
      owner[p] = best;
    }
  }
  return owner;
}

}  // namespace fluxcap_cli::redis_membership

#ifdef FLUXCAP_TOOL_HAS_REDIS
#include "redis_client.hpp"

namespace fluxcap_cli {

/// Runs `script` once for each call (its keys, then its arguments) in pipelines of up to
/// 512 commands: one round trip for many partitions' leases. Replies in the order of the
/// calls. A script the server lacks (a restarted server) is loaded and run again; another
/// error reply throws redis_error (not a connection error), a lost connection throws.
struct redis_script_call {
  std::vector<std::string_view> keys;
  std::vector<std::string_view> args;
};
std::vector<redis_reply> eval_pipelined(redis_client& c, redis_script& script,
                                        const std::vector<redis_script_call>& calls);

/// A worker's side of the membership: it heartbeats (renews its entry, prunes expired
/// ones, reads the live members) and knows which partitions the assignment gives it.
class worker_membership {
 public:
  worker_membership(const std::string& stream, std::string id, unsigned partitions,
                    unsigned max_partitions, std::uint64_t ttl_ms);

  /// Renews the membership and recomputes the assignment when the members changed.
  /// Throws redis_error.
  void heartbeat(redis_client& c);
  /// Removes the membership (a worker leaving). Throws redis_error.
  void leave(redis_client& c);

  /// Whether the assignment gives partition `p` to this worker (false before the first
  /// heartbeat).
  [[nodiscard]] bool assigned(unsigned p) const noexcept { return p < mine_.size() && mine_[p]; }
  /// The partitions assigned to this worker, ascending.
  [[nodiscard]] const std::vector<unsigned>& assigned_partitions() const noexcept {
    return assigned_;
  }
  /// The live members at the last heartbeat.
  [[nodiscard]] std::size_t members() const noexcept { return members_.size(); }

 private:
  std::string members_key_, max_key_, id_, ttl_, max_;
  unsigned partitions_;
  std::vector<redis_membership::member> members_;  // sorted by id
  std::vector<char> mine_;
  std::vector<unsigned> assigned_;
};

}  // namespace fluxcap_cli
#endif
