// Runs the worked examples of the seeds (semantics section 4) and prints each
// event's tags before and after the flux capacitor, one group per example.
//
//   ./build/release/examples/worked_examples [--exact]
#include <fluxcap/fluxcap.hpp>

#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

struct event_input {
  std::vector<std::string> tags;  // true on input, by tag name (rule given by the example)
  std::vector<std::pair<std::string, std::string>> columns;
};

std::string list(const fluxcap::dense_schema& schema, const fluxcap::dense_event& e) {
  std::string out;
  for (std::size_t i = 0; i < schema.tag_count(); ++i) {
    if (!e.tag(i)) continue;
    if (!out.empty()) out += ',';
    out += schema.tag_name(i).second;
  }
  return "(" + out + ")";
}

template <class Memory>
void run_example(const char* title, const fluxcap::rule_spec& rule,
                 const std::vector<event_input>& events) {
  const fluxcap::program prog = fluxcap::compile(fluxcap::spec{rule});
  fluxcap::dense_schema schema(prog);
  schema.add_tag(rule.name, "d");  // a tag the spec does not know: passes through
  fluxcap::flux_capacitor<fluxcap::dense_accessor, Memory> cap(prog,
                                                               fluxcap::dense_accessor(schema));
  fluxcap::group_state state = cap.make_state();

  std::printf("%s\n", title);
  for (const auto& in : events) {
    fluxcap::dense_event e(schema);
    for (const auto& t : in.tags) e.set_tag(*schema.tag_index(rule.name, t), true);
    std::string cols;
    for (const auto& [name, value] : in.columns) {
      e.set_column(*schema.column_index(name), value);
      cols.append(" ").append(name).append("=").append(value);
    }
    const std::string before = list(schema, e);
    cap.update(state, e);
    std::printf("  in%-9s -> out%-9s%s\n", before.c_str(), list(schema, e).c_str(), cols.c_str());
  }
}

template <class Memory>
void run_all() {
  using fluxcap::temporal_rule;
  const std::vector<event_input> abc = {{{"b"}, {}}, {{"c"}, {}}, {{"a"}, {}}, {{"c"}, {}},
                                        {{"b"}, {}}, {{"c"}, {}}, {{"d"}, {}}};
  run_example<Memory>("rule1: ordered temporal a, b, c",
                      temporal_rule("rule1", {"a", "b", "c"}).with_ordered(), abc);
  run_example<Memory>("rule5: unordered temporal a, b, c", temporal_rule("rule5", {"a", "b", "c"}),
                      {{{"a"}, {}}, {{"b"}, {}}, {{"c"}, {}}, {{"d"}, {}}});
  const std::vector<event_input> tree = {{{"f"}, {{"id", "3"}}},
                                         {{}, {{"id", "13"}, {"parent_id", "3"}}},
                                         {{}, {{"id", "133"}, {"parent_id", "13"}}}};
  run_example<Memory>("rule4: parent (only the direct parent)",
                      fluxcap::parent_rule("rule4", "parent_id", "id", {"f"}), tree);
  run_example<Memory>("rule3: ancestor (every descendant)",
                      fluxcap::ancestor_rule("rule3", "parent_id", "id", {"f"}), tree);
  run_example<Memory>(
      "rule6: ordered temporal a, b, c by folder",
      temporal_rule("rule6", {"a", "b", "c"}).with_ordered().with_groupby({"folder"}),
      {{{"a"}, {{"folder", "A"}}},
       {{"b"}, {{"folder", "B"}}},
       {{"b"}, {{"folder", "A"}}},
       {{"c"}, {{"folder", "B"}}},
       {{"c"}, {{"folder", "A"}}}});
}

}  // namespace

int main(int argc, char** argv) {
  const bool exact = argc > 1 && std::strcmp(argv[1], "--exact") == 0;
  std::printf("fluxcap %s worked examples (%s memory)\n\n", fluxcap::version_string,
              exact ? "exact" : "bloom");
  if (exact)
    run_all<fluxcap::exact_memory>();
  else
    run_all<fluxcap::bloom_memory>();
  return 0;
}
