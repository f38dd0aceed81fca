// Sigma correlation rules in `fluxcap run --rules`, `check` and `graph` (docs/cli.md,
// "Sigma correlation rules"; docs/sigma.md). The correlation stage runs on the output of
// the Sigma engine, line by line, in input order, on one correlation engine: group-by
// fields (a user) cross the tool's per-host shards, so the stage sits after
// parallel_lines has put the lines back in order, and --threads N gives the output of
// --threads 1. For each line with detections it reads the detections array the Sigma
// stage wrote, runs fluxcap::sigma::correlation_engine over the event, adds the
// correlations that fire and leaves out the base rules that are not reported on their
// own (`generate`).
#pragma once

#include "options.hpp"
#include "sigma_process.hpp"

#include <fluxcap/sigma/correlation.hpp>
#include <fluxcap/sigma/correlation_engine.hpp>
#include <fluxcap/sigma/profile.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace fluxcap_cli {

/// The correlation rules of a --rules run and what the stage needs beside the compiled
/// detection rules: the profile (field names -> paths) and the options.
struct sigma_correlation_set {
  std::vector<fluxcap::sigma::correlation_rule> rules;  ///< linked, in load order
  fluxcap::sigma::profile profile;
};

/// The engine's options from --correlation-memory, --max-window-events,
/// --max-correlation-groups and --window-buckets.
[[nodiscard]] fluxcap::sigma::correlation_options correlation_options_of(const options& o);

/// Why correlation `c` cannot run (empty: it runs), from an engine built over `rules`.
[[nodiscard]] std::vector<std::string> unsupported_correlations(
    const sigma_rule_set& rules, const sigma_correlation_set& correlations);

/// The rules and correlations that cannot run: how many, and one line each (for stderr).
struct unsupported_report {
  std::size_t rules = 0;         ///< detection rules
  std::size_t correlations = 0;  ///< correlation rules
  std::string text;
  [[nodiscard]] std::size_t total() const noexcept { return rules + correlations; }
};
[[nodiscard]] unsupported_report report_unsupported(const sigma_rule_set& rules,
                                                    const sigma_correlation_set& correlations);

/// Refuses a --strict run with unsupported rules or correlations (a usage_error, after
/// writing their list to stderr).
void refuse_unsupported_if_strict(const options& o, const unsupported_report& report);

/// `check --rules`: one block a correlation (identity, place, status, type, base rules
/// resolved, group-by, timespan, condition, generate, memory per group in both modes).
[[nodiscard]] std::string describe_correlations(const sigma_rule_set& rules,
                                                const sigma_correlation_set& correlations,
                                                const options& o);

/// `graph --rules`: `graph` (rules_graph's DOT) with a node a correlation and an edge
/// from it to each rule or correlation it references.
[[nodiscard]] std::string add_correlation_edges(std::string graph, const sigma_rule_set& rules,
                                                const sigma_correlation_set& correlations);

/// The stage of a run (one for the whole run, whatever --threads is).
class correlation_stage {
 public:
  /// The name of the correlation engine's state in a state file (a store attachment).
  static constexpr const char* state_attachment = "sigma.correlations";

  virtual ~correlation_stage() = default;
  /// Rebuilds the engine keyed with the run's hash key (the state file's, so that a
  /// resumed run hashes group keys and values, and fills its distinct-count sketches, as
  /// the run that saved it). Call before process() and load_state().
  virtual void set_hash_key(const fluxcap::hash_key& key) = 0;
  /// One output line of the Sigma stage, with or without its '\n' (kept): appends it to
  /// `out`, rewritten when it holds detections. Allocates only while buffers grow.
  virtual void process(std::string_view line, std::string& out) = 0;
  /// The engine's whole state (fluxcap/sigma/correlation_state.hpp's format).
  [[nodiscard]] virtual std::vector<std::uint8_t> save_state() const = 0;
  /// Restores what save_state wrote, for the same correlation rules, options and hash
  /// key. Throws fluxcap::decode_error (the engine unchanged) otherwise.
  virtual void load_state(std::span<const std::uint8_t> bytes) = 0;
  /// For --stats: `, correlations: F fired, G groups, ... ` (starts with ", ").
  [[nodiscard]] virtual std::string stats_text() const = 0;
};

/// The stage for `rules` and `correlations` (nullptr when there are no correlation
/// rules: nothing to do). `rules` and `correlations` must outlive it. `field_limits`
/// as the Sigma stage's.
[[nodiscard]] std::unique_ptr<correlation_stage> make_correlation_stage(
    const sigma_rule_set& rules, const sigma_correlation_set& correlations, const options& o,
    const json_fields_limits& field_limits);

/// Refuses what correlation rules cannot run with (a usage_error): --state-db (the
/// correlation engine's state is saved with --state only). No correlations: nothing.
void prepare_correlation_state(const options& o, const sigma_correlation_set& correlations);

}  // namespace fluxcap_cli
