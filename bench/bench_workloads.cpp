// Workloads 1-3: whole-event benchmarks of fluxcap and of the baselines.
//
// One benchmark iteration is one event: copy the pristine input into a work event,
// find the event's host state in the state store (part of the measured cost),
// update. Warm-up events prepare the states before the timed loop.
#include "baselines.hpp"
#include "bench.hpp"
#include "bench_util.hpp"
#include "workloads.hpp"

#include <fluxcap/fluxcap.hpp>

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace fluxcap_bench {

namespace {

/// Memory parameters of every workload: the original's (200,000 tags a host, 1e-4).
fluxcap::memory_config workload_memory() {
  return fluxcap::memory_config{200000, 1e-4, 10};
}

using bloom_capacitor = fluxcap::flux_capacitor<fluxcap::dense_accessor, fluxcap::bloom_memory>;
using exact_capacitor = fluxcap::flux_capacitor<fluxcap::dense_accessor, fluxcap::exact_memory>;
using cuckoo_capacitor = fluxcap::flux_capacitor<fluxcap::dense_accessor, fluxcap::cuckoo_memory>;
/// fluxcap 0.1's unkeyed hash (the "before" of keyed hashing, same run).
using bloom_unkeyed_capacitor =
    fluxcap::flux_capacitor<fluxcap::dense_accessor, fluxcap::bloom_memory, fluxcap::unkeyed_hash>;
using exact_unkeyed_capacitor =
    fluxcap::flux_capacitor<fluxcap::dense_accessor, fluxcap::exact_memory, fluxcap::unkeyed_hash>;
using string_set_capacitor = string_key_capacitor<string_set_memory>;
using classic_capacitor = string_key_capacitor<classic_bloom_memory>;

/// fluxcap_bloom_fpp1e3: bloom memory at fpp 1e-3 overall, the same guarantee as the
/// classic filter's 10 generations at 1e-4 each (an equal-accuracy comparison).
/// fluxcap_cuckoo: cuckoo memory (one aged fingerprint table a group), same parameters.
enum class impl {
  fluxcap_bloom,
  fluxcap_exact,
  string_set,
  classic_bloom,
  fluxcap_bloom_fpp1e3,
  fluxcap_cuckoo,
  fluxcap_cuckoo_fpp1e3,
  fluxcap_bloom_unkeyed,  ///< fluxcap 0.1: unkeyed value hash (run with store_kind::unkeyed_map)
  fluxcap_exact_unkeyed
};

const char* impl_name(impl i) {
  switch (i) {
    case impl::fluxcap_bloom:
      return "fluxcap_bloom";
    case impl::fluxcap_exact:
      return "fluxcap_exact";
    case impl::string_set:
      return "string_set";
    case impl::classic_bloom:
      return "classic_bloom";
    case impl::fluxcap_bloom_fpp1e3:
      return "fluxcap_bloom_fpp1e-3";
    case impl::fluxcap_cuckoo:
      return "fluxcap_cuckoo";
    case impl::fluxcap_cuckoo_fpp1e3:
      return "fluxcap_cuckoo_fpp1e-3";
    case impl::fluxcap_bloom_unkeyed:
      return "fluxcap_bloom_unkeyed";
    case impl::fluxcap_exact_unkeyed:
      return "fluxcap_exact_unkeyed";
  }
  return "?";
}

/// Where the benchmark loop finds a host's state.
enum class store_kind {
  map,          ///< fluxcap::in_memory_state_store, keyed by the host id string (hash lookup)
  vector,       ///< std::vector indexed by host number (no lookup: isolates the core's cost)
  unkeyed_map,  ///< fluxcap 0.1's store: a hash map under the unkeyed hash (forgeable)
};

/// fluxcap 0.1's in_memory_state_store map: host ids hashed with the unkeyed hash.
template <class State>
struct unkeyed_store {
  struct key_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return static_cast<std::size_t>(fluxcap::detail::hash_bytes(s.data(), s.size()));
    }
  };
  explicit unkeyed_store(State p) : prototype(std::move(p)) {}
  State& find_or_create(std::string_view key) {
    if (auto it = map.find(key); it != map.end()) return it->second;
    return map.emplace(std::string(key), prototype).first->second;
  }
  template <class F>
  void for_each(F&& f) const {
    for (const auto& [key, state] : map) f(std::string_view(key), state);
  }
  State prototype;
  std::unordered_map<std::string, State, key_hash, std::equal_to<>> map;
};

