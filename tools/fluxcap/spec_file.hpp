// Loading a spec file for the fluxcap tool, and the `check` and `graph` commands.
#pragma once

#include <fluxcap/condition.hpp>
#include <fluxcap/error.hpp>
#include <fluxcap/program.hpp>
#include <fluxcap/spec.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace fluxcap_cli {

/// A post-flux condition of the spec: a named detection.
struct detection {
  std::string name;
  std::string rule;  ///< the rule bare tag names refer to
  std::string text;  ///< as written
  fluxcap::source_location where;
  fluxcap::condition expr;
};

struct loaded_spec {
  std::string path;
  fluxcap::spec spec;
  fluxcap::program prog;
  std::vector<detection> detections;  ///< in spec order
};

/// Reads, validates and compiles `path`. Throws fluxcap::spec_error.
[[nodiscard]] loaded_spec load_spec(const std::string& path);
/// The same for spec text (`name` is used in messages).
[[nodiscard]] loaded_spec load_spec_text(std::string_view text, const std::string& name);

/// `fluxcap check`: the compiled program, human readable.
[[nodiscard]] std::string describe_program(const loaded_spec& s);

/// `fluxcap graph`: the tag dependency graph in Graphviz DOT.
[[nodiscard]] std::string dependency_graph(const loaded_spec& s);

}  // namespace fluxcap_cli
