// The Sigma event-field accessor of the fluxcap tool: reads the bound field paths of a
// JSON Lines line in one walk, for sigma::field_accessor
// (include/fluxcap/sigma/field_accessor.hpp; docs/design/sigma-frontend.md 2.5, 6.2).
// simdjson's stage 1 finds the line's structure (SIMD); the walk over its structural
// indexes is ours.
//
// Binding: every path is compiled into a trie of segments. Walking an object, a key is
// compared with the next segment or with a dotted run of segments, so that a.b.c is
// found in {"a":{"b":{"c":1}}}, {"a.b":{"c":1}} and {"a.b.c":1} (design 6.2). Subtrees
// that no path needs are skipped without being materialised.
//
// Values (sigma::field_value): a string is its unescaped bytes; a number its text as
// written (e.g. -1.5e3); true/false; null is one value of kind null; an object is one
// value of kind other (empty text), and is still descended for longer paths; an array
// gives one value per element: scalars as above, a nested object or array one value of
// kind other. An empty array is present with no value. Paths do not descend arrays
// (a.b over {"a":[{"b":1}]} is absent).
//
// Duplicates: a bound path found twice in one line (a repeated key, or two splits of
// the same path such as {"a.b":1,"a":{"b":2}}) makes the line bad ("duplicate field
// 'a.b'"), as the tool does for the fields it reads (docs/cli.md, bad lines): a
// detection must not depend on which copy a reader picks. Keys no path reads may repeat.
//
// Validity: the line must be one JSON object (then only whitespace). Its whole grammar
// is checked, the parts no path reads included (structure, numbers, literals); the
// values read are checked down to their escapes. Strings no path reads are checked as
// far as simdjson's stage 1 goes (valid UTF-8, closed, no raw control character), not
// for their escapes (line_parser validates every byte: the tool runs it on lines it
// rewrites). Nothing in a line can make parse throw, recurse without bound or allocate
// without bound.
//
// Speed: the event object's keys are remembered by position from one line to the next
// (at most 256, of at most 32 bytes, without escapes). A key equal to the one remembered
// at its position reaches the same paths without a lookup; any other key is looked up.
//
// Limits (json_fields_limits): line length, nesting depth of the objects walked, values
// one path may hold (a long array). A line beyond them is bad, with a message naming the
// limit. Memory per event grows to the longest line seen, then is reused.
#pragma once

#include <fluxcap/sigma/field_accessor.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace fluxcap_cli {

/// Bounds on what one line may make json_fields do.
struct json_fields_limits {
  /// Longest line (bytes); the tool's --max-line-bytes default.
  std::size_t max_line_bytes = std::size_t{1} << 20;
  /// Deepest nesting of the objects and arrays walked (the event object is level 1):
  /// the walk recurses once a level.
  std::size_t max_depth = 1024;
  /// Most values one path may hold (the elements of an array).
  std::size_t max_values_per_path = 10000;
};

/// One parsed line: the values of every bound path (and, when enabled, every string
/// of the line). The views point into the line given to parse (or into the event's
/// copy of it) and into the event's unescape buffer: valid until the next parse into
/// this event, or until the line's bytes change.
class json_field_event {
 public:
  json_field_event() = default;

 private:
  friend class json_fields;
  struct slot {
    std::uint32_t first = 0;  ///< index of the first value in values_
    std::uint32_t count = 0;
    bool present = false;
  };
  std::vector<slot> slots_;  ///< one per bound path (handle)
  std::vector<fluxcap::sigma::field_value> values_;
  std::vector<std::string_view> strings_;  ///< every string value (enable_all_strings)
  std::string unescaped_;  ///< strings with escapes, unescaped (its first unescaped_used_ bytes)
  std::size_t unescaped_used_ = 0;
  std::string copy_;  ///< the line, padded, when parse copies it
};

/// The accessor (sigma::string_enumerating_accessor). Copies share no state: a copy has
/// the same bindings and its own parser.
class json_fields {
 public:
  using event_type = json_field_event;
  using field_handle = std::uint32_t;

  explicit json_fields(json_fields_limits limits = {});
  ~json_fields();
  json_fields(const json_fields& other);
  json_fields& operator=(const json_fields& other);
  json_fields(json_fields&&) noexcept;
  json_fields& operator=(json_fields&&) noexcept;

  /// Binds `p` (the same segments again: the same handle). Bind before parsing the
  /// events that are read with the handle.
  field_handle field_handle_for(const fluxcap::sigma::field_path& p);

  /// Makes parse collect every string value of the line (for keyword rules): parse then
  /// walks the whole document.
  void enable_all_strings() noexcept { all_strings_ = true; }
  [[nodiscard]] bool all_strings_enabled() const noexcept { return all_strings_; }

  /// The bound paths, by handle.
  [[nodiscard]] const std::vector<fluxcap::sigma::field_path>& paths() const noexcept {
    return paths_;
  }

  /// Extra readable bytes parse needs after a line (simdjson's padding).
  static std::size_t padding() noexcept;

  /// Parses `line` (no newline) into `out`. `readable` bytes are readable from
  /// `line.data()`, at least `line.size() + padding()`. Returns false and sets
  /// `problem` (as the tool's line parser words it) for a bad line.
  bool parse(std::string_view line, std::size_t readable, json_field_event& out,
             std::string& problem);
  /// The same for a line without padding: it is copied into `out` first.
  bool parse(std::string_view line, json_field_event& out, std::string& problem);

  /// False: `h` is absent from `e`. Else calls `sink(field_value)` once per value.
  template <class Sink>
  bool read(const event_type& e, field_handle h, Sink&& sink) const {
    if (h >= e.slots_.size() || !e.slots_[h].present) return false;
    const auto& s = e.slots_[h];
    for (std::uint32_t i = 0; i < s.count; ++i) sink(e.values_[s.first + i]);
    return true;
  }

  /// Calls `fn(std::string_view)` for every string value of `e` in document order (keys
  /// are not values). Nothing unless enable_all_strings() was called before parse.
  template <class Fn>
  void for_each_string(const event_type& e, Fn&& fn) const {
    for (const std::string_view s : e.strings_) fn(s);
  }

  /// The trie of bound segments (node 0 is the root). Public for the walker only.
  struct trie_node {
    std::string segment;
    std::vector<std::uint32_t> children;
    std::uint32_t handle = no_handle;
    /// The children by segment: open addressing, a power of two of slots, no_handle
    /// for empty (a key is looked up with one hash, not compared with every child).
    std::vector<std::uint32_t> table;
    std::size_t longest_child = 0;  ///< longest child segment: longer keys miss at once
    bool inner_child = false;       ///< a child has children (a dotted key may reach it)
    /// The children's (length, first byte, last byte), hashed to 512 bits: most keys of an
    /// event are bound by no path, and this rejects them with one load (when no child has
    /// children: else a dotted key may still reach one).
    std::array<std::uint64_t, 8> key_filter{};
  };
  static constexpr std::uint32_t no_handle = 0xffffffffU;

 private:
  struct walker;
  void index_children(std::uint32_t node);

  json_fields_limits limits_;
  bool all_strings_ = false;
  std::vector<trie_node> trie_{trie_node{}};
  std::vector<fluxcap::sigma::field_path> paths_;
  std::size_t longest_path_ = 0;
  std::unique_ptr<walker> walker_;
};

static_assert(fluxcap::sigma::string_enumerating_accessor<json_fields>);

}  // namespace fluxcap_cli
