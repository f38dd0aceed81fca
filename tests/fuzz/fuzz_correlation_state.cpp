// Fuzz target: correlation state decoding (fluxcap/sigma/correlation_state.hpp) into the
// engine of tests/sigma/correlation_state_rig.hpp (every correlation type, a chain, an
// alias; 24 groups, 6 events an exact window, 8 buckets).
//
// Input: byte 0 picks the window policy (bit 0: bounded) and the form (bit 1: raw);
// raw, the rest is the whole blob; otherwise the rest is the blob from its next-sweep
// field on (offset 52: counters, groups), behind the engine's own header and before a
// checksum the target computes, so that every input reaches the structural checks.
//
// Invariants: loading throws decode_error and leaves the engine as it was, or gives an
// engine within its group cap whose state saves, loads again into another engine, saves
// to the same bytes, and which fires exactly as that other engine on a few events.
#include <fluxcap/sigma/correlation_state.hpp>

#include "../sigma/correlation_state_rig.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

namespace {

namespace sigma = fluxcap::sigma;

template <class Windows>
void exercise(bool raw, std::span<const std::uint8_t> input) {
  static const corr_rig::rig<Windows> base;
  static const std::vector<std::uint8_t> empty = sigma::save_correlation_state(*base.engine);
  static const auto events = corr_rig::stream(5, 24);
  constexpr std::size_t header = 52;  // up to the next-sweep field

  std::vector<std::uint8_t> blob;
  if (raw) {
    blob.assign(input.begin(), input.end());
  } else {
    blob.assign(empty.begin(), empty.begin() + header);
    blob.insert(blob.end(), input.begin(), input.end());
    const std::uint64_t sum = fluxcap::detail::checksum(blob.data(), blob.size());
    for (int i = 0; i < 8; ++i) blob.push_back(static_cast<std::uint8_t>(sum >> (8 * i)));
  }

  auto engine = *base.engine;
  try {
    sigma::load_correlation_state(engine, blob);
  } catch (const fluxcap::decode_error&) {
    if (sigma::save_correlation_state(engine) != empty) std::abort();  // unchanged
    return;
  }
  if (engine.live_groups() > corr_rig::small_options().max_groups) std::abort();
  const std::vector<std::uint8_t> saved = sigma::save_correlation_state(engine);
  auto again = *base.engine;
  sigma::load_correlation_state(again, saved);  // a saved state always loads
  if (sigma::save_correlation_state(again) != saved) std::abort();
  for (const auto& [detections, event] : events) {
    const auto a = engine.process(detections, event);
    const std::vector<std::uint32_t> fired(a.begin(), a.end());
    const auto b = again.process(detections, event);
    if (!std::equal(fired.begin(), fired.end(), b.begin(), b.end())) std::abort();
    for (const std::uint32_t c : fired)
      if (c >= engine.rules().size()) std::abort();
  }
  if (engine.live_groups() > corr_rig::small_options().max_groups) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::span<const std::uint8_t> rest(data + 1, size - 1);
  const bool raw = (data[0] & 2) != 0;
  if ((data[0] & 1) != 0)
    exercise<sigma::bounded_windows>(raw, rest);
  else
    exercise<sigma::exact_windows>(raw, rest);
  return 0;
}
