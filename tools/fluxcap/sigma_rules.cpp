#include "sigma_rules.hpp"

#include "json_schema.hpp"
#include "sigma_correlation.hpp"

#include <fluxcap/sigma/compile.hpp>
#include <fluxcap/sigma/describe.hpp>
#include <fluxcap/sigma/profile.hpp>
#include <fluxcap/sigma/yaml.hpp>

#include <filesystem>
#include <string_view>
#include <vector>

namespace fluxcap_cli {

namespace {

namespace sigma = fluxcap::sigma;

/// A path when it contains '/' or ends in .yml/.yaml; else a built-in name.
sigma::profile load_profile(const std::string& name) {
  const std::string_view n = name;
  if (n.find('/') != std::string_view::npos || n.ends_with(".yml") || n.ends_with(".yaml"))
    return sigma::read_profile_file(std::filesystem::path(name));
  if (auto p = sigma::builtin_profile(n)) return *std::move(p);
  std::string known;
  for (const auto b : sigma::builtin_profile_names) {
    if (!known.empty()) known += ", ";
    known += b;
  }
  throw usage_error("unknown profile '" + cut_for_message(name) + "' (built-in: " + known +
                    "; a profile file is a path containing '/' or ending in .yml or .yaml)");
}

}  // namespace

sigma_rule_set load_sigma_rules(const options& o, sigma_correlation_set& correlations) {
  std::vector<std::filesystem::path> paths(o.rule_paths.begin(), o.rule_paths.end());
  // The files are read on every core (at most 8): start-up counts in a run's time.
  // Correlation rules are read beside them and linked (unknown references, cycles).
  auto read = sigma::read_rule_set_paths(paths);
  const auto& rules = read.rules;
  const sigma::profile profile = load_profile(o.profile);
  correlations.rules = std::move(read.correlations);
  correlations.profile = profile;
  sigma_rule_set set;
  set.compiled = sigma::compile(std::span<const sigma::rule>(rules), profile,
                                sigma::compile_options{}, sigma_regex{});
  if (o.group_key) set.compiled.group_path = *o.group_key;
  set.warnings = sigma::absent_field_warnings(rules, set.compiled, profile);
  set.detections_field = o.detections_field;
  for (const auto& r : set.compiled.rules) {
    std::string json;
    append_json_string(json, r.identity);
    set.identity_json.push_back(std::move(json));
  }
  return set;
}

std::string sigma_summary(const sigma_rule_set& rules) {
  const auto& c = rules.compiled;
  return "fluxcap: " + std::to_string(c.count(sigma::rule_status::ok)) + " rules compiled, " +
         std::to_string(c.count(sigma::rule_status::skipped_logsource)) + " skipped (logsource), " +
         std::to_string(c.count(sigma::rule_status::unsupported)) +
         " unsupported (see fluxcap check --rules)";
}

std::string unsupported_rules_text(const sigma_rule_set& rules) {
  std::string out;
  for (const auto& r : rules.compiled.reports)
    if (r.status == sigma::rule_status::unsupported)
      out += "fluxcap: unsupported rule '" + r.identity + "' (" +
             sigma::detail::span_text(r.where) + "): " + r.reason + "\n";
  return out;
}

}  // namespace fluxcap_cli
