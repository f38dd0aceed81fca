// The Sigma rule model: plain aggregates holding a rule as written.
//
// A rule is filled by the YAML reader (fluxcap/sigma/yaml.hpp, target fluxcap::yaml)
// or programmatically by an embedder that keeps rules elsewhere. Values are kept as
// written (escapes intact, numbers as their text); interpreting them (wildcards,
// modifiers, profile mapping) belongs to the compiler (fluxcap/sigma/compile.hpp), so
// that `fluxcap check` can show the source and errors can point at it.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

FLUXCAP_BEGIN_NAMESPACE

namespace sigma {

/// Where something was written: file name and 1-based line and column (0 = unknown).
struct source_span {
  std::string file;
  std::uint32_t line = 0;
  std::uint32_t column = 0;

  friend bool operator==(const source_span&, const source_span&) = default;
};

/// Input that is not a Sigma rule or profile (malformed YAML, a missing `detection`, a
/// condition that does not parse...). `what()` is "file:line:col: message".
class sigma_error : public std::runtime_error {
 public:
  sigma_error(source_span where, std::string message)
      : std::runtime_error(format(where, message)),
        where_(std::move(where)),
        message_(std::move(message)) {}

  [[nodiscard]] const source_span& where() const noexcept { return where_; }
  /// The problem alone, without the location.
  [[nodiscard]] const std::string& message() const noexcept { return message_; }

 private:
  static std::string format(const source_span& where, const std::string& message) {
    std::string out = where.file.empty() ? std::string("<input>") : where.file;
    if (where.line != 0) {
      out += ':' + std::to_string(where.line);
      if (where.column != 0) out += ':' + std::to_string(where.column);
    }
    return out + ": " + message;
  }

  source_span where_;
  std::string message_;
};

/// Valid Sigma that fluxcap cannot run (contract section 1): an unknown modifier, an
/// illegal modifier chain, a regex the engine rejects... The compiler lists the rule
/// as unsupported with this reason instead of dropping it.
class unsupported_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Every value modifier of Sigma 2.1 (appendix) and pySigma, plus `utf16le`. The `re`
/// flags are their own modifiers (`re|i` is `re, re_i`).
enum class modifier : std::uint8_t {
  contains,
  startswith,
  endswith,
  all,
  neq,
  cased,
  exists,
  windash,
  re,
  re_i,
  re_m,
  re_s,
  base64,
  base64offset,
  utf16,
  utf16le,
  utf16be,
  wide,
  cidr,
  lt,
  lte,
  gt,
  gte,
  minute,
  hour,
  day,
  week,
  month,
  year,
  expand,
  fieldref,
};

/// One rule value as written.
struct sigma_value {
  enum class kind : std::uint8_t { null, boolean, number, string };
  kind type = kind::string;
  /// string: the written text with its escapes (`\*` stays two bytes); number: its YAML
  /// text as resolved (`0x10` is "16"); boolean: "true" or "false"; null: empty.
  std::string text;
  source_span where;
};

/// `Field|mod1|mod2: value` or `Field|mod: [values]`. A keyword item has no field.
struct field_item {
  std::string field;                ///< as written, before the profile's mapping; "" for keywords
  std::vector<modifier> modifiers;  ///< known modifiers, in written order
  /// Modifiers fluxcap does not know, as written. A rule with any is unsupported, and
  /// `check` says which; they are kept here so that the reader never rejects valid YAML.
  std::vector<std::string> unknown_modifiers;
  std::vector<sigma_value> values;  ///< a scalar is a list of one
  source_span where;
};

/// A map of field items: all of them must hold (AND).
struct conjunction {
  std::vector<field_item> items;
  source_span where;
};

/// One search identifier (`selection:`, `filter_main:`...): any of its maps (OR).
/// A single map is a list of one. A plain list of values (keywords) is one conjunction
/// holding one keyword item (`field` empty); `'|all': [...]` is the same with `all`.
struct detection {
  std::string name;
  std::vector<conjunction> any_of;
  bool keywords = false;
  source_span where;
};

struct logsource {
  std::optional<std::string> category;
  std::optional<std::string> product;
  std::optional<std::string> service;
};

/// What a YAML document declares itself to be. Only detection rules are compiled in
/// this version; the others are listed as unsupported (never skipped silently).
enum class document_kind : std::uint8_t { detection, correlation, filter };

struct rule {
  /// The rule's identity (contract section 1): its `id`, else its `title`.
  std::string identity;
  document_kind kind = document_kind::detection;
  std::optional<std::string> id;
  std::optional<std::string> title;
  /// `name:`, by which correlation rules may refer to a rule (Sigma 2).
  std::optional<std::string> name;
  std::optional<std::string> level;
  std::optional<std::string> status;
  logsource source;
  std::vector<detection> detections;         ///< in file order
  std::vector<std::string> conditions;       ///< a list is their OR
  std::vector<source_span> condition_where;  ///< one per condition
  /// `detection: timeframe:` (Sigma 1.0 aggregations), as written; not a search identifier.
  std::optional<std::string> timeframe;
  source_span where;  ///< the document's start
};

}  // namespace sigma

FLUXCAP_END_NAMESPACE
