// The event path of `fluxcap run`, one line at a time: parse, group, update, evaluate
// the post-flux conditions, write. run.cpp streams files through it; the JSON Lines
// fuzz target (tests/fuzz/fuzz_jsonl.cpp) feeds it arbitrary bytes.
#pragma once

#include "json_event.hpp"
#include "json_schema.hpp"
#include "line_parser.hpp"
#include "line_writer.hpp"
#include "spec_file.hpp"

#include <fluxcap/event_time.hpp>
#include <fluxcap/flux_capacitor.hpp>
#include <fluxcap/memory.hpp>
#include <fluxcap/state_store.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fluxcap_cli {

/// Limits on hostile input besides line_limits (docs/cli.md, "Limits").
struct event_limits {
  line_limits line;
  /// Most groups (distinct --group-key values) held at once; an event that would open
  /// one more is a bad line.
  std::uint64_t max_groups = 1000000;
  /// Longest group key (the --group-key value, in bytes as the key holds it: a string
  /// unescaped, anything else as its JSON text); an event with a longer one is a bad
  /// line. With max_groups, it bounds the memory group keys take.
  std::uint64_t max_key_bytes = 4096;
  /// Event times are their senders' word. The time to live (--state-ttl) expires every
  /// group against the latest one seen, so one event dated far ahead would expire every
  /// other host's context: a time later than this machine's clock plus this counts as
  /// that (--max-time-ahead; it can bring expiry forward by at most this much).
  /// Negative: no bound (without --state-ttl, where the times expire nothing).
  std::int64_t max_time_ahead_ms = 10 * 60 * 1000;
};

/// The latest event time that counts now (ms since the epoch): the system clock plus
/// `ahead_ms` (event_limits::max_time_ahead_ms; negative: none, and no clock read).
[[nodiscard]] inline std::int64_t event_time_ceiling(std::int64_t ahead_ms) {
  constexpr std::int64_t none = std::numeric_limits<std::int64_t>::max();
  if (ahead_ms < 0) return none;
  const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  // parse_timespan takes up to 9e18 ms: now + that overflows only 7 million years from
  // now. Checked all the same.
  if (now > 0 && ahead_ms > none - now) return none;
  return now + ahead_ms;
}

/// `t` (ms since the epoch), but no later than event_time_ceiling(ahead_ms).
[[nodiscard]] inline std::int64_t bounded_event_time(std::int64_t t, std::int64_t ahead_ms) {
  return std::min(t, event_time_ceiling(ahead_ms));
}

/// The rules the spec's post-flux conditions read (field_config::condition_rules); a
/// rule may be listed more than once.
[[nodiscard]] inline std::vector<std::string> condition_rules(const loaded_spec& s) {
  std::vector<std::string> rules;
  for (const auto& d : s.detections)
    for (const auto& ref : d.expr.references()) rules.emplace_back(ref.rule);
  return rules;
}

/// Whether a line is an event: a line of spaces, tabs and '\r' only is not.
[[nodiscard]] inline bool is_blank_line(std::string_view line) noexcept {
  for (const char c : line)
    if (c != ' ' && c != '\t' && c != '\r') return false;
  return true;
}

/// Group states kept elsewhere than the processor's own store (`--state-db`: a RocksDB
/// database behind a bounded cache). A group returned is valid until the next call.
class group_backend {
 public:
  virtual ~group_backend() = default;
  /// The state of group `key`, or nullptr when there is none.
  virtual fluxcap::group_state* find(std::string_view key) = 0;
  /// Creates group `key` (which find just reported absent).
  virtual fluxcap::group_state& create(std::string_view key) = 0;
  [[nodiscard]] virtual std::uint64_t size() const = 0;
  /// The event time of the event about to select its group (for a time to live).
  virtual void set_event_time(std::int64_t ms) = 0;
};

/// A processor's group states, bounded by --max-key-bytes and --max-groups. The group
/// of the last event is kept, so that a run of one host's events skips the lookup.
class bounded_groups {
 public:
  using store_type = fluxcap::in_memory_state_store<fluxcap::group_state>;

  /// `empty`: the state a new group starts with.
  bounded_groups(fluxcap::group_state empty, const event_limits& limits)
      : store_(std::move(empty)), limits_(limits), budget_(limits.max_groups) {}

  /// Bounds the groups to `n` (at most --max-groups: with --threads the stores share
  /// that bound). Refusals still name --max-groups.
  void set_budget(std::uint64_t n) noexcept { budget_ = std::min(n, limits_.max_groups); }
  /// The group states. Call `forget_current` after changing them from outside.
  [[nodiscard]] store_type& store() noexcept { return store_; }
  void forget_current() noexcept { current_ = nullptr; }
  /// Keeps the groups in `backend` instead of the own store (which stays empty).
  void set_backend(group_backend* backend) noexcept {
    backend_ = backend;
    current_ = nullptr;
  }
  [[nodiscard]] group_backend* backend() const noexcept { return backend_; }

