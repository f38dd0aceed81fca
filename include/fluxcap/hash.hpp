// Hash policies: how column values become 64-bit hashes, and how those combine
// with per-tag seeds into memory keys.
//
// Column values (process ids, host names) come from machines an attacker may control.
// With an unkeyed hash anyone can compute many values with one hash, and so forge a
// detection (a child inherits from a parent it does not have) or slow every lookup of
// a group. The default hash is therefore keyed: SipHash-1-3 under a secret 128-bit key
// drawn at random for each new state and kept in the saved state (docs/memory.md,
// "Keyed hashing").
//
// Requirements on a hash policy `H` (see docs/concepts.md):
//   H is default-constructible and copyable;
//   `h(std::string_view) -> std::uint64_t`, deterministic for one H object (states are
//   persisted), and noexcept in practice.
//   Optionally `using is_avalanching = void;` declares that every output bit depends
//   on every input bit; otherwise fluxcap mixes the result once more.
//   Optionally keyed (keyed_hash_policy): constructible from a hash_key, with
//   `h.key() -> hash_key`; save_store then keeps the key in the state file. A policy
//   that is not keyed is unsafe against hostile input.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>

#include <array>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <string_view>

FLUXCAP_BEGIN_NAMESPACE

/// The secret of a keyed hash: 128 bits. Whoever knows it can compute collisions, so it
/// is as confidential as the state file that keeps it.
struct hash_key {
  std::uint64_t k0 = 0;
  std::uint64_t k1 = 0;

  /// A fresh key from the system's random source (std::random_device: getrandom or
  /// the CPU's generator on Linux).
  [[nodiscard]] static hash_key random() {
    std::random_device rd;
    auto word = [&rd] {
      return (std::uint64_t{rd()} << 32) ^ std::uint64_t{rd()};  // rd() yields 32 bits
    };
    hash_key k;
    k.k0 = word();
    k.k1 = word();
    return k;
  }

  friend bool operator==(const hash_key&, const hash_key&) = default;
};

