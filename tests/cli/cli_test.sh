#!/usr/bin/env bash
# End-to-end tests of the fluxcap command-line tool: runs the built binary and checks
# exact standard output, exit statuses and standard error messages.
#
#   tests/cli/cli_test.sh PATH/TO/fluxcap [SOURCE_DIR]
#
# Registered with ctest as `fluxcap_cli` (tests/cli/CMakeLists.txt).
set -uo pipefail

FLUXCAP=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$(cd "${2:-$(dirname "$0")/../..}" && pwd)
DATA=$SRC/tests/cli/data
GOLDEN=$SRC/tests/cli/golden
DEMO=$SRC/examples/data

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1

FAILED=0
PASSED=0
CASE=""

fail() {
  echo "FAIL [$CASE]: $*" >&2
  FAILED=$((FAILED + 1))
}

# run ARGS...: runs fluxcap; stdout in $WORK/out, stderr in $WORK/err, status in $RC.
run() {
  "$FLUXCAP" "$@" >"$WORK/out" 2>"$WORK/err"
  RC=$?
}
# run_in FILE ARGS...: the same with FILE as standard input.
run_in() {
  local input=$1
  shift
  "$FLUXCAP" "$@" <"$input" >"$WORK/out" 2>"$WORK/err"
  RC=$?
}

expect_rc() {
  if [ "$RC" != "$1" ]; then
    fail "exit status $RC, expected $1; stderr: $(cat "$WORK/err")"
    return 1
  fi
  PASSED=$((PASSED + 1))
}
# expect_out FILE: stdout must equal FILE byte for byte.
expect_out() {
  if ! cmp -s "$1" "$WORK/out"; then
    fail "standard output differs from $1:"$'\n'"$(diff -u "$1" "$WORK/out" | head -40)"
    return 1
  fi
  PASSED=$((PASSED + 1))
}
# expect_out_text TEXT: stdout must equal TEXT (a trailing newline is added).
expect_out_text() {
  printf '%s\n' "$1" >"$WORK/expected"
  expect_out "$WORK/expected"
}
expect_no_out() {
  if [ -s "$WORK/out" ]; then
    fail "standard output should be empty, got: $(head -c 300 "$WORK/out")"
    return 1
  fi
  PASSED=$((PASSED + 1))
}
# expect_err TEXT: stderr must equal TEXT (a trailing newline is added).
expect_err() {
  printf '%s\n' "$1" >"$WORK/expected_err"
  if ! cmp -s "$WORK/expected_err" "$WORK/err"; then
    fail "standard error differs:"$'\n'"$(diff -u "$WORK/expected_err" "$WORK/err" | head -20)"
    return 1
  fi
  PASSED=$((PASSED + 1))
}
expect_no_err() { expect_err_matches '^$'; }
# expect_err_matches REGEX: stderr (as one string) must match the extended regex.
expect_err_matches() {
  if ! [[ "$(cat "$WORK/err")" =~ $1 ]]; then
    fail "standard error does not match /$1/: $(cat "$WORK/err")"
    return 1
  fi
  PASSED=$((PASSED + 1))
}
# usage_error REGEX ARGS...: exit 2, nothing on stdout, stderr matching REGEX.
usage_error() {
  local re=$1
  shift
  run "$@"
  expect_rc 2 && expect_no_out && expect_err_matches "$re"
}

# --------------------------------------------------------------------------------------
CASE="sigma demo: raw events and Sigma rules in, the expected detections out (every memory)"
for memory in exact cuckoo bloom; do
  run run --rules "$DEMO/sigma/rules" --profile "$DEMO/sigma/profile.yml" --memory "$memory" \
    "$DEMO/sigma/events.jsonl"
  expect_rc 0 && expect_out "$GOLDEN/sigma_demo.jsonl" &&
    expect_err_matches '^fluxcap: 5 rules compiled, 0 skipped \(logsource\), 0 unsupported'
done
run check --rules "$DEMO/sigma/rules" --profile "$DEMO/sigma/profile.yml"
expect_rc 0 && grep -q '^summary: 5 rules compiled, 0 skipped (logsource), 0 unsupported' "$WORK/out" ||
  fail "check summary: $(grep summary "$WORK/out")"

CASE="demo: expected detections (exact, cuckoo and bloom)"
run run --spec "$DEMO/spec.yaml" --group-key host --exact "$DEMO/events.jsonl"
expect_rc 0 && expect_out "$GOLDEN/demo.jsonl" && expect_no_err
run run --spec "$DEMO/spec.yaml" --group-key host --memory cuckoo "$DEMO/events.jsonl"
expect_rc 0 && expect_out "$GOLDEN/demo.jsonl" && expect_no_err
run run --spec "$DEMO/spec.yaml" --group-key host --memory exact --generations 3 "$DEMO/events.jsonl"
expect_rc 0 && expect_out "$GOLDEN/demo.jsonl" && expect_no_err
run run --spec "$DEMO/spec.yaml" --group-key host "$DEMO/events.jsonl"
expect_rc 0 && expect_out "$GOLDEN/demo.jsonl" && expect_no_err
# The detections, event by event (the README's table).
grep -o '"id":[0-9]*\|"detections":\[[^]]*\]' "$WORK/out" | paste -sd' ' |
  sed 's/ "id"/\n"id"/g' >"$WORK/detections"
cat >"$WORK/expected_detections" <<'EOF'
"id":1188
"id":3012
"id":4312
"id":5120
"id":5388 "detections":["office_encoded_powershell"]
"id":5524
"id":6108
"id":6044 "detections":["rundll32_invalid_extension"]
"id":7216
"id":8120
"id":4476 "detections":["impacket_lateralization"]
"id":8164
"id":7304
"id":7318
"id":7330
"id":8230
"id":8252 "detections":["recon_sequence"]
"id":4820 "detections":["impacket_lateralization"]
"id":1188
"id":9040
"id":7012
"id":7080 "detections":["susp_conhost_child"]
EOF
cmp -s "$WORK/expected_detections" "$WORK/detections" ||
  fail "detections differ:"$'\n'"$(diff -u "$WORK/expected_detections" "$WORK/detections")"

