// Fuzz target: the Sigma rule reader (fluxcap/sigma/yaml.hpp) and the compiler
// (fluxcap/sigma/compile.hpp) on arbitrary text. Properties: read_rules returns rules or
// throws sigma_error whose line lies within the input (a line past the last one would be
// a wrong mark shift between documents); every rule set that reads is compiled for the
// sysmon profile (with PCRE2 when this build has it, so `re` values reach the regex
// checks), and compile either succeeds, with every unsupported rule carrying a reason,
// or throws sigma_error with a location in the input. Any other exception or a crash is
// a finding. Each input is read twice: with the default limits and with small ones, so
// that inputs of a few hundred bytes reach every limit (alias bombs too).
#include <fluxcap/sigma/compile.hpp>
#include <fluxcap/sigma/yaml.hpp>
#if FLUXCAP_FUZZ_PCRE2
#include <fluxcap/sigma/pcre2.hpp>
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace {

namespace fs = fluxcap::sigma;

void compile_checked(const std::vector<fs::rule>& rules, std::size_t lines) {
  static const fs::profile sysmon = *fs::builtin_profile("sysmon");
  try {
#if FLUXCAP_FUZZ_PCRE2
    const auto compiled = fs::compile(rules, sysmon, {}, fs::pcre2_engine{});
#else
    const auto compiled = fs::compile(rules, sysmon, {}, fs::no_regex{});
#endif
    if (compiled.reports.size() != rules.size()) std::abort();
    for (const auto& r : compiled.reports) {
      if (r.status == fs::rule_status::unsupported && r.reason.empty()) {
        std::fprintf(stderr, "rule '%s' is unsupported without a reason\n", r.identity.c_str());
        std::abort();
      }
    }
    if (compiled.rules.size() != compiled.count(fs::rule_status::ok)) std::abort();
  } catch (const fs::sigma_error& e) {
    if (e.where().file != "fuzz.yml" || e.where().line == 0 || e.where().line > lines) {
      std::fprintf(stderr, "compile error without a location in the input (%zu lines): %s\n", lines,
                   e.what());
      std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
  fs::rule_read_limits small;
  small.max_documents = 4;
  small.max_detections_per_rule = 4;
  small.max_values_per_item = 4;
  small.max_conditions_per_rule = 2;
  small.max_nodes = 64;
  small.max_expanded_bytes = 512;
  for (const auto& limits : {fs::rule_read_limits{}, small}) {
    try {
      const auto rules = fs::read_rules(text, "fuzz.yml", limits);
      for (const auto& r : rules)
        if (r.identity.empty() || r.where.line > lines) std::abort();
      compile_checked(rules, lines);
    } catch (const fs::sigma_error& e) {
      if (e.where().file != "fuzz.yml" || e.where().line > lines) {
        std::fprintf(stderr, "error outside the input (%zu lines): %s\n", lines, e.what());
        std::abort();
      }
    }
  }
  return 0;
}
