#include "sigma_correlation.hpp"

#include "json_schema.hpp"
#include "sigma_rules.hpp"

#include <fluxcap/hash.hpp>
#include <fluxcap/sigma/bounded_window.hpp>
#include <fluxcap/sigma/correlation_state.hpp>
#include <fluxcap/sigma/correlation_window.hpp>
#include <fluxcap/sigma/describe.hpp>
#include <fluxcap/sigma/detail/time_ring.hpp>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>  // memmem (glibc, with _GNU_SOURCE)
#include <optional>
#include <unordered_map>
#include <utility>

namespace fluxcap_cli {

namespace {

namespace sigma = fluxcap::sigma;

/// Every path a correlation engine over `correlations` may bind (group-by names, alias
/// targets, condition fields, the timestamp), bound in `f` first: the engine's copy of
/// `f` then binds nothing new, so its handles are `f`'s and `f` parses its events.
json_fields bound_correlation_fields(const sigma_rule_set& rules,
                                     const sigma_correlation_set& correlations,
                                     const json_fields_limits& limits) {
  json_fields f(limits);
  const auto bind = [&](const std::string& sigma_field) {
    (void)f.field_handle_for(sigma::field_path::parse(correlations.profile.path_of(sigma_field)));
  };
  for (const auto& cr : correlations.rules) {
    for (const auto& g : cr.group_by) bind(g);
    for (const auto& a : cr.aliases)
      for (const auto& entry : a.fields) bind(entry.second);
    for (const auto& field : cr.condition.fields) bind(field);
  }
  if (rules.compiled.timestamp_path)
    (void)f.field_handle_for(sigma::field_path::parse(*rules.compiled.timestamp_path));
  return f;
}

std::string number_text(double v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return {buf, r.ptr};
}

/// The end of the JSON string starting at `i` (its opening quote), past the closing one.
std::size_t string_end(std::string_view s, std::size_t i) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\')
      ++i;
    else if (s[i] == '"')
      return i + 1;
  }
  return std::string_view::npos;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

template <class Windows>
class stage_impl final : public correlation_stage {
 public:
  using engine_type = sigma::correlation_engine<json_fields, Windows, fluxcap::default_hash>;

  stage_impl(const sigma_rule_set& rules, const sigma_correlation_set& correlations,
             const options& o, const json_fields_limits& limits)
      : rules_(&rules),
        fields_(bound_correlation_fields(rules, correlations, limits)),
        correlations_(&correlations),
        options_(correlation_options_of(o)),
        lag_ms_(o.correlation_lag_ms) {
    // A keyed hash, as the flux capacitor's: group keys and values come from events. A
    // fresh key until the run gives its own (set_hash_key).
    set_hash_key(fluxcap::hash_key::random());
    append_json_string(key_json_, rules.detections_field);
    for (const char c : rules.detections_field)
      if (c == '"' || c == '\\' || c == '/' || static_cast<unsigned char>(c) < 0x20)
        key_short_escapable_ = true;
    for (std::uint32_t j = 0; j < rules.identity_json.size(); ++j)
      index_of_.emplace(rules.identity_json[j], j);
    referenced_.assign(rules.compiled.rules.size(), 0);
    std::unordered_map<std::size_t, std::uint32_t> compiled_of_source;
    for (std::uint32_t j = 0; j < rules.compiled.rules.size(); ++j)
      compiled_of_source.emplace(rules.compiled.rules[j].source_index, j);
    for (const auto& cr : correlations.rules)
      for (const auto& ref : cr.resolved)
        if (ref.target == sigma::correlation_reference::kind::detection)
          if (const auto it = compiled_of_source.find(ref.index); it != compiled_of_source.end())
            referenced_[it->second] = 1;
    for (const auto& cr : correlations.rules) {
      std::string json;
      append_json_string(json, cr.identity);
      correlation_json_.push_back(std::move(json));
    }
    for (std::size_t c = 0; c < correlations.rules.size(); ++c)
      if (!engine_->unsupported_reason(c).empty()) ++unsupported_;
  }

  void set_hash_key(const fluxcap::hash_key& key) override {
    engine_.emplace(correlations_->rules, rules_->compiled, correlations_->profile, fields_,
                    options_, fluxcap::default_hash(key));
  }

  [[nodiscard]] std::vector<std::uint8_t> save_state() const override {
    return sigma::save_correlation_state(*engine_);
  }

  void load_state(std::span<const std::uint8_t> bytes) override {
    sigma::load_correlation_state(*engine_, bytes);
  }

