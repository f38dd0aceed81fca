// Sigma string values and glob verification (fluxcap/sigma/sigma_string.hpp,
// fluxcap/sigma/detail/glob.hpp): the spec's "Escape Character" table and
// "Placeholders" examples, contains/startswith/endswith without doubled wildcards, and
// glob matching with folding, `?` and adversarial back-tracking.
#include <doctest/doctest.h>
#include <fluxcap/sigma/detail/glob.hpp>
#include <fluxcap/sigma/sigma_string.hpp>

#include <chrono>
#include <span>
#include <string>
#include <string_view>
#include <vector>

using namespace fluxcap::sigma;
using kind = glob_piece::kind;

namespace {

glob_piece lit(std::string text) {
  return {kind::literal, std::move(text)};
}
glob_piece star() {
  return {kind::any_run, {}};
}
glob_piece qmark() {
  return {kind::any_char, {}};
}
glob_piece ph(std::string name) {
  return {kind::placeholder, std::move(name)};
}

bool matches(std::string_view written, std::string_view value, bool cased = false) {
  const sigma_string s = sigma_string::parse(written);
  return detail::glob_match(std::span<const glob_piece>(s.pieces()), value, cased);
}

}  // namespace

TEST_CASE("escapes: the specification's table") {
  // Plain backslash not followed by a wildcard: single or double.
  CHECK(sigma_string::parse("C:\\Windows").pieces() == std::vector{lit("C:\\Windows")});
  CHECK(sigma_string::parse("C:\\\\Windows").pieces() == std::vector{lit("C:\\Windows")});
  // An escaped wildcard is a plain character.
  CHECK(sigma_string::parse("a\\*b").pieces() == std::vector{lit("a*b")});
  CHECK(sigma_string::parse("a\\?b").pieces() == std::vector{lit("a?b")});
  // `\\*`: a backslash, then a wildcard.
  CHECK(sigma_string::parse("a\\\\*").pieces() == std::vector{lit("a\\"), star()});
  // `\\\*`: a backslash, then a literal `*`.
  CHECK(sigma_string::parse("a\\\\\\*").pieces() == std::vector{lit("a\\*")});
  // Three or four backslashes are a double backslash.
  CHECK(sigma_string::parse("\\\\\\").pieces() == std::vector{lit("\\\\")});
  CHECK(sigma_string::parse("\\\\\\\\").pieces() == std::vector{lit("\\\\")});
  // A trailing backslash is literal.
  CHECK(sigma_string::parse("dir\\").pieces() == std::vector{lit("dir\\")});
  // The realdata slip from design 1.4: `\*` after a path separator is a literal star.
  CHECK(sigma_string::parse("\\AppData\\local\\temp\\*.rar\\").pieces() ==
        std::vector{lit("\\AppData\\local\\temp*.rar\\")});
}

TEST_CASE("wildcards split literal runs; adjacent literals merge") {
  const auto s = sigma_string::parse("*\\cmd.exe?x*");
  CHECK(s.pieces() == std::vector{star(), lit("\\cmd.exe"), qmark(), lit("x"), star()});
  CHECK_FALSE(s.is_literal());
  CHECK(s.has_wildcards());
  CHECK(s.literal() == "\\cmd.exex");
  CHECK(sigma_string::parse("ab\\*cd").pieces().size() == 1);
  CHECK(sigma_string::parse("").pieces().empty());
  CHECK(sigma_string::parse("").is_literal());
  CHECK(sigma_string::parse("**").pieces() == std::vector{star(), star()});
  CHECK(sigma_string::from_literal("a*b?").pieces() == std::vector{lit("a*b?")});
  CHECK(sigma_string::from_literal("").pieces().empty());
  CHECK(sigma_string::from_pieces({lit("a"), lit(""), lit("b"), star(), lit("c")}).pieces() ==
        std::vector{lit("ab"), star(), lit("c")});
}

