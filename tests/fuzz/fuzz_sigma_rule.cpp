// Fuzz target: the Sigma rule reader (fluxcap/sigma/yaml.hpp) on arbitrary text. Property:
// read_rules returns rules or throws sigma_error whose line lies within the input (a line
// past the last one would be a wrong mark shift between documents); any other exception
// or a crash is a finding. Each input is read twice: with the default limits and with
// small ones, so that inputs of a few hundred bytes reach every limit (alias bombs too).
#include <fluxcap/sigma/yaml.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
  fluxcap::sigma::rule_read_limits small;
  small.max_documents = 4;
  small.max_detections_per_rule = 4;
  small.max_values_per_item = 4;
  small.max_conditions_per_rule = 2;
  small.max_nodes = 64;
  small.max_expanded_bytes = 512;
  for (const auto& limits : {fluxcap::sigma::rule_read_limits{}, small}) {
    try {
      const auto rules = fluxcap::sigma::read_rules(text, "fuzz.yml", limits);
      for (const auto& r : rules)
        if (r.identity.empty() || r.where.line > lines) std::abort();
    } catch (const fluxcap::sigma::sigma_error& e) {
      if (e.where().file != "fuzz.yml" || e.where().line > lines) {
        std::fprintf(stderr, "error outside the input (%zu lines): %s\n", lines, e.what());
        std::abort();
      }
    }
  }
  return 0;
}