  void process(std::string_view line, std::string& out) override {
    std::string_view body = line;
    if (!body.empty() && body.back() == '\n') body.remove_suffix(1);
    // Most lines have no detections: one search for the key, then copied.
    if (!may_hold_key(body)) {
      out.append(line);
      return;
    }
    const auto at = sigma_detail::find_top_level_value(body, rules_->detections_field);
    if (!at || at->begin >= body.size() || body[at->begin] != '[' || !read_items(body, *at)) {
      out.append(line);
      return;
    }
    bool correlate = false;
    for (const auto& item : items_)
      if (item.index != unknown && referenced_[item.index] != 0) correlate = true;
    if (!correlate) {  // no correlation reads these detections: every one is reported
      out.append(line);
      return;
    }
    detections_.clear();
    for (const auto& item : items_)
      if (item.index != unknown) detections_.push_back(item.index);
    std::span<const std::uint32_t> fired;
    if (fields_.parse(body, event_, problem_)) {
      fired = engine_->process(detections_, event_);
      drop_idle_groups();
    } else {
      ++unreadable_;  // e.g. a field the correlations read given twice
    }
    fired_sorted_.assign(fired.begin(), fired.end());
    std::sort(fired_sorted_.begin(), fired_sorted_.end());
    fired_ += fired_sorted_.size();

    // The array: the detections reported on their own (load order), then the reported
    // correlations that fired (load order).
    array_.clear();
    array_ += '[';
    bool first = true;
    const auto add = [&](std::string_view json) {
      if (!first) array_ += ',';
      first = false;
      array_.append(json);
    };
    for (const auto& item : items_)
      if (item.index == unknown || engine_->reports_detection(item.index))
        add(body.substr(item.begin, item.end - item.begin));
    for (const std::uint32_t c : fired_sorted_)
      if (engine_->reports_correlation(c)) {
        add(correlation_json_[c]);
        ++reported_;
      }
    array_ += ']';

    const std::string_view tail = line.substr(body.size());  // the '\n', if any
    if (first) {  // nothing to report: no array, as on a line where nothing fired
      if (const auto cut = removable_span(body, at->begin, at->end)) {
        out.append(body.substr(0, cut->first));
        out.append(body.substr(cut->second));
        out.append(tail);
        return;
      }
    }
    out.append(body.substr(0, at->begin));
    out.append(array_);
    out.append(body.substr(at->end));
    out.append(tail);
  }

  [[nodiscard]] std::string stats_text() const override {
    const auto& k = engine_->counters();
    const auto n = [](std::uint64_t v) { return std::to_string(v); };
    return ", correlations: " + n(engine_->rules().size()) + " rules (" + n(unsupported_) +
           " unsupported), " + n(fired_) + " fired (" + n(reported_) + " reported), " +
           n(engine_->live_groups()) + " live groups, " + n(engine_->memory_bytes()) +
           " bytes; without time " + n(k.without_time) + ", without group " + n(k.without_group) +
           ", without value " + n(k.without_value) + ", late " + n(k.late) + ", groups refused " +
           n(k.groups_refused) + ", groups expired " + n(k.groups_expired) +
           ", window events dropped " + n(k.window_dropped) + ", unreadable lines " +
           n(unreadable_);
  }

 private:
  static constexpr std::uint32_t unknown = UINT32_MAX;
  struct array_item {
    std::size_t begin, end;  ///< the JSON string in the line
    std::uint32_t index;     ///< compiled rule, or unknown
  };

  /// Every `drop_every` matches, groups whose window emptied `--correlation-lag` before
  /// the newest match are dropped (keys and windows: idle groups cost nothing). Only an
  /// event later than the lag behind the newest can see the difference (docs/cli.md).
  void drop_idle_groups() {
    constexpr std::uint32_t drop_every = 4096;
    if (++since_drop_ < drop_every) return;
    since_drop_ = 0;
    if (const auto newest = engine_->newest_time())
      (void)engine_->drop_idle_groups(*newest - lag_ms_);
  }

  /// Whether `body` may have the detections key: spelled as the Sigma stage writes it, or
  /// with escapes in an input line that had the field (the Sigma stage reads the key
  /// unescaped and puts its array there: missing it would let an event hide its
  /// correlations). An escape needs a backslash: `\u` for any character, `\"`, `\\`,
  /// `\/` and controls for those. glibc's memmem: string_view::find stops at every '"'.
  [[nodiscard]] bool may_hold_key(std::string_view body) const {
    if (::memmem(body.data(), body.size(), key_json_.data(), key_json_.size()) != nullptr)
      return true;
    if (key_short_escapable_) return body.find('\\') != std::string_view::npos;
    return ::memmem(body.data(), body.size(), "\\u", 2) != nullptr;
  }

