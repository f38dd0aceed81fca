// The post-flux condition: a Sigma `condition:` expression evaluated on the tag
// map that the flux capacitor has rewritten (semantics section 1).
//
// Grammar (Sigma's, over tag names; keywords are lower case and reserved):
//
//   condition  := or_expr
//   or_expr    := and_expr ('or' and_expr)*
//   and_expr   := not_expr ('and' not_expr)*
//   not_expr   := 'not' not_expr | primary
//   primary    := '(' or_expr ')' | quantifier 'of' (PATTERN | 'them') | NAME
//   quantifier := '1' | 'any' | 'all'            ('any of' is '1 of')
//
// so `not` binds tighter than `and`, which binds tighter than `or`. A NAME is
// `rule.tag` or a bare `tag` of the default rule; it splits at its first '.', so
// rule names cannot contain '.' but tag names may. A PATTERN is a NAME whose tag
// part may contain `*` (any run of characters, possibly empty); `them` is every
// tag of the default rule. Name characters are ASCII letters, digits, '_', '-',
// '.', and any byte >= 0x80 (UTF-8 names).
//
// Semantics, on one event:
// - a tag absent from the event is false;
// - `1 of P` is true iff some tag of the event's rule that matches P is true;
// - `all of P` is true iff at least one tag of the event's rule matches P and
//   every matching tag is true (so `all of` over nothing is false, as in pySigma,
//   which drops an empty `all of`);
// - like pySigma, tags whose name starts with '_' are not matched by `them` nor by
//   a pattern, unless the pattern itself starts with '_';
// - a pattern must match the whole tag name (pySigma's regex is only anchored at
//   the start, so its `filter` also selects `filter_x`; here that needs `filter*`).
// Patterns see only the tags the event carries: `all of filter*` can only be
// false because of a filter tag present (and false) on the event. Upstream
// ("pre-flux") should therefore emit every detection of a rule, true or false,
// as CCCS does; with sparse maps (true tags only) `all of` degenerates to `1 of`.
//
// Two ways to evaluate (design docs/design/sigma-frontend.md 2.4, 4.6):
// - `condition::evaluate(lookup, for_each_tag)` asks for tags by name, per event;
// - `condition::bind(resolver)` (or `bind_names(names)` for Sigma identifiers)
//   resolves every name and pattern once to integer slots and returns a
//   `bound_condition`, whose `evaluate(value)` asks `value(slot)` only: no string
//   compare, no allocation, no recursion (a forward-only jump program). It also gives
//   a `witness`, slots one of which is true whenever the condition is, so an engine
//   can skip rules none of whose witness slots fired.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

FLUXCAP_BEGIN_NAMESPACE

/// A condition text that cannot be parsed. `what()` is "column N: message".
class condition_error : public std::runtime_error {
 public:
  condition_error(std::size_t column, std::string message)
      : std::runtime_error(column != 0 ? "column " + std::to_string(column) + ": " + message
                                       : message),
        column_(column),
        message_(std::move(message)) {}

  /// 1-based byte column in the condition text, or 0 when the problem is not
  /// at one place in the text (e.g. a bad default rule).
  [[nodiscard]] std::size_t column() const noexcept { return column_; }
  /// The problem alone, without the column.
  [[nodiscard]] const std::string& message() const noexcept { return message_; }

 private:
  std::size_t column_;
  std::string message_;
};

/// Bounds on hostile input: parsing and evaluation recurse once per nesting
/// level, so depth is bounded to keep the stack safe.
struct condition_limits {
  /// Deepest nesting of '(' and 'not'. Capped at `hard_max_depth`.
  std::size_t max_depth = 64;
  /// Longest accepted text, in bytes. Capped at `hard_max_length`.
  std::size_t max_length = 64 * 1024;

  static constexpr std::size_t hard_max_depth = 1000;
  static constexpr std::size_t hard_max_length = std::size_t{1} << 24;
};

/// A rule/tag name or pattern a condition refers to, as given by `references()`.
struct condition_reference {
  std::string_view rule;
  std::string_view name;  ///< tag name, or pattern when `pattern` is set
  bool pattern = false;   ///< from `1 of`/`all of`
};

