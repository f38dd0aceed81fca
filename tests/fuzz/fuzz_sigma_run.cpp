// Fuzz target: the Sigma event path of `fluxcap run --rules` (tools/fluxcap/) with
// correlation rules, on arbitrary bytes. Each input line goes through the Sigma line
// processor (read the fields, group, run the engine, write the detections array) and
// then through the correlation stage (tools/fluxcap/sigma_correlation.*), which reads
// that array back, runs the correlation engine and rewrites it. The first byte picks the
// correlation memory (exact or bounded) and whether the detections key may be spelled
// with escapes in the rules' field name.
//
// Invariants: nothing crashes; a line the Sigma stage rejects writes nothing; when the
// Sigma stage's line is valid JSON: the correlation stage leaves it byte for byte as it is
// if it has no detections array, and writes valid JSON; every name the stage reports is
// a rule or correlation identity, and a detection rule it reports was in the Sigma
// stage's array; a correlation engine saved and loaded mid-input (the state attachment of
// --state) gives the same output as one that was not; a second run over the same input
// gives the same bytes.
#include "../../tools/fluxcap/line_parser.hpp"
#include "../../tools/fluxcap/options.hpp"
#include "../../tools/fluxcap/sigma_correlation.hpp"
#include "../../tools/fluxcap/sigma_process.hpp"

#include <fluxcap/memory.hpp>
#include <fluxcap/sigma/compile.hpp>
#include <fluxcap/sigma/yaml.hpp>

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace sigma = fluxcap::sigma;

constexpr std::string_view rules_text = R"(title: fail
name: login_fail
logsource: {category: process_creation, product: windows}
detection: {s: {action: fail}, condition: s}
---
title: ok
name: login_ok
logsource: {category: process_creation, product: windows}
detection: {s: {action|startswith: succ}, condition: s}
---
title: upload
id: upload
name: upload
logsource: {category: process_creation, product: windows}
detection: {s: {action: upload}, condition: s}
---
title: child of fail
id: child-of-fail
logsource: {category: process_creation, product: windows}
detection: {s: {ParentImage|endswith: '\x.exe'}, condition: s}
---
title: many fails
id: many-fails
name: many_fails
correlation: {type: event_count, rules: [login_fail], group-by: [user], timespan: 10s,
              condition: {gte: 3}}
---
title: many hosts
id: many-hosts
correlation: {type: value_count, rules: [login_fail], group-by: [user], timespan: 10s,
              condition: {gte: 2, field: host}}
---
title: fails then ok
id: fails-then-ok
correlation: {type: temporal_ordered, rules: [many_fails, login_ok], group-by: [user],
              timespan: 1m}
---
title: big upload
id: big-upload
correlation: {type: value_sum, rules: [upload], group-by: [user], timespan: 1m,
              condition: {gt: 1000, field: bytes}, generate: true}
---
title: upload percentile
id: upload-p90
correlation: {type: value_percentile, rules: [upload], group-by: [host], timespan: 1m,
              condition: {gt: 500, field: bytes, percentile: 90}}
)";

sigma::profile fuzz_profile() {
  sigma::profile p;
  p.name = "fuzz";
  p.group = "host";
  p.process_id = "pid";
  p.parent_id = "ppid";
  p.timestamp = "ts";
  p.source.category = "process_creation";
  p.source.product = "windows";
  p.fields = {{"Image", "image"}, {"ParentImage", "parent_image"}};
  return p;
}

struct fixture {
  fluxcap_cli::sigma_rule_set rules;
  fluxcap_cli::sigma_correlation_set correlations;
  std::set<std::string> identities;  ///< rules and correlations, as JSON strings
  std::set<std::string> correlation_identities;
};

const fixture& fuzz_fixture(bool escaped_field) {
  static const auto make = [](bool escaped) {
    fixture f;
    auto set = sigma::read_rule_set(rules_text, "fuzz.yml");
    f.correlations.profile = fuzz_profile();
    f.correlations.rules = std::move(set.correlations);
    f.rules.compiled =
        sigma::compile(std::span<const sigma::rule>(set.rules), f.correlations.profile);
    // A field name with a character that has a short escape ('/'): the correlation stage
    // must then look for escaped spellings at every backslash.
    f.rules.detections_field = escaped ? "det/ections" : "detections";
    for (const auto& r : f.rules.compiled.rules) {
      std::string json;
      fluxcap_cli::append_json_string(json, r.identity);
      f.identities.insert(json);
      f.rules.identity_json.push_back(std::move(json));
    }
    for (const auto& c : f.correlations.rules) {
      std::string json;
      fluxcap_cli::append_json_string(json, c.identity);
      f.identities.insert(json);
      f.correlation_identities.insert(json);
    }
    return f;
  };
  static const fixture plain = make(false);
  static const fixture escaped = make(true);
  return escaped_field ? escaped : plain;
}

using memory_type = fluxcap::exact_memory;
using processor = fluxcap_cli::sigma_line_processor<memory_type>;