TEST_CASE("placeholders: the specification's examples") {
  // Without expand, `%name%` is literal text and `\%` stays two bytes (pySigma).
  CHECK(sigma_string::parse("%name%").pieces() == std::vector{lit("%name%")});
  CHECK(sigma_string::parse("\\%x").pieces() == std::vector{lit("\\%x")});
  CHECK_FALSE(sigma_string::parse("%name%").has_placeholders());
  // With expand.
  CHECK(sigma_string::parse("%name%", true).pieces() == std::vector{ph("name")});
  CHECK(sigma_string::parse("\\%plain%name%", true).pieces() ==
        std::vector{lit("%plain"), ph("name")});
  CHECK(sigma_string::parse("%Servers%", true).has_placeholders());
  CHECK(sigma_string::parse("srv-%a_1%*%b%", true).pieces() ==
        std::vector{lit("srv-"), ph("a_1"), star(), ph("b")});
  // Not a placeholder: empty name, a non-word character, unclosed.
  CHECK(sigma_string::parse("100%%", true).pieces() == std::vector{lit("100%%")});
  CHECK(sigma_string::parse("%a b%", true).pieces() == std::vector{lit("%a b%")});
  CHECK(sigma_string::parse("50% off", true).pieces() == std::vector{lit("50% off")});
  // Left-most first, as a regex scan: `%%x%` is a `%` then %x%.
  CHECK(sigma_string::parse("%%x%", true).pieces() == std::vector{lit("%"), ph("x")});
  CHECK(sigma_string::parse("%a%b%", true).pieces() == std::vector{ph("a"), lit("b%")});
  CHECK_FALSE(detail::glob_match(sigma_string::parse("%a%", true).pieces(), "%a%", false));
}

TEST_CASE("contains/startswith/endswith add `*` only where absent") {
  auto contains = [](std::string_view w) {
    return sigma_string::parse(w).prepend_any_run().append_any_run().to_written();
  };
  CHECK(contains("x") == "*x*");
  CHECK(contains("*x") == "*x*");
  CHECK(contains("x*") == "*x*");
  CHECK(contains("*x*") == "*x*");
  CHECK(contains("") == "*");
  CHECK(contains("\\*x\\*") == "*\\*x\\**");  // escaped stars are not wildcards
  CHECK(sigma_string::parse("x").append_any_run().to_written() == "x*");
  CHECK(sigma_string::parse("x*").append_any_run().to_written() == "x*");
  CHECK(sigma_string::parse("x").prepend_any_run().to_written() == "*x");
  CHECK(sigma_string::parse("?x").prepend_any_run().to_written() == "*?x");
}

TEST_CASE("to_written is canonical and parses back") {
  const std::vector<std::pair<std::string, bool>> cases{
      {"C:\\Windows\\*", false}, {"a\\\\*", false},   {"a\\\\\\*", false},      {"\\\\\\\\", false},
      {"x\\?y?", false},         {"dir\\", false},    {"\\%plain%name%", true}, {"a\\\\%n%", true},
      {"%n%\\\\", true},         {"100%%", true},     {"*%x%?", true},          {"\\", false},
      {"\\\\\\%%n%", true},      {"a\\b\\\\c", false}};
  for (const auto& written_case : cases) {
    const std::string& written = written_case.first;
    const bool placeholders = written_case.second;
    CAPTURE(written);
    const sigma_string s = sigma_string::parse(written, placeholders);
    const std::string canonical = s.to_written();
    CHECK(sigma_string::parse(canonical, s.has_placeholders()) == s);
    CHECK(sigma_string::parse(canonical, s.has_placeholders()).to_written() == canonical);
  }
  CHECK(sigma_string::parse("C:\\\\Windows").to_written() == "C:\\Windows");
  CHECK(sigma_string::parse("a\\\\*").to_written() == "a\\\\*");
  CHECK(sigma_string::from_literal("a\\").to_written() == "a\\");
  CHECK(sigma_string::from_literal("a\\*").to_written() == "a\\\\\\*");
  // Every byte string round-trips as a literal.
  for (int c = 0; c < 256; ++c) {
    const std::string bytes{'\\', static_cast<char>(c), '\\'};
    const sigma_string s = sigma_string::from_literal(bytes);
    CHECK(sigma_string::parse(s.to_written()) == s);
  }
}

TEST_CASE("transform_literals encodes literal runs only") {
  const auto s = sigma_string::parse("ab*c?");
  const auto upper = s.transform_literals([](std::string_view run) {
    std::string out(run);
    for (auto& ch : out) ch = static_cast<char>(ch - 32);
    return out;
  });
  CHECK(upper.pieces() == std::vector{lit("AB"), star(), lit("C"), qmark()});
  const auto emptied =
      sigma_string::parse("a*b").transform_literals([](std::string_view) { return std::string(); });
  CHECK(emptied.pieces() == std::vector{star()});
}

