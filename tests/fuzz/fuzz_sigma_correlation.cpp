// Fuzz target: Sigma correlation rules (fluxcap/sigma/yaml.hpp read_rule_set,
// fluxcap/sigma/correlation*.hpp) on arbitrary text. Properties: read_rule_set returns a
// linked rule set or throws sigma_error whose line lies within the input; every set that
// reads compiles, builds a correlation engine (unsupported correlations carry a reason)
// and runs a stream of events derived from the input, with every detection rule
// reported on every event, without a crash, and with small caps (groups, window events)
// that are never exceeded. The input's bytes are also loaded as saved exact windows,
// which must return a window or nullopt (never UB). Any other exception is a finding.
#include <fluxcap/sigma/compile.hpp>
#include <fluxcap/sigma/correlation_engine.hpp>
#include <fluxcap/sigma/yaml.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace fs = fluxcap::sigma;

void run_engine(const fs::rule_set& set, std::string_view text) {
  fs::profile p;
  p.name = "fuzz";
  p.group = "host";
  p.process_id = "pid";
  p.parent_id = "ppid";
  p.timestamp = "ts";
  const auto compiled = fs::compile(set.rules, p, {}, fs::no_regex{});
  fs::correlation_options options;
  options.max_groups = 8;
  options.max_window_events = 16;
  fs::correlation_engine<fs::dense_fields> engine(set.correlations, compiled, p, fs::dense_fields{},
                                                  options,
                                                  fluxcap::default_hash(fluxcap::hash_key{1, 2}));
  for (std::size_t c = 0; c < set.correlations.size(); ++c) (void)engine.unsupported_reason(c);
  // Every name a correlation reads, set to one of three values chosen by the input.
  std::vector<std::string> names;
  for (const auto& c : set.correlations) {
    names.insert(names.end(), c.group_by.begin(), c.group_by.end());
    names.insert(names.end(), c.condition.fields.begin(), c.condition.fields.end());
    for (const auto& a : c.aliases)
      for (const auto& [rule_name, field] : a.fields) names.push_back(field);
  }
  std::vector<std::uint32_t> all(compiled.rules.size());
  for (std::uint32_t j = 0; j < all.size(); ++j) all[j] = j;
  std::int64_t t = 1'000'000;
  for (std::size_t i = 0; i < std::min<std::size_t>(text.size(), 64); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    fs::dense_field_event e;
    if (byte % 13 != 0) {
      // Mostly forward, sometimes back (out of order), by up to 2 minutes.
      t = std::max<std::int64_t>(
          0, t + (byte % 5 == 0 ? -1 : 1) * static_cast<std::int64_t>(byte) * 500);
      const std::string ms = std::to_string(1000 + t % 1000).substr(1);
      e.set("ts", std::to_string(t / 1000) + "." + ms, fs::value_kind::number);
    }
    for (std::size_t n = 0; n < names.size(); ++n)
      if ((byte >> (n % 8)) & 1U) e.set(names[n], std::to_string((byte + n) % 3));
    const auto subset =
        std::span<const std::uint32_t>(all).first(all.empty() ? 0 : (byte % (all.size() + 1)));
    for (const auto c : engine.process(subset, e))
      if (c >= set.correlations.size()) std::abort();
    if (engine.live_groups() > options.max_groups) std::abort();
  }
}

template <class W>
void load_window(std::string_view bytes) {
  const fs::window_params params{60'000, 64, 16};
  std::string_view in = bytes;
  if (auto w = W::load(in, params)) {
    std::string out;
    w->save(out);
    if (w->events().size() > params.max_events) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
  load_window<fs::exact_count_window>(text);
  load_window<fs::exact_distinct_window>(text);
  load_window<fs::exact_value_window>(text);
  fs::rule_read_limits small;
  small.max_documents = 8;
  small.max_values_per_item = 8;
  small.max_nodes = 256;
  small.max_expanded_bytes = 2048;
  try {
    const auto set = fs::read_rule_set(text, "fuzz.yml", small);
    for (const auto& c : set.correlations)
      if (c.resolved.size() != c.rules.size() || c.where.line > lines || c.timespan_ms <= 0)
        std::abort();
    try {
      run_engine(set, text);
    } catch (const fs::sigma_error& e) {
      // compile may reject the detection rules, with a place in the input.
      if (e.where().file != "fuzz.yml" || e.where().line > lines) std::abort();
    }
  } catch (const fs::sigma_error& e) {
    if (e.where().file != "fuzz.yml" || e.where().line > lines) {
      std::fprintf(stderr, "error outside the input (%zu lines): %s\n", lines, e.what());
      std::abort();
    }
  }
  return 0;
}
