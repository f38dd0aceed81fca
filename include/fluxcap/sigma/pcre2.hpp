// The PCRE2 regex adapter (target fluxcap::sigma_pcre2, links libpcre2-8): the reference
// engine of the Sigma `re` modifier (design 4.4), a `regex_engine` (fluxcap/sigma/regex.hpp).
//
// Byte mode: no PCRE2_UTF, and PCRE2_NEVER_UTF/PCRE2_NEVER_UCP so that a pattern cannot
// switch it on with `(*UTF)`/`(*UCP)`: events may hold any bytes, and ASCII-only `\s`, `\w`
// and caseless matching agree with the literal folding of the rest of the engine. JIT when
// the library has it (and `pcre2_limits::use_jit`); the interpreter otherwise. The match,
// depth and heap limits and the JIT stack are bounded by `pcre2_limits`; a search that hits
// one is no match and is counted by its scratch.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>
#include <fluxcap/sigma/regex.hpp>

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <variant>

FLUXCAP_BEGIN_NAMESPACE

namespace sigma {

/// Resource bounds of one search and of compiling.
struct pcre2_limits {
  std::uint32_t match_limit = 1'000'000;  ///< backtracking steps (pcre2_set_match_limit)
  std::uint32_t depth_limit = 100'000;    ///< backtracking depth, interpreter only
  std::uint32_t heap_limit_kib = 65'536;  ///< interpreter backtracking memory, KiB
  std::size_t jit_stack_bytes = 1 << 20;  ///< the JIT's stack, per scratch
  std::size_t max_pattern_bytes = 65'536;
  bool use_jit = true;  ///< JIT-compile when the library supports it
};

namespace detail {

struct free_pcre2_code {
  void operator()(pcre2_code_8* p) const noexcept { pcre2_code_free_8(p); }
};
struct free_pcre2_compile_context {
  void operator()(pcre2_compile_context_8* p) const noexcept { pcre2_compile_context_free_8(p); }
};
struct free_pcre2_match_context {
  void operator()(pcre2_match_context_8* p) const noexcept { pcre2_match_context_free_8(p); }
};
struct free_pcre2_match_data {
  void operator()(pcre2_match_data_8* p) const noexcept { pcre2_match_data_free_8(p); }
};
struct free_pcre2_jit_stack {
  void operator()(pcre2_jit_stack_8* p) const noexcept { pcre2_jit_stack_free_8(p); }
};

inline std::string pcre2_message(int error_code) {
  PCRE2_UCHAR8 buffer[256];
  const int n = pcre2_get_error_message_8(error_code, buffer, sizeof buffer);
  if (n < 0) return "PCRE2 error " + std::to_string(error_code);
  return std::string(reinterpret_cast<const char*>(buffer), static_cast<std::size_t>(n));
}

}  // namespace detail

class pcre2_engine {
 public:
  class compiled {
   public:
    /// True when searches run JIT code.
    [[nodiscard]] bool jit() const noexcept { return jit_; }

   private:
    friend class pcre2_engine;
    compiled(pcre2_code_8* code, bool jit) noexcept : code_(code), jit_(jit) {}
    std::unique_ptr<pcre2_code_8, detail::free_pcre2_code> code_;
    bool jit_ = false;
  };

  class scratch {
   public:
    /// Empty: a holder to assign make_scratch()'s result to (search needs one of those).
    scratch() = default;
    [[nodiscard]] std::uint64_t limit_hits() const noexcept { return limit_hits_; }

   private:
    friend class pcre2_engine;
    std::unique_ptr<pcre2_match_data_8, detail::free_pcre2_match_data> match_data_;
    std::unique_ptr<pcre2_match_context_8, detail::free_pcre2_match_context> context_;
    std::unique_ptr<pcre2_jit_stack_8, detail::free_pcre2_jit_stack> jit_stack_;
    std::uint64_t limit_hits_ = 0;
  };

  explicit pcre2_engine(pcre2_limits limits = {}) : limits_(limits) {
    std::uint32_t jit = 0;
    jit_available_ = pcre2_config_8(PCRE2_CONFIG_JIT, &jit) >= 0 && jit == 1;
  }

