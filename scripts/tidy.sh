#!/usr/bin/env bash
# Runs clang-tidy (checks in .clang-tidy) over every public header, through the
# header-check translation units, and the examples.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build/tidy -DCMAKE_EXPORT_COMPILE_COMMANDS=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build/tidy --target fluxcap_header_check >/dev/null
files=$(ls build/tidy/tests/headers/header_*.cpp) 
run-clang-tidy -quiet -extra-arg=-Wno-unknown-warning-option -p build/tidy -header-filter="$PWD/include/fluxcap/.*" $files examples/*.cpp -config-file=.clang-tidy 2>/dev/null | grep -E '(warning|error):' | sort -u
