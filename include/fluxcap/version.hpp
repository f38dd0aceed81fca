// Library version.
#pragma once

#define FLUXCAP_VERSION_MAJOR 0
#define FLUXCAP_VERSION_MINOR 1
#define FLUXCAP_VERSION_PATCH 0

namespace fluxcap {
inline constexpr const char* version_string = "0.1.0";
}  // namespace fluxcap
