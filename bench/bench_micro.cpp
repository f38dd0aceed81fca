// Workload 4: micro-benchmarks of the memory (group_state insert and contains),
// the state codec, the string hash, and the memory footprint of a group.
#include "baselines.hpp"
#include "bench.hpp"
#include "bench_util.hpp"

#include <fluxcap/fluxcap.hpp>

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace fluxcap_bench {

namespace {

using fluxcap::group_state;
using fluxcap::memory_config;
using fluxcap::memory_geometry;
using fluxcap::memory_mode;

const char* mode_name(memory_mode m) {
  return fluxcap::memory_mode_name(m);
}

/// Key hash number j of state s; `salt` separates never-stored (miss) keys.
std::uint64_t test_key(std::uint64_t s, std::uint64_t j, std::uint64_t salt = 0) {
  std::uint64_t z = ((s << 40) ^ j ^ salt) + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);  // a bijection: distinct (s, j, salt) give distinct keys
}
constexpr std::uint64_t miss_salt = std::uint64_t{1} << 63;

/// All G generations exist and the active one holds its share: the next store rotates.
bool all_generations_full(const group_state& s) {
  const auto& g = s.geometry();
  return s.generation_count() == g.config.generations &&
         s.generation_at(0).count() >= g.generation_capacity;
}

/// Inserts keys test_key(index, next++) until every generation is full.
std::uint64_t fill(group_state& s, std::uint64_t index, std::uint64_t next = 0) {
  while (!all_generations_full(s)) s.insert(test_key(index, next++));
  return next;
}

enum class residency { cache, dram };

/// Full states for the group_state micro-benchmarks:
///   cache: one state of capacity 10,000 (bloom ~42 KB, cuckoo ~31 KB, exact ~160 KB:
///          L1/L2);
///   dram:  capacity 200,000, as many full states as make ~230-320 MB
///          (bloom and cuckoo 384, exact 96), a random one per operation.
struct full_states {
  memory_geometry geo;
  std::vector<group_state> states;
  std::vector<std::uint64_t> next;  ///< keys [0, next) were stored in state i
};

full_states& fixture(memory_mode mode, residency where) {
  static std::map<std::pair<memory_mode, residency>, std::unique_ptr<full_states>> cache;
  auto& slot = cache[{mode, where}];
  if (!slot) {
    slot = std::make_unique<full_states>();
    const bool dram = where == residency::dram;
    slot->geo = memory_geometry::make(memory_config{dram ? 200000U : 10000U, 1e-4, 10}, mode);
    const std::size_t n = !dram ? 1 : mode == memory_mode::exact ? 96 : 384;
    slot->states.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      slot->states.emplace_back(slot->geo);
      slot->next.push_back(fill(slot->states.back(), i));
    }
  }
  return *slot;
}

void describe(benchmark::State& st, const full_states& f) {
  std::size_t total = 0;
  for (const auto& s : f.states) total += s.memory_bytes();
  st.counters["states"] = value(static_cast<double>(f.states.size()));
  st.counters["state_B"] = value(static_cast<double>(f.states[0].memory_bytes()));
  st.counters["total_MB"] = value(static_cast<double>(total) / 1e6);
}