CASE="demo: without --group-key, process ids of different hosts collide"
run run --spec "$DEMO/spec.yaml" "$DEMO/events.jsonl"
expect_rc 0
# WKS-0211's process 9040 (parent id 1188) now inherits SRV-FILE01's svchost 1188 tag.
grep '"id":9040' "$WORK/out" | grep -q '"detections":\["impacket_lateralization"\]' ||
  fail "expected event 9040 to fire when all hosts share one group"

CASE="demo: stdin, and '-' as an input"
run_in "$DEMO/events.jsonl" run --spec "$DEMO/spec.yaml" --group-key host
expect_rc 0 && expect_out "$GOLDEN/demo.jsonl"
run_in "$DEMO/events.jsonl" run --spec "$DEMO/spec.yaml" --group-key host -
expect_rc 0 && expect_out "$GOLDEN/demo.jsonl"

CASE="demo: check and graph"
run check --spec "$DEMO/spec.yaml"
expect_rc 0 && expect_no_err
sed "s|$DEMO/spec.yaml|SPEC|" "$WORK/out" >"$WORK/check"
cmp -s "$GOLDEN/demo_check.txt" "$WORK/check" ||
  fail "check output differs:"$'\n'"$(diff -u "$GOLDEN/demo_check.txt" "$WORK/check")"
run graph --spec "$DEMO/spec.yaml"
expect_rc 0 && expect_out "$GOLDEN/demo_graph.dot" && expect_no_err

CASE="docs/cli.md: the first example"
cat >first.yaml <<'EOF'
rules:
  - rulename: lineage
    action: parent
    parent: parent_id
    child: id
    tags: [office]
conditions:
  office_child_shell: lineage.office and shell.selection
EOF
cat >first.jsonl <<'EOF'
{"host":"ws1","id":10,"Image":"WINWORD.EXE","sigma":{"lineage":{"office":true}}}
{"host":"ws1","id":11,"parent_id":10,"Image":"cmd.exe","sigma":{"shell":{"selection":true}}}
{"host":"ws2","id":12,"parent_id":10,"Image":"cmd.exe","sigma":{"shell":{"selection":true}}}
EOF
run run --spec first.yaml --group-key host first.jsonl
expect_rc 0 && expect_no_err && expect_out_text '{"host":"ws1","id":10,"Image":"WINWORD.EXE","sigma":{"lineage":{"office":true}}}
{"host":"ws1","id":11,"parent_id":10,"Image":"cmd.exe","sigma":{"shell":{"selection":true},"lineage":{"office":true}},"detections":["office_child_shell"]}
{"host":"ws2","id":12,"parent_id":10,"Image":"cmd.exe","sigma":{"shell":{"selection":true},"lineage":{"office":false}}}'
printf '{"sigma":{"seq":{"a":true}}}\n{"sigma":{"seq":{"b":true}}}\n{"sigma":{"seq":{"c":true, "x":false}}}\n' >order.jsonl
run run --spec "$DATA/temporal.yaml" order.jsonl
expect_rc 0 && expect_out_text '{"sigma":{"seq":{"a":true,"b":false,"c":false}}}
{"sigma":{"seq":{"b":true,"a":true,"c":false}}}
{"sigma":{"seq":{"c":true,"x":false,"a":true,"b":true}},"detections":["abc"]}'

# --------------------------------------------------------------------------------------
CASE="state: one run == two runs chained through --state (demo)"
head -n 11 "$DEMO/events.jsonl" >part1.jsonl
tail -n +12 "$DEMO/events.jsonl" >part2.jsonl
for mode in --exact --capacity=200000 "--memory cuckoo"; do
  rm -f demo.state
  run run --spec "$DEMO/spec.yaml" --group-key host $mode --state demo.state part1.jsonl
  expect_rc 0 && cp "$WORK/out" chained.jsonl
  [ -s demo.state ] || fail "no state file written ($mode)"
  run run --spec "$DEMO/spec.yaml" --group-key host $mode --state demo.state part2.jsonl
  expect_rc 0 && cat "$WORK/out" >>chained.jsonl
  cp chained.jsonl "$WORK/out"
  expect_out "$GOLDEN/demo.jsonl"
  ls demo.state.tmp-* >/dev/null 2>&1 && fail "a temporary state file was left behind"
done

CASE="state: chaining on a large stream, bloom filters rotating"
# 6000 events on 3 hosts: parent chains, an ordered sequence per folder, with a capacity
# small enough that generations turn into Bloom filters and the oldest are forgotten.
awk 'BEGIN {
  for (i = 1; i <= 6000; i++) {
    h = i % 3; f = int(i / 90) % 5; t = ""
    if (i % 5 == 0) t = "\"par\":{\"f\":true}"
    else if (i % 11 == 0) t = "\"anc\":{\"g\":true}"
    k = int(i / 3) % 3; s = (k == 0) ? "a" : (k == 1 ? "b" : "c")
    seq = "\"seq\":{\"" s "\":true}"
    tags = (t == "") ? seq : t "," seq
    printf "{\"host\":\"h%d\",\"id\":%d,\"parent_id\":%d,\"folder\":\"f%d\",\"sigma\":{%s}}\n", h, i, int(i / 2), f, tags
  }
}' >big.jsonl
cat >big.yaml <<'EOF'
rules:
  - rulename: par
    action: parent
    parent: parent_id
    child: id
    tags: [f]
  - rulename: anc
    action: ancestor
    parent: parent_id
    child: id
    tags: [g]
  - rulename: seq
    action: temporal
    ordered: true
    groupby: [folder]
    tags: [a, b, c]
conditions:
  abc: all of seq.*
  deep: anc.g and not par.f
