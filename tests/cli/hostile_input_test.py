#!/usr/bin/env python3
"""Hostile input to `fluxcap` (docs/cli.md, "Limits"): each case checks the exit status,
the exact message (file, line, problem) and, where memory or file descriptors are the
threat, the peak resident memory of the run (os.wait4's ru_maxrss, so it also works
under sanitizers, which reserve huge virtual memory) or a small open-file limit.

  - alias bombs in a spec (150 KB and 2 MB expanding to 1 GB and 20 GB), a billion
    laughs and a flat 16 MiB list: a spec error at file:line:col, memory bounded;
  - long group keys: --max-key-bytes (a bad line), counted by --stats;
  - a duplicate tag or rule that a post-flux condition reads: a bad line;
  - 1,100 input files under `ulimit -n 64`: read one at a time, memory bounded;
  - a UTF-8 BOM at the start of an input (skipped), a NUL byte (named), a timespan too
    large, --capacity/--fpp errors naming the option, names cut at 200 bytes in
    messages, options given twice.

  hostile_input_test.py PATH/TO/fluxcap
"""
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading

failed = 0
passed = 0
MB = 1 << 20


def check(cond, what):
    global failed, passed
    if cond:
        passed += 1
    else:
        print("FAIL: " + what, file=sys.stderr)
        failed += 1


def run(args, stdin=None, nofile=None, timeout=120):
    """Runs fluxcap ARGS: (status, stdout bytes, stderr text, peak RSS in bytes)."""
    def limits():
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        stdin_file = open(stdin, "rb") if stdin else subprocess.DEVNULL
        # Under AddressSanitizer, freed memory waits in a quarantine (256 MB by default)
        # that would count in the peak: keep it small, the bound is on what fluxcap holds.
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = ":".join(
            o for o in (env.get("ASAN_OPTIONS", ""), "quarantine_size_mb=8") if o)
        p = subprocess.Popen([FLUXCAP] + args, stdin=stdin_file, stdout=out, stderr=err,
                             preexec_fn=limits, env=env)
        if stdin:
            stdin_file.close()
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return p.returncode, out.read(), err.read().decode("utf-8", "replace"), \
            usage.ru_maxrss * 1024


def expect(args, rc, err, what, stdin=None, out=None, max_rss=None, nofile=None):
    code, stdout, stderr, rss = run(args, stdin=stdin, nofile=nofile)
    check(code == rc, "%s: exit status %d, expected %d; stderr: %s" % (what, code, rc,
                                                                      stderr[:500]))
    if err is not None:
        check(stderr == err, "%s: stderr\n  %r\nexpected\n  %r" % (what, stderr[:1000], err))
    if out is not None:
        check(stdout == out, "%s: stdout %r, expected %r" % (what, stdout[:300], out[:300]))
    if max_rss is not None:
        check(rss <= max_rss, "%s: peak memory %.0f MB, expected at most %.0f MB" %
              (what, rss / MB, max_rss / MB))
    return stdout, stderr, rss


def write(path, text):
    with open(path, "wb") as f:
        f.write(text.encode() if isinstance(text, str) else text)


SPEC = """rules:
  - {rulename: seq, action: temporal, tags: [a, b]}
conditions:
  both: seq.a and seq.b
  other: 1 of x.y*
"""