namespace detail {

inline constexpr std::uint32_t no_condition_node = static_cast<std::uint32_t>(-1);

enum class condition_op : std::uint8_t { tag, any_of, all_of, negate, conjunction, disjunction };

/// One node of the flattened expression tree. Operands of not/and/or are a linked
/// list (first_child, next_sibling) so that evaluation walks it without allocating.
struct condition_node {
  condition_op op = condition_op::tag;
  std::uint32_t rule_offset = 0;  ///< tag/any_of/all_of: rule name in the pool
  std::uint32_t rule_size = 0;
  std::uint32_t name_offset = 0;  ///< tag: tag name; any_of/all_of: pattern
  std::uint32_t name_size = 0;
  std::uint32_t first_child = no_condition_node;
  std::uint32_t next_sibling = no_condition_node;
  std::uint32_t column = 0;  ///< tag/any_of/all_of: 1-based column of the name or pattern
};

/// `*` matches any run of characters; everything else matches itself. Greedy
/// two-pointer match with one backtrack point: O(n*m) worst case, no allocation.
[[nodiscard]] constexpr bool glob_match(std::string_view pattern, std::string_view text) noexcept {
  constexpr std::size_t npos = std::string_view::npos;
  std::size_t p = 0, t = 0, star = npos, resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

/// Whether a `1 of`/`all of` pattern selects `tag` (pySigma's '_' exclusion included).
[[nodiscard]] constexpr bool pattern_selects(std::string_view pattern,
                                             std::string_view tag) noexcept {
  if (!tag.empty() && tag.front() == '_' && (pattern.empty() || pattern.front() != '_'))
    return false;
  return glob_match(pattern, tag);
}

/// A lookup may answer `bool` or `std::optional<bool>`; an empty optional is an
/// absent tag, i.e. false. (Converting the optional itself would test presence.)
template <class T>
[[nodiscard]] constexpr bool condition_truth(const T& value) noexcept {
  if constexpr (std::is_same_v<std::remove_cvref_t<T>, std::optional<bool>>)
    return value.value_or(false);
  else
    return static_cast<bool>(value);
}

[[nodiscard]] constexpr bool is_condition_name_char(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.' || c == '*' || u >= 0x80;
}

[[nodiscard]] constexpr bool is_condition_keyword(std::string_view w) noexcept {
  return w == "and" || w == "or" || w == "not" || w == "of" || w == "them" || w == "all" ||
         w == "any";
}

class condition_parser {
 public:
  condition_parser(std::string_view text, std::string_view default_rule, condition_limits limits,
                   std::string& pool, std::vector<condition_node>& nodes)
      : text_(text),
        default_rule_(default_rule),
        max_depth_(std::min(limits.max_depth, condition_limits::hard_max_depth)),
        pool_(pool),
        nodes_(nodes) {}

  /// Parses the whole text; returns the root node's index.
  std::uint32_t parse(std::size_t max_length) {
    if (text_.size() > max_length)
      fail(max_length + 1, "condition is longer than " + std::to_string(max_length) + " bytes");
    if (default_rule_.find('.') != std::string_view::npos)
      fail(0, "default rule '" + std::string(default_rule_) +
                  "' contains '.', which separates rule and tag names");
    advance();
    if (current_.kind == token::end) fail(1, "empty condition");
    const auto root = parse_or(0);
    if (current_.kind == token::rparen) fail(column(current_), "unmatched ')'");
    if (current_.kind != token::end)
      fail(column(current_), "expected 'and', 'or' or end of condition, found " + describe());
    return root;
  }

 private:
  struct token {
    enum kind_t : std::uint8_t { word, lparen, rparen, end } kind = end;
    std::size_t pos = 0;
    std::string_view text;
  };

  [[noreturn]] static void fail(std::size_t col, std::string message) {
    throw condition_error(col, std::move(message));
  }
  static std::size_t column(const token& t) noexcept { return t.pos + 1; }

  std::string describe() const {
    switch (current_.kind) {
      case token::lparen:
        return "'('";
      case token::rparen:
        return "')'";
      case token::end:
        return "end of condition";
      case token::word:
        break;
    }
    // Appended, not `"'" + std::string(...)`: GCC 12 reports a false -Wrestrict there.
    std::string out(1, '\'');
    out.append(current_.text);
    out += '\'';
    return out;
  }

  void advance() {
    previous_ = current_;
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
    current_.pos = pos_;
    current_.text = {};
    if (pos_ == text_.size()) {
      current_.kind = token::end;
      return;
    }
    const char c = text_[pos_];
    if (c == '(' || c == ')') {
      current_.kind = c == '(' ? token::lparen : token::rparen;
      current_.text = text_.substr(pos_++, 1);
      return;
    }
    if (!is_condition_name_char(c)) {
      if (c == '|')
        fail(pos_ + 1, "aggregations ('| count() ...') are not supported; use a correlation rule");
      std::string shown;
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        constexpr char hex[] = "0123456789abcdef";
        const auto u = static_cast<unsigned char>(c);
        shown = std::string("\\x") + hex[u >> 4] + hex[u & 0xf];
      } else {
        shown.assign(1, c);
      }
      fail(pos_ + 1, "unexpected character '" + shown + "'");
    }
    const std::size_t start = pos_;
    while (pos_ < text_.size() && is_condition_name_char(text_[pos_])) ++pos_;
    current_.kind = token::word;
    current_.text = text_.substr(start, pos_ - start);
  }

  bool at_word(std::string_view w) const noexcept {
    return current_.kind == token::word && current_.text == w;
  }

  std::uint32_t add(condition_node node) {
    nodes_.push_back(node);
    return static_cast<std::uint32_t>(nodes_.size() - 1);
  }

  std::uint32_t intern(std::string_view s) {
    // The default rule is stored once, first; every bare name reuses it.
    if (!default_rule_.empty() && s.data() == default_rule_.data() &&
        s.size() == default_rule_.size())
      return 0;
    const auto offset = static_cast<std::uint32_t>(pool_.size());
    pool_.append(s);
    return offset;
  }

  /// Builds an n-ary and/or node; operands that are the same operator (from
  /// parentheses) are spliced in, since and/or are associative.
  std::uint32_t make_nary(condition_op op, const std::vector<std::uint32_t>& operands) {
    std::vector<std::uint32_t> flat;
    for (const auto i : operands) {
      if (nodes_[i].op == op) {
        for (auto c = nodes_[i].first_child; c != no_condition_node; c = nodes_[c].next_sibling)
          flat.push_back(c);
      } else {
        flat.push_back(i);
      }
    }
    for (std::size_t k = 0; k + 1 < flat.size(); ++k) nodes_[flat[k]].next_sibling = flat[k + 1];
    nodes_[flat.back()].next_sibling = no_condition_node;
    condition_node node;
    node.op = op;
    node.first_child = flat.front();
    return add(node);
  }

  std::uint32_t parse_or(std::size_t depth) {
    std::vector<std::uint32_t> operands{parse_and(depth)};
    while (at_word("or")) {
      advance();
      operands.push_back(parse_and(depth));
    }
    return operands.size() == 1 ? operands.front() : make_nary(condition_op::disjunction, operands);
  }

  std::uint32_t parse_and(std::size_t depth) {
    std::vector<std::uint32_t> operands{parse_not(depth)};
    while (at_word("and")) {
      advance();
      operands.push_back(parse_not(depth));
    }
    return operands.size() == 1 ? operands.front() : make_nary(condition_op::conjunction, operands);
  }

  void enter(std::size_t depth) const {
    if (depth + 1 > max_depth_)
      fail(column(current_), "nesting deeper than " + std::to_string(max_depth_) + " levels");
  }

  std::uint32_t parse_not(std::size_t depth) {
    if (!at_word("not")) return parse_primary(depth);
    enter(depth);
    advance();
    condition_node node;
    node.op = condition_op::negate;
    node.first_child = parse_not(depth + 1);
    return add(node);
  }

  [[noreturn]] void expected_operand() const {
    std::string where;
    if (previous_.kind == token::word &&
        (previous_.text == "and" || previous_.text == "or" || previous_.text == "not"))
      where = " after '" + std::string(previous_.text) + "'";
    else if (previous_.kind == token::lparen)
      where = " after '('";
    fail(column(current_),
         "expected a tag name, '(', 'not', '1 of' or 'all of'" + where + ", found " + describe());
  }

  std::uint32_t parse_primary(std::size_t depth) {
    if (current_.kind == token::lparen) {
      enter(depth);
      const token open = current_;
      advance();
      const auto inner = parse_or(depth + 1);
      if (current_.kind != token::rparen) {
        const std::string what =
            current_.kind == token::end ? "missing ')'" : "expected 'and', 'or' or ')'";
        fail(column(current_), what + " to close '(' at column " + std::to_string(column(open)) +
                                   ", found " + describe());
      }
      advance();
      return inner;
    }
    if (current_.kind != token::word) expected_operand();

    const std::string_view w = current_.text;
    const token first = current_;
    // Quantifier: only when followed by `of`, so a tag may still be named "1".
    const bool digits =
        std::all_of(w.begin(), w.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (w == "any" || w == "all" || digits) {
      advance();
      if (!at_word("of")) {
        if (!digits) fail(column(current_), "expected 'of' after '" + std::string(w) + "'");
        return make_tag(first);  // a tag named like a number
      }
      if (digits && w != "1")
        fail(column(first),
             "only '1 of', 'any of' and 'all of' are supported, not '" + std::string(w) + " of'");
      advance();
      return make_selector(w == "all" ? condition_op::all_of : condition_op::any_of);
    }
    if (w == "of") fail(column(current_), "'of' must follow '1', 'any' or 'all'");
    if (w == "them") fail(column(current_), "'them' must follow '1 of' or 'all of'");
    if (is_condition_keyword(w)) expected_operand();
    if (w.find('*') != std::string_view::npos)
      fail(column(current_) + w.find('*'),
           "wildcard in '" + std::string(w) + "' is only allowed after '1 of' or 'all of'");
    advance();
    return make_tag(first);
  }

  /// Splits `rule.tag` (first '.') or qualifies a bare name with the default rule.
  std::pair<std::string_view, std::string_view> qualify(const token& t) const {
    const std::string_view w = t.text;
    const auto dot = w.find('.');
    if (dot == std::string_view::npos) {
      if (default_rule_.empty())
        fail(column(t), "'" + std::string(w) + "' has no rule: write 'rule." + std::string(w) +
                            "' or give a default rule");
      return {default_rule_, w};
    }
    const auto rule = w.substr(0, dot);
    const auto name = w.substr(dot + 1);
    if (rule.empty()) fail(column(t), "empty rule name in '" + std::string(w) + "'");
    if (name.empty()) fail(column(t) + dot + 1, "empty tag name in '" + std::string(w) + "'");
    if (const auto star = rule.find('*'); star != std::string_view::npos)
      fail(column(t) + star,
           "wildcards are only allowed in the tag name, not in rule '" + std::string(rule) + "'");
    return {rule, name};
  }

  std::uint32_t make_leaf(condition_op op, std::string_view rule, std::string_view name,
                          const token& at) {
    condition_node node;
    node.op = op;
    node.column = static_cast<std::uint32_t>(column(at));
    node.rule_offset = intern(rule);
    node.rule_size = static_cast<std::uint32_t>(rule.size());
    node.name_offset = intern(name);
    node.name_size = static_cast<std::uint32_t>(name.size());
    return add(node);
  }

  std::uint32_t make_tag(const token& t) {
    const auto [rule, name] = qualify(t);
    return make_leaf(condition_op::tag, rule, name, t);
  }

  std::uint32_t make_selector(condition_op op) {
    if (current_.kind != token::word || (is_condition_keyword(current_.text) && !at_word("them")))
      fail(column(current_), "expected a name pattern or 'them' after 'of', found " + describe());
    const token t = current_;
    advance();
    if (t.text == "them") {
      if (default_rule_.empty())
        fail(column(t), "'them' needs a default rule; write 'rule.*' instead");
      // `them` is every tag of the rule: the pattern `*` (same '_' exclusion).
      return make_leaf(op, default_rule_, "*", t);
    }
    const auto [rule, pattern] = qualify(t);
    return make_leaf(op, rule, pattern, t);
  }

  std::string_view text_;
  std::string_view default_rule_;
  std::size_t max_depth_;
  std::string& pool_;
  std::vector<condition_node>& nodes_;
  std::size_t pos_ = 0;
  token current_;
  token previous_;
};

}  // namespace detail

namespace detail {

/// What one step of a bound condition tests: one slot, or a run of slots from
/// `1 of` (some true) or `all of` (every one true; runs are never empty).
enum class bound_test : std::uint8_t { slot, any_of, all_of };

/// Step targets at or above this are answers, not step indices.
inline constexpr std::uint32_t bound_answer_false = static_cast<std::uint32_t>(-2);
inline constexpr std::uint32_t bound_answer_true = static_cast<std::uint32_t>(-1);

/// One step of the jump program: test, then continue at `on_true` or `on_false`
/// (a later step, or an answer). Targets always point forward, so evaluation ends
/// after at most one visit per step.
struct bound_step {
  std::uint32_t first = 0;  ///< slot: the slot; any_of/all_of: offset in the slot pool
  std::uint32_t count = 0;  ///< any_of/all_of: run length (>= 2)
  std::uint32_t on_true = bound_answer_true;
  std::uint32_t on_false = bound_answer_false;
  bound_test test = bound_test::slot;
};

/// The bound expression tree, kept for compile-time analysis (witnesses): like
/// `condition_node`, with a run of the slot pool in place of names.
struct bound_node {
  condition_op op = condition_op::tag;
  std::uint32_t first = 0;  ///< tag/any_of/all_of: offset in the slot pool
  std::uint32_t count = 0;  ///< tag: 1; any_of/all_of: slots selected (may be 0)
  std::uint32_t first_child = no_condition_node;
  std::uint32_t next_sibling = no_condition_node;
};

}  // namespace detail

/// A condition whose names are bound to integer slots (`condition::bind`): per
/// event it asks `value(slot)` and compares no strings. Immutable; evaluation
/// neither allocates nor recurses, and a bound condition may be shared by threads.
/// Default-constructed, it is false and references no slot.
class bound_condition {
 public:
  bound_condition() = default;

