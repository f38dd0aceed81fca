#!/usr/bin/env python3
"""`fluxcap run --state FILE --incremental` (docs/cli.md, "State files").

Runs a stream in chunks twice, once saving full snapshots and once incremental
checkpoints (with 1 and 3 threads in turn), and checks that every chunk's output and a
final probe are identical; that deltas are written when they are smaller than the
snapshot and a full snapshot when they are not (or after max_deltas of them), removing
the files it replaces; that stale deltas of an older snapshot are ignored; and that a
corrupt or missing checkpoint is a clear error that leaves every file as it was.

  incremental_test.py PATH/TO/fluxcap
"""
import glob
import os
import random
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from threads_test import SPEC, events  # noqa: E402  (same spec and generator)

failed = 0


def check(cond, what):
    global failed
    if not cond:
        print("FAIL: " + what, file=sys.stderr)
        failed += 1


def main():
    fluxcap = os.path.abspath(sys.argv[1])
    rng = random.Random(7)
    work = tempfile.mkdtemp(prefix="fluxcap-incremental-")
    try:
        os.chdir(work)
        with open("spec.yaml", "w") as f:
            f.write(SPEC)
        # Any further arguments choose the memory (e.g. --memory cuckoo).
        base = ["--spec", "spec.yaml", "--group-key", "host"] + sys.argv[2:]

        def run(args, stdin_path=None):
            r = subprocess.run([fluxcap, "run"] + base + args, capture_output=True)
            return r.returncode, r.stdout, r.stderr

        def files(state):  # the state's files, not its lock file (FILE.lock)
            return sorted(f for f in glob.glob(state + "*") if f != state + ".lock")

        # A large first chunk over 300 hosts, then small chunks over few of them: deltas
        # are much smaller than the snapshot.
        chunks = [events(rng, 40000, 300, busy=0)] + [events(rng, 1500, 8, busy=0)
                                                      for _ in range(6)]
        paths = []
        for i, c in enumerate(chunks):
            paths.append("chunk%d.jsonl" % i)
            with open(paths[-1], "w") as f:
                f.write("\n".join(c) + "\n")
        # Both states start from one empty state: one hash key (a new state draws a random
        # one, and Bloom and cuckoo false positives depend on it).
        check(run(["--state", "seed.state", os.devnull])[0] == 0, "the seed run failed")
        shutil.copyfile("seed.state", "full.state")
        shutil.copyfile("seed.state", "inc.state")
        for i, p in enumerate(paths):
            full = run(["--state", "full.state", p])
            inc = run(["--state", "inc.state", "--incremental", "--threads", str(1 + 2 * (i % 2)),
                       p])
            check(full[0] == 0 and inc[0] == 0, "chunk %d: runs failed: %s %s" %
                  (i, full[2], inc[2]))
            check(full[1] == inc[1], "chunk %d: output differs with --incremental" % i)
        deltas = glob.glob("inc.state.delta-*")
        check(len(deltas) == len(chunks) - 1, "one delta per small chunk, got %s" % files("inc.state"))
        snapshot = os.path.getsize("inc.state")
        check(all(os.path.getsize(d) < snapshot / 5 for d in deltas),
              "deltas are small: %s vs %d" % ([os.path.getsize(d) for d in deltas], snapshot))
        probe = "probe.jsonl"
        with open(probe, "w") as f:
            f.write("\n".join(events(rng, 5000, 300)) + "\n")
        shutil.copyfile("full.state", "full2.state")
        for f in files("inc.state"):
            shutil.copyfile(f, f.replace("inc.state", "inc2.state"))
        ref = run(["--state", "full2.state", probe])
        got = run(["--state", "inc2.state", "--incremental", probe])
        check(ref[1] == got[1], "the probe answers differently from the incremental state")

        # --stats says how the state was saved.
        small = run(["--state", "inc2.state", "--incremental", "--stats", paths[1]])
        check(b", state saved as a checkpoint (" in small[2], "--stats: %s" % small[2])

        # A run without --incremental writes a full snapshot and removes the deltas.
        got = run(["--state", "inc2.state", "--stats", probe])
        check(files("inc2.state") == ["inc2.state"], "a full save leaves %s" % files("inc2.state"))
        check(b", state saved in full (" in got[2], "--stats: %s" % got[2])

        # Deltas that would outgrow the snapshot: a full save instead.
        big = run(["--state", "inc.state", "--incremental", paths[0]])
        check(big[0] == 0, "run failed")
        check(files("inc.state") == ["inc.state"],
              "a delta as large as the snapshot: full save expected, got %s" % files("inc.state"))

        # After max_deltas (32) deltas, a full save: here each delta is one new group.
        tiny = "tiny.jsonl"
        for n in range(34):
            with open(tiny, "w") as f:
                f.write('{"host":"new%d","pid":1,"sigma":{"parent":{"shell":true}}}\n' % n)
            run(["--state", "inc.state", "--incremental", tiny])
            check(len(glob.glob("inc.state.delta-*")) == (n + 1 if n < 32 else n - 32),
                  "run %d: %s" % (n, files("inc.state")))

        # Stale deltas (of an older snapshot, left by a crash after a full save) are skipped.
        shutil.copyfile("inc.state", "keep.state")
        run(["--state", "inc.state", "--incremental", tiny])
        delta = glob.glob("inc.state.delta-*")[-1]
        stale = "inc.state.delta-0123456789abcdef-000001"
        shutil.copyfile(delta, stale)
        a = run(["--state", "inc.state", probe])
        check(a[0] == 0, "stale delta: %s" % a[2])
        check(not os.path.exists(stale), "the stale delta is removed by the next save")

        # A corrupt checkpoint: exit 1, every file as it was.
        run(["--state", "inc.state", "--incremental", tiny])
        run(["--state", "inc.state", "--incremental", tiny])
        before = {f: open(f, "rb").read() for f in files("inc.state")}
        victim = sorted(glob.glob("inc.state.delta-*"))[-1]
        data = bytearray(before[victim])
        data[len(data) // 2] ^= 0x40
        open(victim, "wb").write(data)
        bad = run(["--state", "inc.state", "--incremental", tiny])
        check(bad[0] == 1 and b"cannot load state file '" + victim.encode() in bad[2] and
              b"checksum" in bad[2] and bad[1] == b"", "corrupt delta: %d %s" % (bad[0], bad[2]))
        open(victim, "wb").write(before[victim])
        # A missing one (the first of two).
        first = sorted(glob.glob("inc.state.delta-*"))[0]
        os.rename(first, first + ".away")
        bad = run(["--state", "inc.state", tiny])
        check(bad[0] == 1 and b"checkpoint 1 after the snapshot is missing" in bad[2],
              "missing delta: %d %s" % (bad[0], bad[2]))
        os.rename(first + ".away", first)
        after = {f: open(f, "rb").read() for f in files("inc.state")}
        check(after == before, "a failed load changed the state files")

        # Usage.
        r = subprocess.run([fluxcap, "run"] + base + ["--incremental", probe], capture_output=True)
        check(r.returncode == 2 and b"needs --state" in r.stderr, "--incremental without --state")

        print("fluxcap --incremental tests: %s" % ("FAILED" if failed else "all passed"))
        return 1 if failed else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
