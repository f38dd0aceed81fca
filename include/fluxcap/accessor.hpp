// The event accessor concept: how fluxcap reads and writes an application's events.
//
// fluxcap never assumes an event layout. An accessor maps names to handles once,
// when a flux_capacitor is built, and then reads and writes events through those
// handles only, so the per-event path does no name lookup.
//
// clang-format off
// | expression                      | result                            | when / meaning |
// |---------------------------------|-----------------------------------|----------------|
// | `A::event_type`                 | the event type                    | |
// | `A::tag_handle`                 | copyable, cheap                   | names one (rule, tag) |
// | `A::column_handle`              | copyable, cheap                   | names one column |
// | `a.tag_handle_for(rule, tag)`   | `tag_handle`                      | bind time; may throw |
// | `a.column_handle_for(column)`   | `column_handle`                   | bind time; may throw |
// | `a.get_tag(ce, t)`              | `bool`                            | current value; absent = false |
// | `a.set_tag(e, t, v)`            |                                   | writes v, adding the tag if absent |
// | `a.get_column(ce, c)`           | `std::optional<std::string_view>` | nullopt = null or missing |
// clang-format on
//
// The string_view returned by get_column must stay valid until the update of that
// event returns. set_tag is called for every spec'd tag of every rule that is
// evaluated (not for rules left untouched by the temporal skip rule). Rules are
// updated in spec order, and get_tag on a rule's tags is called only after every
// earlier rule's set_tag calls for that event: a handle may read an earlier rule's
// output as its input (tests/test_exclusive.cpp pins this). The spec's
// timestamp column (rules with a timespan) is read with get_column too, as text
// (fluxcap/event_time.hpp).
#pragma once

#include <fluxcap/detail/abi_macros.hpp>

#include <concepts>
#include <optional>
#include <string_view>

FLUXCAP_BEGIN_NAMESPACE

template <class A>
concept event_accessor = std::copy_constructible<A> && requires(const A& a, std::string_view name) {
  typename A::event_type;
  typename A::tag_handle;
  typename A::column_handle;
  { a.tag_handle_for(name, name) } -> std::same_as<typename A::tag_handle>;
  { a.column_handle_for(name) } -> std::same_as<typename A::column_handle>;
} && requires(const A& a, typename A::event_type& e, const typename A::event_type& ce,
              typename A::tag_handle t, typename A::column_handle c, bool v) {
  { a.get_tag(ce, t) } -> std::same_as<bool>;
  a.set_tag(e, t, v);
  { a.get_column(ce, c) } -> std::same_as<std::optional<std::string_view>>;
};

FLUXCAP_END_NAMESPACE
