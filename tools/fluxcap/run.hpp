// `fluxcap run`: the streaming loop.
#pragma once

#include "options.hpp"
#include "spec_file.hpp"

namespace fluxcap_cli {
struct sigma_rule_set;
struct sigma_correlation_set;
}  // namespace fluxcap_cli

namespace fluxcap_cli {

/// Runs `o` over `s`; returns the exit status. Throws usage_error for problems found
/// before anything is written, io_error for I/O failures.
[[nodiscard]] int run_command(const options& o, const loaded_spec& s);

/// Runs `o` over Sigma rules (`fluxcap run --rules`) and their correlation rules; the
/// same contract.
[[nodiscard]] int run_sigma_command(const options& o, const sigma_rule_set& rules,
                                    const sigma_correlation_set& correlations);

}  // namespace fluxcap_cli