EOF
head -n 3400 big.jsonl >big1.jsonl
tail -n +3401 big.jsonl >big2.jsonl
for mode in --exact "--fpp 0.01" "--memory cuckoo --fpp 0.01" "--memory cuckoo --generations 4"; do
  # Both runs start from one empty state, so that they hash with one key (a new state
  # draws a random key, and Bloom and cuckoo false positives depend on it).
  rm -f seed.state
  run run --spec big.yaml --group-key host --capacity 300 $mode --state seed.state /dev/null
  expect_rc 0
  cp seed.state one.state
  run run --spec big.yaml --group-key host --capacity 300 $mode --state one.state big.jsonl
  expect_rc 0 && cp "$WORK/out" big_one.jsonl
  cp seed.state big.state
  run run --spec big.yaml --group-key host --capacity 300 $mode --state big.state big1.jsonl
  expect_rc 0 && cp "$WORK/out" big_two.jsonl
  run run --spec big.yaml --group-key host --capacity 300 $mode --state big.state big2.jsonl
  expect_rc 0 && cat "$WORK/out" >>big_two.jsonl
  cp big_two.jsonl "$WORK/out"
  expect_out big_one.jsonl
  [ "$(wc -l <big_one.jsonl)" = 6000 ] || fail "expected 6000 output lines ($mode)"
done
run run --spec big.yaml --group-key host --capacity 300 --fpp 0.01 --stats big.jsonl
expect_rc 0 &&
  expect_err_matches '^fluxcap: 6000 events, 3 groups, [0-9]+ group key bytes, [0-9]+ tags remembered, [0-9]+ state bytes, [0-9.]+ s, [0-9]+ events/s \([0-9.]+ MB/s\)$'

CASE="state: the hash key is drawn once and kept in the state file; threads do not change its bytes"
# A new state draws a secret hash key (docs/memory.md, "Keyed hashing"); later runs keep
# it. Bytes 11..26 of a state file hold it.
for mode in --exact "--fpp 0.01" "--memory cuckoo --fpp 0.01"; do
  rm -f k1.state k2.state
  run run --spec big.yaml --group-key host --capacity 300 $mode --state k1.state big1.jsonl
  expect_rc 0
  run run --spec big.yaml --group-key host --capacity 300 $mode --state k2.state big1.jsonl
  expect_rc 0
  key1=$(od -An -tx1 -j11 -N16 k1.state | tr -d ' \n')
  key2=$(od -An -tx1 -j11 -N16 k2.state | tr -d ' \n')
  [ "$key1" != "$key2" ] || fail "two new states got one hash key ($mode)"
  [ "$(stat -c %a k1.state)" = 600 ] || fail "a new state file is not 0600: $(stat -c %a k1.state)"
  run run --spec big.yaml --group-key host --capacity 300 $mode --state k1.state big2.jsonl
  expect_rc 0
  [ "$(od -An -tx1 -j11 -N16 k1.state | tr -d ' \n')" = "$key1" ] ||
    fail "a continued state changed its hash key ($mode)"
done
# Saved states are byte-identical whatever --threads (groups are written in key order):
# many groups, from one seed state, with 1, 2 and 5 threads.
awk 'BEGIN { for (i = 1; i <= 3000; i++)
  printf "{\"host\":\"h%d\",\"id\":%d,\"parent_id\":%d,\"sigma\":{\"par\":{\"f\":%s}}}\n", i % 97, i, int(i / 2), (i % 3 == 0) ? "true" : "false" }' >many.jsonl
for mode in --exact "--fpp 0.01" "--memory cuckoo --fpp 0.01"; do
  rm -f seed.state
  run run --spec big.yaml --group-key host --capacity 300 $mode --state seed.state /dev/null
  expect_rc 0
  for threads in 1 2 5; do
    cp seed.state t$threads.state
    run run --spec big.yaml --group-key host --capacity 300 $mode --threads $threads --state t$threads.state many.jsonl
    expect_rc 0
  done
  cmp -s t1.state t2.state || fail "--threads 2 saved other bytes than --threads 1 ($mode)"
  cmp -s t1.state t5.state || fail "--threads 5 saved other bytes than --threads 1 ($mode)"
done

CASE="state: a state file of fluxcap 0.1 (unkeyed hash) is refused and left untouched"
cp "$DATA/../../data/store_v1_bloom.bin" old.state
run run --spec big.yaml --group-key host --state old.state big1.jsonl
expect_rc 1 && expect_no_out &&
  expect_err "fluxcap: cannot load state file 'old.state': state decode error at byte 8: written by fluxcap 0.1 with an unkeyed hash, which hostile input can defeat: this version continues only keyed states (move the file away to start a new state) (the file was left unchanged)"
cmp -s old.state "$DATA/../../data/store_v1_bloom.bin" || fail "the old state file was modified"

CASE="state: a corrupt state file is an error and is left untouched"
printf 'this is not a state file' >bad.state
cp bad.state bad.state.orig
run run --spec "$DEMO/spec.yaml" --group-key host --state bad.state "$DEMO/events.jsonl"
expect_rc 1 && expect_no_out &&
  expect_err "fluxcap: cannot load state file 'bad.state': state decode error at byte 0: not a fluxcap state file (bad magic) (the file was left unchanged)"
cmp -s bad.state bad.state.orig || fail "the corrupt state file was modified"
# A valid state file with one flipped byte.
rm -f good.state
run run --spec "$DEMO/spec.yaml" --group-key host --exact --state good.state part1.jsonl
expect_rc 0
cp good.state flipped.state
printf '\xff' | dd of=flipped.state bs=1 seek=40 conv=notrunc status=none
cp flipped.state flipped.state.orig
run run --spec "$DEMO/spec.yaml" --group-key host --exact --state flipped.state part2.jsonl
expect_rc 1 && expect_no_out &&
  expect_err_matches "^fluxcap: cannot load state file 'flipped.state': state decode error at byte [0-9]+: checksum mismatch: the state file is corrupt or truncated \(the file was left unchanged\)$"
cmp -s flipped.state flipped.state.orig || fail "the corrupt state file was modified"
# Truncated.
head -c 100 good.state >short.state
run run --spec "$DEMO/spec.yaml" --group-key host --exact --state short.state part2.jsonl
expect_rc 1 && expect_no_out && expect_err_matches "^fluxcap: cannot load state file 'short.state': "
# Saved in exact mode, loaded in bloom mode: other parameters.
cp good.state mode.state
run run --spec "$DEMO/spec.yaml" --group-key host --state mode.state part2.jsonl
expect_rc 1 && expect_no_out &&
  expect_err_matches "^fluxcap: cannot load state file 'mode.state': .*other parameters \(mode exact, .*than expected \(mode bloom"
