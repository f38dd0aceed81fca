// YAML (and JSON) front end for specs. Needs yaml-cpp (the trees) and libyaml (the
// parser, detail/libyaml_events.hpp): link the optional CMake target `fluxcap::yaml`; the
// core (`fluxcap::fluxcap`) never depends on them.
//
// Accepted documents (JSON is YAML, so every shape may also be written as JSON):
//
// 1. A mapping with `rules:` (a list of rules) and optionally `conditions:` and
//    `timestamp:` (the events' time column, for rules with a `timespan`).
//    No other top-level key is accepted.
// 2. A single rule: a mapping with `rule_name` or `rulename` (seed 002's JSON
//    examples are this shape).
// 3. A list of rules.
//
// A rule is a mapping with these keys (any other key is an error):
//   rulename | rule_name  required; exactly one of the two spellings
//   description           optional string (may be empty)
//   action                temporal | parent | ancestor
//   ordered               true | false            (temporal only)
//   groupby               a column, or a list of columns (temporal only)
//   parent, child         columns                 (parent and ancestor only)
//   timespan              a number and a unit, ms | s | m | h | d (`5m`): tags are
//                         recalled only within it (semantics section 6)
//   exclusive             true | false            (parent and ancestor only): an event
//                         sees its relatives' tags, never its own (docs/semantics.md)
//   tags                  required list; each entry is a tag name, or a mapping
//                         {name, prefix_get, prefix_put, put_condition}
// With `action` the rule is high-level (seed 000); without, it is low-level (seed
// 002) and its tags may carry prefix_get/prefix_put/put_condition. A rule named
// with `rulename` must have an `action`: a forgotten action would otherwise turn
// it silently into a low-level rule with different semantics (no temporal skip
// rule); low-level rules are named with `rule_name`, as in seed 002. Which fields
// belong to which form is checked by `fluxcap::compile`, with these locations.
//
// `conditions:` maps a detection name to its post-flux condition (see
// fluxcap/condition.hpp), either as a string or as {rule: R, condition: "..."}.
// Bare tag names in the condition refer to rule R, or to the detection name when
// no `rule` is given. Each condition is parsed here so syntax errors report
// file:line:col; the text is returned, not the parsed condition.
//
// Every error is a `fluxcap::spec_error` whose what() reads
// `file:line:col: rule 'r': tag 't': problem` (rule and tag when known).
#pragma once

#include <fluxcap/condition.hpp>
#include <fluxcap/detail/libyaml_events.hpp>
#include <fluxcap/error.hpp>
#include <fluxcap/program.hpp>
#include <fluxcap/spec.hpp>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

FLUXCAP_BEGIN_NAMESPACE
namespace yaml {

/// One entry of `conditions:`.
struct condition_source {
  std::string name;                ///< the detection name (the key)
  std::string rule;                ///< the `rule:` given, or "" (bare names then refer to `name`)
  std::string text;                ///< the condition text, as written
  fluxcap::source_location where;  ///< where the condition text starts
};

/// Bounds on a spec read from text (hostile or mistaken input); exceeding one is a
/// spec_error naming the limit. The defaults are far above real rule sets.
struct spec_limits {
  /// Longest spec text (and spec file), in bytes.
  std::size_t max_bytes = std::size_t{16} << 20;
  /// Most rules.
  std::size_t max_rules = 10000;
  /// Most tags in one rule.
  std::size_t max_tags_per_rule = 1000;
  /// Most post-flux conditions.
  std::size_t max_conditions = 10000;
  /// Most YAML nodes (scalars, lists, mappings) in the spec, with aliases expanded: an
  /// alias counts as all the nodes of what it refers to, each time it is used. Counted
  /// while yaml-cpp's tree is built, before the reader walks it; the tree (about 500
  /// bytes a node) holds at most 65536 nodes until the whole text is counted, so both stay
  /// bounded (alias bombs).
  std::size_t max_nodes = 500000;
  /// Most bytes of scalar text in the spec with aliases expanded (as `max_nodes`).
  /// Without aliases the scalars are never longer than the text itself.
  std::size_t max_expanded_bytes = std::size_t{16} << 20;
  /// Nesting depth and length of one condition (see fluxcap/condition.hpp). YAML
  /// nesting itself is bounded by libyaml_events (2000 levels, a syntax error beyond).
  condition_limits condition;
};

/// A parsed spec file: the spec itself and the post-flux conditions beside it.
struct document {
  fluxcap::spec spec;
  std::vector<condition_source> conditions;
};

}  // namespace yaml
FLUXCAP_END_NAMESPACE

