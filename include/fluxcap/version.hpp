// Library version: the one source. CMakeLists.txt reads these three macros (the CMake
// project version, the package version file, the pkg-config file and the packages
// follow), and detail/abi_macros.hpp names the inline namespace after them.
#pragma once

#define FLUXCAP_VERSION_MAJOR 0
#define FLUXCAP_VERSION_MINOR 2
#define FLUXCAP_VERSION_PATCH 0

#include <fluxcap/detail/abi_macros.hpp>

#define FLUXCAP_STRINGIFY_EX(x) #x
#define FLUXCAP_STRINGIFY(x) FLUXCAP_STRINGIFY_EX(x)
/// "0.2.0"
#define FLUXCAP_VERSION_STRING             \
  FLUXCAP_STRINGIFY(FLUXCAP_VERSION_MAJOR) \
  "." FLUXCAP_STRINGIFY(FLUXCAP_VERSION_MINOR) "." FLUXCAP_STRINGIFY(FLUXCAP_VERSION_PATCH)
/// FLUXCAP_VERSION_MAJOR * 10000 + MINOR * 100 + PATCH, for #if.
#define FLUXCAP_VERSION \
  (FLUXCAP_VERSION_MAJOR * 10000 + FLUXCAP_VERSION_MINOR * 100 + FLUXCAP_VERSION_PATCH)

FLUXCAP_BEGIN_NAMESPACE
inline constexpr const char* version_string = FLUXCAP_VERSION_STRING;
inline constexpr int version_major = FLUXCAP_VERSION_MAJOR;
inline constexpr int version_minor = FLUXCAP_VERSION_MINOR;
inline constexpr int version_patch = FLUXCAP_VERSION_PATCH;
FLUXCAP_END_NAMESPACE
