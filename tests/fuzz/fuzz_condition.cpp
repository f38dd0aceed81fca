// Fuzz target: the post-flux condition parser and evaluator on arbitrary text.
// Parsing either throws condition_error or yields a condition whose to_string()
// reparses to the same text; evaluation never crashes.
#include <fluxcap/condition.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
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
    } catch (const fluxcap::condition_error&) {
    }
  }
  return 0;
}
