// fluxcap: the command-line tool. Streams JSON Lines events through a flux
// capacitor and evaluates post-flux conditions. Reference: docs/cli.md.
#include "heap.hpp"
#include "io.hpp"
#include "options.hpp"
#include "redis_commands.hpp"
#include "run.hpp"
#include "sigma_correlation.hpp"
#include "sigma_rules.hpp"
#include "spec_file.hpp"

#include <fluxcap/sigma/describe.hpp>
#include <fluxcap/sigma/rule.hpp>

#include <cstdio>
#include <exception>
#include <new>
#include <string>

namespace {

int write_stdout(const std::string& text) {
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0)
    return fluxcap_cli::fail(fluxcap_cli::exit_data, "cannot write standard output");
  return fluxcap_cli::exit_ok;
}

/// `run`, `check` and `graph` over Sigma rules (--rules).
int sigma_command(const fluxcap_cli::options& o) {
  using namespace fluxcap_cli;
  sigma_correlation_set correlations;
  const sigma_rule_set rules = load_sigma_rules(o, correlations);
  const unsupported_report unsupported = report_unsupported(rules, correlations);
  switch (o.cmd) {
    case command::check: {
      const int written =
          write_stdout(fluxcap::sigma::describe_rules(rules.compiled, rules.warnings) +
                       describe_correlations(rules, correlations, o));
      if (written != exit_ok) return written;
      return o.strict && unsupported.total() > 0 ? exit_data : exit_ok;
    }
    case command::graph:
      return write_stdout(
          add_correlation_edges(fluxcap::sigma::rules_graph(rules.compiled), rules, correlations));
    case command::run:
      refuse_unsupported_if_strict(o, unsupported);
      std::fprintf(stderr, "%s\n", sigma_summary(rules).c_str());
      if (!correlations.rules.empty())
        std::fprintf(stderr, "fluxcap: %zu correlation rule%s, %zu unsupported\n",
                     correlations.rules.size(), correlations.rules.size() == 1 ? "" : "s",
                     unsupported.correlations);
      return run_sigma_command(o, rules, correlations);
    case command::help:
    case command::version:
      break;
  }
  return exit_ok;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace fluxcap_cli;
  if (argc > 1 && is_redis_command(argv[1])) return redis_main(argc, argv);
  options o;
  try {
    o = parse_options(argc, argv);
  } catch (const usage_error& e) {
    return fail(exit_usage, e.what());
  }
  if (o.cmd == command::help || o.help) return write_stdout(help_text(o.cmd));
  if (o.cmd == command::version) return write_stdout(version_text() + "\n");

  try {
    if (!o.rule_paths.empty()) {
      (void)reserve_heap(rules_startup_heap, rules_reader_heap);
      return sigma_command(o);
    }
    const loaded_spec spec = load_spec(o.spec_path);
    switch (o.cmd) {
      case command::check:
        return write_stdout(describe_program(spec));
      case command::graph:
        return write_stdout(dependency_graph(spec));
      case command::run:
        return run_command(o, spec);
      case command::help:
      case command::version:
        break;
    }
    return exit_ok;
  } catch (...) {
    return fail_for_current_exception();
  }
}