  /// Evaluates on one event. `value(std::uint32_t slot)` returns `bool` or
  /// `std::optional<bool>` (empty = false). Short-circuits like `condition::evaluate`;
  /// asks each slot at most once per occurrence in the condition.
  template <class Value>
  [[nodiscard]] bool evaluate(Value&& value) const {
    const detail::bound_step* const steps = steps_.data();
    const std::uint32_t* const pool = slots_.data();
    const auto size = static_cast<std::uint32_t>(steps_.size());
    std::uint32_t at = entry_;
    while (at < size) {
      const detail::bound_step& s = steps[at];
      bool result;
      switch (s.test) {
        case detail::bound_test::slot:
          result = detail::condition_truth(value(s.first));
          break;
        case detail::bound_test::any_of:
          result = false;
          for (std::uint32_t k = 0; k < s.count && !result; ++k)
            result = detail::condition_truth(value(pool[s.first + k]));
          break;
        case detail::bound_test::all_of:
        default:
          result = true;
          for (std::uint32_t k = 0; k < s.count && result; ++k)
            result = detail::condition_truth(value(pool[s.first + k]));
          break;
      }
      at = result ? s.on_true : s.on_false;
    }
    return at == detail::bound_answer_true;
  }

  /// A witness for candidate gating: slots S such that whenever the condition is
  /// true, some slot of S is true; so an event with every slot of S false can skip
  /// evaluation. `cost(std::uint32_t slot)` (an arithmetic type, lower is better)
  /// picks among choices: `a and b` takes the operand whose set costs least (sum),
  /// `a or b` and `1 of P` the union, `all of P` its cheapest slot. Negations are
  /// pushed inwards (`not (not a and not b)` is `a or b`); a negated slot has no
  /// witness, so neither does `not a`, nor `a or not b`: then there is none
  /// (nullopt) and the condition must always be evaluated. An empty set means the
  /// condition is never true (e.g. `1 of P` where P selects nothing). The slots are
  /// sorted and distinct. Compile-time work: allocates and recurses (depth bounded
  /// by the parse limits).
  template <class Cost>
  [[nodiscard]] std::optional<std::vector<std::uint32_t>> witness(Cost&& cost) const {
    using cost_result = std::remove_cvref_t<std::invoke_result_t<Cost&, std::uint32_t>>;
    static_assert(std::is_arithmetic_v<cost_result>,
                  "witness: cost(std::uint32_t slot) must return an arithmetic type");
    if (tree_.empty()) return std::vector<std::uint32_t>{};  // false: vacuously witnessed
    const auto cost_of = [&](std::uint32_t slot) { return static_cast<double>(cost(slot)); };
    auto found = witness_of(root_, true, cost_of);
    if (!found) return std::nullopt;
    return std::move(found->slots);
  }

