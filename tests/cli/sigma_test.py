#!/usr/bin/env python3
"""`fluxcap run/check/graph --rules` (docs/cli.md, "Sigma rules").

  sigma_test.py PATH/TO/fluxcap

Project-written rules and events in tests/cli/data/sigma/: a process tree whose rules need
the parent, the grandparent and an ancestor under a profile with no inline parent field.
Checks the detections, byte-identical passthrough, the detections array (inserted, or
replacing an existing field), exact vs bloom memory, --threads, --state/--incremental
carrying context across runs, malformed and unsupported rules, check/graph output and
usage errors. Registered with ctest as `fluxcap_cli_sigma`.
"""
import json
import os
import random
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data", "sigma")
RULES = os.path.join(DATA, "rules")
PROFILE = os.path.join(DATA, "tree-profile.yml")
TREE = os.path.join(DATA, "tree.jsonl")
TOOL = None

EXPECTED = {  # line number (1-based) of tree.jsonl -> detections
    4: ["parent-word-shell"],
    5: ["grandparent-word-recon"],
    6: ["ancestor-download-net"],
    9: ['self-"mimi"'],
    13: ["parent-word-shell"],
}


def run(*args, stdin=None):
    r = subprocess.run([TOOL, *args], input=stdin, capture_output=True)
    return r.returncode, r.stdout, r.stderr.decode("utf-8", "replace")


def sigma_run(*args, stdin=None):
    return run("run", "--rules", RULES, "--profile", PROFILE, *args, stdin=stdin)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def detections_by_line(out):
    found = {}
    for n, line in enumerate(out.split(b"\n")[:-1], 1):
        if line.strip():
            d = json.loads(line).get("detections")
            if isinstance(d, list) and d:
                found[n] = d
    return found


def test_tree():
    code, out, err = sigma_run("--exact", TREE)
    check(code == 0, err)
    check(detections_by_line(out) == EXPECTED, detections_by_line(out))
    check("fluxcap: 4 rules compiled, 1 skipped (logsource), 0 unsupported" in err, err)
    inp = open(TREE, "rb").read().split(b"\n")
    outl = out.split(b"\n")
    check(len(inp) == len(outl), "one output line per input line")
    for n, (a, b) in enumerate(zip(inp, outl), 1):
        if n in EXPECTED:
            continue
        if n == 9:
            continue
        # lines without detections: byte for byte, blank and odd spacing included
        check(a == b, "line %d changed: %r -> %r" % (n, a, b))
    # insertion before the final '}', the rest of the line kept
    check(outl[3] == inp[3][:-1] + b',"detections":["parent-word-shell"]}', outl[3])
    check(outl[12].endswith(b']},"detections":["parent-word-shell"]}'), outl[12])
    # an existing field of that name is replaced (as --spec does); identities escaped
    check(outl[8] == inp[8].replace(b'"detections":"old"', b'"detections":["self-\\"mimi\\""]'),
          outl[8])
    # with no detection, an existing field becomes []
    code, out, err = sigma_run(stdin=b'{"host":"h","Image":"x","detections":{"a":[1]}}\n')
    check(code == 0 and out == b'{"host":"h","Image":"x","detections":[]}\n', out)
    # the existing field found past strings holding brackets, and under an escaped key
    code, out, err = sigma_run(stdin=b'{"CommandLine":"mimikatz","detections":[1,{"a":"]}"}], "x":1}\n'
                               b'{"det\\u0065ctions":null,"CommandLine":"mimikatz"}\n')
    check(out == b'{"CommandLine":"mimikatz","detections":["self-\\"mimi\\""], "x":1}\n'
          b'{"det\\u0065ctions":["self-\\"mimi\\""],"CommandLine":"mimikatz"}\n', out)
    # an empty object gets no comma; --detections-field names the array
    code, out, err = sigma_run("--detections-field", "hits",
                               stdin=b'{"CommandLine":"mimikatz"}\n{}\n')
    check(out == b'{"CommandLine":"mimikatz","hits":["self-\\"mimi\\""]}\n{}\n', out)


