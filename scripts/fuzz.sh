#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) and runs each for a while on a
# copy of its seed corpus (tests/fuzz/corpus/<target>/): `scripts/fuzz.sh [SECONDS]
# [TARGET...]` (default 60 s each, every target). Fails on the first finding and
# prints the input that triggered it. Reference: docs/reliability.md.
#
#   FLUXCAP_FUZZ_BUILD_DIR  build directory (default build/fuzz)
#   FLUXCAP_FUZZ_MERGE=1    merge the inputs that add coverage into the repo's corpora
#   FLUXCAP_FUZZ_SEED=N     libFuzzer's random seed (default: a new one each run; CI pins
#                           it so that a run explores the same inputs every time)
set -euo pipefail
cd "$(dirname "$0")/.."
FLUXCAP_EXTRA_PACKAGES="clang libclang-rt-14-dev ${FLUXCAP_EXTRA_PACKAGES:-}"
source scripts/deps.sh

seconds=${1:-60}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(state_decode condition update_differential event_time spec_yaml jsonl
  sigma_rule sigma_glob sigma_regex sigma_literals sigma_fields sigma_match bounded_window
  sigma_correlation correlation_state sigma_run)
build=${FLUXCAP_FUZZ_BUILD_DIR:-build/fuzz}

CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFLUXCAP_BUILD_FUZZERS=ON \
  >/dev/null
cmake --build "$build" -j"$(nproc)" --target "${targets[@]/#/fuzz_}" >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in "${targets[@]}"; do
  corpus=tests/fuzz/corpus/$t
  mkdir -p "$work/$t" "$work/$t-artifacts"
  cp "$corpus"/* "$work/$t/"
  dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=("-dict=tests/fuzz/$t.dict")
  log=$work/$t.log
  seed=()
  [ -n "${FLUXCAP_FUZZ_SEED:-}" ] && seed=("-seed=$FLUXCAP_FUZZ_SEED")
  if ! "$build/tests/fuzz/fuzz_$t" "${dict[@]}" "${seed[@]}" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/$t-artifacts/" \
    "$work/$t" >"$log" 2>&1; then
    tail -40 "$log"
    for a in "$work/$t-artifacts"/*; do
      [ -f "$a" ] || continue
      mkdir -p "$build/fuzz-findings"
      cp "$a" "$build/fuzz-findings/"
      echo "fuzz_$t: finding saved as $build/fuzz-findings/$(basename "$a")"
    done
    echo "fuzz_$t: FAILED"
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  echo "fuzz_$t: $runs executions in ${seconds} s, no finding"
  if [ "${FLUXCAP_FUZZ_MERGE:-0}" = 1 ]; then
    "$build/tests/fuzz/fuzz_$t" -merge=1 "${dict[@]}" "$corpus" "$work/$t" >/dev/null 2>&1
    echo "fuzz_$t: corpus now $(ls "$corpus" | wc -l) files, $(du -sh "$corpus" | cut -f1)"
  fi
done
