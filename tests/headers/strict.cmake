# ctest driver: cmake -DCXX=<compiler> -DSOURCE_DIR=<tree> -DHAVE_YAML=ON|OFF -DWORK=<dir>
#   -P strict.cmake
# 1. strict.cpp (every header, the templates instantiated for each memory) compiles with
#    plain -I include and -Wall -Wextra -Wpedantic -Wconversion -Werror, -std=c++20;
# 2. a -std=c++17 compile of <fluxcap/fluxcap.hpp> stops at once with fluxcap's message.
# Prints "SKIPPED:" (ctest: skipped) when the compiler is not installed.
cmake_minimum_required(VERSION 3.21)
if(NOT EXISTS "${CXX}")
  message("SKIPPED: compiler '${CXX}' not found")
  return()
endif()
set(flags -Wall -Wextra -Wpedantic -Wconversion -Werror)
string(REPLACE ";" " " flags_text "${flags}")
set(defines)
if(HAVE_YAML)
  set(defines -DFLUXCAP_STRICT_YAML)
endif()
execute_process(
  COMMAND ${CXX} -std=c++20 -I ${SOURCE_DIR}/include ${flags} ${defines} -fsyntax-only
          ${SOURCE_DIR}/tests/headers/strict.cpp
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0 OR NOT out STREQUAL "")
  message(FATAL_ERROR "${CXX} -std=c++20 ${flags_text}: not clean (exit ${rc}):\n${out}")
endif()
message(STATUS "${CXX} -std=c++20 -I include ${flags_text}: clean")

file(MAKE_DIRECTORY ${WORK})
file(WRITE ${WORK}/cxx17.cpp "#include <fluxcap/fluxcap.hpp>\nint main() { return 0; }\n")
execute_process(COMMAND ${CXX} -std=c++17 -I ${SOURCE_DIR}/include -fsyntax-only ${WORK}/cxx17.cpp
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
string(REGEX MATCHALL "error:" errors "${out}")
list(LENGTH errors error_count)
# The #error, and the missing include that stops GCC and clang right after it.
if(rc EQUAL 0 OR NOT out MATCHES "fluxcap needs C\\+\\+20 \\(-std=c\\+\\+20" OR error_count GREATER 2)
  message(FATAL_ERROR "${CXX} -std=c++17: expected one clear error (exit ${rc}, ${error_count} errors):\n${out}")
endif()
message(STATUS "${CXX} -std=c++17: stops with fluxcap's message")
