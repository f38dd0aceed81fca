// Differential test: random event streams through exact and bloom flux capacitors and
// through a deliberately naive reference model written here from semantics section 3
// (full string keys in a std::set per group, no forgetting, no hashing, no compile()).
//
// Asserted on every event:
//  - exact mode answers exactly as the reference;
//  - bloom mode answers a superset of exact mode, tag by tag (nothing is forgotten here,
//    so a bloom answer can only add false positives);
//  - the rate of bloom-only tags per recall, on rules where a false positive cannot
//    cascade, is within the configured fpp (statistical margin stated below).
#include <fluxcap/fluxcap.hpp>

#include "reference_model.hpp"
#include "test_util.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

using namespace fluxcap;

namespace {

using fluxcap_test::numbered;

using fluxcap_test::column_values;
using fluxcap_test::reference_model;
using fluxcap_test::reference_stats;
using fluxcap_test::stream_event;
using fluxcap_test::tag_name;
using fluxcap_test::tag_set;

// ---------------------------------------------------------------------------------------
// The stream

spec differential_spec() {
  const std::optional<std::string> none;
  return spec{
      parent_rule("par", "ppid", "pid", {"p1", "p2"}),
      ancestor_rule("anc", "ppid", "pid", {"s1", "s2"}),
      parent_rule("xpar", "ppid", "pid", {"p1", "p2"}).with_exclusive(),
      ancestor_rule("xanc", "ppid", "pid", {"s1", "s2"}).with_exclusive(),
      parent_rule("xoff", "ppid", "pid", {"o"}).with_exclusive(false),
      temporal_rule("ord", {"a", "b", "c"}).with_ordered(),
      temporal_rule("ordg", {"a", "b", "c", "d"}).with_ordered().with_groupby({"folder"}),
      temporal_rule("unord", {"x", "y", "z"}),
      temporal_rule("unordg", {"x", "y"}).with_groupby({"folder", "user"}),
      temporal_rule("uniq", {"m", "n"}).with_groupby({"cmd"}),
      // Low-level, listed out of dependency order: s <- q <- p (folder contexts), r an
      // ancestor-like tag, t a relation from ppid to folder gated by r, w gated by t, v
      // gated by r (on a process that is its own parent, r is established by its own store).
      low_level_rule("low",
                     {tag_update("s", none, none, "q"), tag_update("q", "folder", "folder", "p"),
                      tag_update("p", "folder", "folder"), tag_update("r", "ppid", "pid", "r"),
                      tag_update("t", "ppid", "folder", "r"), tag_update("w", none, none, "t"),
                      tag_update("v", none, none, "r")}),
  };
}

/// Rules where a recall never leads to a store, so a bloom false positive shows as
/// exactly one bloom-only tag and never cascades.
const std::set<std::string> non_cascading_rules{"par", "xpar", "uniq"};

std::vector<stream_event> make_stream(std::uint64_t seed, std::size_t groups, std::size_t events,
                                      const spec& s) {
  std::mt19937_64 rng(seed);
  auto chance = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
  auto pick = [&](std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
  };

  struct group_procs {
    std::vector<std::string> pids;
    std::uint64_t next = 1;
  };
  std::vector<group_procs> procs(groups);
  std::vector<stream_event> out;
  out.reserve(events);
  for (std::size_t n = 0; n < events; ++n) {
    stream_event e;
    e.group = pick(groups);
    auto& g = procs[e.group];
    // The same ids in every group: groups must still not see each other.
    const std::string pid = chance(0.02) && !g.pids.empty() ? g.pids[pick(g.pids.size())]  // reuse
                                                            : std::to_string(g.next++);
    // Parent: mostly an earlier process (recent ones, often the previous one, which makes
    // deep chains), sometimes null, missing, empty, unknown or itself.
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    if (u < 0.08) {
      e.columns["ppid"] = std::nullopt;
    } else if (u < 0.12) {
      // missing
    } else if (u < 0.15) {
      e.columns["ppid"] = "";
    } else if (u < 0.18) {
      e.columns["ppid"] = numbered("x", pick(1000));
    } else if (u < 0.20) {
      e.columns["ppid"] = pid;
    } else if (!g.pids.empty()) {
      const std::size_t recent = std::min<std::size_t>(g.pids.size(), 200);
      e.columns["ppid"] = chance(0.35) ? g.pids.back() : g.pids[g.pids.size() - 1 - pick(recent)];
    }
    const double v = std::uniform_real_distribution<double>(0, 1)(rng);
    if (v < 0.02)
      e.columns["pid"] = std::nullopt;
    else if (v < 0.04)
      e.columns["pid"] = "";
    else if (v >= 0.06)
      e.columns["pid"] = pid;
    if (v >= 0.06) g.pids.push_back(pid);
    // Folders "1".."8" also look like pids: the low-level t tag relates the two.
    const double f = std::uniform_real_distribution<double>(0, 1)(rng);
    if (f < 0.05)
      e.columns["folder"] = std::nullopt;
    else if (f < 0.10)
      e.columns["folder"] = "";
    else if (f >= 0.15)
      e.columns["folder"] = std::to_string(1 + pick(8));
    if (!chance(0.1)) e.columns["user"] = numbered("u", pick(3));
    e.columns["cmd"] = numbered("cmd", pick(1000000));

    for (const auto& r : s.rules)
      for (const auto& t : r.tags)
        if (chance(r.name == "anc" || r.name == "xanc" ? 0.05 : 0.12))
          e.tags.insert({r.name, t.name});
    // Tags and rules not in the spec pass through.
    if (chance(0.2)) e.tags.insert({"par", "zzz"});
    if (chance(0.2)) e.tags.insert({"foreign", "x"});
    out.push_back(std::move(e));
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Running the capacitors

struct dense_setup {
  program prog;
  dense_schema schema;
  std::vector<std::size_t> column_index;  // per program column

  explicit dense_setup(const spec& s) : prog(compile(s)), schema(prog) {
    schema.add_tag("par", "zzz");
    schema.add_tag("foreign", "x");
    for (const auto& c : prog.columns()) column_index.push_back(*schema.column_index(c));
  }

  [[nodiscard]] std::vector<bool> bits(const tag_set& tags) const {
    std::vector<bool> out(schema.tag_count(), false);
    for (const auto& [rule, tag] : tags) out.at(*schema.tag_index(rule, tag)) = true;
    return out;
  }
};

template <class Memory>
struct capacitor_run {
  std::vector<std::vector<bool>> outputs;
  std::vector<group_state> states;
};

template <class Memory>
capacitor_run<Memory> run_capacitor(const dense_setup& setup,
                                    const std::vector<stream_event>& stream, std::size_t groups,
                                    const memory_config& config) {
  flux_capacitor<dense_accessor, Memory> cap(setup.prog, dense_accessor(setup.schema),
                                             Memory(config));
  capacitor_run<Memory> run;
  for (std::size_t g = 0; g < groups; ++g) run.states.push_back(cap.make_state());
  const auto columns = setup.prog.columns();
  dense_event e(setup.schema);
  for (const auto& ev : stream) {
    e.reset();
    for (const auto& [rule, tag] : ev.tags) e.set_tag(*setup.schema.tag_index(rule, tag), true);
    for (std::size_t c = 0; c < columns.size(); ++c) {
      const auto it = ev.columns.find(columns[c]);
      if (it != ev.columns.end() && it->second)
        e.set_column(setup.column_index[c], std::string_view(*it->second));
    }
    cap.update(run.states[ev.group], e);
    std::vector<bool> out(setup.schema.tag_count());
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = e.tag(i);
    run.outputs.push_back(std::move(out));
  }
  return run;
}

std::string describe(const dense_setup& setup, const std::vector<bool>& bits) {
  std::string s;
  for (std::size_t i = 0; i < bits.size(); ++i)
    if (bits[i]) s += setup.schema.tag_name(i).first + "." + setup.schema.tag_name(i).second + " ";
  return s;
}

void differential(std::uint64_t seed) {
  CAPTURE(seed);
  const std::size_t groups = 4;
  const std::size_t events = 12000;
  const spec s = differential_spec();
  const auto stream = make_stream(seed, groups, events, s);
  const dense_setup setup(s);

  // The reference.
  const reference_model ref(s, non_cascading_rules);
  std::vector<std::set<std::string>> memory(groups);
  std::vector<reference_stats> stats(groups);
  std::vector<std::vector<bool>> expected;
  expected.reserve(stream.size());
  for (const auto& ev : stream)
    expected.push_back(setup.bits(ref.run(memory[ev.group], ev, stats[ev.group])));

  std::uint64_t max_keys = 0;
  std::uint64_t max_stores = 0;
  std::uint64_t negative = 0;
  std::uint64_t max_repeat = 1;
  for (std::size_t g = 0; g < groups; ++g) {
    max_keys = std::max<std::uint64_t>(max_keys, memory[g].size());
    max_stores = std::max(max_stores, stats[g].stores);
    negative += stats[g].negative_recalls;
    for (const auto& [k, n] : stats[g].negative_per_key) max_repeat = std::max(max_repeat, n);
  }
  REQUIRE(max_keys > 1000);

  struct configuration {
    std::string name;
    memory_config config;
  };
  const configuration configs[] = {
      // Two generations, the first just large enough for every distinct key: nothing is
      // forgotten, and the busiest group's filter is nearly full when the stream ends.
      {"2 generations, tight, fpp 1e-2", {max_keys + 1, 1e-2, 2}},
      // Ten generations that rotate several times but never drop one: capacity above the
      // number of remember operations.
      {"10 generations, rotating, fpp 1e-4", {max_stores + max_stores / 4 + 16, 1e-4, 10}},
  };
  for (const auto& [name, config] : configs) {
    CAPTURE(name);
    const auto exact = run_capacitor<exact_memory>(setup, stream, groups, config);
    std::uint64_t exact_mismatch = 0;
    for (std::size_t n = 0; n < stream.size(); ++n)
      if (exact.outputs[n] != expected[n] && ++exact_mismatch <= 3)
        FAIL_CHECK("event " << n << " group " << stream[n].group << ": exact "
                            << describe(setup, exact.outputs[n]) << "| reference "
                            << describe(setup, expected[n]));
    CHECK(exact_mismatch == 0);
    for (std::size_t g = 0; g < groups; ++g)
      CHECK(exact.states[g].generation_count() < config.generations);
    if (config.generations == 10)
      for (std::size_t g = 0; g < groups; ++g) CHECK(exact.states[g].generation_count() >= 3);

    // Both approximate memories against exact mode.
    auto approximate = [&]<class Memory>(const std::string& mode) {
      CAPTURE(mode);
      const auto bloom = run_capacitor<Memory>(setup, stream, groups, config);
      std::uint64_t not_superset = 0;
      std::uint64_t bloom_only = 0;       // all rules
      std::uint64_t bloom_only_rate = 0;  // non-cascading rules
      for (std::size_t n = 0; n < stream.size(); ++n) {
        for (std::size_t i = 0; i < setup.schema.tag_count(); ++i) {
          const bool e = exact.outputs[n][i];
          const bool b = bloom.outputs[n][i];
          if (e && !b && ++not_superset <= 3)
            FAIL_CHECK("event " << n << ": " << mode << " lost " << setup.schema.tag_name(i).first
                                << "." << setup.schema.tag_name(i).second);
          if (b && !e) {
            ++bloom_only;
            if (non_cascading_rules.count(setup.schema.tag_name(i).first)) ++bloom_only_rate;
          }
        }
      }
      CHECK(not_superset == 0);

      // Nothing was forgotten, and the run really exercised what it claims: filters
      // (bloom) or tables (cuckoo) were built.
      std::size_t approximate_structures = 0;
      for (std::size_t g = 0; g < groups; ++g) {
        // Never a full ring, so no generation was ever dropped. (With 2 generations an
        // approximate state may open its second one: false-positive-free stores can push it
        // past capacity.)
        if (config.generations > 2) CHECK(bloom.states[g].generation_count() < config.generations);
        if (bloom.states[g].table() != nullptr) ++approximate_structures;
        for (std::size_t a = 0; a < bloom.states[g].generation_count(); ++a)
          approximate_structures +=
              bloom.states[g].generation_at(a).type() == generation::kind::bloom;
      }
      CHECK(approximate_structures > 0);

      // Approximate-only tags of non-cascading rules are false positives of single
      // recalls. A key recalled m times while absent contributes all-or-nothing in the
      // worst case, so the count has variance <= max_repeat * N * fpp; allow fpp + 4 of
      // those sigmas.
      const double n = static_cast<double>(negative);
      const double rate = static_cast<double>(bloom_only_rate) / n;
      const double bound =
          config.fpp + 4 * std::sqrt(static_cast<double>(max_repeat) * config.fpp / n);
      MESSAGE(name << ", " << mode << ": capacity " << config.capacity << ", " << bloom_only << " "
                   << mode << "-only tags (" << bloom_only_rate << " on " << negative
                   << " negative recalls of non-cascading rules: rate " << rate << ", bound "
                   << bound << ", max repeats " << max_repeat << "), " << approximate_structures
                   << " filters or tables");
      CHECK(rate <= bound);
    };
    approximate.template operator()<bloom_memory>("bloom");
    approximate.template operator()<cuckoo_memory>("cuckoo");
  }
}

}  // namespace

TEST_CASE("differential: exact == reference, bloom and cuckoo supersets within fpp (seed 1)") {
  differential(1);
}

TEST_CASE("differential: exact == reference, bloom and cuckoo supersets within fpp (seed 2)") {
  differential(0x5eed5eed5eedULL);
}
