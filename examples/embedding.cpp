// Embedding fluxcap in an engine of one's own (docs/embedding.md walks through it).
//
// The engine has its own event struct, keeps at most a few hosts' states in memory
// (the others are paged out as bytes), processes hosts on two threads, takes a full
// checkpoint and then deltas, and evaluates post-flux conditions. At the end it
// restores checkpoint + deltas into a fresh store, under the hash key read back from
// the bytes, and checks that the restored store answers like the live one. It prints
// "embedding: OK" when every check holds (the ctest test looks for it).
#include <fluxcap/fluxcap.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

using namespace std::chrono_literals;

// 1. The engine's event: its own layout, tags as bits (set by the pre-flux detections).
struct event {
  std::string host, time, pid, ppid;
  std::uint32_t flags = 0;
  std::vector<std::string> fired{};  // post-flux detections
};
constexpr std::array<std::string_view, 5> catalogue = {
    "lineage.office", "shell.selection", "recon.discovery", "recon.archive", "recon.exfil"};

struct accessor {
  using event_type = event;
  using tag_handle = std::uint32_t;            // the tag's bit
  using column_handle = std::string event::*;  // which member

  static std::uint32_t bit_of(std::string_view rule, std::string_view tag) {  // 0: none
    for (std::size_t i = 0; i < catalogue.size(); ++i)
      if (catalogue[i] == std::string(rule) + "." + std::string(tag)) return 1U << i;
    return 0;
  }
  // Bind time: throwing rejects a spec that names a tag or column events cannot carry.
  [[nodiscard]] tag_handle tag_handle_for(std::string_view rule, std::string_view tag) const {
    if (const auto bit = bit_of(rule, tag)) return bit;
    throw std::invalid_argument("no flag for " + std::string(rule) + "." + std::string(tag));
  }
  [[nodiscard]] column_handle column_handle_for(std::string_view column) const {
    if (column == "pid") return &event::pid;
    if (column == "ppid") return &event::ppid;
    if (column == "time") return &event::time;
    throw std::invalid_argument("no column " + std::string(column));
  }
  [[nodiscard]] bool get_tag(const event& e, tag_handle t) const { return (e.flags & t) != 0; }
  void set_tag(event& e, tag_handle t, bool v) const { e.flags = v ? e.flags | t : e.flags & ~t; }
  [[nodiscard]] std::optional<std::string_view> get_column(const event& e, column_handle c) const {
    const std::string& v = e.*c;  // empty = null: no parent, no identity, no time
    return v.empty() ? std::nullopt : std::optional<std::string_view>(v);
  }
};
static_assert(fluxcap::event_accessor<accessor>);
using capacitor = fluxcap::flux_capacitor<accessor>;  // bloom memory, keyed SipHash

// 2. A store that keeps at most `max_resident` states in memory and pages the least
// recently used out with save_state. A paged-in state counts as changed in full (the
// next delta writes it whole), unless the store knows it was clean when paged out.
class paging_store {
 public:
  using state_type = fluxcap::group_state;
  paging_store(const capacitor& cap, std::size_t max_resident) : cap_(cap), max_(max_resident) {}

  state_type& find_or_create(std::string_view key) {
    if (state_type* s = find(key)) return *s;
    auto& g = resident_.emplace(std::string(key), group{cap_.make_state(), ++clock_}).first->second;
    trim(key);
    return g.state;
  }
  state_type* find(std::string_view key) {
    auto it = resident_.find(key);
    if (it == resident_.end()) {
      auto out = paged_.find(key);
      if (out == paged_.end()) return nullptr;
      state_type s = fluxcap::load_state(cap_, out->second);   // throws decode_error
      if (dirty_.erase(out->first) == 0) s.mark_checkpoint();  // the checkpoint holds it
      it = resident_.emplace(out->first, group{std::move(s), 0}).first;
      paged_.erase(out);
      trim(key);
    }
    it->second.used = ++clock_;
    return &it->second.state;
  }
  bool erase(std::string_view key) {
    dirty_.erase(std::string(key));
    return resident_.erase(std::string(key)) + paged_.erase(std::string(key)) > 0;
  }
  // Checkpoints see resident groups only (size and for_each): page in first.
  [[nodiscard]] std::size_t size() const { return resident_.size(); }
  template <class F>
  void for_each(F&& f) const {
    for (const auto& [key, g] : resident_) f(std::string_view(key), g.state);
  }
  template <class F>
  void for_each(F&& f) {
    for (auto& [key, g] : resident_) f(std::string_view(key), g.state);
  }
  // Before save_store: every group. Before save_store_delta: those changed since the
  // last checkpoint; the clean ones paged out are already in it.
  void page_in(bool all) {
    for (auto it = paged_.begin(); it != paged_.end();) {
      const bool dirty = dirty_.erase(it->first) > 0;
      if (!all && !dirty) {
        ++it;
        continue;
      }
      resident_.emplace(it->first, group{fluxcap::load_state(cap_, it->second), 0});
      it = paged_.erase(it);
    }
  }
  void trim(std::string_view keep = {}) {
    while (resident_.size() > max_) {
      auto lru = resident_.end();
      for (auto it = resident_.begin(); it != resident_.end(); ++it)
        if (it->first != keep && (lru == resident_.end() || it->second.used < lru->second.used))
          lru = it;
      if (lru->second.state.changed_since_checkpoint()) dirty_.insert(lru->first);
      paged_[lru->first] = fluxcap::save_state(cap_, lru->second.state);
      resident_.erase(lru);
      ++page_outs;
    }
  }
  std::size_t page_outs = 0;

