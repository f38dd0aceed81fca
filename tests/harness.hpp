// Test harness: runs events written as sets of "rule.tag" names through a flux
// capacitor over dense events, one group, and returns the "rule.tag" names that
// are true afterwards. Includes test_util.hpp, the helpers several test files share.
#pragma once

#include <fluxcap/fluxcap.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "test_util.hpp"

namespace fluxcap_test {

using tag_set = std::set<std::string>;
using columns = std::map<std::string, std::optional<std::string>>;

template <class Memory>
class harness {
 public:
  explicit harness(const fluxcap::spec& s, fluxcap::memory_config config = {})
      : schema_(fluxcap::compile(s)),
        cap_(fluxcap::compile(s), fluxcap::dense_accessor(schema_), Memory(config)),
        state_(cap_.make_state()) {}

  /// One event of the group: tags true on input ("rule.tag"), and column values.
  tag_set run(const tag_set& in, const columns& cols = {}) {
    for (const auto& t : in) {
      const auto dot = t.find('.');
      schema_.add_tag(t.substr(0, dot), t.substr(dot + 1));
    }
    fluxcap::dense_event e(schema_);
    for (const auto& t : in) {
      const auto dot = t.find('.');
      e.set_tag(*schema_.tag_index(t.substr(0, dot), t.substr(dot + 1)), true);
    }
    for (const auto& [name, value] : cols)
      if (auto i = schema_.column_index(name))
        e.set_column(*i, value ? std::optional<std::string_view>(*value) : std::nullopt);
    cap_.update(state_, e);
    tag_set out;
    for (std::size_t i = 0; i < schema_.tag_count(); ++i)
      if (e.tag(i)) out.insert(schema_.tag_name(i).first + "." + schema_.tag_name(i).second);
    return out;
  }

  fluxcap::group_state& state() { return state_; }
  const auto& capacitor() const { return cap_; }

 private:
  fluxcap::dense_schema schema_;
  fluxcap::flux_capacitor<fluxcap::dense_accessor, Memory> cap_;
  fluxcap::group_state state_;
};

}  // namespace fluxcap_test
