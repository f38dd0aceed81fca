// Fuzz target: the YAML/JSON spec reader (both spec forms, with conditions) on
// arbitrary text. A spec either throws spec_error or compiles. Each input is read
// twice: with the default limits, and with small node and expanded-byte limits, so
// that inputs of a few hundred bytes with anchors and aliases reach the alias-bomb
// bound (yaml_spec_reader::scan) as well as the reader behind it.
#include <fluxcap/program.hpp>
#include <fluxcap/yaml.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  fluxcap::yaml::spec_limits small;
  small.max_nodes = 64;
  small.max_expanded_bytes = 512;
  for (const auto& limits : {fluxcap::yaml::spec_limits{}, small}) {
    try {
      const auto doc = fluxcap::yaml::parse_spec_string(text, "fuzz.yaml", limits);
      (void)fluxcap::compile(doc.spec);
    } catch (const fluxcap::spec_error&) {
    }
  }
  return 0;
}
