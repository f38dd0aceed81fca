// The event-field accessor concept: how the Sigma engine reads an application's events.
//
// JSON is only one event format (the tool's). An accessor binds each field path once,
// when an engine is built, and then reads events through the handles only: the
// per-event path does no name lookup.
//
// clang-format off
// | expression                     | result              | when / meaning |
// |--------------------------------|---------------------|----------------|
// | `A::event_type`                |                     | the application's event |
// | `A::field_handle`              | copyable, cheap     | one field path |
// | `a.field_handle_for(p)`        | `field_handle`      | bind time (`p` a `field_path`); may throw; `a` non-const |
// | `a.read(ce, h, sink)`          | `bool`              | false: the field is absent. Else calls `sink(field_value)` once per scalar: the value, or each element of an array |
// | `a.for_each_string(ce, fn)`    | (optional)          | calls `fn(std::string_view)` for every string value of the event, for keyword identifiers |
// clang-format on
//
// A present JSON null is read as one value of kind `null`; an object (or an array
// nested in an array) as one value of kind `other` with empty text, so that `exists`
// sees it and no string comparison matches it. The views passed to `sink` must stay
// valid until the engine's `process` call for that event returns. Without
// `for_each_string`, rules with keyword identifiers are unsupported.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

FLUXCAP_BEGIN_NAMESPACE

namespace sigma {

/// The kind of a scalar read from an event (`other` stays last: detail::value_cache
/// counts the kinds by it).
enum class value_kind : std::uint8_t { null, string, number, boolean, other };

/// One scalar read from an event.
struct field_value {
  value_kind kind = value_kind::null;
  /// string: the unescaped UTF-8 (or any) bytes; number: its text as written in the
  /// event; boolean: "true" or "false"; null and other: empty.
  std::string_view text;
};

/// A parsed field path: `a.b.c` descends objects. `\.` is a literal dot, `\\` a
/// backslash. An accessor for documents that may also hold dotted keys (Elastic) should
/// match any split of the segments: {"a":{"b.c":1}} and {"a.b.c":1} as well.
struct field_path {
  std::vector<std::string> segments;
  std::string text;  ///< as written

  [[nodiscard]] static field_path parse(std::string_view written) {
    field_path p;
    p.text.assign(written);
    std::string segment;
    for (std::size_t i = 0; i < written.size(); ++i) {
      const char c = written[i];
      if (c == '\\' && i + 1 < written.size() &&
          (written[i + 1] == '.' || written[i + 1] == '\\')) {
        segment += written[++i];
      } else if (c == '.') {
        p.segments.push_back(std::move(segment));
        segment.clear();
      } else {
        segment += c;
      }
    }
    p.segments.push_back(std::move(segment));
    return p;
  }

  friend bool operator==(const field_path& a, const field_path& b) {
    return a.segments == b.segments;
  }
};

template <class A>
concept field_accessor = std::copy_constructible<A> &&
    requires(A& a, const A& ca, const field_path& p) {
  typename A::event_type;
  typename A::field_handle;
  { a.field_handle_for(p) } -> std::same_as<typename A::field_handle>;
} && requires(const A& a, const typename A::event_type& ce, typename A::field_handle h,
              void (*sink)(field_value)) {
  { a.read(ce, h, sink) } -> std::same_as<bool>;
};

/// Accessors that can enumerate every string value of an event (keyword identifiers).
template <class A>
concept string_enumerating_accessor = field_accessor<A> &&
    requires(const A& a, const typename A::event_type& ce, void (*fn)(std::string_view)) {
  a.for_each_string(ce, fn);
};

/// An event as a list of (path, values): for tests, fuzzing, the naive baseline and
/// embedders whose events are already flat. Values are owned.
struct dense_field_event {
  struct value {
    value_kind kind = value_kind::string;
    std::string text;
  };
  struct field {
    std::string path;           ///< a path's text, compared whole (no dotted-key splitting)
    std::vector<value> values;  ///< more than one: a JSON array
  };
  std::vector<field> fields;

  /// Adds (or replaces) a string field with one value.
  dense_field_event& set(std::string path, std::string text, value_kind kind = value_kind::string) {
    for (auto& f : fields)
      if (f.path == path) {
        f.values = {value{kind, std::move(text)}};
        return *this;
      }
    fields.push_back(field{std::move(path), {value{kind, std::move(text)}}});
    return *this;
  }
  /// Adds (or replaces) a field holding an array of strings.
  dense_field_event& set_array(std::string path, std::vector<std::string> texts) {
    field f{std::move(path), {}};
    for (auto& t : texts) f.values.push_back(value{value_kind::string, std::move(t)});
    for (auto& g : fields)
      if (g.path == f.path) {
        g = std::move(f);
        return *this;
      }
    fields.push_back(std::move(f));
    return *this;
  }
};

/// The accessor of `dense_field_event`. Handles are path texts; lookups are linear
/// (fine for tests; embedders with real volume write their own accessor).
class dense_fields {
 public:
  using event_type = dense_field_event;
  using field_handle = std::string;

  field_handle field_handle_for(const field_path& p) { return p.text; }

  template <class Sink>
  bool read(const event_type& e, const field_handle& h, Sink&& sink) const {
    for (const auto& f : e.fields) {
      if (f.path != h) continue;
      for (const auto& v : f.values) sink(field_value{v.kind, v.text});
      return true;
    }
    return false;
  }

  template <class Fn>
  void for_each_string(const event_type& e, Fn&& fn) const {
    for (const auto& f : e.fields)
      for (const auto& v : f.values)
        if (v.kind == value_kind::string) fn(std::string_view(v.text));
  }
};

}  // namespace sigma

FLUXCAP_END_NAMESPACE