  /// The identities of the array at `at` (written by the Sigma stage). False when it is
  /// not an array of strings.
  bool read_items(std::string_view s, const sigma_detail::value_span& at) {
    items_.clear();
    std::size_t i = at.begin + 1;
    for (;;) {
      while (i < at.end && is_space(s[i])) ++i;
      if (i >= at.end) return false;
      if (s[i] == ']') return true;
      if (s[i] != '"') return false;
      const std::size_t e = string_end(s, i);
      if (e == std::string_view::npos || e > at.end) return false;
      const auto it = index_of_.find(s.substr(i, e - i));
      items_.push_back({i, e, it == index_of_.end() ? unknown : it->second});
      i = e;
      while (i < at.end && is_space(s[i])) ++i;
      if (i < at.end && s[i] == ',') ++i;
    }
  }

  /// [first, second) of `,"key":value` around the value at [begin, end), when it is
  /// where and as the Sigma stage adds it (the last member). Else the line had the
  /// field already, and keeps it with [] (as when no rule fires).
  std::optional<std::pair<std::size_t, std::size_t>> removable_span(std::string_view s,
                                                                    std::size_t begin,
                                                                    std::size_t end) const {
    std::size_t j = begin;
    while (j > 0 && is_space(s[j - 1])) --j;
    if (j == 0 || s[j - 1] != ':') return std::nullopt;
    --j;
    while (j > 0 && is_space(s[j - 1])) --j;
    if (j < key_json_.size() || s.substr(j - key_json_.size(), key_json_.size()) != key_json_)
      return std::nullopt;
    const std::size_t key = j - key_json_.size();
    if (key == 0 || s[key - 1] != ',' || end >= s.size() || s[end] != '}') return std::nullopt;
    return std::pair{key - 1, end};
  }

  const sigma_rule_set* rules_;
  json_fields fields_;
  const sigma_correlation_set* correlations_;
  sigma::correlation_options options_;
  std::optional<engine_type> engine_;
  std::int64_t lag_ms_;
  std::uint32_t since_drop_ = 0;
  std::string key_json_;
  bool key_short_escapable_ = false;  ///< the key has a character with a short escape
  std::unordered_map<std::string_view, std::uint32_t> index_of_;  ///< identity JSON -> rule
  std::vector<std::uint8_t> referenced_;                          ///< by compiled rule
  std::vector<std::string> correlation_json_;
  std::uint64_t unsupported_ = 0;
  std::uint64_t fired_ = 0, reported_ = 0, unreadable_ = 0;

