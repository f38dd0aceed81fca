// Error types shared by the spec compiler, the adapters and the state decoder.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

FLUXCAP_BEGIN_NAMESPACE

/// Where a spec element came from (file, 1-based line and column). Programmatic
/// specs leave it empty; parsers fill it so errors can point at the source.
struct source_location {
  std::string file;
  std::uint32_t line = 0;
  std::uint32_t column = 0;

  [[nodiscard]] bool known() const noexcept { return line != 0; }

  /// "file:line:col" (parts that are unknown are left out), or "" when unknown.
  [[nodiscard]] std::string to_string() const {
    if (!known()) return file;
    std::string out = file.empty() ? std::string("<spec>") : file;
    out += ':' + std::to_string(line);
    if (column != 0) out += ':' + std::to_string(column);
    return out;
  }
};

/// A spec that cannot be compiled. `what()` reads like a compiler diagnostic:
/// `spec.yaml:7:13: rule 'rule4': action 'parent' needs a 'parent' column`.
class spec_error : public std::runtime_error {
 public:
  spec_error(source_location where, std::string rule, std::string tag, std::string message)
      : std::runtime_error(format(where, rule, tag, message)),
        where_(std::move(where)),
        rule_(std::move(rule)),
        tag_(std::move(tag)),
        message_(std::move(message)) {}

  [[nodiscard]] const source_location& where() const noexcept { return where_; }
  /// Name of the offending rule, or "" when the error is not about one rule.
  [[nodiscard]] const std::string& rule() const noexcept { return rule_; }
  /// Name of the offending tag, or "" when the error is not about one tag.
  [[nodiscard]] const std::string& tag() const noexcept { return tag_; }
  /// The problem alone, without location, rule or tag.
  [[nodiscard]] const std::string& message() const noexcept { return message_; }

 private:
  static std::string format(const source_location& where, const std::string& rule,
                            const std::string& tag, const std::string& message) {
    std::string out;
    if (where.known() || !where.file.empty()) out += where.to_string() + ": ";
    if (!rule.empty()) out += "rule '" + rule + "': ";
    if (!tag.empty()) out += "tag '" + tag + "': ";
    out += message;
    return out;
  }

  source_location where_;
  std::string rule_;
  std::string tag_;
  std::string message_;
};

/// Why a serialized group state was rejected.
enum class decode_errc : std::uint8_t {
  truncated,            ///< the blob ends before the structure it announces
  bad_magic,            ///< not a fluxcap state blob
  unsupported_version,  ///< written by a format version this build cannot read
  bad_checksum,         ///< the bytes were altered after encoding
  bad_parameters,       ///< parameters out of range or not those expected
  inconsistent,         ///< internal structure contradicts itself
  trailing_bytes,       ///< bytes after the end of the structure
};

/// A corrupt, foreign or incompatible state blob. Never thrown for a valid blob.
class decode_error : public std::runtime_error {
 public:
  decode_error(decode_errc code, std::size_t offset, const std::string& message)
      : std::runtime_error("state decode error at byte " + std::to_string(offset) + ": " + message),
        code_(code),
        offset_(offset) {}

  [[nodiscard]] decode_errc code() const noexcept { return code_; }
  /// Byte offset in the blob where the problem was detected.
  [[nodiscard]] std::size_t offset() const noexcept { return offset_; }

 private:
  decode_errc code_;
  std::size_t offset_;
};

FLUXCAP_END_NAMESPACE