  /// The state of the group `key` ('=' and the value; empty for null or missing),
  /// created if new; nullptr, with `problem` naming `key_name` (the group field), when
  /// the key is too long or the group would be one too many.
  fluxcap::group_state* select(const std::string& key, std::string_view key_name,
                               std::string& problem) {
    if (key.size() > limits_.max_key_bytes + 1) {  // '=' and the value
      problem = "group key " + quote_name(key_name) + " is longer than " +
                std::to_string(limits_.max_key_bytes) + " bytes (--max-key-bytes)";
      return nullptr;
    }
    if (backend_ != nullptr) {  // asked every time: the backend tracks what is in use
      fluxcap::group_state* found = backend_->find(key);
      if (found != nullptr) return found;
      if (backend_->size() >= budget_) {
        problem = "more than " + std::to_string(limits_.max_groups) +
                  " groups (--max-groups); this event would open a new one";
        return nullptr;
      }
      return &backend_->create(key);
    }
    if (current_ == nullptr || key != current_key_) {
      fluxcap::group_state* found = store_.find(key);
      if (found == nullptr) {
        if (store_.size() >= budget_) {
          problem = "more than " + std::to_string(limits_.max_groups) +
                    " groups (--max-groups); this event would open a new one";
          return nullptr;
        }
        found = &store_.find_or_create(key);
      }
      current_ = found;
      current_key_ = key;
    }
    return current_;
  }

 private:
  store_type store_;
  group_backend* backend_ = nullptr;
  event_limits limits_;
  std::uint64_t budget_;
  fluxcap::group_state* current_ = nullptr;
  std::string current_key_;
};

/// Runs lines through one flux capacitor and its group states.
template <class Memory>
class line_processor {
 public:
  using capacitor_type = fluxcap::flux_capacitor<json_accessor, Memory>;
  using store_type = bounded_groups::store_type;

  /// `schema` and `spec` must outlive the processor.
  /// `key`: the run's hash key (the state file's, or a fresh one).
  line_processor(const loaded_spec& spec, const json_schema& schema, const Memory& memory,
                 const event_limits& limits, const fluxcap::hash_key& key)
      : spec_(&spec),
        schema_(&schema),
        cap_(spec.prog, json_accessor(schema), memory, fluxcap::default_hash(key)),
        groups_(cap_.make_state(), limits),
        parser_(schema, limits.line),
        writer_(schema, detection_names(spec)),
        ev_(schema),
        names_(schema) {
    if (spec.prog.timestamp_column)
      timestamp_column_ = schema.column_handle(*spec.prog.timestamp_column);
    max_time_ahead_ms_ = limits.max_time_ahead_ms;
  }

  [[nodiscard]] const capacitor_type& capacitor() const noexcept { return cap_; }
  /// Bounds the groups this processor's store may hold (bounded_groups::set_budget).
  void set_group_budget(std::uint64_t n) noexcept { groups_.set_budget(n); }

  /// The group key `process` would use for `line` ('=' and the value; empty for null or
  /// missing): a quick look at the group field, else a full parse. False for a blank
  /// line and for a bad line that takes a full parse to tell (`key` is then empty); a
  /// bad line may also get a key (where it is routed does not matter: it is refused).
  bool group_key_of(std::string_view line, std::size_t readable, std::string& key) {
    key.clear();
    if (is_blank_line(line)) return false;
    if (parser_.peek_group_key(line, readable, key)) return true;
    if (!parser_.parse(line, readable, ev_, scratch_problem_)) return false;
    event_group_key(key);
    return true;
  }
  /// The event time `process` would give the group backend for `line` (set_event_time):
  /// none for a spec without a timestamp column, a blank line, and a line `process`
  /// refuses before (not JSON, a bad field, no valid time). A full parse; the
  /// producers of workers with --state-ttl compute the latest time seen with it.
  std::optional<std::int64_t> event_time_of(std::string_view line, std::size_t readable) {
    if (!timestamp_column_ || is_blank_line(line)) return std::nullopt;
    if (!parser_.parse(line, readable, ev_, scratch_problem_)) return std::nullopt;
    const std::optional<std::string_view> text = ev_.columns[*timestamp_column_];
    if (!text) return std::nullopt;
    const std::optional<std::int64_t> t = fluxcap::parse_event_time(*text);
    if (!t) return std::nullopt;
    return bounded_event_time(*t, max_time_ahead_ms_);
  }
  /// A worker's ceiling on the event times given to the group backend: the entry's
  /// watermark (field w), which holds this line's time as its producer bounded it, so
  /// that the worker's later clock never makes a time the producer cut exceed it.
  void set_time_ceiling(std::int64_t ms) noexcept { time_ceiling_ = ms; }
  /// The group states. Call `forget_current_group` after changing it from outside.
  [[nodiscard]] store_type& store() noexcept { return groups_.store(); }
  void forget_current_group() noexcept { groups_.forget_current(); }
  /// Keeps the groups in `backend` (bounded_groups::set_backend).
  void set_group_backend(group_backend* backend) noexcept { groups_.set_backend(backend); }

