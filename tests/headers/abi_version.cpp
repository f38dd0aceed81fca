// Compiled twice into one program (tests/headers/CMakeLists.txt, abi_two_versions):
// once with this fluxcap's headers, once with a copy that says the next minor version.
// FLUXCAP_ABI_TU names the function each copy defines.
#include <fluxcap/fluxcap.hpp>

#include <typeinfo>

struct abi_facts {
  const char* version;         // fluxcap::version_string, through its address
  const void* version_object;  // the inline variable itself: one object per version
  const char* hash_key_type;   // typeid name of fluxcap::hash_key
};

abi_facts FLUXCAP_ABI_TU();
abi_facts FLUXCAP_ABI_TU() {
  return {*&fluxcap::version_string, &fluxcap::version_string, typeid(fluxcap::hash_key).name()};
}
