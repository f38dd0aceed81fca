// Store files and checkpoints: every group of a state store in one blob (save_store,
// load_store), incremental checkpoints of what changed since the last one
// (save_store_delta, mark_checkpoint, apply_store_delta), and the hash key such a blob
// was written with (stored_hash_key). Each group is a state blob of serialize.hpp's
// format, inside the container of detail/store_container.hpp:
//
//   magic "FLXCSTOR" (a checkpoint: "FLXCSDEL"), version u16 (2; 3 with attachments),
//   flags u8 (1: keyed), hash key 2 x u64 (zero when unkeyed), group count u64, then per
//   group, in the order of the keys' bytes: key length u32, key, blob length u64, blob;
//   version 3 only: attachment count u32 (>= 1), then per attachment, in the order of the
//   names' bytes: name length u8 (>= 1), name, length u64, bytes; a final checksum u64.
//
// Attachments (store_attachment) are named blobs committed in the same file as the
// groups, such as a Sigma correlation engine's state: one file, one rename, one commit.
//
// What a store must offer each function is a concept below (docs/concepts.md);
// in_memory_state_store<group_state> offers all of it.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>

#include <fluxcap/detail/state_codec.hpp>
#include <fluxcap/detail/store_container.hpp>
#include <fluxcap/error.hpp>
#include <fluxcap/group_state.hpp>
#include <fluxcap/hash.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

FLUXCAP_BEGIN_NAMESPACE

// Each store concept asks for a store of group_states (`S::state_type` is group_state,
// as in in_memory_state_store<group_state>) and the members its function uses.

/// What save_store and save_store_delta read: `size()` and a const `for_each` calling
/// `f(std::string_view key, const group_state&)` for every group.
template <class S>
concept saveable_store = std::same_as<typename S::state_type, group_state> && requires(const S& s) {
  { s.size() } -> std::convertible_to<std::size_t>;
  s.for_each([](std::string_view, const group_state&) {});
};

/// What load_store writes: `assign(key, group_state)` replaces or adds a group's state.
template <class S>
concept loadable_store = std::same_as<typename S::state_type, group_state> &&
    requires(S& s, std::string_view key, group_state state) {
  s.assign(key, std::move(state));
};

/// What mark_checkpoint walks: a `for_each` calling `f(std::string_view key, group_state&)`.
template <class S>
concept checkpointable_store = std::same_as<typename S::state_type, group_state> && requires(S& s) {
  s.for_each([](std::string_view, group_state&) {});
};

/// What apply_store_delta reads and writes: `find(key) -> group_state*` (nullptr when
/// absent: the group is new) and `assign(key, group_state) -> group_state&`.
template <class S>
concept delta_store = std::same_as<typename S::state_type, group_state> &&
    requires(S& s, std::string_view key, group_state state) {
  { s.find(key) } -> std::convertible_to<group_state*>;
  { s.assign(key, std::move(state)) } -> std::same_as<group_state&>;
};

/// The hash key a state file (save_store) or checkpoint (save_store_delta) was written
/// with, read from its first bytes (at least 27; the checksum is not checked here, load_store
/// checks it): build the flux capacitor that continues it with
/// `default_hash(*key)`. nullopt for a state written with an unkeyed hash (and by
/// fluxcap 0.1). Throws decode_error when `bytes` does not start like a state file.
[[nodiscard]] inline std::optional<hash_key> stored_hash_key(std::span<const std::uint8_t> bytes) {
  const bool delta =
      bytes.size() >= 8 && std::memcmp(bytes.data(), detail::store_delta_magic, 8) == 0;
  return detail::read_store_header(delta ? detail::store_delta_magic : detail::store_magic,
                                   delta ? "state delta" : "state file", bytes, [] {})
      .key;
}

/// Serializes every group of `store`: magic "FLXCSTOR", version u16 (2), flags u8,
/// the capacitor's hash key (when keyed), group count u64, then per group (in key
/// order) key length u32, key bytes, state length u64, state (as encode_state), and a
/// final checksum u64 over everything before it. With `attachments`, version 3 and the
/// attachments after the groups. The bytes hold the hash key: keep them as confidential
/// as the key must be. Throws std::invalid_argument for an attachment name that is
/// empty, longer than 255 bytes or given twice.
template <group_state_capacitor Capacitor, saveable_store Store>
[[nodiscard]] std::vector<std::uint8_t> save_store(
    const Capacitor& cap, const Store& store, std::span<const store_attachment> attachments = {}) {
  const std::uint64_t fingerprint = detail::hash_fingerprint(cap.hash());
  return detail::write_groups(
      detail::store_magic, detail::capacitor_key(cap), store,
      [](const group_state& state) { return detail::state_codec::encoded_size(state, false); },
      [&](const group_state& state, std::vector<std::uint8_t>& out) {
        detail::state_codec::encode(state, fingerprint, out);
        return true;
      },
      attachments);
}

