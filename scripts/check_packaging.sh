#!/usr/bin/env bash
# Checks the vcpkg port (packaging/vcpkg/ports/fluxcap) and the Conan recipe
# (packaging/conan/conanfile.py) as far as is possible without vcpkg and Conan:
#   - their files are well-formed, their version is version.hpp's, and the CMake
#     options the script runs below are the ones the portfile and the recipe pass;
#   - the recipe's set_version() and package_info() run (Conan's API stubbed) and name
#     the targets fluxcap::fluxcap and fluxcap::yaml;
#   - the configure + install each of them runs (vcpkg_cmake_configure/_install: build
#     the install target; the recipe's package(): cmake --install --prefix), then the
#     installed layout they expect, then a consumer built against it.
# Not checked: vcpkg's and Conan's own steps (vcpkg_cmake_config_fixup moving the
# package to share/fluxcap, vcpkg_fixup_pkgconfig, CMakeDeps' generated files).
# usage: scripts/check_packaging.sh [WORK_DIR]   (ctest: check_packaging)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$root/build/check_packaging}
cxx=${CXX:-c++}
port=$root/packaging/vcpkg/ports/fluxcap
recipe=$root/packaging/conan/conanfile.py
fail() { echo "FAIL: $*" >&2; exit 1; }
rm -rf "$work" && mkdir -p "$work"

version=$(sed -n 's/^#define FLUXCAP_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$/\2/p' \
  "$root/include/fluxcap/version.hpp" | paste -sd.)
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "no version in version.hpp: '$version'"
have_yaml_cpp=0  # fluxcap::yaml needs yaml-cpp and libyaml
dpkg-query -W -f='${Status}' libyaml-cpp-dev 2>/dev/null | grep -q "install ok installed" &&
  dpkg-query -W -f='${Status}' libyaml-dev 2>/dev/null | grep -q "install ok installed" &&
  have_yaml_cpp=1

# ---- the files -------------------------------------------------------------------
port_version=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["version"]); assert d["features"]["yaml"]["dependencies"]==["libyaml", "yaml-cpp"]' "$port/vcpkg.json")
[ "$port_version" = "$version" ] || fail "vcpkg.json version $port_version, version.hpp $version"
[ -f "$port/usage" ] || fail "no usage file"
# The options the portfile passes (vcpkg_check_features adds FLUXCAP_WITH_YAML=ON|OFF).
vcpkg_options=(-DFLUXCAP_BUILD_TESTS=OFF -DFLUXCAP_BUILD_EXAMPLES=OFF -DFLUXCAP_BUILD_BENCHMARKS=OFF
  -DFLUXCAP_BUILD_FUZZERS=OFF -DFLUXCAP_INSTALL=ON -DFLUXCAP_WITH_PCRE2=OFF)
for o in "${vcpkg_options[@]}" "yaml FLUXCAP_WITH_YAML" "vcpkg_cmake_config_fixup(CONFIG_PATH share/cmake/fluxcap)" \
  "set(VCPKG_BUILD_TYPE release)" 'vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")'; do
  grep -qF -- "$o" "$port/portfile.cmake" || fail "portfile.cmake does not have: $o"
done

# The recipe, with Conan's API stubbed: set_version(), generate()'s cache variables, package_info().
stub=$work/conan_stub
mkdir -p "$stub/conan/tools"
cat >"$stub/conan/__init__.py" <<'PY'
class ConanFile:
    pass
PY
cat >"$stub/conan/tools/__init__.py" <<'PY'
PY
printf 'def check_min_cppstd(*a, **k): pass\n' >"$stub/conan/tools/build.py"
cat >"$stub/conan/tools/cmake.py" <<'PY'
class CMakeToolchain:
    last = None
    def __init__(self, conanfile): self.cache_variables = {}; CMakeToolchain.last = self
    def generate(self): pass
class CMakeDeps:
    def __init__(self, conanfile): pass
    def generate(self): pass
class CMake: pass
def cmake_layout(*a, **k): pass
PY
cat >"$stub/conan/tools/gnu.py" <<'PY'
class PkgConfigDeps:
    def __init__(self, conanfile): pass
    def generate(self): pass
