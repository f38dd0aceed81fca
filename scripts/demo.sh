#!/usr/bin/env bash
# Builds fluxcap and runs the main job on the bundled sample data: `scripts/demo.sh`.
# Extra arguments go to the worked-examples program (e.g. --exact).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)" --target worked_examples >/dev/null
./build/release/examples/worked_examples "$@"
