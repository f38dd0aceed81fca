// IP addresses and CIDR blocks for the `cidr` modifier (design section 5.2).
//
// - IPv4: a strict dotted quad: four decimal parts 0-255, 1-3 digits, no leading zero
//   (`010.0.0.1` is refused, as Python's ipaddress does since 3.9.5).
// - IPv6: RFC 4291 section 2.2 text: eight groups of 1-4 hex digits, one `::` standing for
//   one or more zero groups, an embedded dotted quad in the last 32 bits. No zone
//   (`%eth0`), no brackets, no prefix.
// - An IPv4-mapped address (`::ffff:a.b.c.d`, in any spelling) counts as IPv4: bytes
//   are always the 16-byte form, IPv4 as `::ffff:a.b.c.d`, and `v4` says which family.
// - A block contains addresses of its own family only (a v4 block v4 addresses, mapped
//   ones included; a v6 block the others): `::/0` does not contain 10.0.0.1, as in
//   Python's ipaddress. A block written `::ffff:a.b.c.d/n` with n >= 96 is the v4 block
//   `a.b.c.d/(n - 96)`.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

FLUXCAP_BEGIN_NAMESPACE

namespace sigma::detail {

struct ip_address {
  std::array<std::uint8_t, 16> bytes{};  ///< network order; IPv4 as ::ffff:a.b.c.d
  bool v4 = false;

  friend bool operator==(const ip_address&, const ip_address&) = default;
};

[[nodiscard]] constexpr std::optional<std::array<std::uint8_t, 4>> parse_ipv4_bytes(
    std::string_view s) noexcept {
  std::array<std::uint8_t, 4> out{};
  std::size_t at = 0;
  for (std::size_t part = 0; part < 4; ++part) {
    if (part != 0) {
      if (at >= s.size() || s[at] != '.') return std::nullopt;
      ++at;
    }
    const std::size_t start = at;
    unsigned value = 0;
    while (at < s.size() && at - start < 4 && s[at] >= '0' && s[at] <= '9')
      value = value * 10 + static_cast<unsigned>(s[at++] - '0');
    const std::size_t digits = at - start;
    if (digits == 0 || digits > 3 || value > 255) return std::nullopt;
    if (digits > 1 && s[start] == '0') return std::nullopt;
    out[part] = static_cast<std::uint8_t>(value);
  }
  if (at != s.size()) return std::nullopt;
  return out;
}

[[nodiscard]] constexpr bool is_v4_mapped(const std::array<std::uint8_t, 16>& b) noexcept {
  for (std::size_t i = 0; i < 10; ++i)
    if (b[i] != 0) return false;
  return b[10] == 0xFF && b[11] == 0xFF;
}

[[nodiscard]] constexpr int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

[[nodiscard]] constexpr std::optional<std::array<std::uint8_t, 16>> parse_ipv6_bytes(
    std::string_view s) noexcept {
  // Groups before and after the `::` (if any), as 16-bit values.
  std::array<std::uint16_t, 8> head{};
  std::array<std::uint16_t, 8> tail{};
  std::size_t head_count = 0;
  std::size_t tail_count = 0;
  bool compressed = false;
  bool embedded_v4 = false;
  std::array<std::uint8_t, 4> v4{};
  std::size_t at = 0;
  if (s.size() >= 2 && s[0] == ':' && s[1] == ':') {
    compressed = true;
    at = 2;
  } else if (!s.empty() && s[0] == ':') {
    return std::nullopt;
  }
  while (at < s.size()) {
    // One group: hex digits, or the embedded dotted quad at the very end.
    const std::size_t start = at;
    unsigned value = 0;
    while (at < s.size() && at - start < 5 && hex_value(s[at]) >= 0)
      value = value * 16 + static_cast<unsigned>(hex_value(s[at++]));
    if (at < s.size() && s[at] == '.') {
      const auto quad = parse_ipv4_bytes(s.substr(start));
      if (!quad) return std::nullopt;
      v4 = *quad;
      embedded_v4 = true;
      at = s.size();
      break;
    }
    const std::size_t digits = at - start;
    if (digits == 0 || digits > 4) return std::nullopt;
    auto& groups = compressed ? tail : head;
    auto& count = compressed ? tail_count : head_count;
    if (count >= 8) return std::nullopt;
    groups[count++] = static_cast<std::uint16_t>(value);
    if (at == s.size()) break;
    if (s[at] != ':') return std::nullopt;
    ++at;
    if (at < s.size() && s[at] == ':') {
      if (compressed) return std::nullopt;  // a second `::`
      compressed = true;
      ++at;
    } else if (at == s.size()) {
      return std::nullopt;  // a single trailing ':'
    }
  }
  const std::size_t total = head_count + tail_count + (embedded_v4 ? 2 : 0);
  if (compressed ? total > 7 : total != 8) return std::nullopt;
  std::array<std::uint8_t, 16> out{};
  for (std::size_t g = 0; g < head_count; ++g) {
    out[2 * g] = static_cast<std::uint8_t>(head[g] >> 8);
    out[2 * g + 1] = static_cast<std::uint8_t>(head[g] & 0xFF);
  }
  const std::size_t tail_bytes = 2 * tail_count + (embedded_v4 ? 4 : 0);
  std::size_t pos = 16 - tail_bytes;
  for (std::size_t g = 0; g < tail_count; ++g, pos += 2) {
    out[pos] = static_cast<std::uint8_t>(tail[g] >> 8);
    out[pos + 1] = static_cast<std::uint8_t>(tail[g] & 0xFF);
  }
  if (embedded_v4)
    for (std::size_t i = 0; i < 4; ++i) out[12 + i] = v4[i];
  return out;
}

/// An IPv4 or IPv6 address in text; empty when it is neither (see the file comment).
[[nodiscard]] constexpr std::optional<ip_address> parse_ip(std::string_view s) noexcept {
  ip_address out;
  if (s.find(':') == std::string_view::npos) {
    const auto quad = parse_ipv4_bytes(s);
    if (!quad) return std::nullopt;
    out.bytes[10] = 0xFF;
    out.bytes[11] = 0xFF;
    for (std::size_t i = 0; i < 4; ++i) out.bytes[12 + i] = (*quad)[i];
    out.v4 = true;
    return out;
  }
  const auto bytes = parse_ipv6_bytes(s);
  if (!bytes) return std::nullopt;
  out.bytes = *bytes;
  out.v4 = is_v4_mapped(out.bytes);
  return out;
}

/// A network: an address and a prefix length in its family's bits (0-32 or 0-128).
struct cidr_block {
  ip_address network;          ///< host bits cleared
  unsigned prefix = 0;         ///< as written for the family (v4: 0-32, v6: 0-128)
  bool host_bits_set = false;  ///< the written address had host bits (`check` warns)

