// Fuzz target: the YAML/JSON spec reader (both spec forms, with conditions) on
// arbitrary text. A spec either throws spec_error or compiles.
#include <fluxcap/program.hpp>
#include <fluxcap/yaml.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const auto doc = fluxcap::yaml::parse_spec_string(text, "fuzz.yaml");
    (void)fluxcap::compile(doc.spec);
  } catch (const fluxcap::spec_error&) {
  }
  return 0;
}
