// `--rules PATH... --profile NAME|FILE`: reads and compiles the Sigma rules of a run,
// `check` or `graph` (docs/cli.md, "Sigma rules").
#pragma once

#include "options.hpp"
#include "sigma_process.hpp"

#include <string>

namespace fluxcap_cli {

struct sigma_correlation_set;

/// Reads the rules and the profile `o` names and compiles them (PCRE2 regexes when the
/// build has them). `--group-key`, when given, replaces the profile's group path.
/// Correlation rules go to `correlations` (linked, with the profile).
/// Throws fluxcap::sigma::sigma_error for a malformed rule, correlation or profile,
/// usage_error for an unknown profile name.
[[nodiscard]] sigma_rule_set load_sigma_rules(const options& o,
                                              sigma_correlation_set& correlations);

/// `fluxcap: N rules compiled, M skipped (logsource), K unsupported (see fluxcap check
/// --rules)`, without the newline.
[[nodiscard]] std::string sigma_summary(const sigma_rule_set& rules);

/// One line a rule that is unsupported: `unsupported rule 'id' (file:line:col): reason`.
[[nodiscard]] std::string unsupported_rules_text(const sigma_rule_set& rules);

}  // namespace fluxcap_cli
