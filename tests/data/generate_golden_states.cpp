// Writes the golden state blobs of tests/data/ (state format versions 1 and 2, store
// format version 2, correlation state format version 3) that are not
// there yet: a committed blob is never rewritten (later sizing changes would change its
// bytes). Not run by the tests: they decode the committed blobs, so that a format change
// that breaks old states fails CI. Add blobs for a new format version, keeping the old:
//
//   cmake --build BUILD --target fluxcap_golden_generator
//   BUILD/tests/fluxcap_golden_generator tests/data
//
// What each blob holds is spelled out in tests/test_golden_states.cpp, which checks it
// (the correlation states: tests/sigma/test_correlation_state.cpp).
#include <fluxcap/fluxcap.hpp>
#include <fluxcap/sigma/correlation_state.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <vector>

#include "../sigma/correlation_state_rig.hpp"
#include "golden_states.hpp"

namespace {

void write(const std::string& dir, const std::string& name, const std::vector<std::uint8_t>& b) {
  std::ofstream out(dir + "/" + name, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  if (!out) {
    std::fprintf(stderr, "cannot write %s/%s\n", dir.c_str(), name.c_str());
    std::exit(1);
  }
  std::printf("%s: %zu bytes\n", name.c_str(), b.size());
}

template <class Memory>
void write_states(const std::string& dir, const char* prefix,
                  const fluxcap::memory_config& config) {
  const Memory memory(config);
  for (const auto& [suffix, stores] : golden::state_blobs) {
    const std::string name = std::string(prefix) + "_" + suffix + ".bin";
    if (std::ifstream(dir + "/" + name)) continue;  // committed blobs are never rewritten
    fluxcap::group_state state = memory.make_state();
    for (std::uint64_t i = 1; i <= stores; ++i) state.insert(golden::key(i));
    std::vector<std::uint8_t> bytes;
    fluxcap::encode_state(state, golden::fingerprint, bytes);
    write(dir, name, bytes);
  }
}

/// A store blob and its delta, for a rig hashing with `Hash`, carrying `attachments`
/// (the delta: `delta_attachments`).
template <class Hash>
void write_store(const std::string& dir, const std::string& prefix,
                 const std::vector<fluxcap::store_attachment>& attachments = {},
                 const std::vector<fluxcap::store_attachment>& delta_attachments = {}) {
  const golden::store_rig<Hash> rig;
  const auto& cap = rig.cap;
  fluxcap::in_memory_state_store<fluxcap::group_state> store(cap.make_state());
  for (const auto& e : golden::store_events()) rig.run(store, e);
  if (!std::ifstream(dir + "/" + prefix + ".bin"))
    write(dir, prefix + ".bin", fluxcap::save_store(cap, store, attachments));
  std::ifstream in(dir + "/" + prefix + ".bin", std::ios::binary);
  const std::vector<std::uint8_t> committed{std::istreambuf_iterator<char>(in),
                                            std::istreambuf_iterator<char>()};
  fluxcap::in_memory_state_store<fluxcap::group_state> loaded(cap.make_state());
  fluxcap::load_store(cap, std::span<const std::uint8_t>(committed), loaded);
  for (const auto& e : golden::delta_events()) rig.run(loaded, e);
  if (!std::ifstream(dir + "/" + prefix + "_delta.bin"))
    write(dir, prefix + "_delta.bin", fluxcap::save_store_delta(cap, loaded, delta_attachments));
}

/// A correlation engine's state (format version 3) after the first golden_split events
/// of the rig's golden stream (tests/sigma/correlation_state_rig.hpp).
template <class Windows>
void write_correlation_state(const std::string& dir, const std::string& name) {
  if (std::ifstream(dir + "/" + name)) return;
  corr_rig::rig<Windows> r;
  const auto events = corr_rig::stream(corr_rig::golden_seed, corr_rig::golden_events);
  for (std::size_t i = 0; i < corr_rig::golden_split; ++i) r.process(events[i]);
  write(dir, name, fluxcap::sigma::save_correlation_state(*r.engine));
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : ".";
  write_states<fluxcap::exact_memory>(dir, "state_v1_exact", golden::state_config);
  write_states<fluxcap::bloom_memory>(dir, "state_v1_bloom", golden::state_config);
  // Format version 2: cuckoo states (an exact phase, then the group's table).
  write_states<fluxcap::cuckoo_memory>(dir, "state_v2_cuckoo", golden::state_config);

  // A whole store, as `fluxcap run --state` saves it: three groups of a capacitor, then
  // an incremental checkpoint (save_store_delta) of the committed store blob after a few
  // more events: it must apply to that very blob (a blob keeps its filter sizing).
  // Version 1 (fluxcap 0.1, unkeyed hash): committed, no longer written by this build.
  write_store<fluxcap::default_hash>(dir, "store_v2_bloom_keyed");
  // Version 3: the same store with attachments (named blobs committed with the groups).
  write_store<fluxcap::default_hash>(dir, "store_v3_bloom_attached", golden::store_attachments(),
                                     golden::delta_attachments());
  // Format version 3: Sigma correlation states, exact and bounded windows.
  write_correlation_state<fluxcap::sigma::exact_windows>(dir, "corr_v3_exact.bin");
  write_correlation_state<fluxcap::sigma::bounded_windows>(dir, "corr_v3_bounded.bin");
  return 0;
}
