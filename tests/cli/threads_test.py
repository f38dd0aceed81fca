#!/usr/bin/env python3
"""`fluxcap run --threads N` gives exactly the output of one thread (docs/cli.md).

For every scenario the tool runs with --threads 1 and with several larger counts; the
standard output, standard error and exit status must be identical byte for byte, and
states saved by one thread count must resume under another with the same results.
Scenarios: many hosts and batches (busy hosts, process trees, every rule kind and
conditions), blank and bad lines under each --on-error mode, a bad line deep in a batch
under --on-error fail, too-long lines, --max-groups reached, several input files,
group keys written with escapes, as numbers, null or missing, and no --group-key.

  threads_test.py PATH/TO/fluxcap [--threads 2,3,8]

Registered with ctest as `fluxcap_cli_threads`; CI also runs it under ThreadSanitizer.
"""
import argparse
import os
import shutil
import random
import subprocess
import sys
import tempfile

SPEC = """rules:
  - rulename: lineage
    action: ancestor
    parent: ppid
    child: pid
    tags: [office]
  - rulename: parent
    action: parent
    parent: ppid
    child: pid
    tags: [script, shell]
  - rulename: recon
    action: temporal
    ordered: true
    groupby: [user]
    tags: [a, b, c]
  - rulename: any
    action: temporal
    tags: [x, y]
conditions:
  office_shell: lineage.office and parent.shell
  recon_done:
    rule: recon
    condition: all of them
"""


