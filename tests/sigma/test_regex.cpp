// The regex engine concept's core pieces: no_regex, and required-literal extraction
// (fluxcap/sigma/detail/regex_literals.hpp) on hand-written and realdata patterns. The
// extraction's property against PCRE2 is in pcre2/test_pcre2.cpp.
#include <fluxcap/sigma/detail/regex_literals.hpp>
#include <fluxcap/sigma/regex.hpp>

#include <doctest/doctest.h>

#include <map>
#include <set>
#include <string>
#include <variant>

#include "realdata_regexes.hpp"
#include "sigma_test_util.hpp"

namespace {

using fluxcap::sigma::regex_flags;
using fluxcap::sigma::detail::extract_required_literals;

std::set<std::string> literals_of(std::string_view pattern, regex_flags flags = {}) {
  const auto r = extract_required_literals(pattern, flags);
  return {r.literals.begin(), r.literals.end()};
}

using set = std::set<std::string>;

}  // namespace

TEST_CASE("no_regex: every compile fails with the reason") {
  static_assert(fluxcap::sigma::regex_engine<fluxcap::sigma::no_regex>);
  fluxcap::sigma::no_regex engine;
  const auto result = engine.compile("abc", {});
  REQUIRE(std::holds_alternative<std::string>(result));
  CHECK(std::get<std::string>(result) == "no regex engine in this build");
  auto scratch = engine.make_scratch();
  CHECK_FALSE(engine.search(fluxcap::sigma::no_regex::compiled{}, "abc", scratch));
  CHECK(scratch.limit_hits() == 0);
}

TEST_CASE("required literals: top-level concatenation") {
  CHECK(literals_of(R"(net\s+user$)") == set{"net", "user"});
  CHECK(literals_of("abc") == set{"abc"});
  CHECK(literals_of(R"(a\.b\\c)") == set{"a.b\\c"});
  CHECK(literals_of(R"(\n\n)") == set{"\n\n"});
  CHECK(literals_of(R"(\t\x41z)") == set{"\t", "z"});  // \x41 is not modelled: a terminator
  CHECK(literals_of("ab.cd") == set{"ab", "cd"});
  CHECK(literals_of("ab[cd]ef") == set{"ab", "ef"});
  CHECK(literals_of("ab[]x]ef") == set{"ab", "ef"});  // `]` first in a class is literal
  CHECK(literals_of("ab[^]x]ef") == set{"ab", "ef"});
  CHECK(literals_of("ab(cd|x)ef") == set{"ab", "ef"});
  CHECK(literals_of("ab(?:c[)]d)ef") == set{"ab", "ef"});
  CHECK(literals_of("^abc$") == set{"abc"});
}

TEST_CASE("required literals: quantifiers") {
  CHECK(literals_of("abc?d") == set{"ab", "d"});
  CHECK(literals_of("abc*d") == set{"ab", "d"});
  CHECK(literals_of("abc{0,3}d") == set{"ab", "d"});
  CHECK(literals_of("abc{0}d") == set{"ab", "d"});
  // At least one copy: the first follows the run, the last precedes the next.
  CHECK(literals_of("abc+d") == set{"abc", "cd"});
  CHECK(literals_of("abc{2,5}d") == set{"abc", "cd"});
  CHECK(literals_of("abc{3}d") == set{"abc", "cd"});
  CHECK(literals_of("abc+?d") == set{"abc", "cd"});
  CHECK(literals_of("abc++d") == set{"abc", "cd"});
  CHECK(literals_of("ab(cd)+ef") == set{"ab", "ef"});
  CHECK(literals_of("ab(cd)?ef") == set{"ab", "ef"});
  CHECK(literals_of("a{2}") == set{"a"});
}

TEST_CASE("required literals: when in doubt, none") {
  CHECK(literals_of("ab|cd").empty());
  CHECK(literals_of("abc|").empty());
  CHECK(literals_of("(ab)|cd").empty());
  CHECK(literals_of("ab(*ACCEPT)cd").empty());
  CHECK(literals_of("ab(?:(*ACCEPT))cd").empty());
  CHECK(literals_of("(?x)a b").empty());
  CHECK(literals_of("ab(?#comment)cd").empty());
  CHECK(literals_of(R"(\Qa|b\E)").empty());
  CHECK(literals_of(R"((a)\1b)").empty());
  CHECK(literals_of(R"(ab\k<x>)").empty());
  CHECK(literals_of("ab{,3}c").empty());   // a quantifier for newer PCRE2
  CHECK(literals_of("ab{ 1 }c").empty());  // likewise
  CHECK(literals_of("ab[[:alpha:]]c").empty());
  CHECK(literals_of("ab(c").empty());
  CHECK(literals_of("ab)c").empty());
  CHECK(literals_of("*ab").empty());
  CHECK(literals_of("ab\\").empty());
  CHECK(literals_of("").empty());
}

