// The store container (checkpoint.hpp has its layout): the header of a store file or
// checkpoint with the hash key, and write_groups / read_groups, which wrap one state
// blob a group, sorted by group key, and the named attachments (version 3), in it.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>

#include <fluxcap/detail/state_codec.hpp>
#include <fluxcap/error.hpp>
#include <fluxcap/group_state.hpp>
#include <fluxcap/hash.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

FLUXCAP_BEGIN_NAMESPACE

/// A named blob a store file or checkpoint carries beside its groups (save_store,
/// save_store_delta), such as the state of a Sigma correlation engine
/// ("sigma.correlations"): it is written, checksummed and committed with the groups, in
/// the same file. Names: 1 to 255 bytes, each once a file.
struct store_attachment {
  std::string name;
  std::vector<std::uint8_t> bytes;
  friend bool operator==(const store_attachment&, const store_attachment&) = default;
};

namespace detail {
inline constexpr char store_magic[8] = {'F', 'L', 'X', 'C', 'S', 'T', 'O', 'R'};
inline constexpr char store_delta_magic[8] = {'F', 'L', 'X', 'C', 'S', 'D', 'E', 'L'};
/// Version 1 (fluxcap 0.1): no hash key. Version 2: a flags byte and the hash key.
/// Version 3: version 2 with named attachments after the groups (written only when there
/// are attachments, so files without them stay version 2).
inline constexpr std::uint16_t store_format_version_unkeyed = 1;
inline constexpr std::uint16_t store_format_version = 2;
inline constexpr std::uint16_t store_format_version_attachments = 3;
inline constexpr std::uint8_t store_flag_keyed = 1;

/// The key a capacitor's hash policy is keyed with; nullopt for an unkeyed policy.
template <class Capacitor>
[[nodiscard]] std::optional<hash_key> capacitor_key(const Capacitor& cap) {
  if constexpr (keyed_hash_policy<typename Capacitor::hash_type>)
    return hash_key(cap.hash().key());
  else
    return std::nullopt;
}

/// What the header of a store file or checkpoint says.
struct store_header {
  std::uint16_t version = 0;
  std::optional<hash_key> key;
  std::size_t groups_at = 0;  ///< offset of the group count
};

/// Reads the header of a store container (not its checksum). Throws decode_error.
/// `checked`: called after the version is known and before the rest is read (read_groups
/// checks the checksum there, so that a damaged byte reads as damage).
template <class Checked>
store_header read_store_header(const char (&magic)[8], const char* what,
                               std::span<const std::uint8_t> bytes, Checked&& checked) {
  if (bytes.size() < 8 || std::memcmp(bytes.data(), magic, 8) != 0)
    throw decode_error(bytes.size() < 8 ? decode_errc::truncated : decode_errc::bad_magic, 0,
                       std::string("not a fluxcap ") + what + " (bad magic)");
  byte_reader r(bytes);
  r.skip(8);
  store_header h;
  h.version = r.le<std::uint16_t>("version");
  if (h.version != store_format_version && h.version != store_format_version_unkeyed &&
      h.version != store_format_version_attachments)
    throw decode_error(decode_errc::unsupported_version, 8,
                       std::string(what) + " format version " + std::to_string(h.version) +
                           " is not supported (this build reads " +
                           std::to_string(store_format_version_unkeyed) + " to " +
                           std::to_string(store_format_version_attachments) + ")");
  checked();
  if (h.version == store_format_version_unkeyed) {
    h.groups_at = r.offset();
    return h;
  }
  const std::size_t flags_at = r.offset();
  const auto flags = r.le<std::uint8_t>("flags");
  if ((flags & ~store_flag_keyed) != 0)
    throw decode_error(decode_errc::bad_parameters, flags_at,
                       "unknown flags " + std::to_string(flags));
  hash_key key;
  key.k0 = r.le<std::uint64_t>("hash key");
  key.k1 = r.le<std::uint64_t>("hash key");
  if ((flags & store_flag_keyed) != 0) h.key = key;
  h.groups_at = r.offset();
  return h;
}

/// Names an attachment may have: 1 to 255 bytes.
inline constexpr std::size_t max_attachment_name = 255;

/// Throws std::invalid_argument unless `attachments` can be written: names of 1 to 255
/// bytes, each once.
inline void check_attachments(std::span<const store_attachment> attachments) {
  for (std::size_t i = 0; i < attachments.size(); ++i) {
    const auto& name = attachments[i].name;
    if (name.empty() || name.size() > max_attachment_name)
      throw std::invalid_argument("a store attachment's name must have 1 to 255 bytes");
    for (std::size_t j = 0; j < i; ++j)
      if (attachments[j].name == name)
        throw std::invalid_argument("store attachment '" + name + "' given twice");
  }
}

/// The container of save_store and save_store_delta: magic, version u16 (2; 3 with
/// attachments), flags u8 (1: keyed), hash key 2 x u64 (zero when unkeyed), group count
/// u64, per group key length u32, key, blob length u64, blob; version 3 only: attachment
/// count u32, per attachment (in the order of their names' bytes) name length u8, name,
/// length u64, bytes; a final checksum u64. Groups are written in the order of their
/// keys' bytes, so equal stores give equal bytes whatever their hash maps' orders (and
/// `fluxcap run --threads`' partitions) were.
/// `size(state)`: the bytes of a group's blob, 0 to leave the group out;
/// `encode(state, out)` appends the blob, or returns false to leave the group out.
template <class Store, class Size, class Encode>
std::vector<std::uint8_t> write_groups(const char (&magic)[8], const std::optional<hash_key>& key,
                                       const Store& store, Size&& size, Encode&& encode,
                                       std::span<const store_attachment> attachments = {}) {
  check_attachments(attachments);
  using entry = std::pair<std::string_view, const group_state*>;
  std::vector<entry> groups;
  groups.reserve(store.size());
  std::size_t total = 8 + 2 + 1 + 16 + 8 + 8;
  store.for_each([&](std::string_view k, const group_state& state) {
    if (const std::size_t n = size(state)) {
      total += 4 + k.size() + 8 + n;
      groups.emplace_back(k, &state);
    }
  });
  std::sort(groups.begin(), groups.end(),
            [](const entry& a, const entry& b) { return a.first < b.first; });
  std::vector<const store_attachment*> attached;
  for (const auto& a : attachments) {
    total += 1 + a.name.size() + 8 + a.bytes.size();
    attached.push_back(&a);
  }
  if (!attached.empty()) total += 4;
  std::sort(attached.begin(), attached.end(),
            [](const store_attachment* a, const store_attachment* b) { return a->name < b->name; });
  std::vector<std::uint8_t> out;
  out.reserve(total);  // one allocation: no copying as the blob grows
  byte_writer w(out);
  w.bytes(magic, sizeof magic);
  w.le<std::uint16_t>(attached.empty() ? store_format_version : store_format_version_attachments);
  w.le<std::uint8_t>(key ? store_flag_keyed : 0);
  w.le<std::uint64_t>(key ? key->k0 : 0);
  w.le<std::uint64_t>(key ? key->k1 : 0);
  const std::size_t count_at = out.size();
  w.le<std::uint64_t>(0);
  std::uint64_t written = 0;
  for (const auto& [k, state] : groups) {
    const std::size_t at = out.size();
    w.le<std::uint32_t>(static_cast<std::uint32_t>(k.size()));
    w.bytes(k.data(), k.size());
    const std::size_t len_at = out.size();
    w.le<std::uint64_t>(0);
    const std::size_t begin = out.size();
    if (!encode(*state, out)) {
      out.resize(at);
      continue;
    }
    const std::uint64_t len = out.size() - begin;
    for (std::size_t i = 0; i < 8; ++i) out[len_at + i] = static_cast<std::uint8_t>(len >> (8 * i));
    ++written;
  }
  for (std::size_t i = 0; i < 8; ++i)
    out[count_at + i] = static_cast<std::uint8_t>(written >> (8 * i));
  if (!attached.empty()) {
    w.le<std::uint32_t>(static_cast<std::uint32_t>(attached.size()));
    for (const auto* a : attached) {
      w.le<std::uint8_t>(static_cast<std::uint8_t>(a->name.size()));
      w.bytes(a->name.data(), a->name.size());
      w.le<std::uint64_t>(a->bytes.size());
      w.bytes(a->bytes.data(), a->bytes.size());
    }
  }
  w.le<std::uint64_t>(checksum(out.data(), out.size()));
  return out;
}

/// Reads what write_groups wrote (or fluxcap 0.1's version 1, without a key), calling
/// `decode(key, blob)` for each group (which throws decode_error on a bad blob; offsets
/// are made relative to the whole file); returns the attachments (version 3). `key`: the
/// key of the capacitor that reads it, which must be the one the file was written with.
template <class Decode>
std::vector<store_attachment> read_groups(const char (&magic)[8], const char* what,
                                          std::span<const std::uint8_t> bytes,
                                          const std::optional<hash_key>& key, Decode&& decode) {
  const store_header header = read_store_header(magic, what, bytes, [&] {
    if (bytes.size() < 10 + 8 + 8)
      throw decode_error(decode_errc::truncated, bytes.size(), "truncated");
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    const std::size_t body = bytes.size() - 8;
    byte_reader sum(bytes.subspan(body));
    if (sum.le<std::uint64_t>("checksum") != checksum(bytes.data(), body))
      throw decode_error(
          decode_errc::bad_checksum, body,
          std::string("checksum mismatch: the ") + what + " is corrupt or truncated");
#endif
  });
  const std::size_t body = bytes.size() - 8;
  if (body < header.groups_at + 8)
    throw decode_error(decode_errc::truncated, bytes.size(), "truncated");
  if (header.key != key) {
    if (key && header.version == store_format_version_unkeyed)
      throw decode_error(decode_errc::bad_parameters, 8,
                         std::string("the ") + what +
                             " was written by fluxcap 0.1 with its unkeyed hash (unsafe against "
                             "hostile input); it loads only with fluxcap::unkeyed_hash");
    throw decode_error(decode_errc::bad_parameters, 10,
                       !header.key ? std::string("the ") + what +
                                         " was written with an unkeyed hash, not with this key"
                       : !key ? std::string("the ") + what +
                                    " was written with a keyed hash; read its key with "
                                    "stored_hash_key"
                              : std::string("the ") + what +
                                    " was written with another hash key (build the flux "
                                    "capacitor with the key stored_hash_key reads from it)");
  }
  byte_reader b(bytes.first(body));
  b.skip(header.groups_at);
  const auto groups = b.le<std::uint64_t>("group count");
  for (std::uint64_t i = 0; i < groups; ++i) {
    const auto key_len = b.le<std::uint32_t>("group key length");
    b.need(key_len, "group key");
    const std::string_view group(reinterpret_cast<const char*>(b.data()), key_len);
    b.skip(key_len);
    const auto len = b.le<std::uint64_t>("state length");
    b.need(len, "group state");
    try {
      decode(group, std::span(b.data(), static_cast<std::size_t>(len)));
    } catch (const decode_error& e) {
      throw decode_error(e.code(), b.offset() + e.offset(),
                         "group " + std::to_string(i) + ": " + e.what());
    }
    b.skip(static_cast<std::size_t>(len));
  }
  std::vector<store_attachment> attachments;
  if (header.version == store_format_version_attachments) {
    const std::size_t count_at = b.offset();
    const auto count = b.le<std::uint32_t>("attachment count");
    if (count == 0)  // a writer with no attachment writes version 2
      throw decode_error(decode_errc::inconsistent, count_at, "version 3 without attachments");
    // Each attachment takes at least 10 bytes: the count cannot make us reserve more.
    if (count > b.remaining() / 10) b.need(std::size_t{count} * 10, "attachments");
    attachments.reserve(count);
    for (std::uint32_t i = 0; i < count; ++i) {
      const std::size_t at = b.offset();
      const auto name_len = b.le<std::uint8_t>("attachment name length");
      if (name_len == 0)
        throw decode_error(decode_errc::inconsistent, at, "an attachment without a name");
      b.need(name_len, "attachment name");
      std::string name(reinterpret_cast<const char*>(b.data()), name_len);
      b.skip(name_len);
      if (!attachments.empty() && !(attachments.back().name < name))
        throw decode_error(decode_errc::inconsistent, at,
                           "attachment '" + name + "' out of order or repeated");
      const auto len = b.le<std::uint64_t>("attachment length");
      b.need(len, "attachment");
      const auto* first = b.data();
      attachments.push_back({std::move(name), std::vector<std::uint8_t>(
                                                  first, first + static_cast<std::size_t>(len))});
      b.skip(static_cast<std::size_t>(len));
    }
  }
  if (b.remaining() != 0)
    throw decode_error(decode_errc::trailing_bytes, b.offset(),
                       header.version == store_format_version_attachments
                           ? "unexpected bytes after the last attachment"
                           : "unexpected bytes after the last group");
  return attachments;
}
}  // namespace detail

FLUXCAP_END_NAMESPACE
