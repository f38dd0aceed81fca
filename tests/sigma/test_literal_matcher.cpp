// The literal matcher (fluxcap/sigma/detail/literal_matcher.hpp): readable cases, then
// random pattern sets and values against a naive reference (fold both, then
// find/starts_with/ends_with/==), comparing the sets of hit ids.
#include "sigma_test_util.hpp"

#include <doctest/doctest.h>
#include <fluxcap/sigma/detail/literal_matcher.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

using fluxcap::sigma::detail::literal_anchor;
using fluxcap::sigma::detail::literal_limit_error;
using fluxcap::sigma::detail::literal_matcher;
using fluxcap::sigma::detail::literal_matcher_limits;
using fluxcap::sigma::detail::literal_scan_scratch;

namespace {

struct pattern {
  std::string text;
  literal_anchor anchor;
  bool cased;
  std::uint32_t id;
};

std::string folded(std::string_view s) {
  std::string f(s);
  for (char& c : f)
    c = static_cast<char>(fluxcap::sigma::detail::fold_ascii(static_cast<unsigned char>(c)));
  return f;
}

bool naive_match(const pattern& p, std::string_view value) {
  const std::string v = p.cased ? std::string(value) : folded(value);
  const std::string t = p.cased ? p.text : folded(p.text);
  const std::string_view vv(v), tt(t);
  switch (p.anchor) {
    case literal_anchor::exact:
      return vv == tt;
    case literal_anchor::prefix:
      return vv.starts_with(tt);
    case literal_anchor::suffix:
      return vv.ends_with(tt);
    case literal_anchor::contains:
      return vv.find(tt) != std::string_view::npos;
  }
  return false;
}

std::set<std::uint32_t> naive_hits(const std::vector<pattern>& ps, std::string_view value) {
  std::set<std::uint32_t> hits;
  for (const auto& p : ps)
    if (naive_match(p, value)) hits.insert(p.id);
  return hits;
}

literal_matcher build(const std::vector<pattern>& ps, const literal_matcher_limits& limits = {}) {
  literal_matcher m(limits);
  for (const auto& p : ps) m.add(p.text, p.anchor, p.cased, p.id);
  m.build();
  return m;
}

std::set<std::uint32_t> hits_of(const literal_matcher& m, std::string_view value) {
  std::set<std::uint32_t> hits;
  m.scan(value, [&](std::uint32_t id) { hits.insert(id); });
  return hits;
}

std::vector<std::uint32_t> unique_hits_of(const literal_matcher& m, literal_scan_scratch& scratch,
                                          std::string_view value) {
  std::vector<std::uint32_t> hits;
  m.scan_unique(value, scratch, [&](std::uint32_t id) { hits.push_back(id); });
  std::sort(hits.begin(), hits.end());
  return hits;
}

using ids = std::set<std::uint32_t>;

}  // namespace

TEST_CASE("literal matcher: each anchor, case-insensitive by default") {
  const std::vector<pattern> ps = {
      {"cmd.exe", literal_anchor::exact, false, 1},
      {"C:\\Windows\\", literal_anchor::prefix, false, 2},
      {"\\powershell.exe", literal_anchor::suffix, false, 3},
      {" -enc ", literal_anchor::contains, false, 4},
      {"Invoke-", literal_anchor::contains, true, 5},
      {"-e", literal_anchor::contains, false, 6},
  };
  const auto m = build(ps);
  CHECK(m.pattern_count() == 6);
  CHECK_FALSE(m.empty());
  CHECK(hits_of(m, "CMD.EXE") == ids{1});
  CHECK(hits_of(m, "cmd.exe ") == ids{});
  CHECK(hits_of(m, "c:\\windows\\System32\\WindowsPowerShell\\v1.0\\PowerShell.EXE") == ids{2, 3});
  CHECK(hits_of(m, "powershell -ENC abc") == ids{4, 6});
  CHECK(hits_of(m, "Invoke-Expression") == ids{5, 6});
  CHECK(hits_of(m, "invoke-expression") == ids{6});
  CHECK(hits_of(m, "") == ids{});
  CHECK(hits_of(m, "xyz") == ids{});
}

