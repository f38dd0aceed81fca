// Fuzz target: the YAML/JSON spec reader (both spec forms, with conditions) on
// arbitrary text. A spec either throws spec_error or compiles. Each input is read
// twice: with the default limits, and with small node and expanded-byte limits, so
// that inputs of a few hundred bytes with anchors and aliases reach the alias-bomb
// bound (detail::load_documents) as well as the reader behind it. The trees that
// load_documents builds in its one pass are also checked against a naive reading of
// libyaml's events (tests/yaml/yaml_tree_equal.hpp), with and without dropping them past
// a tiny tree budget.
#include <fluxcap/program.hpp>
#include <fluxcap/yaml.hpp>

#include "../yaml/yaml_tree_equal.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

void check_trees(std::string_view text) {
  using fluxcap::detail::load_documents;
  using limit = fluxcap::detail::yaml_scan::limit;
  fluxcap::detail::yaml_documents once, dropped;
  try {
    once = load_documents(text, {1, 5000, 1U << 20, false});
  } catch (const YAML::Exception& e) {
    // A syntax error or an unknown anchor: the naive reading of what load_documents reads
    // (the first document, up to the next one's start) must fail too. Past a bound of our
    // own (nesting, directives), the text must indeed pass it.
    const auto reference = yaml_test::read_reference(text, 1);
    const bool nesting = e.msg.starts_with("collections nested deeper");
    const bool directives =
        e.msg.starts_with("more than ") && e.msg.ends_with("directives; limit)");
    const bool ok = nesting
                        ? reference.max_depth > fluxcap::detail::libyaml_events::default_max_depth
                        : directives || !reference.ok;
    if (!ok) {
      std::fprintf(stderr, "load_documents failed (%s) where the naive reading did not\n",
                   e.msg.c_str());
      std::abort();
    }
    return;
  }
  dropped = load_documents(text, {1, 5000, 1U << 20, false, 2});
  if (once.exceeded != dropped.exceeded || once.roots.size() != dropped.roots.size() ||
      once.where.pos != dropped.where.pos) {
    std::fprintf(stderr, "load_documents differs past the tree budget\n");
    std::abort();
  }
  if (once.exceeded == limit::nodes || once.exceeded == limit::expanded_bytes) return;
  // The same events as load_documents read: the naive reading cannot fail where it did not.
  const auto expected = yaml_test::read_reference(text, 1);
  if (!expected.ok || !expected.marks_agree) {
    std::fprintf(stderr,
                 "the naive reading failed where load_documents did not, or its marks "
                 "disagree with libyaml's on plain ASCII\n");
    std::abort();
  }
  for (const auto* got : {&once, &dropped}) {
    if (got->roots.size() != expected.roots.size()) {
      std::fprintf(stderr, "load_documents read %zu documents, the naive reading %zu\n",
                   got->roots.size(), expected.roots.size());
      std::abort();
    }
    if (got->roots.empty()) continue;
    if (const auto d =
            yaml_test::tree_difference(got->roots.front(), expected, expected.roots.front());
        !d.empty()) {
      std::fprintf(stderr, "load_documents differs from the naive reading: %s\n", d.c_str());
      std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check_trees(text);
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