/// contains() throughput, independent lookups: hits are uniform over the last
/// `capacity` stores of the state (all generations), misses never stored.
void bm_contains(benchmark::State& st, memory_mode mode, residency where, bool hit) {
  full_states& f = fixture(mode, where);
  constexpr std::size_t n = std::size_t{1} << 16;
  std::vector<std::pair<std::uint32_t, std::uint64_t>> probes(n);
  rng r(hit ? 11 : 12);
  const std::uint64_t capacity = f.geo.config.capacity;
  for (auto& p : probes) {
    const auto s = static_cast<std::uint32_t>(r.below(f.states.size()));
    p = {s, hit ? test_key(s, f.next[s] - 1 - r.below(capacity))
                : test_key(s, r.next() >> 24, miss_salt)};
  }
  std::size_t i = 0;
  std::uint64_t found = 0;
  for (auto _ : st) {
    const auto& p = probes[i++ & (n - 1)];
    found += f.states[p.first].contains(p.second) ? 1 : 0;
  }
  benchmark::DoNotOptimize(found);
  const auto iterations = static_cast<double>(st.iterations());
  if (hit && found != static_cast<std::uint64_t>(st.iterations())) {
    std::fprintf(stderr, "fluxcap_bench: false negative in group_state::contains\n");
    std::abort();
  }
  st.SetItemsProcessed(st.iterations());
  st.counters[hit ? "hit_rate" : "false_positive_rate"] =
      value(static_cast<double>(found) / iterations);
  describe(st, f);
}

/// insert() of fresh keys into full states (amortizes rotation: a new generation
/// starts as a small exact set, grows, and in bloom mode becomes a filter).
void bm_insert(benchmark::State& st, memory_mode mode, residency where) {
  full_states& f = fixture(mode, where);
  constexpr std::size_t n = std::size_t{1} << 16;
  std::vector<std::uint32_t> order(n);
  rng r(13);
  for (auto& s : order) s = static_cast<std::uint32_t>(r.below(f.states.size()));
  std::size_t i = 0;
  for (auto _ : st) {
    const std::uint32_t s = order[i++ & (n - 1)];
    f.states[s].insert(test_key(s, f.next[s]++));
  }
  st.SetItemsProcessed(st.iterations());
  describe(st, f);
}

/// One full state of capacity 200,000 (all generations full), for the codec.
const group_state& codec_state(memory_mode mode) {
  static std::map<memory_mode, std::unique_ptr<group_state>> cache;
  auto& slot = cache[mode];
  if (!slot) {
    slot =
        std::make_unique<group_state>(memory_geometry::make(memory_config{200000, 1e-4, 10}, mode));
    fill(*slot, 0);
  }
  return *slot;
}

template <class Memory>
struct codec_capacitor {
  codec_capacitor()
      : prog(fluxcap::compile(fluxcap::spec{fluxcap::temporal_rule("rule", {"tag"})})),
        schema(prog),
        cap(prog, fluxcap::dense_accessor(schema), Memory(memory_config{200000, 1e-4, 10})) {}
  fluxcap::program prog;
  fluxcap::dense_schema schema;
  fluxcap::flux_capacitor<fluxcap::dense_accessor, Memory> cap;
};

enum class codec_op { encode_reused_buffer, save_state, load_state };

template <class Memory>
void bm_codec(benchmark::State& st, codec_op op) {
  const group_state& s = codec_state(Memory::mode);
  const codec_capacitor<Memory> c;
  const std::vector<std::uint8_t> blob = fluxcap::save_state(c.cap, s);
  std::vector<std::uint8_t> out;
  const std::uint64_t fingerprint = fluxcap::detail::hash_fingerprint(c.cap.hash());
  for (auto _ : st) {
    switch (op) {
      case codec_op::encode_reused_buffer:
        out.clear();
        fluxcap::encode_state(s, fingerprint, out);
        benchmark::DoNotOptimize(out.data());
        break;
      case codec_op::save_state: {
        auto bytes = fluxcap::save_state(c.cap, s);
        benchmark::DoNotOptimize(bytes.data());
        break;
      }
      case codec_op::load_state: {
        auto restored = fluxcap::load_state(c.cap, blob);
        benchmark::DoNotOptimize(&restored);
        break;
      }
    }
  }
  st.SetBytesProcessed(st.iterations() * static_cast<std::int64_t>(blob.size()));
  st.counters["blob_B"] = value(static_cast<double>(blob.size()));
  st.counters["state_B"] = value(static_cast<double>(s.memory_bytes()));
}