 private:
  struct group {
    state_type state;
    std::uint64_t used;
  };
  const capacitor& cap_;
  std::size_t max_;
  std::uint64_t clock_ = 0;
  std::map<std::string, group, std::less<>> resident_;
  std::map<std::string, std::vector<std::uint8_t>, std::less<>> paged_;
  std::set<std::string, std::less<>> dirty_;  // paged out with changes no checkpoint holds
};

// 3. A post-flux condition: parsed once, its names bound to flag bits once.
struct detection {
  std::string name;
  fluxcap::condition expr;
  std::vector<std::tuple<std::string, std::string, std::uint32_t>> bits;  // rule, tag, bit
  detection(std::string n, std::string_view text)
      : name(std::move(n)), expr(fluxcap::condition::parse(text)) {
    for (const auto& ref : expr.references())
      if (!ref.pattern) {
        const std::uint32_t bit = accessor::bit_of(ref.rule, ref.name);
        if (bit == 0) throw std::invalid_argument("condition names an unknown tag");
        bits.emplace_back(ref.rule, ref.name, bit);
      }
  }
  [[nodiscard]] bool operator()(const event& e) const {
    auto lookup = [&](std::string_view rule, std::string_view tag) {
      for (const auto& [r, t, bit] : bits)
        if (r == rule && t == tag) return (e.flags & bit) != 0;
      return false;
    };
    auto for_each_tag = [&](std::string_view rule, auto&& fn) {  // for `1 of`, `all of`
      for (std::size_t i = 0; i < catalogue.size(); ++i)
        if (catalogue[i].size() > rule.size() && catalogue[i].starts_with(rule) &&
            catalogue[i][rule.size()] == '.')
          fn(catalogue[i].substr(rule.size() + 1), (e.flags >> i & 1U) != 0);
    };
    return expr.evaluate(lookup, for_each_tag);
  }
};

int failures = 0;
void check(bool ok, const char* what) {
  if (!ok) std::printf("FAILED: %s\n", what), ++failures;
}