FLUXCAP_BEGIN_NAMESPACE
namespace detail {

/// Optimal-string-alignment distance (edits and adjacent swaps), for "did you
/// mean" hints on short keys; quadratic, which is nothing at these sizes.
[[nodiscard]] inline std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev2(b.size() + 1), prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        cur[j] = std::min(cur[j], prev2[j - 2] + 1);
    }
    std::swap(prev2, prev);
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

/// " (did you mean 'x'?)" for the closest candidate within a small distance, or "".
template <class Candidates>
[[nodiscard]] std::string did_you_mean(std::string_view word, const Candidates& candidates) {
  std::string_view best;
  std::size_t best_distance = 3;  // more than two edits is a different word
  for (const std::string_view c : candidates) {
    const auto d = edit_distance(word, c);
    // Short words need a closer match: `child` is not a typo of `tags`.
    if (d < best_distance && d <= c.size() / 3 + 1) {
      best = c;
      best_distance = d;
    }
  }
  return best.empty() ? std::string() : " (did you mean '" + std::string(best) + "'?)";
}

[[nodiscard]] inline std::string did_you_mean(std::string_view word,
                                              std::initializer_list<std::string_view> candidates) {
  return did_you_mean<std::initializer_list<std::string_view>>(word, candidates);
}

/// What load_documents found: where each document starts and whether a limit stopped it.
struct yaml_scan {
  enum class limit : std::uint8_t { none, documents, nodes, expanded_bytes };
  std::vector<YAML::Mark> starts;  ///< the first token of each document read
  limit exceeded = limit::none;
  YAML::Mark where;  ///< the event at which `exceeded` was passed
};

/// Bounds for load_documents; a document count past `max_documents` stops the reading.
struct yaml_scan_limits {
  std::size_t max_documents = 1;
  std::size_t max_nodes = 500000;
  std::size_t max_expanded_bytes = std::size_t{16} << 20;
  /// Count nodes and bytes over all documents together (a file's total) instead of
  /// per document.
  bool whole_stream = false;
  /// Most tree nodes built before the whole text is known to be within the limits.
  /// yaml-cpp takes about 500 bytes a node: past this many, the trees are dropped and the
  /// rest of the text is only counted; a text within the limits is then read again to
  /// build them. So a text that fails a limit never holds more than this many nodes, and
  /// a rule file (a few hundred nodes) is read once.
  std::size_t max_nodes_before_counted = 65536;
};

/// The documents of a YAML text as yaml-cpp trees, and what bounded them.
struct yaml_documents : yaml_scan {
  /// Each document read, in order (a null node for an empty one); none when a node or
  /// byte limit was passed.
  std::vector<YAML::Node> roots;
};

/// Builds yaml-cpp trees from parser events while counting the nodes and scalar bytes of
/// each document (or of the whole stream) with aliases expanded: an alias adds the size of
/// what it refers to, each time it is used. A limit passed throws `stop` at that event.
/// Aliases share the node they refer to, as in yaml-cpp's own trees (YAML::Load).
class yaml_tree_builder final : public YAML::EventHandler {
 public:
  struct stop {
    yaml_scan::limit which;
    YAML::Mark where;
  };

  yaml_tree_builder(yaml_scan_limits limits, std::size_t max_built)
      : limits_(limits), max_built_(max_built) {}

