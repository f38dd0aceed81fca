// The regex engine concept: how the Sigma engine runs the values of `re` items.
//
// The core has no regex engine of its own and no dependency: an adapter brings one
// (fluxcap/sigma/pcre2.hpp, target fluxcap::sigma_pcre2). Patterns are compiled once,
// when rules are compiled; each thread searches with its own scratch, so the per-value
// path allocates nothing and shares nothing mutable.
//
// clang-format off
// | expression                   | result                                       | when / meaning |
// |------------------------------|----------------------------------------------|----------------|
// | `R::compiled`                | movable                                      | one compiled pattern; shared read-only by every thread |
// | `R::scratch`                 | movable                                      | per-thread match state |
// | `r.compile(p, f)`            | `std::variant<R::compiled, std::string>`     | compile time; `p` a `std::string_view`, `f` a `regex_flags`; the string is the error ("... at offset N") |
// | `cr.make_scratch()`          | `R::scratch`                                 | once per thread |
// | `cr.search(c, s, scratch)`   | `bool`                                       | unanchored search of `s` (a `std::string_view`, any bytes); a limit hit is false |
// | `scratch.limit_hits()`       | `std::uint64_t`                              | searches of this scratch stopped by a resource limit |
// clang-format on
//
// Semantics are PCRE's (the Sigma spec names PCRE as the flavor): `$` also matches before
// a final newline, `\s`, `\w` and caseless matching are ASCII-only, subjects are bytes.
// A search that hits a match/depth/heap limit counts as no match: hostile input cannot
// hang the caller, and the count makes it visible.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

FLUXCAP_BEGIN_NAMESPACE

namespace sigma {

/// The flags of the `re` modifier: `i`, `m`, `s` (also spelled `ignorecase`, `multiline`,
/// `dotall`).
struct regex_flags {
  bool ignore_case = false;  ///< `i`: ASCII case-insensitive
  bool multiline = false;    ///< `m`: `^`/`$` also at line starts/ends
  bool dot_all = false;      ///< `s`: `.` also matches `\n`
};

template <class R>
concept regex_engine = std::movable<typename R::compiled> && std::movable<typename R::scratch> &&
    requires(R& r, const R& cr, std::string_view text, regex_flags flags,
             const typename R::compiled& c, typename R::scratch& s, const typename R::scratch& cs) {
  { r.compile(text, flags) } -> std::same_as<std::variant<typename R::compiled, std::string>>;
  { cr.make_scratch() } -> std::same_as<typename R::scratch>;
  { cr.search(c, text, s) } -> std::same_as<bool>;
  { cs.limit_hits() } -> std::same_as<std::uint64_t>;
};

/// The engine of a build without any regex adapter: every compile fails, so rules that use
/// `re` are unsupported with that reason (design 4.4).
struct no_regex {
  struct compiled {};
  struct scratch {
    [[nodiscard]] std::uint64_t limit_hits() const noexcept { return 0; }
  };

  static constexpr std::string_view no_engine_message = "no regex engine in this build";

  [[nodiscard]] std::variant<compiled, std::string> compile(std::string_view /*pattern*/,
                                                            regex_flags /*flags*/) const {
    return std::string(no_engine_message);
  }
  [[nodiscard]] scratch make_scratch() const noexcept { return {}; }
  [[nodiscard]] bool search(const compiled& /*pattern*/, std::string_view /*subject*/,
                            scratch& /*s*/) const noexcept {
    return false;
  }
};

static_assert(regex_engine<no_regex>);

}  // namespace sigma

FLUXCAP_END_NAMESPACE