/// Restores all groups saved by save_store into `store` (replacing groups with the
/// same keys) and returns the file's attachments (none for versions 1 and 2). All or
/// nothing: on decode_error, `store` is left untouched. The restored states count as
/// checkpointed (see save_store_delta). The capacitor's hash must be keyed with the key
/// the bytes hold (stored_hash_key).
template <group_state_capacitor Capacitor, loadable_store Store>
std::vector<store_attachment> load_store(const Capacitor& cap, std::span<const std::uint8_t> bytes,
                                         Store& store) {
  std::vector<std::pair<std::string, group_state>> decoded;
  const auto& geometry = cap.memory().geometry();
  const std::uint64_t fingerprint = detail::hash_fingerprint(cap.hash());
  auto attachments = detail::read_groups(
      detail::store_magic, "state file", bytes, detail::capacitor_key(cap),
      [&](std::string_view key, std::span<const std::uint8_t> blob) {
        decoded.emplace_back(std::string(key),
                             detail::state_codec::decode(blob, geometry, fingerprint));
        decoded.back().second.mark_checkpoint();  // the file holds it
      });
  for (auto& [key, state] : decoded) store.assign(key, std::move(state));
  return attachments;
}

/// An incremental checkpoint: serializes only the groups of `store` that changed since
/// their last checkpoint, and of each only the generations that changed (the one that
/// was active and those opened since; sealed generations never change). The layout is
/// save_store's with magic "FLXCSDEL", and per group a state delta: encode_state's
/// layout with magic "FLXCSDLT" and each kept generation written as kind 2, count 0,
/// size 0. Call mark_checkpoint(store) once the bytes are safely written; then
/// load_store of the previous checkpoint followed by apply_store_delta of this one
/// restores the store exactly. `attachments` are written whole (as in save_store): an
/// attachment is not a delta.
template <group_state_capacitor Capacitor, saveable_store Store>
[[nodiscard]] std::vector<std::uint8_t> save_store_delta(
    const Capacitor& cap, const Store& store, std::span<const store_attachment> attachments = {}) {
  const std::uint64_t fingerprint = detail::hash_fingerprint(cap.hash());
  return detail::write_groups(
      detail::store_delta_magic, detail::capacitor_key(cap), store,
      [](const group_state& state) {
        return state.changed_since_checkpoint() ? detail::state_codec::encoded_size(state, true)
                                                : 0;
      },
      [&](const group_state& state, std::vector<std::uint8_t>& out) {
        if (!state.changed_since_checkpoint()) return false;
        detail::state_codec::encode(state, fingerprint, out, true);
        return true;
      },
      attachments);
}

/// Marks every group of `store` as held by a checkpoint (after save_store or
/// save_store_delta was written safely): later deltas carry only later changes.
template <checkpointable_store Store>
void mark_checkpoint(Store& store) {
  store.for_each([](std::string_view, group_state& state) { state.mark_checkpoint(); });
}

/// Applies a checkpoint written by save_store_delta to `store`, which must hold the
/// states of the checkpoint before it (a group the delta names but `store` lacks is
/// new: it may not keep generations). `Store` needs `find(key) -> state_type*` and
/// `assign(key, state)`. Returns the checkpoint's attachments. All or nothing: on
/// decode_error, `store` is left untouched.
template <group_state_capacitor Capacitor, delta_store Store>
std::vector<store_attachment> apply_store_delta(const Capacitor& cap,
                                                std::span<const std::uint8_t> bytes, Store& store) {
  struct pending {
    std::string key;
    group_state* base;
    detail::state_codec::decoded_delta delta;
  };
  std::vector<pending> decoded;
  std::unordered_set<std::string_view> seen;  // views into `bytes`
  const auto& geometry = cap.memory().geometry();
  const std::uint64_t fingerprint = detail::hash_fingerprint(cap.hash());
  const group_state empty = cap.make_state();
  auto attachments = detail::read_groups(
      detail::store_delta_magic, "state delta", bytes, detail::capacitor_key(cap),
      [&](std::string_view key, std::span<const std::uint8_t> blob) {
        if (!seen.insert(key).second)  // a second entry would keep generations moved away
          throw decode_error(decode_errc::inconsistent, 0, "the group appears twice");
        group_state* base = store.find(key);
        decoded.push_back({std::string(key), base,
                           detail::state_codec::decode(blob, geometry, fingerprint,
                                                       base != nullptr ? base : &empty)});
      });
  for (auto& p : decoded) {
    group_state& applied = p.base != nullptr
                               ? (detail::state_codec::apply(*p.base, std::move(p.delta)), *p.base)
                               : store.assign(p.key, std::move(p.delta.state));
    applied.mark_checkpoint();  // the delta holds it
  }
  return attachments;
}

/// The checksum a state file (save_store) or checkpoint (save_store_delta) ends with:
/// fluxcap's hash of every byte before it, as stored in its last 8 bytes. It names the
/// exact bytes, e.g. the snapshot later checkpoints follow. Not verified here (load_store
/// and apply_store_delta verify it). Throws decode_error when `bytes` is too short to
/// end with one.
[[nodiscard]] inline std::uint64_t store_checksum(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < 8) throw decode_error(decode_errc::truncated, bytes.size(), "truncated");
  std::uint64_t sum = 0;  // little-endian, as every integer of the format
  for (std::size_t i = 0; i < 8; ++i) sum |= std::uint64_t{bytes[bytes.size() - 8 + i]} << (8 * i);
  return sum;
}

FLUXCAP_END_NAMESPACE