  yaml_documents out;
  /// The trees were dropped (more than `max_built` nodes): `out.roots` is incomplete.
  bool dropped = false;

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (out.starts.size() == limits_.max_documents) throw stop{yaml_scan::limit::documents, mark};
    out.starts.push_back(mark);
    anchors_.clear();
    open_.clear();
    root_ = nullptr;
    if (!limits_.whole_stream) document_ = {};
    if (!dropped) memory_ = std::make_shared<YAML::detail::memory_holder>();
  }
  void OnDocumentEnd() override {
    if (!dropped) out.roots.push_back(root_ != nullptr ? wrap(*root_) : YAML::Node());
  }
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    YAML::detail::node* n = create(mark, anchor);
    if (n != nullptr) n->set_null();
    leaf(mark, anchor, 0);
    attach(n);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    // An alias of a node still open (a cycle) counts as one node: readers reject such a
    // node by its shape.
    const bool known = anchor < anchors_.size() && anchors_[anchor].total.nodes > 0;
    add(mark, known ? anchors_[anchor].total : size{1, 0});
    if (dropped) return;
    YAML::detail::node* n = anchor < anchors_.size() ? anchors_[anchor].node : nullptr;
    if (n == nullptr) {  // the parser rejects unknown anchors; never dereference one
      n = &memory_->create_node();
      n->set_mark(mark);
      n->set_null();
    }
    attach(n);
  }
  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    YAML::detail::node* n = create(mark, anchor);
    if (n != nullptr) {
      n->set_scalar(value);
      n->set_tag(tag);
    }
    leaf(mark, anchor, value.size());
    attach(n);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value style) override {
    start(mark, tag, anchor, style, false);
  }
  void OnSequenceEnd() override { end(); }
  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value style) override {
    start(mark, tag, anchor, style, true);
  }
  void OnMapEnd() override { end(); }

 private:
  struct expanded_size {
    std::uint64_t nodes = 0;
    std::uint64_t bytes = 0;
  };
  using size = expanded_size;
  struct anchored {
    YAML::detail::node* node = nullptr;  ///< null once the trees are dropped
    expanded_size total;                 ///< known when the node is complete
  };
  struct open_node {
    YAML::anchor_t anchor;
    bool is_map;
    YAML::detail::node* node;  ///< null once the trees are dropped
    YAML::detail::node* key;   ///< a map's key waiting for its value
    size total;
  };

  /// yaml-cpp has no public constructor of a Node from its detail nodes; its iterators
  /// make one.
  [[nodiscard]] YAML::Node wrap(YAML::detail::node& root) const {
    std::vector<YAML::detail::node*> one{&root};
    const YAML::detail::iterator_base<YAML::detail::iterator_value> it(
        YAML::detail::node_iterator(one.begin()), memory_);
    return YAML::Node(*it);
  }

  /// A new tree node (null when the trees are dropped), registered under its anchor.
  YAML::detail::node* create(const YAML::Mark& mark, YAML::anchor_t anchor) {
    if (!dropped && ++built_ > max_built_) drop();
    YAML::detail::node* n = nullptr;
    if (!dropped) {
      n = &memory_->create_node();
      n->set_mark(mark);
    }
    if (anchor != YAML::NullAnchor) {
      if (anchor >= anchors_.size()) anchors_.resize(anchor + 1);
      anchors_[anchor].node = n;
    }
    return n;
  }

  /// Frees every tree built; from here on the events are only counted.
  void drop() {
    dropped = true;
    out.roots.clear();
    for (auto& a : anchors_) a.node = nullptr;
    for (auto& o : open_) o.node = o.key = nullptr;
    root_ = nullptr;
    memory_.reset();
  }

  /// Hangs a complete node on the open collection (or makes it the document's root).
  void attach(YAML::detail::node* n) {
    if (n == nullptr || dropped) return;
    if (open_.empty()) {
      root_ = n;
      return;
    }
    open_node& parent = open_.back();
    if (!parent.is_map) {
      parent.node->push_back(*n, memory_);
    } else if (parent.key == nullptr) {
      parent.key = n;
    } else {
      parent.node->insert(*parent.key, *n, memory_);
      parent.key = nullptr;
    }
  }

  void add(const YAML::Mark& mark, size s) {
    document_.nodes += s.nodes;
    document_.bytes += s.bytes;
    if (!open_.empty()) {
      open_.back().total.nodes += s.nodes;
      open_.back().total.bytes += s.bytes;
    }
    if (document_.nodes > limits_.max_nodes) throw stop{yaml_scan::limit::nodes, mark};
    if (document_.bytes > limits_.max_expanded_bytes)
      throw stop{yaml_scan::limit::expanded_bytes, mark};
  }
  void leaf(const YAML::Mark& mark, YAML::anchor_t anchor, std::size_t bytes) {
    const size s{1, bytes};
    if (anchor != YAML::NullAnchor) anchors_[anchor].total = s;
    add(mark, s);
  }
  void start(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
             YAML::EmitterStyle::value style, bool is_map) {
    YAML::detail::node* n = create(mark, anchor);
    if (n != nullptr) {
      n->set_type(is_map ? YAML::NodeType::Map : YAML::NodeType::Sequence);
      n->set_tag(tag);
      n->set_style(style);
    }
    open_.push_back({anchor, is_map, n, nullptr, {}});
    add(mark, {1, 0});  // the node itself, in its own total (its parent gets it at end)
  }
  void end() {
    if (open_.empty()) return;
    const open_node done = open_.back();
    open_.pop_back();
    if (done.anchor != YAML::NullAnchor) anchors_[done.anchor].total = done.total;
    if (!open_.empty()) {
      open_.back().total.nodes += done.total.nodes;
      open_.back().total.bytes += done.total.bytes;
    }
    attach(done.node);
  }

  yaml_scan_limits limits_;
  std::size_t max_built_;
  std::size_t built_ = 0;
  size document_;
  std::vector<anchored> anchors_;  ///< by anchor id (yaml-cpp numbers them from 1)
  std::vector<open_node> open_;
  YAML::detail::shared_memory_holder memory_;
  YAML::detail::node* root_ = nullptr;
};

