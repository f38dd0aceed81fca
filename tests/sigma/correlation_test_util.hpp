// Sigma correlation rules built in code, without YAML, for the correlation tests
// (test_correlation.cpp, test_correlation_differential.cpp) and the state rig
// (correlation_state_rig.hpp, which the golden blobs and a fuzz target use: these
// builders must keep making the same rules).
#pragma once

#include <fluxcap/sigma/correlation.hpp>
#include <fluxcap/sigma/rule.hpp>

#include <string>
#include <utility>
#include <vector>

namespace corr_test {

namespace sigma = fluxcap::sigma;

/// A condition bound `op v` (the text as the YAML reader would keep it).
inline sigma::correlation_bound bound(sigma::comparison op, double v) {
  return sigma::correlation_bound{op, v, std::to_string(v), {}};
}

/// A correlation named `identity` (also its id and name), not yet linked.
inline sigma::correlation_rule correlation(std::string identity, sigma::correlation_type type,
                                           std::vector<std::string> rules,
                                           std::vector<std::string> group_by,
                                           sigma::event_time span,
                                           std::vector<sigma::correlation_bound> bounds = {},
                                           std::vector<std::string> fields = {}) {
  sigma::correlation_rule c;
  c.identity = identity;
  c.id = identity;
  c.name = identity;
  c.type = type;
  c.rules = std::move(rules);
  c.group_by = std::move(group_by);
  c.timespan_ms = span;
  c.condition.bounds = std::move(bounds);
  c.condition.fields = std::move(fields);
  return c;
}

/// A detection rule named `name`, with identity and id `name-id` (no detection: the
/// tests give detections directly).
inline sigma::rule detection_rule(const std::string& name) {
  sigma::rule r;
  r.identity = name + "-id";
  r.id = r.identity;
  r.name = name;
  r.where = {"rules.yml", 1, 1};
  return r;
}

}  // namespace corr_test