  /// Every slot the condition references, sorted and distinct (a `1 of`/`all of`
  /// references each slot it selected).
  [[nodiscard]] std::vector<std::uint32_t> slots() const {
    std::vector<std::uint32_t> out(slots_);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

 private:
  friend class condition;
  using op = detail::condition_op;

  struct witness_set {
    std::vector<std::uint32_t> slots;  // sorted, distinct
    double cost = 0;
  };

  template <class CostOf>
  static witness_set make_set(std::vector<std::uint32_t> slots, CostOf& cost_of) {
    std::sort(slots.begin(), slots.end());
    slots.erase(std::unique(slots.begin(), slots.end()), slots.end());
    witness_set w{std::move(slots), 0};
    for (const auto s : w.slots) w.cost += cost_of(s);
    return w;
  }

  // `positive` is false under an odd number of negations: then `and` acts as `or`
  // and vice versa (De Morgan), and a slot or `1 of`/`all of` has no witness.
  template <class CostOf>
  std::optional<witness_set> witness_of(std::uint32_t i, bool positive, CostOf& cost_of) const {
    const auto& n = tree_[i];
    const auto run = [&] {
      return std::vector<std::uint32_t>(slots_.begin() + n.first,
                                        slots_.begin() + n.first + n.count);
    };
    switch (n.op) {
      case op::tag:
      case op::any_of:
        if (!positive) return std::nullopt;
        return make_set(run(), cost_of);
      case op::all_of: {
        if (!positive) return std::nullopt;
        if (n.count == 0) return witness_set{};  // never true
        std::uint32_t best = slots_[n.first];
        double best_cost = cost_of(best);
        for (std::uint32_t k = 1; k < n.count; ++k) {
          const double c = cost_of(slots_[n.first + k]);
          if (c < best_cost) {
            best = slots_[n.first + k];
            best_cost = c;
          }
        }
        return witness_set{{best}, best_cost};
      }
      case op::negate:
        return witness_of(n.first_child, !positive, cost_of);
      case op::conjunction:
      case op::disjunction:
        break;
    }
    const bool cheapest_operand = (n.op == op::conjunction) == positive;
    std::optional<witness_set> out;
    if (cheapest_operand) {
      for (auto c = n.first_child; c != detail::no_condition_node; c = tree_[c].next_sibling) {
        auto w = witness_of(c, positive, cost_of);
        if (w && (!out || w->cost < out->cost)) out = std::move(w);
      }
      return out;
    }
    std::vector<std::uint32_t> all;
    for (auto c = n.first_child; c != detail::no_condition_node; c = tree_[c].next_sibling) {
      auto w = witness_of(c, positive, cost_of);
      if (!w) return std::nullopt;
      all.insert(all.end(), w->slots.begin(), w->slots.end());
    }
    return make_set(std::move(all), cost_of);
  }

  std::vector<std::uint32_t> slots_;  ///< slot pool: tag slots and `of` selections
  std::vector<detail::bound_node> tree_;
  std::vector<detail::bound_step> steps_;
  std::uint32_t root_ = 0;
  std::uint32_t entry_ = detail::bound_answer_false;
};

/// A parsed post-flux condition. Immutable after `parse`; evaluation does not
/// allocate (beyond what the caller's callbacks do) and is safe to share across
/// threads.
class condition {
 public:
  /// Parses `text`. Bare tag names refer to `default_rule` ("" = every name must
  /// be written `rule.tag`). Throws `condition_error` naming the column of the
  /// first problem.
  [[nodiscard]] static condition parse(std::string_view text, std::string_view default_rule = {},
                                       condition_limits limits = {}) {
    condition c;
    c.pool_.assign(default_rule);
    c.default_rule_size_ = static_cast<std::uint32_t>(default_rule.size());
    detail::condition_parser parser(text, default_rule, limits, c.pool_, c.nodes_);
    c.root_ = parser.parse(std::min(limits.max_length, condition_limits::hard_max_length));
    return c;
  }

