// Plugging fluxcap into an application's own event type.
//
// The application keeps its events as it likes (here: a struct with string
// columns and a bit mask of detection flags). An accessor tells fluxcap how to
// find a tag and a column, once, and how to read and write them per event.
#include <fluxcap/fluxcap.hpp>

#include <array>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

struct process_event {
  std::string host, id, parent_id, image;
  std::uint64_t flags = 0;  // bit i: detection i of `catalogue` matched (pre-flux)
};

// The application's catalogue of detection tags, "rule.tag" -> bit.
constexpr std::array<std::string_view, 3> catalogue = {
    "susp_child.parent_is_office", "susp_child.child_is_shell", "lineage.ancestor_is_office"};

struct process_accessor {
  using event_type = process_event;
  using tag_handle = std::uint64_t;                    // the flag's bit mask
  using column_handle = std::string process_event::*;  // which member

  // Bind time (once per flux_capacitor): names to handles. Throwing rejects the spec.
  [[nodiscard]] tag_handle tag_handle_for(std::string_view rule, std::string_view tag) const {
    for (std::size_t i = 0; i < catalogue.size(); ++i)
      if (catalogue[i].size() == rule.size() + 1 + tag.size() && catalogue[i].starts_with(rule) &&
          catalogue[i][rule.size()] == '.' && catalogue[i].ends_with(tag))
        return std::uint64_t{1} << i;
    throw std::invalid_argument("no flag for " + std::string(rule) + "." + std::string(tag));
  }
  [[nodiscard]] column_handle column_handle_for(std::string_view column) const {
    if (column == "id") return &process_event::id;
    if (column == "parent_id") return &process_event::parent_id;
    throw std::invalid_argument("no column " + std::string(column));
  }

  // Per event: no lookups, no allocation.
  [[nodiscard]] bool get_tag(const process_event& e, tag_handle t) const { return e.flags & t; }
  void set_tag(process_event& e, tag_handle t, bool v) const {
    e.flags = v ? e.flags | t : e.flags & ~t;
  }
  [[nodiscard]] std::optional<std::string_view> get_column(const process_event& e,
                                                           column_handle c) const {
    const std::string& v = e.*c;
    return v.empty() ? std::nullopt : std::optional<std::string_view>(v);
  }
};
static_assert(fluxcap::event_accessor<process_accessor>);

int main() {
  using namespace fluxcap;
  const spec rules{parent_rule("susp_child", "parent_id", "id", {"parent_is_office"}),
                   ancestor_rule("lineage", "parent_id", "id", {"ancestor_is_office"})};
  flux_capacitor<process_accessor, bloom_memory> cap(compile(rules), process_accessor{});
  in_memory_state_store<group_state> hosts(cap.make_state());

  process_event events[] = {
      {"ws1", "10", "1", "winword.exe", 0b101},  // office: parent_is_office, ancestor_is_office
      {"ws1", "11", "10", "cmd.exe", 0b010},     // shell whose parent is office
      {"ws1", "12", "11", "powershell.exe", 0b010},
      {"ws2", "11", "10", "cmd.exe", 0b010},  // another host: sees nothing of ws1
  };
  for (auto& e : events) {
    cap.update(hosts.find_or_create(e.host), e);
    const bool alert = (e.flags & 0b011) == 0b011;  // post-flux: shell child of office
    std::printf("%s %-15s parent_is_office=%d child_is_shell=%d ancestor_is_office=%d%s\n",
                e.host.c_str(), e.image.c_str(), int(e.flags & 1), int((e.flags >> 1) & 1),
                int((e.flags >> 2) & 1), alert ? "  ALERT" : "");
  }
}
