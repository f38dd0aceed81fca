// The default hash (pinned values, avalanche, collisions, distribution), tag seeds, and
// a user hash policy end to end (the concepts are checked in test_concepts.cpp).
#include <fluxcap/fluxcap.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "harness.hpp"

using namespace fluxcap;

namespace {

using fluxcap_test::numbered;

/// Chi-square statistic of `values` bucketed by `bucket(value)` into `buckets` buckets.
template <class Bucket>
double chi_square(const std::vector<std::uint64_t>& values, std::size_t buckets, Bucket bucket) {
  std::vector<std::uint64_t> count(buckets, 0);
  for (const auto v : values) ++count[bucket(v)];
  const double expected = static_cast<double>(values.size()) / static_cast<double>(buckets);
  double chi = 0;
  for (const auto c : count) {
    const double d = static_cast<double>(c) - expected;
    chi += d * d / expected;
  }
  return chi;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// default_hash

TEST_CASE("SipHash matches the published vectors (2-4: the paper's; 1-3: CPython's)") {
  // The paper's key 00..0f and messages 00, 00 01, ...; its appendix gives length 15.
  const hash_key key{0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
  char m[64];
  for (int i = 0; i < 64; ++i) m[i] = static_cast<char>(i);
  CHECK(detail::siphash<2, 4>(key, m, 0) == 0x726fdb47dd0e0e31ULL);
  CHECK(detail::siphash<2, 4>(key, m, 1) == 0x74f839c593dc67fdULL);
  CHECK(detail::siphash<2, 4>(key, m, 7) == 0xab0200f58b01d137ULL);
  CHECK(detail::siphash<2, 4>(key, m, 8) == 0x93f5f5799a932462ULL);
  CHECK(detail::siphash<2, 4>(key, m, 15) == 0xa129ca6149be45e5ULL);
  CHECK(detail::siphash<2, 4>(key, m, 63) == 0x958a324ceb064572ULL);
  // SipHash-1-3 under the zero key is CPython's bytes hash with PYTHONHASHSEED=0
  // (`hash(b"abc") & (2**64 - 1)`, Python 3.11, sys.hash_info.algorithm 'siphash13').
  const hash_key zero{};
  auto sip13 = [&](std::string_view s) { return detail::siphash<1, 3>(zero, s.data(), s.size()); };
  CHECK(sip13("a") == 4644417185603328019ULL);
  CHECK(sip13("abc") == 13851880170939887858ULL);
  CHECK(sip13("abcdefgh") == 4574395652268504554ULL);
  CHECK(sip13("hello world!!") == 9843945558028606965ULL);
  CHECK(sip13("{3F2504E0-4F89-11D3-9A0C-0305E82C3301}") == 4674700361669017631ULL);
  // default_hash is SipHash-1-3 under its key.
  CHECK(default_hash(zero)("abc") == 13851880170939887858ULL);
  CHECK(default_hash(key)("abc") == detail::siphash<1, 3>(key, "abc", 3));
}

TEST_CASE("SipHash-2-4-128 matches the reference implementation's vectors") {
  // veorq/SipHash vectors.h, vectors_sip128: key 00..0f, message 00..(i-1); the 16
  // output bytes are two little-endian words.
  const hash_key key{0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
  char m[64];
  for (int i = 0; i < 64; ++i) m[i] = static_cast<char>(i);
  using words = std::array<std::uint64_t, 2>;
  CHECK(detail::siphash128<2, 4>(key, m, 0) == words{0xe6a825ba047f81a3ULL, 0x930255c71472f66dULL});
  CHECK(detail::siphash128<2, 4>(key, m, 1) == words{0x44af996bd8c187daULL, 0x45fc229b11597634ULL});
  CHECK(detail::siphash128<2, 4>(key, m, 2) == words{0xc75da4a48d227781ULL, 0xe4ff0af6de8ba3fcULL});
  CHECK(detail::siphash128<2, 4>(key, m, 3) == words{0x4ea967520cb6709cULL, 0x51ed8529b0b6335fULL});
  CHECK(detail::siphash128<2, 4>(key, m, 4) == words{0xaf8f9c2dc16481f8ULL, 0x7955cd7b7c6e0f7dULL});
  // The 64-bit and 128-bit outputs are different functions.
  CHECK(detail::siphash128<1, 3>(key, m, 8)[0] != detail::siphash<1, 3>(key, m, 8));
}

TEST_CASE("default_hash is keyed: a fresh key each time, the same answers under one key") {
  const default_hash a;
  const default_hash b;
  CHECK(a.key() != b.key());  // 2^-128 to fail
  CHECK(a("host-1") != b("host-1"));
  const default_hash a2(a.key());
  CHECK(a2("host-1") == a("host-1"));
  CHECK(detail::hash_fingerprint(a2) == detail::hash_fingerprint(a));
  CHECK(detail::hash_fingerprint(a) != detail::hash_fingerprint(b));
}

TEST_CASE("unkeyed_hash (fluxcap 0.1's default) is pinned: its saved states depend on it") {
  // A change here silently invalidates every state fluxcap 0.1 saved (the hash
  // fingerprint would reject them).
  const unkeyed_hash h;
  CHECK(h("") == 0x63dfda6f255f01beULL);
  CHECK(h("a") == 0xd92c4bf1de294592ULL);
  CHECK(h("1234") == 0x77267df7544df66eULL);
  CHECK(h(R"(C:\Windows\System32\cmd.exe)") == 0x0c0e2f4cda59dbb1ULL);
  CHECK(h("{3F2504E0-4F89-11D3-9A0C-0305E82C3301}") == 0xc797eef8e8de658aULL);
  CHECK(detail::hash_fingerprint(h) == 0x17d64d92fafa5350ULL);
  // Key derivation: tag seed, then one combine per key column (or a constant).
  CHECK(detail::tag_seed(h, "rule4", "f") == 0x276df33d66e1a72aULL);
  CHECK(detail::combine(detail::tag_seed(h, "rule4", "f"), h("3")) == 0x15be9c2fbef5e241ULL);
  CHECK(detail::combine(detail::tag_seed(h, "rule5", "a"), detail::hk3) == 0x8145682395a3d10dULL);
}

TEST_CASE("the flux capacitor stores exactly the pinned key (unkeyed_hash)") {
  const program prog = compile(spec{parent_rule("rule4", "ppid", "pid", {"f"})});
  dense_schema schema(prog);
  flux_capacitor<dense_accessor, exact_memory, unkeyed_hash> cap(prog, dense_accessor(schema));
  group_state state = cap.make_state();
  dense_event e(schema);
  e.set_tag(0, true);
  e.set_column(*schema.column_index("pid"), std::string_view("3"));
  cap.update(state, e);
  REQUIRE(state.generation_count() == 1);
  const generation& g = state.generation_at(0);
  REQUIRE(g.count() == 1);
  const std::span<const std::uint64_t> words(g.words(), g.size_words());
  CHECK(std::count(words.begin(), words.end(), 0x15be9c2fbef5e241ULL) == 1);
  CHECK(state.contains(0x15be9c2fbef5e241ULL));
}

namespace {

/// Flip counts [input bit][output bit] of `h` (default_hash unless given) over `inputs`
/// of one length.
template <class Hash = default_hash>
std::vector<std::uint32_t> flip_counts(const std::vector<std::string>& inputs, Hash h = Hash{}) {
  const std::size_t len = inputs.front().size();
  std::vector<std::uint32_t> flips(len * 8 * 64, 0);
  for (std::string input : inputs) {
    const std::uint64_t base = h(input);
    for (std::size_t bit = 0; bit < len * 8; ++bit) {
      input[bit / 8] = static_cast<char>(input[bit / 8] ^ (1 << (bit % 8)));
      const std::uint64_t diff = base ^ h(input);
      input[bit / 8] = static_cast<char>(input[bit / 8] ^ (1 << (bit % 8)));
      std::uint32_t* row = flips.data() + bit * 64;
      for (unsigned ob = 0; ob < 64; ++ob) row[ob] += static_cast<std::uint32_t>((diff >> ob) & 1U);
    }
  }
  return flips;
}

/// Largest |p - 0.5| over all (input bit, output bit) pairs, and where.
double worst_deviation(const std::vector<std::uint32_t>& flips, std::size_t samples,
                       std::string& where) {
  double worst = 0;
  for (std::size_t i = 0; i < flips.size(); ++i) {
    const double p = static_cast<double>(flips[i]) / static_cast<double>(samples);
    if (std::abs(p - 0.5) > worst) {
      worst = std::abs(p - 0.5);
      where = "input bit " + std::to_string(i / 64) + ", output bit " + std::to_string(i % 64) +
              ": p = " + std::to_string(p);
    }
  }
  return worst;
}

/// The largest deviation of `h` over `samples` random inputs of each length, and where.
template <std::size_t N, class Hash>
double worst_over_lengths(const std::size_t (&lengths)[N], std::size_t samples,
                          std::mt19937_64& rng, Hash h, std::string& worst_at) {
  double worst = 0;
  for (const std::size_t len : lengths) {
    std::vector<std::string> inputs(samples, std::string(len, '\0'));
    for (auto& in : inputs)
      for (auto& c : in) c = static_cast<char>(rng());
    std::string where;
    const double w = worst_deviation(flip_counts(inputs, h), samples, where);
    if (w > worst) {
      worst = w;
      worst_at = "length " + std::to_string(len) + ", " + where;
    }
  }
  return worst;
}

}  // namespace

TEST_CASE("default_hash avalanches: every input bit flips every output bit with p = 0.5 +- 0.05") {
  // Lengths covering every path of hash_bytes: 2-3 (byte gather), 4-7, 8-16 (overlapping
  // loads), and >16 with every kind of tail after the 16-byte stripes.
  const std::size_t lengths[] = {2,  3,  4,  5,  6,  7,  8,  9,  12, 15, 16,
                                 17, 20, 24, 31, 32, 33, 40, 48, 63, 64};
  // 4000 random inputs per length: each flip probability is estimated with standard
  // deviation 0.5/sqrt(4000) = 0.0079, so 0.05 is 6.3 sigma; over the ~230000 (input bit,
  // output bit) pairs the largest deviation of an ideal hash is expected near 5.1 sigma.
  std::mt19937_64 rng(2024);
  std::string worst_at;
  const double worst = worst_over_lengths(lengths, 4000, rng, default_hash{}, worst_at);
  MESSAGE("largest deviation from 0.5: " << worst << " (" << worst_at << ")");
  CHECK(worst <= 0.05);

  // Length 1 has only 256 inputs, i.e. 128 distinct pairs per input bit: even an ideal
  // random function deviates by about 3.7 * 0.5/sqrt(128) = 0.16 somewhere among the 512
  // pairs, so 0.05 cannot be asked of it. All 256 inputs, with a 5-sigma margin (0.22).
  std::vector<std::string> all_bytes;
  for (int c = 0; c < 256; ++c) all_bytes.emplace_back(1, static_cast<char>(c));
  std::string where;
  const double w1 = worst_deviation(flip_counts(all_bytes), 256, where);
  MESSAGE("length 1 (exhaustive): largest deviation " << w1 << " (" << where << ")");
  CHECK(w1 <= 5 * 0.5 / std::sqrt(128.0));
}

TEST_CASE(
    "hash_bytes_lanes (the value memo's hash): hash_bytes up to 32 bytes; avalanches beyond") {
  using fluxcap::detail::hash_bytes;
  using fluxcap::detail::hash_bytes_lanes;
  std::mt19937_64 rng(77);
  std::string text(300, '\0');
  for (auto& c : text) c = static_cast<char>(rng());
  for (std::size_t n = 0; n <= 32; ++n)
    CHECK(hash_bytes_lanes(text.data(), n, 5) == hash_bytes(text.data(), n, 5));
  // Beyond 32 bytes its own function: the seed, the length and every lane count.
  for (const std::size_t n : {33, 64, 65, 100, 300}) {
    CAPTURE(n);
    CHECK(hash_bytes_lanes(text.data(), n, 5) != hash_bytes(text.data(), n, 5));
    CHECK(hash_bytes_lanes(text.data(), n, 5) != hash_bytes_lanes(text.data(), n, 6));
    CHECK(hash_bytes_lanes(text.data(), n, 5) == hash_bytes_lanes(text.data(), n, 5));
  }
  // One and several 32-byte stripes (both lanes), with tails of 1, 8, 16, 31, 32, 2 bytes;
  // 4000 inputs each, the same bound as default_hash's (6.3 sigma).
  const std::size_t lengths[] = {33, 40, 48, 63, 64, 65, 97, 130};
  const auto lanes = [](std::string_view s) { return hash_bytes_lanes(s.data(), s.size(), 11); };
  std::string worst_at;
  const double worst = worst_over_lengths(lengths, 4000, rng, lanes, worst_at);
  MESSAGE("largest deviation from 0.5: " << worst << " (" << worst_at << ")");
  CHECK(worst <= 0.05);
}

TEST_CASE("default_hash: no collisions among 1.6 million realistic keys; uniform buckets") {
  const default_hash h;
  std::vector<std::uint64_t> ids;
  ids.reserve(1000000);
  for (std::uint64_t i = 1; i <= 1000000; ++i) ids.push_back(h(std::to_string(i)));

  std::vector<std::uint64_t> all = ids;
  std::mt19937_64 rng(99);
  char guid[40];
  for (int i = 0; i < 300000; ++i) {
    const std::uint64_t a = rng();
    const std::uint64_t b = rng();
    std::snprintf(guid, sizeof guid, "{%08X-%04X-%04X-%04X-%012llX}",
                  static_cast<unsigned>(a >> 32), static_cast<unsigned>((a >> 16) & 0xffff),
                  static_cast<unsigned>(a & 0xffff), static_cast<unsigned>(b >> 48),
                  static_cast<unsigned long long>(b & 0xffffffffffffULL));
    all.push_back(h(guid));
  }
  for (std::uint64_t i = 0; i < 200000; ++i)
    all.push_back(h(numbered(R"(C:\Windows\Temp\file_)", i, ".tmp")));
  for (std::uint64_t i = 0; i < 100000; ++i)
    all.push_back(h(numbered(R"(C:\Users\user)", i % 50, R"(\AppData\Local\Temp\)") +
                    std::to_string(i) + ".dll"));

  std::vector<std::uint64_t> sorted = all;
  std::sort(sorted.begin(), sorted.end());
  CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());

  // Chi-square over 65536 buckets (df = 65535, sd = sqrt(2 df) = 362): within 6 sd.
  const double df = 65535;
  const double limit = 6 * std::sqrt(2 * df);
  for (const auto* set : {&ids, &all}) {
    const double low = chi_square(*set, 65536, [](std::uint64_t v) { return v & 0xffff; });
    const double high = chi_square(*set, 65536, [](std::uint64_t v) { return v >> 48; });
    const double mid = chi_square(*set, 65536, [](std::uint64_t v) { return (v >> 24) & 0xffff; });
    MESSAGE(set->size() << " keys: chi-square low " << low << ", mid " << mid << ", high " << high
                        << " (df " << df << ")");
    CHECK(std::abs(low - df) < limit);
    CHECK(std::abs(high - df) < limit);
    CHECK(std::abs(mid - df) < limit);
  }
}

TEST_CASE("tag seeds separate rule and tag names unambiguously") {
  const default_hash h;
  auto seed = [&](std::string_view r, std::string_view t) { return detail::tag_seed(h, r, t); };
  CHECK(seed("a.b", "c") != seed("a", "b.c"));
  CHECK(seed("ab", "c") != seed("a", "bc"));
  CHECK(seed("abc", "") != seed("", "abc"));
  CHECK(seed("a", "b") != seed("b", "a"));
  CHECK(seed("rule1", "a") != seed("rule1", "b"));
  CHECK(seed("rule1", "a") == seed("rule1", "a"));
  // combine is not symmetric and keys of different columns counts differ.
  CHECK(detail::combine(1, 2) != detail::combine(2, 1));
  const std::uint64_t s = seed("r", "t");
  CHECK(detail::combine(detail::combine(s, h("ab")), h("c")) !=
        detail::combine(detail::combine(s, h("a")), h("bc")));
}

using fluxcap_test::user_hash;

TEST_CASE_TEMPLATE("a user hash policy gives the same answers as the default one", Memory,
                   FLUXCAP_MEMORY_POLICIES) {
  const spec s{ancestor_rule("anc", "ppid", "pid", {"f"}),
               temporal_rule("t", {"a", "b"}).with_ordered().with_groupby({"folder"})};
  const program prog = compile(s);
  dense_schema schema(prog);
  flux_capacitor<dense_accessor, Memory> def(prog, dense_accessor(schema));
  flux_capacitor<dense_accessor, Memory, user_hash> usr(prog, dense_accessor(schema));
  CHECK(detail::hash_fingerprint(def.hash()) != detail::hash_fingerprint(usr.hash()));
  group_state sd = def.make_state();
  group_state su = usr.make_state();
  std::mt19937_64 rng(5);
  std::size_t mismatches = 0;
  for (std::uint64_t i = 1; i <= 2000; ++i) {
    const std::string pid = std::to_string(i);
    const std::string ppid = std::to_string(1 + rng() % i);
    const std::string folder = numbered("F", rng() % 5);
    dense_event a(schema);
    for (std::size_t t = 0; t < schema.tag_count(); ++t) a.set_tag(t, rng() % 8 == 0);
    a.set_column(*schema.column_index("pid"), std::string_view(pid));
    a.set_column(*schema.column_index("ppid"), std::string_view(ppid));
    a.set_column(*schema.column_index("folder"), std::string_view(folder));
    dense_event b = a;
    def.update(sd, a);
    usr.update(su, b);
    for (std::size_t t = 0; t < schema.tag_count(); ++t) mismatches += a.tag(t) != b.tag(t);
  }
  CHECK(mismatches == 0);
  CHECK(sd.stored() == su.stored());
}