  json_field_event event_;
  std::string problem_;
  std::vector<array_item> items_;
  std::vector<std::uint32_t> detections_;
  std::vector<std::uint32_t> fired_sorted_;
  std::string array_;
};

/// Memory of one group's window in each mode, from the library's types.
struct window_memory {
  std::string exact;
  std::string bounded;
};

template <class Payload>
constexpr std::size_t entry_bytes() {
  return sizeof(typename sigma::detail::timed_events<Payload>::entry);
}

window_memory memory_of(const sigma::correlation_rule& cr, const sigma::correlation_options& opt) {
  using namespace sigma;
  const window_params params{cr.timespan_ms, opt.buckets, opt.max_window_events};
  const std::uint32_t slots = detail::time_ring(params.span_ms, params.buckets).slots();
  const auto n = [](std::size_t v) { return std::to_string(v); };
  const auto exact = [&](std::size_t fixed, std::size_t per_event) {
    return n(fixed + per_event * opt.max_window_events) + " bytes at most (" + n(per_event) +
           " bytes an event x " + n(opt.max_window_events) + " events, + " + n(fixed) + ")";
  };
  const auto bounded = [&](std::size_t total, std::size_t per_bucket) {
    return n(total) + " bytes (" + n(slots) + " buckets x " + n(per_bucket) + " bytes, + " +
           n(total - per_bucket * slots) + ")";
  };
  window_memory m;
  switch (cr.type) {
    case correlation_type::event_count:
      m.exact = exact(sizeof(exact_count_window), entry_bytes<char>());
      m.bounded = bounded(bounded_count_window::memory_bound(params), sizeof(std::uint32_t));
      break;
    case correlation_type::value_count:
      // An event's entry, and at most one count of its value (a hash-map node).
      m.exact = exact(sizeof(exact_distinct_window),
                      entry_bytes<std::uint64_t>() + sizeof(std::uint64_t) * 2 + sizeof(void*) * 3);
      m.bounded = bounded(bounded_distinct_window::memory_bound(params),
                          bounded_distinct_window::bucket_bytes) +
                  ", HyperLogLog m = " + n(bounded_distinct_window::registers);
      break;
    case correlation_type::temporal:
    case correlation_type::temporal_ordered: {
      const std::string marks = n(sizeof(event_time) * cr.rules.size()) +
                                " bytes (one time a referenced rule; no window)";
      m.exact = marks;
      m.bounded = marks;
      break;
    }
    default: {
      const bool percentile = cr.type == correlation_type::value_percentile;
      m.exact = exact(sizeof(exact_value_window),
                      entry_bytes<double>() + (percentile ? sizeof(double) : 0));
      const std::uint32_t generations =
          detail::time_ring(params.span_ms, std::min(slots, bounded_value_window::max_generations))
              .slots();
      m.bounded = bounded(bounded_value_window::memory_bound(params),
                          sizeof(std::uint32_t) + sizeof(double)) +
                  ", the + holding " + n(generations) + " percentile sketches x " +
                  n(sizeof(bounded_value_window::sketch)) + " bytes";
    }
  }
  return m;
}

/// What `rules` entry `k` of `cr` resolved to: `rule "identity" (place)`.
std::string reference_text(const sigma_rule_set& rules, const sigma_correlation_set& correlations,
                           const sigma::correlation_rule& cr, std::size_t k) {
  if (k >= cr.resolved.size()) return cr.rules[k] + " (unresolved)";
  const auto& ref = cr.resolved[k];
  if (ref.target == sigma::correlation_reference::kind::correlation) {
    const auto& target = correlations.rules.at(ref.index);
    return cr.rules[k] + " -> correlation " + target.identity + " (" +
           sigma::detail::span_text(target.where) + ")";
  }
  for (const auto& report : rules.compiled.reports)
    if (report.source_index == ref.index)
      return cr.rules[k] + " -> rule " + report.identity + " (" +
             sigma::detail::span_text(report.where) + ")" +
             (report.status == sigma::rule_status::ok
                  ? std::string()
                  : std::string(", ") + std::string(sigma::to_string(report.status)));
  return cr.rules[k];
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

sigma::correlation_options correlation_options_of(const options& o) {
  sigma::correlation_options c;
  c.max_groups = static_cast<std::size_t>(o.max_correlation_groups);
  c.max_window_events = static_cast<std::size_t>(o.max_window_events);
  c.buckets = o.window_buckets;
  return c;
}

std::vector<std::string> unsupported_correlations(const sigma_rule_set& rules,
                                                  const sigma_correlation_set& correlations) {
  const sigma::correlation_engine<json_fields> engine(correlations.rules, rules.compiled,
                                                      correlations.profile);
  std::vector<std::string> out;
  for (std::size_t c = 0; c < correlations.rules.size(); ++c)
    out.push_back(engine.unsupported_reason(c));
  return out;
}

unsupported_report report_unsupported(const sigma_rule_set& rules,
                                      const sigma_correlation_set& correlations) {
  unsupported_report r;
  r.rules = rules.compiled.count(sigma::rule_status::unsupported);
  r.text = unsupported_rules_text(rules);
  if (correlations.rules.empty()) return r;
  const auto reasons = unsupported_correlations(rules, correlations);
  for (std::size_t c = 0; c < reasons.size(); ++c) {
    if (reasons[c].empty()) continue;
    ++r.correlations;
    const auto& cr = correlations.rules[c];
    r.text += "fluxcap: unsupported correlation '" + cr.identity + "' (" +
              sigma::detail::span_text(cr.where) + "): " + reasons[c] + "\n";
  }
  return r;
}

void refuse_unsupported_if_strict(const options& o, const unsupported_report& report) {
  if (!o.strict || report.total() == 0) return;
  std::fputs(report.text.c_str(), stderr);
  throw usage_error("--strict: " + std::to_string(report.total()) + " rule" +
                    (report.total() == 1 ? " is" : "s are") + " unsupported; nothing was read");
}

std::string describe_correlations(const sigma_rule_set& rules,
                                  const sigma_correlation_set& correlations, const options& o) {
  const auto reasons = unsupported_correlations(rules, correlations);
  const auto opt = correlation_options_of(o);
  std::string out;
  for (std::size_t c = 0; c < correlations.rules.size(); ++c) {
    const auto& cr = correlations.rules[c];
    out += "correlation " + cr.identity + " (" + sigma::detail::span_text(cr.where) + "): ";
    out += reasons[c].empty() ? "ok\n" : "unsupported: " + reasons[c] + "\n";
    if (cr.title && *cr.title != cr.identity) out += "  title: " + *cr.title + "\n";
    out += "  type: " + std::string(sigma::to_string(cr.type)) + "\n";
    out += "  rules:\n";
    for (std::size_t k = 0; k < cr.rules.size(); ++k)
      out += "    " + reference_text(rules, correlations, cr, k) + "\n";
    std::vector<std::string> group_by;
    for (const auto& g : cr.group_by) {
      const std::string path = correlations.profile.path_of(g);
      std::string text = g;
      if (path != g) text.append(" (").append(path).append(")");
      group_by.push_back(std::move(text));
    }
    out += "  group-by: " + join(group_by) + "\n";
    for (const auto& a : cr.aliases) {
      std::vector<std::string> entries;
      for (const auto& [rule_name, field] : a.fields)
        entries.push_back(std::string(rule_name).append(": ").append(field));
      out += "  alias " + a.name + ": " + join(entries) + "\n";
    }
    out += "  timespan: " + cr.timespan_text + " (" + std::to_string(cr.timespan_ms) + " ms)\n";
    std::vector<std::string> bounds;
    for (const auto& b : cr.condition.bounds)
      bounds.push_back(std::string(sigma::comparison_names[static_cast<std::size_t>(b.op)]) + " " +
                       b.text);
    out += "  condition: " + (bounds.empty() ? std::string("every rule matched") : join(bounds));
    if (!cr.condition.fields.empty()) out += "; field: " + join(cr.condition.fields);
    if (cr.type == sigma::correlation_type::value_percentile)
      out += "; percentile: " + number_text(cr.condition.percentile);
    out += "\n";
    out += std::string("  generate: ") + (cr.generate ? "true" : "false") + "\n";
    const auto m = memory_of(cr, opt);
    out += "  memory per group (+ its key): exact " + m.exact + "; bounded " + m.bounded + "\n";
  }
  return out;
}

std::string add_correlation_edges(std::string graph, const sigma_rule_set& rules,
                                  const sigma_correlation_set& correlations) {
  if (correlations.rules.empty()) return graph;
  const auto id = [](std::string_view s) { return sigma::detail::yaml_quote(s); };
  std::string extra;
  for (const auto& cr : correlations.rules) {
    extra += "  " + id("correlation:" + cr.identity) + " [shape=hexagon, label=" +
             id(cr.identity + " (" + std::string(sigma::to_string(cr.type)) + ")") + "];\n";
    for (const auto& ref : cr.resolved) {
      std::string target;
      if (ref.target == sigma::correlation_reference::kind::correlation) {
        target = "correlation:" + correlations.rules.at(ref.index).identity;
      } else {
        for (const auto& report : rules.compiled.reports)
          if (report.source_index == ref.index) target = "rule:" + report.identity;
        if (target.empty()) continue;
      }
      extra += "  " + id("correlation:" + cr.identity) + " -> " + id(target) + ";\n";
    }
  }
  // Before the closing brace of the digraph.
  const auto close = graph.rfind('}');
  if (close == std::string::npos) return graph + extra;
  graph.insert(close, extra);
  return graph;
}

std::unique_ptr<correlation_stage> make_correlation_stage(const sigma_rule_set& rules,
                                                          const sigma_correlation_set& correlations,
                                                          const options& o,
                                                          const json_fields_limits& field_limits) {
  if (correlations.rules.empty()) return nullptr;
  // The stage reads lines the Sigma stage accepted and lengthened by its array.
  json_fields_limits limits = field_limits;
  for (const auto& json : rules.identity_json) limits.max_line_bytes += json.size() + 1;
  limits.max_line_bytes += rules.detections_field.size() * 2 + 16;
  if (o.correlation_memory == correlation_memory_mode::bounded)
    return std::make_unique<stage_impl<sigma::bounded_windows>>(rules, correlations, o, limits);
  return std::make_unique<stage_impl<sigma::exact_windows>>(rules, correlations, o, limits);
}

void prepare_correlation_state(const options& o, const sigma_correlation_set& correlations) {
  if (correlations.rules.empty() || !o.state_db) return;
  throw usage_error(
      "--state-db: the state database does not hold correlation state yet, and "
      "the rules include " +
      std::to_string(correlations.rules.size()) + " correlation rule" +
      (correlations.rules.size() == 1 ? "" : "s") +
      " (save their state with --state FILE, or leave them out)");
}

}  // namespace fluxcap_cli
