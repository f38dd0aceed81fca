// Modifier names and value transformations (fluxcap/sigma/modifiers.hpp). Expected
// base64/base64offset outputs were computed independently with Python's base64 module
// using pySigma's formula (b64encode(i * b" " + data)[(0, 2, 3)[i] : (None, -3, -2)[(len +
// i) % 3]]); windash positions with Python's re `\B[-/]\b`.
#include <doctest/doctest.h>
#include <fluxcap/sigma/modifiers.hpp>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

using namespace fluxcap::sigma;
using namespace std::string_literals;

namespace {

std::vector<std::string> written(const std::vector<sigma_string>& strings) {
  std::vector<std::string> out;
  for (const auto& s : strings) out.push_back(s.to_written());
  return out;
}

const std::string en_dash = "\xE2\x80\x93";
const std::string em_dash = "\xE2\x80\x94";
const std::string bar = "\xE2\x80\x95";

}  // namespace

TEST_CASE("modifier names: every pySigma name and the spec's utf16le") {
  const std::vector<std::pair<std::string_view, modifier>> names{
      {"contains", modifier::contains},
      {"startswith", modifier::startswith},
      {"endswith", modifier::endswith},
      {"all", modifier::all},
      {"neq", modifier::neq},
      {"cased", modifier::cased},
      {"exists", modifier::exists},
      {"windash", modifier::windash},
      {"re", modifier::re},
      {"i", modifier::re_i},
      {"ignorecase", modifier::re_i},
      {"m", modifier::re_m},
      {"multiline", modifier::re_m},
      {"s", modifier::re_s},
      {"dotall", modifier::re_s},
      {"base64", modifier::base64},
      {"base64offset", modifier::base64offset},
      {"utf16", modifier::utf16},
      {"utf16le", modifier::utf16le},
      {"utf16be", modifier::utf16be},
      {"wide", modifier::wide},
      {"cidr", modifier::cidr},
      {"lt", modifier::lt},
      {"lte", modifier::lte},
      {"gt", modifier::gt},
      {"gte", modifier::gte},
      {"minute", modifier::minute},
      {"hour", modifier::hour},
      {"day", modifier::day},
      {"week", modifier::week},
      {"month", modifier::month},
      {"year", modifier::year},
      {"expand", modifier::expand},
      {"fieldref", modifier::fieldref},
  };
  std::set<modifier> seen;
  for (const auto& spelling : names) {
    const std::string_view name = spelling.first;
    const modifier m = spelling.second;
    CAPTURE(name);
    REQUIRE(parse_modifier(name).has_value());
    CHECK(*parse_modifier(name) == m);
    CHECK(parse_modifier(modifier_name(m)) == m);
    seen.insert(m);
  }
  CHECK(seen.size() == static_cast<std::size_t>(modifier::fieldref) + 1);  // every enumerator
  CHECK(modifier_name(modifier::re_i) == "i");
  CHECK(modifier_name(modifier::wide) == "wide");
  CHECK_FALSE(parse_modifier("Contains").has_value());
  CHECK_FALSE(parse_modifier("").has_value());
  CHECK_FALSE(parse_modifier("base64offsets").has_value());
  CHECK_FALSE(parse_modifier("utf8").has_value());
  static_assert(parse_modifier("cidr") == modifier::cidr);
}

TEST_CASE("windash: pySigma's word-start dashes, five characters each") {
  const auto variants = windash_variants(sigma_string::parse("-encodedcommand"), 625);
  CHECK(written(variants) ==
        std::vector<std::string>{"-encodedcommand", "/encodedcommand", en_dash + "encodedcommand",
                                 em_dash + "encodedcommand", bar + "encodedcommand"});
  // Not at a word start: unchanged, one variant.
  CHECK(written(windash_variants(sigma_string::parse("a-b"), 625)) ==
        std::vector<std::string>{"a-b"});
  CHECK(written(windash_variants(sigma_string::parse("1-2"), 625)) ==
        std::vector<std::string>{"1-2"});
  CHECK(written(windash_variants(sigma_string::parse("-"), 625)) == std::vector<std::string>{"-"});
  CHECK(written(windash_variants(sigma_string::parse("a /"), 625)) ==
        std::vector<std::string>{"a /"});
  // `/` is replaced too, and only the dash before a word character in `--foo`.
  CHECK(windash_variants(sigma_string::parse(" /c"), 625).size() == 5);
  CHECK(written(windash_variants(sigma_string::parse("--foo"), 625))[1] == "-/foo");
  CHECK(windash_variants(sigma_string::parse("-_x"), 625).size() == 5);
  // Unicode word characters (Python's `\w`): after é or ü a dash is mid-word.
  CHECK(windash_variants(sigma_string::parse("-\xC3\xA9"), 625).size() == 5);
  CHECK(windash_variants(sigma_string::parse("\xC3\xBC-x"), 625).size() == 1);
  CHECK(windash_variants(sigma_string::parse("-\xE4\xB8\xAD"), 625).size() == 5);
  CHECK(windash_variants(sigma_string::parse("\xE2\x80\x83-x"), 625).size() == 5);  // em space
  // Two sites: 25 variants, the first site varying slowest.
  const auto two = written(windash_variants(sigma_string::parse("x -y -z"), 625));
  REQUIRE(two.size() == 25);
  CHECK(two[0] == "x -y -z");
  CHECK(two[1] == "x -y /z");
  CHECK(two[5] == "x /y -z");
  CHECK(two[24] == "x " + bar + "y " + bar + "z");
  CHECK(std::set<std::string>(two.begin(), two.end()).size() == 25);
}

