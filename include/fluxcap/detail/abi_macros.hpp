// Included first by every fluxcap header: the C++20 check and the versioned inline
// namespace (as nlohmann/json's detail/abi_macros.hpp). Every declaration lives in
// fluxcap::v<major>_<minor>, so two fluxcap versions in one binary do not silently
// share (and break) each other's inline functions and types: their symbols differ.
// While the major version is 0 a minor version is a breaking change, hence both parts.
#pragma once

#if defined(_MSVC_LANG) && _MSVC_LANG > __cplusplus
#define FLUXCAP_CPLUSPLUS _MSVC_LANG
#else
#define FLUXCAP_CPLUSPLUS __cplusplus
#endif
#if FLUXCAP_CPLUSPLUS < 202002L
#error "fluxcap needs C++20 (-std=c++20, or link the CMake target fluxcap::fluxcap)"
// #error does not stop GCC or clang; a missing include does, before a flood of errors.
#if defined(__GNUC__) || defined(__clang__)
#include <fluxcap_needs_cpp20>
#endif
#endif

// Expanded when used, so the version macros may be defined after these (version.hpp
// includes this file and this file includes version.hpp: either may come first).
#define FLUXCAP_ABI_CONCAT_EX(a, b, c, d) a##b##c##d
#define FLUXCAP_ABI_CONCAT(a, b, c, d) FLUXCAP_ABI_CONCAT_EX(a, b, c, d)
/// The inline namespace of this version: v0_2 for 0.2.x.
#define FLUXCAP_ABI_NAMESPACE FLUXCAP_ABI_CONCAT(v, FLUXCAP_VERSION_MAJOR, _, FLUXCAP_VERSION_MINOR)
#define FLUXCAP_BEGIN_NAMESPACE \
  namespace fluxcap {           \
  inline namespace FLUXCAP_ABI_NAMESPACE {
#define FLUXCAP_END_NAMESPACE \
  }                           \
  }

#include <fluxcap/version.hpp>