  /// True when the library was built with JIT support (whether or not it is used).
  [[nodiscard]] bool jit_available() const noexcept { return jit_available_; }
  [[nodiscard]] const pcre2_limits& limits() const noexcept { return limits_; }

  /// Compiles `pattern`; on failure, PCRE2's message and the offset in the pattern.
  [[nodiscard]] std::variant<compiled, std::string> compile(std::string_view pattern,
                                                            regex_flags flags) const {
    std::unique_ptr<pcre2_compile_context_8, detail::free_pcre2_compile_context> context(
        pcre2_compile_context_create_8(nullptr));
    if (!context) throw std::bad_alloc();
    pcre2_set_max_pattern_length_8(context.get(), limits_.max_pattern_bytes);
    std::uint32_t options = PCRE2_NEVER_UTF | PCRE2_NEVER_UCP;
    if (flags.ignore_case) options |= PCRE2_CASELESS;
    if (flags.multiline) options |= PCRE2_MULTILINE;
    if (flags.dot_all) options |= PCRE2_DOTALL;
    int error_code = 0;
    PCRE2_SIZE error_offset = 0;
    // A non-null pointer even for an empty view: PCRE2 10.42 rejects a null pattern.
    const auto* text = reinterpret_cast<PCRE2_SPTR8>(pattern.data() ? pattern.data() : "");
    pcre2_code_8* code =
        pcre2_compile_8(text, pattern.size(), options, &error_code, &error_offset, context.get());
    if (code == nullptr) {
      return detail::pcre2_message(error_code) + " at offset " + std::to_string(error_offset);
    }
    compiled result(code, false);
    // JIT failure (e.g. no executable memory) leaves the interpreter: same answers.
    if (jit_available_ && limits_.use_jit) {
      result.jit_ = pcre2_jit_compile_8(code, PCRE2_JIT_COMPLETE) == 0;
    }
    return result;
  }

  [[nodiscard]] scratch make_scratch() const {
    scratch s;
    // One ovector pair is enough: only whether there is a match is asked.
    s.match_data_.reset(pcre2_match_data_create_8(1, nullptr));
    s.context_.reset(pcre2_match_context_create_8(nullptr));
    if (!s.match_data_ || !s.context_) throw std::bad_alloc();
    pcre2_set_match_limit_8(s.context_.get(), limits_.match_limit);
    pcre2_set_depth_limit_8(s.context_.get(), limits_.depth_limit);
    pcre2_set_heap_limit_8(s.context_.get(), limits_.heap_limit_kib);
    if (jit_available_ && limits_.use_jit) {
      const std::size_t start = limits_.jit_stack_bytes < 32'768 ? limits_.jit_stack_bytes : 32'768;
      s.jit_stack_.reset(pcre2_jit_stack_create_8(start, limits_.jit_stack_bytes, nullptr));
      if (!s.jit_stack_) throw std::bad_alloc();
      pcre2_jit_stack_assign_8(s.context_.get(), nullptr, s.jit_stack_.get());
    }
    return s;
  }

  /// Unanchored search of `subject` (any bytes). A resource limit hit is no match and
  /// increments `s.limit_hits()`.
  [[nodiscard]] bool search(const compiled& pattern, std::string_view subject,
                            scratch& s) const noexcept {
    const auto* text = reinterpret_cast<PCRE2_SPTR8>(subject.data() ? subject.data() : "");
    const int rc = pcre2_match_8(pattern.code_.get(), text, subject.size(), 0, 0,
                                 s.match_data_.get(), s.context_.get());
    if (rc >= 0) return true;
    if (rc != PCRE2_ERROR_NOMATCH && rc != PCRE2_ERROR_PARTIAL) ++s.limit_hits_;
    return false;
  }

 private:
  pcre2_limits limits_;
  bool jit_available_ = false;
};

static_assert(regex_engine<pcre2_engine>);

}  // namespace sigma

FLUXCAP_END_NAMESPACE
