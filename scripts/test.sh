#!/usr/bin/env bash
# Builds fluxcap (Release) and runs every test: `scripts/test.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)"
ctest --preset release -j"$(nproc)"
