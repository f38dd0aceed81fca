// Setup step (not timed): the baselines do the same work as fluxcap.
//
// Every engine runs over short streams of each workload from empty states, and
// every output tag of every event is compared with fluxcap's exact mode. The
// streams are short enough that bloom false positives are vanishingly unlikely
// (and the streams are deterministic, so a pass is reproducible).
#include "baselines.hpp"
#include "bench.hpp"
#include "workloads.hpp"

#include <fluxcap/fluxcap.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace fluxcap_bench {

namespace {

const fluxcap::memory_config verify_memory{200000, 1e-4, 10};

/// Output tags of every event, flattened (event-major).
template <class Engine>
std::vector<bool> outputs(const workload& w, const event_stream& s, const Engine& eng) {
  fluxcap::in_memory_state_store<typename Engine::state_type> store(eng.make_state());
  std::vector<bool> out;
  out.reserve(s.events.size() * w.schema.tag_count());
  for (std::size_t i = 0; i < s.events.size(); ++i) {
    fluxcap::dense_event e = s.events[i];
    eng.update(store.find_or_create(s.group_names[s.group[i]]), e);
    for (std::size_t t = 0; t < w.schema.tag_count(); ++t) out.push_back(e.tag(t));
  }
  return out;
}

void check(const char* stream, const char* engine, const std::vector<bool>& reference,
           const std::vector<bool>& got) {
  std::size_t diff = 0;
  for (std::size_t i = 0; i < reference.size(); ++i) diff += reference[i] != got[i] ? 1 : 0;
  if (diff != 0 || got.size() != reference.size()) {
    std::fprintf(stderr,
                 "fluxcap_bench: verification FAILED: %s differs from fluxcap exact on %zu "
                 "of %zu tag outputs (%s stream)\n",
                 engine, diff, reference.size(), stream);
    std::abort();
  }
}

void verify(const char* name, const workload& w, const event_stream& s) {
  using namespace fluxcap;
  const auto reference =
      outputs(w, s,
              flux_capacitor<dense_accessor, exact_memory>(w.prog, dense_accessor(w.schema),
                                                           exact_memory(verify_memory)));
  check(name, "fluxcap_bloom", reference,
        outputs(w, s,
                flux_capacitor<dense_accessor, bloom_memory>(w.prog, dense_accessor(w.schema),
                                                             bloom_memory(verify_memory))));
  check(name, "fluxcap_cuckoo", reference,
        outputs(w, s,
                flux_capacitor<dense_accessor, cuckoo_memory>(w.prog, dense_accessor(w.schema),
                                                              cuckoo_memory(verify_memory))));
  check(name, "string_set", reference,
        outputs(w, s, string_key_capacitor<string_set_memory>(w.prog, w.schema)));
  check(name, "classic_bloom", reference,
        outputs(w, s,
                string_key_capacitor<classic_bloom_memory>(
                    w.prog, w.schema,
                    classic_bloom_memory(classic_bloom_config{verify_memory.capacity, 1e-4, 10}))));
  // How much of the semantics the stream exercised: tags made true by memory.
  std::size_t recalled = 0;
  const std::size_t tags = w.schema.tag_count();
  for (std::size_t i = 0; i < s.events.size(); ++i)
    for (std::size_t t = 0; t < tags; ++t)
      recalled += reference[i * tags + t] && !s.events[i].tag(t) ? 1 : 0;
  std::fprintf(stderr,
               "verify %-14s %6zu events, %8zu tag outputs: fluxcap_bloom, fluxcap_cuckoo, "
               "string_set, classic_bloom == fluxcap_exact (%zu tags set from memory)\n",
               name, s.events.size(), reference.size(), recalled);
}

}  // namespace

void verify_baselines() {
  {
    const workload w(harness_spec());
    // The load test as is (parent keys never match: every lookup misses) ...
    verify("harness", w, *make_harness_stream(w, 1, 0, 200));
    // ... and with half of the parents pointing at the previous event (hits).
    verify("harness_linked", w, *make_harness_stream(w, 10, 0, 1000, true));
  }
  {
    const workload w(process_tree_spec());
    verify("process_tree", w, *make_process_tree_stream(w, 1000, 0, 20000, 0.05));
    verify("process_tree30", w, *make_process_tree_stream(w, 50, 0, 5000, 0.3));
  }
  {
    const workload w(temporal_spec());
    verify("temporal", w, *make_temporal_stream(w, 100, 0, 20000));
  }
}

}  // namespace fluxcap_bench