  /// Evaluates on one event.
  ///  - `lookup(std::string_view rule, std::string_view tag)` returns `bool` or
  ///    `std::optional<bool>` (empty = absent = false);
  ///  - `for_each_tag(std::string_view rule, fn)` calls `fn(std::string_view tag,
  ///    bool value)` for every tag the event carries for `rule` (used by `1 of`,
  ///    `all of`; never called by conditions without them).
  template <class Lookup, class ForEach>
  [[nodiscard]] bool evaluate(Lookup&& lookup, ForEach&& for_each_tag) const {
    return eval(root_, lookup, for_each_tag);
  }

  /// Normalized text: single spaces, `any of` as `1 of`, `them` as `rule.*`, every
  /// name qualified with its rule, parentheses only where precedence needs them.
  /// Parsing it back (with any default rule) gives an equivalent condition.
  [[nodiscard]] std::string to_string() const {
    std::string out;
    print(root_, out);
    return out;
  }

  /// Every name and pattern referenced, in text order (for checking them against
  /// a spec or a rule's detections). The views point into this condition.
  [[nodiscard]] std::vector<condition_reference> references() const {
    std::vector<condition_reference> out;
    collect(root_, out);
    return out;
  }

  /// Binds every name to a slot, once, for `bound_condition::evaluate` (which then
  /// compares no strings). The resolver provides:
  ///  - `resolve(std::string_view rule, std::string_view name)` ->
  ///    `std::optional<std::uint32_t>`: the slot of a tag; empty = unknown, and `bind`
  ///    throws `condition_error` naming it, at its column in the text;
  ///  - `select(std::string_view rule, std::string_view pattern)` -> a range of
  ///    `std::uint32_t` (e.g. `std::vector`): the slots `1 of`/`all of` over `pattern`
  ///    select, in the order to test them; `them` arrives as pattern `*`. To keep
  ///    `evaluate`'s meaning, select the tags `t` of `rule` with
  ///    `detail::pattern_selects(pattern, t)` ('_' exclusion, whole-name glob).
  ///    Called once per distinct rule and pattern.
  /// When the event carries every tag, the bound condition answers as `evaluate`:
  /// `1 of` and `all of` over an empty selection are false. Throws `condition_error`
  /// (column 0) when the selections hold more than `max_bound_slots` slots in all.
  template <class Resolver>
  [[nodiscard]] bound_condition bind(Resolver&& resolver) const {
    bound_condition b;
    selection_cache selections;
    b.root_ = bind_node(root_, resolver, b, selections);
    std::vector<detail::bound_step> backward;
    const auto entry =
        emit(b, b.root_, detail::bound_answer_true, detail::bound_answer_false, backward);
    // Emitted last-first so that every target was known when its step was made;
    // reversed, every target points forward.
    const auto size = static_cast<std::uint32_t>(backward.size());
    const auto forward = [size](std::uint32_t label) {
      return label < size ? size - 1 - label : label;
    };
    b.steps_.assign(backward.rbegin(), backward.rend());
    for (auto& s : b.steps_) {
      s.on_true = forward(s.on_true);
      s.on_false = forward(s.on_false);
    }
    b.entry_ = forward(entry);
    return b;
  }

