// Fuzz target: Sigma `re` values (fluxcap/sigma/pcre2.hpp and the required-literal
// extraction of fluxcap/sigma/detail/regex_literals.hpp) on arbitrary bytes.
//
// Input: byte 0 holds the flags (bit 0 `i`, bit 1 `m`, bit 2 `s`), byte 1 the pattern's
// length L, the next L bytes the pattern, the rest the subject.
//
// Invariants: nothing crashes or hangs (small match limits); the extracted literals are
// non-empty, distinct, at most max_required_literals, and the best one is among them; when
// PCRE2 compiles the pattern and finds a match in the subject, the subject contains every
// required literal (ASCII case-insensitively when so marked); and the JIT and the
// interpreter give the same answer whenever neither hit a limit.
#include <fluxcap/sigma/detail/regex_literals.hpp>
#include <fluxcap/sigma/pcre2.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <variant>

namespace {

namespace sigma = fluxcap::sigma;

char fold(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool contains(std::string_view subject, std::string_view literal, bool case_insensitive) {
  if (!case_insensitive) return subject.find(literal) != std::string_view::npos;
  for (std::size_t i = 0; i + literal.size() <= subject.size(); ++i) {
    std::size_t k = 0;
    while (k < literal.size() && fold(subject[i + k]) == literal[k]) ++k;
    if (k == literal.size()) return true;
  }
  return false;
}

void check(bool ok) {
  if (!ok) std::abort();
}

constexpr sigma::pcre2_limits jit_limits{
    .match_limit = 20'000, .depth_limit = 2'000, .heap_limit_kib = 4'096, .use_jit = true};
constexpr sigma::pcre2_limits interpreter_limits{
    .match_limit = 20'000, .depth_limit = 2'000, .heap_limit_kib = 4'096, .use_jit = false};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const sigma::regex_flags flags{.ignore_case = (data[0] & 1) != 0,
                                 .multiline = (data[0] & 2) != 0,
                                 .dot_all = (data[0] & 4) != 0};
  const std::string_view rest(reinterpret_cast<const char*>(data) + 2, size - 2);
  const std::size_t pattern_size = data[1] < rest.size() ? data[1] : rest.size();
  const std::string_view pattern = rest.substr(0, pattern_size);
  const std::string_view subject = rest.substr(pattern_size);

  const auto literals = sigma::detail::extract_required_literals(pattern, flags);
  check(literals.literals.size() <= sigma::detail::max_required_literals);
  for (std::size_t i = 0; i < literals.literals.size(); ++i) {
    check(!literals.literals[i].empty());
    for (std::size_t j = 0; j < i; ++j) check(literals.literals[i] != literals.literals[j]);
  }
  check(literals.literals.empty() == literals.best().empty());

  static const sigma::pcre2_engine jit(jit_limits);
  static const sigma::pcre2_engine interpreter(interpreter_limits);
  static auto jit_scratch = jit.make_scratch();
  static auto interpreter_scratch = interpreter.make_scratch();

  auto jit_code = jit.compile(pattern, flags);
  auto interpreter_code = interpreter.compile(pattern, flags);
  // Whether a pattern compiles does not depend on JIT.
  check(jit_code.index() == interpreter_code.index());
  if (!std::holds_alternative<sigma::pcre2_engine::compiled>(jit_code)) return 0;

  const auto jit_hits = jit_scratch.limit_hits();
  const auto interpreter_hits = interpreter_scratch.limit_hits();
  const bool jit_match =
      jit.search(std::get<sigma::pcre2_engine::compiled>(jit_code), subject, jit_scratch);
  const bool interpreter_match = interpreter.search(
      std::get<sigma::pcre2_engine::compiled>(interpreter_code), subject, interpreter_scratch);
  const bool limited =
      jit_scratch.limit_hits() != jit_hits || interpreter_scratch.limit_hits() != interpreter_hits;
  if (!limited) check(jit_match == interpreter_match);
  if (jit_match || interpreter_match) {
    for (const auto& l : literals.literals) check(contains(subject, l, literals.case_insensitive));
  }
  return 0;
}