struct stream_config {
  const char* workload_name;
  std::size_t hosts;
  std::size_t warmup;
  std::size_t timed;
  bool fixed_iterations;  ///< run exactly `timed` events (else: min_time, cycling the stream)
};

// Streams are built on first use and kept for the whole run (benchmarks of the
// same workload share them), so --benchmark_filter only pays for what it runs.
const workload& harness_workload() {
  static const workload w(harness_spec());
  return w;
}
const workload& process_tree_workload() {
  static const workload w(process_tree_spec());
  return w;
}
const workload& temporal_workload() {
  static const workload w(temporal_spec());
  return w;
}

const workload& timed_temporal_workload() {
  static const workload w(timed_temporal_spec());
  return w;
}

const workload& workload_of(const stream_config& c) {
  const std::string name = c.workload_name;
  if (name == "harness") return harness_workload();
  if (name == "process_tree") return process_tree_workload();
  if (name == "temporal_timed") return timed_temporal_workload();
  return temporal_workload();
}

const event_stream& stream_of(const stream_config& c) {
  static std::map<std::pair<std::string, std::size_t>, std::unique_ptr<event_stream>> cache;
  auto& slot = cache[{c.workload_name, c.hosts}];
  if (!slot) {
    const workload& w = workload_of(c);
    const std::string name = c.workload_name;
    if (name == "harness")
      slot = make_harness_stream(w, c.hosts, c.warmup, c.timed);
    else if (name == "process_tree")
      slot = make_process_tree_stream(w, c.hosts, c.warmup, c.timed);
    else
      slot = make_temporal_stream(w, c.hosts, c.warmup, c.timed);
  }
  return *slot;
}

template <class State>
std::size_t state_bytes(const State& s) {
  if constexpr (requires { s.memory_bytes(); })
    return s.memory_bytes();
  else
    return 0;
}

template <class State>
std::size_t state_keys(const State& s) {
  if constexpr (requires { s.stored(); })
    return static_cast<std::size_t>(s.stored());
  else if constexpr (requires { s.keys.size(); })
    return s.keys.size();
  else
    return 0;
}

template <store_kind Store, class Engine>
void run_stream(benchmark::State& st, const workload& w, const event_stream& s, const Engine& eng) {
  using state_type = typename Engine::state_type;
  const std::size_t heap_before = heap_in_use();
  {
    std::conditional_t<Store == store_kind::unkeyed_map, unkeyed_store<state_type>,
                       fluxcap::in_memory_state_store<state_type>>
        store(eng.make_state());
    std::vector<state_type> by_index;
    if constexpr (Store == store_kind::vector)
      by_index.assign(s.group_names.size(), eng.make_state());
    auto state_of = [&](std::size_t i) -> state_type& {
      if constexpr (Store == store_kind::vector)
        return by_index[s.group[i]];
      else
        return store.find_or_create(s.group_names[s.group[i]]);
    };

    fluxcap::dense_event work(w.schema);
    for (std::size_t i = 0; i < s.warmup; ++i) {
      work = s.events[i];
      eng.update(state_of(i), work);
    }

    std::size_t i = s.warmup;
    std::uint64_t ops = 0;
    std::uint64_t wraps = 0;
    callgrind_toggle_collect();
    for (auto _ : st) {
      if (i == s.events.size()) {
        i = s.warmup;  // replay the timed part (temporal workload only)
        ++wraps;
      }
      work = s.events[i];
      eng.update(state_of(i), work);
      ops += s.tag_ops[i];
      ++i;
    }
    callgrind_toggle_collect();

    // Not timed: what the states hold now.
    std::size_t groups = 0;
    std::size_t bytes = 0;
    std::size_t keys = 0;
    auto visit = [&](const state_type& state) {
      ++groups;
      bytes += state_bytes(state);
      keys += state_keys(state);
    };
    if constexpr (Store == store_kind::vector) {
      for (const auto& state : by_index) visit(state);
    } else {
      store.for_each([&](std::string_view, const state_type& state) { visit(state); });
    }
    const double hosts = static_cast<double>(groups);
    const double iterations = static_cast<double>(st.iterations());
    st.SetItemsProcessed(st.iterations());
    st.counters["per_tag_op"] = time_per(static_cast<double>(ops));
    st.counters["tag_ops_per_event"] = value(static_cast<double>(ops) / iterations);
    st.counters["hosts"] = value(hosts);
    st.counters["heap_B_per_host"] =
        value((static_cast<double>(heap_in_use()) - static_cast<double>(heap_before)) / hosts);
    if (bytes) st.counters["state_B_per_host"] = value(static_cast<double>(bytes) / hosts);
    if (keys) st.counters["keys_per_host"] = value(static_cast<double>(keys) / hosts);
    if (wraps) st.counters["stream_replays"] = value(static_cast<double>(wraps));
  }
}