TEST_CASE("windash: wildcards kept, each literal run on its own, the limit") {
  auto contains = sigma_string::parse("-enc").prepend_any_run().append_any_run();
  const auto variants = written(windash_variants(contains, 625));
  CHECK(variants == std::vector<std::string>{"*-enc*", "*/enc*", "*" + en_dash + "enc*",
                                             "*" + em_dash + "enc*", "*" + bar + "enc*"});
  // After a wildcard the dash starts its literal run (pySigma splits runs first).
  CHECK(windash_variants(sigma_string::parse("a*-b"), 625).size() == 5);
  CHECK(windash_variants(sigma_string::parse("a?/b"), 625).size() == 5);
  // The limit: 5^4 = 625 fits, 5^5 does not.
  CHECK(windash_variants(sigma_string::parse("-a -b -c -d"), 625).size() == 625);
  CHECK_THROWS_WITH_AS((void)windash_variants(sigma_string::parse("-a -b -c -d -e"), 625),
                       "windash expands to 3125 variants, more than 625", unsupported_error);
  CHECK_THROWS_AS((void)windash_variants(sigma_string::parse("-a"), 4), unsupported_error);
  // Far too many sites: no overflow, still a clear message.
  std::string many;
  for (int i = 0; i < 40; ++i) many += " -x";
  CHECK_THROWS_WITH_AS((void)windash_variants(sigma_string::parse(many), 625),
                       "windash expands to 5^40 variants, more than 625", unsupported_error);
}

TEST_CASE("utf16 encodings") {
  CHECK(encode_utf16("cmd", modifier::utf16le) == "c\0m\0d\0"s);
  CHECK(encode_utf16("cmd", modifier::wide) == "c\0m\0d\0"s);
  CHECK(encode_utf16("cmd", modifier::utf16be) == "\0c\0m\0d"s);
  CHECK(encode_utf16("cmd", modifier::utf16) ==
        "\xFF\xFE"
        "c\0m\0d\0"s);
  CHECK(encode_utf16("", modifier::utf16) == "\xFF\xFE"s);
  CHECK(encode_utf16("", modifier::wide).empty());
  // Non-ASCII: é U+00E9, € U+20AC, U+1F600 as a surrogate pair D83D DE00.
  CHECK(encode_utf16("\xC3\xA9", modifier::utf16le) == "\xE9\0"s);
  CHECK(encode_utf16("\xE2\x82\xAC", modifier::utf16be) == "\x20\xAC"s);
  CHECK(encode_utf16("\xF0\x9F\x98\x80", modifier::utf16le) == "\x3D\xD8\x00\xDE"s);
  CHECK(encode_utf16("\xF0\x9F\x98\x80", modifier::utf16be) == "\xD8\x3D\xDE\x00"s);
  // Invalid UTF-8 makes the rule unsupported: a stray byte, truncated, overlong, surrogate.
  CHECK_THROWS_AS((void)encode_utf16("a\xFF", modifier::wide), unsupported_error);
  CHECK_THROWS_AS((void)encode_utf16("\xC3", modifier::wide), unsupported_error);
  CHECK_THROWS_AS((void)encode_utf16("\xC0\xAF", modifier::wide), unsupported_error);
  CHECK_THROWS_AS((void)encode_utf16("\xED\xA0\x80", modifier::wide), unsupported_error);
  CHECK_THROWS_AS((void)encode_utf16("\xF4\x90\x80\x80", modifier::wide), unsupported_error);
  CHECK_THROWS_AS((void)encode_utf16("x", modifier::base64), std::invalid_argument);
}