  /// `bind` for the Sigma front-end: slot i is `names[i]`, the i-th detection
  /// identifier. A bare name (default rule) binds to the equal entry of `names`; a
  /// pattern selects, in index order, the entries `detail::pattern_selects` accepts.
  /// Identifiers may contain '.', which the parser splits off as a rule: a reference
  /// `a.b` whose `a` is not the default rule is looked up (or, as a pattern, matched)
  /// as the whole text `a.b`. When `a` is the default rule, `b` is tried first and
  /// `a.b` only if `b` finds nothing. Throws `condition_error` for a name not in `names`.
  [[nodiscard]] bound_condition bind_names(std::span<const std::string> names) const {
    struct names_resolver {
      std::span<const std::string> names;
      std::string_view default_rule;
      std::unordered_map<std::string_view, std::uint32_t> index;

      static std::string joined(std::string_view rule, std::string_view name) {
        std::string out(rule);
        out += '.';
        out.append(name);
        return out;
      }
      std::optional<std::uint32_t> find(std::string_view name) const {
        if (const auto it = index.find(name); it != index.end()) return it->second;
        return std::nullopt;
      }
      std::optional<std::uint32_t> resolve(std::string_view rule, std::string_view name) const {
        if (rule == default_rule)
          if (const auto slot = find(name)) return slot;
        return find(joined(rule, name));
      }
      std::vector<std::uint32_t> matching(std::string_view pattern) const {
        std::vector<std::uint32_t> out;
        for (std::size_t i = 0; i < names.size(); ++i)
          if (detail::pattern_selects(pattern, names[i]))
            out.push_back(static_cast<std::uint32_t>(i));
        return out;
      }
      std::vector<std::uint32_t> select(std::string_view rule, std::string_view pattern) const {
        if (rule == default_rule)
          if (auto out = matching(pattern); !out.empty()) return out;
        return matching(joined(rule, pattern));
      }
    };
    if (names.size() >= detail::bound_answer_false)
      throw condition_error(
          0, "more than " + std::to_string(detail::bound_answer_false - 1) + " names to bind");
    names_resolver resolver{names, default_rule(), {}};
    for (std::size_t i = 0; i < names.size(); ++i)
      resolver.index.try_emplace(names[i], static_cast<std::uint32_t>(i));  // first one wins
    return bind(resolver);
  }

