// Fuzz target: the group-state, state-store and store-delta decoders on arbitrary
// bytes, for exact, bloom and cuckoo states, under the keyed default hash (store format
// version 2, the key in the header) and fluxcap 0.1's unkeyed hash (version 1). A blob either
// throws decode_error or decodes into a state that re-encodes to the same bytes and answers lookups
// without crashing; a delta either applies whole (and the states answer lookups and take inserts)
// or leaves the store as it was.
#include <fluxcap/fluxcap.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>
#include <vector>

namespace {

const fluxcap::program& fuzz_program() {
  static const fluxcap::program prog =
      fluxcap::compile(fluxcap::spec{fluxcap::parent_rule("r", "p", "c", {"t"})});
  return prog;
}
const fluxcap::dense_schema& fuzz_schema() {
  static const fluxcap::dense_schema schema(fuzz_program());
  return schema;
}

template <class Memory, class Hash>
using capacitor = fluxcap::flux_capacitor<fluxcap::dense_accessor, Memory, Hash>;

/// The keyed capacitors' key ("fuzz-key" twice): the corpus's keyed seeds carry it.
inline constexpr fluxcap::hash_key fuzz_key{0x79656b2d7a7a7566ULL, 0x79656b2d7a7a7566ULL};

/// The three memories under one hash policy: fluxcap 0.1's unkeyed one (its state files,
/// store format version 1) or the keyed default (version 2, the key in the file).
template <class Hash>
struct capacitors {
  // Small parameters so that valid blobs are reachable by mutation.
  capacitor<fluxcap::bloom_memory, Hash> bloom{
      fuzz_program(), fluxcap::dense_accessor(fuzz_schema()), fluxcap::bloom_memory({16, 0.01, 3}),
      fluxcap::make_hash<Hash>(fuzz_key)};
  capacitor<fluxcap::exact_memory, Hash> exact{
      fuzz_program(), fluxcap::dense_accessor(fuzz_schema()), fluxcap::exact_memory({16, 0.01, 3}),
      fluxcap::make_hash<Hash>(fuzz_key)};
  capacitor<fluxcap::cuckoo_memory, Hash> cuckoo{
      fuzz_program(), fluxcap::dense_accessor(fuzz_schema()), fluxcap::cuckoo_memory({16, 0.01, 3}),
      fluxcap::make_hash<Hash>(fuzz_key)};
};

template <class Capacitor>
void exercise(const Capacitor& cap, std::span<const std::uint8_t> bytes) {
  try {
    fluxcap::group_state state = fluxcap::load_state(cap, bytes);
    // A blob that decodes must be exactly what encoding produces (fuzz builds skip
    // the checksum check, so the last 8 bytes may differ there).
    const auto again = fluxcap::save_state(cap, state);
    if (again.size() != bytes.size() || !std::equal(again.begin(), again.end() - 8, bytes.begin()))
      std::abort();
    for (std::uint64_t key = 0; key < 64; ++key) (void)state.contains(key * 0x9e3779b97f4a7c15ULL);
    for (std::uint64_t key = 0; key < 64; ++key) state.insert(key);
  } catch (const fluxcap::decode_error&) {
  }
  try {
    fluxcap::in_memory_state_store<fluxcap::group_state> store(cap.make_state());
    const auto attachments = fluxcap::load_store(cap, bytes, store);
    // Attachments read back are writable, and read back the same (container version 3).
    const auto again = fluxcap::save_store(cap, store, attachments);
    fluxcap::in_memory_state_store<fluxcap::group_state> reloaded(cap.make_state());
    if (fluxcap::load_store(cap, again, reloaded) != attachments) std::abort();
  } catch (const fluxcap::decode_error&) {
  }
  // As an incremental checkpoint over a store with a few groups (keys "a", "b", "c"
  // with 0, 1 and all generations): applied whole, or not at all. The base is built
  // once per capacitor and copied: building it for every input slowed the target 20x.
  using store_type = fluxcap::in_memory_state_store<fluxcap::group_state>;
  static const auto make_base = [](const Capacitor& c) {
    store_type base(c.make_state());
    base.find_or_create("a");
    base.find_or_create("b").insert(1);
    for (std::uint64_t key = 1; key < 200; ++key) base.find_or_create("c").insert(key * 77);
    fluxcap::mark_checkpoint(base);
    return base;
  };
  static const store_type base = make_base(cap);
  static const auto before = fluxcap::save_store(cap, base);
  store_type store = base;
  try {
    fluxcap::apply_store_delta(cap, bytes, store);
    for (std::uint64_t key = 0; key < 64; ++key)
      store.for_each([&](std::string_view, fluxcap::group_state& s) {
        (void)s.contains(key * 0x9e3779b97f4a7c15ULL);
        s.insert(key);
      });
  } catch (const fluxcap::decode_error&) {
    if (fluxcap::save_store(cap, store) != before) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const capacitors<fluxcap::unkeyed_hash> unkeyed;
  static const capacitors<fluxcap::default_hash> keyed;
  const std::span<const std::uint8_t> bytes(data, size);
  // A store header's key decides which hash can read the store, a blob's fingerprint
  // which can read the blob: both kinds see every input.
  exercise(unkeyed.bloom, bytes);
  exercise(unkeyed.exact, bytes);
  exercise(unkeyed.cuckoo, bytes);
  exercise(keyed.bloom, bytes);
  exercise(keyed.exact, bytes);
  exercise(keyed.cuckoo, bytes);
  return 0;
}
