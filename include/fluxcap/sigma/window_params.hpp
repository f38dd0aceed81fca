// Sigma correlation windows: the event time and the parameters every window is built
// from (exact windows and the bounded ones of bounded_window.hpp share them), so both
// memory modes of issue 13 are made from one description.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>

#include <cstddef>
#include <cstdint>

FLUXCAP_BEGIN_NAMESPACE

namespace sigma {

/// Milliseconds since the Unix epoch (the profile's timestamp of an event).
using event_time = std::int64_t;

/// One correlation window: its span (the correlation's `timespan`), and the memory knobs
/// of the two modes. A window at time `now` covers the events in (now - span_ms, now].
struct window_params {
  event_time span_ms = 0;
  /// Bounded mode: time buckets in the ring (docs/memory.md, "Correlation windows").
  std::uint32_t buckets = 64;
  /// Exact mode: the cap on the events a window keeps.
  std::size_t max_events = 4096;
};

}  // namespace sigma

FLUXCAP_END_NAMESPACE