  /// Most slots the `1 of`/`all of` selections of one `bind` may hold in all: a
  /// bound on memory when a long text repeats patterns over many names.
  static constexpr std::size_t max_bound_slots = std::size_t{1} << 24;

 private:
  condition() = default;

  using op = detail::condition_op;

  [[nodiscard]] std::string_view rule_of(const detail::condition_node& n) const noexcept {
    return std::string_view(pool_).substr(n.rule_offset, n.rule_size);
  }
  [[nodiscard]] std::string_view name_of(const detail::condition_node& n) const noexcept {
    return std::string_view(pool_).substr(n.name_offset, n.name_size);
  }

  [[nodiscard]] std::string_view default_rule() const noexcept {
    return std::string_view(pool_).substr(0, default_rule_size_);
  }

  using selection_cache = std::map<std::pair<std::string_view, std::string_view>,
                                   std::pair<std::uint32_t, std::uint32_t>>;

  /// The name as the text may have written it, for messages.
  [[nodiscard]] std::string shown_name(const detail::condition_node& n) const {
    std::string out;
    if (rule_of(n) != default_rule()) out.append(rule_of(n)).append(".");
    out.append(name_of(n));
    return out;
  }

  // Copies node i (and its operands) into b.tree_ with names replaced by slots;
  // recursion depth is bounded by the parse-time nesting limit.
  template <class Resolver>
  std::uint32_t bind_node(std::uint32_t i, Resolver& resolver, bound_condition& b,
                          selection_cache& selections) const {
    const auto& n = nodes_[i];
    detail::bound_node out;
    out.op = n.op;
    switch (n.op) {
      case op::tag: {
        const std::optional<std::uint32_t> slot = resolver.resolve(rule_of(n), name_of(n));
        if (!slot) throw condition_error(n.column, "unknown name '" + shown_name(n) + "'");
        out.first = static_cast<std::uint32_t>(b.slots_.size());
        out.count = 1;
        b.slots_.push_back(*slot);
        break;
      }
      case op::any_of:
      case op::all_of: {
        const auto key = std::make_pair(rule_of(n), name_of(n));
        auto it = selections.find(key);
        if (it == selections.end()) {
          const auto first = b.slots_.size();
          for (const auto slot : resolver.select(key.first, key.second)) {
            if (b.slots_.size() >= max_bound_slots)
              throw condition_error(0, "the condition's selections hold more than " +
                                           std::to_string(max_bound_slots) + " slots");
            b.slots_.push_back(static_cast<std::uint32_t>(slot));
          }
          it =
              selections
                  .emplace(key, std::make_pair(static_cast<std::uint32_t>(first),
                                               static_cast<std::uint32_t>(b.slots_.size() - first)))
                  .first;
        }
        out.first = it->second.first;
        out.count = it->second.second;
        break;
      }
      case op::negate:
      case op::conjunction:
      case op::disjunction:
        break;
    }
    const auto self = static_cast<std::uint32_t>(b.tree_.size());
    b.tree_.push_back(out);
    auto previous = detail::no_condition_node;
    for (auto c = n.first_child; c != detail::no_condition_node; c = nodes_[c].next_sibling) {
      const auto child = bind_node(c, resolver, b, selections);
      (previous == detail::no_condition_node ? b.tree_[self].first_child
                                             : b.tree_[previous].next_sibling) = child;
      previous = child;
    }
    return self;
  }

