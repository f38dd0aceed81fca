// Compiles and runs against an installed or embedded fluxcap.
#include <fluxcap/fluxcap.hpp>
#include <fluxcap/yaml.hpp>

int main() {
  const auto doc = fluxcap::yaml::parse_spec_string(
      "rules:\n  - rulename: r\n    action: parent\n    parent: p\n    child: c\n    tags: [t]\n");
  const fluxcap::program prog = fluxcap::compile(doc.spec);
  fluxcap::dense_schema schema(prog);
  const fluxcap::flux_capacitor<fluxcap::dense_accessor> cap(prog, fluxcap::dense_accessor(schema));
  auto state = cap.make_state();
  fluxcap::dense_event parent(schema);
  parent.set_tag(0, true);
  parent.set_column(*schema.column_index("c"), "1");
  cap.update(state, parent);
  fluxcap::dense_event child(schema);
  child.set_column(*schema.column_index("p"), "1");
  cap.update(state, child);
  return child.tag(0) ? 0 : 1;
}