PY
cat >"$stub/conan/tools/files.py" <<'PY'
def load(conanfile, path): return open(path).read()
def copy(*a, **k): pass
def rmdir(*a, **k): pass
PY
conan_out=$(PYTHONPATH=$stub python3 - "$recipe" <<'PY'
import collections, importlib.util, sys, types
spec = importlib.util.spec_from_file_location("conanfile", sys.argv[1])
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
class Info:
    def __init__(self): self.props = {}; self.components = collections.defaultdict(Info); self.requires = []
    def set_property(self, k, v): self.props[k] = v
import os
for yaml in (False, True):
    r = m.FluxcapConan()
    r.recipe_folder = os.path.dirname(sys.argv[1])
    r.options = types.SimpleNamespace(yaml=yaml)
    r.set_version()
    assert r.package_type == "header-library" and r.no_copy_source
    r.generate()
    cv = m.CMakeToolchain.last.cache_variables
    r.cpp_info = Info(); r.package_info()
    c = r.cpp_info.components
    assert r.cpp_info.props["cmake_file_name"] == "fluxcap"
    assert c["core"].props["cmake_target_name"] == "fluxcap::fluxcap"
    assert ("yaml" in c) == yaml
    if yaml:
        assert c["yaml"].props["cmake_target_name"] == "fluxcap::yaml"
        assert c["yaml"].requires == ["core", "yaml-cpp::yaml-cpp", "libyaml::libyaml"]
    print(r.version, " ".join(f"-D{k}={'ON' if v else 'OFF'}" for k, v in sorted(cv.items())))
PY
)
conan_version=$(head -1 <<<"$conan_out" | cut -d' ' -f1)
[ "$conan_version" = "$version" ] || fail "conanfile.py set_version: $conan_version, version.hpp $version"
read -r -a conan_options <<<"$(head -1 <<<"$conan_out" | cut -d' ' -f2-)"
echo "ok: vcpkg.json, portfile options, conanfile.py (version $version; options ${conan_options[*]})"

# ---- vcpkg: vcpkg_cmake_configure + vcpkg_cmake_install (the install target) -------------
features=(OFF)
[ $have_yaml_cpp = 1 ] && features+=(ON)
for yaml in "${features[@]}"; do
  b=$work/vcpkg_$yaml p=$work/vcpkg_$yaml/packages
  cmake -S "$root" -B "$b/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$p" \
    "${vcpkg_options[@]}" -DFLUXCAP_WITH_YAML=$yaml >/dev/null
  cmake --build "$b/build" --target install >/dev/null
  for f in include/fluxcap/fluxcap.hpp include/fluxcap/yaml.hpp include/fluxcap/detail/abi_macros.hpp \
    share/cmake/fluxcap/fluxcap-config.cmake share/cmake/fluxcap/fluxcap-config-version.cmake \
    share/cmake/fluxcap/fluxcap-targets.cmake share/pkgconfig/fluxcap.pc share/doc/fluxcap/LICENSE; do
    [ -f "$p/$f" ] || fail "vcpkg ($yaml): $f not installed"
  done
  [ ! -e "$p/bin" ] && [ ! -e "$p/lib" ] || fail "vcpkg ($yaml): a header-only port installed bin/ or lib/"
  if [ $yaml = ON ]; then
    [ -f "$p/share/cmake/fluxcap/fluxcap-yaml-targets.cmake" ] || fail "vcpkg[yaml]: no fluxcap::yaml"
    cmake -S "$root/tests/consumer" -B "$b/consumer" -DCMAKE_CXX_COMPILER="$cxx" \
      -DCMAKE_PREFIX_PATH="$p" -DFLUXCAP_CONSUMER_YAML=ON >/dev/null
    cmake --build "$b/consumer" >/dev/null
    "$b/consumer/consumer" && "$b/consumer/consumer_yaml"
  else
    [ ! -e "$p/share/cmake/fluxcap/fluxcap-yaml-targets.cmake" ] || fail "vcpkg: fluxcap::yaml without the feature"
  fi
  echo "ok: vcpkg port layout (yaml feature $yaml)"
done

# ---- Conan: package() = configure with generate()'s cache variables, cmake --install,
# LICENSE to licenses/, share/ removed; consumers get include/ (CMakeDeps' includedirs).
b=$work/conan p=$work/conan/package
cmake -S "$root" -B "$b/build" -DCMAKE_BUILD_TYPE=Release "${conan_options[@]}" >/dev/null
cmake --install "$b/build" --prefix "$p" >/dev/null
mkdir -p "$p/licenses" && cp "$root/LICENSE" "$p/licenses/" && rm -rf "$p/share"
[ -f "$p/include/fluxcap/fluxcap.hpp" ] && [ -f "$p/licenses/LICENSE" ] || fail "conan: layout"
left=$(cd "$p" && ls | tr '\n' ' ')
[ "$left" = "include licenses " ] || fail "conan: the package holds more than include/ and licenses/: $left"
"$cxx" -std=c++20 -I "$p/include" "$root/tests/consumer/main.cpp" -o "$b/consumer"
"$b/consumer"
echo "ok: Conan recipe's package() layout, a consumer of its include/"
