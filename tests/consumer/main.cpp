// A consumer of the dependency-free core: compiles and runs against an installed,
// embedded, fetched or Debian-packaged fluxcap (tests/consumer/run.cmake).
#include <fluxcap/fluxcap.hpp>

#include <cstring>
#include <typeinfo>

// The versioned inline namespace is there, and named after the version macros.
static_assert(FLUXCAP_VERSION_MAJOR == fluxcap::version_major);
#define FLUXCAP_CONSUMER_STR_EX(x) #x
#define FLUXCAP_CONSUMER_STR(x) FLUXCAP_CONSUMER_STR_EX(x)

int main() {
  const fluxcap::program prog =
      fluxcap::compile(fluxcap::spec{fluxcap::parent_rule("r", "p", "c", {"t"})});
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
  // Symbols carry the version: fluxcap::v0_2::hash_key, never a bare fluxcap::hash_key.
  const bool versioned = std::strstr(typeid(fluxcap::hash_key).name(),
                                     FLUXCAP_CONSUMER_STR(FLUXCAP_ABI_NAMESPACE)) != nullptr;
  return child.tag(0) && versioned ? 0 : 1;
}