namespace detail {

// Odd 64-bit constants with about half their bits set (from the digits of pi and e,
// and the golden ratio), used as multipliers and whiteners.
inline constexpr std::uint64_t hk0 = 0x9e3779b97f4a7c15ULL;
inline constexpr std::uint64_t hk1 = 0x243f6a8885a308d3ULL;
inline constexpr std::uint64_t hk2 = 0xb7e151628aed2a6bULL;
inline constexpr std::uint64_t hk3 = 0x13198a2e03707345ULL;
inline constexpr std::uint64_t hk4 = 0xa4093822299f31d1ULL;

/// Full 64x64->128 multiply: returns the low half, stores the high half in `hi`.
[[nodiscard]] inline std::uint64_t mul128(std::uint64_t a, std::uint64_t b,
                                          std::uint64_t& hi) noexcept {
#if defined(__SIZEOF_INT128__)
  __extension__ using u128 = unsigned __int128;
  const u128 r = static_cast<u128>(a) * b;
  hi = static_cast<std::uint64_t>(r >> 64);
  return static_cast<std::uint64_t>(r);
#else
  // Portable schoolbook version on 32-bit halves.
  const std::uint64_t a_lo = a & 0xffffffffU, a_hi = a >> 32;
  const std::uint64_t b_lo = b & 0xffffffffU, b_hi = b >> 32;
  const std::uint64_t p0 = a_lo * b_lo, p1 = a_lo * b_hi, p2 = a_hi * b_lo, p3 = a_hi * b_hi;
  const std::uint64_t mid = (p0 >> 32) + (p1 & 0xffffffffU) + (p2 & 0xffffffffU);
  hi = p3 + (p1 >> 32) + (p2 >> 32) + (mid >> 32);
  return (mid << 32) | (p0 & 0xffffffffU);
#endif
}

/// High half of a 64x64 multiply: maps `x` uniformly onto [0, n) ("fastrange").
[[nodiscard]] inline std::uint64_t mul_high(std::uint64_t x, std::uint64_t n) noexcept {
  std::uint64_t hi;
  (void)mul128(x, n, hi);
  return hi;
}

/// 64x64->128 multiply, folded by xor: the core mixing step (as in wyhash, mum-hash).
[[nodiscard]] inline std::uint64_t fold_mul(std::uint64_t a, std::uint64_t b) noexcept {
  std::uint64_t hi;
  const std::uint64_t lo = mul128(a, b, hi);
  return lo ^ hi;
}

/// A bijective finalizer (Stafford's "mix13" variant of MurmurHash3's fmix64).
[[nodiscard]] constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

/// Little-endian loads, so hashes (and persisted states) are the same on every machine.
[[nodiscard]] inline std::uint64_t load_le64(const char* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}
[[nodiscard]] inline std::uint64_t load_le32(const char* p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap32(v);
  return v;
}

/// One 16-byte stripe at `p` folded into `h` (keys `k0`, `k1`): the step of hash_bytes'
/// loop (and of each lane of hash_bytes_lanes').
[[nodiscard]] inline std::uint64_t fold_stripe(std::uint64_t h, const char* p, std::uint64_t k0,
                                               std::uint64_t k1) noexcept {
  return fold_mul(load_le64(p) ^ k0, load_le64(p + 8) ^ h ^ k1) ^ std::rotl(h, 29);
}

/// fluxcap's own byte-string hash: 16-byte stripes folded through 128-bit
/// multiplies, the tail read with overlapping loads, then a final fold.
/// Each step keeps the previous state (xor of a rotation), so a stripe that
/// multiplies to zero cannot erase what came before.
[[nodiscard]] inline std::uint64_t hash_bytes(const char* p, std::size_t n,
                                              std::uint64_t seed = 0) noexcept {
  std::uint64_t h = seed ^ fold_mul(static_cast<std::uint64_t>(n) ^ hk0, hk1);
  const std::size_t len = n;
  while (n > 16) {
    h = fold_stripe(h, p, hk2, hk3);
    p += 16;
    n -= 16;
  }
  std::uint64_t a = 0;
  std::uint64_t b = 0;
  if (n >= 8) {
    a = load_le64(p);
    b = load_le64(p + n - 8);
  } else if (n >= 4) {
    a = load_le32(p);
    b = load_le32(p + n - 4);
  } else if (n > 0) {
    const auto c0 = static_cast<unsigned char>(p[0]);
    const auto c1 = static_cast<unsigned char>(p[n / 2]);
    const auto c2 = static_cast<unsigned char>(p[n - 1]);
    a = (std::uint64_t{c0} << 16) | (std::uint64_t{c1} << 8) | c2;
  }
  h = fold_mul(a ^ hk2 ^ h, b ^ hk4) ^ std::rotl(h, 29);
  return fold_mul(h ^ hk3, static_cast<std::uint64_t>(len) ^ hk1 ^ std::rotl(h, 17));
}

/// hash_bytes' stripes in two independent lanes of 32 bytes, joined before the tail:
/// a stripe waits only for its own lane's last multiply, so long values hash in about
/// half the time. Not hash_bytes' values, and never persisted: only the Sigma engine's
/// value memo, whose hashes live as long as its process, uses it.
[[nodiscard]] inline std::uint64_t hash_bytes_lanes(const char* p, std::size_t n,
                                                    std::uint64_t seed) noexcept {
  if (n <= 32) return hash_bytes(p, n, seed);
  std::uint64_t a = seed ^ fold_mul(static_cast<std::uint64_t>(n) ^ hk0, hk1);
  std::uint64_t b = seed ^ fold_mul(static_cast<std::uint64_t>(n) ^ hk3, hk4);
  while (n > 32) {
    a = fold_stripe(a, p, hk2, hk3);
    b = fold_stripe(b, p + 16, hk4, hk1);
    p += 32;
    n -= 32;
  }
  return hash_bytes(p, n, a ^ std::rotl(b, 31));
}

/// SipHash-C-D (Aumasson and Bernstein, "SipHash: a fast short-input PRF", INDOCRYPT
/// 2012) of `n` bytes under `key`: a pseudorandom function, so without the key nobody
/// can find two inputs with one output faster than by trying about 2^64 of them (or
/// learn the key from outputs). C = 1, D = 3 is the variant Python and Rust hash their
/// tables with; 2-4 is the paper's conservative one (tests check both against
/// published vectors).
/// SipHash's state: key setup, C compression rounds a word, and the message absorbed
/// with its length byte (shared by the 64- and 128-bit outputs).
template <int C>
struct siphash_state {
  std::uint64_t v0, v1, v2, v3;