/// The detections array of a valid JSON line (its raw strings), nullopt when absent or
/// not an array of strings.
std::optional<std::vector<std::string>> array_of(std::string_view line, std::string_view field) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(line);
  simdjson::dom::element doc;
  if (parser.parse(padded).get(doc) != simdjson::SUCCESS) std::abort();
  simdjson::dom::object object;
  if (doc.get_object().get(object) != simdjson::SUCCESS) return std::nullopt;
  simdjson::dom::array array;
  if (object.at_key(field).get_array().get(array) != simdjson::SUCCESS) return std::nullopt;
  std::vector<std::string> out;
  for (const auto item : array) {
    std::string_view s;
    if (item.get_string().get(s) != simdjson::SUCCESS) return std::nullopt;
    std::string json;
    fluxcap_cli::append_json_string(json, s);
    out.push_back(std::move(json));
  }
  return out;
}

bool valid_json(std::string_view line) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(line);
  simdjson::dom::element doc;
  return parser.parse(padded).get(doc) == simdjson::SUCCESS;
}

/// Runs every line of `input` through both stages; `save_at`: after that many lines, the
/// correlation engine is saved and loaded into a fresh stage (as --state does).
std::string run(const fixture& f, bool bounded, std::string_view input, std::size_t save_at,
                bool check) {
  fluxcap_cli::options o;
  o.correlation_memory = bounded ? fluxcap_cli::correlation_memory_mode::bounded
                                 : fluxcap_cli::correlation_memory_mode::exact;
  o.max_window_events = 8;
  o.max_correlation_groups = 16;
  o.window_buckets = 8;
  fluxcap_cli::json_fields_limits field_limits;
  field_limits.max_line_bytes = 4096;
  fluxcap_cli::event_limits limits;
  limits.max_groups = 8;
  limits.max_key_bytes = 64;
  const fluxcap::hash_key key{1, 2};
  const memory_type memory(fluxcap::memory_config{64, 1e-3, 4});
  const fluxcap_cli::json_fields fields = processor::bound_fields(f.rules, field_limits);
  const typename processor::engine_type engine(
      f.rules.compiled, fields, memory, fluxcap_cli::sigma_regex{}, fluxcap::default_hash(key));
  processor proc(f.rules, engine, fields, memory, limits, key, field_limits);
  auto stage = fluxcap_cli::make_correlation_stage(f.rules, f.correlations, o, field_limits);
  if (!stage) std::abort();
  stage->set_hash_key(key);

  std::string out, sigma_line, padded, problem;
  std::size_t n = 0;
  while (!input.empty()) {
    const std::size_t nl = input.find('\n');
    const std::string_view line = input.substr(0, nl);
    input.remove_prefix(nl == std::string_view::npos ? input.size() : nl + 1);
    if (n++ == save_at) {
      const auto bytes = stage->save_state();
      stage = fluxcap_cli::make_correlation_stage(f.rules, f.correlations, o, field_limits);
      stage->set_hash_key(key);
      stage->load_state(bytes);
    }
    padded.assign(line);
    padded.append(fluxcap_cli::line_parser::padding(), ' ');
    sigma_line.clear();
    const auto outcome = proc.process(std::string_view(padded.data(), line.size()), padded.size(),
                                      sigma_line, problem);
    if (outcome == processor::outcome::bad) {
      if (!sigma_line.empty()) std::abort();  // a bad line writes nothing
      continue;
    }
    const std::size_t before = out.size();
    stage->process(sigma_line, out);
    const std::string_view written = std::string_view(out).substr(before);
    if (check && outcome == processor::outcome::event) {
      // The Sigma stage validates the values it reads, not every other byte (simdjson On
      // Demand): it may pass a line that is not JSON. Only valid lines are checked.
      const bool valid = valid_json(sigma_line);
      const auto given = valid ? array_of(sigma_line, f.rules.detections_field) : std::nullopt;
      if (valid && !given && written != sigma_line) std::abort();  // nothing to rewrite
      if (given) {
        if (!valid_json(written)) std::abort();
        const auto reported = array_of(written, f.rules.detections_field);
        for (const auto& name : reported.value_or(std::vector<std::string>{})) {
          if (f.identities.count(name) == 0) std::abort();
          const bool correlation = f.correlation_identities.count(name) != 0;
          bool was_given = false;
          for (const auto& g : *given) was_given = was_given || g == name;
          if (!correlation && !was_given) std::abort();  // a forged detection
        }
      }
    }
    out += '\n';
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > 8192) return 0;
  const bool bounded = (data[0] & 1) != 0;
  const bool escaped_field = (data[0] & 2) != 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  const fixture& f = fuzz_fixture(escaped_field);
  const std::string once = run(f, bounded, input, SIZE_MAX, true);
  if (run(f, bounded, input, SIZE_MAX, false) != once) std::abort();
  // Saved and loaded after a third of the lines: the same output.
  std::size_t lines = 0;
  for (const char c : input) lines += c == '\n';
  if (run(f, bounded, input, lines / 3, false) != once) std::abort();
  return 0;
}