cmp -s good.state mode.state || fail "the state file was modified"

CASE="state: a failed run does not save its state"
cp good.state keep.state
printf '{"host":"WKS-0211","id":1,"sigma":{"recon_sequence":{"recon_cmd_a":true}}}\nnot json\n' >fails.jsonl
run run --spec "$DEMO/spec.yaml" --group-key host --exact --state keep.state fails.jsonl
expect_rc 1
cmp -s good.state keep.state || fail "the state file was written by a failed run"

# --------------------------------------------------------------------------------------
CASE="bytes: untouched rules and fields are copied byte for byte"
cat >in.jsonl <<'EOF'
{ "k" : [1, 2 , {"z":null}] ,"sigma" : { "other" : { "t" : true } , "seq" : { "d" : true } } , "u":"\u00e9\n" }
{"sigma":{"seq":{"a":true},"other":{"t":false}},"n":1.50e+3,"o":{"x":[true,false,null]}}
{"sigma" : { "other":{ } , "seq" : { "z" : false, "b" : true } }, "u" : "\ud83d\ude00" }
{"no_tags":true}
EOF
run run --spec "$DATA/temporal.yaml" in.jsonl
expect_rc 0 && expect_no_err && expect_out_text '{ "k" : [1, 2 , {"z":null}] ,"sigma" : { "other" : { "t" : true } , "seq" : { "d" : true } } , "u":"\u00e9\n" }
{"sigma":{"seq":{"a":true,"b":false,"c":false},"other":{"t":false}},"n":1.50e+3,"o":{"x":[true,false,null]}}
{"sigma" : { "other":{ } , "seq" : {"z":false,"b":true,"a":true,"c":false} }, "u" : "\ud83d\ude00" }
{"no_tags":true}'

CASE="columns: strings, numbers as their JSON text, null/missing; missing tag map"
cat >in.jsonl <<'EOF'
{"id":1,"sigma":{"par":{"f":true},"anc":{"g":true}}}
{"id":2,"parent_id":"1"}
{"id":"3","parent_id":2,"sigma":{}}
{"id":4,"parent_id":1.0,"sigma":null}
{"id":5,"parent_id":null}
{"id":6,"parent_id":"","sigma":{"other":{"t":true}}}
{}
EOF
run run --spec "$DATA/family.yaml" in.jsonl
expect_rc 0 && expect_no_err && expect_out_text '{"id":1,"sigma":{"par":{"f":true},"anc":{"g":true}},"detections":["child_of_f"]}
{"id":2,"parent_id":"1","sigma":{"par":{"f":true},"anc":{"g":true}},"detections":["child_of_f"]}
{"id":"3","parent_id":2,"sigma":{"par":{"f":false},"anc":{"g":true}}}
{"id":4,"parent_id":1.0,"sigma":{"par":{"f":false},"anc":{"g":false}}}
{"id":5,"parent_id":null,"sigma":{"par":{"f":false},"anc":{"g":false}}}
{"id":6,"parent_id":"","sigma":{"other":{"t":true},"par":{"f":false},"anc":{"g":false}}}
{"sigma":{"par":{"f":false},"anc":{"g":false}}}'

CASE="groups: --group-key, null/missing is its own group, distinct from \"\""
cat >in.jsonl <<'EOF'
{"host":"h1","folder":"A","sigma":{"ctx":{"x":true}}}
{"host":"h1","folder":"B","sigma":{"ctx":{"y":true}}}
{"host":"h1","folder":"A","sigma":{"ctx":{"y":true}}}
{"host":"h2","folder":"A","sigma":{"ctx":{"y":true}}}
{"folder":"A","sigma":{"ctx":{"y":true}}}
{"host":"","folder":"A","sigma":{"ctx":{"y":true}}}
{"host":null,"folder":"A","sigma":{"ctx":{"x":true}}}
{"folder":"A","sigma":{"ctx":{"y":true}}}
{"host":"","folder":"A","sigma":{"ctx":{"y":true}}}
{"host":7,"folder":null,"sigma":{"ctx":{"x":true}}}
{"host":"7","sigma":{"ctx":{"y":true}}}
EOF
run run --spec "$DATA/temporal.yaml" --group-key host in.jsonl
expect_rc 0 && expect_no_err && expect_out_text '{"host":"h1","folder":"A","sigma":{"ctx":{"x":true,"y":false}}}
{"host":"h1","folder":"B","sigma":{"ctx":{"y":true,"x":false}}}
{"host":"h1","folder":"A","sigma":{"ctx":{"y":true,"x":true}}}
{"host":"h2","folder":"A","sigma":{"ctx":{"y":true,"x":false}}}
{"folder":"A","sigma":{"ctx":{"y":true,"x":false}}}
{"host":"","folder":"A","sigma":{"ctx":{"y":true,"x":false}}}
{"host":null,"folder":"A","sigma":{"ctx":{"x":true,"y":true}}}
{"folder":"A","sigma":{"ctx":{"y":true,"x":true}}}
{"host":"","folder":"A","sigma":{"ctx":{"y":true,"x":false}}}
{"host":7,"folder":null,"sigma":{"ctx":{"x":true,"y":false}}}
{"host":"7","sigma":{"ctx":{"y":true,"x":true}}}'

CASE="detections: added when some fire, an existing field is replaced"
cat >in.jsonl <<'EOF'
{"detections":["old"],"sigma":{"seq":{"a":true}}}
{"sigma":{"seq":{"b":true}}}
{"sigma":{"seq":{"c":true}}}
{}
EOF
run run --spec "$DATA/temporal.yaml" in.jsonl
expect_rc 0 && expect_out_text '{"detections":[],"sigma":{"seq":{"a":true,"b":false,"c":false}}}
{"sigma":{"seq":{"b":true,"a":true,"c":false}}}
{"sigma":{"seq":{"c":true,"a":true,"b":true}},"detections":["abc"]}
{}'
run run --spec "$DATA/temporal.yaml" --detections-field hits in.jsonl
expect_rc 0 && expect_out_text '{"detections":["old"],"sigma":{"seq":{"a":true,"b":false,"c":false}}}
{"sigma":{"seq":{"b":true,"a":true,"c":false}}}
{"sigma":{"seq":{"c":true,"a":true,"b":true}},"hits":["abc"]}
{}'