  /// `wide`: the 128-bit output variant, whose key setup differs.
  siphash_state(const hash_key& key, bool wide) noexcept
      : v0(key.k0 ^ 0x736f6d6570736575ULL),  // "somepseudorandomlygeneratedbytes"
        v1(key.k1 ^ 0x646f72616e646f6dULL ^ (wide ? 0xeeULL : 0ULL)),
        v2(key.k0 ^ 0x6c7967656e657261ULL),
        v3(key.k1 ^ 0x7465646279746573ULL) {}

  void rounds(int count) noexcept {
    for (int i = 0; i < count; ++i) {
      v0 += v1;
      v1 = std::rotl(v1, 13);
      v1 ^= v0;
      v0 = std::rotl(v0, 32);
      v2 += v3;
      v3 = std::rotl(v3, 16);
      v3 ^= v2;
      v0 += v3;
      v3 = std::rotl(v3, 21);
      v3 ^= v0;
      v2 += v1;
      v1 = std::rotl(v1, 17);
      v1 ^= v2;
      v2 = std::rotl(v2, 32);
    }
  }

  void absorb(const char* p, std::size_t n) noexcept {
    const std::uint64_t length_byte = static_cast<std::uint64_t>(n) << 56;
    for (; n >= 8; n -= 8, p += 8) {
      const std::uint64_t m = load_le64(p);
      v3 ^= m;
      rounds(C);
      v0 ^= m;
    }
    // The last 0-7 bytes, little-endian, under the length's low byte (overlapping loads
    // put each byte at its own place, so or-ing them is exact).
    std::uint64_t b = length_byte;
    if (n >= 4) {
      b |= load_le32(p) | (std::uint64_t{load_le32(p + n - 4)} << (8 * (n - 4)));
    } else if (n > 0) {
      b |= std::uint64_t{static_cast<unsigned char>(p[0])};
      b |= std::uint64_t{static_cast<unsigned char>(p[n / 2])} << (8 * (n / 2));
      b |= std::uint64_t{static_cast<unsigned char>(p[n - 1])} << (8 * (n - 1));
    }
    v3 ^= b;
    rounds(C);
    v0 ^= b;
  }

  [[nodiscard]] std::uint64_t word() const noexcept { return v0 ^ v1 ^ v2 ^ v3; }
};

/// SipHash-C-D (Aumasson and Bernstein, "SipHash: a fast short-input PRF", INDOCRYPT
/// 2012) of `n` bytes under `key`: a pseudorandom function, so without the key nobody
/// can find two inputs with one output faster than by trying about 2^64 of them (or
/// learn the key from outputs). C = 1, D = 3 is the variant Python and Rust hash their
/// tables with; 2-4 is the paper's conservative one (tests check both against
/// published vectors).
template <int C, int D>
[[nodiscard]] inline std::uint64_t siphash(const hash_key& key, const char* p,
                                           std::size_t n) noexcept {
  siphash_state<C> s(key, false);
  s.absorb(p, n);
  s.v2 ^= 0xff;
  s.rounds(D);
  return s.word();
}

/// SipHash-C-D's 128-bit output (the reference implementation's `outlen == 16`; tests
/// check 2-4 against its vectors): {first 8 bytes, last 8 bytes} as little-endian words.
/// For fingerprints that must not collide by accident (about n^2 / 2^129 for n inputs)
/// nor by design (the key is secret).
template <int C, int D>
[[nodiscard]] inline std::array<std::uint64_t, 2> siphash128(const hash_key& key, const char* p,
                                                             std::size_t n) noexcept {
  siphash_state<C> s(key, true);
  s.absorb(p, n);
  s.v2 ^= 0xee;
  s.rounds(D);
  const std::uint64_t first = s.word();
  s.v1 ^= 0xdd;
  s.rounds(D);
  return {first, s.word()};
}

/// First half of `combine`, done once per column value and event so that each
/// key costs one multiply: prepare(v) mixes the value hash.
[[nodiscard]] constexpr std::uint64_t prepare(std::uint64_t value) noexcept {
  return mix64(value ^ hk4);
}

/// Second half of `combine`: folds a seed with a prepared value.
[[nodiscard]] inline std::uint64_t combine_prepared(std::uint64_t seed,
                                                    std::uint64_t prepared) noexcept {
  return fold_mul(seed ^ hk0, prepared);
}

/// Combines a seed (a tag's, or a partial key) with a value hash into a key hash.
/// Not symmetric: combine(a, b) and combine(b, a) differ.
[[nodiscard]] inline std::uint64_t combine(std::uint64_t seed, std::uint64_t value) noexcept {
  return combine_prepared(seed, prepare(value));
}

/// Stands for "null or missing" in a context key, so that NULL is its own group.
inline constexpr std::uint64_t null_value_hash = 0x6e756c6c5f6b6579ULL;  // "null_key"

}  // namespace detail