TEST_CASE("literal matcher: empty patterns, duplicates, prefixes of each other") {
  const std::vector<pattern> ps = {
      {"", literal_anchor::exact, false, 1},      {"", literal_anchor::prefix, false, 2},
      {"", literal_anchor::suffix, true, 3},      {"", literal_anchor::contains, false, 4},
      {"ab", literal_anchor::prefix, false, 5},   {"abc", literal_anchor::prefix, false, 6},
      {"ab", literal_anchor::exact, false, 7},    {"ab", literal_anchor::contains, false, 8},
      {"ab", literal_anchor::contains, false, 9}, {"bc", literal_anchor::suffix, false, 10},
      {"abc", literal_anchor::suffix, false, 11},
  };
  const auto m = build(ps);
  CHECK(hits_of(m, "") == ids{1, 2, 3, 4});
  CHECK(hits_of(m, "ab") == ids{2, 3, 4, 5, 7, 8, 9});
  CHECK(hits_of(m, "ABC") == ids{2, 3, 4, 5, 6, 8, 9, 10, 11});
  CHECK(hits_of(m, "xabc") == ids{2, 3, 4, 8, 9, 10, 11});
}

TEST_CASE("literal matcher: cased patterns compare the original bytes at the hit") {
  const std::vector<pattern> ps = {
      {"AbC", literal_anchor::contains, true, 1}, {"abc", literal_anchor::contains, false, 2},
      {"Ab", literal_anchor::prefix, true, 3},    {"bC", literal_anchor::suffix, true, 4},
      {"AbC", literal_anchor::exact, true, 5},
  };
  const auto m = build(ps);
  CHECK(hits_of(m, "AbC") == ids{1, 2, 3, 4, 5});
  CHECK(hits_of(m, "abc") == ids{2});
  CHECK(hits_of(m, "xxABCxAbCx") == ids{1, 2});
  CHECK(hits_of(m, "ABC") == ids{2});
}

TEST_CASE("literal matcher: bytes 0-255, embedded NULs, only ASCII letters fold") {
  const std::string nul("a\0b", 3);
  const std::vector<pattern> ps = {
      {nul, literal_anchor::contains, false, 1},
      {"\xc3\xa9", literal_anchor::contains, false, 2},  // é: no folding to É (\xc3\x89)
      {"\xff\x80", literal_anchor::suffix, false, 3},
      {"[", literal_anchor::contains, false, 4},  // '[' = 'Z' + 1: not a letter
  };
  const auto m = build(ps);
  CHECK(hits_of(m, std::string("xA\0Bx", 5)) == ids{1});
  CHECK(hits_of(m, "ab") == ids{});
  CHECK(hits_of(m, "\xc3\x89") == ids{});
  CHECK(hits_of(m, "caf\xc3\xa9") == ids{2});
  CHECK(hits_of(m, "z\xff\x80") == ids{3});
  CHECK(hits_of(m, "{") == ids{});
  CHECK(hits_of(m, "a[") == ids{4});
}

TEST_CASE("literal matcher: scan reports contains per occurrence, scan_unique once per id") {
  const std::vector<pattern> ps = {{"a", literal_anchor::contains, false, 7},
                                   {"aa", literal_anchor::contains, false, 8},
                                   {"a", literal_anchor::prefix, false, 9},
                                   {"aaa", literal_anchor::suffix, false, 8}};
  const auto m = build(ps);
  std::vector<std::uint32_t> all;
  m.scan("aaaa", [&](std::uint32_t id) { all.push_back(id); });
  CHECK(std::count(all.begin(), all.end(), 7u) == 4);
  CHECK(std::count(all.begin(), all.end(), 8u) == 4);  // 3 occurrences of aa, 1 suffix
  CHECK(std::count(all.begin(), all.end(), 9u) == 1);
  literal_scan_scratch scratch;
  scratch.prepare(m);
  CHECK(unique_hits_of(m, scratch, "aaaa") == std::vector<std::uint32_t>{7, 8, 9});
  CHECK(unique_hits_of(m, scratch, "bab") == std::vector<std::uint32_t>{7});
  CHECK(unique_hits_of(m, scratch, "") == std::vector<std::uint32_t>{});
}