def alias_bombs():
    # One rule of 1000 tags of `name` bytes, then 9999 aliases of it.
    def bomb(path, name):
        lines = ["rules:", "  - &r", "    rulename: r", "    action: temporal", "    tags:"]
        lines += ["      - %s%05d" % ("t" * (name - 5), i) for i in range(1000)]
        lines += ["  - *r"] * 9999
        write(path, "\n".join(lines) + "\n")

    bomb("bomb150k.yaml", 100)  # 179 KB of text, 1 GB expanded
    bomb("bomb2m.yaml", 2000)  # 2 MB of text, 20 GB expanded
    expect(["check", "--spec", "bomb150k.yaml"], 2,
           "fluxcap: bomb150k.yaml:1172:5: the spec holds more than 16777216 bytes of text "
           "with aliases expanded (limit)\n", "alias bomb, 150 KB", max_rss=150 * MB)
    expect(["run", "--spec", "bomb2m.yaml"], 2,
           "fluxcap: bomb2m.yaml:1013:5: the spec holds more than 16777216 bytes of text "
           "with aliases expanded (limit)\n", "alias bomb, 2 MB", out=b"", max_rss=150 * MB)
    # Billion laughs: ten levels of ten aliases.
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += ["a%d: &a%d [%s]" % (i, i, ", ".join(["*a%d" % (i - 1)] * 10)) for i in range(1, 10)]
    write("laughs.yaml", "\n".join(lines) + "\n")
    expect(["check", "--spec", "laughs.yaml"], 2,
           "fluxcap: laughs.yaml:6:25: the spec has more than 500000 YAML nodes with aliases "
           "expanded (limit)\n", "billion laughs", max_rss=150 * MB)
    # No alias, but 8 million nodes in 16 MiB: yaml-cpp's tree would take 4 GB.
    write("flat.yaml", "rules: [" + ",".join(["a"] * (8 * MB - 16)) + "]\n")
    expect(["check", "--spec", "flat.yaml"], 2,
           "fluxcap: flat.yaml:1:1000003: the spec has more than 500000 YAML nodes with "
           "aliases expanded (limit)\n", "8 million nodes", max_rss=400 * MB)


def group_keys():
    write("spec.yaml", SPEC)
    # 20 one-megabyte host names: bad lines, never groups.
    with open("long_keys.jsonl", "w") as f:
        for i in range(20):
            f.write('{"host":"%s%d","sigma":{"seq":{"a":true}}}\n' % ("h" * MB, i))
        f.write('{"host":"a","sigma":{"seq":{"a":true}}}\n{"host":"bb"}\n{"host":null}\n')
    code, stdout, stderr, rss = run(["run", "--spec", "spec.yaml", "--group-key", "host",
                                     "--max-line-bytes", str(2 * MB), "--on-error", "skip",
                                     "--stats", "long_keys.jsonl"])
    check(code == 0, "long group keys: exit status %d" % code)
    check(stderr.startswith("fluxcap: warning: long_keys.jsonl:1: group key 'host' is longer "
                            "than 4096 bytes (--max-key-bytes); line skipped\n"),
          "long group keys: %r" % stderr[:300])
    check("fluxcap: skipped 20 bad lines\n" in stderr, "long group keys: %r" % stderr[-300:])
    # Groups "=a", "=bb" and the null group "": 2 + 3 + 0 key bytes.
    check(", 3 groups, 5 group key bytes, " in stderr, "--stats key bytes: %r" % stderr[-300:])
    check(stdout.count(b"\n") == 3, "long group keys: output %r" % stdout[:200])
    check(rss < 150 * MB, "long group keys: peak memory %.0f MB" % (rss / MB))
    # The bound is --max-key-bytes: a key of exactly N bytes is fine, N + 1 is not.
    write("keys.jsonl", '{"host":"abcd"}\n{"host":"abcde"}\n{"host":12345}\n')
    expect(["run", "--spec", "spec.yaml", "--group-key", "host", "--max-key-bytes", "4",
            "--on-error", "pass", "keys.jsonl"], 0,
           "fluxcap: warning: keys.jsonl:2: group key 'host' is longer than 4 bytes "
           "(--max-key-bytes); line passed through unchanged\n"
           "fluxcap: warning: keys.jsonl:3: group key 'host' is longer than 4 bytes "
           "(--max-key-bytes); line passed through unchanged\n"
           "fluxcap: passed 2 bad lines through unchanged\n", "--max-key-bytes 4")
    # The same with --threads (lines are routed by key before they are parsed).
    expect(["run", "--spec", "spec.yaml", "--group-key", "host", "--max-key-bytes", "4",
            "--on-error", "fail", "--threads", "2", "keys.jsonl"], 1,
           "fluxcap: keys.jsonl:2: group key 'host' is longer than 4 bytes (--max-key-bytes)\n",
           "--max-key-bytes 4 --threads 2")
    expect(["run", "--spec", "spec.yaml", "--max-key-bytes", "0"], 2,
           "fluxcap: --max-key-bytes needs a positive integer, not '0'\n", "--max-key-bytes 0")