CASE="--tags-field"
printf '%s\n' '{"tags":{"seq":{"a":true}},"sigma":{"seq":{"oops":1}}}' >in.jsonl
run run --spec "$DATA/temporal.yaml" --tags-field tags in.jsonl
expect_rc 0 && expect_out_text '{"tags":{"seq":{"a":true,"b":false,"c":false}},"sigma":{"seq":{"oops":1}}}'

CASE="lines: blank lines, CRLF, a last line without newline, several inputs"
printf '{"sigma":{"seq":{"a":true}}}\r\n\n  \n{"sigma":{"seq":{"b":true}}}' >crlf.jsonl
printf '{"sigma":{"seq":{"c":true}}}\n' >next.jsonl
run run --spec "$DATA/temporal.yaml" crlf.jsonl next.jsonl
expect_rc 0 && expect_no_err
printf '{"sigma":{"seq":{"a":true,"b":false,"c":false}}}\r\n\n  \n{"sigma":{"seq":{"b":true,"a":true,"c":false}}}\n{"sigma":{"seq":{"c":true,"a":true,"b":true}},"detections":["abc"]}\n' >expected_lines
expect_out expected_lines

# --------------------------------------------------------------------------------------
CASE="--on-error: a bad line in the middle"
cat >bad.jsonl <<'EOF'
{"sigma":{"seq":{"a":true}}}
{"sigma":{"seq":{"b":"yes"}}}
{"sigma":{"seq":{"b":true}}}
EOF
run run --spec "$DATA/temporal.yaml" bad.jsonl
expect_rc 1 && expect_out_text '{"sigma":{"seq":{"a":true,"b":false,"c":false}}}' &&
  expect_err "fluxcap: bad.jsonl:2: tag map 'sigma': rule 'seq': tag 'b' is not a boolean (\"yes\")"
run run --spec "$DATA/temporal.yaml" --on-error fail bad.jsonl
expect_rc 1 && expect_out_text '{"sigma":{"seq":{"a":true,"b":false,"c":false}}}'
run run --spec "$DATA/temporal.yaml" --on-error skip bad.jsonl
expect_rc 0 && expect_out_text '{"sigma":{"seq":{"a":true,"b":false,"c":false}}}
{"sigma":{"seq":{"b":true,"a":true,"c":false}}}' &&
  expect_err "fluxcap: warning: bad.jsonl:2: tag map 'sigma': rule 'seq': tag 'b' is not a boolean (\"yes\"); line skipped
fluxcap: skipped 1 bad line"
run run --spec "$DATA/temporal.yaml" --on-error=pass bad.jsonl
expect_rc 0 && expect_out_text '{"sigma":{"seq":{"a":true,"b":false,"c":false}}}
{"sigma":{"seq":{"b":"yes"}}}
{"sigma":{"seq":{"b":true,"a":true,"c":false}}}' &&
  expect_err "fluxcap: warning: bad.jsonl:2: tag map 'sigma': rule 'seq': tag 'b' is not a boolean (\"yes\"); line passed through unchanged
fluxcap: passed 1 bad line through unchanged"

CASE="--on-error: the line number counts per input file"
printf '{}\n{}\n' >ok.jsonl
run run --spec "$DATA/temporal.yaml" ok.jsonl bad.jsonl
expect_rc 1 && expect_err_matches "^fluxcap: bad.jsonl:2: "
expect_out_text '{}
{}
{"sigma":{"seq":{"a":true,"b":false,"c":false}}}'

CASE="--on-error skip: many bad lines"
for i in $(seq 1 12); do printf 'bad %d\n{}\n' "$i"; done >many.jsonl
run run --spec "$DATA/temporal.yaml" --on-error skip many.jsonl
expect_rc 0
[ "$(wc -l <"$WORK/out")" = 12 ] || fail "expected the 12 good lines"
[ "$(grep -c '^fluxcap: warning: many.jsonl' "$WORK/err")" = 10 ] || fail "expected 10 warnings"
expect_err_matches $'further bad lines are not reported one by one\nfluxcap: skipped 12 bad lines$'

CASE="bad lines: every kind, with its message"
bad_line() {
  printf '%s\n' "$1" >one.jsonl
  run run --spec "$DATA/temporal.yaml" one.jsonl
  expect_rc 1 && expect_no_out && expect_err "fluxcap: one.jsonl:1: $2"
}
bad_line '{"a":1' 'not valid JSON (JSON document ended early in the middle of an object or array.)'
bad_line '[1,2]' 'not a JSON object'
bad_line '"text"' 'not a JSON object'
bad_line 'hello' 'not valid JSON (The JSON document has an improper structure: missing or superfluous commas, braces, missing keys, etc.)'
bad_line '{"sigma":[1]}' "tag map 'sigma' is not an object"
bad_line '{"sigma":"x"}' "tag map 'sigma' is not an object"
bad_line '{"sigma":{"seq":true}}' "tag map 'sigma': rule 'seq' is not an object"
bad_line '{"sigma":{"other":[]}}' "tag map 'sigma': rule 'other' is not an object"
bad_line '{"sigma":{"other":{"t":1}}}' "tag map 'sigma': rule 'other': tag 't' is not a boolean (1)"
bad_line '{"sigma":{"seq":{"a":null}}}' "tag map 'sigma': rule 'seq': tag 'a' is not a boolean (null)"
bad_line '{"x":[1,,2]}' "not valid JSON (unexpected ',')"
bad_line '{"x":"\q"}' 'not valid JSON (invalid escape in a string)'
bad_line '{"x":"\ud800"}' 'not valid JSON (invalid escape in a string)'
bad_line '{"x":01}' "not valid JSON (unexpected '01')"
bad_line '{"x":tru}' "not valid JSON (unexpected 'tru')"
bad_line '{"a":1}{}' 'not valid JSON (trailing content after the object)'
bad_line '{"x":1,}' 'not valid JSON (The JSON document has an improper structure: missing or superfluous commas, braces, missing keys, etc.)'
# simdjson On-Demand alone accepts these; the tool checks the grammar around its tokens.
bad_line '{"a":"b":1}}' "not valid JSON (unexpected ':' at byte 9)"
bad_line '{"a":{"x":"b":1}}}' "not valid JSON (unexpected ':' at byte 14)"
bad_line '{"x":[1,]}' "not valid JSON (unexpected ']')"
bad_line '{"sigma":{},"sigma":{}}' "duplicate field 'sigma'"
bad_line '{"folder":"a","folder":"b"}' "duplicate field 'folder'"
bad_line '{"sigma":{"seq":{"a":true},"seq":{"b":true}}}' "tag map 'sigma': duplicate rule 'seq'"
bad_line '{"sigma":{"seq":{"a":true,"a":false}}}' "tag map 'sigma': rule 'seq': duplicate tag 'a'"

