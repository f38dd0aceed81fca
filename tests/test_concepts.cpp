// The concepts, checked at compile time: each accepts the shipped types and rejects near
// misses (a type that lacks one requirement, or meets it with the wrong type).
#include <fluxcap/fluxcap.hpp>

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "test_util.hpp"

using namespace fluxcap;

namespace {

using fluxcap_test::user_hash;

struct narrow_hash {
  [[nodiscard]] std::uint32_t operator()(std::string_view s) const noexcept {
    return static_cast<std::uint32_t>(s.size());
  }
};
struct mutable_hash {
  std::uint64_t operator()(std::string_view s) { return s.size(); }
};
struct seeded_hash {
  explicit seeded_hash(std::uint64_t s) : seed(s) {}
  std::uint64_t seed;
  std::uint64_t operator()(std::string_view s) const { return seed ^ s.size(); }
};

struct accessor_returning_string : dense_accessor {
  using dense_accessor::dense_accessor;
  [[nodiscard]] std::optional<std::string> get_column(const dense_event&, column_handle) const {
    return std::nullopt;
  }
};
struct accessor_without_set_tag {
  using event_type = dense_event;
  using tag_handle = std::size_t;
  using column_handle = std::size_t;
  tag_handle tag_handle_for(std::string_view, std::string_view) const { return 0; }
  column_handle column_handle_for(std::string_view) const { return 0; }
  bool get_tag(const dense_event&, tag_handle) const { return false; }
  std::optional<std::string_view> get_column(const dense_event&, column_handle) const { return {}; }
};
struct accessor_with_int_tags : accessor_without_set_tag {
  void set_tag(dense_event&, tag_handle, bool) const {}
  int get_tag(const dense_event&, tag_handle) const { return 0; }
};
struct accessor_complete : accessor_without_set_tag {
  void set_tag(dense_event&, tag_handle, bool) const {}
};

struct memory_int_contains {
  struct state_type {
    int contains(std::uint64_t) const { return 0; }
    void insert(std::uint64_t) {}
  };
  state_type make_state() const { return {}; }
};
struct memory_without_make_state {
  using state_type = group_state;
};
struct memory_wrong_state {
  using state_type = group_state;
  int make_state() const { return 0; }
};
struct memory_complete {
  struct state_type {
    bool contains(std::uint64_t) const { return false; }
    void insert(std::uint64_t) {}
  };
  state_type make_state() const { return {}; }
};

template <class State>
struct store_erase_void : in_memory_state_store<State> {
  using in_memory_state_store<State>::in_memory_state_store;
  void erase(std::string_view) {}
};
template <class State>
struct store_find_reference : in_memory_state_store<State> {
  using in_memory_state_store<State>::in_memory_state_store;
  State& find(std::string_view key) { return this->find_or_create(key); }
};
struct store_without_for_each {
  using state_type = group_state;
  group_state& find_or_create(std::string_view);
  group_state* find(std::string_view);
  bool erase(std::string_view);
  std::size_t size() const;
};

}  // namespace

TEST_CASE("concepts accept the shipped types and reject near misses") {
  static_assert(hash_policy<default_hash>);
  static_assert(keyed_hash_policy<default_hash>);
  static_assert(!keyed_hash_policy<unkeyed_hash>);
  static_assert(hash_policy<user_hash>);
  static_assert(!hash_policy<narrow_hash>);   // returns uint32_t
  static_assert(!hash_policy<mutable_hash>);  // not callable on a const object
  static_assert(!hash_policy<seeded_hash>);   // not default-constructible
  static_assert(hash_is_avalanching<default_hash>);
  static_assert(!hash_is_avalanching<user_hash>);

  static_assert(event_accessor<dense_accessor>);
  static_assert(event_accessor<accessor_complete>);
  static_assert(!event_accessor<accessor_returning_string>);
  static_assert(!event_accessor<accessor_without_set_tag>);
  static_assert(!event_accessor<accessor_with_int_tags>);

  static_assert(memory_policy<exact_memory>);
  static_assert(memory_policy<bloom_memory>);
  static_assert(memory_policy<memory_complete>);
  static_assert(!memory_policy<memory_int_contains>);
  static_assert(!memory_policy<memory_without_make_state>);
  static_assert(!memory_policy<memory_wrong_state>);

  static_assert(state_store<in_memory_state_store<group_state>>);
  static_assert(state_store<in_memory_state_store<memory_complete::state_type>>);
  static_assert(!state_store<store_erase_void<group_state>>);
  static_assert(!state_store<store_find_reference<group_state>>);
  static_assert(!state_store<store_without_for_each>);
  CHECK(true);
}

