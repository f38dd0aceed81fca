// The Sigma compiler: rules + profile -> what the engine runs (design: docs/sigma.md).
//
// For each rule, in load order:
//  1. the logsource filter (contract section 1): rules for another log source are
//     counted as skipped, never errors;
//  2. each field item is mapped by the profile, given its context (the process itself,
//     its parent, grandparent or any strict ancestor: contract section 3), checked
//     (modifier chain, values) and lowered to *leaves*: one check of one field's value
//     (a literal with an anchor, a glob, a regex, a number, a network...);
//  3. each conjunction (a map of items) is split by context into *parts*: the self
//     part is evaluated on the event; every other part is evaluated on the event too,
//     but as the input of a generated flux tag, whose output on a later event says
//     whether the part held on that event's parent, grandparent or ancestor;
//  4. conditions are parsed, checked against the rule's identifiers and bound to
//     identifier slots (no name lookup per event).
// A rule that fails 2-4 for a reason of fluxcap's (an unknown modifier, a regex the
// engine cannot run...) is *unsupported*: listed with the reason, never dropped
// silently. Malformed input (a condition that does not parse) throws `sigma_error`.
//
// Context tags are named by content: the hash of the part's canonical text, so the same
// part in two rules is one tag, and adding or reordering rules never re-labels what a
// saved state remembers.
#pragma once

#include <fluxcap/condition.hpp>
#include <fluxcap/detail/abi_macros.hpp>
#include <fluxcap/hash.hpp>
#include <fluxcap/program.hpp>
#include <fluxcap/sigma/detail/glob.hpp>
#include <fluxcap/sigma/detail/ip.hpp>
#include <fluxcap/sigma/detail/literal_matcher.hpp>
#include <fluxcap/sigma/detail/number.hpp>
#include <fluxcap/sigma/detail/regex_literals.hpp>
#include <fluxcap/sigma/field_accessor.hpp>
#include <fluxcap/sigma/modifiers.hpp>
#include <fluxcap/sigma/profile.hpp>
#include <fluxcap/sigma/regex.hpp>
#include <fluxcap/sigma/rule.hpp>
#include <fluxcap/sigma/sigma_string.hpp>
#include <fluxcap/spec.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

FLUXCAP_BEGIN_NAMESPACE

namespace sigma {

/// Which process's own event a part of a rule is evaluated on.
enum class context_kind : std::uint8_t { self, parent, grandparent, ancestor };

[[nodiscard]] constexpr std::string_view to_string(context_kind c) noexcept {
  switch (c) {
    case context_kind::self:
      return "self";
    case context_kind::parent:
      return "parent";
    case context_kind::grandparent:
      return "grandparent";
    case context_kind::ancestor:
      return "ancestor";
  }
  return "?";
}

struct compile_options {
  /// `windash` expands each dash at a word start into 5 variants: more than this many
  /// variants of one value make the rule unsupported.
  std::size_t max_windash_variants = 625;
  /// `expand` over several placeholders multiplies their values.
  std::size_t max_expand_variants = 4096;
  /// All rules' leaves together (hostile rule sets).
  std::size_t max_leaves = std::size_t{1} << 22;
  /// Whether the event accessor enumerates every string (keyword identifiers).
  bool keywords = true;
};

enum class rule_status : std::uint8_t { ok, skipped_logsource, unsupported };

[[nodiscard]] constexpr std::string_view to_string(rule_status s) noexcept {
  switch (s) {
    case rule_status::ok:
      return "ok";
    case rule_status::skipped_logsource:
      return "skipped";
    case rule_status::unsupported:
      return "unsupported";
  }
  return "?";
}

/// What became of one input rule.
struct rule_report {
  std::size_t source_index = 0;  ///< in the input span
  std::string identity;
  rule_status status = rule_status::ok;
  std::string reason;  ///< unsupported: why; skipped: which logsource field differs
  source_span where;   ///< of the rule, or of the unsupported construct
};

namespace detail {

enum class leaf_kind : std::uint8_t {
  literal,         ///< a literal with an anchor (in the field's literal matcher)
  glob,            ///< a wildcard pattern, verified when its gate literal is hit
  regex,           ///< verified when its gate literal is hit (or always, without one)
  number_equal,    ///< a JSON number equal to it, or a string with its exact text
  boolean_equal,   ///< a JSON boolean, or the string true/false (any case)
  null_value,      ///< the field is absent or holds null
  number_compare,  ///< lt/lte/gt/gte
  cidr,            ///< an IP address in the network
  time_part,       ///< minute/hour/day/week/month/year of a timestamp
  fieldref,        ///< equal (or prefix/suffix/substring) to another field's value
};

enum class compare_op : std::uint8_t { lt, lte, gt, gte };
enum class time_unit : std::uint8_t { minute, hour, day, week, month, year };

inline constexpr std::uint32_t no_rule = 0xffffffffU;
/// The pseudo-field of keyword items: every string of the event.
inline constexpr std::uint32_t keyword_field = 0xfffffffeU;

struct leaf {
  leaf_kind kind = leaf_kind::literal;
  bool cased = false;
  literal_anchor anchor = literal_anchor::exact;
  compare_op op = compare_op::lt;
  time_unit unit = time_unit::minute;
  regex_flags flags{};
  std::uint32_t field = 0;
  std::uint32_t other_field = 0;  ///< fieldref: the field compared with
  std::uint32_t regex = 0;        ///< regex: index in compiled_rules::regexes
  /// Which written value of its item this leaf comes from (a value may lower to several
  /// leaves: windash, base64offset, expand): `all` needs one leaf of every value.
  std::uint32_t value_index = 0;
  std::uint32_t item = 0;  ///< the item this leaf belongs to
  /// The first leaf identical to this one in all but `value_index`, `item` and `check`
  /// (itself when it is the first): identical leaves hold on the same values, so the
  /// engine keeps truth once per check and only checks are in the matchers.
  std::uint32_t check = 0;
  /// glob/regex: verification runs only for values in which this literal (registered
  /// in the field's matcher under this leaf's id) occurs. no_gate: every value.
  bool gated = false;
  std::string text;  ///< literal bytes; number/boolean text; fieldref: other field's path
  sigma_string glob;
  number num{};
  cidr_block network{};
  int time_value = 0;
};

enum class presence : std::uint8_t { none, exists, absent };

struct item {
  std::uint32_t field = 0;          ///< or keyword_field
  bool all = false;                 ///< every leaf must hold (else any)
  bool negated = false;             ///< `neq`: present, not null, and not (any/all)
  presence check = presence::none;  ///< `exists`: only presence is tested
  std::uint32_t first_leaf = 0;
  std::uint32_t leaf_count = 0;
  std::string text;  ///< as written (`Field|mod: 'v1', 'v2'`), for `check`
  /// The rule this item is a witness of (candidate gating): when one of its leaves
  /// holds, the rule is evaluated. no_rule: not a witness.
  std::uint32_t witness_rule = no_rule;
  /// `all` items: only the leaves of this value_index witness (the item cannot hold
  /// unless one of them does), the value whose leaves are estimated rarest.
  /// any_value: every leaf witnesses.
  std::uint32_t witness_value = any_value;
  static constexpr std::uint32_t any_value = 0xffffffffU;
};

struct part {
  context_kind context = context_kind::self;
  std::vector<std::uint32_t> items;
  std::string canonical;  ///< the text its tag name hashes
  std::string tag;        ///< context parts: the flux tag name
  /// Context parts: the flux slot the part's truth is written to before the update,
  /// and the slot its carried value is read from after it (grandparent: hop 2).
  std::uint32_t input_slot = 0;
  std::uint32_t output_slot = 0;
  /// Rules evaluated when the carried value is true (candidate gating).
  std::vector<std::uint32_t> witness_rules;
};

struct conjunction_layout {
  std::vector<std::uint32_t> self_items;     ///< empty: no self part (true)
  std::vector<std::uint32_t> carried_parts;  ///< indices in compiled_rules::parts
};

struct identifier_layout {
  std::string name;
  std::vector<conjunction_layout> any_of;
};

}  // namespace detail

/// A compiled rule, ready to run.
struct compiled_rule {
  std::size_t source_index = 0;
  std::string identity;
  std::vector<detail::identifier_layout> identifiers;  ///< bound condition slot = index
  std::vector<bound_condition> conditions;             ///< a list is their OR
  std::vector<std::string> condition_text;             ///< normalized, for `check`
};

struct regex_spec {
  std::string pattern;  ///< as the engine compiles it (anchors added by modifiers)
  regex_flags flags{};
};

/// Everything `compile` produces. Pure data: an engine (fluxcap/sigma/engine.hpp) binds
/// it to an event accessor, a memory and a regex engine.
struct compiled_rules {
  std::string profile_name;
  std::vector<rule_report> reports;  ///< one per input rule, in input order
  std::vector<compiled_rule> rules;  ///< supported rules, in load order

