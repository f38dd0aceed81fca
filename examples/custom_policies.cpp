// Custom hash and memory policies, and a custom state store: the compiling
// skeletons of docs/concepts.md.
#include <fluxcap/fluxcap.hpp>

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <string_view>
#include <unordered_set>

// A hash policy: any deterministic string -> uint64 function. FNV-1a does not
// avalanche, so it does not declare `is_avalanching` and fluxcap mixes its output.
struct fnv1a_hash {
  [[nodiscard]] std::uint64_t operator()(std::string_view s) const noexcept {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (const char c : s) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
    return h;
  }
};
static_assert(fluxcap::hash_policy<fnv1a_hash>);

// A memory policy: an unbounded exact set (never forgets; for tests or replays).
struct unbounded_set_memory {
  struct state_type {
    std::unordered_set<std::uint64_t> keys;
    [[nodiscard]] bool contains(std::uint64_t key) const { return keys.count(key) != 0; }
    void insert(std::uint64_t key) { keys.insert(key); }
  };
  [[nodiscard]] state_type make_state() const { return {}; }
};
static_assert(fluxcap::memory_policy<unbounded_set_memory>);

// A state store: an ordered map (say, to checkpoint groups in key order).
template <class State>
class ordered_store {
 public:
  using state_type = State;
  explicit ordered_store(State prototype) : prototype_(std::move(prototype)) {}
  State& find_or_create(std::string_view key) {
    return map_.try_emplace(std::string(key), prototype_).first->second;
  }
  State* find(std::string_view key) {
    auto it = map_.find(std::string(key));
    return it == map_.end() ? nullptr : &it->second;
  }
  bool erase(std::string_view key) { return map_.erase(std::string(key)) != 0; }
  [[nodiscard]] std::size_t size() const { return map_.size(); }
  template <class F>
  void for_each(F&& f) {
    for (auto& [k, v] : map_) f(std::string_view(k), v);
  }

 private:
  State prototype_;
  std::map<std::string, State> map_;
};

int main() {
  using namespace fluxcap;
  const program prog = compile(spec{ancestor_rule("lineage", "ppid", "pid", {"office"})});
  dense_schema schema(prog);
  flux_capacitor<dense_accessor, unbounded_set_memory, fnv1a_hash> cap(prog,
                                                                       dense_accessor(schema));
  ordered_store<unbounded_set_memory::state_type> store(cap.make_state());
  static_assert(state_store<decltype(store)>);

  const char* chain[][2] = {{"1", ""}, {"2", "1"}, {"3", "2"}, {"4", "3"}};
  for (const auto& [pid, ppid] : chain) {
    dense_event e(schema);
    e.set_tag(0, std::string_view(pid) == "1");  // only the root is an office process
    e.set_column(*schema.column_index("pid"), pid);
    e.set_column(*schema.column_index("ppid"), ppid);
    cap.update(store.find_or_create("host-a"), e);
    std::printf("pid %s: lineage.office=%d\n", pid, int(e.tag(0)));
  }
  return 0;
}