template <store_kind Store>
void run_impl(benchmark::State& st, const stream_config& c, impl which) {
  const workload& w = workload_of(c);
  const event_stream& s = stream_of(c);
  switch (which) {
    case impl::fluxcap_bloom:
      run_stream<Store>(st, w, s,
                        bloom_capacitor(w.prog, fluxcap::dense_accessor(w.schema),
                                        fluxcap::bloom_memory(workload_memory())));
      break;
    case impl::fluxcap_bloom_fpp1e3: {
      fluxcap::memory_config config = workload_memory();
      config.fpp = 1e-3;
      run_stream<Store>(st, w, s,
                        bloom_capacitor(w.prog, fluxcap::dense_accessor(w.schema),
                                        fluxcap::bloom_memory(config)));
      break;
    }
    case impl::fluxcap_cuckoo:
      run_stream<Store>(st, w, s,
                        cuckoo_capacitor(w.prog, fluxcap::dense_accessor(w.schema),
                                         fluxcap::cuckoo_memory(workload_memory())));
      break;
    case impl::fluxcap_cuckoo_fpp1e3: {
      fluxcap::memory_config config = workload_memory();
      config.fpp = 1e-3;
      run_stream<Store>(st, w, s,
                        cuckoo_capacitor(w.prog, fluxcap::dense_accessor(w.schema),
                                         fluxcap::cuckoo_memory(config)));
      break;
    }
    case impl::fluxcap_exact:
      run_stream<Store>(st, w, s,
                        exact_capacitor(w.prog, fluxcap::dense_accessor(w.schema),
                                        fluxcap::exact_memory(workload_memory())));
      break;
    case impl::fluxcap_bloom_unkeyed:
      run_stream<Store>(st, w, s,
                        bloom_unkeyed_capacitor(w.prog, fluxcap::dense_accessor(w.schema),
                                                fluxcap::bloom_memory(workload_memory())));
      break;
    case impl::fluxcap_exact_unkeyed:
      run_stream<Store>(st, w, s,
                        exact_unkeyed_capacitor(w.prog, fluxcap::dense_accessor(w.schema),
                                                fluxcap::exact_memory(workload_memory())));
      break;
    case impl::string_set:
      run_stream<Store>(st, w, s, string_set_capacitor(w.prog, w.schema));
      break;
    case impl::classic_bloom:
      run_stream<Store>(st, w, s,
                        classic_capacitor(w.prog, w.schema,
                                          classic_bloom_memory(classic_bloom_config{
                                              workload_memory().capacity, 1e-4, 10})));
      break;
  }
}