CASE="limits: --max-line-bytes, under each --on-error mode"
# Lines 1 and 3 are 41 bytes, line 2 is 42: one byte over --max-line-bytes 41.
printf '%s\n' '{"sigma":{"seq":{"a":true}},"x":"123456"}' '{"sigma":{"seq":{"b":true}},"x":"1234567"}' \
  '{"sigma":{"seq":{"b":true}},"x":"123456"}' >long.jsonl
run run --spec "$DATA/temporal.yaml" --max-line-bytes 41 long.jsonl
expect_rc 1 && expect_out_text '{"sigma":{"seq":{"a":true,"b":false,"c":false}},"x":"123456"}' &&
  expect_err "fluxcap: long.jsonl:2: line longer than 41 bytes (--max-line-bytes)"
run run --spec "$DATA/temporal.yaml" --max-line-bytes 41 --on-error skip long.jsonl
expect_rc 0 && expect_out_text '{"sigma":{"seq":{"a":true,"b":false,"c":false}},"x":"123456"}
{"sigma":{"seq":{"b":true,"a":true,"c":false}},"x":"123456"}' &&
  expect_err "fluxcap: warning: long.jsonl:2: line longer than 41 bytes (--max-line-bytes); line skipped
fluxcap: skipped 1 bad line"
run run --spec "$DATA/temporal.yaml" --max-line-bytes=41 --on-error pass long.jsonl
expect_rc 0 && expect_out_text '{"sigma":{"seq":{"a":true,"b":false,"c":false}},"x":"123456"}
{"sigma":{"seq":{"b":true}},"x":"1234567"}
{"sigma":{"seq":{"b":true,"a":true,"c":false}},"x":"123456"}'
# The default is 1 MiB; a 3 MB line without newline, passed through whole.
python3 -c 'import sys; sys.stdout.write("{\"x\":\"" + "y" * 3000000 + "\"}")' >huge.jsonl
run run --spec "$DATA/temporal.yaml" --on-error pass huge.jsonl
expect_rc 0 && expect_err_matches "huge.jsonl:1: line longer than 1048576 bytes \(--max-line-bytes\); line passed through unchanged"
cmp -s <(cat huge.jsonl; echo) "$WORK/out" || fail "the long line was not passed through whole"
run run --spec "$DATA/temporal.yaml" --max-line-bytes 4100000 huge.jsonl
expect_rc 0 && expect_no_err

CASE="limits: --max-tags-per-event, JSON nesting depth, --max-groups"
printf '%s\n' '{"sigma":{"seq":{"a":true,"b":true},"o":{"x":true}}}' '{"sigma":{"seq":{"a":true},"o":{"x":true}}}' >tags.jsonl
run run --spec "$DATA/temporal.yaml" --max-tags-per-event 2 tags.jsonl
expect_rc 1 && expect_no_out && expect_err "fluxcap: tags.jsonl:1: tag map 'sigma' has more than 2 tags"
run run --spec "$DATA/temporal.yaml" --max-tags-per-event 2 --on-error skip tags.jsonl
expect_rc 0 && expect_out_text '{"sigma":{"seq":{"a":true,"b":false,"c":false},"o":{"x":true}}}'
python3 -c 'print("{\"x\":" + "[" * 1024 + "]" * 1024 + "}"); print("{\"x\":" + "[" * 1023 + "]" * 1023 + "}"); print("{\"x\":" + "[{\"a\":" * 50000 + "1" + "}]" * 50000 + "}")' >deep.jsonl
run run --spec "$DATA/temporal.yaml" --on-error skip deep.jsonl
expect_rc 0 && expect_err "fluxcap: warning: deep.jsonl:1: nesting deeper than 1024 levels of objects and arrays; line skipped
fluxcap: warning: deep.jsonl:3: nesting deeper than 1024 levels of objects and arrays; line skipped
fluxcap: skipped 2 bad lines"
[ "$(wc -l <"$WORK/out")" = 1 ] || fail "expected the 1023-deep line in the output"
printf '{"host":"%s","sigma":{"seq":{"a":true}}}\n' h1 h2 h1 h3 h2 >groups.jsonl
run run --spec "$DATA/temporal.yaml" --group-key host --max-groups 2 --on-error skip groups.jsonl
expect_rc 0 && [ "$(wc -l <"$WORK/out")" = 4 ] &&
  expect_err "fluxcap: warning: groups.jsonl:4: more than 2 groups (--max-groups); this event would open a new one; line skipped
fluxcap: skipped 1 bad line"
usage_error "^fluxcap: --max-line-bytes needs a positive integer, not '0'$" run --spec "$DATA/temporal.yaml" --max-line-bytes 0
usage_error "^fluxcap: --max-groups needs a positive integer, not 'x'$" run --spec "$DATA/temporal.yaml" --max-groups x
usage_error "^fluxcap: --max-tags-per-event is an option of 'fluxcap run', not 'fluxcap check'$" check --spec "$DATA/temporal.yaml" --max-tags-per-event 3