def duplicates():
    write("spec.yaml", SPEC)
    write("dup.jsonl",
          '{"sigma":{"x":{"y1":true},"x":{"y1":false}}}\n'  # a rule a condition reads, twice
          '{"sigma":{"seq":{"q":true,"q":false}}}\n'  # an unspec'd tag of a read rule, twice
          '{"sigma":{"x":{"y2":false,"y2":true}}}\n'  # a tag of an unspec'd read rule, twice
          '{"sigma":{"z":{"y":true},"z":{"y":false,"y":true}}}\n'  # nobody reads z: as is
          '{"sigma":{"x":{"y1":false,"y2":true}}}\n')
    expect(["run", "--spec", "spec.yaml", "--on-error", "skip", "dup.jsonl"], 0,
           "fluxcap: warning: dup.jsonl:1: tag map 'sigma': duplicate rule 'x' (a condition "
           "reads it); line skipped\n"
           "fluxcap: warning: dup.jsonl:2: tag map 'sigma': rule 'seq': duplicate tag 'q' (a "
           "condition reads the rule); line skipped\n"
           "fluxcap: warning: dup.jsonl:3: tag map 'sigma': rule 'x': duplicate tag 'y2' (a "
           "condition reads the rule); line skipped\n"
           "fluxcap: skipped 3 bad lines\n", "duplicates read by a condition",
           out=b'{"sigma":{"z":{"y":true},"z":{"y":false,"y":true}}}\n'
               b'{"sigma":{"x":{"y1":false,"y2":true}},"detections":["other"]}\n')


def many_inputs():
    write("spec.yaml", SPEC)
    paths = []
    for i in range(1100):
        paths.append("in/%04d.jsonl" % i)
    os.mkdir("in")
    for i, p in enumerate(paths):
        write(p, '{"host":"h%d","sigma":{"seq":{"a":true}}}\n{"host":"h%d","sigma":{"seq":'
                 '{"b":true}}}\n' % (i, i))
    per_file = [
        b'{"host":"h%d","sigma":{"seq":{"a":true,"b":false}}}\n'
        b'{"host":"h%d","sigma":{"seq":{"b":true,"a":true}},"detections":["both"]}\n' % (i, i)
        for i in range(1100)]
    expected = b"".join(per_file)
    for threads in ("1", "2"):
        expect(["run", "--spec", "spec.yaml", "--group-key", "host", "--threads", threads] + paths,
               0, "", "1100 inputs, ulimit -n 64, --threads " + threads, out=expected,
               max_rss=150 * MB, nofile=64)
    # A FIFO among the inputs is opened once, when its turn comes (its writer is not lost).
    os.mkfifo("fifo")

    def feed():
        with open("fifo", "w") as f:
            f.write('{"host":"f","sigma":{"seq":{"b":true}}}\n')

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        r = subprocess.run([FLUXCAP, "run", "--spec", "spec.yaml", "--group-key", "host",
                            paths[0], "fifo", paths[1]], capture_output=True, timeout=30)
        check(r.returncode == 0 and r.stdout == per_file[0] +
              b'{"host":"f","sigma":{"seq":{"b":true,"a":false}}}\n' + per_file[1],
              "a FIFO input: %d %r %r" % (r.returncode, r.stdout[:300], r.stderr[:300]))
    except subprocess.TimeoutExpired:
        check(False, "a FIFO input: fluxcap hangs")
    writer.join(5)
    # A missing one is still a usage error before anything is written.
    expect(["run", "--spec", "spec.yaml"] + paths + ["in/missing.jsonl"], 2,
           "fluxcap: cannot open input 'in/missing.jsonl': No such file or directory\n",
           "1100 inputs and a missing one", out=b"", nofile=64)