void add(const stream_config& c, impl which, store_kind store = store_kind::map,
         std::size_t iterations = 0) {
  std::string name = std::string(c.workload_name) + "/" + impl_name(which);
  if (store == store_kind::vector) name += "_vector_store";
  if (store == store_kind::unkeyed_map) name += "_unkeyed_store";
  name += "/hosts:" + std::to_string(c.hosts);
  auto* b = benchmark::RegisterBenchmark(name.c_str(), [c, which, store](benchmark::State& st) {
    if (store == store_kind::vector)
      run_impl<store_kind::vector>(st, c, which);
    else if (store == store_kind::unkeyed_map)
      run_impl<store_kind::unkeyed_map>(st, c, which);
    else
      run_impl<store_kind::map>(st, c, which);
  });
  b->Unit(benchmark::kMicrosecond);
  if (c.fixed_iterations)
    b->Iterations(static_cast<benchmark::IterationCount>(iterations ? iterations : c.timed));
}

}  // namespace

void register_workload_benchmarks() {
  const impl all[] = {impl::fluxcap_bloom, impl::fluxcap_cuckoo, impl::fluxcap_exact,
                      impl::string_set, impl::classic_bloom};

  // 1. The original's load test. 1 host: the warm-up (4,096 events, 254k stores)
  // fills the host past its capacity, so the timed events see a full, rotating
  // state. The string set never forgets: it runs 5,000 timed events only, so that
  // it ends with ~0.56M keys rather than 3.4M (it is slower the bigger it gets).
  // 10,000 hosts: 8 events a host of warm-up, then 4 timed ones each.
  {
    const stream_config one{"harness", 1, 4096, 50000, true};
    for (const impl i : all) add(one, i, store_kind::map, i == impl::string_set ? 5000 : 0);
    add(one, impl::fluxcap_bloom, store_kind::vector);
    add(one, impl::fluxcap_bloom_fpp1e3);
    add(one, impl::fluxcap_cuckoo, store_kind::vector);
    add(one, impl::fluxcap_cuckoo_fpp1e3);
    // Keyed hashing's cost: fluxcap 0.1's unkeyed value hash and store map, same run.
    add(one, impl::fluxcap_bloom_unkeyed, store_kind::unkeyed_map);
    add(one, impl::fluxcap_exact_unkeyed, store_kind::unkeyed_map);
    const stream_config many{"harness", 10000, 80000, 40000, true};
    for (const impl i : all) add(many, i);
    add(many, impl::fluxcap_bloom_unkeyed, store_kind::unkeyed_map);
    add(many, impl::fluxcap_exact_unkeyed, store_kind::unkeyed_map);
    add(many, impl::fluxcap_bloom, store_kind::vector);
    add(many, impl::fluxcap_cuckoo, store_kind::vector);
  }

  // 2. Process trees: 1,000 hosts (baselines too) and 100,000 hosts (the classic
  // bloom would need 48 KB for every host that stored anything, ~4.8 GB: skipped).
  {
    const stream_config small{"process_tree", 1000, 100000, 100000, true};
    for (const impl i : all) add(small, i);
    add(small, impl::fluxcap_bloom_unkeyed, store_kind::unkeyed_map);
    const stream_config large{"process_tree", 100000, 800000, 200000, true};
    for (const impl i :
         {impl::fluxcap_bloom, impl::fluxcap_cuckoo, impl::fluxcap_exact, impl::string_set})
      add(large, i);
    add(large, impl::fluxcap_bloom, store_kind::vector);
    add(large, impl::fluxcap_cuckoo, store_kind::vector);
  }

  // 3. Temporal rules only (min_time based; the 200,000 timed events are replayed
  // if a run needs more, which changes nothing for constant temporal keys).
  for (const stream_config c : {stream_config{"temporal", 1, 20000, 200000, false},
                                stream_config{"temporal", 1000, 20000, 200000, false}}) {
    for (const impl i : all) add(c, i);
    add(c, impl::fluxcap_bloom, store_kind::vector);
  }
  // 3b. The same rules with a 5-minute timespan each (events 10 ms apart: a span holds
  // 30,000 events): fluxcap only, the baselines have no notion of time. Replays of
  // the timed part go back in time, which costs the same lookups.
  for (const stream_config c : {stream_config{"temporal_timed", 1, 20000, 200000, false},
                                stream_config{"temporal_timed", 1000, 20000, 200000, false}})
    for (const impl i : {impl::fluxcap_bloom, impl::fluxcap_cuckoo, impl::fluxcap_exact}) add(c, i);
}

}  // namespace fluxcap_bench