def test_memories_and_threads():
    code, exact, err = sigma_run("--exact", TREE)
    for args in (["--memory", "bloom"], ["--memory", "cuckoo"], []):
        code, out, err = sigma_run(*args, TREE)
        check(code == 0 and out == exact, "memory %s differs" % args)
    # --group-key replaces the profile's group path: grouped by pid, no process sees
    # its parent's memory, so only the self rule fires
    code, out, err = sigma_run("--exact", "--group-key", "pid", TREE)
    check(code == 0 and detections_by_line(out) == {9: ['self-"mimi"']}, out)
    code, out2, err = sigma_run("--exact", "--group-key", "host", TREE)
    check(out2 == exact, "--group-key host is the profile's default")
    # many hosts, each with the tree, interleaved: --threads 3 == --threads 1
    rng = random.Random(7)
    tree = [e for e in (json.loads(l) for l in open(TREE) if l.strip()) if e["host"] == "h1"]
    lines = []
    cursors = {h: 0 for h in range(60)}
    while cursors:
        h = rng.choice(sorted(cursors))
        e = dict(tree[cursors[h]])
        e["host"] = "host-%d" % h
        lines.append(json.dumps(e))
        cursors[h] += 1
        if cursors[h] == len(tree):
            del cursors[h]
    data = ("\n".join(lines) + "\n").encode()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "many.jsonl")
        open(path, "wb").write(data)
        one = sigma_run("--threads", "1", "--exact", path)
        three = sigma_run("--threads", "3", "--exact", path)
        check(one[0] == 0 and one == three, "--threads 3 differs from --threads 1")
        check(len(detections_by_line(one[1])) == 60 * len(EXPECTED), "detections on every host")
        two_bloom = sigma_run("--threads", "2", path)
        check(two_bloom[1] == one[1], "--threads 2 with bloom memory differs")
        # --stats names the Sigma counts
        code, out, err = sigma_run("--stats", "--threads", "3", path)
        check("4 rules (1 skipped, 0 unsupported)" in err and "leaves" in err and
              "matcher bytes" in err and "60 groups" in err, err)


def test_state():
    lines = open(TREE, "rb").read().split(b"\n")
    first, second = b"\n".join(lines[:4]) + b"\n", b"\n".join(lines[4:6]) + b"\n"
    with tempfile.TemporaryDirectory() as tmp:
        state = os.path.join(tmp, "state")
        code, out, err = sigma_run("--exact", "--state", state, stdin=first)
        check(code == 0 and os.path.exists(state), err)
        # without the state, the second part has no context
        code, out, err = sigma_run("--exact", stdin=second)
        check(detections_by_line(out) == {}, out)
        code, out, err = sigma_run("--exact", "--state", state, "--incremental", stdin=second)
        check(code == 0, err)
        check(detections_by_line(out) == {1: ["grandparent-word-recon"],
                                          2: ["ancestor-download-net"]}, out)
        # a third run loads what the second saved
        code, out, err = sigma_run("--exact", "--state", state, stdin=lines[5] + b"\n")
        check(detections_by_line(out) == {1: ["ancestor-download-net"]}, out)
        # another memory mode cannot load it (as with --spec): exit 1, nothing written
        code, out, err = sigma_run("--state", state, stdin=second)
        check(code == 1 and out == b"" and "cannot load state file" in err, err)


def test_bad_lines():
    bad = b'{"host":"h1","pid":1,"Image":"a\\\\whoami.exe"}\n{"host":"h1","Image":"x",}\n'
    code, out, err = sigma_run(stdin=bad)
    check(code == 1 and "<stdin>:2:" in err and b"grandparent" not in out, err)
    check(out == bad.split(b"\n")[0] + b"\n", out)
    code, out, err = sigma_run(stdin=b'{"Image":"a\\whoami.exe"}\n')
    check(code == 1 and "<stdin>:1: not valid JSON" in err, err)
    code, out, err = sigma_run("--on-error", "skip", stdin=bad)
    check(code == 0 and out.count(b"\n") == 1 and "skipped 1 bad line" in err, err)
    code, out, err = sigma_run("--on-error", "pass", stdin=bad)
    check(code == 0 and out.split(b"\n")[1] == bad.split(b"\n")[1], out)
    code, out, err = sigma_run("--on-error", "skip",
                               stdin=b'{"host":"h","Image":"a","Image":"b"}\n[1]\n')
    check(code == 0 and out == b"" and "duplicate field" in err, err)
    code, out, err = sigma_run("--max-key-bytes", "3", stdin=b'{"host":"long-host"}\n')
    check(code == 1 and "--max-key-bytes" in err, err)
    code, out, err = sigma_run("--max-groups", "1", stdin=b'{"host":"a"}\n{"host":"b"}\n')
    check(code == 1 and "--max-groups" in err and out == b'{"host":"a"}\n', err)