/// The default hash policy: SipHash-1-3 under a secret key. Default construction draws
/// a fresh random key; pass the key a state was saved with to continue it
/// (stored_hash_key in serialize.hpp reads it back from a state file).
class default_hash {
 public:
  using is_avalanching = void;

  default_hash() : key_(hash_key::random()) {}
  explicit default_hash(const hash_key& key) noexcept : key_(key) {}

  [[nodiscard]] std::uint64_t operator()(std::string_view s) const noexcept {
    return detail::siphash<1, 3>(key_, s.data(), s.size());
  }
  [[nodiscard]] const hash_key& key() const noexcept { return key_; }

 private:
  hash_key key_;
};

/// The hasher of unordered containers whose string keys come from the input (host
/// names, group keys): default_hash under its own random key (unless given one), with
/// heterogeneous lookup by std::string_view. An unkeyed hash would let crafted keys
/// collide and make every lookup linear.
struct keyed_string_hash : default_hash {
  using is_transparent = void;
  using default_hash::default_hash;

  [[nodiscard]] std::size_t operator()(std::string_view s) const noexcept {
    return static_cast<std::size_t>(default_hash::operator()(s));
  }
};

/// fluxcap's unkeyed hash (the default of fluxcap 0.1): fast, well mixed, and the same
/// everywhere, but anyone can compute inputs that collide. For trusted input, and to
/// read states saved by fluxcap 0.1; never for events an attacker can write.
struct unkeyed_hash {
  using is_avalanching = void;

  [[nodiscard]] std::uint64_t operator()(std::string_view s) const noexcept {
    return detail::hash_bytes(s.data(), s.size());
  }
};

/// A hash policy: maps column values (and names) to 64-bit hashes.
template <class H>
concept hash_policy = std::default_initializable<H> && std::copy_constructible<H> &&
    requires(const H& h, std::string_view s) {
  { h(s) } -> std::same_as<std::uint64_t>;
};

/// A hash policy keyed by a secret (default_hash): made from a hash_key, and tells its
/// key so that a saved state can keep it.
template <class H>
concept keyed_hash_policy = hash_policy<H> && std::constructible_from<H, const hash_key&> &&
    requires(const H& h) {
  { h.key() } -> std::convertible_to<hash_key>;
};

/// A hash policy object under `key` when `H` is keyed, else `H{}` (which has no key).
template <hash_policy H>
[[nodiscard]] H make_hash(const hash_key& key) {
  if constexpr (keyed_hash_policy<H>)
    return H(key);
  else
    return H{};
}

/// True when `H` declares `is_avalanching`; fluxcap then skips its extra mixing step.
template <class H>
inline constexpr bool hash_is_avalanching = requires {
  typename H::is_avalanching;
};

namespace detail {

/// Applies `h` and, unless it claims to avalanche, a finalizer.
template <hash_policy H>
[[nodiscard]] std::uint64_t hash_value(const H& h, std::string_view s) noexcept {
  if constexpr (hash_is_avalanching<H>)
    return h(s);
  else
    return mix64(h(s));
}

/// A per-tag seed: the hash of the rule and tag names, length-prefixed so that
/// ("a.b", "c") and ("a", "b.c") differ.
template <hash_policy H>
[[nodiscard]] std::uint64_t tag_seed(const H& h, std::string_view rule, std::string_view tag) {
  return combine(combine(hash_value(h, rule) ^ rule.size(), hash_value(h, tag)),
                 static_cast<std::uint64_t>(tag.size()) ^ hk2);
}

/// Identifies a hash policy's behaviour: states remember it, so a state built with
/// one hash function is not silently read back with another.
template <hash_policy H>
[[nodiscard]] std::uint64_t hash_fingerprint(const H& h) {
  return hash_value(h, R"(fluxcap/hash-fingerprint/v1: C:\Windows\System32\cmd.exe 4242)");
}

}  // namespace detail

FLUXCAP_END_NAMESPACE
