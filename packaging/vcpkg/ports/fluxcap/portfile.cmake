# fluxcap: header-only (VCPKG_BUILD_TYPE release: nothing differs between debug and release).
# Overlay port built from this source tree:
#   vcpkg install fluxcap[yaml] --overlay-ports=<fluxcap>/packaging/vcpkg/ports
# For a registry, replace SOURCE_PATH by
#   vcpkg_from_github(OUT_SOURCE_PATH SOURCE_PATH REPO <owner>/fluxcap REF "v${VERSION}" SHA512 <sha512>)
# scripts/check_packaging.sh runs the configure and install below with the same options
# (it checks each one appears here) and checks the layout the calls below expect.
set(VCPKG_BUILD_TYPE release)
get_filename_component(SOURCE_PATH "${CMAKE_CURRENT_LIST_DIR}/../../../.." ABSOLUTE)

vcpkg_check_features(OUT_FEATURE_OPTIONS FEATURE_OPTIONS
  FEATURES
    yaml FLUXCAP_WITH_YAML
)

# fluxcap::yaml finds libyaml (its parser) through pkg-config.
vcpkg_find_acquire_program(PKGCONFIG)

vcpkg_cmake_configure(
  SOURCE_PATH "${SOURCE_PATH}"
  OPTIONS
    "-DPKG_CONFIG_EXECUTABLE=${PKGCONFIG}"
    -DFLUXCAP_BUILD_TESTS=OFF
    -DFLUXCAP_BUILD_EXAMPLES=OFF
    -DFLUXCAP_BUILD_BENCHMARKS=OFF
    -DFLUXCAP_BUILD_FUZZERS=OFF
    -DFLUXCAP_INSTALL=ON
    # The PCRE2 adapter (fluxcap::sigma_pcre2) is not offered by this port yet: no feature
    # declares libpcre2, so it must not be installed because the build machine has it.
    -DFLUXCAP_WITH_PCRE2=OFF
    ${FEATURE_OPTIONS}
)
vcpkg_cmake_install()
vcpkg_cmake_config_fixup(CONFIG_PATH share/cmake/fluxcap)
vcpkg_fixup_pkgconfig()

# The license is installed as share/fluxcap/copyright below.
file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/share/doc")
file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
