// Reads Sigma rules and fluxcap profiles from YAML into the model of fluxcap/sigma/rule.hpp
// and fluxcap/sigma/profile.hpp. Needs yaml-cpp and libyaml: part of the optional target
// `fluxcap::yaml`.
//
// Rules (Sigma 2.1; design sections 2.2, 5.3, 5.5, 7):
// - Every document of a file is read. A document with `correlation:` is a correlation rule
//   and one with `filter:` a Sigma filter: both are kept (kind, identity, title) for the
//   compiler to list as unsupported; they need no `detection`. Empty documents are skipped.
//   read_rule_set* (or an out-vector) also read correlation sections in full into
//   correlation_rule (fluxcap/sigma/correlation.hpp) and link them: unknown keys, types,
//   references, a bad timespan or condition, a missing `group-by` or `field`, and cycles
//   are errors at their place.
// - A document with `action:` (Sigma 1.0 rule collections: global/reset/repeat) is an
//   error: collections merge documents, which Sigma 2 dropped; none of the real rule
//   sets uses them, and reading the parts as separate rules would be wrong.
// - The identity is `id`, else `title`; two rules with one identity are an error naming
//   both places (also across the files of read_rule_paths).
// - `detection` holds `condition` (a string or a list of strings, their OR), optionally
//   `timeframe` (Sigma 1.0), and search identifiers: a mapping (one conjunction), a list
//   of mappings (any of them), or a value or list of values (keywords). A mapping whose
//   only key is `'|mod...'` (no field) is a keyword item with modifiers.
// - `Field|mod1|mod2` keys split at '|'; modifiers this version does not know go to
//   `unknown_modifiers` (the compiler marks the rule unsupported; it is not malformed).
// - Values follow the YAML 1.2 core schema for plain scalars: null (`null`, `~`, empty),
//   booleans (`true`/`false` in three spellings, text "true"/"false"), numbers (decimal,
//   `0x` hex and `0o` octal integers as decimal text; floats as written without a leading
//   '+'; `.inf`/`.nan` as "inf", "-inf", "nan"). Every quoted or tagged scalar, and every
//   other plain one, is a string holding the text as written after YAML unescaping.
// - Duplicate mapping keys are errors (yaml-cpp would keep both).
//
// Every error is a sigma_error "file:line:col: message" (1-based; "rule 'identity': "
// precedes the message once the identity is known). Limits (rule_read_limits) bound the
// file, its documents, identifiers, values, and the YAML nodes and bytes with aliases
// expanded, counted while yaml-cpp's trees are built, in one pass (detail::load_documents).
#pragma once

#include <fluxcap/detail/abi_macros.hpp>
#include <fluxcap/sigma/correlation.hpp>
#include <fluxcap/sigma/modifiers.hpp>
#include <fluxcap/sigma/profile.hpp>
#include <fluxcap/sigma/rule.hpp>
#include <fluxcap/yaml.hpp>

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

FLUXCAP_BEGIN_NAMESPACE