CASE="limits: spec files"
python3 -c '
print("rules:\n  - rulename: r\n    action: temporal\n    tags: [t]\nconditions:\n  r: " + "(" * 65 + "t" + ")" * 65)' >deep_cond.yaml
usage_error "^fluxcap: deep_cond.yaml:6:70: condition 'r': nesting deeper than 64 levels$" check --spec deep_cond.yaml
python3 -c '
print("rules:\n  - rulename: r\n    action: temporal\n    tags:")
for i in range(1001): print("      - t%d" % i)' >many_tags.yaml
usage_error "^fluxcap: many_tags.yaml:1005:9: rule 'r': more than 1000 tags in one rule \(limit\)$" check --spec many_tags.yaml
usage_error "^fluxcap: /dev/zero: the spec is larger than 16777216 bytes \(limit\)$" check --spec /dev/zero

# --------------------------------------------------------------------------------------
CASE="usage and spec errors: exit 2, nothing on standard output"
usage_error "^fluxcap: no command given" 
usage_error "^fluxcap: unknown command 'frobnicate'" frobnicate
usage_error "^fluxcap: 'fluxcap run' needs --spec SPEC" run "$DEMO/events.jsonl"
usage_error "^fluxcap: unknown option '--bogus'" run --spec "$DEMO/spec.yaml" --bogus
usage_error "^fluxcap: --capacity needs a positive integer, not 'many'" run --spec "$DEMO/spec.yaml" --capacity many
usage_error "^fluxcap: --capacity 0: capacity must be between 1 and 2\^32" run --spec "$DEMO/spec.yaml" --capacity 0
usage_error "^fluxcap: --fpp 2: fpp must be in \(0, 1\)" run --spec "$DEMO/spec.yaml" --fpp 2
usage_error "^fluxcap: --fpp bounds false positives; exact memory has none" run --spec "$DEMO/spec.yaml" --exact --fpp 0.01
usage_error "^fluxcap: --memory must be bloom, cuckoo or exact, not 'big'" run --spec "$DEMO/spec.yaml" --memory big
usage_error "^fluxcap: --memory or --exact given twice" run --spec "$DEMO/spec.yaml" --memory cuckoo --exact
usage_error "^fluxcap: --generations needs a number from 2 to 255" run --spec "$DEMO/spec.yaml" --generations 1
usage_error "^fluxcap: --fpp 1e-11: fpp too small for cuckoo mode" run --spec "$DEMO/spec.yaml" --memory cuckoo --fpp 1e-11
usage_error "^fluxcap: --on-error must be fail, skip or pass, not 'ignore'" run --spec "$DEMO/spec.yaml" --on-error ignore
usage_error "^fluxcap: --group-key needs a value" run --spec "$DEMO/spec.yaml" --group-key
usage_error "^fluxcap: --exact is an option of 'fluxcap run', not 'fluxcap check'" check --spec "$DEMO/spec.yaml" --exact
usage_error "^fluxcap: cannot open input 'missing.jsonl': No such file or directory" run --spec "$DEMO/spec.yaml" "$DEMO/events.jsonl" missing.jsonl
usage_error "^fluxcap: --state 'nodir/x.state': directory 'nodir' does not exist" run --spec "$DEMO/spec.yaml" --state nodir/x.state "$DEMO/events.jsonl"
usage_error "^fluxcap: --tags-field 'id' is also a key column of the spec" run --spec "$DEMO/spec.yaml" --tags-field id "$DEMO/events.jsonl"
usage_error "^fluxcap: missing.yaml: cannot open the spec file" run --spec missing.yaml "$DEMO/events.jsonl"
cat >bad_spec.yaml <<'EOF'
rules:
  - rulename: r
    action: parent
    tags: [t]
EOF
usage_error "^fluxcap: bad_spec.yaml:[0-9]+:[0-9]+: rule 'r': action 'parent' needs a 'parent' column$" run --spec bad_spec.yaml "$DEMO/events.jsonl"
usage_error "^fluxcap: bad_spec.yaml:[0-9]+:[0-9]+: rule 'r': action 'parent' needs a 'parent' column$" check --spec bad_spec.yaml
cat >bad_cond.yaml <<'EOF'
rules:
  - rulename: r
    action: temporal
    tags: [t]
conditions:
  d: r.t and and r.t
EOF
usage_error "^fluxcap: bad_cond.yaml:6:[0-9]+: condition 'd': " run --spec bad_cond.yaml "$DEMO/events.jsonl"
printf 'rules: [\n' >broken.yaml
usage_error "^fluxcap: broken.yaml:" graph --spec broken.yaml

CASE="timespan: tags recalled only within the rule's span; events without a time are bad lines"
cat >timed.jsonl <<'EOF'
{"host":"h1","user":"u","ts":"2026-12-01T10:00:00Z","sigma":{"recon":{"a":true}}}
{"host":"h1","user":"u","ts":"2026-12-01T10:02:00Z","sigma":{"recon":{"b":true}}}
{"host":"h1","user":"u","ts":1796119440,"sigma":{"recon":{"c":true}}}
{"host":"h1","user":"u","sigma":{"recon":{"a":true}}}
{"host":"h1","user":"u","ts":"soon","sigma":{"recon":{"a":true}}}
{"host":"h1","user":"u","ts":"2026-12-01T10:30:00Z","sigma":{"recon":{"a":true}}}
{"host":"h1","user":"u","ts":"2026-12-01T10:40:00Z","sigma":{"recon":{"b":true}}}
{"host":"h1","user":"u","ts":"2026-12-01T10:41:00+00:00","sigma":{"recon":{"c":true}}}
EOF
cat >timed.expected <<'EOF'
{"host":"h1","user":"u","ts":"2026-12-01T10:00:00Z","sigma":{"recon":{"a":true,"b":false,"c":false}}}
{"host":"h1","user":"u","ts":"2026-12-01T10:02:00Z","sigma":{"recon":{"b":true,"a":true,"c":false}}}
{"host":"h1","user":"u","ts":1796119440,"sigma":{"recon":{"c":true,"a":true,"b":true}},"detections":["recon_done"]}
{"host":"h1","user":"u","sigma":{"recon":{"a":true}}}
{"host":"h1","user":"u","ts":"soon","sigma":{"recon":{"a":true}}}
{"host":"h1","user":"u","ts":"2026-12-01T10:30:00Z","sigma":{"recon":{"a":true,"b":false,"c":false}}}
{"host":"h1","user":"u","ts":"2026-12-01T10:40:00Z","sigma":{"recon":{"b":true,"a":false,"c":false}}}
{"host":"h1","user":"u","ts":"2026-12-01T10:41:00+00:00","sigma":{"recon":{"c":true,"a":false,"b":false}}}
EOF
for memory in exact bloom cuckoo; do
  run run --spec "$DATA/timespan.yaml" --group-key host --memory $memory --on-error pass timed.jsonl
  expect_rc 0 && expect_out timed.expected &&
    expect_err "fluxcap: warning: timed.jsonl:4: timestamp column 'ts' is missing or null; line passed through unchanged