TEST_CASE("required literals: case folding") {
  const auto plain = extract_required_literals("NeT", {});
  CHECK_FALSE(plain.case_insensitive);
  CHECK(plain.literals == std::vector<std::string>{"NeT"});
  const auto flag = extract_required_literals("NeT", regex_flags{.ignore_case = true});
  CHECK(flag.case_insensitive);
  CHECK(flag.literals == std::vector<std::string>{"net"});
  // An inline (?i) anywhere folds everything (it may apply to any part).
  const auto inline_i = extract_required_literals("AB(?i)CD", {});
  CHECK(inline_i.case_insensitive);
  CHECK(inline_i.literals == std::vector<std::string>{"ab", "cd"});
  CHECK(extract_required_literals("AB(?i:x)CD", {}).case_insensitive);
  CHECK(extract_required_literals("AB(?-i)CD", {}).case_insensitive);
  CHECK_FALSE(extract_required_literals("AB(?:x)CD", {}).case_insensitive);
}

TEST_CASE("required literals: the best one is the longest") {
  const auto r = extract_required_literals(R"(net\s+localgroup\s+admin)", {});
  CHECK(r.best() == "localgroup");
  CHECK(extract_required_literals("a|b", {}).best().empty());
  // Duplicates are kept once.
  CHECK(extract_required_literals(R"(\+.*\+.*\+)", {}).literals == std::vector<std::string>{"+"});
}

TEST_CASE("required literals of the realdata regexes") {
  const auto root = sigma_test::realdata();
  if (root.empty()) {
    MESSAGE("realdata absent: skipped");
    return;
  }
  const auto regexes = sigma_test::realdata_regexes(root);
  MESSAGE(regexes.size() << " distinct realdata regexes");
  CHECK(regexes.size() >= 20);
  const std::map<std::string, set> expected = {
      {R"((?:[Pp]rogram[Dd]ata|%(?:[Ll]ocal)?[Aa]pp[Dd]ata%|\\[Aa]pp[Dd]ata\\(?:[Ll]ocal(?:[Ll]ow)?|[Rr]oaming))\\[^\\]{1,256}$)",
       {"\\"}},
      {R"((?i)\s(-u|--user)\s*:)", {":"}},
      {R"(-k\s\w{1,64}(?:\s?(?:-p|-s))?)", {"-k"}},
      {R"(://[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})", {"://", "."}},
      {R"(://\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})", {"://", "."}},
      {R"([-/–][Ee^]{1,2}[ncodema^]*\s[A-Za-z0-9+/=]{15,})", {}},
      {R"(\+.*\+.*\+.*\+.*\+.*\+.*\+.*\+.*\+.*\+.*\+.*\+.*\+.*\+)", {"+"}},
      {R"(\.[a-zA-Z0-9]{1,4} \.)", {".", " ."}},
      {R"(\^.*\^.*\^.*\^.*\^)", {"^"}},
      {R"(\n\n\n\n\n\n)", {"\n\n\n\n\n\n"}},
      {R"(\s-H\s)", {"-H"}},
      {R"(\s-c\s)", {"-c"}},
      {R"(\s-k\s)", {"-k"}},
      {R"(\{.*\{.*\{.*\{.*\{.*\{.*\{.*\{.*\{.*\{)", {"{"}},
      {R"(`.*`.*`.*`.*`)", {"`"}},
      {R"(ipconfig\s+/all)", {"ipconfig", "/all"}},
      {R"(net\s+group)", {"net", "group"}},
      {R"(net\s+user)", {"net", "user"}},
      {R"(net\s+user\s+)", {"net", "user"}},
      {R"(query\s+session)", {"query", "session"}},
      {R"(query\ssession)", {"query", "session"}},
      {R"((?i)\.exe[\"\']?\s+[^\"]{0,64}werfaultsecure\.exe[\"\']?\s+\d{2,10})",
       {".exe", "werfaultsecure.exe"}},
  };
  std::size_t checked = 0;
  for (const auto& r : regexes) {
    CAPTURE(r.pattern);
    CAPTURE(r.file);
    const auto got = extract_required_literals(r.pattern, r.flags);
    const auto it = expected.find(r.pattern);
    if (it == expected.end()) {
      MESSAGE("a realdata regex without an expected answer here");
      continue;
    }
    CHECK(set(got.literals.begin(), got.literals.end()) == it->second);
    ++checked;
  }
  CHECK(checked >= 20);
  CHECK(extract_required_literals(
            R"((?i)\.exe[\"\']?\s+[^\"]{0,64}werfaultsecure\.exe[\"\']?\s+\d{2,10})", {})
            .best() == "werfaultsecure.exe");
}
