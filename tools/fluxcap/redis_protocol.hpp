// The Redis Streams protocol of `fluxcap produce / worker / collect` (docs/scale-out.md,
// "Redis Streams workers"): partition routing (a frozen hash), key names, the Lua
// scripts of leases and commits, and the fingerprints a deployment records. Pure code,
// no Redis client: the unit tests pin it without a server.
#pragma once

#include <fluxcap/hash.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

namespace fluxcap_cli::redis_protocol {

/// The protocol's version, recorded in the deployment record (`format`); a deployment of
/// another version is refused. 2: the producers' `written` count (idle workers rely on
/// every producer keeping it), the `b` mark of outputs, the deployment's `correlations`.
inline constexpr std::string_view format = "fluxcap-redis 2";

/// Partitions of a deployment when `--partitions` is not given at creation.
inline constexpr unsigned default_partitions = 16;
/// Most partitions a deployment may have (bounds the keys a worker scans).
inline constexpr unsigned max_partitions = 4096;

/// The key of the partition hash: SipHash-2-4's reference key (bytes 00..0f), so that
/// the routing is plain SipHash-2-4 and anyone can recompute it. Frozen: changing it (or
/// the function) moves groups between partitions and breaks every deployment.
inline constexpr fluxcap::hash_key partition_hash_key{0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};

/// SipHash-2-4 of `group_key` under partition_hash_key. `group_key` is the key the
/// processors group by: '=' and the value, or empty when the field is missing or null.
[[nodiscard]] inline std::uint64_t partition_hash(std::string_view group_key) noexcept {
  return fluxcap::detail::siphash<2, 4>(partition_hash_key, group_key.data(), group_key.size());
}

/// The partition of `group_key` among `partitions`: partition_hash mod partitions.
[[nodiscard]] inline unsigned partition_of(std::string_view group_key,
                                           unsigned partitions) noexcept {
  return static_cast<unsigned>(partition_hash(group_key) % partitions);
}

/// Whether `name` may name a stream: 1 to 64 bytes of letters, digits, '_', '-', '.'
/// (no '{' or '}', which would change the hash tags, no ':' which separates key parts).
[[nodiscard]] inline bool valid_stream_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 64) return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

/// The deployment record (a hash, its own slot): format, partitions, hash_key, routing,
/// spec. `fluxcap:{NAME}:deployment`.
[[nodiscard]] inline std::string deployment_key(std::string_view stream) {
  return "fluxcap:{" + std::string(stream) + "}:deployment";
}
/// The input sequence counter (producers reserve line numbers from it).
[[nodiscard]] inline std::string sequence_key(std::string_view stream) {
  return "fluxcap:{" + std::string(stream) + "}:seq";
}
/// The highest line number of a batch whose XADDs are all done: each producer raises it
/// (raise_script) after its batch's XADDs, in the same pipeline, so Redis runs it after
/// them. With one producer at a time every line numbered up to it is in its stream:
/// `collect --rules` bounds its complete prefix by it, and an idle worker reads it
/// instead of every partition it owns (unchanged: nothing counted arrived).
[[nodiscard]] inline std::string written_key(std::string_view stream) {
  return "fluxcap:{" + std::string(stream) + "}:written";
}
/// The latest event time producers with --state-ttl have sent (ms since the epoch): a
/// producer starts its running latest time from it (raise_script).
[[nodiscard]] inline std::string watermark_key(std::string_view stream) {
  return "fluxcap:{" + std::string(stream) + "}:watermark";
}

/// A key of partition `p`: `fluxcap:{NAME/p}:<part>`. Redis hashes only the text between
/// the first '{' and the next '}', so the tag `{NAME/p}` puts all keys of one partition in
/// one slot (one Lua script may write them all, also on Redis Cluster), and different
/// partitions in different slots.
[[nodiscard]] inline std::string partition_key(std::string_view stream, unsigned p,
                                               std::string_view part) {
  return "fluxcap:{" + std::string(stream) + "/" + std::to_string(p) + "}:" + std::string(part);
}

