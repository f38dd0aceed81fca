// The library's thread-safety contract (docs/concepts.md): update() is const, so one
// flux_capacitor serves several threads as long as each group state is used by one
// thread at a time; a parsed condition is shared read-only. Threads here share one
// capacitor (bloom and exact) and one condition, each with its own groups, and must
// get exactly what a single thread gets. Under the `tsan` preset (ThreadSanitizer)
// this is the library's threaded path, checked for data races.
#include <fluxcap/fluxcap.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace {

struct stream {
  std::vector<std::vector<std::uint8_t>> results;  // per event: tag values, then the condition
};

template <class Memory>
stream run_stream(const fluxcap::flux_capacitor<fluxcap::dense_accessor, Memory>& cap,
                  const fluxcap::dense_schema& schema, const fluxcap::condition& cond,
                  unsigned seed) {
  fluxcap::in_memory_state_store<fluxcap::group_state> groups(cap.make_state());
  stream out;
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
  auto next = [&]() {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  const std::size_t tags = schema.tag_count();
  const auto pid = *schema.column_index("pid");
  const auto ppid = *schema.column_index("ppid");
  for (int i = 1; i <= 3000; ++i) {
    fluxcap::dense_event e(schema);
    for (std::size_t t = 0; t < tags; ++t) e.set_tag(t, next() % 8 == 0);
    const std::string id = std::to_string(i);
    const std::string parent = std::to_string(1 + next() % static_cast<std::uint64_t>(i));
    e.set_column(pid, id);
    e.set_column(ppid, parent);
    cap.update(groups.find_or_create("h" + std::to_string(next() % 5)), e);
    std::vector<std::uint8_t> r;
    for (std::size_t t = 0; t < tags; ++t) r.push_back(e.tag(t) ? 1 : 0);
    const auto lookup = [&](std::string_view rule, std::string_view tag) {
      const auto t = schema.tag_index(rule, tag);
      return t && e.tag(*t);
    };
    const auto for_each_tag = [](std::string_view, auto&&) {};
    r.push_back(cond.evaluate(lookup, for_each_tag) ? 1 : 0);
    out.results.push_back(std::move(r));
  }
  return out;
}

template <class Memory>
void check_threads(const fluxcap::memory_config& config) {
  const fluxcap::program prog = fluxcap::compile(
      fluxcap::spec{fluxcap::ancestor_rule("anc", "ppid", "pid", {"office"}),
                    fluxcap::parent_rule("par", "ppid", "pid", {"x", "y"}),
                    fluxcap::temporal_rule("seq", {"a", "b", "c"}).with_ordered()});
  const fluxcap::dense_schema schema(prog);
  const fluxcap::flux_capacitor<fluxcap::dense_accessor, Memory> cap(
      prog, fluxcap::dense_accessor(schema), Memory(config));
  const auto cond = fluxcap::condition::parse("anc.office and (par.x or not seq.c)");

  constexpr unsigned threads = 4;
  std::vector<stream> single(threads), parallel(threads);
  for (unsigned t = 0; t < threads; ++t) single[t] = run_stream(cap, schema, cond, t);
  {
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t)
      pool.emplace_back([&, t] { parallel[t] = run_stream(cap, schema, cond, t); });
    for (auto& th : pool) th.join();
  }
  for (unsigned t = 0; t < threads; ++t) CHECK(parallel[t].results == single[t].results);
}

}  // namespace

TEST_CASE("threads share one flux_capacitor and one condition, each with its own groups") {
  check_threads<fluxcap::bloom_memory>({500, 1e-3, 5});
  check_threads<fluxcap::exact_memory>({500, 1e-3, 5});
}