TEST_CASE("glob: exact, wildcards, `?` is one byte") {
  CHECK(matches("cmd.exe", "cmd.exe"));
  CHECK_FALSE(matches("cmd.exe", "cmd.exe "));
  CHECK_FALSE(matches("cmd.exe", "cmd.ex"));
  CHECK(matches("*\\cmd.exe", "C:\\Windows\\System32\\cmd.exe"));
  CHECK_FALSE(matches("*\\cmd.exe", "C:\\Windows\\System32\\xcmd.exe"));
  CHECK(matches("*-enc *", "powershell -enc AAAA"));
  CHECK(matches("a*b*c", "abc"));
  CHECK(matches("a*b*c", "aXbYbZc"));
  CHECK_FALSE(matches("a*b*c", "aXbYbZ"));
  CHECK(matches("*", ""));
  CHECK(matches("", ""));
  CHECK_FALSE(matches("", "x"));
  CHECK_FALSE(matches("?", ""));
  CHECK(matches("?", "x"));
  CHECK(matches("462?", "462?"));  // a wildcard `?` matches the literal `?` too
  CHECK(matches("462?", "4621"));
  CHECK_FALSE(matches("462\\?", "4621"));
  CHECK(matches("462\\?", "462?"));
  CHECK(matches("a\\*b", "a*b"));
  CHECK_FALSE(matches("a\\*b", "aXb"));
  CHECK(matches("a\\\\*", "a\\anything"));
  // `?` is a byte: a two-byte UTF-8 character needs `??`.
  CHECK_FALSE(matches("caf?", "caf\xC3\xA9"));
  CHECK(matches("caf??", "caf\xC3\xA9"));
  CHECK(matches("*?", "x"));
  CHECK_FALSE(matches("*??", "x"));
  CHECK(matches("**a**", "bab"));
}

TEST_CASE("glob: ASCII case folding unless cased") {
  CHECK(matches("*\\CMD.EXE", "c:\\windows\\cmd.exe"));
  CHECK_FALSE(matches("*\\CMD.EXE", "c:\\windows\\cmd.exe", true));
  CHECK(matches("*\\cmd.exe", "C:\\WINDOWS\\CMD.EXE"));
  CHECK(matches("Ab?", "aBc"));
  // Non-ASCII bytes are compared as they are (ASCII folding only).
  CHECK_FALSE(matches("\xC3\x89", "\xC3\xA9"));
  CHECK(matches("\xC3\xA9", "\xC3\xA9"));
  // Folding maps only A-Z: '@' (0x40) and '`' (0x60) differ, '[' and '{' too.
  CHECK_FALSE(matches("@", "`"));
  CHECK_FALSE(matches("[", "{"));
  CHECK(detail::fold_ascii('Z') == 'z');
  CHECK(detail::fold_ascii('z') == 'z');
  CHECK(detail::fold_ascii(0xC9) == 0xC9);
  static_assert(detail::fold_ascii('A') == 'a');
}

TEST_CASE("glob: hand-built spans with empty literals, placeholders never match") {
  const std::vector<glob_piece> with_empty{lit(""), lit("a"), star(), lit(""), lit("b"), lit("")};
  CHECK(detail::glob_match(with_empty, "axxb", false));
  CHECK(detail::glob_match(with_empty, "ab", false));
  CHECK_FALSE(detail::glob_match(with_empty, "axxba", false));
  const std::vector<glob_piece> placeholder{star(), ph("x"), star()};
  CHECK_FALSE(detail::glob_match(placeholder, "anything", false));
  CHECK(detail::glob_match(std::span<const glob_piece>(), "", false));
  CHECK_FALSE(detail::glob_match(std::span<const glob_piece>(), "a", false));
}

TEST_CASE("glob: adversarial back-tracking stays polynomial") {
  // `*a*a*...*a*b` against a long run of `a`: exponential for naive recursion.
  std::string pattern;
  for (int i = 0; i < 40; ++i) pattern += "*a";
  pattern += "*b";
  const std::string value(100'000, 'a');
  const auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(matches(pattern, value));
  CHECK(matches(pattern, value + "b"));
  // A long literal that almost matches at every position after a star.
  std::string near(20'000, 'a');
  CHECK_FALSE(matches("*" + std::string(500, 'a') + "b", near));
  CHECK(matches("*" + std::string(500, 'a') + "b", near + "b"));
  CHECK_FALSE(matches("*?" + std::string(300, '?') + "b*c", std::string(20'000, 'b')));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  // O(n*m): ~10^7 byte steps; seconds would mean exponential behaviour.
  CHECK(elapsed < std::chrono::seconds(5));
}
