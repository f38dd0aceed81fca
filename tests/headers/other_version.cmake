# cmake -DSOURCE_DIR=<tree> -DOUT=<dir> -P other_version.cmake: a copy of the headers
# whose version.hpp says one minor version more (for the abi_two_versions test).
file(REMOVE_RECURSE ${OUT}/fluxcap)
file(COPY ${SOURCE_DIR}/include/fluxcap DESTINATION ${OUT})
file(READ ${OUT}/fluxcap/version.hpp text)
if(NOT text MATCHES "#define FLUXCAP_VERSION_MINOR ([0-9]+)")
  message(FATAL_ERROR "no FLUXCAP_VERSION_MINOR in version.hpp")
endif()
math(EXPR other "${CMAKE_MATCH_1} + 1")
string(REGEX REPLACE "#define FLUXCAP_VERSION_MINOR [0-9]+" "#define FLUXCAP_VERSION_MINOR ${other}"
       text "${text}")
file(WRITE ${OUT}/fluxcap/version.hpp "${text}")