/// Reads YAML text into yaml-cpp trees in one pass of libyaml's parser (libyaml_events),
/// counting the nodes and scalar bytes of each document (or of the whole stream,
/// `whole_stream`) with aliases expanded, and stopping at the event that passes a limit:
/// alias bombs never expand, and no more than `max_nodes_before_counted` tree nodes are
/// held before the text is known to be within the limits. Reads at most
/// `max_documents + 1` documents. Throws YAML::ParserException on a syntax error.
[[nodiscard]] inline yaml_documents load_documents(std::string_view text,
                                                   const yaml_scan_limits& limits) {
  const auto read = [&](std::size_t max_built) {
    libyaml_events parser(text);
    yaml_tree_builder builder(limits, max_built);
    try {
      // One more than the limit, so that a document past it is seen (and fails).
      for (std::size_t i = 0; i <= limits.max_documents && parser.handle_next_document(builder);
           ++i) {
      }
    } catch (const yaml_tree_builder::stop& s) {
      builder.out.exceeded = s.which;
      builder.out.where = s.where;
    }
    if (builder.out.exceeded == yaml_scan::limit::nodes ||
        builder.out.exceeded == yaml_scan::limit::expanded_bytes)
      builder.out.roots.clear();
    return std::pair{std::move(builder.out), builder.dropped};
  };
  auto [documents, dropped] = read(limits.max_nodes_before_counted);
  const bool failed = documents.exceeded == yaml_scan::limit::nodes ||
                      documents.exceeded == yaml_scan::limit::expanded_bytes;
  // Counted whole and within the limits: build the trees without a bound of their own.
  if (dropped && !failed) documents = read(SIZE_MAX).first;
  return documents;
}

/// Walks the yaml-cpp node tree (built from libyaml's events) and builds the spec; this
/// checks the shape, and keeps positions for every diagnostic.
class yaml_spec_reader {
 public:
  yaml_spec_reader(std::string_view text, std::string file, yaml::spec_limits limits = {})
      : text_(text), file_(std::move(file)), limits_(limits) {}

  /// The text as a tree, in one pass that bounds the nodes and scalar bytes with aliases
  /// expanded (load_documents) and finds where a second document starts.
  struct loaded_text {
    YAML::Node root;
    std::optional<YAML::Mark> second_document;
  };

  loaded_text load() const {
    auto documents =
        load_documents(text_, {1, limits_.max_nodes, limits_.max_expanded_bytes, false});
    if (documents.exceeded == yaml_scan::limit::nodes)
      fail(at(documents.where), {}, {},
           "the spec has more than " + std::to_string(limits_.max_nodes) +
               " YAML nodes with aliases expanded (limit)");
    if (documents.exceeded == yaml_scan::limit::expanded_bytes)
      fail(at(documents.where), {}, {},
           "the spec holds more than " + std::to_string(limits_.max_expanded_bytes) +
               " bytes of text with aliases expanded (limit)");
    loaded_text out;
    if (!documents.roots.empty()) out.root = documents.roots.front();
    if (documents.exceeded == yaml_scan::limit::documents) out.second_document = documents.where;
    return out;
  }

  yaml::document read() {
    if (text_.size() > limits_.max_bytes)
      fail(at_file(), {}, {},
           "the spec is larger than " + std::to_string(limits_.max_bytes) + " bytes (limit)");
    YAML::Node root;
    std::optional<YAML::Mark> second_document;
    try {
      auto loaded = load();
      root = loaded.root;
      second_document = loaded.second_document;
    } catch (const YAML::ParserException& e) {
      std::string message = "YAML syntax error: " + e.msg;
      // A JSON habit: a missing ',' between entries shows up as an unclosed collection.
      if (is_unclosed_flow_error(e.msg))
        message += " (a missing ',' or closing bracket before this?)";
      fail(at(e.mark), {}, {}, message);
    }
    if (!root || root.IsNull()) fail(at_file(), {}, {}, "the spec is empty");
    if (second_document)
      fail(at(*second_document), {}, {},
           "a spec holds one YAML document; a second one starts here");

    yaml::document out;
    out.spec.where = at(root);
    try {
      read_root(root, out);
    } catch (const YAML::Exception& e) {
      // Not expected (the reader never converts blindly), but keep the position if it happens.
      fail(at(e.mark), {}, {}, "YAML error: " + e.msg);
    }
    (void)fluxcap::compile(out.spec);  // semantic errors, with the positions filled in above
    return out;
  }