/// Incremental checkpoints: between two checkpoints, `touched` of the store's groups
/// take 100 new keys each (untimed); timed: save_store_delta, then mark_checkpoint.
/// `full`: every group holds a full 200,000-capacity state (one group); else 1000
/// groups of 500 keys or more (they grow by what is inserted). Counters: delta bytes
/// against what a full save of the store would have written at the same moments.
template <class Memory>
void bm_checkpoint(benchmark::State& st, bool full, std::size_t touched) {
  const codec_capacitor<Memory> c;
  fluxcap::in_memory_state_store<group_state> store(c.cap.make_state());
  const std::size_t groups = full ? 1 : 1000;
  std::uint64_t next_key = 1;
  for (std::size_t g = 0; g < groups; ++g) {
    group_state& s = store.find_or_create("host-" + std::to_string(g));
    if (full)
      s = codec_state(Memory::mode);
    else
      for (int i = 0; i < 500; ++i) s.insert(fluxcap::detail::mix64(next_key++));
  }
  fluxcap::mark_checkpoint(store);
  std::size_t delta_bytes = 0;
  std::size_t full_bytes = 0;  // what a full save would have written each time
  std::size_t round = 0;
  for (auto _ : st) {
    st.PauseTiming();
    for (std::size_t t = 0; t < touched; ++t) {
      group_state* s = store.find("host-" + std::to_string((round * touched + t) % groups));
      for (int i = 0; i < 100; ++i) s->insert(fluxcap::detail::mix64(next_key++));
    }
    ++round;
    full_bytes += fluxcap::save_store(c.cap, store).size();
    st.ResumeTiming();
    auto delta = fluxcap::save_store_delta(c.cap, store);
    fluxcap::mark_checkpoint(store);
    delta_bytes += delta.size();
    benchmark::DoNotOptimize(delta.data());
  }
  st.SetBytesProcessed(static_cast<std::int64_t>(delta_bytes));
  const double per = static_cast<double>(delta_bytes) / static_cast<double>(st.iterations());
  st.counters["delta_B"] = value(per);
  const double full_per = static_cast<double>(full_bytes) / static_cast<double>(st.iterations());
  st.counters["full_save_B"] = value(full_per);
  st.counters["delta_share_of_full"] = value(per / full_per);
}

/// Hash throughput on strings of `len` bytes (256 different strings, independent
/// hashes): default_hash (SipHash-1-3, keyed) against unkeyed_hash (fluxcap 0.1's).
template <class Hash>
void bm_hash(benchmark::State& st, std::size_t len) {
  rng r(14);
  std::vector<std::string> strings(256);
  for (auto& s : strings)
    for (std::size_t i = 0; i < len; ++i) s += static_cast<char>(' ' + r.below(95));
  const Hash hash;
  std::uint64_t acc = 0;
  std::size_t i = 0;
  for (auto _ : st) {
    acc ^= hash(strings[i++ & 255]);
    benchmark::DoNotOptimize(acc);
  }
  st.SetBytesProcessed(st.iterations() * static_cast<std::int64_t>(len));
  st.SetItemsProcessed(st.iterations());
}