/// The parts of a partition's keys.
inline constexpr std::string_view in_part = "in";    ///< stream: n, l (input line), w (time)
inline constexpr std::string_view out_part = "out";  ///< stream: n, o (output line), b (bad)
/// hash: group key -> state blob (with --state-ttl: timed_state, the last event time first)
inline constexpr std::string_view state_part = "state";
inline constexpr std::string_view pos_part = "pos";      ///< string: last input ID committed
inline constexpr std::string_view lease_part = "lease";  ///< string: "worker:generation", PX
inline constexpr std::string_view gen_part = "gen";      ///< integer: last generation given
inline constexpr std::string_view meta_part = "meta";    ///< hash: spec, watermark, commits, ...

/// Creates the deployment record unless there is one; returns its fields.
/// KEYS[1] deployment. ARGV: format, partitions, hash_key, routing.
/// Reply: [format, partitions, hash_key, routing, spec, correlations] as recorded.
inline constexpr std::string_view create_deployment_script = R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'format', ARGV[1], 'partitions', ARGV[2], 'hash_key', ARGV[3],
             'routing', ARGV[4])
end
return redis.call('HMGET', KEYS[1], 'format', 'partitions', 'hash_key', 'routing', 'spec',
                  'correlations')
)lua";

/// Records the spec fingerprint of the deployment, and how many Sigma correlation rules
/// its spec holds (`collect` runs them: docs/scale-out.md), unless a fingerprint is
/// recorded; returns the recorded one. KEYS[1] deployment. ARGV: spec fingerprint,
/// correlation rules.
inline constexpr std::string_view claim_spec_script = R"lua(
if redis.call('HSETNX', KEYS[1], 'spec', ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 'correlations', ARGV[2])
end
return redis.call('HGET', KEYS[1], 'spec')
)lua";

/// Takes or renews the lease of a partition. KEYS: lease, gen. ARGV: worker id, lease
/// milliseconds. Reply: the generation held (a new one when taken), 0 when another
/// worker holds the lease.
inline constexpr std::string_view acquire_script = R"lua(
local v = redis.call('GET', KEYS[1])
if v then
  local id, g = string.match(v, '^(.*):(%d+)$')
  if id == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(g)
  end
  return 0
end
local g = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. g, 'PX', ARGV[2])
return g
)lua";

/// Renews a lease held. KEYS: lease, gen. ARGV: "worker:generation", generation, lease
/// milliseconds. A lease that expired while no one took it (the generation is still ours)
/// is taken back. Reply 1, or 0 when the lease is lost.
inline constexpr std::string_view renew_script = R"lua(
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] or (not v and redis.call('GET', KEYS[2]) == ARGV[2]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
  return 1
end
return 0
)lua";

/// Gives a lease up. KEYS[1] lease. ARGV[1] "worker:generation".
inline constexpr std::string_view release_script = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end
return 0
)lua";

/// The commit of a batch, atomic and fenced. KEYS: lease, gen, pos, state, out, meta.
/// ARGV: "worker:generation", generation, the committed position expected, the new
/// position, the spec fingerprint, the number of outputs, the number of states, then
/// per output its ID (the input's), line number, line and mark ("" for an output of the
/// spec; "1" for a bad line passed through unchanged, written as field b, which
/// `collect` keeps out of the correlation stage, as `run` does), then per state the group key
/// and the state blob; with --state-ttl, then the number of groups to remove (expired), their
/// keys, and the partition's latest event time (meta's watermark). Reply: "ok", or what refused it:
/// "lease" (a stale owner: another worker took the partition since; counted in meta's
/// stale_commits), "position" (the committed position is not the one expected), "spec" (another
/// spec committed here; counted in meta's spec_refusals). Nothing is written unless every check
/// passed, and no write can fail after them (output IDs are above the committed position, which is
/// at least the last output's ID).
inline constexpr std::string_view commit_script = R"lua(
local v = redis.call('GET', KEYS[1])
if v ~= ARGV[1] and (v or redis.call('GET', KEYS[2]) ~= ARGV[2]) then
  redis.call('HINCRBY', KEYS[6], 'stale_commits', 1)
  return 'lease'
end
local pos = redis.call('GET', KEYS[3]) or '0-0'
if pos ~= ARGV[3] then return 'position' end
local spec = redis.call('HGET', KEYS[6], 'spec')
if not spec then
  redis.call('HSET', KEYS[6], 'spec', ARGV[5])
