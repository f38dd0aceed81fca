// What the golden state blobs of tests/data/ hold (state format versions 1, 2; store
// format versions 1, unkeyed, and 2, keyed): shared by
// their generator and by tests/test_golden_states.cpp. Never change these values:
// the committed blobs were made from them.
#pragma once

#include <fluxcap/fluxcap.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace golden {

/// Key i of the raw state blobs (a fixed odd multiplier: well mixed high bits).
constexpr std::uint64_t key(std::uint64_t i) noexcept {
  return i * 0x9E3779B97F4A7C15ULL;
}
/// The hash fingerprint the raw state blobs carry ("golden01").
constexpr std::uint64_t fingerprint = 0x676f6c64656e3031ULL;
/// Raw states: capacity 100, 5 generations (25 keys each), fpp 1e-2.
inline const fluxcap::memory_config state_config{100, 1e-2, 5};
/// Blob suffix and the number of keys stored (keys 1..n): empty, partial (one sealed
/// generation and a partial one), full (12 generations opened: the ring rotated).
inline const std::array<std::pair<const char*, std::uint64_t>, 3> state_blobs{
    {{"empty", 0}, {"partial", 30}, {"full", 300}}};

/// The store blob's spec, memory and events.
inline fluxcap::spec store_spec() {
  return fluxcap::spec{fluxcap::ancestor_rule("lineage", "parent_id", "id", {"office"}),
                       fluxcap::temporal_rule("recon", {"a", "b", "c"}).with_ordered()};
}
inline const fluxcap::memory_config store_config{1000, 1e-3, 10};

struct event {
  std::string group;
  std::vector<std::pair<const char*, const char*>> tags;  ///< rule, tag (set true)
  std::optional<std::string> id;
  std::optional<std::string> parent_id;
};

/// ws1: an office process 10, its child 11; recon a then b. ws2: a process tree of 40
/// processes under an office root 100 (ids 101..140, each the child of the previous).
/// The null group (""): recon a only.
inline std::vector<event> store_events() {
  std::vector<event> out;
  out.push_back({"=ws1", {{"lineage", "office"}}, "10", std::nullopt});
  out.push_back({"=ws1", {}, "11", "10"});
  out.push_back({"=ws1", {{"recon", "a"}}, std::nullopt, std::nullopt});
  out.push_back({"=ws1", {{"recon", "b"}}, std::nullopt, std::nullopt});
  out.push_back({"=ws2", {{"lineage", "office"}}, "100", std::nullopt});
  for (int i = 101; i <= 140; ++i)
    out.push_back({"=ws2", {}, std::to_string(i), std::to_string(i - 1)});
  out.push_back({"", {{"recon", "a"}}, std::nullopt, std::nullopt});
  return out;
}

/// The store delta blob (store_v1_bloom_delta.bin): taken after these events, applied
/// to the store blob's groups: ws1 recon c; a new group ws3 with an office process 200
/// and its child 201.
inline std::vector<event> delta_events() {
  std::vector<event> out;
  out.push_back({"=ws1", {{"recon", "c"}}, std::nullopt, std::nullopt});
  out.push_back({"=ws3", {{"lineage", "office"}}, "200", std::nullopt});
  out.push_back({"=ws3", {}, "201", "200"});
  return out;
}

inline fluxcap::dense_event make_event(const fluxcap::dense_schema& schema, const event& e) {
  fluxcap::dense_event ev(schema);
  for (const auto& [rule, tag] : e.tags) ev.set_tag(*schema.tag_index(rule, tag), true);
  if (e.id) ev.set_column(*schema.column_index("id"), *e.id);
  if (e.parent_id) ev.set_column(*schema.column_index("parent_id"), *e.parent_id);
  return ev;
}

/// The hash key of the keyed store blobs (store format version 2): "goldenK1key-v2!!".
inline constexpr fluxcap::hash_key store_key{0x314b6e65646c6f67ULL, 0x212132762d79656bULL};

/// The store blobs' capacitor. Not copyable: the accessor points at the schema. Format
/// version 1 blobs were written with fluxcap 0.1's unkeyed hash, version 2 blobs with
/// the keyed default under store_key.
template <class Hash = fluxcap::unkeyed_hash>
struct store_rig {
  store_rig() = default;
  store_rig(const store_rig&) = delete;
  store_rig& operator=(const store_rig&) = delete;

  fluxcap::program prog = fluxcap::compile(store_spec());
  fluxcap::dense_schema schema{prog};
  fluxcap::flux_capacitor<fluxcap::dense_accessor, fluxcap::bloom_memory, Hash> cap{
      prog, fluxcap::dense_accessor(schema), fluxcap::bloom_memory(store_config),
      fluxcap::make_hash<Hash>(store_key)};

  /// Runs `e` through its group's state in `store`; returns the rewritten event.
  fluxcap::dense_event run(fluxcap::in_memory_state_store<fluxcap::group_state>& store,
                           const event& e) const {
    fluxcap::dense_event ev = make_event(schema, e);
    cap.update(store.find_or_create(e.group), ev);
    return ev;
  }
};

/// The attachments of the version 3 store blob (store_v3_bloom_attached.bin): one empty,
/// one of every byte value, and one named with non-ASCII bytes.
inline std::vector<fluxcap::store_attachment> store_attachments() {
  std::vector<std::uint8_t> every(256);
  for (std::size_t i = 0; i < every.size(); ++i) every[i] = static_cast<std::uint8_t>(i);
  return {{"empty", {}}, {"every byte", every}, {"caf\xc3\xa9", {0xca, 0xfe}}};
}

/// ... and of its delta: a checkpoint carries its attachments whole.
inline std::vector<fluxcap::store_attachment> delta_attachments() {
  return {{"every byte", {1, 2, 3}}};
}

}  // namespace golden
