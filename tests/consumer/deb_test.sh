#!/usr/bin/env bash
# ctest: deb_test.sh SOURCE_DIR WORK_DIR CXX VERSION
# Builds the Debian package libfluxcap-dev from the tree (`cpack -G DEB`), checks its
# control fields and contents, installs it with `dpkg -i`, builds and runs consumers
# with find_package (from /usr, no hint) and with pkg-config, and removes it (`dpkg -r`).
# Needs root (CI runs as root on a throwaway machine): prints SKIPPED otherwise, and
# when a libfluxcap-dev is already installed (it is not replaced).
set -euo pipefail
src=$1 work=$2 cxx=$3 version=$4
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIPPED: not root (dpkg -i needs root)"
  exit 0
fi
if dpkg-query -W -f='${Status}' libfluxcap-dev 2>/dev/null | grep -q "install ok installed"; then
  echo "SKIPPED: a libfluxcap-dev is installed already; the test does not replace it"
  exit 0
fi
fail() { echo "FAIL: $*" >&2; exit 1; }
rm -rf "$work" && mkdir -p "$work"

# The package, as a packager builds it: no test, no tool, nothing compiled.
cmake -S "$src" -B "$work/fluxcap" -DFLUXCAP_BUILD_TESTS=OFF -DFLUXCAP_BUILD_EXAMPLES=OFF >/dev/null
(cd "$work/fluxcap" && cpack -G DEB >/dev/null)
deb=$work/fluxcap/libfluxcap-dev_${version}_all.deb
[ -f "$deb" ] || fail "no $deb: $(ls "$work/fluxcap")"

field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = libfluxcap-dev ] || fail "Package: $(field Package)"
[ "$(field Version)" = "$version" ] || fail "Version: $(field Version)"
[ "$(field Architecture)" = all ] || fail "Architecture: $(field Architecture)"
[ -z "$(field Depends)" ] || fail "the core needs nothing, yet Depends: $(field Depends)"
field Suggests | grep -q libyaml-cpp-dev || fail "Suggests: $(field Suggests)"
field Suggests | grep -q 'libyaml-dev' || fail "Suggests: $(field Suggests)"
field Suggests | grep -q libpcre2-dev || fail "Suggests: $(field Suggests)"
contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in ./usr/include/fluxcap/fluxcap.hpp ./usr/include/fluxcap/detail/abi_macros.hpp \
  ./usr/share/cmake/fluxcap/fluxcap-config.cmake ./usr/share/cmake/fluxcap/fluxcap-config-version.cmake \
  ./usr/share/cmake/fluxcap/fluxcap-targets.cmake ./usr/share/pkgconfig/fluxcap.pc; do
  grep -qx "$f" <<<"$contents" || fail "$f is not in the package"
done
if grep -q '^\./usr/bin' <<<"$contents"; then fail "the package holds the tool: $contents"; fi

trap 'dpkg -r libfluxcap-dev >/dev/null || echo "could not remove libfluxcap-dev" >&2' EXIT
dpkg -i "$deb" >/dev/null

# CMake, from the system prefix (no CMAKE_PREFIX_PATH), asking for this minor version.
minor_version=${version%.*}
cmake -S "$src/tests/consumer" -B "$work/cmake" -DCMAKE_CXX_COMPILER="$cxx" \
  -DFLUXCAP_CONSUMER_VERSION="$minor_version" >/dev/null
cmake --build "$work/cmake" >/dev/null
"$work/cmake/consumer"
grep -q "fluxcap_DIR:PATH=/usr/share/cmake/fluxcap" "$work/cmake/CMakeCache.txt" ||
  fail "find_package did not use the package: $(grep fluxcap_DIR "$work/cmake/CMakeCache.txt")"
if [ -f /usr/share/cmake/fluxcap/fluxcap-yaml-targets.cmake ] &&
  dpkg-query -W -f='${Status}' libyaml-cpp-dev 2>/dev/null | grep -q "install ok installed" &&
  dpkg-query -W -f='${Status}' libyaml-dev 2>/dev/null | grep -q "install ok installed"; then
  cmake -S "$src/tests/consumer" -B "$work/cmake_yaml" -DCMAKE_CXX_COMPILER="$cxx" \
    -DFLUXCAP_CONSUMER_VERSION="$minor_version" -DFLUXCAP_CONSUMER_YAML=ON >/dev/null
  cmake --build "$work/cmake_yaml" >/dev/null
  "$work/cmake_yaml/consumer_yaml"
  echo "ok: find_package(fluxcap $minor_version COMPONENTS yaml) from the package"
fi
echo "ok: find_package(fluxcap $minor_version) from the package"

# pkg-config, from the system's search path.
[ "$(pkg-config --modversion fluxcap)" = "$version" ] || fail "pkg-config --modversion fluxcap"
# shellcheck disable=SC2046
"$cxx" -std=c++20 $(pkg-config --cflags fluxcap) "$src/tests/consumer/main.cpp" -o "$work/pc_consumer"
"$work/pc_consumer"
echo "ok: c++ -std=c++20 \$(pkg-config --cflags fluxcap) from the package"