def messages():
    write("spec.yaml", SPEC)
    # A UTF-8 BOM at the start of each input is skipped; line numbers are unchanged.
    write("bom1.jsonl", b'\xef\xbb\xbf{"sigma":{"seq":{"a":true}}}\n')
    write("bom2.jsonl", b'\xef\xbb\xbf{"sigma":{"seq":{"b":true}}}\n\xef\xbb\xbf{}\n')
    expect(["run", "--spec", "spec.yaml", "bom1.jsonl", "bom2.jsonl"], 1,
           "fluxcap: bom2.jsonl:2: not valid JSON (The JSON document has an improper structure:"
           " missing or superfluous commas, braces, missing keys, etc.)\n", "BOM",
           out=b'{"sigma":{"seq":{"a":true,"b":false}}}\n'
               b'{"sigma":{"seq":{"b":true,"a":true}},"detections":["both"]}\n')
    expect(["run", "--spec", "spec.yaml"], 0, "", "BOM on standard input", stdin="bom1.jsonl",
           out=b'{"sigma":{"seq":{"a":true,"b":false}}}\n')
    # A NUL byte is named.
    write("nul.jsonl", b'{"sigma":{}}\n{"sigma":{}}\x00\x00\n\x00{}\n')
    expect(["run", "--spec", "spec.yaml", "--on-error", "skip", "nul.jsonl"], 0,
           "fluxcap: warning: nul.jsonl:2: not valid JSON (a NUL byte at byte 13, after the "
           "object); line skipped\n"
           "fluxcap: warning: nul.jsonl:3: not valid JSON (The JSON document has an improper "
           "structure: missing or superfluous commas, braces, missing keys, etc.); a NUL byte "
           "at byte 1; line skipped\n"
           "fluxcap: skipped 2 bad lines\n", "NUL")
    # A timespan too large says so.
    write("span.yaml", "timestamp: ts\nrules:\n  - {rulename: r, action: temporal, "
                       "timespan: 200000000000d, tags: [a]}\n")
    expect(["check", "--spec", "span.yaml"], 2,
           "fluxcap: span.yaml:3:47: rule 'r': 'timespan' '200000000000d' is too large (at "
           "most 9000000000000000000 ms, about 285 million years)\n", "timespan too large")
    # --capacity and --fpp errors name the option.
    expect(["run", "--spec", "spec.yaml", "--capacity", "0"], 2,
           "fluxcap: --capacity 0: capacity must be between 1 and 2^32\n", "--capacity 0")
    expect(["run", "--spec", "spec.yaml", "--capacity", "99999999999999999999"], 2,
           "fluxcap: --capacity needs a positive integer, not '99999999999999999999' "
           "(too large)\n", "--capacity too large")
    expect(["run", "--spec", "spec.yaml", "--fpp", "2"], 2,
           "fluxcap: --fpp 2: fpp must be in (0, 1)\n", "--fpp 2")
    expect(["run", "--spec", "spec.yaml", "--memory", "cuckoo", "--fpp", "1e-11"], 2,
           "fluxcap: --fpp 1e-11: fpp too small for cuckoo mode\n", "--fpp 1e-11 cuckoo")
    # Names longer than 200 bytes are cut.
    long = "x" * 5000
    expect(["run", "--spec", "spec.yaml", "--" + long], 2,
           "fluxcap: unknown option '--" + "x" * 198 + "...' (try 'fluxcap run --help')\n",
           "a long option name")
    expect(["run", "--spec", "spec.yaml", "--memory", long], 2,
           "fluxcap: --memory must be bloom, cuckoo or exact, not '" + "x" * 200 + "...'\n",
           "a long --memory value")
    expect([long], 2, "fluxcap: unknown command '" + "x" * 200 + "...' (try 'fluxcap --help')\n",
           "a long command")
    write("long.yaml", "rules:\n  - {rulename: %s, action: temporl, tags: [a]}\n" % long)
    expect(["check", "--spec", "long.yaml"], 2,
           "fluxcap: long.yaml:2:5026: rule '" + "x" * 200 + "...': unknown action 'temporl'; "
           "expected temporal, parent or ancestor (did you mean 'temporal'?)\n", "a long rule name")
    # Every option that takes a value may be given once.
    for opt, a, b in (("--state", "s1", "s2"), ("--group-key", "a", "b"),
                      ("--tags-field", "a", "b"), ("--detections-field", "a", "b"),
                      ("--max-line-bytes", "10", "20"), ("--max-key-bytes", "10", "20"),
                      ("--max-groups", "1", "2"), ("--max-tags-per-event", "1", "2"),
                      ("--threads", "1", "2")):
        expect(["run", "--spec", "spec.yaml", opt, a, opt + "=" + b], 2,
               "fluxcap: %s given twice\n" % opt, opt + " twice", out=b"")


def main():
    global FLUXCAP
    FLUXCAP = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="fluxcap-hostile-")
    try:
        os.chdir(work)
        for case in (alias_bombs, group_keys, duplicates, many_inputs, messages):
            case()
    finally:
        os.chdir("/")
        shutil.rmtree(work)
    print("hostile input tests: %d checks passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
