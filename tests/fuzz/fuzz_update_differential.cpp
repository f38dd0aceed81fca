// Fuzz target: drives update() with arbitrary event sequences (every rule kind, exclusive
// parent and ancestor included; process trees with reused, null, empty and self parents;
// contexts) in exact mode and checks every event against the naive reference model of
// tests/reference_model.hpp.
#include <fluxcap/fluxcap.hpp>

#include "../reference_model.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace {

const fluxcap::spec& fuzz_spec() {
  static const fluxcap::spec s{
      fluxcap::parent_rule("par", "ppid", "pid", {"p1", "p2"}),
      fluxcap::ancestor_rule("anc", "ppid", "pid", {"s1"}),
      // Exclusive carry (docs/semantics.md), with the same tag names as par and anc.
      fluxcap::parent_rule("xpar", "ppid", "pid", {"p1"}).with_exclusive(),
      fluxcap::ancestor_rule("xanc", "ppid", "pid", {"s1", "s2"}).with_exclusive(),
      fluxcap::temporal_rule("ord", {"a", "b", "c"}).with_ordered(),
      fluxcap::temporal_rule("ordg", {"a", "b"}).with_ordered().with_groupby({"folder"}),
      fluxcap::temporal_rule("unordg", {"x", "y"}).with_groupby({"folder", "user"}),
      fluxcap::low_level_rule("low", {fluxcap::tag_update("s", std::nullopt, std::nullopt, "q"),
                                      fluxcap::tag_update("q", "folder", "folder", "p"),
                                      fluxcap::tag_update("p", "folder", "folder"),
                                      fluxcap::tag_update("r", "ppid", "pid", "r"),
                                      fluxcap::tag_update("t", "ppid", "folder", "r")})};
  return s;
}

// Small value sets so that keys collide often; index 0 is null, 1 is "".
const std::array<std::optional<std::string>, 8> values = {std::nullopt, std::string(), "1",   "2",
                                                          "3",          "4",           "a/b", "A"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const fluxcap::program prog = fluxcap::compile(fuzz_spec());
  static const fluxcap::dense_schema schema(prog);
  static const std::vector<std::string> columns = prog.columns();
  using capacitor = fluxcap::flux_capacitor<fluxcap::dense_accessor, fluxcap::exact_memory>;
  // No forgetting: the reference model never forgets.
  static const capacitor cap(prog, fluxcap::dense_accessor(schema),
                             fluxcap::exact_memory({1U << 20, 1e-4, 2}));
  static const fluxcap_test::reference_model model(fuzz_spec(), {});

  const std::size_t tags = schema.tag_count();
  const std::size_t bytes_per_event = 1 + (tags + 7) / 8 + columns.size();
  std::array<fluxcap::group_state, 2> states{cap.make_state(), cap.make_state()};
  std::array<std::set<std::string>, 2> memories;
  fluxcap_test::reference_stats stats;

  for (std::size_t at = 0; at + bytes_per_event <= size; at += bytes_per_event) {
    const std::uint8_t* b = data + at;
    const std::size_t group = b[0] & 1U;
    fluxcap::dense_event e(schema);
    fluxcap_test::stream_event ref;
    for (std::size_t t = 0; t < tags; ++t) {
      if (((b[1 + t / 8] >> (t % 8)) & 1U) == 0) continue;
      e.set_tag(t, true);
      ref.tags.insert(schema.tag_name(t));
    }
    for (std::size_t c = 0; c < columns.size(); ++c) {
      const auto& v = values[b[1 + (tags + 7) / 8 + c] % values.size()];
      if (!v) continue;  // null and missing are the same to both
      e.set_column(*schema.column_index(columns[c]), *v);
      ref.columns[columns[c]] = *v;
    }
    cap.update(states[group], e);
    const fluxcap_test::tag_set expected = model.run(memories[group], ref, stats);
    fluxcap_test::tag_set got;
    for (std::size_t t = 0; t < tags; ++t)
      if (e.tag(t)) got.insert(schema.tag_name(t));
    if (got != expected) std::abort();
  }
  return 0;
}