 private:
  struct entry {
    std::string key;
    YAML::Node key_node;
    YAML::Node value;
  };

  static constexpr std::array<std::string_view, 11> rule_keys{
      "rulename", "rule_name", "description", "action",    "ordered", "groupby",
      "parent",   "child",     "timespan",    "exclusive", "tags"};
  static constexpr std::array<std::string_view, 4> tag_keys{"name", "prefix_get", "prefix_put",
                                                            "put_condition"};

  [[noreturn]] static void fail(const source_location& where, const std::string& rule,
                                const std::string& tag, const std::string& message) {
    throw spec_error(where, cut_name(rule), cut_name(tag), message);
  }

  /// Longest name (key, rule, tag, value) quoted whole in a message; longer ones are
  /// cut there (at a UTF-8 character boundary) and end with "...".
  static constexpr std::size_t max_name_in_message = 200;
  static std::string cut_name(std::string_view s) {
    if (s.size() <= max_name_in_message) return std::string(s);
    std::size_t n = max_name_in_message;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xc0U) == 0x80U) --n;
    return std::string(s.substr(0, n)) + "...";
  }
  /// `s` in single quotes, cut as by cut_name.
  static std::string quoted(std::string_view s) { return "'" + cut_name(s) + "'"; }

  [[nodiscard]] source_location at_file() const { return {file_, 0, 0}; }

  [[nodiscard]] source_location at(const YAML::Mark& m) const {
    if (m.is_null()) return at_file();
    return {file_, static_cast<std::uint32_t>(m.line + 1),
            static_cast<std::uint32_t>(m.column + 1)};
  }
  [[nodiscard]] source_location at(const YAML::Node& n) const { return at(n.Mark()); }

  /// Where a key's value is; an empty (null) value is marked after its ':' (or at the
  /// next token), so point at the key then.
  [[nodiscard]] source_location at_value(const entry& e) const {
    return e.value.IsNull() ? at(e.key_node) : at(e.value);
  }

  /// A well-formed timespan (digits, not all zeros, and a unit) that parse_timespan
  /// refuses: its milliseconds do not fit.
  static bool timespan_too_large(std::string_view text) {
    std::size_t digits = 0;
    bool nonzero = false;
    for (; digits < text.size() && text[digits] >= '0' && text[digits] <= '9'; ++digits)
      if (text[digits] != '0') nonzero = true;
    const std::string_view unit = text.substr(digits);
    return nonzero && (unit == "ms" || unit == "s" || unit == "m" || unit == "h" || unit == "d");
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

  /// The entries of a mapping in document order; rejects non-scalar and
  /// duplicate keys (yaml-cpp keeps both copies of a duplicate key).
  std::vector<entry> entries(const YAML::Node& map, const std::string& rule,
                             const std::string& tag) const {
    std::vector<entry> out;
    std::unordered_map<std::string, std::size_t> seen;  // a `conditions:` map may be large
    for (const auto& pair : map) {
      // Copies: a yaml-cpp iterator's `->` yields a temporary, so a reference to
      // `it->first` would dangle (a Node copy is a cheap handle).
      const YAML::Node k = pair.first;
      if (!k.IsScalar()) fail(at(k), rule, tag, "a key must be a name, not " + kind(k));
      out.push_back({k.Scalar(), k, pair.second});
      if (const auto [it, fresh] = seen.emplace(out.back().key, out.size() - 1); !fresh)
        fail(at(k), rule, tag,
             "duplicate key " + quoted(out.back().key) + " (first at " +
                 at(out[it->second].key_node).to_string() + ")");
    }
    return out;
  }

  template <std::size_t N>
  void reject_unknown(const std::vector<entry>& es, const std::array<std::string_view, N>& allowed,
                      std::string_view what, const std::string& rule,
                      const std::string& tag) const {
    for (const auto& e : es)
      if (std::find(allowed.begin(), allowed.end(), e.key) == allowed.end())
        fail(at(e.key_node), rule, tag,
             "unknown key " + quoted(e.key) + " in " + std::string(what) +
                 did_you_mean(e.key, allowed));
  }

  std::string string_value(const entry& e, const std::string& rule, const std::string& tag) const {
    if (e.value.IsNull()) fail(at(e.key_node), rule, tag, "'" + e.key + "' needs a value");
    if (!e.value.IsScalar())
      fail(at(e.value), rule, tag, "'" + e.key + "' must be a string, not " + kind(e.value));
    return e.value.Scalar();
  }

  bool bool_value(const entry& e, const std::string& rule) const {
    bool value = false;
    // A quoted "true" is a string; only plain scalars are booleans (tag "?").
    if (!e.value.IsScalar() || e.value.Tag() != "?" || !YAML::convert<bool>::decode(e.value, value))
      fail(at_value(e), rule, {}, "'" + e.key + "' must be true or false, not " + kind(e.value));
    return value;
  }

  void read_root(const YAML::Node& root, yaml::document& out) const {
    if (root.IsSequence()) {
      read_rule_list(root, out.spec);
      return;
    }
    if (!root.IsMap())
      fail(at(root), {}, {},
           "expected a mapping with 'rules:', a rule, or a list of rules; found " + kind(root));
    const auto es = entries(root, {}, {});
    const auto has = [&](std::string_view key) {
      return std::any_of(es.begin(), es.end(), [&](const entry& e) { return e.key == key; });
    };
    if (!has("rules") && !has("conditions") && (has("rulename") || has("rule_name"))) {
      out.spec.rules.push_back(read_rule(root));
      return;
    }
    bool has_rules = false;
    for (const auto& e : es) {
      if (e.key == "rules") {
        has_rules = true;
        if (e.value.IsNull()) fail(at(e.key_node), {}, {}, "'rules' needs a list of rules");
        if (!e.value.IsSequence())
          fail(at(e.value), {}, {}, "'rules' must be a list of rules, not " + kind(e.value));
        out.spec.where = at(e.value);
        read_rule_list(e.value, out.spec);
      } else if (e.key == "conditions") {
        read_conditions(e, out.conditions);
      } else if (e.key == "timestamp") {
        out.spec.timestamp = string_value(e, {}, {});
        out.spec.timestamp_where = at(e.value);
      } else if (std::find(rule_keys.begin(), rule_keys.end(), e.key) != rule_keys.end()) {
        fail(at(e.key_node), {}, {},
             "'" + e.key + "' belongs to a rule; list rules under 'rules:'");
      } else {
        fail(at(e.key_node), {}, {},
             "unknown top-level key " + quoted(e.key) +
                 "; expected 'rules', 'conditions' or 'timestamp'" +
                 did_you_mean(e.key, {"rules", "conditions", "timestamp"}));
      }
    }
    if (!has_rules) fail(at(root), {}, {}, "the spec has no 'rules:' list");
  }

  void read_rule_list(const YAML::Node& list, spec& out) const {
    for (const auto& item : list) {
      if (out.rules.size() == limits_.max_rules)
        fail(at(item), {}, {}, "more than " + std::to_string(limits_.max_rules) + " rules (limit)");
      if (!item.IsMap())
        fail(at(item.IsNull() ? list : item), {}, {},
             "each rule must be a mapping with 'rulename', 'tags', ...; found " + kind(item));
      out.rules.push_back(read_rule(item));
    }
  }

  rule_spec read_rule(const YAML::Node& node) const {
    rule_spec r;
    r.where.rule = at(node);
    const auto es = entries(node, {}, {});

    // The name first, so that every later message can name the rule.
    const entry* name_entry = nullptr;
    for (const auto& e : es) {
      if (e.key != "rulename" && e.key != "rule_name") continue;
      if (name_entry != nullptr)
        fail(at(e.key_node), {}, {}, "give either 'rulename' or 'rule_name', not both");
      name_entry = &e;
    }
    if (name_entry == nullptr) {
      std::string hint;
      for (const auto& e : es)
        if (hint.empty()) hint = did_you_mean(e.key, {"rulename", "rule_name"});
      fail(at(node), {}, {},
           "a rule needs a 'rulename' (or 'rule_name' in the low-level form)" + hint);
    }
    r.name = string_value(*name_entry, {}, {});
    r.where.name = at(name_entry->value);
    const std::string& rn = r.name;
    reject_unknown(es, rule_keys, "a rule", rn, {});

    bool has_tags = false;
    for (const auto& e : es) {
      if (e.key == "description") {
        if (!e.value.IsNull()) r.description = string_value(e, rn, {});
      } else if (e.key == "action") {
        const auto name = string_value(e, rn, {});
        r.act = parse_action(name);
        r.where.action = at(e.value);
        if (!r.act)
          fail(at(e.value), rn, {},
               "unknown action " + quoted(name) + "; expected temporal, parent or ancestor" +
                   did_you_mean(name, {"temporal", "parent", "ancestor"}));
      } else if (e.key == "ordered") {
        r.ordered = bool_value(e, rn);
        r.where.ordered = at(e.value);
      } else if (e.key == "groupby") {
        r.groupby = read_groupby(e, rn);
        r.where.groupby = at_value(e);
      } else if (e.key == "parent") {
        r.parent = string_value(e, rn, {});
        r.where.parent = at(e.value);
      } else if (e.key == "child") {
        r.child = string_value(e, rn, {});
        r.where.child = at(e.value);
      } else if (e.key == "exclusive") {
        r.exclusive = bool_value(e, rn);
        r.where.exclusive = at_value(e);
      } else if (e.key == "timespan") {
        const auto text = string_value(e, rn, {});
        r.timespan = parse_timespan(text);
        r.where.timespan = at(e.value);
        if (!r.timespan && timespan_too_large(text))
          fail(at(e.value), rn, {},
               "'timespan' " + quoted(text) +
                   " is too large (at most 9000000000000000000 ms, about 285 million years)");
        if (!r.timespan)
          fail(at(e.value), rn, {},
               "'timespan' must be a positive number and a unit (ms, s, m, h or d), like "
               "'5m'; found " +
                   quoted(text));
      } else if (e.key == "tags") {
        has_tags = true;
        if (e.value.IsNull()) fail(at(e.key_node), rn, {}, "'tags' needs a list of tags");
        if (!e.value.IsSequence())
          fail(at(e.value), rn, {}, "'tags' must be a list of tags, not " + kind(e.value));
        r.where.tags = at(e.value);
        for (const auto& item : e.value) {
          if (r.tags.size() == limits_.max_tags_per_rule)
            fail(at(item), rn, {},
                 "more than " + std::to_string(limits_.max_tags_per_rule) +
                     " tags in one rule (limit)");
          r.tags.push_back(read_tag(item, e.value, rn));
        }
      }
    }
    if (!has_tags) fail(r.where.rule, rn, {}, "a rule needs 'tags'");
    if (name_entry->key == "rulename" && !r.act)
      fail(r.where.rule, rn, {},
           "missing 'action' (temporal, parent or ancestor); a rule without an action is a "
           "low-level rule, named with 'rule_name'");
    return r;
  }

  std::vector<std::string> read_groupby(const entry& e, const std::string& rule) const {
    if (e.value.IsScalar()) return {e.value.Scalar()};
    if (!e.value.IsSequence())
      fail(at_value(e), rule, {},
           "'groupby' must be a column or a list of columns, not " + kind(e.value));
    std::vector<std::string> columns;
    for (const auto& item : e.value) {
      if (!item.IsScalar())
        fail(at(item.IsNull() ? e.value : item), rule, {},
             "'groupby' entries must be column names, not " + kind(item));
      columns.push_back(item.Scalar());
    }
    return columns;
  }

  tag_spec read_tag(const YAML::Node& item, const YAML::Node& list, const std::string& rule) const {
    tag_spec t;
    if (item.IsScalar()) {
      t.name = item.Scalar();
      t.where = at(item);
      return t;
    }
    if (!item.IsMap())
      fail(at(item.IsNull() ? list : item), rule, {},
           "a tag must be a name or a mapping with 'name', not " + kind(item));
    t.where = at(item);
    const auto es = entries(item, rule, {});
    for (const auto& e : es)
      if (e.key == "name") t.name = string_value(e, rule, {});
    if (t.name.empty() &&
        std::none_of(es.begin(), es.end(), [](const entry& e) { return e.key == "name"; }))
      fail(t.where, rule, {}, "a tag needs a 'name'");
    reject_unknown(es, tag_keys, "a tag", rule, t.name);
    for (const auto& e : es) {
      if (e.key == "prefix_get") t.prefix_get = string_value(e, rule, t.name);
      if (e.key == "prefix_put") t.prefix_put = string_value(e, rule, t.name);
      if (e.key == "put_condition") {
        t.put_condition = string_value(e, rule, t.name);
        t.put_condition_where = at(e.value);
      }
    }
    return t;
  }

  void read_conditions(const entry& section, std::vector<yaml::condition_source>& out) const {
    if (section.value.IsNull()) return;  // `conditions:` left empty: none
    if (!section.value.IsMap())
      fail(at(section.value), {}, {},
           "'conditions' must map detection names to conditions, not " + kind(section.value));
    for (const auto& e : entries(section.value, {}, {})) {
      if (out.size() == limits_.max_conditions)
        fail(at(e.key_node), {}, {},
             "more than " + std::to_string(limits_.max_conditions) + " conditions (limit)");
      yaml::condition_source c;
      c.name = e.key;
      // Never assign a YAML::Node: assignment rebinds the node inside the document.
      std::optional<YAML::Node> given;
      if (e.value.IsMap()) {
        for (const auto& f : entries(e.value, {}, {})) {
          if (f.key == "rule") {
            c.rule = string_value(f, {}, {});
          } else if (f.key == "condition") {
            if (f.value.IsNull())
              fail(at(f.key_node), {}, {},
                   "condition " + quoted(c.name) + ": 'condition' needs a value");
            given.emplace(f.value);
          } else {
            fail(at(f.key_node), {}, {},
                 "condition " + quoted(c.name) + ": unknown key " + quoted(f.key) +
                     "; expected 'rule' and 'condition'" +
                     did_you_mean(f.key, {"rule", "condition"}));
          }
        }
        if (!given)
          fail(at(e.value), {}, {}, "condition " + quoted(c.name) + " needs a 'condition'");
      } else if (e.value.IsNull()) {
        fail(at(e.key_node), {}, {}, "condition " + quoted(c.name) + " needs a condition text");
      }
      const YAML::Node& text = given ? *given : e.value;
      if (!text.IsScalar())
        fail(at(text), {}, {},
             "condition " + quoted(c.name) + " must be a condition string, not " + kind(text));
      c.text = text.Scalar();
      c.where = at(text);
      check_condition(c, text.Mark());
      out.push_back(std::move(c));
    }
  }

  /// Parses the condition so that its errors point into the file. The column is
  /// exact when the scalar is written on one line as is (plain or quoted without
  /// escapes); otherwise the error points at the scalar and names the column in it.
  void check_condition(const yaml::condition_source& c, const YAML::Mark& mark) const {
    try {
      (void)condition::parse(c.text, c.rule.empty() ? c.name : c.rule, limits_.condition);
    } catch (const condition_error& e) {
      source_location where = c.where;
      std::string message = "condition " + quoted(c.name) + ": " + e.message();
      if (e.column() != 0) {
        std::optional<std::size_t> shift;
        if (mark.pos >= 0) {
          const auto pos = static_cast<std::size_t>(mark.pos);
          if (text_.compare(pos, c.text.size(), c.text) == 0)
            shift = 0;
          else if (pos < text_.size() && (text_[pos] == '"' || text_[pos] == '\'') &&
                   text_.compare(pos + 1, c.text.size(), c.text) == 0)
            shift = 1;
        }
        if (shift)
          where.column += static_cast<std::uint32_t>(*shift + e.column() - 1);
        else
          message += " (at column " + std::to_string(e.column()) + " of the condition)";
      }
      fail(where, {}, {}, message);
    }
  }

  std::string_view text_;
  std::string file_;
  yaml::spec_limits limits_;
};

}  // namespace detail
FLUXCAP_END_NAMESPACE

