// Bounded correlation windows (include/fluxcap/sigma/bounded_window.hpp) against a
// straightforward exact reference in the same run (bench/README.md, "Correlation
// windows"): 1,000 groups, 1,000 events a window per group (span 60 s, one event every
// 60 us overall, groups drawn at random), in time order. Per event: add(), or add() and
// the query the correlation would make at that event's time. Memory: heap bytes per group
// at that steady state, measured (glibc mallinfo2) for both, and the bounded windows'
// memory_bytes().
// Self-registering: this file only needs to be in fluxcap_bench's source list.
#include "bench_util.hpp"

#include <fluxcap/sigma/bounded_window.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <deque>
#include <memory>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace fluxcap_bench {

namespace {

namespace sigma = fluxcap::sigma;
using sigma::event_time;

constexpr std::size_t window_groups = 1000;
constexpr event_time window_span = 60000;
constexpr std::size_t window_stream = std::size_t{1} << 20;  // ~1,050 events a group

struct window_event {
  std::uint32_t group;
  event_time t;  // 60 us apart: t = i * 6 / 100 ms
  double value;
  std::uint64_t hash;
};

const std::vector<window_event>& window_events() {
  static const std::vector<window_event> events = [] {
    std::vector<window_event> out(window_stream);
    rng r(2026);
    for (std::size_t i = 0; i < window_stream; ++i) {
      out[i] = {static_cast<std::uint32_t>(r.below(window_groups)),
                static_cast<event_time>(i * 6 / 100), 1.0 + static_cast<double>(r.below(100000)),
                r.next() % 200};  // 200 distinct values
    }
    return out;
  }();
  return events;
}
// The stream's duration: a later pass over it adds a multiple of this to every time.
constexpr event_time window_pass = static_cast<event_time>(window_stream * 6 / 100) + 1;

// The exact references: every in-window event, in a deque per group.
struct exact_count {
  std::deque<event_time> times;
  void add(event_time t) {
    times.push_back(t);
    while (times.front() <= t - window_span) times.pop_front();
  }
  std::uint64_t query(event_time) const { return times.size(); }
};

struct exact_distinct {
  std::deque<std::pair<event_time, std::uint64_t>> events;
  std::unordered_map<std::uint64_t, std::uint32_t> seen;
  void add(event_time t, std::uint64_t h) {
    events.emplace_back(t, h);
    ++seen[h];
    while (events.front().first <= t - window_span) {
      const auto it = seen.find(events.front().second);
      if (--it->second == 0) seen.erase(it);
      events.pop_front();
    }
  }
  std::uint64_t query(event_time) const { return seen.size(); }
};

struct exact_value {
  std::deque<std::pair<event_time, double>> events;
  double total = 0;
  void add(event_time t, double v) {
    events.emplace_back(t, v);
    total += v;
    while (events.front().first <= t - window_span) {
      total -= events.front().second;
      events.pop_front();
    }
  }
  double sum(event_time) const { return total; }
  double percentile(event_time, double p, std::vector<double>& scratch) const {
    scratch.clear();
    for (const auto& e : events) scratch.push_back(e.second);
    const auto n = scratch.size();
    const auto rank = std::clamp<std::size_t>(
        static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(n))), 1, n);
    std::nth_element(scratch.begin(), scratch.begin() + static_cast<std::ptrdiff_t>(rank - 1),
                     scratch.end());
    return scratch[rank - 1];
  }
};

enum class window_op { count, distinct, sum, percentile };

template <class W>
std::vector<W> make_groups() {
  std::vector<W> groups;
  groups.reserve(window_groups);
  for (std::size_t g = 0; g < window_groups; ++g) {
    if constexpr (std::is_constructible_v<W, const sigma::window_params&>)
      groups.emplace_back(sigma::window_params{window_span});
    else
      groups.emplace_back();
  }
  return groups;
}