int main() {
  fluxcap::spec rules{fluxcap::ancestor_rule("lineage", "ppid", "pid", {"office"}),
                      fluxcap::temporal_rule("recon", {"discovery", "archive", "exfil"})
                          .with_ordered()
                          .with_timespan(10min)};
  rules.with_timestamp("time");
  const fluxcap::program prog = fluxcap::compile(rules);  // throws spec_error
  const fluxcap::memory_config memory{.capacity = 10000, .fpp = 1e-4, .generations = 10};
  // A new state draws a secret key; a continued one reads it from its checkpoint.
  const capacitor cap(prog, accessor{}, fluxcap::bloom_memory(memory),
                      fluxcap::default_hash(fluxcap::hash_key::random()));
  const std::array<detection, 2> detections{
      detection("office_shell", "lineage.office and shell.selection"),
      detection("recon_chain", "all of recon.*")};

  // Threads: a host always goes to the same partition (a keyed hash: crafted host names
  // cannot pile onto one thread); each partition has its own store and one thread.
  constexpr std::size_t threads = 2;
  std::vector<paging_store> parts(threads, paging_store(cap, 1));
  auto part_of = [&](const std::string& host) { return cap.hash()(host) % threads; };

  const std::uint32_t office = 1, shell = 2, discovery = 4, archive = 8, exfil = 16;
  std::vector<event> stream = {
      {"ws1", "2026-12-01T10:00:00Z", "100", "4", office},  // winword.exe
      {"ws2", "2026-12-01T10:00:05Z", "7", "1", discovery},
      {"ws3", "2026-12-01T10:00:09Z", "9", "1", discovery},
      {"ws4", "2026-12-01T10:00:10Z", "101", "100", shell},  // pid 100 is ws1's, not ws4's
      {"ws1", "2026-12-01T10:01:00Z", "101", "100", shell},  // cmd.exe, child of winword
      {"ws2", "2026-12-01T10:02:00Z", "8", "1", archive},
      {"ws3", "2026-12-01T10:25:00Z", "10", "1", archive},   // 25 min later: out of timespan
      {"ws1", "2026-12-01T10:03:00Z", "102", "101", shell},  // powershell, grandchild
      {"ws2", "2026-12-01T10:04:00Z", "11", "1", exfil},
      {"ws3", "2026-12-01T10:26:00Z", "12", "1", exfil},
      {"ws5", "2026-12-01T10:27:00Z", "13", "", shell},  // no parent id: no parent
  };

  std::vector<std::vector<std::uint8_t>> checkpoints[threads];  // full, then deltas
  for (std::size_t begin = 0; begin < stream.size(); begin += 4) {
    const auto chunk =
        std::span<event>(stream).subspan(begin, std::min<std::size_t>(4, stream.size() - begin));
    {
      std::vector<std::jthread> workers;
      for (std::size_t p = 0; p < threads; ++p)
        workers.emplace_back([&, p] {
          for (event& e : chunk) {
            if (part_of(e.host) != p) continue;
            cap.update(parts[p].find_or_create(e.host), e);  // `cap` is const: shared
            for (const auto& d : detections)
              if (d(e)) e.fired.push_back(d.name);
          }
        });
    }  // joined
    for (std::size_t p = 0; p < threads; ++p) {
      const bool full = begin == 0;
      parts[p].page_in(full);
      checkpoints[p].push_back(full ? fluxcap::save_store(cap, parts[p])
                                    : fluxcap::save_store_delta(cap, parts[p]));
      fluxcap::mark_checkpoint(parts[p]);  // once the bytes are safely written
      parts[p].trim();
    }
  }
  for (const event& e : stream) {
    std::printf("%s pid %-3s flags %02x", e.host.c_str(), e.pid.c_str(), e.flags);
    for (const auto& name : e.fired) std::printf(" %s", name.c_str());
    std::printf("\n");
  }
  auto fired = [&](std::size_t i) { return stream[i].fired; };
  using names = std::vector<std::string>;
  check(fired(4) == names{"office_shell"} && fired(7) == names{"office_shell"}, "ancestor");
  check(fired(3).empty() && fired(10).empty(), "other host, no parent");
  check(fired(8) == names{"recon_chain"} && fired(9).empty(), "sequence within 10 minutes");
  check(parts[0].page_outs + parts[1].page_outs > 0, "groups were paged out");

  // Restore: the key from the bytes, the full checkpoint, then the deltas in order.
  const std::optional<fluxcap::hash_key> key = fluxcap::stored_hash_key(checkpoints[0][0]);
  check(key && *key == cap.hash().key(), "the key is in the checkpoint");
  const capacitor restored_cap(prog, accessor{}, fluxcap::bloom_memory(memory),
                               fluxcap::default_hash(*key));
  fluxcap::in_memory_state_store<fluxcap::group_state> restored(restored_cap.make_state());
  for (const auto& files : checkpoints) {
    fluxcap::load_store(restored_cap, files[0], restored);
    for (std::size_t i = 1; i < files.size(); ++i)
      fluxcap::apply_store_delta(restored_cap, files[i], restored);
  }
  check(restored.size() == 5, "five hosts restored");
  for (const char* host : {"ws1", "ws2", "ws3", "ws4", "ws5"}) {
    const auto* s = restored.find(host);
    check(s != nullptr && fluxcap::save_state(restored_cap, *s) ==
                              fluxcap::save_state(cap, parts[part_of(host)].find_or_create(host)),
          "restored state equals live state");
  }
  event live{"ws1", "2026-12-01T10:05:00Z", "103", "102", shell}, copy = live;  // great-grandchild
  cap.update(parts[part_of("ws1")].find_or_create("ws1"), live);
  restored_cap.update(restored.find_or_create("ws1"), copy);
  check(live.flags == copy.flags && (copy.flags & office) != 0, "restored store answers alike");

  // Errors: a damaged checkpoint is refused whole; a bad spec names the rule.
  auto damaged = checkpoints[0][1];
  damaged[damaged.size() / 2] ^= 1;
  try {
    fluxcap::apply_store_delta(restored_cap, damaged, restored);
    check(false, "damaged delta refused");
  } catch (const fluxcap::decode_error& e) {
    std::printf("refused: %s\n", e.what());
  }
  try {
    (void)fluxcap::compile(fluxcap::spec{fluxcap::temporal_rule("recon", {"a", "a"})});
    check(false, "bad spec refused");
  } catch (const fluxcap::spec_error& e) {
    std::printf("refused: %s\n", e.what());
  }
  if (failures == 0) std::printf("embedding: OK\n");
  return failures == 0 ? 0 : 1;
}