// What the serialize.hpp and checkpoint.hpp functions take.

namespace {

using dense_capacitor = flux_capacitor<dense_accessor, bloom_memory>;

/// A capacitor whose memory keeps another state type: nothing to serialize.
struct capacitor_other_state {
  using state_type = memory_complete::state_type;
  using hash_type = default_hash;
  const bloom_memory& memory() const;
  const default_hash& hash() const;
  state_type make_state() const;
};
/// A capacitor-like type without hash().
struct capacitor_without_hash {
  using state_type = group_state;
  using hash_type = default_hash;
  const bloom_memory& memory() const;
  group_state make_state() const;
};
/// A capacitor-like type whose memory has no geometry().
struct capacitor_memory_without_geometry {
  using state_type = group_state;
  using hash_type = default_hash;
  const memory_complete& memory() const;
  const default_hash& hash() const;
  group_state make_state() const;
};

/// for_each only on a non-const store: save_store takes the store const.
struct store_mutable_for_each {
  using state_type = group_state;
  std::size_t size() const;
  template <class F>
  void for_each(F&&);
};
/// Everything but `state_type`: not a store of group_states.
struct store_without_state_type {
  std::size_t size() const;
  template <class F>
  void for_each(F&&) const;
};
struct store_without_size {
  using state_type = group_state;
  template <class F>
  void for_each(F&&) const;
};
struct store_without_assign {
  using state_type = group_state;
  group_state* find(std::string_view);
};
/// assign returns by value: apply_store_delta marks the stored state, not a copy.
struct store_assign_by_value {
  using state_type = group_state;
  group_state* find(std::string_view);
  group_state assign(std::string_view, group_state);
};
struct store_find_reference_only {
  using state_type = group_state;
  group_state& find(std::string_view);
  group_state& assign(std::string_view, group_state);
};

}  // namespace

TEST_CASE("serialization concepts accept the shipped types and reject near misses") {
  static_assert(group_state_capacitor<dense_capacitor>);
  static_assert(group_state_capacitor<flux_capacitor<dense_accessor, exact_memory>>);
  static_assert(group_state_capacitor<flux_capacitor<dense_accessor, cuckoo_memory, user_hash>>);
  static_assert(!group_state_capacitor<flux_capacitor<dense_accessor, memory_complete>>);
  static_assert(!group_state_capacitor<capacitor_other_state>);
  static_assert(!group_state_capacitor<capacitor_without_hash>);
  static_assert(!group_state_capacitor<capacitor_memory_without_geometry>);
  static_assert(!group_state_capacitor<group_state>);

  using store = in_memory_state_store<group_state>;
  static_assert(saveable_store<store>);
  static_assert(loadable_store<store>);
  static_assert(checkpointable_store<store>);
  static_assert(delta_store<store>);
  static_assert(!saveable_store<in_memory_state_store<memory_complete::state_type>>);
  static_assert(!loadable_store<in_memory_state_store<memory_complete::state_type>>);
  static_assert(!saveable_store<store_mutable_for_each>);
  static_assert(checkpointable_store<store_mutable_for_each>);
  static_assert(!saveable_store<store_without_size>);
  static_assert(!loadable_store<store_without_assign>);
  static_assert(!delta_store<store_without_assign>);
  static_assert(loadable_store<store_assign_by_value>);
  static_assert(!delta_store<store_assign_by_value>);
  static_assert(!delta_store<store_find_reference_only>);
  static_assert(!saveable_store<store_without_state_type>);
  CHECK(true);
}
