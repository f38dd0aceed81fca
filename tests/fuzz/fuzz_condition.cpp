// Fuzz target: the post-flux condition parser and evaluator on arbitrary text.
// Parsing either throws condition_error or yields a condition whose to_string()
// reparses to the same text; evaluation never crashes. Binding: the bound
// condition answers as `evaluate` on the same tags, and when it is true some slot
// of its witness (if it has one) is true.
#include <fluxcap/condition.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

/// The tags of the event: every tag the condition names, plus three of rule `r`;
/// slot i is tags[i]. Every tag is present, so `bind` must agree with `evaluate`.
struct tag_universe {
  std::vector<std::pair<std::string_view, std::string_view>> tags;  // rule, tag

  std::optional<std::uint32_t> resolve(std::string_view rule, std::string_view name) const {
    for (std::size_t i = 0; i < tags.size(); ++i)
      if (tags[i].first == rule && tags[i].second == name) return static_cast<std::uint32_t>(i);
    return std::nullopt;
  }
  std::vector<std::uint32_t> select(std::string_view rule, std::string_view pattern) const {
    std::vector<std::uint32_t> out;
    for (std::size_t i = 0; i < tags.size(); ++i)
      if (tags[i].first == rule && fluxcap::detail::pattern_selects(pattern, tags[i].second))
        out.push_back(static_cast<std::uint32_t>(i));
    return out;
  }
};

void check_bound(const fluxcap::condition& c, std::uint64_t seed) {
  tag_universe universe{{{"r", "selection"}, {"r", "filter_a"}, {"r", "_hidden"}}};
  for (const auto& ref : c.references())
    if (!ref.pattern && !universe.resolve(ref.rule, ref.name))
      universe.tags.emplace_back(ref.rule, ref.name);
  fluxcap::bound_condition bound;
  try {
    bound = c.bind(universe);
  } catch (const fluxcap::condition_error&) {
    std::abort();  // every name is in the universe
  }
  const auto witness = bound.witness([](std::uint32_t slot) { return slot % 3; });
  const auto n = universe.tags.size();
  for (std::uint64_t round = 0; round < 4; ++round) {
    const auto on = [&](std::size_t slot) {
      return ((seed >> ((slot * 7 + round * 13) % 64)) & 1U) != 0 || (round == 3 && slot % 2 == 0);
    };
    const auto lookup = [&](std::string_view rule, std::string_view tag) {
      const auto slot = universe.resolve(rule, tag);
      return slot && on(*slot);
    };
    const auto for_each_tag = [&](std::string_view rule, auto&& fn) {
      for (std::size_t i = 0; i < n; ++i)
        if (universe.tags[i].first == rule) fn(universe.tags[i].second, on(i));
    };
    const bool expected = c.evaluate(lookup, for_each_tag);
    if (bound.evaluate([&](std::uint32_t slot) { return slot < n && on(slot); }) != expected)
      std::abort();
    if (expected && witness) {
      bool some = false;
      for (const auto s : *witness) some = some || on(s);
      if (!some) std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::uint64_t seed = 0x9e3779b97f4a7c15ULL;
  for (const auto byte : text) seed = (seed ^ static_cast<unsigned char>(byte)) * 0x100000001b3ULL;
  for (const std::string_view default_rule : {std::string_view{}, std::string_view{"r"}}) {
    try {
      const auto c = fluxcap::condition::parse(text, default_rule);
      const std::string normal = c.to_string();
      if (fluxcap::condition::parse(normal).to_string() != normal) std::abort();
      // Every tag true whose name has an odd length; three tags per rule.
      const auto lookup = [](std::string_view, std::string_view tag) {
        return tag.size() % 2 == 1;
      };
      const auto for_each_tag = [](std::string_view, auto&& fn) {
        fn(std::string_view("selection"), true);
        fn(std::string_view("filter_a"), false);
        fn(std::string_view("_hidden"), true);
      };
      (void)c.evaluate(lookup, for_each_tag);
      check_bound(c, seed);
      // bind_names over a fixed list: either binds or names what is unknown.
      static const std::vector<std::string> names{"selection", "filter_a", "_hidden", "a.b"};
      try {
        const auto by_name = c.bind_names(names);
        for (const auto s : by_name.slots())
          if (s >= names.size()) std::abort();
        (void)by_name.evaluate([&](std::uint32_t slot) { return (seed >> (slot % 64) & 1U) != 0; });
      } catch (const fluxcap::condition_error& e) {
        if (e.message().rfind("unknown name '", 0) != 0) std::abort();
      }
    } catch (const fluxcap::condition_error&) {
    }
  }
  return 0;
}
