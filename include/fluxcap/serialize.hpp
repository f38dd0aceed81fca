// Serialized group states (all integers little-endian). Format version 1 holds exact
// and bloom states; version 2 is the same with cuckoo states (mode 2) and their table.
//
//   offset size  field
//   0      8     magic "FLXCSTAT"
//   8      2     format version (1; 2 for cuckoo mode)
//   10     1     mode (0 exact, 1 bloom, 2 cuckoo)
//   11     1     generations G
//   12     8     capacity
//   20     8     fpp (IEEE-754 binary64 bits)
//   28     4     generation capacity s
//   32     4     bloom blocks a generation (cuckoo: table buckets)
//   36     1     bloom k (cuckoo: fingerprint bits f)
//   37     8     hash fingerprint (which hash function built the keys)
//   45     1     generation count n (0..G)
//   46     1     newest generation index (< n, or 0 when n = 0)
//   47     ...   n generations: kind u8 (0 exact, 1 bloom, 3 in the table), count u32,
//                words u32, then words x u64
//   cuckoo only: table flag u8 (0: the keys are in the generations' sets; 1: a table
//                follows): active age u8, stash entries u32, the table's bit-packed
//                slots (ceil(4 * buckets * (f + a) / 8) bytes, a = bit_width(G - 1);
//                slot j of bucket b at bit (4b + j)(f + a): f bits of fingerprint, then
//                a of age, the generation number mod 2^a; all 0: empty), then per stash
//                entry fingerprint u64, bucket u32, age u8
//   end-8  8     checksum: fluxcap's hash of every byte before it
//
// A store file (save_store) wraps such blobs in a container with the hash key: the
// store and checkpoint API is in checkpoint.hpp, which this header includes. The codec
// itself is detail/state_codec.hpp.
//
// Decoding checks everything (checksum, parameters equal to the expected ones,
// every structural invariant a lookup relies on) and throws decode_error on any
// inconsistency, so a restored state answers exactly as the one that was saved.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>

#include <fluxcap/checkpoint.hpp>
#include <fluxcap/detail/state_codec.hpp>
#include <fluxcap/error.hpp>
#include <fluxcap/group_state.hpp>
#include <fluxcap/hash.hpp>
#include <fluxcap/memory_config.hpp>

#include <cstdint>
#include <span>
#include <vector>

FLUXCAP_BEGIN_NAMESPACE

/// The version of exact and bloom state blobs.
using detail::state_format_version;
/// The version of cuckoo-mode state blobs (exact and bloom states stay version 1).
using detail::cuckoo_state_format_version;

/// Appends the serialized `state` to `out`. `fingerprint` identifies the hash
/// policy (flux_capacitor::save passes it for you).
inline void encode_state(const group_state& state, std::uint64_t fingerprint,
                         std::vector<std::uint8_t>& out) {
  detail::state_codec::encode(state, fingerprint, out);
}

/// Restores a state encoded by encode_state. Throws decode_error unless the blob
/// is intact and was built with `expected` parameters and the same hash function.
[[nodiscard]] inline group_state decode_state(std::span<const std::uint8_t> bytes,
                                              const memory_geometry& expected,
                                              std::uint64_t fingerprint) {
  return detail::state_codec::decode(bytes, expected, fingerprint);
}

/// Serializes `state` for the flux capacitor `cap` (its memory parameters and hash).
template <group_state_capacitor Capacitor>
[[nodiscard]] std::vector<std::uint8_t> save_state(const Capacitor& cap, const group_state& state) {
  std::vector<std::uint8_t> out;
  encode_state(state, detail::hash_fingerprint(cap.hash()), out);
  return out;
}

/// Restores a state saved by save_state for a flux capacitor with the same memory
/// parameters and hash (policy and key). Throws decode_error otherwise.
/// The restored state counts as changed since the last checkpoint in full: a store that
/// pages idle groups out with save_state and back in with load_state between
/// checkpoints never loses their changes from the next save_store_delta (which writes
/// such a group whole).
template <group_state_capacitor Capacitor>
[[nodiscard]] group_state load_state(const Capacitor& cap, std::span<const std::uint8_t> bytes) {
  return decode_state(bytes, cap.memory().geometry(), detail::hash_fingerprint(cap.hash()));
}

FLUXCAP_END_NAMESPACE