def test_write_through():
    # A single-threaded run writes lines it leaves unchanged (of 256 bytes or more) from
    # its input buffer, not copied (output_buffer::write_through). Lines of every kind
    # interleaved over many 64 KiB blocks and three inputs (the last one without its final
    # newline) come out in order, byte for byte as the threaded run (which copies) writes
    # them.
    rng = random.Random(20261207)
    pad = "x" * 300
    inputs = []
    for f in range(3):
        lines = []
        for i in range(3000):
            k = rng.randrange(8)
            if k == 0:
                lines.append('{"host":"h%d","CommandLine":"mimikatz %d","pad":"%s"}' % (i % 7, i, pad))
            elif k == 1:
                lines.append('{"host":"h","CommandLine":"c %d"}' % i)  # short
            elif k == 2:
                lines.append('{"host":"h","detections":"old","pad":"%s"}' % pad)
            elif k == 3:
                lines.append('{"host":"h","pad":"%s",}' % pad)  # bad: passed through
            elif k == 4:
                lines.append("   ")
            else:
                lines.append('{"host":"h%d","pid":%d,"Image":"C:\\\\a%d.exe","pad":"%s"}'
                             % (i % 5, i, i, pad * rng.randrange(1, 4)))
        inputs.append(("\n".join(lines) + ("\n" if f < 2 else "")).encode())
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for n, data in enumerate(inputs):
            paths.append(os.path.join(d, "in%d.jsonl" % n))
            with open(paths[-1], "wb") as fh:
                fh.write(data)
        code, copied, err = sigma_run("--on-error", "pass", "--threads", "2", *paths)
        check(code == 0, err)
        code, out, err = sigma_run("--on-error", "pass", "--threads", "1", *paths)
        check(code == 0, err)
        check(out == copied, "--threads 1 and 2 differ")
        out_file = os.path.join(d, "out.jsonl")
        with open(out_file, "wb") as fh:
            r = subprocess.run([TOOL, "run", "--rules", RULES, "--profile", PROFILE, "--on-error",
                                "pass", "--threads", "1", *paths], stdout=fh,
                               stderr=subprocess.PIPE)
        check(r.returncode == 0, r.stderr)
        check(open(out_file, "rb").read() == copied, "written to a file: differs")
    expected = b"".join(data + (b"" if data.endswith(b"\n") else b"\n") for data in inputs)
    got = out.split(b"\n")
    for n, (a, b) in enumerate(zip(expected.split(b"\n"), got), 1):
        if b"mimikatz" in a:
            check(b.endswith(b',"detections":["self-\\"mimi\\""]}'), "line %d: %r" % (n, b))
        elif b'"detections":"old"' in a:
            check(b == a.replace(b'"detections":"old"', b'"detections":[]'), "line %d" % n)
        else:
            check(a == b, "line %d changed: %r -> %r" % (n, a, b))
    check(len(got) == len(expected.split(b"\n")), "one output line per input line")