elseif spec ~= ARGV[5] then
  redis.call('HINCRBY', KEYS[6], 'spec_refusals', 1)
  return 'spec'
end
local i = 8
for k = 1, tonumber(ARGV[6]) do
  if ARGV[i + 3] == '' then
    redis.call('XADD', KEYS[5], ARGV[i], 'n', ARGV[i + 1], 'o', ARGV[i + 2])
  else
    redis.call('XADD', KEYS[5], ARGV[i], 'n', ARGV[i + 1], 'o', ARGV[i + 2], 'b', ARGV[i + 3])
  end
  i = i + 4
end
for k = 1, tonumber(ARGV[7]) do
  redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 1])
  i = i + 2
end
if ARGV[i] then
  local expired = tonumber(ARGV[i])
  for k = 1, expired do redis.call('HDEL', KEYS[4], ARGV[i + k]) end
  redis.call('HSET', KEYS[6], 'watermark', ARGV[i + expired + 1])
end
redis.call('SET', KEYS[3], ARGV[4])
redis.call('HINCRBY', KEYS[6], 'commits', 1)
return 'ok'
)lua";

/// Raises an integer key to ARGV[1] unless it holds more (the latest event time producers
/// sent, watermark_key; the last line number written, written_key). KEYS[1] the key.
/// Integers up to 2^53 compare exactly (Lua numbers are doubles).
inline constexpr std::string_view raise_script = R"lua(
local v = redis.call('GET', KEYS[1])
if not v or tonumber(v) < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
)lua";

/// With --state-ttl, a state hash value is the group's last event time (8 bytes, little
/// endian, two's complement) followed by the state blob; without, the blob alone.
inline constexpr std::size_t timed_state_header = 8;

/// The value of a group with last event time `last` and state blob `blob`.
inline void append_timed_state(std::string& out, std::int64_t last, std::string_view blob) {
  const auto u = static_cast<std::uint64_t>(last);
  for (int i = 0; i < 8; ++i) out += static_cast<char>((u >> (8 * i)) & 0xff);
  out.append(blob);
}

/// The last event time of a timed_state value (at least timed_state_header bytes).
[[nodiscard]] inline std::int64_t timed_state_time(std::string_view value) noexcept {
  std::uint64_t u = 0;
  for (int i = 0; i < 8; ++i)
    u |= static_cast<std::uint64_t>(static_cast<unsigned char>(value[static_cast<std::size_t>(i)]))
         << (8 * i);
  return static_cast<std::int64_t>(u);
}

/// No event time (yet): rocksdb_state_store's value.
inline constexpr std::int64_t no_time = std::numeric_limits<std::int64_t>::min();

/// Whether a group whose last event time is `last` is expired under time to live `ttl_ms`
/// when the latest event time seen is `watermark` (rocksdb_state_store's rule).
[[nodiscard]] inline bool expired(std::int64_t last, std::int64_t watermark,
                                  std::int64_t ttl_ms) noexcept {
  return ttl_ms > 0 && last != no_time && watermark != no_time && last < watermark - ttl_ms;
}

/// With time to live `ttl_ms`, whether event time `ms` lies above the watermark the
/// producer sent with its entry (`w`): it can only when the producer sent none.
[[nodiscard]] inline bool lacks_watermark(std::int64_t ttl_ms, std::int64_t ms,
                                          std::int64_t watermark) noexcept {
  return ttl_ms > 0 && ms > watermark;
}
/// The field w of an entry whose producer (with --state-ttl) had read no event time yet.
inline constexpr std::string_view no_watermark = "-";
inline constexpr const char* lacks_watermark_message =
    "--state-ttl: a stream entry without the producer's latest event time (field w): "
    "produce with --state-ttl too";

/// 128-bit fingerprint of `text` as 32 hex digits (SipHash-1-3-128, fixed key): for the
/// spec fingerprint, which must be the same in every process.
[[nodiscard]] inline std::string fingerprint_hex(std::string_view text) {
  const auto h = fluxcap::detail::siphash128<1, 3>(partition_hash_key, text.data(), text.size());
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (const std::uint64_t w : h)
    for (int shift = 60; shift >= 0; shift -= 4) out += digits[(w >> shift) & 0xf];
  return out;
}

}  // namespace fluxcap_cli::redis_protocol
