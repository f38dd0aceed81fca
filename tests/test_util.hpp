// Helpers several test files share: well-mixed stored and never-stored keys, numbered
// names, a user hash policy, and the list of memory policies typed tests run over.
#pragma once

#include <fluxcap/fluxcap.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace fluxcap_test {

/// Stored keys are mix64 of even numbers, never-stored keys mix64 of odd ones: mix64 is a
/// bijection, so the two sets are disjoint and every key is well mixed (as real keys are).
/// (mix64(0) == 0: key 0 has its own tests.)
constexpr std::uint64_t stored_key(std::uint64_t i) noexcept {
  return fluxcap::detail::mix64(2 * i + 2);
}
constexpr std::uint64_t absent_key(std::uint64_t i) noexcept {
  return fluxcap::detail::mix64(2 * i + 1);
}

/// prefix + decimal number + suffix (operator+ on a literal trips a GCC 12 -Wrestrict
/// false positive).
inline std::string numbered(const char* prefix, std::uint64_t n, const char* suffix = "") {
  std::string s(prefix);
  s += std::to_string(n);
  s += suffix;
  return s;
}

/// A user hash policy (FNV-1a): a hash_policy that is neither keyed nor avalanching.
struct user_hash {
  [[nodiscard]] std::uint64_t operator()(std::string_view s) const noexcept {
    std::uint64_t x = 0xcbf29ce484222325ULL;
    for (const char c : s) x = (x ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
    return x;
  }
};

/// The memory policies every semantic test runs over.
#define FLUXCAP_MEMORY_POLICIES fluxcap::exact_memory, fluxcap::bloom_memory, fluxcap::cuckoo_memory

}  // namespace fluxcap_test