  std::vector<std::string> fields;  ///< event paths read, indexed by leaf/item field
  std::vector<detail::leaf> leaves;
  std::vector<detail::item> items;
  std::vector<detail::part> parts;                ///< context parts only (self parts are inline)
  std::vector<regex_spec> regexes;                ///< distinct (pattern, flags)
  std::vector<detail::literal_matcher> matchers;  ///< per field (built)
  detail::literal_matcher keyword_matcher;        ///< over every string of the event
  bool uses_keywords = false;
  /// Rules whose conditions can hold with none of their items or parts true (`not x`):
  /// evaluated on every event. The others are evaluated only when a witness holds.
  std::vector<std::uint32_t> always_candidates;

  /// The generated flux spec (context rules; empty when no rule needs context).
  fluxcap::spec flux;
  std::uint32_t flux_slots = 0;  ///< tag slots the flux accessor provides

  // The profile's special paths (the group key, ids, timestamp).
  std::string group_path, id_path, parent_id_path;
  std::optional<std::string> timestamp_path;
  bool lower_case_ids = true;

  [[nodiscard]] std::size_t count(rule_status s) const noexcept {
    return static_cast<std::size_t>(std::count_if(
        reports.begin(), reports.end(), [s](const rule_report& r) { return r.status == s; }));
  }
};

namespace detail {

[[nodiscard]] inline bool iequals_ascii(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (fold_ascii(static_cast<unsigned char>(a[i])) !=
        fold_ascii(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

/// Why a rule's logsource excludes it from a profile, or "" when it applies.
[[nodiscard]] inline std::string logsource_mismatch(const logsource& rule_source,
                                                    const logsource& profile_source) {
  const auto check = [](const char* what, const std::optional<std::string>& r,
                        const std::optional<std::string>& p) -> std::string {
    if (r && p && !iequals_ascii(*r, *p))
      return std::string("logsource ") + what + " '" + *r + "' is not the profile's '" + *p + "'";
    return {};
  };
  if (auto m = check("category", rule_source.category, profile_source.category); !m.empty())
    return m;
  if (auto m = check("product", rule_source.product, profile_source.product); !m.empty()) return m;
  return check("service", rule_source.service, profile_source.service);
}

/// The context of a Sigma field name and the field it reads on that process's event.
struct field_context {
  context_kind context = context_kind::self;
  std::string field;  ///< Sigma name on the evaluated event (before the profile's mapping)
};

[[nodiscard]] inline field_context classify_field(std::string_view name, const profile& p) {
  const auto strip = [&](std::string_view prefix) -> std::optional<std::string_view> {
    if (name.size() > prefix.size() && name.substr(0, prefix.size()) == prefix)
      return name.substr(prefix.size());
    return std::nullopt;
  };
  if (auto rest = strip("GrandParent")) return {context_kind::grandparent, std::string(*rest)};
  if (auto rest = strip("Grandparent")) return {context_kind::grandparent, std::string(*rest)};
  if (auto rest = strip("Ancestor")) return {context_kind::ancestor, std::string(*rest)};
  if (auto rest = strip("Parent"); rest && !p.is_inline_parent(name))
    return {context_kind::parent, std::string(*rest)};
  return {context_kind::self, std::string(name)};
}

/// A stable public key for tag names: names must be printable and the same in every
/// state (they are not secret; the state's own key protects the memory's hashing).
inline constexpr hash_key tag_name_key{0x666c757863617073ULL, 0x69676d612d746167ULL};

[[nodiscard]] inline std::string tag_name(context_kind c, std::string_view canonical) {
  const std::uint64_t h =
      fluxcap::detail::siphash<2, 4>(tag_name_key, canonical.data(), canonical.size());
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(17, '0');
  out[0] = c == context_kind::parent ? 'p' : c == context_kind::grandparent ? 'g' : 'a';
  for (int i = 0; i < 16; ++i) out[static_cast<std::size_t>(16 - i)] = digits[(h >> (4 * i)) & 15];
  return out;
}

/// Appends `s` to `out` with its length, so that concatenations are unambiguous.
inline void append_canonical(std::string& out, std::string_view s) {
  out += std::to_string(s.size());
  out += ':';
  out += s;
}

/// The modifiers of one item, decoded and checked.
struct modifier_chain {
  std::optional<modifier> anchor;  // contains/startswith/endswith
  bool all = false, neq = false, cased = false, exists = false, windash = false, expand = false;
  bool re = false, cidr = false, fieldref = false;
  regex_flags flags{};
  std::optional<compare_op> compare;
  std::optional<time_unit> unit;
  std::vector<modifier> encodings;  // wide/utf16*/base64/base64offset, in written order
};

[[nodiscard]] inline modifier_chain decode_modifiers(const field_item& it) {
  if (!it.unknown_modifiers.empty())
    throw unsupported_error("unknown modifier '" + it.unknown_modifiers.front() + "'");
  modifier_chain m;
  std::size_t kinds = 0;  // value-type modifiers: re, cidr, compare, time, exists, fieldref
  for (const modifier mod : it.modifiers) {
    switch (mod) {
      case modifier::contains:
      case modifier::startswith:
      case modifier::endswith:
        if (m.anchor && *m.anchor != mod)
          throw unsupported_error("modifiers '" + std::string(modifier_name(*m.anchor)) +
                                  "' and '" + std::string(modifier_name(mod)) +
                                  "' cannot be combined");
        m.anchor = mod;
        break;
      case modifier::all:
        m.all = true;
        break;
      case modifier::neq:
        m.neq = true;
        break;
      case modifier::cased:
        m.cased = true;
        break;
      case modifier::exists:
        m.exists = true;
        ++kinds;
        break;
      case modifier::windash:
        m.windash = true;
        break;
      case modifier::expand:
        m.expand = true;
        break;
      case modifier::re:
        m.re = true;
        ++kinds;
        break;
      case modifier::re_i:
      case modifier::re_m:
      case modifier::re_s:
        if (!m.re)
          throw unsupported_error("regex flag '" + std::string(modifier_name(mod)) +
                                  "' without a preceding 're'");
        (mod == modifier::re_i   ? m.flags.ignore_case
         : mod == modifier::re_m ? m.flags.multiline
                                 : m.flags.dot_all) = true;
        break;
      case modifier::base64:
      case modifier::base64offset:
      case modifier::utf16:
      case modifier::utf16le:
      case modifier::utf16be:
      case modifier::wide:
        m.encodings.push_back(mod);
        break;
      case modifier::cidr:
        m.cidr = true;
        ++kinds;
        break;
      case modifier::lt:
      case modifier::lte:
      case modifier::gt:
      case modifier::gte:
        m.compare = mod == modifier::lt    ? compare_op::lt
                    : mod == modifier::lte ? compare_op::lte
                    : mod == modifier::gt  ? compare_op::gt
                                           : compare_op::gte;
        ++kinds;
        break;
      case modifier::minute:
      case modifier::hour:
      case modifier::day:
      case modifier::week:
      case modifier::month:
      case modifier::year:
        m.unit = mod == modifier::minute  ? time_unit::minute
                 : mod == modifier::hour  ? time_unit::hour
                 : mod == modifier::day   ? time_unit::day
                 : mod == modifier::week  ? time_unit::week
                 : mod == modifier::month ? time_unit::month
                                          : time_unit::year;
        ++kinds;
        break;
      case modifier::fieldref:
        m.fieldref = true;
        ++kinds;
        break;
    }
  }
  if (kinds > 1)
    throw unsupported_error(
        "modifiers re, cidr, exists, fieldref, lt/lte/gt/gte and "
        "minute..year cannot be combined with each other");
  const bool string_mods = m.windash || !m.encodings.empty() || m.expand;
  if ((m.re || m.cidr || m.compare || m.unit || m.exists) && string_mods)
    throw unsupported_error(
        "string transformations (windash, expand, base64, utf16...) do not "
        "apply to re, cidr, numeric, time or exists items");
  if ((m.cidr || m.compare || m.unit || m.exists) && m.anchor)
    throw unsupported_error(
        "contains/startswith/endswith do not apply to cidr, numeric, time or "
        "exists items");
  if (m.exists && (m.all || m.neq || m.cased))
    throw unsupported_error("'exists' takes no other modifier");
  if (m.all && it.values.size() < 2 && !it.field.empty())
    throw unsupported_error("'all' needs a list of at least two values");
  return m;
}

}  // namespace detail

/// Compiles `rules` for `p`. `regex` (see fluxcap/sigma/regex.hpp) decides which regexes
/// can run: with `no_regex`, rules using `re` are unsupported.
template <regex_engine Regex = no_regex>
[[nodiscard]] compiled_rules compile(std::span<const rule> rules, const profile& p,
                                     const compile_options& options = {},
                                     const Regex& regex = Regex{});

namespace detail {

/// Builds compiled_rules; one instance per `compile` call.
template <class Regex>
class rule_compiler {
 public:
  rule_compiler(const profile& p, const compile_options& o, const Regex& r)
      : profile_(p), options_(o), regex_(r) {}

  compiled_rules run(std::span<const rule> rules) {
    out_.profile_name = profile_.name;
    out_.group_path = profile_.group;
    out_.id_path = profile_.process_id;
    out_.parent_id_path = profile_.parent_id;
    out_.timestamp_path = profile_.timestamp;
    out_.lower_case_ids = profile_.lower_case_ids;
    // Room for a leaf per written value (most values lower to one): the leaves are
    // large, and growing by doubling moved them ~5% of a compile (perf).
    std::size_t values = 0;
    for (const rule& r : rules)
      for (const auto& d : r.detections)
        for (const auto& c : d.any_of)
          for (const auto& it : c.items) values += std::max<std::size_t>(it.values.size(), 1);
    out_.leaves.reserve(values + values / 8);
    for (std::size_t i = 0; i < rules.size(); ++i) compile_rule(i, rules[i]);
    build_flux();
    share_identical_checks();
    count_check_users();
    for (std::uint32_t r = 0; r < out_.rules.size(); ++r) choose_witnesses(r);
    out_.matchers.resize(out_.fields.size());
    for (std::size_t l = 0; l < out_.leaves.size(); ++l)
      if (out_.leaves[l].check == l) register_literal(static_cast<std::uint32_t>(l));
    for (auto& m : out_.matchers) m.build();
    out_.keyword_matcher.build();
    return std::move(out_);
  }

 private:
  // A rule is compiled into scratch vectors first, then committed: an unsupported rule
  // leaves nothing behind (fields it alone used stay listed, which is harmless).
  struct pending {
    std::vector<leaf> leaves;
    std::vector<item> items;
    std::vector<std::pair<context_kind, std::vector<std::uint32_t>>> parts;  // local item ids
    std::vector<std::string> part_canonical;
    std::vector<std::vector<std::pair<std::vector<std::uint32_t>, std::vector<std::uint32_t>>>>
        identifiers;  // per identifier: conjunctions (self items, local part ids)
    std::vector<std::string> item_canonical;
  };

  std::uint32_t field_index(const std::string& path) {
    const auto [it, inserted] =
        field_ids_.try_emplace(path, static_cast<std::uint32_t>(out_.fields.size()));
    if (inserted) out_.fields.push_back(path);
    return it->second;
  }

  void compile_rule(std::size_t index, const rule& r) {
    rule_report report;
    report.source_index = index;
    report.identity = r.identity;
    report.where = r.where;
    if (r.kind != document_kind::detection) {
      report.status = rule_status::unsupported;
      report.reason = r.kind == document_kind::correlation
                          ? "correlation rules are not supported yet"
                          : "Sigma filters are not supported yet";
      out_.reports.push_back(std::move(report));
      return;
    }
    if (auto why = logsource_mismatch(r.source, profile_.source); !why.empty()) {
      report.status = rule_status::skipped_logsource;
      report.reason = std::move(why);
      out_.reports.push_back(std::move(report));
      return;
    }
    pending_regexes_.clear();
    try {
      commit(r, lower(r), index);
    } catch (const unsupported_at& e) {
      report.status = rule_status::unsupported;
      report.reason = e.reason;
      report.where = e.where.line != 0 ? e.where : r.where;
    }
    out_.reports.push_back(std::move(report));
  }

  struct unsupported_at {
    std::string reason;
    source_span where;
  };

  pending lower(const rule& r) {
    pending pend;
    for (const auto& d : r.detections) {
      auto& conjunctions = pend.identifiers.emplace_back();
      for (const auto& c : d.any_of) {
        std::array<std::vector<std::uint32_t>, 4> by_context;
        for (const auto& it : c.items) {
          try {
            const auto [ctx, local] = lower_item(it, pend);
            by_context[static_cast<std::size_t>(ctx)].push_back(local);
          } catch (const unsupported_error& e) {
            throw unsupported_at{std::string(e.what()) + " (in '" + d.name + "')", it.where};
          }
        }
        std::vector<std::uint32_t> carried;
        for (std::size_t k = 1; k < 4; ++k) {
          if (by_context[k].empty()) continue;
          pend.parts.emplace_back(static_cast<context_kind>(k), by_context[k]);
          carried.push_back(static_cast<std::uint32_t>(pend.parts.size() - 1));
        }
        conjunctions.emplace_back(std::move(by_context[0]), std::move(carried));
      }
    }
    return pend;
  }

  /// Lowers one field item into pend's leaves and one item; returns its context and
  /// local item index.
  std::pair<context_kind, std::uint32_t> lower_item(const field_item& it, pending& pend) {
    modifier_chain m = decode_modifiers(it);
    item out;
    context_kind ctx = context_kind::self;
    std::string canonical;
    if (it.field.empty()) {
      if (!options_.keywords)
        throw unsupported_error("keyword identifiers need an accessor that enumerates strings");
      if (m.re || m.cidr || m.compare || m.unit || m.exists || m.fieldref || m.neq)
        throw unsupported_error("keywords take only string modifiers");
      out.field = keyword_field;
      if (!m.anchor) m.anchor = modifier::contains;  // keywords are substrings (contract 4)
      append_canonical(canonical, "*keywords*");
    } else {
      const auto fc = classify_field(it.field, profile_);
      ctx = fc.context;
      if (fc.field.empty()) throw unsupported_error("field '" + it.field + "' names no field");
      const std::string path = profile_.path_of(fc.field);
      out.field = field_index(path);
      append_canonical(canonical, path);
    }
    for (const modifier mod : it.modifiers) append_canonical(canonical, modifier_name(mod));
    out.all = m.all;
    out.negated = m.neq;
    out.first_leaf = static_cast<std::uint32_t>(pend.leaves.size());

    if (m.exists) {
      if (it.values.size() != 1 || it.values[0].type != sigma_value::kind::boolean)
        throw unsupported_error("'exists' takes one value, true or false");
      out.check = it.values[0].text == "true" ? presence::exists : presence::absent;
      append_canonical(canonical, it.values[0].text);
    }
    std::uint32_t value_index = 0;
    for (const auto& v : m.exists ? std::span<const sigma_value>{} : std::span(it.values)) {
      append_canonical(canonical, std::to_string(static_cast<int>(v.type)));
      append_canonical(canonical, v.text);
      const std::size_t first = pend.leaves.size();
      lower_value(v, m, out, ctx, it, pend);
      for (std::size_t l = first; l < pend.leaves.size(); ++l) {
        pend.leaves[l].value_index = value_index;
        pend.leaves[l].item = static_cast<std::uint32_t>(pend.items.size());
      }
      ++value_index;
    }
    out.leaf_count = static_cast<std::uint32_t>(pend.leaves.size()) - out.first_leaf;
    out.text = it.field.empty() ? std::string("keywords") : it.field;
    for (const modifier mod : it.modifiers) (out.text += '|') += modifier_name(mod);
    for (const auto& u : it.unknown_modifiers) (out.text += '|') += u;
    out.text += ':';
    for (std::size_t v = 0; v < it.values.size(); ++v) {
      out.text += v == 0 ? " " : ", ";
      const auto& value = it.values[v];
      if (value.type == sigma_value::kind::string) {
        out.text += '\'';
        out.text += value.text;
        out.text += '\'';
      } else {
        out.text += value.type == sigma_value::kind::null ? std::string("null") : value.text;
      }
    }
    if (out.check == presence::none && out.leaf_count == 0)
      throw unsupported_error("item has no value");
    if (out.all && out.field == keyword_field && out.leaf_count < 2) out.all = false;
    pend.items.push_back(out);
    pend.item_canonical.push_back(std::move(canonical));
    if (pend.leaves.size() + out_.leaves.size() > options_.max_leaves)
      throw unsupported_error("more than " + std::to_string(options_.max_leaves) +
                              " values in the rule set");
    return {ctx, static_cast<std::uint32_t>(pend.items.size() - 1)};
  }

  void lower_value(const sigma_value& v, const modifier_chain& m, item& target, context_kind ctx,
                   const field_item& it, pending& pend) {
    leaf base;
    base.field = target.field;
    base.cased = m.cased;
    if (v.type == sigma_value::kind::null) {
      if (m.re || m.cidr || m.compare || m.unit || m.fieldref)
        throw unsupported_error("null is not a value for this modifier");
      base.kind = leaf_kind::null_value;
      pend.leaves.push_back(std::move(base));
      return;
    }
    if (m.re) {
      if (v.type != sigma_value::kind::string) throw unsupported_error("'re' takes a string");
      std::string pattern = v.text;
      if (m.anchor == modifier::startswith && (pattern.empty() || pattern.front() != '^'))
        pattern = "^(?:" + pattern + ")";
      if (m.anchor == modifier::endswith && (pattern.empty() || pattern.back() != '$'))
        pattern = "(?:" + pattern + ")$";
      auto compiled = regex_.compile(pattern, m.flags);
      if (const auto* error = std::get_if<std::string>(&compiled))
        throw unsupported_error("regex rejected: " + *error);
      base.kind = leaf_kind::regex;
      base.flags = m.flags;
      base.regex = static_cast<std::uint32_t>(pending_regexes_.size() + out_.regexes.size());
      const auto literals = extract_required_literals(pattern, m.flags);
      if (!literals.best().empty()) {
        base.gated = true;
        base.text = std::string(literals.best());
      }
      pending_regexes_.push_back(regex_spec{std::move(pattern), m.flags});
      pend.leaves.push_back(std::move(base));
      return;
    }
    if (m.cidr) {
      auto network = parse_cidr(v.text);
      if (!network) throw unsupported_error("'" + v.text + "' is not a network (cidr)");
      base.kind = leaf_kind::cidr;
      base.network = *network;
      pend.leaves.push_back(std::move(base));
      return;
    }
    if (m.compare || m.unit) {
      auto n = parse_number(v.text);
      if (!n || v.type == sigma_value::kind::boolean)
        throw unsupported_error("'" + v.text + "' is not a number");
      if (m.compare) {
        base.kind = leaf_kind::number_compare;
        base.op = *m.compare;
        base.num = *n;
      } else {
        if (!n->integral) throw unsupported_error("time parts are integers");
        base.kind = leaf_kind::time_part;
        base.unit = *m.unit;
        base.time_value = static_cast<int>(std::clamp<std::int64_t>(n->i, -1, 100000));
      }
      pend.leaves.push_back(std::move(base));
      return;
    }
    if (m.fieldref) {
      if (v.type != sigma_value::kind::string)
        throw unsupported_error("'fieldref' takes a field name");
      const auto fc = classify_field(v.text, profile_);
      if (fc.context != ctx)
        throw unsupported_error("fieldref compares fields of two processes ('" + it.field +
                                "' and '" + v.text + "'); only boolean context is carried");
      base.kind = leaf_kind::fieldref;
      base.other_field = field_index(profile_.path_of(fc.field));
      base.anchor = !m.anchor                           ? literal_anchor::exact
                    : *m.anchor == modifier::contains   ? literal_anchor::contains
                    : *m.anchor == modifier::startswith ? literal_anchor::prefix
                                                        : literal_anchor::suffix;
      pend.leaves.push_back(std::move(base));
      return;
    }
    const bool string_mods = m.anchor || m.windash || !m.encodings.empty() || m.expand;
    if (v.type == sigma_value::kind::number && !string_mods) {
      base.kind = leaf_kind::number_equal;
      base.text = v.text;
      auto n = parse_number(v.text);
      if (!n) throw unsupported_error("'" + v.text + "' is not a number");
      base.num = *n;
      pend.leaves.push_back(std::move(base));
      return;
    }
    if (v.type == sigma_value::kind::boolean && !string_mods) {
      base.kind = leaf_kind::boolean_equal;
      base.text = v.text;
      pend.leaves.push_back(std::move(base));
      return;
    }
    // A string (or a number/boolean under string modifiers, as its text).
    std::vector<sigma_string> variants{sigma_string::parse(v.text, m.expand)};
    if (m.expand) variants = expand_placeholders(variants.front());
    if (m.windash) {
      std::vector<sigma_string> next;
      for (const auto& s : variants)
        for (auto& w : windash_variants(s, options_.max_windash_variants))
          next.push_back(std::move(w));
      variants = std::move(next);
    }
    for (const modifier enc : m.encodings) {
      std::vector<sigma_string> next;
      for (const auto& s : variants) {
        if (enc == modifier::base64 || enc == modifier::base64offset) {
          if (!s.is_literal())
            throw unsupported_error("base64 of a value with wildcards cannot be matched");
          if (enc == modifier::base64) {
            next.push_back(sigma_string::from_literal(base64_encode(s.literal())));
          } else {
            for (const auto& b : base64offset_variants(s.literal()))
              next.push_back(sigma_string::from_literal(b));
          }
        } else {
          // Literal runs encoded, wildcards kept; `utf16`'s byte-order mark once in front.
          next.push_back(encode_utf16(s, enc));
        }
      }
      variants = std::move(next);
    }
    for (auto& s : variants) {
      if (m.anchor == modifier::contains) s.prepend_any_run().append_any_run();
      if (m.anchor == modifier::startswith) s.append_any_run();
      if (m.anchor == modifier::endswith) s.prepend_any_run();
      pend.leaves.push_back(lower_glob(std::move(s), base));
    }
  }

  std::vector<sigma_string> expand_placeholders(const sigma_string& s) {
    std::vector<std::vector<glob_piece>> acc{{}};
    for (const auto& piece : s.pieces()) {
      if (piece.type != glob_piece::kind::placeholder) {
        for (auto& a : acc) a.push_back(piece);
        continue;
      }
      const auto* values = profile_.placeholder(piece.text);
      if (!values) throw unsupported_error("unresolved placeholder %" + piece.text + "%");
      std::vector<std::vector<glob_piece>> next;
      for (const auto& a : acc)
        for (const auto& value : *values) {
          auto b = a;
          // A named value: a range-for over a temporary's member would read freed memory.
          const sigma_string parsed = sigma_string::parse(value);
          for (const auto& q : parsed.pieces()) b.push_back(q);
          next.push_back(std::move(b));
          if (next.size() > options_.max_expand_variants)
            throw unsupported_error("expand gives more than " +
                                    std::to_string(options_.max_expand_variants) + " variants");
        }
      acc = std::move(next);
    }
    std::vector<sigma_string> out;
    for (auto& pieces : acc) {
      std::string written;
      for (const auto& q : pieces) {
        if (q.type == glob_piece::kind::any_run) {
          written += '*';
        } else if (q.type == glob_piece::kind::any_char) {
          written += '?';
        } else {
          for (const char c : q.text) {
            if (c == '*' || c == '?' || c == '\\') written += '\\';
            written += c;
          }
        }
      }
      out.push_back(sigma_string::parse(written));
    }
    return out;
  }

  /// A wildcard pattern as the cheapest leaf: a literal with an anchor when its only
  /// wildcards are `*` at its ends, else a glob gated by its longest literal run.
  static leaf lower_glob(sigma_string s, const leaf& base) {
    leaf l = base;
    const auto& pieces = s.pieces();
    using k = glob_piece::kind;
    const bool star_front = !pieces.empty() && pieces.front().type == k::any_run;
    const bool star_back = pieces.size() > 1 && pieces.back().type == k::any_run;
    const std::size_t begin = star_front ? 1 : 0;
    const std::size_t end = pieces.size() - (star_back ? 1 : 0);
    if (end <= begin + 1 && (end == begin || pieces[begin].type == k::literal)) {
      l.kind = leaf_kind::literal;
      l.text = end == begin ? std::string() : pieces[begin].text;
      l.anchor = star_front && (star_back || end == begin) ? literal_anchor::contains
                 : star_front                              ? literal_anchor::suffix
                 : star_back                               ? literal_anchor::prefix
                                                           : literal_anchor::exact;
      return l;
    }
    l.kind = leaf_kind::glob;
    std::size_t best = pieces.size();
    for (std::size_t i = 0; i < pieces.size(); ++i)
      if (pieces[i].type == k::literal &&
          (best == pieces.size() || pieces[i].text.size() > pieces[best].text.size()))
        best = i;
    if (best != pieces.size()) {
      l.gated = true;
      l.text = pieces[best].text;
    }
    l.glob = std::move(s);
    return l;
  }

  void commit(const rule& r, pending pend, std::size_t index) {
    compiled_rule cr;
    cr.source_index = index;
    cr.identity = r.identity;
    // Conditions first: an unknown identifier makes the rule unsupported, before any of
    // its leaves are committed.
    std::vector<std::string> names;
    for (const auto& d : r.detections) names.push_back(d.name);
    if (r.conditions.empty()) throw unsupported_at{"no condition", r.where};
    for (std::size_t c = 0; c < r.conditions.size(); ++c) {
      const auto& text = r.conditions[c];
      const source_span where = c < r.condition_where.size() ? r.condition_where[c] : r.where;
      if (text.find('|') != std::string::npos)
        throw unsupported_at{"aggregation in the condition: use a correlation rule", where};
      std::optional<condition> parsed;
      try {
        parsed = condition::parse(text, "sigma");
      } catch (const condition_error& e) {
        source_span at = where;
        if (e.column() != 0 && at.column != 0)
          at.column += static_cast<std::uint32_t>(e.column() - 1);
        throw sigma_error(at, "rule '" + r.identity + "': condition: " + e.message());
      }
      for (const auto& ref : parsed->references()) {
        if (ref.pattern) continue;
        std::string full = ref.rule == "sigma"
                               ? std::string(ref.name)
                               : std::string(ref.rule) + "." + std::string(ref.name);
        if (std::find(names.begin(), names.end(), full) == names.end())
          throw unsupported_at{
              "the condition names '" + full + "', which is not an identifier of the rule", where};
      }
      cr.conditions.push_back(parsed->bind_names(names));
      cr.condition_text.push_back(parsed->to_string());
    }
    // Leaves, items and parts get global ids.
    const auto leaf_base = static_cast<std::uint32_t>(out_.leaves.size());
    const auto item_base = static_cast<std::uint32_t>(out_.items.size());
    for (auto& l : pend.leaves) {
      l.item += item_base;
      out_.leaves.push_back(std::move(l));
    }
    for (auto& regex : pending_regexes_) out_.regexes.push_back(std::move(regex));
    pending_regexes_.clear();
    for (auto& it : pend.items) {
      it.first_leaf += leaf_base;
      out_.items.push_back(it);
      if (it.field == keyword_field) out_.uses_keywords = true;
    }
    std::vector<std::uint32_t> part_ids;
    for (auto& [ctx, local_items] : pend.parts) {
      std::vector<std::string> texts;
      for (auto i : local_items) texts.push_back(pend.item_canonical[i]);
      std::sort(texts.begin(), texts.end());
      texts.erase(std::unique(texts.begin(), texts.end()), texts.end());
      std::string canonical(to_string(ctx));
      for (const auto& t : texts) append_canonical(canonical, t);
      auto [pos, inserted] =
          part_ids_.try_emplace(canonical, static_cast<std::uint32_t>(out_.parts.size()));
      if (inserted) {
        part pt;
        pt.context = ctx;
        for (auto i : local_items) pt.items.push_back(i + item_base);
        pt.tag = tag_name(ctx, canonical);
        pt.canonical = std::move(canonical);
        if (!tag_names_.insert(pt.tag).second)
          throw unsupported_at{"two different context parts hash to tag " + pt.tag, r.where};
        out_.parts.push_back(std::move(pt));
      }
      part_ids.push_back(pos->second);
    }
    for (std::size_t d = 0; d < r.detections.size(); ++d) {
      identifier_layout id;
      id.name = r.detections[d].name;
      for (auto& [self_items, parts] : pend.identifiers[d]) {
        conjunction_layout cl;
        for (auto i : self_items) cl.self_items.push_back(i + item_base);
        for (auto p : parts) cl.carried_parts.push_back(part_ids[p]);
        id.any_of.push_back(std::move(cl));
      }
      cr.identifiers.push_back(std::move(id));
    }
    out_.rules.push_back(std::move(cr));
  }

  /// Per check: the items using it (a literal many rules name, such as an endswith
  /// '\\cmd.exe', names a common process: rule authors write about common tools).
  void count_check_users() {
    check_users_.assign(out_.leaves.size(), 0);
    std::vector<std::uint32_t> last_item(out_.leaves.size(), no_rule);
    for (const auto& lf : out_.leaves)
      if (last_item[lf.check] != lf.item) {
        last_item[lf.check] = lf.item;
        ++check_users_[lf.check];
      }
  }

  /// Estimated share of events on which a leaf holds (lower is rarer): a static model,
  /// used only to pick witnesses (any choice is correct; rarer ones make fewer
  /// candidates). A contains literal of n bytes ~2^-(n-3); an anchored one (exact,
  /// prefix, suffix) ~2^-(n/2), its fields (images, users) having few distinct values;
  /// both times the square root of the number of items naming the same check.
  [[nodiscard]] double leaf_estimate(const leaf& lf) const {
    double p = 1.0;
    const auto bytes = static_cast<double>(lf.text.size());
    switch (lf.kind) {
      case leaf_kind::literal:
        p = lf.anchor == literal_anchor::contains ? std::exp2(-(bytes - 3.0))
                                                  : std::exp2(-bytes / 2.0);
        break;
      case leaf_kind::glob:
      case leaf_kind::regex:
        // Gated ones are verified where their required literal occurs.
        p = lf.gated ? std::exp2(-(bytes - 3.0)) : 0.25;
        break;
      case leaf_kind::null_value:
      case leaf_kind::fieldref:
        p = 1.0;
        break;
      default:  // numbers, booleans, networks, time parts
        p = 0.25;
    }
    if (lf.field == keyword_field) p *= 4.0;
    p *= std::sqrt(static_cast<double>(std::max<std::uint32_t>(1, check_users_[lf.check])));
    return std::min(1.0, p);
  }

  /// The estimate of an item as a witness (the sum over its witnessing leaves), choosing
  /// an `all` item's rarest value (item::witness_value).
  double item_estimate(std::uint32_t i) {
    item& it = out_.items[i];
    const auto first = it.first_leaf, end = it.first_leaf + it.leaf_count;
    if (!it.all) {
      double sum = 0;
      for (auto l = first; l < end; ++l) sum += leaf_estimate(out_.leaves[l]);
      return sum;
    }
    double best = std::numeric_limits<double>::infinity();
    for (auto l = first; l < end;) {
      const auto value = out_.leaves[l].value_index;
      double sum = 0;
      for (; l < end && out_.leaves[l].value_index == value; ++l)
        sum += leaf_estimate(out_.leaves[l]);
      if (sum < best) {
        best = sum;
        it.witness_value = value;
      }
    }
    return best;
  }

  /// Candidate gating (design 4.6): a set of items and carried parts at least one of
  /// which holds whenever the rule fires. Per identifier, one element a conjunction (the
  /// positive self item estimated rarest, item_estimate, else a carried part); per
  /// condition, the identifiers bound_condition::witness picks (the least summed estimate).
  void choose_witnesses(std::uint32_t rule_index) {
    const compiled_rule& cr = out_.rules[rule_index];
    constexpr double none = 1e12;
    constexpr double part_estimate = 0.5;  // a parent's condition: unknown, moderate
    struct element {
      bool part = false;
      std::uint32_t index = 0;
    };
    std::vector<std::vector<element>> chosen(cr.identifiers.size());
    std::vector<double> cost(cr.identifiers.size(), 0.0);
    for (std::size_t d = 0; d < cr.identifiers.size(); ++d) {
      for (const auto& conj : cr.identifiers[d].any_of) {
        std::optional<element> best;
        double best_cost = none;
        for (const auto i : conj.self_items) {
          const item& it = out_.items[i];
          if (it.negated || it.check != presence::none || it.leaf_count == 0) continue;
          const double c = item_estimate(i);
          if (c < best_cost) {
            best_cost = c;
            best = element{false, i};
          }
        }
        for (const auto p : conj.carried_parts)
          if (part_estimate < best_cost) {
            best_cost = part_estimate;
            best = element{true, p};
          }
        if (!best) {
          cost[d] = none;
          break;
        }
        chosen[d].push_back(*best);
        cost[d] += best_cost;
      }
    }
    std::vector<std::uint32_t> identifiers;
    for (const auto& c : cr.conditions) {
      const auto w = c.witness([&](std::uint32_t slot) { return cost[slot]; });
      if (!w) {
        out_.always_candidates.push_back(rule_index);
        return;
      }
      for (const auto slot : *w) {
        if (cost[slot] >= none) {
          out_.always_candidates.push_back(rule_index);
          return;
        }
        identifiers.push_back(slot);
      }
    }
    for (const auto slot : identifiers)
      for (const auto& e : chosen[slot]) {
        if (!e.part) {
          out_.items[e.index].witness_rule = rule_index;
        } else {
          auto& rules = out_.parts[e.index].witness_rules;
          if (std::find(rules.begin(), rules.end(), rule_index) == rules.end())
            rules.push_back(rule_index);
        }
      }
  }

  /// One regex per distinct (pattern, flags), one check per distinct leaf: rule sets
  /// repeat values (variants of a rule, common images), and each repeat would otherwise
  /// be a matcher pattern, a hit and a verification of its own on every value.
  void share_identical_checks() {
    std::map<std::pair<std::string, unsigned>, std::uint32_t> regex_ids;
    std::vector<regex_spec> regexes;
    std::vector<std::uint32_t> regex_remap(out_.regexes.size());
    for (std::size_t r = 0; r < out_.regexes.size(); ++r) {
      auto& spec = out_.regexes[r];
      const unsigned flags = (spec.flags.ignore_case ? 1U : 0U) | (spec.flags.multiline ? 2U : 0U) |
                             (spec.flags.dot_all ? 4U : 0U);
      const auto [it, inserted] = regex_ids.try_emplace(std::pair{spec.pattern, flags},
                                                        static_cast<std::uint32_t>(regexes.size()));
      if (inserted) regexes.push_back(std::move(spec));
      regex_remap[r] = it->second;
    }
    out_.regexes = std::move(regexes);
    std::unordered_map<std::string, std::uint32_t> check_ids;
    std::string key;
    for (std::uint32_t l = 0; l < out_.leaves.size(); ++l) {
      auto& lf = out_.leaves[l];
      if (lf.kind == leaf_kind::regex) lf.regex = regex_remap[lf.regex];
      check_key(lf, key);
      lf.check = check_ids.try_emplace(key, l).first->second;
    }
  }

  /// Every member of a leaf but value_index, item and check, unambiguously.
  static void check_key(const leaf& l, std::string& key) {
    key.clear();
    const auto add_u32 = [&](std::uint64_t v, int bytes) {
      for (int i = 0; i < bytes; ++i) key += static_cast<char>((v >> (8 * i)) & 0xff);
    };
    add_u32(static_cast<std::uint64_t>(l.kind), 1);
    add_u32(l.cased ? 1 : 0, 1);
    add_u32(static_cast<std::uint64_t>(l.anchor), 1);
    add_u32(static_cast<std::uint64_t>(l.op), 1);
    add_u32(static_cast<std::uint64_t>(l.unit), 1);
    add_u32((l.flags.ignore_case ? 1U : 0U) | (l.flags.multiline ? 2U : 0U) |
                (l.flags.dot_all ? 4U : 0U),
            1);
    add_u32(l.gated ? 1 : 0, 1);
    add_u32(l.field, 4);
    add_u32(l.other_field, 4);
    add_u32(l.regex, 4);
    add_u32(l.num.integral ? 1 : 0, 1);
    add_u32(static_cast<std::uint64_t>(l.num.i), 8);
    std::uint64_t d = 0;
    static_assert(sizeof d == sizeof l.num.d);
    std::memcpy(&d, &l.num.d, sizeof d);
    add_u32(d, 8);
    for (const auto b : l.network.network.bytes) add_u32(b, 1);
    add_u32(l.network.network.v4 ? 1 : 0, 1);
    add_u32(l.network.prefix, 4);
    add_u32(static_cast<std::uint64_t>(static_cast<std::int64_t>(l.time_value)), 8);
    append_canonical(key, l.text);
    add_u32(l.glob.pieces().size(), 8);
    for (const auto& p : l.glob.pieces()) {
      add_u32(static_cast<std::uint64_t>(p.type), 1);
      append_canonical(key, p.text);
    }
  }

  void register_literal(std::uint32_t id) {
    const leaf& l = out_.leaves[id];
    const bool literal = l.kind == leaf_kind::literal;
    if (!literal && !l.gated) return;
    auto& matcher = l.field == keyword_field ? out_.keyword_matcher : out_.matchers[l.field];
    // Gates are found case-insensitively: a superset of the values to verify.
    matcher.add(l.text, literal ? l.anchor : literal_anchor::contains, literal && l.cased, id);
  }

  /// One flux rule per context kind (grandparent: two hops), sharded when a kind has
  /// more tags than a rule may hold.
  void build_flux() {
    std::array<std::vector<std::uint32_t>, 4> by_kind;
    for (std::uint32_t i = 0; i < out_.parts.size(); ++i)
      by_kind[static_cast<std::size_t>(out_.parts[i].context)].push_back(i);
    std::uint32_t slot = 0;
    for (auto& p : out_.parts) {
      p.input_slot = p.output_slot = slot++;
      if (p.context == context_kind::grandparent) p.output_slot = slot++;
    }
    out_.flux_slots = slot;
    const auto add_rules = [&](std::string base, fluxcap::action act, context_kind kind,
                               std::vector<std::uint32_t>& parts) {
      if (parts.empty()) return;
      std::sort(parts.begin(), parts.end(),
                [&](auto a, auto b) { return out_.parts[a].tag < out_.parts[b].tag; });
      const std::size_t shards = (parts.size() + max_tags_per_rule - 1) / max_tags_per_rule;
      for (std::size_t s = 0; s < shards; ++s) {
        std::vector<tag_spec> tags;
        for (std::size_t i = s * max_tags_per_rule;
             i < std::min(parts.size(), (s + 1) * max_tags_per_rule); ++i)
          tags.emplace_back(out_.parts[parts[i]].tag);
        std::string name = base;
        if (shards > 1) name += "-" + std::to_string(s);
        rule_spec r = act == fluxcap::action::parent
                          ? parent_rule(std::move(name), "parent_id", "id", std::move(tags))
                          : ancestor_rule(std::move(name), "parent_id", "id", std::move(tags));
        r.exclusive = true;
        r.description = std::string("generated by the Sigma front-end: ") +
                        std::string(to_string(kind)) + " context";
        out_.flux.add(std::move(r));
      }
    };
    add_rules("sigma-parent", fluxcap::action::parent, context_kind::parent, by_kind[1]);
    add_rules("sigma-grandparent-1", fluxcap::action::parent, context_kind::grandparent,
              by_kind[2]);
    add_rules("sigma-grandparent-2", fluxcap::action::parent, context_kind::grandparent,
              by_kind[2]);
    add_rules("sigma-ancestor", fluxcap::action::ancestor, context_kind::ancestor, by_kind[3]);
  }

  const profile& profile_;
  const compile_options& options_;
  const Regex& regex_;
  compiled_rules out_;
  std::vector<std::uint32_t> check_users_;  // by check: items naming it
  std::unordered_map<std::string, std::uint32_t> field_ids_;
  std::unordered_map<std::string, std::uint32_t> part_ids_;
  std::unordered_set<std::string> tag_names_;
  std::vector<regex_spec> pending_regexes_;
};

}  // namespace detail

template <regex_engine Regex>
compiled_rules compile(std::span<const rule> rules, const profile& p,
                       const compile_options& options, const Regex& regex) {
  return detail::rule_compiler<Regex>(p, options, regex).run(rules);
}

}  // namespace sigma

FLUXCAP_END_NAMESPACE
