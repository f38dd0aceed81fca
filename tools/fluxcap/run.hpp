// `fluxcap run`: the streaming loop.
#pragma once

#include "options.hpp"
#include "spec_file.hpp"

namespace fluxcap_cli {

/// Runs `o` over `s`; returns the exit status. Throws usage_error for problems found
/// before anything is written, io_error for I/O failures.
[[nodiscard]] int run_command(const options& o, const loaded_spec& s);

}  // namespace fluxcap_cli