TEST_CASE("utf16 of a Sigma string: literal runs only, one BOM in front") {
  const auto s = sigma_string::parse("a*b");
  CHECK(encode_utf16(s, modifier::wide).pieces() ==
        std::vector<glob_piece>{{glob_piece::kind::literal, "a\0"s},
                                {glob_piece::kind::any_run, ""},
                                {glob_piece::kind::literal, "b\0"s}});
  CHECK(encode_utf16(s, modifier::utf16).pieces() ==
        std::vector<glob_piece>{{glob_piece::kind::literal,
                                 "\xFF\xFE"
                                 "a\0"s},
                                {glob_piece::kind::any_run, ""},
                                {glob_piece::kind::literal, "b\0"s}});
  CHECK(encode_utf16(sigma_string::parse("*b"), modifier::utf16).pieces().front().text ==
        "\xFF\xFE"s);
}

TEST_CASE("base64 (RFC 4648 test vectors and pySigma's inputs)") {
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foo") == "Zm9v");
  CHECK(base64_encode("foob") == "Zm9vYg==");
  CHECK(base64_encode("fooba") == "Zm9vYmE=");
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
  CHECK(base64_encode("cmd") == "Y21k");
  CHECK(base64_encode("/bin/sh") == "L2Jpbi9zaA==");
  CHECK(base64_encode("\xFF\xFE\xFD") == "//79");
  CHECK(base64_encode("\0"s) == "AA==");
}

TEST_CASE("base64offset: pySigma's three variants") {
  using v = std::vector<std::string>;
  CHECK(base64offset_variants("cmd") == v{"Y21k", "NtZ", "jbW"});
  CHECK(base64offset_variants("foobar") == v{"Zm9vYmFy", "Zvb2Jhc", "mb29iYX"});
  CHECK(base64offset_variants("abcd") == v{"YWJjZ", "FiY2", "hYmNk"});
  CHECK(base64offset_variants("/bin/sh") == v{"L2Jpbi9za", "9iaW4vc2", "vYmluL3No"});
  CHECK(base64offset_variants("ab") == v{"YW", "Fi", "hY"});
  CHECK(base64offset_variants("a") == v{"Y", "", "h"});
  CHECK(base64offset_variants("") == v{"", "", ""});
  // The realdata case: CommandLine|wide|base64offset|contains: spinstall0.aspx
  const std::string wide = encode_utf16("spinstall0.aspx", modifier::wide);
  CHECK(base64offset_variants(wide) == v{"cwBwAGkAbgBzAHQAYQBsAGwAMAAuAGEAcwBwAHgA",
                                         "MAcABpAG4AcwB0AGEAbABsADAALgBhAHMAcAB4A",
                                         "zAHAAaQBuAHMAdABhAGwAbAAwAC4AYQBzAHAAeA"});
}

TEST_CASE("expand: placeholders replaced by the profile's values, cartesian") {
  const std::map<std::string, std::vector<sigma_string>, std::less<>> profile{
      {"Servers", {sigma_string::parse("srv*"), sigma_string::parse("dc?")}},
      {"Admins", {sigma_string::parse("root"), sigma_string::parse("adm")}},
      {"Empty", {}}};
  const auto lookup = [&](std::string_view name) -> const std::vector<sigma_string>* {
    const auto it = profile.find(name);
    return it == profile.end() ? nullptr : &it->second;
  };
  const auto one = expand_placeholders(sigma_string::parse("x%Servers%", true), lookup, 64);
  CHECK(written(one) == std::vector<std::string>{"xsrv*", "xdc?"});
  CHECK(one[0].pieces().size() == 2);  // "xsrv" merged, then `*`
  const auto two =
      expand_placeholders(sigma_string::parse("%Servers%\\%-%Admins%*", true), lookup, 64);
  CHECK(written(two) ==
        std::vector<std::string>{"srv*%-root*", "srv*%-adm*", "dc?%-root*", "dc?%-adm*"});
  // No placeholder: the string itself.
  CHECK(written(expand_placeholders(sigma_string::parse("plain*"), lookup, 64)) ==
        std::vector<std::string>{"plain*"});
  CHECK_THROWS_WITH_AS((void)expand_placeholders(sigma_string::parse("%Nope%", true), lookup, 64),
                       "unresolved placeholder %Nope%", unsupported_error);
  CHECK_THROWS_WITH_AS((void)expand_placeholders(sigma_string::parse("%Empty%", true), lookup, 64),
                       "placeholder %Empty% has no values", unsupported_error);
  CHECK(expand_placeholders(sigma_string::parse("%Servers%%Admins%", true), lookup, 4).size() == 4);
  CHECK_THROWS_WITH_AS(
      (void)expand_placeholders(sigma_string::parse("%Servers%%Admins%", true), lookup, 3),
      "expand gives more than 3 variants", unsupported_error);
}