fluxcap: warning: timed.jsonl:5: timestamp column 'ts': 'soon' is neither an RFC 3339 time nor seconds since the epoch; line passed through unchanged
fluxcap: passed 2 bad lines through unchanged"
done
run run --spec "$DATA/timespan.yaml" --group-key host timed.jsonl
expect_rc 1 && expect_err "fluxcap: timed.jsonl:4: timestamp column 'ts' is missing or null"
run check --spec "$DATA/timespan.yaml"
expect_rc 0 && grep -q '^  timespan 5m: recalled only by events within it of the store (time from column ts)$' "$WORK/out" &&
  grep -q '^timestamp column: ts$' "$WORK/out" || fail "check does not show the timespan: $(cat "$WORK/out")"
cat >spans.yaml <<'EOF'
timestamp: ts
rules:
  - {rulename: r1, action: temporal, timespan: 1500ms, tags: [t]}
  - {rulename: r2, action: temporal, timespan: 90s, tags: [t]}
  - {rulename: r3, action: temporal, timespan: 120m, tags: [t]}
EOF
run check --spec spans.yaml
expect_rc 0 && [ "$(grep -o '^  timespan [0-9a-z]*' "$WORK/out" | paste -sd' ')" = "  timespan 1500ms   timespan 90s   timespan 2h" ] ||
  fail "check prints timespans in their largest whole unit: $(grep timespan "$WORK/out")"
cat >no_timestamp.yaml <<'EOF'
rules:
  - rulename: r
    action: temporal
    timespan: 10m
    tags: [t]
EOF
usage_error "^fluxcap: no_timestamp.yaml:4:15: rule 'r': 'timespan' needs the spec's 'timestamp' column \(the events' time\)$" run --spec no_timestamp.yaml timed.jsonl

CASE="exclusive: parent and ancestor rules that never output an event's own tags"
cat >exclusive.yaml <<'EOF'
rules:
  - {rulename: xpar, action: parent, exclusive: true, parent: parent_id, child: id, tags: [f]}
  - {rulename: xanc, action: ancestor, exclusive: true, parent: parent_id, child: id, tags: [f]}
conditions:
  parent_f: xpar.f
EOF
cat >in.jsonl <<'EOF'
{"id":3,"sigma":{"xpar":{"f":true},"xanc":{"f":true}}}
{"id":13,"parent_id":3}
{"id":133,"parent_id":13}
{"id":4,"parent_id":133,"sigma":{"xpar":{"f":true},"xanc":{"f":true}}}
EOF
for memory in exact bloom cuckoo; do
  run run --spec exclusive.yaml --memory $memory in.jsonl
  expect_rc 0 && expect_no_err && expect_out_text '{"id":3,"sigma":{"xpar":{"f":false},"xanc":{"f":false}}}
{"id":13,"parent_id":3,"sigma":{"xpar":{"f":true},"xanc":{"f":true}},"detections":["parent_f"]}
{"id":133,"parent_id":13,"sigma":{"xpar":{"f":false},"xanc":{"f":true}}}
{"id":4,"parent_id":133,"sigma":{"xpar":{"f":false},"xanc":{"f":true}}}'
done
run check --spec exclusive.yaml
expect_rc 0 && grep -q '^rule xpar (parent, parent column parent_id, child column id, exclusive)$' "$WORK/out" &&
  grep -q "^       exclusive: output is the recall only (the parent's tag, never the event's own); remembered when true on input$" "$WORK/out" &&
  grep -q "^       exclusive: output is the recall only (an ancestor's tag, never the event's own); remembered when true on input or recalled$" "$WORK/out" ||
  fail "check does not show exclusive: $(cat "$WORK/out")"
run graph --spec exclusive.yaml
expect_rc 0 && grep -q '^    label="xpar (parent, exclusive)";$' "$WORK/out" &&
  grep -q '^    label="xanc (ancestor, exclusive)";$' "$WORK/out" &&
  grep -q '^  "xanc.f" -> "xanc.f";$' "$WORK/out" ||
  fail "graph does not show exclusive: $(cat "$WORK/out")"
cat >bad_exclusive.yaml <<'EOF'
rules:
  - rulename: r
    action: temporal
    exclusive: true
    tags: [t]
EOF
usage_error "^fluxcap: bad_exclusive.yaml:4:16: rule 'r': 'exclusive' is only valid for parent and ancestor rules, not 'temporal'$" check --spec bad_exclusive.yaml

CASE="help and version"
run --help
expect_rc 0 && expect_no_err && expect_err_matches '^$'
grep -q '^usage:' "$WORK/out" || fail "--help prints no usage"
run run --help
expect_rc 0 && grep -q -- '--on-error MODE' "$WORK/out" || fail "run --help lacks --on-error"
run help graph
expect_rc 0 && grep -q 'Graphviz' "$WORK/out" || fail "help graph lacks Graphviz"
run --version
expect_rc 0 && expect_err_matches '^$'
grep -Eq '^fluxcap [0-9]+\.[0-9]+\.[0-9]+ \(simdjson [0-9.]+\)$' "$WORK/out" || fail "bad --version: $(cat "$WORK/out")"

echo "fluxcap CLI tests: $PASSED checks passed, $FAILED failed"
[ "$FAILED" = 0 ]