/// Bytes of one group: idle, after one store, after `capacity` stores, and with
/// every generation full (the most a group ever holds); and the measured
/// false-positive rate of a full group (2^23 lookups of never-stored keys), with
/// its distance from the configured fpp in standard deviations (binomial).
/// The timed part is the filling (a side number).
void bm_footprint(benchmark::State& st, memory_mode mode, double fpp, std::uint32_t generations) {
  const memory_geometry geo = memory_geometry::make(memory_config{200000, fpp, generations}, mode);
  for (auto _ : st) {
    group_state s(geo);
    const std::size_t idle = s.memory_bytes();
    std::uint64_t j = 0;
    s.insert(test_key(0, j++));
    const std::size_t one = s.memory_bytes();
    while (j < geo.config.capacity) s.insert(test_key(0, j++));
    const std::size_t at_capacity = s.memory_bytes();
    fill(s, 0, j);
    const std::size_t full = s.memory_bytes();
    constexpr std::uint64_t lookups = std::uint64_t{1} << 23;
    std::uint64_t fp = 0;
    for (std::uint64_t k = 0; k < lookups; ++k) fp += s.contains(test_key(0, k, miss_salt)) ? 1 : 0;
    const double expected = fpp * static_cast<double>(lookups);
    if (mode != memory_mode::exact)
      st.counters["fp_excess_sigmas"] =
          value((static_cast<double>(fp) - expected) / std::sqrt(expected));
    st.counters["sizeof_B"] = value(sizeof(group_state));
    st.counters["idle_B"] = value(static_cast<double>(idle));
    st.counters["one_key_B"] = value(static_cast<double>(one));
    st.counters["B_at_capacity"] = value(static_cast<double>(at_capacity));
    st.counters["B_full"] = value(static_cast<double>(full));
    st.counters["B_per_remembered_tag"] =
        value(static_cast<double>(full) / static_cast<double>(geo.config.capacity));
    st.counters["measured_fpp"] = value(static_cast<double>(fp) / static_cast<double>(lookups));
    st.counters["fpp_target"] = value(fpp);
    if (mode == memory_mode::bloom) {
      st.counters["bloom_k"] = value(geo.bloom_k);
      st.counters["bits_per_key"] = value(static_cast<double>(geo.bloom_blocks) * 512.0 /
                                          static_cast<double>(geo.generation_capacity));
    }
    if (mode == memory_mode::cuckoo) {
      // Bits of table a key it can hold (G * s keys at most).
      st.counters["fingerprint_bits"] = value(geo.fingerprint_bits);
      st.counters["age_bits"] = value(geo.age_bits);
      st.counters["bits_per_key"] =
          value(static_cast<double>(geo.table_buckets) * 4 * (geo.fingerprint_bits + geo.age_bits) /
                (static_cast<double>(geo.generation_capacity) * geo.config.generations));
      st.counters["stash_entries"] = value(static_cast<double>(s.table()->stash().size()));
    }
    st.counters["generations"] = value(geo.config.generations);
  }
}

/// The same for the classic (CCCS) generational bloom at `fpp_per_generation`.
/// It guarantees 9 x capacity/10 remembered tags (the oldest tenth is dropped at
/// once), and CCCS allocated all 10 generations up front (`eager_B`).
void bm_footprint_classic(benchmark::State& st, double fpp_per_generation) {
  const classic_bloom_memory memory(classic_bloom_config{200000, fpp_per_generation, 10});
  const auto& geo = memory.geo();
  for (auto _ : st) {
    auto s = memory.make_state();
    const std::size_t idle = s.memory_bytes();
    const std::uint64_t puts = geo.keys_per_generation * geo.generations;
    for (std::uint64_t j = 0; j < puts; ++j) s.insert(numbered("key_", j));
    const std::size_t full = s.memory_bytes();
    constexpr std::uint64_t lookups = std::uint64_t{1} << 20;
    std::uint64_t fp = 0;
    for (std::uint64_t k = 0; k < lookups; ++k) fp += s.contains(numbered("miss_", k)) ? 1 : 0;
    const double guaranteed = static_cast<double>(geo.keys_per_generation * (geo.generations - 1));
    st.counters["idle_B"] = value(static_cast<double>(idle));
    st.counters["B_full"] = value(static_cast<double>(full));
    st.counters["eager_B"] = value(static_cast<double>(geo.words) * 8.0 * geo.generations);
    st.counters["B_per_remembered_tag"] = value(static_cast<double>(full) / guaranteed);
    st.counters["measured_fpp"] = value(static_cast<double>(fp) / static_cast<double>(lookups));
    st.counters["bloom_k"] = value(geo.k);
    st.counters["bits_per_key"] =
        value(static_cast<double>(geo.bits) / static_cast<double>(geo.keys_per_generation));
  }
}

}  // namespace

