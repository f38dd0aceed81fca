// Fuzz target: the group-state and state-store decoders on arbitrary bytes.
// A blob either throws decode_error or decodes into a state that re-encodes to
// the same bytes and answers lookups without crashing.
#include <fluxcap/fluxcap.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

namespace {

using capacitor = fluxcap::flux_capacitor<fluxcap::dense_accessor, fluxcap::bloom_memory>;
using exact_capacitor = fluxcap::flux_capacitor<fluxcap::dense_accessor, fluxcap::exact_memory>;

const fluxcap::program& fuzz_program() {
  static const fluxcap::program prog =
      fluxcap::compile(fluxcap::spec{fluxcap::parent_rule("r", "p", "c", {"t"})});
  return prog;
}
const fluxcap::dense_schema& fuzz_schema() {
  static const fluxcap::dense_schema schema(fuzz_program());
  return schema;
}

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
    fluxcap::load_store(cap, bytes, store);
    if (fluxcap::save_store(cap, store).size() == 0) std::abort();
  } catch (const fluxcap::decode_error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Small parameters so that valid blobs are reachable by mutation.
  static const capacitor bloom(fuzz_program(), fluxcap::dense_accessor(fuzz_schema()),
                               fluxcap::bloom_memory({16, 0.01, 3}));
  static const exact_capacitor exact(fuzz_program(), fluxcap::dense_accessor(fuzz_schema()),
                                     fluxcap::exact_memory({16, 0.01, 3}));
  const std::span<const std::uint8_t> bytes(data, size);
  exercise(bloom, bytes);
  exercise(exact, bytes);
  return 0;
}
