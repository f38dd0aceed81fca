// The naive Sigma evaluator: the oracle the engine is checked against (tests, fuzzing)
// and the baseline it is timed against (bench/).
//
// Every rule is evaluated straight from the rule model, field item by field item, on
// copies: case folding by copying, globs by recursion over the characters, anchors by
// substring search, conditions by name lookup. Context fields are evaluated by walking
// a recorded process tree (every event seen so far, by group and id), not by carrying
// tags: the parent of an event is any earlier event of its group whose id is its parent
// id, and so on. It shares only the value transformations of modifiers.hpp (windash,
// base64, utf16), whose own tests pin them, and the regex engine.
#pragma once

#include <fluxcap/condition.hpp>
#include <fluxcap/sigma/compile.hpp>
#include <fluxcap/sigma/detail/ip.hpp>
#include <fluxcap/sigma/detail/number.hpp>
#include <fluxcap/sigma/detail/time_parts.hpp>
#include <fluxcap/sigma/field_accessor.hpp>
#include <fluxcap/sigma/modifiers.hpp>
#include <fluxcap/sigma/profile.hpp>
#include <fluxcap/sigma/regex.hpp>
#include <fluxcap/sigma/rule.hpp>
#include <fluxcap/sigma/sigma_string.hpp>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sigma_test {

namespace fs = fluxcap::sigma;

