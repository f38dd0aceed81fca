#!/usr/bin/env bash
# Runs clang-tidy (checks in .clang-tidy, which clang-tidy finds by itself) over every
# public header, through the header-check translation units, and the examples and the
# command-line tool. Prints the findings; exits 1 when there is one or clang-tidy fails.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build/tidy -DCMAKE_EXPORT_COMPILE_COMMANDS=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build/tidy --target fluxcap_header_check >/dev/null
files=(build/tidy/tests/headers/header_*.cpp examples/*.cpp tools/fluxcap/*.cpp)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# run-clang-tidy (Debian 12: version 14) exits non-zero on an unknown option or a file
# it cannot process: that must fail this script, not read as "no finding".
if ! run-clang-tidy -quiet -extra-arg=-Wno-unknown-warning-option -p build/tidy \
  -header-filter="$PWD/include/fluxcap/.*" "${files[@]}" >"$log" 2>&1; then
  findings=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '(warning|error):' | sort -u || true)
  if [ -z "$findings" ]; then
    tail -20 "$log"
    echo "tidy: clang-tidy failed" >&2
    exit 1
  fi
fi
findings=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '(warning|error):' | sort -u || true)
if [ -n "$findings" ]; then
  echo "$findings"
  exit 1
fi
echo "tidy: ${#files[@]} files, no finding"
