// The PCRE2 adapter (fluxcap/sigma/pcre2.hpp): flags, PCRE's `$`, byte mode, limits,
// compile errors; and the required-literal extraction checked against PCRE2 (random
// patterns from a small grammar with subjects sampled from them, and the realdata regexes
// on the realdata command lines).
#include <fluxcap/sigma/detail/regex_literals.hpp>
#include <fluxcap/sigma/pcre2.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <variant>

#include "../realdata_regexes.hpp"
#include "../sigma_test_util.hpp"

namespace {

using fluxcap::sigma::pcre2_engine;
using fluxcap::sigma::pcre2_limits;
using fluxcap::sigma::regex_flags;
using fluxcap::sigma::detail::extract_required_literals;
using fluxcap::sigma::detail::required_literals;

static_assert(fluxcap::sigma::regex_engine<pcre2_engine>);

pcre2_engine::compiled compile_ok(const pcre2_engine& engine, std::string_view pattern,
                                  regex_flags flags = {}) {
  auto r = engine.compile(pattern, flags);
  if (auto* error = std::get_if<std::string>(&r)) FAIL("compile failed: " << *error);
  return std::move(std::get<pcre2_engine::compiled>(r));
}

bool matches(std::string_view pattern, std::string_view subject, regex_flags flags = {}) {
  const pcre2_engine engine;
  const auto code = compile_ok(engine, pattern, flags);
  auto scratch = engine.make_scratch();
  return engine.search(code, subject, scratch);
}

char fold(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool contains(std::string_view subject, std::string_view literal, bool case_insensitive) {
  if (!case_insensitive) return subject.find(literal) != std::string_view::npos;
  if (literal.size() > subject.size()) return false;
  for (std::size_t i = 0; i + literal.size() <= subject.size(); ++i) {
    std::size_t k = 0;
    while (k < literal.size() && fold(subject[i + k]) == literal[k]) ++k;
    if (k == literal.size()) return true;
  }
  return false;
}

/// Every required literal is in the subject (folded as the extraction says).
bool literals_present(const required_literals& r, std::string_view subject) {
  for (const auto& l : r.literals) {
    if (!contains(subject, l, r.case_insensitive)) return false;
  }
  return true;
}

// A small regex grammar that renders a pattern and samples strings from it, so that
// matches are frequent (random subjects alone would rarely match).
class pattern_generator {
 public:
  explicit pattern_generator(std::uint64_t seed) : rng_(seed) {}

  struct result {
    std::string pattern;
    std::vector<std::string> samples;  // strings the pattern should match (not guaranteed)
    regex_flags flags;
  };

  result next() {
    result r;
    r.flags.ignore_case = pick(6) == 0;
    r.flags.multiline = pick(8) == 0;
    r.flags.dot_all = pick(8) == 0;
    const bool inline_i = pick(8) == 0;
    fold_samples_ = r.flags.ignore_case || inline_i;
    const int alternatives = pick(8) == 0 ? 2 : 1;
    std::vector<std::vector<std::string>> branch_samples;
    for (int a = 0; a < alternatives; ++a) {
      if (a > 0) r.pattern += '|';
      if (inline_i && a == 0 && pick(2) == 0) r.pattern += "(?i)";
      std::vector<std::string> samples(3);
      if (pick(6) == 0) r.pattern += '^';
      sequence(r.pattern, samples, 0, 1 + pick(6));
      if (inline_i && pick(3) == 0) {
        r.pattern += "(?i)";
        sequence(r.pattern, samples, 0, 1 + pick(3));
      }
      if (pick(6) == 0) {
        r.pattern += '$';
        if (pick(3) == 0) samples[0] += '\n';
      }
      branch_samples.push_back(samples);
    }
    for (const auto& b : branch_samples) {
      for (const auto& s : b) r.samples.push_back(noise() + s + (pick(2) == 0 ? noise() : ""));
    }
    r.samples.push_back(noise() + noise());
    return r;
  }

 private:
  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

  char alphabet_char() {
    static constexpr std::string_view alphabet = "abAB -.\n\\";
    return alphabet[static_cast<std::size_t>(pick(static_cast<int>(alphabet.size())))];
  }
  std::string noise() {
    std::string s;
    const int n = pick(5);
    for (int i = 0; i < n; ++i) s += alphabet_char();
    return s;
  }
  char maybe_flip(char c) {
    if (!fold_samples_ || pick(2) == 0) return c;
    if (c >= 'a' && c <= 'z') return static_cast<char>(c - 'a' + 'A');
    if (c >= 'A' && c <= 'Z') return static_cast<char>(c - 'A' + 'a');
    return c;
  }

  // One atom: its text, and one sampled string per sample slot.
  void atom(std::string& pattern, std::vector<std::string>& one, int depth) {
    const int kind = pick(depth < 2 ? 12 : 10);
    switch (kind) {
      case 0:
      case 1:
      case 2:
      case 3: {  // a plain literal
        static constexpr std::string_view plain = "abAB -";
        const char c = plain[static_cast<std::size_t>(pick(6))];
        pattern += c;
        for (auto& s : one) s = std::string(1, maybe_flip(c));
        return;
      }
      case 4: {  // an escaped literal
        static constexpr std::string_view escaped[] = {"\\.", "\\\\", "\\n", "\\-", "\\ "};
        static constexpr std::string_view meaning[] = {".", "\\", "\n", "-", " "};
        const auto k = static_cast<std::size_t>(pick(5));
        pattern += escaped[k];
        for (auto& s : one) s = std::string(meaning[k]);
        return;
      }
      case 5:
        pattern += '.';
        for (auto& s : one) {
          char c = alphabet_char();
          if (c == '\n') c = 'x';
          s = std::string(1, c);
        }
        return;
      case 6: {
        const bool bracket = pick(2) == 0;  // `]` first in a class is a member
        pattern += bracket ? "[]a]" : "[ab]";
        for (auto& s : one)
          s = std::string(1, maybe_flip(pick(2) == 0 ? 'a' : bracket ? ']' : 'b'));
        return;
      }
      case 7:
        pattern += "\\s";
        for (auto& s : one) s = pick(2) == 0 ? " " : "\n";
        return;
      case 8:
        pattern += "[^a]";
        for (auto& s : one) s = pick(2) == 0 ? "b" : "-";
        return;
      case 9:
        pattern += "\\b";
        for (auto& s : one) s.clear();
        return;
      default: {  // a group with one or two alternatives
        static constexpr std::string_view openers[] = {"(", "(?:", "(?=", "(?i:"};
        const auto opener = static_cast<std::size_t>(pick(4));
        pattern += openers[opener];
        const bool saved = fold_samples_;
        if (opener == 3) fold_samples_ = true;
        std::vector<std::string> first(one.size()), second(one.size());
        sequence(pattern, first, depth + 1, 1 + pick(3));
        const bool alternated = opener != 2 && pick(2) == 0;
        if (alternated) {
          pattern += '|';
          sequence(pattern, second, depth + 1, 1 + pick(3));
        }
        pattern += ')';
        fold_samples_ = saved;
        for (std::size_t i = 0; i < one.size(); ++i) {
          // A lookahead consumes nothing: its sample is not emitted (it may then fail).
          one[i] =
              opener == 2 ? std::string() : (alternated && pick(2) == 0 ? second[i] : first[i]);
        }
        return;
      }
    }
  }

  void sequence(std::string& pattern, std::vector<std::string>& samples, int depth, int items) {
    for (int item = 0; item < items; ++item) {
      std::vector<std::string> one(samples.size());
      std::string atom_text;
      atom(atom_text, one, depth);
      pattern += atom_text;
      int min = 1, max = 1;
      const bool quantifiable = atom_text != "\\b";
      switch (quantifiable ? pick(10) : 9) {
        case 0:
          pattern += '?', min = 0, max = 1;
          break;
        case 1:
          pattern += '*', min = 0, max = 3;
          break;
        case 2:
          pattern += '+', min = 1, max = 3;
          break;
        case 3: {
          min = pick(3);
          max = min + pick(3);
          pattern += '{' + std::to_string(min) + ',' + std::to_string(max) + '}';
          break;
        }
        case 4:
          min = max = pick(3);
          pattern += '{' + std::to_string(min) + '}';
          break;
        default:
          break;
      }
      if (min != 1 || max != 1) {
        if (pick(4) == 0) pattern += pick(2) == 0 ? '?' : '+';  // lazy or possessive
      }
      for (std::size_t i = 0; i < samples.size(); ++i) {
        const int copies = min + pick(max - min + 1);
        for (int c = 0; c < copies; ++c) samples[i] += one[i];
      }
    }
  }

  std::mt19937_64 rng_;
  bool fold_samples_ = false;
};

}  // namespace

TEST_CASE("pcre2: flags i, m, s") {
  CHECK_FALSE(matches("abc", "xABCx"));
  CHECK(matches("abc", "xABCx", {.ignore_case = true}));
  CHECK_FALSE(matches("^b", "a\nb"));
  CHECK(matches("^b", "a\nb", {.multiline = true}));
  CHECK_FALSE(matches("a$", "a\nb"));
  CHECK(matches("a$", "a\nb", {.multiline = true}));
  CHECK_FALSE(matches("a.b", "a\nb"));
  CHECK(matches("a.b", "a\nb", {.dot_all = true}));
  CHECK(matches("(?i)abc", "ABC"));  // inline flags work
  CHECK(matches("a(?s).b", "a\nb"));
  // Unanchored search.
  CHECK(matches("b", "abc"));
  CHECK(matches("", ""));
  CHECK(matches("^$", ""));
}

TEST_CASE("pcre2: `$` also matches before a final newline (PCRE, unlike RE2)") {
  CHECK(matches("abc$", "abc\n"));
  CHECK(matches("abc$", "abc"));
  CHECK_FALSE(matches("abc$", "abc\n\n"));
  CHECK_FALSE(matches("abc\\z", "abc\n"));
  CHECK(matches("abc\\Z", "abc\n"));
  CHECK(matches(R"(\\[^\\]{1,256}$)", "C:\\ProgramData\\x.exe\n"));
}

TEST_CASE("pcre2: byte mode on invalid UTF-8") {
  const std::string subject =
      "\xff\xfe"
      "abc\x80\xc3";
  CHECK(matches("abc", subject));
  CHECK(matches("^..abc", subject));  // each byte is one character
  CHECK(matches("\\x80\\xc3$", subject));
  CHECK(matches("^\\xff", subject));
  CHECK(matches("c.", subject));
  CHECK(matches("^.$", "\xc3"));       // half of a UTF-8 sequence is one character
  CHECK(matches("^..$", "\xc3\xa9"));  // ... and é is two
  CHECK_FALSE(matches("^.$", "\xc3\xa9"));
  // Caseless and \s, \w are ASCII only.
  CHECK_FALSE(matches("\\w", "\xc3\xa9"));
  CHECK_FALSE(matches("\xc3\xa9", "\xc3\x89", {.ignore_case = true}));
  // NUL bytes in subjects and patterns.
  CHECK(matches(std::string_view("a\0b", 3), std::string_view("xa\0b", 4)));
  // A pattern cannot switch UTF or UCP on.
  const pcre2_engine engine;
  CHECK(std::holds_alternative<std::string>(engine.compile("(*UTF)abc", {})));
  CHECK(std::holds_alternative<std::string>(engine.compile("(*UCP)abc", {})));
}

TEST_CASE("pcre2: compile errors give PCRE2's message and the offset") {
  const pcre2_engine engine;
  const auto missing = engine.compile("a(b", {});
  REQUIRE(std::holds_alternative<std::string>(missing));
  CHECK(std::get<std::string>(missing) == "missing closing parenthesis at offset 3");
  const auto nothing = engine.compile("*a", {});
  REQUIRE(std::holds_alternative<std::string>(nothing));
  CHECK(std::get<std::string>(nothing) ==
        "quantifier does not follow a repeatable item at offset 0");
  const auto escape = engine.compile("ab\\", {});
  REQUIRE(std::holds_alternative<std::string>(escape));
  CHECK(std::get<std::string>(escape).find("\\ at end of pattern") != std::string::npos);
  const pcre2_engine small(pcre2_limits{.max_pattern_bytes = 8});
  const auto long_pattern = small.compile("abcdefghij", {});
  REQUIRE(std::holds_alternative<std::string>(long_pattern));
  CHECK(std::get<std::string>(long_pattern).find("pattern string is longer than the limit") !=
        std::string::npos);
  CHECK(std::holds_alternative<pcre2_engine::compiled>(small.compile("abcdefgh", {})));
}

TEST_CASE("pcre2: catastrophic backtracking stops at the limit and is counted") {
  const std::string subject = std::string(5000, 'a') + "b";
  for (const bool jit : {true, false}) {
    CAPTURE(jit);
    const pcre2_engine engine(pcre2_limits{.use_jit = jit});
    const auto code = compile_ok(engine, "(a+)+$");
    CHECK(code.jit() == (jit && engine.jit_available()));
    auto scratch = engine.make_scratch();
    const auto start = std::chrono::steady_clock::now();
    CHECK_FALSE(engine.search(code, subject, scratch));
    const auto elapsed = std::chrono::steady_clock::now() - start;
    CHECK(scratch.limit_hits() == 1);
    CHECK(elapsed < std::chrono::seconds(5));
    // The scratch still works afterwards, and a plain miss is not a limit hit.
    const auto other = compile_ok(engine, "ab$");
    CHECK(engine.search(other, subject, scratch));
    CHECK_FALSE(engine.search(other, "ac", scratch));
    CHECK(scratch.limit_hits() == 1);
  }
}

TEST_CASE("pcre2: JIT is used when the library has it") {
  const pcre2_engine engine;
  MESSAGE("PCRE2 JIT available: " << engine.jit_available());
  CHECK(compile_ok(engine, "net\\s+user").jit() == engine.jit_available());
  CHECK_FALSE(compile_ok(pcre2_engine(pcre2_limits{.use_jit = false}), "abc").jit());
}

TEST_CASE("pcre2: compiled patterns and scratches move") {
  const pcre2_engine engine;
  auto code = compile_ok(engine, "b+c");
  auto moved = std::move(code);
  auto scratch = engine.make_scratch();
  auto scratch2 = std::move(scratch);
  CHECK(engine.search(moved, "abbc", scratch2));
}

TEST_CASE("required literals against PCRE2: random patterns") {
  const pcre2_engine engine(pcre2_limits{.match_limit = 100'000});
  auto scratch = engine.make_scratch();
  pattern_generator generator(20261206);
  std::size_t compiled = 0, matched = 0, with_literals = 0;
  for (int round = 0; round < 20'000; ++round) {
    const auto g = generator.next();
    auto code = engine.compile(g.pattern, g.flags);
    if (!std::holds_alternative<pcre2_engine::compiled>(code)) continue;
    ++compiled;
    const auto literals = extract_required_literals(g.pattern, g.flags);
    if (!literals.literals.empty()) ++with_literals;
    for (const auto& subject : g.samples) {
      if (!engine.search(std::get<pcre2_engine::compiled>(code), subject, scratch)) continue;
      ++matched;
      if (!literals_present(literals, subject)) {
        CAPTURE(g.pattern);
        CAPTURE(subject);
        CAPTURE(g.flags.ignore_case);
        FAIL_CHECK("a match without a required literal");
      }
    }
  }
  MESSAGE(compiled << " patterns compiled, " << with_literals << " with literals, " << matched
                   << " matches checked");
  CHECK(compiled > 15'000);
  CHECK(matched > 20'000);
  CHECK(with_literals > 5'000);
  // Nested quantifiers (`(a*)*`) may hit the small match limit: those count as no match.
  MESSAGE(scratch.limit_hits() << " searches stopped by the match limit");
}

TEST_CASE("required literals against PCRE2: realdata regexes on realdata command lines") {
  const auto root = sigma_test::realdata();
  if (root.empty()) {
    MESSAGE("realdata absent: skipped");
    return;
  }
  const auto regexes = sigma_test::realdata_regexes(root);
  const auto lines = sigma_test::sysmon_command_lines(root);
  REQUIRE(!regexes.empty());
  REQUIRE(!lines.empty());
  const pcre2_engine engine;
  auto scratch = engine.make_scratch();
  std::size_t matches_seen = 0, gated_out = 0;
  for (const auto& r : regexes) {
    CAPTURE(r.pattern);
    const auto code = compile_ok(engine, r.pattern, r.flags);
    const auto literals = extract_required_literals(r.pattern, r.flags);
    for (const auto& line : lines) {
      const bool present = literals_present(literals, line);
      if (!present) ++gated_out;
      if (!engine.search(code, line, scratch)) continue;
      ++matches_seen;
      CAPTURE(line);
      CHECK(present);
    }
  }
  MESSAGE(regexes.size() << " regexes x " << lines.size() << " command lines: " << matches_seen
                         << " matches, " << gated_out << " searches gated out by literals");
  CHECK(scratch.limit_hits() == 0);
}
