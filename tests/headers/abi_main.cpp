// Two fluxcap versions in one binary do not mix silently: their inline functions,
// variables and types are different entities (fluxcap::v0_2 vs fluxcap::v0_3), where
// without the inline namespace the linker would keep one version's definitions for
// both (an ODR violation nothing reports).
#include <cstdio>
#include <cstring>

struct abi_facts {
  const char* version;
  const void* version_object;
  const char* hash_key_type;
};
abi_facts abi_this_version();
abi_facts abi_next_version();

int main() {
  const abi_facts a = abi_this_version();
  const abi_facts b = abi_next_version();
  std::printf("this: %s %s\nnext: %s %s\n", a.version, a.hash_key_type, b.version, b.hash_key_type);
  const bool ok = a.version_object != b.version_object && std::strcmp(a.version, b.version) != 0 &&
                  std::strcmp(a.hash_key_type, b.hash_key_type) != 0;
  return ok ? 0 : 1;
}
