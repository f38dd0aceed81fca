// Saving and restoring a correlation engine's state (issue 13: `--state`, `--incremental`):
// every live group (its group-by values, latest time, whether its condition held, its
// window or temporal marks), the sweep schedule and the counters, in both memory modes.
//
//   std::vector<std::uint8_t> blob = fluxcap::sigma::save_correlation_state(corr);
//   ...
//   fluxcap::sigma::correlation_engine<my_fields> fresh(set.correlations, compiled, profile);
//   fluxcap::sigma::load_correlation_state(fresh, blob);  // continues where corr stopped
//
// Format version 3 of the frozen state format (group states are versions 1 and 2,
// fluxcap/serialize.hpp); all integers little-endian:
//
//   offset size  field
//   0      8     magic "FLXCCORR"
//   8      2     format version (3)
//   10     1     window policy (0 exact_windows, 1 bounded_windows)
//   11     1     flags (0)
//   12     8     max_groups         (correlation_options: each must equal the engine's)
//   20     8     max_window_events
//   28     4     buckets
//   32     8     rule set fingerprint (correlation_state_rule_set_fingerprint)
//   40     8     hash fingerprint (which hash function made the distinct windows' hashes)
//   48     4     correlations in the rule set
//   52     8     next sweep (event time, ms: when a full engine next looks for idle groups)
//   60     56    counters: without_time, without_group, without_value, late,
//                groups_refused, groups_expired, window_dropped (u64 each)
//   116    8     group count G (<= max_groups)
//   124    ...   G groups, in the engine's slot order:
//                  correlation u32, flags u8 (1: the condition held at the last event,
//                  2: the group has a time; a group without one is new: nothing more
//                  but its key), then one value a group-by field (length u32, bytes);
//                  with a time: latest i64; temporal and temporal_ordered: one time a
//                  referenced rule (i64; -2^62: none); other types: the window blob's
//                  length u64 and the window's own save() (correlation_window.hpp for
//                  exact windows, bounded_window.hpp for bounded ones)
//   end-8  8     checksum: fluxcap's hash of every byte before it
//
// Loading checks everything and throws decode_error (fluxcap/error.hpp) on any
// inconsistency, leaving the engine as it was: the checksum; the parameters (window
// policy, options, rule set, hash) equal to the engine's; counts bounded by max_groups
// and by the bytes left; groups of known, supported correlations, each key once; times
// within +-2^61 ms and no rule time after its group's; each window loads, consumes its
// bytes exactly, saves back to the same bytes and holds its newest event at its group's
// latest time (what the engine's updates leave). A restored engine then behaves exactly
// as the saved one: the same detections and counters on the same events.
//
// The rule set fingerprint covers what gives a state its meaning: the correlations in
// order (identity, type, referenced rules as written and as linked, group-by, aliases,
// timespan, condition bounds, fields and percentile, generate) and which are supported.
// The profile (the event paths of the fields) is not in it: keep it with the state.
//
// Incremental checkpoints: the correlation state is always written whole (there is no
// delta format). Its size is that of the live groups, which expire after one timespan
// idle: bounded windows are a fixed size a group (docs/memory.md), exact windows 16 bytes
// an event held; docs/memory.md "Correlation state" has the measured sizes.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>
#include <fluxcap/error.hpp>
#include <fluxcap/sigma/correlation_engine.hpp>
#include <fluxcap/sigma/detail/correlation_state_codec.hpp>

#include <cstdint>
#include <span>
#include <vector>

FLUXCAP_BEGIN_NAMESPACE

namespace sigma {

/// The format version of correlation states (3; group states are 1 and 2).
using detail::correlation_state_format_version;

/// Appends `engine`'s whole state to `out`.
template <field_accessor Fields, class Windows, hash_policy Hash>
void encode_correlation_state(const correlation_engine<Fields, Windows, Hash>& engine,
                              std::vector<std::uint8_t>& out) {
  detail::correlation_state_codec::encode(engine, out);
}

/// `engine`'s whole state, for load_correlation_state.
template <field_accessor Fields, class Windows, hash_policy Hash>
[[nodiscard]] std::vector<std::uint8_t> save_correlation_state(
    const correlation_engine<Fields, Windows, Hash>& engine) {
  std::vector<std::uint8_t> out;
  encode_correlation_state(engine, out);
  return out;
}

/// Replaces `engine`'s state (groups, sweep schedule, counters) with the one saved in
/// `bytes` by an engine of the same rule set, options, window policy and hash. Throws
/// decode_error otherwise, or when the bytes are corrupt; `engine` is then unchanged.
template <field_accessor Fields, class Windows, hash_policy Hash>
void load_correlation_state(correlation_engine<Fields, Windows, Hash>& engine,
                            std::span<const std::uint8_t> bytes) {
  detail::correlation_state_codec::decode(engine, bytes);
}

/// The fingerprint of `engine`'s correlation rule set that its states carry.
template <field_accessor Fields, class Windows, hash_policy Hash>
[[nodiscard]] std::uint64_t correlation_state_rule_set_fingerprint(
    const correlation_engine<Fields, Windows, Hash>& engine) {
  return detail::correlation_state_codec::rule_set_fingerprint(engine);
}

}  // namespace sigma

FLUXCAP_END_NAMESPACE