void register_micro_benchmarks() {
  for (const memory_mode m : {memory_mode::bloom, memory_mode::cuckoo, memory_mode::exact}) {
    for (const residency r : {residency::cache, residency::dram}) {
      const std::string suffix =
          std::string(mode_name(m)) + (r == residency::cache ? "/cache" : "/dram");
      benchmark::RegisterBenchmark(("group_state/contains_hit/" + suffix).c_str(), bm_contains, m,
                                   r, true);
      benchmark::RegisterBenchmark(("group_state/contains_miss/" + suffix).c_str(), bm_contains, m,
                                   r, false);
      // Last: it changes the states the lookups above use.
      benchmark::RegisterBenchmark(("group_state/insert/" + suffix).c_str(), bm_insert, m, r);
    }
  }

  for (const auto& [name, op] : {std::pair{"encode_reused_buffer", codec_op::encode_reused_buffer},
                                 std::pair{"save_state", codec_op::save_state},
                                 std::pair{"load_state", codec_op::load_state}}) {
    benchmark::RegisterBenchmark((std::string("state_codec/") + name + "/bloom").c_str(),
                                 bm_codec<fluxcap::bloom_memory>, op)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark((std::string("state_codec/") + name + "/cuckoo").c_str(),
                                 bm_codec<fluxcap::cuckoo_memory>, op)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark((std::string("state_codec/") + name + "/exact").c_str(),
                                 bm_codec<fluxcap::exact_memory>, op)
        ->Unit(benchmark::kMicrosecond);
  }

  for (const char* mode : {"bloom", "cuckoo", "exact"}) {
    const std::string_view m = mode;
    auto one = m == "bloom"    ? bm_checkpoint<fluxcap::bloom_memory>
               : m == "cuckoo" ? bm_checkpoint<fluxcap::cuckoo_memory>
                               : bm_checkpoint<fluxcap::exact_memory>;
    benchmark::RegisterBenchmark((std::string("checkpoint/one_full_group/") + mode).c_str(), one,
                                 true, 1)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(
        (std::string("checkpoint/1000_groups_100_touched/") + mode).c_str(), one, false, 100)
        ->Iterations(100)
        ->Unit(benchmark::kMicrosecond);
  }

  for (const std::size_t len : {8, 16, 32, 38, 64}) {
    benchmark::RegisterBenchmark(("default_hash/bytes:" + std::to_string(len)).c_str(),
                                 bm_hash<fluxcap::default_hash>, len);
    benchmark::RegisterBenchmark(("unkeyed_hash/bytes:" + std::to_string(len)).c_str(),
                                 bm_hash<fluxcap::unkeyed_hash>, len);
  }

  for (const memory_mode m : {memory_mode::bloom, memory_mode::cuckoo})
    for (const auto& [name, fpp] : {std::pair{"1e-3", 1e-3}, std::pair{"1e-4", 1e-4}})
      benchmark::RegisterBenchmark(
          (std::string("footprint/fluxcap_") + mode_name(m) + "/fpp:" + name).c_str(), bm_footprint,
          m, fpp, 10U)
          ->Iterations(1)
          ->Unit(benchmark::kMillisecond);
  // Finer forgetting (1/15 of the capacity at a time) costs a cuckoo table nothing: the
  // ages still fit 4 bits, and the table holds fewer keys beyond the capacity.
  benchmark::RegisterBenchmark("footprint/fluxcap_cuckoo/fpp:1e-3/generations:16", bm_footprint,
                               memory_mode::cuckoo, 1e-3, 16U)
      ->Iterations(1)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("footprint/fluxcap_exact", bm_footprint, memory_mode::exact, 1e-4,
                               10U)
      ->Iterations(1)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("footprint/classic_bloom/fpp_per_generation:1e-4",
                               bm_footprint_classic, 1e-4)
      ->Iterations(1)
      ->Unit(benchmark::kMillisecond);
}

}  // namespace fluxcap_bench