def events(rng, count, hosts, busy=0.3):
    """Process trees on `hosts` hosts (a few of them busy), random tags."""
    next_pid = {}
    lines = []
    for _ in range(count):
        h = rng.randrange(max(1, hosts // 50)) if rng.random() < busy else rng.randrange(hosts)
        pid = next_pid.get(h, 1)
        next_pid[h] = pid + 1
        fields = ['"host":"h%d"' % h, '"pid":%d' % pid, '"user":"u%d"' % rng.randrange(3)]
        if pid > 1 and rng.random() < 0.9:
            fields.append('"ppid":%d' % rng.randrange(max(1, pid - 20), pid))
        tags = {}
        if rng.random() < 0.05:
            tags.setdefault("lineage", {})["office"] = "true"
        if rng.random() < 0.3:
            tags.setdefault("parent", {})[rng.choice(["script", "shell"])] = "true"
        if rng.random() < 0.3:
            tags.setdefault("recon", {})[rng.choice("abc")] = "true"
        if rng.random() < 0.1:
            tags.setdefault("any", {})[rng.choice("xy")] = rng.choice(["true", "false"])
        if rng.random() < 0.05:
            tags.setdefault("other_rule", {})["t"] = "true"
        sigma = ",".join(
            '"%s":{%s}' % (r, ",".join('"%s":%s' % kv for kv in t.items())) for r, t in tags.items())
        fields.append('"sigma":{%s}' % sigma)
        if rng.random() < 0.5:
            fields.append('"CommandLine":"C:\\\\Windows\\\\System32\\\\cmd.exe /c whoami"')
        lines.append("{" + ",".join(fields) + "}")
    return lines


class checker:
    def __init__(self, fluxcap, thread_counts, work):
        self.fluxcap = fluxcap
        self.thread_counts = thread_counts
        self.work = work
        self.failed = 0
        self.passed = 0

    def run(self, args, stdin=None):
        r = subprocess.run([self.fluxcap, "run"] + args, input=stdin, capture_output=True)
        return r.returncode, r.stdout, r.stderr

    def same(self, name, args, expect_rc=0, stdin=None):
        """The run with --threads N equals --threads 1 (and the default) for every N.

        Every run continues one empty state: a new state draws a random hash key, and
        Bloom and cuckoo false positives depend on the key."""
        if "--state" not in args:
            options = [a for i, a in enumerate(args)
                       if not (os.path.isfile(a) and (i == 0 or args[i - 1] != "--spec"))]
            seed = os.path.join(self.work, "same-seed.state")
            if os.path.exists(seed):
                os.remove(seed)
            rc, _, err = self.run(options + ["--state", seed, os.devnull])
            if rc != 0:
                self.fail(name, "seed state: %s" % err[-500:])
                return
            plain = args

            def with_state(extra):
                state = os.path.join(self.work, "same.state")
                shutil.copyfile(seed, state)
                return plain + extra + ["--state", state]
        else:
            def with_state(extra):
                return args + extra
        ref = self.run(with_state([]), stdin)
        if ref[0] != expect_rc:
            self.fail(name, "exit status %d with one thread, expected %d: %s" %
                      (ref[0], expect_rc, ref[2][-500:]))
            return
        for n in self.thread_counts:
            got = self.run(with_state(["--threads", str(n)]), stdin)
            for what, a, b in (("exit status", ref[0], got[0]), ("standard output", ref[1], got[1]),
                               ("standard error", ref[2], got[2])):
                if a != b:
                    at = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]),
                              min(len(a), len(b))) if isinstance(a, bytes) else 0
                    self.fail(name, "--threads %d: %s differs from one thread's (at byte %d)" %
                              (n, what, at))
                    return
            self.passed += 1
        return ref

    def fail(self, name, message):
        print("FAIL [%s]: %s" % (name, message), file=sys.stderr)
        self.failed += 1

    def path(self, name, text):
        p = os.path.join(self.work, name)
        with open(p, "w") as f:
            f.write(text)
        return p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fluxcap")
    ap.add_argument("--threads", default="2,3,8")
    a = ap.parse_args()
    rng = random.Random(20261201)
    with tempfile.TemporaryDirectory() as work:
        c = checker(os.path.abspath(a.fluxcap), [int(n) for n in a.threads.split(",")], work)
        spec = c.path("spec.yaml", SPEC)
        base = ["--spec", spec, "--group-key", "host"]

        # Many hosts, many batches (4096 lines each), busy hosts; exact, Bloom and cuckoo memory.
        big = c.path("big.jsonl", "\n".join(events(rng, 30000, 400)) + "\n")
        c.same("many hosts, bloom", base + [big])
        c.same("many hosts, exact", base + ["--exact", big])
        c.same("many hosts, cuckoo", base + ["--memory", "cuckoo", "--capacity", "2000", big])
        c.same("one host", base + [c.path("one.jsonl", "\n".join(events(rng, 9000, 1)) + "\n")])
        c.same("no --group-key", ["--spec", spec, big])
        c.same("standard input", base, stdin=open(big, "rb").read())

        # Blank and bad lines in every mode, spread over batches.
        lines = events(rng, 12000, 200)
        bad = ['{"host":"h1",', 'not json', '[1,2]', '{"host":"h2","sigma":{"parent":{"shell":1}}}',
               '{"host":"h3","sigma":{"parent":{"shell":true}}} x', '{"host":"h4","host":"h5"}']
        for i in range(0, len(lines), 37):
            lines[i] = rng.choice(bad + ["", "   ", "\t"])
        mixed = c.path("mixed.jsonl", "\n".join(lines) + "\n")
        c.same("bad lines, skip", base + ["--on-error", "skip", mixed])
        c.same("bad lines, pass", base + ["--on-error", "pass", mixed])
        c.same("bad lines, fail (the first one)", base + [mixed], expect_rc=1)
        deep = events(rng, 9000, 100)
        deep[6000] = "{oops"
        c.same("bad line deep in a batch, fail",
               base + [c.path("deep.jsonl", "\n".join(deep) + "\n")], expect_rc=1)

        # Too-long lines (streamed through under pass), between and inside batches.
        long_lines = events(rng, 10000, 100)
        for i in (5, 4095, 4096, 7000, 9999):
            long_lines[i] = '{"host":"h1","pad":"%s"}' % ("z" * (600 + i % 7))
        long_path = c.path("long.jsonl", "\n".join(long_lines) + "\n")
        for mode in ("pass", "skip"):
            c.same("too-long lines, " + mode,
                   base + ["--max-line-bytes", "400", "--on-error", mode, long_path])
        c.same("too-long line, fail", base + ["--max-line-bytes", "400", long_path], expect_rc=1)

        # --max-groups reached in the middle of a batch: the same lines refused.
        c.same("max groups, skip", base + ["--max-groups", "150", "--on-error", "skip", big])
        c.same("max groups, fail", base + ["--max-groups", "150", big], expect_rc=1)

        # Several inputs (warnings name the file and its line), one without a final newline.
        second = c.path("second.jsonl", "\n".join(events(rng, 5000, 50) + ["nope"]))
        c.same("several inputs", base + ["--on-error", "skip", mixed, second, big])

        # Group keys in every form: escapes, numbers, null, missing, empty string.
        forms = []
        for i in range(8000):
            h = rng.randrange(6)
            key = rng.choice(['"host":"h%d"' % h, '"host":"\\u0068%d"' % h, '"ho\\u0073t":"h%d"' % h,
                              '"host":%d' % h, '"host":%d.0' % h, '"host":null', '"host":""', ''])
            fields = [key] if key else []
            fields.append('"pid":%d' % i)
            if i and rng.random() < 0.8:
                fields.append('"ppid":%d' % rng.randrange(max(0, i - 30), i))
            fields.append('"sigma":{"parent":{"shell":%s},"recon":{"%s":true}}' %
                          (rng.choice(["true", "false"]), rng.choice("abc")))
            if rng.random() < 0.3:
                fields.insert(0, '"nested":{"host":"zz","a":[1,{"host":2}],"s":"}\\"{"}')
            forms.append("{" + ",".join(fields) + "}")
        c.same("group key forms", base + [c.path("forms.jsonl", "\n".join(forms) + "\n")])

        # States: saved with one thread count, resumed with another, same results.
        chunks = [c.path("chunk%d.jsonl" % i, "\n".join(events(rng, 6000, 300)) + "\n")
                  for i in range(3)]
        probe = c.path("probe.jsonl", "\n".join(events(rng, 4000, 300)) + "\n")
        outputs = {}
        # Every plan starts from one empty state: one hash key (a new state draws a random
        # one, and Bloom false positives depend on it), so outputs and states compare.
        seed = os.path.join(work, "seed.bin")
        rc, _, err = c.run(base + ["--state", seed, os.devnull])
        if rc != 0:
            c.fail("states", "seed run failed: %s" % err)
        saved = {}
        for plan in ((1, 1, 1), (2, 3, 8), (8, 1, 2)):
            state = os.path.join(work, "state-%s.bin" % "-".join(map(str, plan)))
            shutil.copyfile(seed, state)
            out = b""
            for chunk, n in zip(chunks, plan):
                rc, stdout, err = c.run(base + ["--state", state, "--threads", str(n), chunk])
                if rc != 0:
                    c.fail("states", "run failed: %s" % err)
                out += stdout
            with open(state, "rb") as f:
                saved[plan] = f.read()
            rc, stdout, err = c.run(base + ["--state", state, probe])
            outputs[plan] = (out, stdout)
        ref = outputs[(1, 1, 1)]
        for plan, got in outputs.items():
            if got != ref:
                c.fail("states", "threads %s: output differs from one thread's" % (plan,))
            elif saved[plan] != saved[(1, 1, 1)]:
                c.fail("states", "threads %s: saved state differs from one thread's" % (plan,))
            else:
                c.passed += 1

        # Usage errors.
        for bad_count in ("0", "257", "x", "-1"):
            rc, out, err = c.run(base + ["--threads", bad_count, big])
            if rc != 2 or out or b"--threads" not in err:
                c.fail("usage", "--threads %s: status %d, %s" % (bad_count, rc, err))
            else:
                c.passed += 1

        print("fluxcap --threads tests: %d checks passed, %d failed" % (c.passed, c.failed))
        return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
