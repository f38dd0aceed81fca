// Helpers shared by the Sigma tests.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace sigma_test {

/// The realdata directory (../shared/realdata, or $FLUXCAP_REALDATA), or "" when absent:
/// tests that need it print a message and skip.
inline std::filesystem::path realdata() {
  std::filesystem::path p = FLUXCAP_DEFAULT_REALDATA;
  if (const char* env = std::getenv("FLUXCAP_REALDATA")) p = env;
  std::error_code ec;
  return std::filesystem::is_directory(p, ec) ? p : std::filesystem::path{};
}

}  // namespace sigma_test