  // Appends the steps of bound node i, which continues at `on_true` or `on_false`,
  // to `backward` (operands last-first); returns the label where its test starts:
  // a step index, or directly `on_false` when it is constantly false.
  static std::uint32_t emit(const bound_condition& b, std::uint32_t i, std::uint32_t on_true,
                            std::uint32_t on_false, std::vector<detail::bound_step>& backward) {
    const auto& n = b.tree_[i];
    detail::bound_step step;
    step.on_true = on_true;
    step.on_false = on_false;
    switch (n.op) {
      case op::tag:
      case op::any_of:
      case op::all_of:
        if (n.count == 0) return on_false;  // 1 of / all of nothing
        if (n.count == 1) {
          step.first = b.slots_[n.first];
        } else {
          step.test = n.op == op::any_of ? detail::bound_test::any_of : detail::bound_test::all_of;
          step.first = n.first;
          step.count = n.count;
        }
        backward.push_back(step);
        return static_cast<std::uint32_t>(backward.size() - 1);
      case op::negate:
        return emit(b, n.first_child, on_false, on_true, backward);
      case op::conjunction:
      case op::disjunction:
        break;
    }
    std::vector<std::uint32_t> operands;
    for (auto c = n.first_child; c != detail::no_condition_node; c = b.tree_[c].next_sibling)
      operands.push_back(c);
    // and: each operand continues to the next one when true; or: when false.
    auto next = n.op == op::conjunction ? on_true : on_false;
    for (auto c = operands.rbegin(); c != operands.rend(); ++c)
      next = n.op == op::conjunction ? emit(b, *c, next, on_false, backward)
                                     : emit(b, *c, on_true, next, backward);
    return next;
  }

  // Recursion depth is bounded by the parse-time nesting limit.
  template <class Lookup, class ForEach>
  bool eval(std::uint32_t i, Lookup& lookup, ForEach& for_each_tag) const {
    const auto& n = nodes_[i];
    switch (n.op) {
      case op::tag:
        return detail::condition_truth(lookup(rule_of(n), name_of(n)));
      case op::any_of: {
        bool found = false;
        const auto pattern = name_of(n);
        for_each_tag(rule_of(n), [&](std::string_view tag, bool value) {
          if (value && !found && detail::pattern_selects(pattern, tag)) found = true;
        });
        return found;
      }
      case op::all_of: {
        bool seen = false, all = true;
        const auto pattern = name_of(n);
        for_each_tag(rule_of(n), [&](std::string_view tag, bool value) {
          if (detail::pattern_selects(pattern, tag)) {
            seen = true;
            all = all && value;
          }
        });
        return seen && all;
      }
      case op::negate:
        return !eval(n.first_child, lookup, for_each_tag);
      case op::conjunction:
        for (auto c = n.first_child; c != detail::no_condition_node; c = nodes_[c].next_sibling)
          if (!eval(c, lookup, for_each_tag)) return false;
        return true;
      case op::disjunction:
        for (auto c = n.first_child; c != detail::no_condition_node; c = nodes_[c].next_sibling)
          if (eval(c, lookup, for_each_tag)) return true;
        return false;
    }
    return false;
  }

  static int precedence(op o) noexcept {
    switch (o) {
      case op::disjunction:
        return 1;
      case op::conjunction:
        return 2;
      case op::negate:
        return 3;
      default:
        return 4;
    }
  }

  void print_operand(std::uint32_t i, int needed, std::string& out) const {
    const bool parens = precedence(nodes_[i].op) < needed;
    if (parens) out += '(';
    print(i, out);
    if (parens) out += ')';
  }

  void print(std::uint32_t i, std::string& out) const {
    const auto& n = nodes_[i];
    switch (n.op) {
      case op::tag:
        out.append(rule_of(n)).append(".").append(name_of(n));
        return;
      case op::any_of:
      case op::all_of:
        out.append(n.op == op::any_of ? "1 of " : "all of ")
            .append(rule_of(n))
            .append(".")
            .append(name_of(n));
        return;
      case op::negate:
        out += "not ";
        print_operand(n.first_child, precedence(op::negate), out);
        return;
      case op::conjunction:
      case op::disjunction: {
        const char* sep = n.op == op::conjunction ? " and " : " or ";
        for (auto c = n.first_child; c != detail::no_condition_node; c = nodes_[c].next_sibling) {
          if (c != n.first_child) out += sep;
          // Same-operator operands were flattened, so `>` is only met by the
          // other binary operator, which then needs parentheses.
          print_operand(c, precedence(n.op) + 1, out);
        }
        return;
      }
    }
  }

  void collect(std::uint32_t i, std::vector<condition_reference>& out) const {
    const auto& n = nodes_[i];
    if (n.op == op::tag || n.op == op::any_of || n.op == op::all_of) {
      out.push_back({rule_of(n), name_of(n), n.op != op::tag});
      return;
    }
    for (auto c = n.first_child; c != detail::no_condition_node; c = nodes_[c].next_sibling)
      collect(c, out);
  }

  std::string pool_;  ///< default rule first, then every other name, back to back
  std::vector<detail::condition_node> nodes_;
  std::uint32_t root_ = 0;
  std::uint32_t default_rule_size_ = 0;
};

FLUXCAP_END_NAMESPACE
