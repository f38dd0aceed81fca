#!/usr/bin/env bash
# The main job: builds the fluxcap tool and runs it on the bundled sample: Sigma rules and
# raw Sysmon-like process events in (examples/data/sigma/), detections out; then lists
# which events fired which rule. Extra arguments go to `fluxcap run` (e.g. --exact,
# --stats). The lower-level demo (a flux spec over precomputed tags) is in examples/data/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)" --target fluxcap_cli >/dev/null
out=build/release/demo-output.jsonl
data=examples/data/sigma
./build/release/tools/fluxcap/fluxcap run --rules "$data/rules" --profile "$data/profile.yml" "$@" \
  "$data/events.jsonl" | tee "$out"
echo
echo "Detections (full output in $out; what each event exercises: $data/README.md):"
python3 - "$out" <<'PY'
import json, sys
for n, line in enumerate(open(sys.argv[1]), 1):
    e = json.loads(line)
    image = str(e.get("Image", "")).split("\\")[-1]
    fired = ", ".join(d.removeprefix("fluxcap-demo-") for d in e.get("detections", [])) or "-"
    print(f"  {n:2}  {e.get('Hostname', ''):<6} {image:<16} {fired}")
PY