inline std::string fold(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

/// Glob by recursion on (pattern piece, offset): exponential in theory, fine on test data.
inline bool naive_glob(const std::vector<fs::glob_piece>& pieces, std::size_t p,
                       std::string_view value, std::size_t at) {
  using k = fs::glob_piece::kind;
  if (p == pieces.size()) return at == value.size();
  const auto& piece = pieces[p];
  switch (piece.type) {
    case k::literal:
      return value.substr(at, piece.text.size()) == piece.text &&
             naive_glob(pieces, p + 1, value, at + piece.text.size());
    case k::any_char:
      return at < value.size() && naive_glob(pieces, p + 1, value, at + 1);
    case k::any_run:
      for (std::size_t next = at; next <= value.size(); ++next)
        if (naive_glob(pieces, p + 1, value, next)) return true;
      return false;
    case k::placeholder:
      return false;
  }
  return false;
}

template <class Regex = fs::no_regex>
class naive_evaluator {
 public:
  naive_evaluator(std::vector<fs::rule> rules, fs::profile p, Regex regex = Regex{})
      : rules_(std::move(rules)),
        profile_(std::move(p)),
        regex_(std::move(regex)),
        regex_scratch_(regex_.make_scratch()) {}

  /// Identities of the rules (that `supported` says to evaluate) firing on `e`, in
  /// load order; records `e` in the process tree afterwards.
  std::vector<std::string> process(const fs::dense_field_event& e,
                                   const std::vector<bool>& supported) {
    const std::size_t index = events_.size();
    events_.push_back(e);
    std::vector<std::string> out;
    for (std::size_t r = 0; r < rules_.size(); ++r)
      if (supported[r] && rule_fires(rules_[r], index)) out.push_back(rules_[r].identity);
    const auto group = text_of(e, profile_.group);
    const auto id = text_of(e, profile_.process_id);
    if (id) by_id_[{group.value_or(""), normalize(*id)}].push_back(index);
    return out;
  }

 private:
  std::string normalize(std::string_view id) const {
    return profile_.lower_case_ids ? fold(id) : std::string(id);
  }

  static const fs::dense_field_event::field* find(const fs::dense_field_event& e,
                                                  std::string_view path) {
    for (const auto& f : e.fields)
      if (f.path == path) return &f;
    return nullptr;
  }

  static std::optional<std::string> text_of(const fs::dense_field_event& e, std::string_view path) {
    const auto* f = find(e, path);
    if (!f) return std::nullopt;
    for (const auto& v : f->values)
      if (v.kind == fs::value_kind::string || v.kind == fs::value_kind::number ||
          v.kind == fs::value_kind::boolean)
        return v.text;
    return std::nullopt;
  }

  /// Earlier events of `index`'s group whose id is `index`'s parent id.
  std::vector<std::size_t> parents_of(std::size_t index) const {
    const auto& e = events_[index];
    const auto parent = text_of(e, profile_.parent_id);
    if (!parent) return {};
    const auto it = by_id_.find({text_of(e, profile_.group).value_or(""), normalize(*parent)});
    if (it == by_id_.end()) return {};
    std::vector<std::size_t> out;
    for (auto j : it->second)
      if (j < index) out.push_back(j);
    return out;
  }

  bool rule_fires(const fs::rule& r, std::size_t index) {
    const auto lookup = [&](std::string_view rule_name, std::string_view name) {
      std::string full = rule_name == "sigma" ? std::string(name)
                                              : std::string(rule_name) + "." + std::string(name);
      for (const auto& d : r.detections)
        if (d.name == full) return detection_holds(d, index);
      return false;
    };
    const auto for_each = [&](std::string_view, auto&& fn) {
      for (const auto& d : r.detections) fn(std::string_view(d.name), detection_holds(d, index));
    };
    for (const auto& text : r.conditions)
      if (fluxcap::condition::parse(text, "sigma").evaluate(lookup, for_each)) return true;
    return false;
  }

  bool detection_holds(const fs::detection& d, std::size_t index) {
    for (const auto& c : d.any_of)
      if (conjunction_holds(c, index)) return true;
    return false;
  }

  /// The items of one context must hold together on one event of that context (one
  /// parent, one grandparent, one ancestor): the contract's "one tag per part".
  bool conjunction_holds(const fs::conjunction& c, std::size_t index) {
    for (const auto kind : {fs::context_kind::self, fs::context_kind::parent,
                            fs::context_kind::grandparent, fs::context_kind::ancestor}) {
      std::vector<std::pair<const fs::field_item*, std::string>> group;
      for (const auto& it : c.items) {
        if (it.field.empty()) {
          if (kind == fs::context_kind::self) group.emplace_back(&it, std::string());
          continue;
        }
        const auto fc = fs::detail::classify_field(it.field, profile_);
        if (fc.context != kind) continue;
        group.emplace_back(&it, kind == fs::context_kind::self ? it.field : fc.field);
      }
      if (group.empty()) continue;
      const auto holds_on = [&](std::size_t e) {
        for (const auto& [it, field] : group)
          if (!item_holds(*it, field, events_[e])) return false;
        return true;
      };
      bool found = false;
      for (const auto e : context_events(kind, index)) found = found || holds_on(e);
      if (!found) return false;
    }
    return true;
  }

  /// The events a context part of `index` is evaluated on: itself; its parents (earlier
  /// events of its group whose id is its parent id); their parents; every chain of them.
  std::vector<std::size_t> context_events(fs::context_kind kind, std::size_t index) const {
    switch (kind) {
      case fs::context_kind::self:
        return {index};
      case fs::context_kind::parent:
        return parents_of(index);
      case fs::context_kind::grandparent: {
        std::vector<std::size_t> out;
        for (auto p : parents_of(index))
          for (auto g : parents_of(p)) out.push_back(g);
        return out;
      }
      case fs::context_kind::ancestor: {
        std::vector<std::size_t> frontier = parents_of(index), seen;
        while (!frontier.empty()) {
          const auto a = frontier.back();
          frontier.pop_back();
          if (std::find(seen.begin(), seen.end(), a) != seen.end()) continue;
          seen.push_back(a);
          for (auto q : parents_of(a)) frontier.push_back(q);
        }
        return seen;
      }
    }
    return {};
  }

  /// `it` with its field read as `sigma_field` on `e`.
  bool item_holds(const fs::field_item& it, const std::string& sigma_field,
                  const fs::dense_field_event& e) {
    using fs::modifier;
    const auto has = [&](modifier m) {
      return std::find(it.modifiers.begin(), it.modifiers.end(), m) != it.modifiers.end();
    };
    std::vector<fs::dense_field_event::value> values;
    bool present = false;
    if (sigma_field.empty()) {
      present = true;
      for (const auto& f : e.fields)
        for (const auto& v : f.values)
          if (v.kind == fs::value_kind::string) values.push_back(v);
    } else if (const auto* f = find(e, profile_.path_of(sigma_field))) {
      present = true;
      values = f->values;
    }
    if (has(modifier::exists)) return present == (it.values.at(0).text == "true");
    const bool has_non_null = std::any_of(
        values.begin(), values.end(), [](const auto& v) { return v.kind != fs::value_kind::null; });
    const bool has_null = std::any_of(values.begin(), values.end(),
                                      [](const auto& v) { return v.kind == fs::value_kind::null; });
    std::size_t matched = 0;
    for (const auto& rule_value : it.values) {
      bool any = false;
      if (rule_value.type == fs::sigma_value::kind::null) {
        any = !present || has_null;
      } else {
        for (const auto& v : values) any = any || value_matches(it, rule_value, v, e);
      }
      matched += any ? 1 : 0;
    }
    const bool base = has(modifier::all) ? matched == it.values.size() : matched > 0;
    if (has(modifier::neq)) return present && has_non_null && !base;
    return base;
  }

  bool value_matches(const fs::field_item& it, const fs::sigma_value& rv,
                     const fs::dense_field_event::value& v, const fs::dense_field_event& e) {
    using fs::modifier;
    const auto has = [&](modifier m) {
      return std::find(it.modifiers.begin(), it.modifiers.end(), m) != it.modifiers.end();
    };
    const bool textual = v.kind == fs::value_kind::string || v.kind == fs::value_kind::number ||
                         v.kind == fs::value_kind::boolean;
    if (!textual) return false;
    if (has(modifier::re)) {
      fs::regex_flags flags{has(modifier::re_i), has(modifier::re_m), has(modifier::re_s)};
      std::string pattern = rv.text;
      if (has(modifier::startswith) && (pattern.empty() || pattern.front() != '^'))
        pattern = "^(?:" + pattern + ")";
      if (has(modifier::endswith) && (pattern.empty() || pattern.back() != '$'))
        pattern = "(?:" + pattern + ")$";
      auto compiled = regex_.compile(pattern, flags);
      auto* ok = std::get_if<typename Regex::compiled>(&compiled);
      return ok && regex_.search(*ok, v.text, regex_scratch_);
    }
    if (has(modifier::cidr)) {
      const auto net = fs::detail::parse_cidr(rv.text);
      const auto ip = fs::detail::parse_ip(v.text);
      return v.kind == fs::value_kind::string && net && ip && net->contains(*ip);
    }
    const auto number = fs::detail::parse_number(rv.text);
    for (auto [m, want] :
         {std::pair{modifier::lt, 0}, {modifier::lte, 1}, {modifier::gt, 2}, {modifier::gte, 3}}) {
      if (!has(m)) continue;
      if (v.kind == fs::value_kind::boolean) return false;
      const auto n = fs::detail::parse_number(v.text);
      if (!n || !number) return false;
      const auto o = fs::detail::compare(*n, *number);
      switch (want) {
        case 0:
          return o < 0;
        case 1:
          return o <= 0;
        case 2:
          return o > 0;
        default:
          return o >= 0;
      }
    }
    for (auto [m, unit] : {std::pair{modifier::minute, 0},
                           {modifier::hour, 1},
                           {modifier::day, 2},
                           {modifier::week, 3},
                           {modifier::month, 4},
                           {modifier::year, 5}}) {
      if (!has(m)) continue;
      if (v.kind == fs::value_kind::boolean) return false;
      const auto t = fs::detail::parse_time_parts(v.text);
      if (!t || !number) return false;
      const int parts[] = {t->minute, t->hour, t->day, t->iso_week, t->month, t->year};
      return number->integral && parts[unit] == number->i;
    }
    const bool cased = has(modifier::cased);
    const auto anchor_of = [&]() {
      return has(modifier::contains)     ? 3
             : has(modifier::startswith) ? 1
             : has(modifier::endswith)   ? 2
                                         : 0;
    };
    if (has(modifier::fieldref)) {
      const auto fc = fs::detail::classify_field(rv.text, profile_);
      const auto* other = find(e, profile_.path_of(fc.field));
      if (!other) return false;
      for (const auto& o : other->values) {
        if (o.kind == fs::value_kind::null || o.kind == fs::value_kind::other) continue;
        const std::string a = cased ? v.text : fold(v.text), b = cased ? o.text : fold(o.text);
        switch (anchor_of()) {
          case 0:
            if (a == b) return true;
            break;
          case 1:
            if (a.starts_with(b)) return true;
            break;
          case 2:
            if (a.ends_with(b)) return true;
            break;
          default:
            if (a.find(b) != std::string::npos) return true;
        }
      }
      return false;
    }
    const bool string_mods =
        has(modifier::contains) || has(modifier::startswith) || has(modifier::endswith) ||
        has(modifier::windash) || has(modifier::base64) || has(modifier::base64offset) ||
        has(modifier::wide) || has(modifier::utf16) || has(modifier::utf16le) ||
        has(modifier::utf16be) || has(modifier::expand) || it.field.empty();
    if (rv.type == fs::sigma_value::kind::number && !string_mods) {
      if (v.kind == fs::value_kind::number) {
        const auto n = fs::detail::parse_number(v.text);
        return n && number && fs::detail::compare(*n, *number) == 0;
      }
      return v.kind == fs::value_kind::string && v.text == rv.text;
    }
    if (rv.type == fs::sigma_value::kind::boolean && !string_mods)
      return v.kind != fs::value_kind::number && fold(v.text) == rv.text;
    // Strings: every variant the written modifiers produce, then the anchor.
    std::vector<fs::sigma_string> variants;
    if (has(modifier::expand)) {
      variants = expand(fs::sigma_string::parse(rv.text, true));
    } else {
      variants.push_back(fs::sigma_string::parse(rv.text));
    }
    for (const auto m : it.modifiers) {
      std::vector<fs::sigma_string> next;
      for (const auto& s : variants) {
        if (m == modifier::windash) {
          for (auto& w : fs::windash_variants(s, 1u << 20)) next.push_back(std::move(w));
        } else if (m == modifier::base64) {
          next.push_back(fs::sigma_string::from_literal(fs::base64_encode(s.literal())));
        } else if (m == modifier::base64offset) {
          for (const auto& b : fs::base64offset_variants(s.literal()))
            next.push_back(fs::sigma_string::from_literal(b));
        } else if (m == modifier::wide || m == modifier::utf16 || m == modifier::utf16le ||
                   m == modifier::utf16be) {
          // One byte-order mark for `utf16`, in front of the whole value.
          next.push_back(fs::encode_utf16(s, m));
        } else {
          next.push_back(s);
        }
      }
      variants = std::move(next);
    }
    for (auto& s : variants) {
      // Keywords are implicitly `contains`; an anchor written in the keyword key wins.
      const bool keyword_contains =
          it.field.empty() && !has(modifier::startswith) && !has(modifier::endswith);
      if (has(modifier::contains) || keyword_contains) s.prepend_any_run().append_any_run();
      if (has(modifier::startswith)) s.append_any_run();
      if (has(modifier::endswith)) s.prepend_any_run();
      auto pieces = s.pieces();
      if (!cased)
        for (auto& p : pieces) p.text = fold(p.text);
      if (naive_glob(pieces, 0, cased ? std::string(v.text) : fold(v.text), 0)) return true;
    }
    return false;
  }

  std::vector<fs::sigma_string> expand(const fs::sigma_string& s) const {
    std::vector<std::string> acc{""};
    for (const auto& piece : s.pieces()) {
      std::vector<std::string> next;
      if (piece.type == fs::glob_piece::kind::placeholder) {
        const auto* values = profile_.placeholder(piece.text);
        if (!values) return {};
        for (const auto& a : acc)
          for (const auto& v : *values) next.push_back(a + v);
      } else {
        std::string w;
        if (piece.type == fs::glob_piece::kind::any_run) w = "*";
        if (piece.type == fs::glob_piece::kind::any_char) w = "?";
        if (piece.type == fs::glob_piece::kind::literal)
          for (char c : piece.text) {
            if (c == '*' || c == '?' || c == '\\') w += '\\';
            w += c;
          }
        for (const auto& a : acc) next.push_back(a + w);
      }
      acc = std::move(next);
    }
    std::vector<fs::sigma_string> out;
    for (const auto& a : acc) out.push_back(fs::sigma_string::parse(a));
    return out;
  }

  std::vector<fs::rule> rules_;
  fs::profile profile_;
  Regex regex_;
  typename Regex::scratch regex_scratch_;
  std::vector<fs::dense_field_event> events_;
  std::map<std::pair<std::string, std::string>, std::vector<std::size_t>> by_id_;
};

}  // namespace sigma_test