  /// Prefix length over the 16-byte form.
  [[nodiscard]] constexpr unsigned prefix_bits() const noexcept {
    return network.v4 ? prefix + 96 : prefix;
  }

  [[nodiscard]] constexpr bool contains(const ip_address& address) const noexcept {
    if (address.v4 != network.v4) return false;
    const unsigned bits = prefix_bits();
    for (unsigned i = 0; i < 16; ++i) {
      const unsigned first = i * 8;
      if (first >= bits) break;
      const unsigned take = bits - first >= 8 ? 8 : bits - first;
      const auto mask = static_cast<std::uint8_t>(0xFFu << (8 - take));
      if ((address.bytes[i] & mask) != network.bytes[i]) return false;
    }
    return true;
  }

  friend bool operator==(const cidr_block&, const cidr_block&) = default;
};

/// `address/prefix`, or a bare address (a /32 or /128 block); empty when the address is
/// invalid or the prefix is out of bounds for its family (digits only, no leading zero
/// beyond `0`, no sign).
[[nodiscard]] constexpr std::optional<cidr_block> parse_cidr(std::string_view s) noexcept {
  const std::size_t slash = s.find('/');
  const std::string_view address_text = s.substr(0, slash);
  const auto address = parse_ip(address_text);
  if (!address) return std::nullopt;
  const bool written_v4 = address_text.find(':') == std::string_view::npos;
  unsigned prefix = written_v4 ? 32 : 128;
  if (slash != std::string_view::npos) {
    const std::string_view digits = s.substr(slash + 1);
    if (digits.empty() || digits.size() > 3 || (digits.size() > 1 && digits[0] == '0'))
      return std::nullopt;
    prefix = 0;
    for (const char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
      prefix = prefix * 10 + static_cast<unsigned>(c - '0');
    }
    if (prefix > (written_v4 ? 32u : 128u)) return std::nullopt;
  }
  cidr_block block;
  block.network = *address;
  if (!written_v4) {
    // Spelled as IPv6: a v4 block only when the prefix covers the whole ::ffff:0:0/96.
    if (address->v4 && prefix >= 96)
      prefix -= 96;
    else
      block.network.v4 = false;
  }
  block.prefix = prefix;
  const unsigned bits = block.prefix_bits();
  for (unsigned i = 0; i < 16; ++i) {
    const unsigned first = i * 8;
    const unsigned take = first >= bits ? 0 : (bits - first >= 8 ? 8 : bits - first);
    const auto mask = static_cast<std::uint8_t>(take == 0 ? 0 : (0xFFu << (8 - take)) & 0xFFu);
    const auto masked = static_cast<std::uint8_t>(block.network.bytes[i] & mask);
    if (masked != block.network.bytes[i]) block.host_bits_set = true;
    block.network.bytes[i] = masked;
  }
  return block;
}

}  // namespace sigma::detail

FLUXCAP_END_NAMESPACE