TEST_CASE("literal matcher: unbuilt and empty matchers report nothing; misuse throws") {
  literal_matcher unbuilt;
  unbuilt.add("a", literal_anchor::contains, false, 1);
  CHECK(hits_of(unbuilt, "a") == ids{});
  literal_matcher none;
  none.build();
  CHECK(none.empty());
  CHECK(hits_of(none, "anything") == ids{});
  CHECK_THROWS_AS(none.add("a", literal_anchor::exact, false, 1), std::logic_error);
  CHECK_THROWS_AS(none.build(), std::logic_error);
  literal_matcher m;
  CHECK_THROWS_AS(m.add("a", literal_anchor::exact, false, std::uint32_t{1} << 31),
                  std::invalid_argument);
}

TEST_CASE("literal matcher: limits bound hostile pattern sets") {
  literal_matcher_limits limits;
  limits.max_pattern_bytes = 100;
  literal_matcher bytes(limits);
  bytes.add(std::string(60, 'a'), literal_anchor::contains, false, 1);
  CHECK_THROWS_AS(bytes.add(std::string(41, 'a'), literal_anchor::contains, false, 2),
                  literal_limit_error);
  bytes.add(std::string(40, 'a'), literal_anchor::contains, false, 3);  // exactly at the limit

  // a, aa, ..., a^k in the automaton: the output spans grow as k^2 / 2.
  limits = {};
  limits.max_filter_bucket_bytes = 0;  // every contains pattern in the automaton
  limits.max_output_entries = 1000;
  literal_matcher outputs(limits);
  for (std::uint32_t k = 1; k <= 100; ++k)
    outputs.add(std::string(k, 'a'), literal_anchor::contains, false, k);
  CHECK_THROWS_AS(outputs.build(), literal_limit_error);

  limits.max_output_entries = 10000;
  limits.max_filter_bucket_bytes = 0;
  literal_matcher fits(limits);
  for (std::uint32_t k = 1; k <= 100; ++k)
    fits.add(std::string(k, 'a'), literal_anchor::contains, false, k);
  fits.build();
  CHECK(fits.output_entries() == 5050);
  CHECK(hits_of(fits, std::string(1000, 'A')).size() == 100);

  // The dense rows stay within their budget however many shallow states exist.
  limits = {};
  limits.max_filter_bucket_bytes = 0;
  limits.max_dense_bytes = 4096;
  literal_matcher dense(limits);
  std::uint32_t id = 0;
  for (int a = 0; a < 256; ++a)
    for (int b = 0; b < 4; ++b) {
      const char p[2] = {static_cast<char>(a), static_cast<char>(b)};
      dense.add(std::string_view(p, 2), literal_anchor::contains, false, id++);
    }
  dense.build();
  CHECK(dense.automaton_dense_states() * dense.byte_classes() * 4 <= 4096);
  CHECK(hits_of(dense, std::string("\xff\x03", 2)) == ids{255 * 4 + 3});
}