namespace sigma {

/// Bounds on rule files (hostile or mistaken input); passing one is a sigma_error naming
/// it. The defaults are far above real rule sets.
struct rule_read_limits {
  std::size_t max_file_bytes = std::size_t{16} << 20;
  std::size_t max_documents = 10000;           ///< per file
  std::size_t max_detections_per_rule = 1000;  ///< search identifiers
  std::size_t max_values_per_item = 65536;     ///< values of one `Field|mods`
  std::size_t max_conditions_per_rule = 1000;  ///< entries of a `condition` list
  std::size_t max_files = 100000;              ///< files read by read_rule_paths
  /// YAML nodes in a file with aliases expanded (an alias counts as all the nodes it
  /// refers to, each time it is used), counted before any tree is built.
  std::size_t max_nodes = 500000;
  /// Bytes of scalar text in a file with aliases expanded (as max_nodes).
  std::size_t max_expanded_bytes = std::size_t{16} << 20;
};

namespace detail {

/// A plain scalar resolved by the YAML 1.2 core schema (null is resolved by yaml-cpp).
struct resolved_scalar {
  sigma_value::kind type = sigma_value::kind::string;
  std::string text;
};

/// Digits of `digits` in base 8 or 16 as decimal text; nullopt past 64 bits.
[[nodiscard]] inline std::optional<std::string> radix_to_decimal(std::string_view digits,
                                                                 unsigned base) {
  std::uint64_t value = 0;
  for (const char c : digits) {
    unsigned d = 0;
    if (c >= '0' && c <= '9')
      d = static_cast<unsigned>(c - '0');
    else if (c >= 'a' && c <= 'f')
      d = static_cast<unsigned>(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      d = static_cast<unsigned>(c - 'A' + 10);
    else
      return std::nullopt;
    if (d >= base) return std::nullopt;
    if (value > (UINT64_MAX - d) / base) return std::nullopt;
    value = value * base + d;
  }
  return std::to_string(value);
}

[[nodiscard]] inline bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?` (core schema float).
[[nodiscard]] inline bool is_core_float(std::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  const auto exponent = s.find_first_of("eE");
  std::string_view mantissa = s.substr(0, exponent);
  if (exponent != std::string_view::npos) {
    std::string_view e = s.substr(exponent + 1);
    if (!e.empty() && (e[0] == '-' || e[0] == '+')) e.remove_prefix(1);
    if (!all_digits(e)) return false;
  }
  const auto dot = mantissa.find('.');
  if (dot == std::string_view::npos) return all_digits(mantissa);
  const std::string_view whole = mantissa.substr(0, dot);
  const std::string_view fraction = mantissa.substr(dot + 1);
  if (whole.empty()) return all_digits(fraction);
  return all_digits(whole) && (fraction.empty() || all_digits(fraction));
}

[[nodiscard]] inline resolved_scalar resolve_plain(const std::string& s) {
  using kind = sigma_value::kind;
  if (s == "true" || s == "True" || s == "TRUE") return {kind::boolean, "true"};
  if (s == "false" || s == "False" || s == "FALSE") return {kind::boolean, "false"};
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
    if (auto decimal = radix_to_decimal(std::string_view(s).substr(2), s[1] == 'x' ? 16U : 8U))
      return {kind::number, std::move(*decimal)};
    return {kind::string, s};  // not core-schema digits, or wider than 64 bits
  }
  std::string_view body = s;
  const bool negative = !body.empty() && body[0] == '-';
  if (!body.empty() && (body[0] == '-' || body[0] == '+')) body.remove_prefix(1);
  if (all_digits(body)) {  // decimal integer: canonical text (no '+', no leading zeros)
    const auto first = body.find_first_not_of('0');
    const std::string_view digits = first == std::string_view::npos ? "0" : body.substr(first);
    return {kind::number, (negative && digits != "0" ? "-" : "") + std::string(digits)};
  }
  if (body == ".inf" || body == ".Inf" || body == ".INF")
    return {kind::number, negative ? "-inf" : "inf"};
  if (s == ".nan" || s == ".NaN" || s == ".NAN") return {kind::number, "nan"};
  if (is_core_float(s)) return {kind::number, s[0] == '+' ? s.substr(1) : s};
  return {kind::string, s};
}

/// Reads one YAML text (one or more documents) into rules or a profile.
class sigma_yaml_reader {
 public:
  sigma_yaml_reader(std::string_view text, std::string file, rule_read_limits limits)
      : text_(text), file_(std::move(file)), limits_(limits) {}

  /// Correlation documents are also read in full into `out` (see read_correlation).
  void collect_correlations(std::vector<correlation_rule>* out) noexcept { correlations_ = out; }

  std::vector<rule> read_rules() {
    std::vector<rule> out;
    for_each_document(limits_.max_documents, [&](const YAML::Node& root) {
      if (auto r = read_rule(root)) out.push_back(std::move(*r));
    });
    return out;
  }

  profile read_profile() {
    std::optional<profile> out;
    for_each_document(1, [&](const YAML::Node& root) { out = read_profile_root(root); });
    if (!out) fail(at_file(), "the profile is empty");
    return std::move(*out);
  }

 private:
  struct entry {
    std::string key;
    YAML::Node key_node;
    YAML::Node value;
  };

  [[noreturn]] void fail(source_span where, const std::string& message) const {
    throw sigma_error(std::move(where), prefix_ + message);
  }

  static constexpr std::size_t max_name_in_message = 200;
  static std::string quoted(std::string_view s) {
    if (s.size() <= max_name_in_message) return "'" + std::string(s) + "'";
    std::size_t n = max_name_in_message;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xc0U) == 0x80U) --n;
    return "'" + std::string(s.substr(0, n)) + "...'";
  }

  static std::string kind(const YAML::Node& n) {
    switch (n.Type()) {
      case YAML::NodeType::Sequence:
        return "a list";
      case YAML::NodeType::Map:
        return "a mapping";
      case YAML::NodeType::Scalar:
        return quoted(n.Scalar());
      default:
        return "nothing";
    }
  }

  [[nodiscard]] source_span at_file() const { return {file_, 0, 0}; }

  /// A mark as a place in the file.
  [[nodiscard]] source_span at(const YAML::Mark& m) const {
    if (m.is_null() || m.line < 0 || m.column < 0) return at_file();
    const auto line = static_cast<std::uint64_t>(m.line);
    const auto column = static_cast<std::uint64_t>(m.column);
    return {file_, static_cast<std::uint32_t>(std::min<std::uint64_t>(line + 1, UINT32_MAX)),
            static_cast<std::uint32_t>(std::min<std::uint64_t>(column + 1, UINT32_MAX))};
  }
  [[nodiscard]] source_span at(const YAML::Node& n) const { return at(n.Mark()); }
  /// An empty (null) value is marked after its ':': point at the key then.
  [[nodiscard]] source_span at_value(const entry& e) const {
    return e.value.IsNull() ? at(e.key_node) : at(e.value);
  }

  void check_scan(const fluxcap::detail::yaml_scan& scan, std::size_t max_documents,
                  const char* what) const {
    using limit = fluxcap::detail::yaml_scan::limit;
    switch (scan.exceeded) {
      case limit::none:
        return;
      case limit::documents:
        fail(at(scan.where),
             max_documents == 1
                 ? std::string("a ") + what + " holds one YAML document; a second one starts here"
                 : "more than " + std::to_string(max_documents) +
                       " YAML documents in one file (limit)");
      case limit::nodes:
        fail(at(scan.where), "the file has more than " + std::to_string(limits_.max_nodes) +
                                 " YAML nodes with aliases expanded (limit)");
      case limit::expanded_bytes:
        fail(at(scan.where), "the file holds more than " +
                                 std::to_string(limits_.max_expanded_bytes) +
                                 " bytes of text with aliases expanded (limit)");
    }
  }

  [[noreturn]] void syntax_error(const YAML::Exception& e) const {
    const bool syntax = dynamic_cast<const YAML::ParserException*>(&e) != nullptr;
    // A JSON habit: a missing ',' between entries shows up as an unclosed collection.
    fail(at(e.mark), (syntax ? "YAML syntax error: " : "YAML error: ") + e.msg +
                         (syntax && fluxcap::detail::is_unclosed_flow_error(e.msg)
                              ? " (a missing ',' or closing bracket before this?)"
                              : ""));
  }

  /// Builds every document's tree in one bounded pass (load_documents), then reads them
  /// in order: a syntax error or a limit anywhere in the file wins over a reading error.
  /// yaml-cpp's LoadAll is not used (it can loop forever on some garbage).
  template <class Read>
  void for_each_document(std::size_t max_documents, Read&& read) {
    const char* what = max_documents == 1 ? "profile" : "rule file";
    if (text_.size() > limits_.max_file_bytes)
      fail(at_file(), std::string("the ") + what + " is larger than " +
                          std::to_string(limits_.max_file_bytes) + " bytes (limit)");
    fluxcap::detail::yaml_documents documents;
    try {
      documents = fluxcap::detail::load_documents(
          text_, {max_documents, limits_.max_nodes, limits_.max_expanded_bytes, true});
    } catch (const YAML::Exception& e) {
      syntax_error(e);
    }
    check_scan(documents, max_documents, what);
    for (const YAML::Node& root : documents.roots) {
      prefix_.clear();
      if (!root || root.IsNull()) continue;  // an empty document
      try {
        read(root);
      } catch (const YAML::Exception& e) {
        // Not expected (the reader never converts blindly), but keep the position.
        syntax_error(e);
      }
    }
  }

  /// The entries of a mapping in document order; rejects non-scalar and duplicate keys.
  std::vector<entry> entries(const YAML::Node& map) const {
    std::vector<entry> out;
    out.reserve(map.size());
    // Duplicates: a scan while the mapping is small (nearly all are), a hash beyond.
    constexpr std::size_t scanned_keys = 16;
    std::unordered_map<std::string, std::size_t> seen;
    for (const auto& pair : map) {
      const YAML::Node k = pair.first;  // a copy: the iterator's `->` yields a temporary
      if (!k.IsScalar()) fail(at(k), "a key must be a name, not " + kind(k));
      out.push_back({k.Scalar(), k, pair.second});
      const std::size_t last = out.size() - 1;
      std::size_t first = last;
      if (out.size() <= scanned_keys) {
        for (std::size_t i = 0; i < last && first == last; ++i)
          if (out[i].key == out[last].key) first = i;
      } else {
        if (seen.empty())
          for (std::size_t i = 0; i < last; ++i) seen.emplace(out[i].key, i);
        first = seen.emplace(out[last].key, last).first->second;
      }
      if (first != last) {
        const auto where = at(out[first].key_node);
        fail(at(k), "duplicate key " + quoted(out[last].key) + " (first at line " +
                        std::to_string(where.line) + ", column " + std::to_string(where.column) +
                        ")");
      }
    }
    return out;
  }

  /// A string setting: any scalar's text; an empty value is absent.
  std::optional<std::string> optional_string(const entry& e) const {
    if (e.value.IsNull()) return std::nullopt;
    if (!e.value.IsScalar())
      fail(at(e.value), quoted(e.key) + " must be a string, not " + kind(e.value));
    return e.value.Scalar();
  }
  std::string required_string(const entry& e) const {
    auto s = optional_string(e);
    if (!s) fail(at(e.key_node), quoted(e.key) + " needs a value");
    return std::move(*s);
  }

  // ---- rules --------------------------------------------------------------------------

  std::optional<rule> read_rule(const YAML::Node& root) {
    if (!root.IsMap())
      fail(at(root),
           "a Sigma rule must be a mapping (title, logsource, detection...), not " + kind(root));
    const auto es = entries(root);
    rule r;
    r.where = at(root);
    const entry* detection_entry = nullptr;
    const entry* correlation_entry = nullptr;
    const entry* filter_entry = nullptr;
    const entry* logsource_entry = nullptr;
    for (const auto& e : es) {
      if (e.key == "id")
        r.id = optional_string(e);
      else if (e.key == "title")
        r.title = optional_string(e);
      else if (e.key == "name")
        r.name = optional_string(e);
      else if (e.key == "level")
        r.level = optional_string(e);
      else if (e.key == "status")
        r.status = optional_string(e);
      else if (e.key == "detection")
        detection_entry = &e;
      else if (e.key == "correlation")
        correlation_entry = &e;
      else if (e.key == "filter")
        filter_entry = &e;
      else if (e.key == "logsource")
        logsource_entry = &e;
      else if (e.key == "action")
        fail(at(e.key_node),
             "Sigma 1.0 rule collections ('action: ...') are not supported: write each rule "
             "as a complete document");
    }
    if (r.id && !r.id->empty())
      r.identity = *r.id;
    else if (r.title && !r.title->empty())
      r.identity = *r.title;
    else
      fail(r.where, "a rule needs an 'id' or a 'title' (its identity)");
    prefix_ = "rule " + quoted(r.identity) + ": ";

    if (logsource_entry != nullptr) r.source = read_logsource(*logsource_entry);
    if (correlation_entry != nullptr && filter_entry != nullptr)
      fail(at(filter_entry->key_node), "a document is a correlation rule or a filter, not both");
    if (correlation_entry != nullptr || filter_entry != nullptr) {
      const entry& e = correlation_entry != nullptr ? *correlation_entry : *filter_entry;
      r.kind = correlation_entry != nullptr ? document_kind::correlation : document_kind::filter;
      if (!e.value.IsMap())
        fail(at_value(e), quoted(e.key) + " must be a mapping, not " + kind(e.value));
      if (correlations_ != nullptr && correlation_entry != nullptr)
        correlations_->push_back(read_correlation(r, es, *correlation_entry));
      return r;
    }
    if (detection_entry == nullptr) fail(r.where, "a rule needs a 'detection'");
    read_detection(*detection_entry, r);
    return r;
  }

  logsource read_logsource(const entry& e) const {
    if (!e.value.IsMap()) fail(at_value(e), "'logsource' must be a mapping, not " + kind(e.value));
    logsource out;
    for (const auto& f : entries(e.value)) {
      if (f.key == "category")
        out.category = optional_string(f);
      else if (f.key == "product")
        out.product = optional_string(f);
      else if (f.key == "service")
        out.service = optional_string(f);
      // `definition` and custom keys are descriptive: ignored.
    }
    return out;
  }

  void read_detection(const entry& section, rule& r) const {
    if (!section.value.IsMap())
      fail(at_value(section), "'detection' must be a mapping, not " + kind(section.value));
    bool has_condition = false;
    for (const auto& e : entries(section.value)) {
      if (e.key == "condition") {
        has_condition = true;
        read_condition(e, r);
      } else if (e.key == "timeframe") {
        r.timeframe = required_string(e);
      } else {
        if (r.detections.size() == limits_.max_detections_per_rule)
          fail(at(e.key_node), "more than " + std::to_string(limits_.max_detections_per_rule) +
                                   " search identifiers in one rule (limit)");
        r.detections.push_back(read_identifier(e));
      }
    }
    if (!has_condition) fail(at(section.value), "the detection has no 'condition'");
  }

  void read_condition(const entry& e, rule& r) const {
    const auto add = [&](const YAML::Node& n) {
      if (!n.IsScalar())
        fail(at(n.IsNull() ? e.value : n), "a condition must be a string, not " + kind(n));
      if (r.conditions.size() == limits_.max_conditions_per_rule)
        fail(at(n), "more than " + std::to_string(limits_.max_conditions_per_rule) +
                        " conditions in one rule (limit)");
      r.conditions.push_back(n.Scalar());
      r.condition_where.push_back(at(n));
    };
    if (e.value.IsNull()) fail(at(e.key_node), "'condition' needs a value");
    if (e.value.IsSequence()) {
      if (e.value.size() == 0) fail(at(e.value), "'condition' is an empty list");
      for (const auto& n : e.value) add(n);
    } else {
      add(e.value);
    }
  }

  detection read_identifier(const entry& e) const {
    detection d;
    d.name = e.key;
    d.where = at(e.key_node);
    const YAML::Node& v = e.value;
    if (v.IsNull()) fail(at(e.key_node), "search identifier " + quoted(e.key) + " is empty");
    if (v.IsMap()) {
      d.any_of.push_back(read_conjunction(v));
      const auto& items = d.any_of.back().items;
      d.keywords = items.size() == 1 && items[0].field.empty();
      return d;
    }
    if (v.IsScalar()) {
      d.keywords = true;
      d.any_of.push_back(keyword_conjunction(v));
      return d;
    }
    // A list: of mappings (any of them) or of values (keywords); not both.
    if (v.size() == 0) fail(at(v), "search identifier " + quoted(e.key) + " is an empty list");
    const bool maps = v[0].IsMap();
    if (maps) {
      for (const auto& n : v) {
        if (!n.IsMap())
          fail(at(n.IsNull() ? v : n),
               "a list of mappings (any of them) cannot also hold " + kind(n));
        d.any_of.push_back(read_conjunction(n));
      }
    } else {
      d.keywords = true;
      d.any_of.push_back(keyword_conjunction(v));
    }
    return d;
  }

  conjunction keyword_conjunction(const YAML::Node& values) const {
    conjunction c;
    c.where = at(values);
    field_item item;
    item.where = at(values);
    item.values = read_values(values, values);
    c.items.push_back(std::move(item));
    return c;
  }

  conjunction read_conjunction(const YAML::Node& map) const {
    conjunction c;
    c.where = at(map);
    const auto es = entries(map);
    if (es.empty()) fail(at(map), "an empty mapping matches nothing; give field: value pairs");
    for (const auto& e : es) c.items.push_back(read_item(e));
    return c;
  }

  field_item read_item(const entry& e) const {
    field_item item;
    item.where = at(e.key_node);
    const std::string_view key = e.key;
    const auto bar = key.find('|');
    item.field = std::string(key.substr(0, bar));
    if (bar != std::string_view::npos) {
      std::string_view rest = key.substr(bar + 1);
      while (true) {
        const auto next = rest.find('|');
        const std::string_view name = rest.substr(0, next);
        if (name.empty()) fail(at(e.key_node), "empty modifier name in " + quoted(key));
        if (const auto m = parse_modifier(name))
          item.modifiers.push_back(*m);
        else
          item.unknown_modifiers.emplace_back(name);
        if (next == std::string_view::npos) break;
        rest.remove_prefix(next + 1);
      }
    }
    if (e.value.IsMap())
      fail(at(e.value),
           "the value of " + quoted(key) + " must be a value or a list of values, not a mapping");
    item.values = read_values(e.value, e.key_node);
    return item;
  }

  /// A value or a list of values; `owner` places an empty (null) value.
  std::vector<sigma_value> read_values(const YAML::Node& v, const YAML::Node& owner) const {
    std::vector<sigma_value> out;
    if (!v.IsSequence()) {
      out.push_back(read_value(v, owner));
      return out;
    }
    for (const auto& n : v) {
      if (out.size() == limits_.max_values_per_item)
        fail(at(n), "more than " + std::to_string(limits_.max_values_per_item) +
                        " values in one item (limit)");
      if (n.IsMap() || n.IsSequence()) fail(at(n), "a list of values cannot hold " + kind(n));
      out.push_back(read_value(n, v));
    }
    return out;
  }

  sigma_value read_value(const YAML::Node& n, const YAML::Node& owner) const {
    sigma_value out;
    if (n.IsNull()) {
      out.type = sigma_value::kind::null;
      out.where = at(owner);
      return out;
    }
    if (!n.IsScalar()) fail(at(n), "a value must be a scalar, not " + kind(n));
    out.where = at(n);
    if (n.Tag() == "?") {  // plain: resolved by the core schema
      auto resolved = resolve_plain(n.Scalar());
      out.type = resolved.type;
      out.text = std::move(resolved.text);
    } else {
      out.text = n.Scalar();
    }
    return out;
  }

  // ---- correlation rules ------------------------------------------------------------

  static constexpr std::array<std::string_view, 7> correlation_keys{
      "type", "rules", "aliases", "group-by", "timespan", "condition", "generate"};
  static constexpr std::array<std::string_view, 8> condition_keys{
      "gt", "gte", "lt", "lte", "eq", "neq", "field", "percentile"};

  bool read_bool(const entry& e) const {
    if (e.value.IsScalar() && e.value.Tag() == "?") {
      const auto resolved = resolve_plain(e.value.Scalar());
      if (resolved.type == sigma_value::kind::boolean) return resolved.text == "true";
    }
    fail(at_value(e), quoted(e.key) + " must be true or false, not " + kind(e.value));
  }

  /// A list of strings, or one string; `what` names it in errors.
  std::vector<std::string> name_list(const entry& e, std::vector<source_span>* where) const {
    std::vector<std::string> out;
    const auto add = [&](const YAML::Node& n, const YAML::Node& owner) {
      if (!n.IsScalar() || n.Scalar().empty())
        fail(at(n.IsNull() ? owner : n), quoted(e.key) + " entries must be names, not " + kind(n));
      out.push_back(n.Scalar());
      if (where != nullptr) where->push_back(at(n));
    };
    if (e.value.IsSequence()) {
      for (const auto& n : e.value) {
        if (out.size() == limits_.max_values_per_item)
          fail(at(n), "more than " + std::to_string(limits_.max_values_per_item) + " entries in " +
                          quoted(e.key) + " (limit)");
        add(n, e.value);
      }
    } else if (e.value.IsScalar()) {
      add(e.value, e.key_node);
    } else {
      fail(at_value(e), quoted(e.key) + " must be a list of names, not " + kind(e.value));
    }
    return out;
  }

  /// The `correlation:` section of a document whose top-level entries are `root`
  /// (Sigma correlation specification 2.1.0; `generate` may also be written there).
  correlation_rule read_correlation(const rule& r, const std::vector<entry>& root,
                                    const entry& section) const {
    correlation_rule c;
    c.identity = r.identity;
    c.id = r.id;
    c.title = r.title;
    c.name = r.name;
    c.level = r.level;
    c.status = r.status;
    c.where = r.where;
    c.section = at(section.value);
    for (const auto& e : root)
      if (e.key == "generate") c.generate = read_bool(e);
    const auto es = entries(section.value);
    reject_unknown(es, correlation_keys, "'correlation'");
    const entry* type = nullptr;
    const entry* condition = nullptr;
    bool has_rules = false, has_group_by = false, has_timespan = false;
    for (const auto& e : es) {
      if (e.key == "type") {
        type = &e;
      } else if (e.key == "rules") {
        c.rules = name_list(e, &c.rule_where);
        if (c.rules.empty()) fail(at_value(e), "'rules' is empty: name the rules to correlate");
        has_rules = true;
      } else if (e.key == "group-by") {
        c.group_by = name_list(e, &c.group_by_where);
        has_group_by = !c.group_by.empty();
      } else if (e.key == "timespan") {
        c.timespan_text = required_string(e);
        c.timespan_where = at_value(e);
        const auto ms = parse_timespan_ms(c.timespan_text);
        if (!ms)
          fail(c.timespan_where, "bad timespan " + quoted(c.timespan_text) +
                                     ": write a positive whole number and s, m, h or d (90m)");
        c.timespan_ms = *ms;
        has_timespan = true;
      } else if (e.key == "aliases") {
        for (const auto& a : map_entries(e)) {
          correlation_alias alias;
          alias.name = a.key;
          alias.name_where = at(a.key_node);
          for (const auto& f : map_entries(a)) {
            alias.fields.emplace_back(f.key, required_string(f));
            alias.where.push_back(at(f.key_node));
          }
          c.aliases.push_back(std::move(alias));
        }
      } else if (e.key == "condition") {
        condition = &e;
      } else if (e.key == "generate") {
        c.generate = read_bool(e);
      }
    }
    const auto section_at = at(section.key_node);
    if (type == nullptr) fail(section_at, "the correlation needs a 'type'");
    const auto type_name = required_string(*type);
    c.type_where = at_value(*type);
    const auto t = parse_correlation_type(type_name);
    if (!t)
      fail(c.type_where, "unknown correlation type " + quoted(type_name) +
                             fluxcap::detail::did_you_mean(type_name, correlation_type_names));
    c.type = *t;
    const std::string a_type = (type_name[0] == 'e' ? "an " : "a ") + type_name;
    if (!has_rules) fail(section_at, "the correlation needs 'rules'");
    if (!has_group_by)
      fail(section_at, a_type + " correlation needs 'group-by' (one field or more)");
    if (!has_timespan) fail(section_at, "the correlation needs a 'timespan'");
    if (condition != nullptr) {
      read_correlation_condition(*condition, c);
    } else if (!condition_optional(c.type)) {
      fail(section_at, a_type + " correlation needs a 'condition'");
    }
    return c;
  }

  void read_correlation_condition(const entry& e, correlation_rule& c) const {
    auto& cond = c.condition;
    cond.where = at_value(e);
    if (!e.value.IsMap())
      fail(cond.where,
           "'condition' must be a mapping of gt, gte, lt, lte, eq, neq (and field), "
           "not " +
               kind(e.value));
    const auto es = entries(e.value);
    reject_unknown(es, condition_keys, "'condition'");
    bool has_field = false;
    for (const auto& f : es) {
      if (f.key == "field") {
        cond.fields = name_list(f, nullptr);
        cond.field_where = at_value(f);
        has_field = !cond.fields.empty();
        continue;
      }
      const auto text = required_string(f);
      const auto number = parse_condition_number(text);
      if (f.key == "percentile") {
        if (!number || *number < 0 || *number > 100)
          fail(at_value(f), "'percentile' must be a number from 0 to 100, not " + quoted(text));
        cond.percentile = *number;
        cond.percentile_written = true;
        continue;
      }
      if (!number) fail(at_value(f), quoted(f.key) + " must be a number, not " + quoted(text));
      cond.bounds.push_back({*parse_comparison(f.key), *number, text, at(f.key_node)});
    }
    const std::string type_name(to_string(c.type));
    const std::string a_type = (type_name[0] == 'e' ? "an " : "a ") + type_name;
    if (cond.bounds.empty())
      fail(cond.where, "the condition needs a comparison (gt, gte, lt, lte, eq or neq)");
    if (needs_value_field(c.type) && !has_field)
      fail(cond.where, a_type + " correlation needs 'field' in its condition");
    if (!needs_value_field(c.type) && has_field)
      fail(cond.field_where, "'field' belongs to value_* correlations, not " + type_name);
    if (c.type != correlation_type::value_count && cond.fields.size() > 1)
      fail(cond.field_where, a_type + " correlation reads one 'field'");
    if (cond.percentile_written && c.type != correlation_type::value_percentile)
      fail(cond.where, "'percentile' belongs to value_percentile correlations");
  }

  // ---- profiles -----------------------------------------------------------------------

  static constexpr std::array<std::string_view, 11> profile_keys{
      "name",         "logsource",     "group",  "process",
      "timestamp",    "field_prefix",  "fields", "inline_parent_fields",
      "placeholders", "absent_fields", "filter"};

  void reject_unknown(const std::vector<entry>& es, std::span<const std::string_view> allowed,
                      std::string_view where) const {
    for (const auto& e : es)
      if (std::find(allowed.begin(), allowed.end(), e.key) == allowed.end())
        fail(at(e.key_node), "unknown key " + quoted(e.key) + " in " + std::string(where) +
                                 fluxcap::detail::did_you_mean(e.key, allowed));
  }

  std::vector<std::string> string_list(const entry& e) const {
    std::vector<std::string> out;
    if (e.value.IsNull()) return out;
    if (e.value.IsScalar()) return {e.value.Scalar()};
    if (!e.value.IsSequence())
      fail(at(e.value), quoted(e.key) + " must be a list of strings, not " + kind(e.value));
    for (const auto& n : e.value) {
      if (!n.IsScalar())
        fail(at(n.IsNull() ? e.value : n),
             quoted(e.key) + " entries must be strings, not " + kind(n));
      out.push_back(n.Scalar());
    }
    return out;
  }

  std::vector<entry> map_entries(const entry& e) const {
    if (e.value.IsNull()) return {};
    if (!e.value.IsMap())
      fail(at(e.value), quoted(e.key) + " must be a mapping, not " + kind(e.value));
    return entries(e.value);
  }

  profile read_profile_root(const YAML::Node& root) {
    if (!root.IsMap()) fail(at(root), "a profile must be a mapping, not " + kind(root));
    const auto es = entries(root);
    reject_unknown(es, profile_keys, "a profile");
    profile p;
    p.where = at(root);
    p.name = std::filesystem::path(file_).stem().string();
    bool has_group = false, has_process = false;
    for (const auto& e : es) {
      if (e.key == "name") {
        p.name = required_string(e);
        prefix_ = "profile " + quoted(p.name) + ": ";
      }
    }
    for (const auto& e : es) {
      if (e.key == "logsource") {
        const auto fs = map_entries(e);
        static constexpr std::array<std::string_view, 3> keys{"category", "product", "service"};
        reject_unknown(fs, keys, "'logsource'");
        for (const auto& f : fs) {
          if (f.key == "category") p.source.category = optional_string(f);
          if (f.key == "product") p.source.product = optional_string(f);
          if (f.key == "service") p.source.service = optional_string(f);
        }
      } else if (e.key == "group") {
        p.group = required_string(e);
        has_group = true;
      } else if (e.key == "process") {
        has_process = true;
        read_process(e, p);
      } else if (e.key == "timestamp") {
        p.timestamp = optional_string(e);
      } else if (e.key == "field_prefix") {
        p.field_prefix = optional_string(e).value_or("");
      } else if (e.key == "fields") {
        for (const auto& f : map_entries(e)) p.fields.emplace_back(f.key, required_string(f));
      } else if (e.key == "inline_parent_fields") {
        p.inline_parent_fields = string_list(e);
      } else if (e.key == "placeholders") {
        for (const auto& f : map_entries(e)) p.placeholders.emplace_back(f.key, string_list(f));
      } else if (e.key == "absent_fields") {
        p.absent_fields = string_list(e);
      } else if (e.key == "filter") {
        // Design 6.1 names it; the profile model has no place for it yet.
        fail(at(e.key_node), "profile filters ('filter:') are not supported yet");
      }
    }
    if (!has_group) fail(p.where, "a profile needs 'group' (the path of the group key)");
    if (!has_process) fail(p.where, "a profile needs 'process' with 'id' and 'parent_id'");
    return p;
  }

  void read_process(const entry& e, profile& p) const {
    const auto fs = map_entries(e);
    static constexpr std::array<std::string_view, 3> keys{"id", "parent_id", "normalize"};
    reject_unknown(fs, keys, "'process'");
    bool has_id = false, has_parent = false;
    for (const auto& f : fs) {
      if (f.key == "id") {
        p.process_id = required_string(f);
        has_id = true;
      } else if (f.key == "parent_id") {
        p.parent_id = required_string(f);
        has_parent = true;
      } else if (f.key == "normalize") {
        const auto how = required_string(f);
        if (how != "lower" && how != "none")
          fail(at(f.value), "'normalize' must be 'lower' or 'none', not " + quoted(how));
        p.lower_case_ids = how == "lower";
      }
    }
    const auto where = e.value.IsNull() ? at(e.key_node) : at(e.value);
    if (!has_id) fail(where, "'process' needs 'id' (the path of the process id)");
    if (!has_parent) fail(where, "'process' needs 'parent_id' (the path of the parent's id)");
  }

  std::string_view text_;
  std::string file_;
  rule_read_limits limits_;
  std::string prefix_;  ///< "rule 'x': " once known
  std::vector<correlation_rule>* correlations_ = nullptr;
};

/// A whole file, at most max_bytes + 1 bytes of it (`/dev/zero` must not exhaust memory).
[[nodiscard]] inline std::string read_bounded(const std::filesystem::path& path,
                                              std::size_t max_bytes, const char* what) {
  // C stdio, unbuffered: a rule file is a few KB, read whole into the string; an
  // ifstream's buffer, locale and sentry cost more than the read (perf: ~10% of reading
  // the realdata rules).
  struct file_closer {
    void operator()(std::FILE* f) const noexcept { std::fclose(f); }
  };
  errno = 0;
  const std::unique_ptr<std::FILE, file_closer> in(std::fopen(path.string().c_str(), "rb"));
  if (!in) {
    const int err = errno;
    throw sigma_error({path.string(), 0, 0},
                      std::string("cannot open the ") + what +
                          (err != 0 ? std::string(": ") + std::strerror(err) : std::string()));
  }
  std::setvbuf(in.get(), nullptr, _IONBF, 0);
  // Read into the string itself, sized by the file's size when known; then by doubling,
  // for files that grow or report no size.
  std::string text;
  // Bytes read at most: one past the limit shows a file over it (SIZE_MAX: no limit).
  const std::size_t cap = max_bytes == SIZE_MAX ? SIZE_MAX : max_bytes + 1;
  std::error_code size_error;
  const auto size = std::filesystem::file_size(path, size_error);
  std::size_t want = size_error
                         ? std::size_t{4096}
                         : static_cast<std::size_t>(std::min<std::uintmax_t>(size, cap - 1)) + 1;
  while (text.size() < cap) {
    const std::size_t old = text.size();
    want = std::min(want, cap - old);
    text.resize(old + want);
    const std::size_t got = std::fread(text.data() + old, 1, want, in.get());
    text.resize(old + got);
    if (got < want) break;  // end of file, or an error (below)
    want = std::max<std::size_t>(text.size(), 4096);
  }
  if (std::ferror(in.get()) != 0)
    throw sigma_error({path.string(), 0, 0}, std::string("cannot read the ") + what);
  if (text.size() > max_bytes)
    throw sigma_error({path.string(), 0, 0}, std::string("the ") + what + " is larger than " +
                                                 std::to_string(max_bytes) + " bytes (limit)");
  return text;
}

/// Rejects a second rule with an identity already seen, naming both places.
class identity_registry {
 public:
  void add(const rule& r) {
    const auto [it, fresh] = seen_.emplace(r.identity, r.where);
    if (!fresh) {
      const auto& first = it->second;
      throw sigma_error(r.where, "rule " + quote(r.identity) + ": duplicate rule identity, also " +
                                     (first.file.empty() ? "<input>" : first.file) + ":" +
                                     std::to_string(first.line) + ":" +
                                     std::to_string(first.column));
    }
  }

 private:
  static std::string quote(const std::string& s) {
    return "'" + (s.size() <= 200 ? s : s.substr(0, 200) + "...") + "'";
  }
  std::unordered_map<std::string, source_span> seen_;
};

/// What read_files_in_parallel did with each file, in the files' order.
template <class Result>
struct per_file_outcomes {
  std::vector<Result> results;
  /// An exception a file's reading threw (its result is then empty). Files after the
  /// first one that threw may be left unread (empty, no exception): a caller taking
  /// the files in order stops at that one anyway.
  std::vector<std::exception_ptr> errors;
};

/// `read(file)` for every file, on up to `threads` threads (the caller's among them).
template <class Read>
[[nodiscard]] auto read_files_in_parallel(const std::vector<std::filesystem::path>& files,
                                          unsigned threads, Read&& read)
    -> per_file_outcomes<decltype(read(files.front()))> {
  using result = decltype(read(files.front()));
  per_file_outcomes<result> out;
  out.results.resize(files.size());
  out.errors.resize(files.size());
  auto& results = out.results;
  auto& errors = out.errors;
  std::atomic<std::size_t> next{0};
  std::atomic<std::size_t> first_failed{files.size()};  // files past it need no reading
  const auto work = [&]() noexcept {
    for (std::size_t i = next.fetch_add(1); i < files.size(); i = next.fetch_add(1)) {
      if (i > first_failed.load(std::memory_order_relaxed)) continue;
      try {
        results[i] = read(files[i]);
      } catch (...) {
        errors[i] = std::current_exception();
        std::size_t seen = first_failed.load();
        while (i < seen && !first_failed.compare_exchange_weak(seen, i)) {
        }
      }
    }
  };
  {
    std::vector<std::jthread> helpers;  // joined when this scope ends, also on a throw
    const std::size_t wanted = std::min<std::size_t>(threads, files.size());
    helpers.reserve(wanted);
    for (std::size_t t = 1; t < wanted; ++t) {
      try {
        helpers.emplace_back(work);
      } catch (const std::system_error&) {
        break;  // no more threads to be had: the ones started (and this one) do the rest
      }
    }
    work();
  }
  return out;
}

}  // namespace detail

/// Every rule document of a YAML text, in order; `file_name` names it in errors. Throws
/// sigma_error (malformed input, a limit passed, two rules with one identity).
/// Correlation documents are rules of kind `correlation`; with `correlations` given,
/// their sections are also read in full (and checked) into it, in order.
[[nodiscard]] inline std::vector<rule> read_rules(
    std::string_view text, std::string_view file_name, const rule_read_limits& limits = {},
    std::vector<correlation_rule>* correlations = nullptr) {
  detail::sigma_yaml_reader reader(text, std::string(file_name), limits);
  reader.collect_correlations(correlations);
  auto rules = reader.read_rules();
  detail::identity_registry identities;
  for (const auto& r : rules) identities.add(r);
  return rules;
}

/// The rules of one file (errors name it by `path`).
[[nodiscard]] inline std::vector<rule> read_rule_file(
    const std::filesystem::path& path, const rule_read_limits& limits = {},
    std::vector<correlation_rule>* correlations = nullptr) {
  const auto text = detail::read_bounded(path, limits.max_file_bytes, "rule file");
  return read_rules(text, path.string(), limits, correlations);
}

/// Threads read_rule_paths uses when given 0: the hardware's, at most 8 (reading is
/// parser-bound and the files are independent; more threads than cores only contend).
[[nodiscard]] inline unsigned default_read_threads() noexcept {
  const unsigned hardware = std::thread::hardware_concurrency();
  return std::clamp(hardware, 1U, 8U);
}

/// The rules of files and directories, in the order given; a directory contributes its
/// `*.yml` and `*.yaml` files at any depth, sorted by path so that the load order (and
/// so every listing) is the same on every machine. Two rules with one identity, in one
/// file or two, are a sigma_error naming both. The files are read by `threads` threads
/// (0: default_read_threads()); the result and the error are those of reading them one
/// by one in order: the first file (in that order) that fails names the error.
/// With `correlations`, correlation documents are also read in full into it, in the
/// same order (they stay in the result as rules of kind correlation).
[[nodiscard]] inline std::vector<rule> read_rule_paths(
    std::span<const std::filesystem::path> paths, const rule_read_limits& limits = {},
    unsigned threads = 0, std::vector<correlation_rule>* correlations = nullptr) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  const auto check_count = [&](std::size_t count, const fs::path& at) {
    if (count > limits.max_files)
      throw sigma_error({at.string(), 0, 0},
                        "more than " + std::to_string(limits.max_files) + " rule files (limit)");
  };
  for (const auto& path : paths) {
    std::error_code ec;
    const auto status = fs::status(path, ec);
    if (ec || !fs::exists(status))
      throw sigma_error({path.string(), 0, 0}, "no such rule file or directory");
    if (!fs::is_directory(status)) {
      files.push_back(path);
      check_count(files.size(), path);
      continue;
    }
    std::vector<fs::path> found;
    fs::recursive_directory_iterator it(path, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      const auto& p = it->path();
      const auto ext = p.extension();
      std::error_code file_ec;  // a dangling link named *.yml is not a rule file: skipped
      if ((ext == ".yml" || ext == ".yaml") && it->is_regular_file(file_ec)) {
        found.push_back(p);
        check_count(files.size() + found.size(), p);
      }
    }
    if (ec)
      throw sigma_error({path.string(), 0, 0}, "cannot list the rule directory: " + ec.message());
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  auto per_file = detail::read_files_in_parallel(
      files, threads == 0 ? default_read_threads() : threads, [&](const fs::path& file) {
        std::pair<std::vector<rule>, std::vector<correlation_rule>> read;
        read.first = read_rule_file(file, limits, correlations ? &read.second : nullptr);
        return read;
      });
  // In path order, as one thread would: a file's error, else its rules' identities.
  std::vector<rule> out;
  detail::identity_registry identities;
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (per_file.errors[i]) std::rethrow_exception(per_file.errors[i]);
    auto& [rules, file_correlations] = per_file.results[i];
    if (correlations != nullptr)
      for (auto& c : file_correlations) correlations->push_back(std::move(c));
    for (auto& r : rules) {
      identities.add(r);
      out.push_back(std::move(r));
    }
  }
  return out;
}

/// Detection rules (and filters) beside correlation rules, as read_rule_set* return them.
struct rule_set {
  std::vector<rule> rules;  ///< every document but correlations, in load order
  /// Linked (link_correlations): `resolved` indexes `rules` and `correlations`.
  std::vector<correlation_rule> correlations;
};

namespace detail {

inline rule_set split_and_link(std::vector<rule> all, std::vector<correlation_rule> correlations) {
  rule_set out;
  out.correlations = std::move(correlations);
  out.rules.reserve(all.size());
  for (auto& r : all)
    if (r.kind != document_kind::correlation) out.rules.push_back(std::move(r));
  (void)link_correlations(out.rules, out.correlations);
  return out;
}

}  // namespace detail

/// The rules and correlations of one YAML text, linked: a correlation naming an unknown
/// rule, a cycle of correlations, or a bad correlation section is a sigma_error.
[[nodiscard]] inline rule_set read_rule_set(std::string_view text, std::string_view file_name,
                                            const rule_read_limits& limits = {}) {
  std::vector<correlation_rule> correlations;
  auto all = read_rules(text, file_name, limits, &correlations);
  return detail::split_and_link(std::move(all), std::move(correlations));
}

/// read_rule_paths with correlations, linked across all the files.
[[nodiscard]] inline rule_set read_rule_set_paths(std::span<const std::filesystem::path> paths,
                                                  const rule_read_limits& limits = {}) {
  std::vector<correlation_rule> correlations;
  auto all = read_rule_paths(paths, limits, 0, &correlations);
  return detail::split_and_link(std::move(all), std::move(correlations));
}

/// A profile (design 6.1) from YAML text; `file_name` names it in errors and is the
/// default name (its stem). Unknown keys are errors. Throws sigma_error.
[[nodiscard]] inline profile read_profile(std::string_view text, std::string_view file_name) {
  return detail::sigma_yaml_reader(text, std::string(file_name), {}).read_profile();
}

[[nodiscard]] inline profile read_profile_file(const std::filesystem::path& path) {
  const auto text = detail::read_bounded(path, rule_read_limits{}.max_file_bytes, "profile");
  return read_profile(text, path.string());
}

}  // namespace sigma

FLUXCAP_END_NAMESPACE