  enum class outcome : std::uint8_t { blank, event, bad };

  /// Processes one line (no '\n'; `readable` bytes readable from `line.data()`, at
  /// least `line.size()` plus line_parser::padding()). An event or a blank line appends
  /// its output line, without '\n', to `out`; a bad line appends nothing, changes no
  /// memory and sets `problem`.
  outcome process(std::string_view line, std::size_t readable, std::string& out,
                  std::string& problem) {
    if (is_blank_line(line)) {  // not an event: copied as is, like every line
      out.append(line);
      return outcome::blank;
    }
    if (!parser_.parse(line, readable, ev_, problem)) return outcome::bad;
    if (timestamp_column_ && !has_event_time(problem)) return outcome::bad;

    event_group_key(group_key_);
    if (timestamp_column_ && groups_.backend() != nullptr)
      groups_.backend()->set_event_time(
          std::min(bounded_event_time(*fluxcap::parse_event_time(*ev_.columns[*timestamp_column_]),
                                      max_time_ahead_ms_),
                   time_ceiling_));
    fluxcap::group_state* group = groups_.select(group_key_, *schema_->fields().group_key, problem);
    if (group == nullptr) return outcome::bad;
    cap_.update(*group, ev_);

    auto lookup = [&](std::string_view rule, std::string_view tag) {
      const std::uint32_t r = names_.rule(rule);
      return ev_.lookup(rule, tag, r, r == json_schema::none ? r : names_.tag(r, tag));
    };
    auto for_each_tag = [&](std::string_view rule, auto&& f) {
      ev_.for_each_tag(rule, names_.rule(rule), f);
    };
    fired_.clear();
    for (std::size_t i = 0; i < spec_->detections.size(); ++i)
      if (spec_->detections[i].expr.evaluate(lookup, for_each_tag))
        fired_.push_back(static_cast<std::uint32_t>(i));

    writer_.write(line, ev_, fired_, out);
    return outcome::event;
  }

 private:
  /// A spec with timed rules needs every event's time: an event without one would
  /// silently escape them (the library stores and recalls nothing for it), so it is a
  /// bad line, reported and never applied.
  bool has_event_time(std::string& problem) const {
    const auto& column = *spec_->prog.timestamp_column;
    const std::optional<std::string_view> text = ev_.columns[*timestamp_column_];
    if (!text) {
      problem = "timestamp column " + quote_name(column) + " is missing or null";
      return false;
    }
    if (!fluxcap::parse_event_time(*text)) {
      problem = "timestamp column " + quote_name(column) + ": " + quote_name(*text) +
                " is neither an RFC 3339 time nor seconds since the epoch";
      return false;
    }
    return true;
  }

  /// The group key of the parsed event `ev_`.
  void event_group_key(std::string& key) const {
    key.clear();
    if (const std::uint32_t col = schema_->group_column(); col != json_schema::none) {
      if (const auto& v = ev_.columns[col]) {
        key += '=';  // a present value, even "", differs from a null or missing one
        key.append(*v);
      }
    }
  }

  static std::vector<std::string> detection_names(const loaded_spec& s) {
    std::vector<std::string> names;
    for (const auto& d : s.detections) names.push_back(d.name);
    return names;
  }

  const loaded_spec* spec_;
  const json_schema* schema_;
  capacitor_type cap_;
  bounded_groups groups_;
  line_parser parser_;
  line_writer writer_;
  json_event ev_;
  name_resolver names_;
  std::vector<std::uint32_t> fired_;
  std::string group_key_;
  std::string scratch_problem_;
  std::optional<json_accessor::column_handle> timestamp_column_;
  std::int64_t max_time_ahead_ms_ = 0;  // event_limits::max_time_ahead_ms
  std::int64_t time_ceiling_ = std::numeric_limits<std::int64_t>::max();
};

}  // namespace fluxcap_cli
