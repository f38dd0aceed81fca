#!/usr/bin/env bash
# The main job: builds the fluxcap tool and runs it on the bundled sample data
# (examples/data/), then summarises which events fired which detection.
# Extra arguments go to `fluxcap run` (e.g. --exact, --stats).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)" --target fluxcap_cli >/dev/null
out=build/release/demo-output.jsonl
./build/release/tools/fluxcap/fluxcap run --spec examples/data/spec.yaml --group-key host "$@" \
  examples/data/events.jsonl | tee "$out"
echo
echo "Detections (full output in $out; what each event exercises: examples/data/README.md):"
python3 - "$out" <<'PY'
import json, sys
for n, line in enumerate(open(sys.argv[1]), 1):
    e = json.loads(line)
    image = str(e.get("Image", "")).split("\\")[-1]
    fired = ", ".join(e.get("detections", [])) or "-"
    print(f"  {n:2}  {e.get('host', ''):<11} {str(e.get('id', '')):>5}  {image:<28} {fired}")
PY