def test_errors_and_check():
    # malformed rule: exit 2, file:line:col, nothing on stdout
    bad = os.path.join(DATA, "malformed")
    for cmd in ("run", "check", "graph"):
        code, out, err = run(cmd, "--rules", RULES, bad, "--profile", PROFILE, stdin=b"{}\n")
        check(code == 2 and out == b"", (cmd, code, err))
        check("bad-condition.yml:9:" in err and err.startswith("fluxcap: "), err)
    # malformed profile
    code, out, err = run("check", "--rules", RULES, "--profile",
                         os.path.join(DATA, "bad-profile.yml"))
    check(code == 2 and "bad-profile.yml:" in err and out == b"", err)
    code, out, err = run("check", "--rules", RULES, "--profile", "no-such")
    check(code == 2 and "unknown profile" in err, err)
    # unsupported: counted, fatal with --strict
    uns = os.path.join(DATA, "unsupported")
    code, out, err = run("run", "--rules", RULES, uns, "--profile", PROFILE, TREE)
    check(code == 0 and "4 rules compiled, 1 skipped (logsource), 1 unsupported" in err, err)
    check(detections_by_line(out) == EXPECTED, out)
    code, out, err = run("run", "--strict", "--rules", RULES, uns, "--profile", PROFILE, TREE)
    check(code == 2 and out == b"" and "unknown-modifier" in err and "--strict" in err, err)
    code, out, err = run("check", "--rules", RULES, uns, "--profile", PROFILE)
    check(code == 0, err)
    text = out.decode()
    check("rule unknown-modifier (" in text and "unsupported: " in text, text)
    code, out2, err = run("check", "--strict", "--rules", RULES, uns, "--profile", PROFILE)
    check(code == 1 and out2 == out, err)
    # check shows every rule, the carried parts and the generated flux spec
    code, out, err = run("check", "--rules", RULES, "--profile", PROFILE)
    text = out.decode()
    check(code == 0 and "rule parent-word-shell (" in text and "rule file-event (" in text, text)
    for word in ("parent p", "grandparent g", "ancestor a", "sigma-grandparent-2",
                 "exclusive: true", "summary: 4 rules compiled, 1 skipped"):
        check(word in text, word)
    code, out, err = run("graph", "--rules", RULES, "--profile", PROFILE)
    check(code == 0 and out.startswith(b"digraph sigma {") and b"grandparent-word-recon" in out,
          out)
    # usage errors
    for args in (["run", "--rules", RULES, "--spec", "x.yaml", "--profile", "sysmon"],
                 ["run", "--rules", RULES],
                 ["run", "--rules", RULES, "--profile", "sysmon", "--tags-field", "t"],
                 ["run", "--spec", "x.yaml", "--profile", "sysmon"],
                 ["run", "--rules", os.path.join(DATA, "nothing-here"), "--profile", "sysmon"]):
        code, out, err = run(*args, stdin=b"{}\n")
        check(code == 2 and out == b"", (args, err))
    # a built-in profile and several --rules
    code, out, err = run("run", "--rules", os.path.join(RULES, "self.yml"), "--rules",
                         os.path.join(RULES, "parent.yml"), "--profile", "sysmon", "--",
                         TREE)
    check(code == 0 and "2 rules compiled" in err, err)
    code, out, err = run("run", "--help")
    check(code == 0 and b"--rules" in out and b"--strict" in out, out)
    # check warns about items on fields the profile never has (absent_fields)
    with tempfile.TemporaryDirectory() as tmp:
        rule = os.path.join(tmp, "ofn.yml")
        with open(rule, "w") as f:
            f.write("title: ofn\nid: ofn\n"
                    "logsource: {category: process_creation, product: windows}\n"
                    "detection:\n  sel:\n    OriginalFileName: whoami.exe\n"
                    "  condition: sel\n")
        code, out, err = run("check", "--rules", rule, "--profile", "security-4688")
        text = out.decode()
        check(code == 0 and "  warning: " + rule + ":6:5: the item on OriginalFileName never "
              "matches: security-4688 events never have OriginalFileName" in text, text)
        check("warnings: 1 (items on fields" in text, text)
        code, out, err = run("check", "--rules", rule, "--profile", "sysmon")
        check(code == 0 and "warning" not in out.decode(), out)


def main():
    global TOOL
    TOOL = os.path.abspath(sys.argv[1])
    for t in (test_tree, test_memories_and_threads, test_state, test_bad_lines,
              test_write_through, test_errors_and_check):
        t()
        print("ok", t.__name__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