TEST_CASE("literal matcher: hostile values are scanned in linear time") {
  std::vector<pattern> ps;
  std::uint32_t id = 0;
  for (int k = 1; k <= 64; ++k)
    ps.push_back({std::string(static_cast<std::size_t>(k), 'a') + "b", literal_anchor::contains,
                  false, id++});
  ps.push_back({std::string(64, 'a'), literal_anchor::prefix, false, id++});
  ps.push_back({std::string(64, 'a'), literal_anchor::suffix, false, id++});
  const auto m = build(ps);
  std::string value(1 << 20, 'a');
  CHECK(hits_of(m, value) == ids{64, 65});
  value.back() = 'b';
  CHECK(hits_of(m, value).size() == 65);  // every a^k b, and the prefix
}

namespace {

/// A random pattern set over a small alphabet with case variants and high bytes.
std::vector<pattern> random_patterns(std::mt19937& rng, const std::string& alphabet) {
  std::uniform_int_distribution<int> count(0, 24), len(0, 6), long_len(7, 24), anchor(0, 3),
      coin(0, 3);
  std::vector<pattern> ps;
  const int n = count(rng);
  for (int i = 0; i < n; ++i) {
    pattern p;
    if (!ps.empty() && coin(rng) == 0) {
      // Derived from an earlier pattern: duplicate, prefix, suffix or case variant.
      const auto& base = ps[std::uniform_int_distribution<std::size_t>(0, ps.size() - 1)(rng)].text;
      const std::size_t cut = std::uniform_int_distribution<std::size_t>(0, base.size())(rng);
      switch (coin(rng)) {
        case 0:
          p.text = base;
          break;
        case 1:
          p.text = base.substr(0, cut);
          break;
        case 2:
          p.text = base.substr(cut);
          break;
        default:
          p.text = base;
          for (char& c : p.text)
            if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
      }
    } else {
      const int l = coin(rng) == 0 ? long_len(rng) : len(rng);  // long: 8-byte compares
      for (int k = 0; k < l; ++k)
        p.text += alphabet[std::uniform_int_distribution<std::size_t>(0, alphabet.size() - 1)(rng)];
    }
    p.anchor = static_cast<literal_anchor>(anchor(rng));
    p.cased = coin(rng) == 0;
    p.id = static_cast<std::uint32_t>(coin(rng) == 0 && i > 0 ? i - 1 : i);  // ids may repeat
    ps.push_back(std::move(p));
  }
  return ps;
}

std::string random_value(std::mt19937& rng, const std::string& alphabet,
                         const std::vector<pattern>& ps) {
  std::uniform_int_distribution<int> len(0, 60), coin(0, 5);
  std::string v;
  const int l = len(rng);
  while (static_cast<int>(v.size()) < l) {
    if (!ps.empty() && coin(rng) == 0) {
      v += ps[std::uniform_int_distribution<std::size_t>(0, ps.size() - 1)(rng)]
               .text;  // plant a pattern
    } else {
      char c = alphabet[std::uniform_int_distribution<std::size_t>(0, alphabet.size() - 1)(rng)];
      if (coin(rng) == 0 && c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
      v += c;
    }
  }
  return v;
}

}  // namespace

TEST_CASE("literal matcher: random pattern sets and values equal the naive reference") {
  const std::vector<std::string> alphabets = {
      "ab", "aAbB", "abc-", std::string("a\0b\xff\x80Z[", 7), "abcdefghijklmnopqrstuvwxyz"};
  literal_scan_scratch scratch;
  int cases = 0, hit_cases = 0;
  for (unsigned seed = 1; seed <= 1500; ++seed) {
    std::mt19937 rng(seed);
    const auto& alphabet = alphabets[seed % alphabets.size()];
    const auto ps = random_patterns(rng, alphabet);
    literal_matcher_limits limits;
    limits.max_dense_depth = seed % 5;  // every dense/sparse split, including root only
    limits.max_dense_bytes = seed % 3 == 0 ? 0 : std::size_t{1} << 20;
    // Gram filters: all patterns (default), none (automaton only), or a few per bucket (the
    // rest in the automaton); tiny filters collide on most grams.
    constexpr std::size_t bucket_bytes[4] = {1024, 0, 6, 24};
    limits.max_filter_bucket_bytes = bucket_bytes[(seed / 5) % 4];
    limits.max_filter_bits = seed % 2 == 0 ? 20 : 6;
    limits.min_filter_pattern_bytes = seed % 7 == 0 ? 16384 : 0;  // mostly: filters at any size
    const auto m = build(ps, limits);
    scratch.prepare(m);
    for (int v = 0; v < 8; ++v) {
      const std::string value = random_value(rng, alphabet, ps);
      const auto expected = naive_hits(ps, value);
      const auto got = hits_of(m, value);
      auto unique = unique_hits_of(m, scratch, value);
      const ids unique_set(unique.begin(), unique.end());
      CHECK(unique_set.size() == unique.size());  // no id twice
      ++cases;
      if (!expected.empty()) ++hit_cases;
      if (got != expected || unique_set != expected) {
        INFO("seed " << seed << " value #" << v);
        CHECK(got == expected);
        CHECK(unique_set == expected);
      }
    }
  }
  CHECK(cases == 12000);
  CHECK(hit_cases > cases / 2);  // the generator plants patterns: most cases hit something
}

TEST_CASE("literal matcher: gram filters verify at candidates, share grams, bound buckets") {
  // Patterns sharing one gram: a bucket takes at most max_filter_bucket_bytes of them, the
  // rest go to the automaton; hits are the same.
  std::vector<pattern> ps;
  for (std::uint32_t k = 0; k < 40; ++k)  // every gram "aaaa"
    ps.push_back({std::string(4 + k, 'a'), literal_anchor::contains, false, k});
  for (std::uint32_t k = 0; k < 100; ++k)
    ps.push_back({"aaaa" + std::to_string(k), literal_anchor::contains, false, 100 + k});
  ps.push_back({"AAAA", literal_anchor::contains, true, 500});
  ps.push_back({"\xe1\xe2\xe3\xe4", literal_anchor::contains, false, 501});
  ps.push_back({"-e", literal_anchor::contains, false, 502});
  ps.push_back({"Z", literal_anchor::contains, false, 503});
  ps.push_back({"xyz", literal_anchor::contains, true, 504});
  literal_matcher_limits limits;
  limits.max_filter_bucket_bytes = 64;
  limits.min_filter_pattern_bytes = 0;
  const auto m = build(ps, limits);
  CHECK(m.filtered_patterns() > 4);
  CHECK(m.filtered_patterns() < ps.size());  // the bucket of "aaaa" overflowed
  CHECK(m.automaton_states() > 1);
  for (const std::string& value :
       {std::string("aaaa17 aaaa199x AAAA aaaa"), std::string(100, 'a'), std::string("aaa"),
        std::string("\xc1\xc2\xc3\xc4"),  // A-D plus 0x80: not letters, no folding
        std::string("\xe1\xe2\xe3\xe4-E z XYZ xyz"), std::string("aaaa1aaaa10aaaa100"),
        std::string("")}) {
    INFO(value);
    CHECK(hits_of(m, value) == naive_hits(ps, value));
  }
  CHECK(hits_of(m, "aaaa17") == ids{0, 101, 117});
  CHECK(hits_of(m, "-E z") == ids{502, 503});
  CHECK(hits_of(m, "XyZ xyz") == ids{503, 504});
  CHECK(hits_of(m, "AaAa") == ids{0});  // not the cased AAAA

  // An occurrence is reported once per position, whichever tier or automaton finds it.
  const std::vector<pattern> repeated = {{"abab", literal_anchor::contains, false, 1},
                                         {"ab", literal_anchor::contains, false, 2},
                                         {"b", literal_anchor::contains, false, 3}};
  literal_matcher_limits always;
  always.min_filter_pattern_bytes = 0;
  const auto r = build(repeated, always);
  CHECK(r.filtered_patterns() == 3);
  CHECK(r.automaton_states() == 1);  // the root only: every pattern filtered
  std::vector<std::uint32_t> all;
  r.scan("ABABAB", [&](std::uint32_t id) { all.push_back(id); });
  CHECK(std::count(all.begin(), all.end(), 1u) == 2);
  CHECK(std::count(all.begin(), all.end(), 2u) == 3);
  CHECK(std::count(all.begin(), all.end(), 3u) == 3);
}

TEST_CASE("literal matcher: small contains sets stay in the automaton") {
  std::vector<pattern> ps = {{"-e", literal_anchor::contains, false, 1},
                             {"powershell", literal_anchor::contains, false, 2}};
  CHECK(build(ps).filtered_patterns() == 0);  // 12 bytes, one short pattern
  literal_matcher_limits limits;
  limits.min_filter_pattern_bytes = 64;
  CHECK(build(ps, limits).filtered_patterns() == 0);
  limits.min_filter_pattern_bytes = 12;
  CHECK(build(ps, limits).filtered_patterns() == 2);
  ps.erase(ps.begin());  // only long patterns: from 1/32 of the threshold
  limits.min_filter_pattern_bytes = 32 * 10;
  CHECK(build(ps, limits).filtered_patterns() == 1);
  limits.min_filter_pattern_bytes = 32 * 11;
  CHECK(build(ps, limits).filtered_patterns() == 0);
  for (const auto& m : {build(ps), build(ps, limits)}) CHECK(hits_of(m, "PowerShell -e") == ids{2});
}

TEST_CASE("literal matcher: realdata CommandLine fragments against the naive reference") {
  const auto root = sigma_test::realdata();
  if (root.empty()) {
    MESSAGE("realdata absent: skipped");
    return;
  }
  literal_matcher_limits always_filters;
  always_filters.min_filter_pattern_bytes = 0;
  // `- '...'` list items under a `CommandLine|contains` key: a small line-based scan.
  std::vector<pattern> ps;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root / "sigma")) {
    if (entry.path().extension() != ".yml") continue;
    std::ifstream in(entry.path());
    std::string line;
    bool in_list = false;
    while (std::getline(in, line)) {
      const auto key = line.find("CommandLine|contains");
      if (key != std::string::npos) {
        in_list = line.find(':', key) != std::string::npos;
        continue;
      }
      const auto dash = line.find("- '");
      if (in_list && dash != std::string::npos && line.size() > dash + 4 && line.back() == '\'') {
        ps.push_back({line.substr(dash + 3, line.size() - dash - 4), literal_anchor::contains,
                      false, static_cast<std::uint32_t>(ps.size())});
      } else if (line.find(':') != std::string::npos) {
        in_list = false;
      }
    }
  }
  const auto m = build(ps, always_filters);
  literal_matcher_limits automaton_only;
  automaton_only.max_filter_bucket_bytes = 0;
  const auto a = build(ps, automaton_only);
  CHECK(m.filtered_patterns() > ps.size() / 2);  // distinct ones; none left to the automaton
  CHECK(m.automaton_states() == 1);
  int values = 0;
  for (const auto& entry : std::filesystem::directory_iterator(root / "sysmon")) {
    if (entry.path().extension() != ".jsonl") continue;
    std::ifstream in(entry.path());
    std::string line;
    while (std::getline(in, line)) {
      const auto at = line.find("\"CommandLine\":\"");
      if (at == std::string::npos) continue;
      const auto end = line.find("\",\"", at + 15);
      const std::string value = line.substr(at + 15, end - at - 15);  // JSON-escaped: fine here
      const auto expected = naive_hits(ps, value);
      CHECK(hits_of(m, value) == expected);
      CHECK(hits_of(a, value) == expected);
      ++values;
    }
  }
  MESSAGE(ps.size() << " fragments, " << values << " values, " << m.memory_bytes() << " bytes");
  CHECK(values > 0);
}