template <class W, window_op Op, bool Query>
void BM_correlation_window(benchmark::State& state) {
  const auto& events = window_events();
  const std::size_t heap_before = heap_in_use();
  auto groups = std::make_unique<std::vector<W>>(make_groups<W>());
  std::vector<double> scratch;
  scratch.reserve(4096);
  std::uint64_t sink = 0;
  auto step = [&](const window_event& e, event_time offset, auto with_query) {
    constexpr bool query = Query && decltype(with_query)::value;
    W& w = (*groups)[e.group];
    const event_time t = e.t + offset;
    if constexpr (Op == window_op::count) {
      w.add(t);
      if constexpr (query) {
        if constexpr (std::is_same_v<W, exact_count>)
          sink += w.query(t);
        else
          sink += w.count(t);
      }
    } else if constexpr (Op == window_op::distinct) {
      w.add(t, e.hash);
      if constexpr (query) {
        if constexpr (std::is_same_v<W, exact_distinct>)
          sink += w.query(t);
        else
          sink += w.distinct(t);
      }
    } else {
      w.add(t, e.value);
      if constexpr (query) {
        if constexpr (Op == window_op::sum) {
          sink += static_cast<std::uint64_t>(w.sum(t));
        } else if constexpr (std::is_same_v<W, exact_value>) {
          sink += static_cast<std::uint64_t>(w.percentile(t, 95, scratch));
        } else {
          sink += static_cast<std::uint64_t>(w.percentile(t, 95));
        }
      }
    }
  };
  // Warm up to the steady state (~1,000 events in every group's window), then measure.
  for (const auto& e : events) step(e, 0, std::false_type{});  // no queries: faster
  const std::size_t heap_after = heap_in_use();
  std::size_t i = 0;
  event_time offset = window_pass;
  for (auto _ : state) {
    step(events[i], offset, std::true_type{});
    if (++i == events.size()) {
      i = 0;
      offset += window_pass;
    }
  }
  benchmark::DoNotOptimize(sink);
  state.SetItemsProcessed(state.iterations());
  state.counters["heap_bytes_per_group"] =
      static_cast<double>(heap_after - heap_before) / static_cast<double>(window_groups);
  if constexpr (std::is_constructible_v<W, const sigma::window_params&>)
    state.counters["memory_bytes_per_group"] = static_cast<double>((*groups)[0].memory_bytes());
}

using bcount = sigma::bounded_count_window;
using bdistinct = sigma::bounded_distinct_window;
using bvalue = sigma::bounded_value_window;

BENCHMARK(BM_correlation_window<bcount, window_op::count, false>)->Name("window/count/add/bounded");
BENCHMARK(BM_correlation_window<exact_count, window_op::count, false>)
    ->Name("window/count/add/exact");
BENCHMARK(BM_correlation_window<bcount, window_op::count, true>)
    ->Name("window/count/add+query/bounded");
BENCHMARK(BM_correlation_window<exact_count, window_op::count, true>)
    ->Name("window/count/add+query/exact");
BENCHMARK(BM_correlation_window<bdistinct, window_op::distinct, false>)
    ->Name("window/distinct/add/bounded");
BENCHMARK(BM_correlation_window<exact_distinct, window_op::distinct, false>)
    ->Name("window/distinct/add/exact");
BENCHMARK(BM_correlation_window<bdistinct, window_op::distinct, true>)
    ->Name("window/distinct/add+query/bounded");
BENCHMARK(BM_correlation_window<exact_distinct, window_op::distinct, true>)
    ->Name("window/distinct/add+query/exact");
BENCHMARK(BM_correlation_window<bvalue, window_op::sum, false>)->Name("window/value/add/bounded");
BENCHMARK(BM_correlation_window<exact_value, window_op::sum, false>)
    ->Name("window/value/add/exact");
BENCHMARK(BM_correlation_window<bvalue, window_op::sum, true>)
    ->Name("window/value/add+sum/bounded");
BENCHMARK(BM_correlation_window<exact_value, window_op::sum, true>)
    ->Name("window/value/add+sum/exact");
BENCHMARK(BM_correlation_window<bvalue, window_op::percentile, true>)
    ->Name("window/value/add+p95/bounded");
BENCHMARK(BM_correlation_window<exact_value, window_op::percentile, true>)
    ->Name("window/value/add+p95/exact");

}  // namespace

}  // namespace fluxcap_bench
