// State stores: where group states live, keyed by group (usually the host).
//
// Requirements on a state store `S` (see docs/concepts.md):
//   `S::state_type`;
//   `s.find_or_create(key) -> state_type&`  (a new group starts from an empty state);
//   `s.find(key) -> state_type*`             (nullptr when absent);
//   `s.erase(key) -> bool`                   (true when something was erased);
//   `s.size() -> std::size_t`;
//   `s.for_each(f)` calls `f(std::string_view key, state_type&)` for every group.
// Keys are byte strings; a store may hash, shard, or page states out as it likes.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>

#include <fluxcap/hash.hpp>

#include <concepts>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

FLUXCAP_BEGIN_NAMESPACE

template <class S>
concept state_store = requires(S& s, const S& cs, std::string_view key) {
  typename S::state_type;
  { s.find_or_create(key) } -> std::same_as<typename S::state_type&>;
  { s.find(key) } -> std::same_as<typename S::state_type*>;
  { s.erase(key) } -> std::same_as<bool>;
  { cs.size() } -> std::convertible_to<std::size_t>;
  s.for_each([](std::string_view, typename S::state_type&) {});
};

/// The in-memory state store: a hash map from group key to state. A new group's
/// state is a copy of the prototype (an empty state, which allocates nothing).
/// Group keys (host names) may come from an attacker, so the map hashes them with
/// SipHash under a random key of its own: nobody can craft keys that share a bucket
/// (with an unkeyed hash, 40,000 crafted host names took 300 times as long as random
/// ones). Iteration order is therefore not the same from one store to the next;
/// save_store writes groups sorted by key.
template <class State>
class in_memory_state_store {
 public:
  using state_type = State;

  explicit in_memory_state_store(State prototype, const hash_key& key = hash_key::random())
      : prototype_(std::move(prototype)), map_(0, keyed_string_hash(key)) {}

  State& find_or_create(std::string_view key) {
    if (auto it = map_.find(key); it != map_.end()) return it->second;
    return map_.emplace(std::string(key), prototype_).first->second;
  }
  [[nodiscard]] State* find(std::string_view key) {
    auto it = map_.find(key);
    return it == map_.end() ? nullptr : &it->second;
  }
  [[nodiscard]] const State* find(std::string_view key) const {
    auto it = map_.find(key);
    return it == map_.end() ? nullptr : &it->second;
  }
  bool erase(std::string_view key) {
    auto it = map_.find(key);
    if (it == map_.end()) return false;
    map_.erase(it);
    return true;
  }
  /// Replaces (or adds) a group's state, e.g. one restored from bytes.
  State& assign(std::string_view key, State state) {
    return map_.insert_or_assign(std::string(key), std::move(state)).first->second;
  }
  [[nodiscard]] std::size_t size() const noexcept { return map_.size(); }
  [[nodiscard]] bool empty() const noexcept { return map_.empty(); }

  template <class F>
  void for_each(F&& f) {
    for (auto& [key, state] : map_) f(std::string_view(key), state);
  }
  template <class F>
  void for_each(F&& f) const {
    for (const auto& [key, state] : map_) f(std::string_view(key), state);
  }

  [[nodiscard]] const State& prototype() const noexcept { return prototype_; }

 private:
  State prototype_;
  std::unordered_map<std::string, State, keyed_string_hash, std::equal_to<>> map_;
};

FLUXCAP_END_NAMESPACE