FLUXCAP_BEGIN_NAMESPACE
namespace yaml {

/// Parses a spec from YAML or JSON text; `file_name` is used in every
/// diagnostic. Also compiles the spec, so semantic errors are reported here.
/// Throws `fluxcap::spec_error`, also when the spec exceeds `limits`.
[[nodiscard]] inline document parse_spec_string(std::string_view text,
                                                std::string file_name = "<spec>",
                                                const spec_limits& limits = {}) {
  return detail::yaml_spec_reader(text, std::move(file_name), limits).read();
}

/// Reads and parses a spec file. Throws `fluxcap::spec_error`, also when the
/// file cannot be read.
[[nodiscard]] inline document parse_spec_file(const std::string& path,
                                              const spec_limits& limits = {}) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    throw spec_error({path, 0, 0}, {}, {},
                     "cannot open the spec file" +
                         (err != 0 ? std::string(": ") + std::strerror(err) : std::string()));
  }
  // Read at most one byte past the limit: `--spec /dev/zero` must not exhaust memory.
  std::string text;
  char chunk[1 << 16];
  while (in && text.size() <= limits.max_bytes) {
    in.read(chunk, sizeof chunk);
    text.append(chunk, static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad()) throw spec_error({path, 0, 0}, {}, {}, "cannot read the spec file");
  if (text.size() > limits.max_bytes)
    throw spec_error(
        {path, 0, 0}, {}, {},
        "the spec is larger than " + std::to_string(limits.max_bytes) + " bytes (limit)");
  return parse_spec_string(text, path, limits);
}

}  // namespace yaml
FLUXCAP_END_NAMESPACE
