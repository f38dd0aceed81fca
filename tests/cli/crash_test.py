#!/usr/bin/env python3
"""Crash consistency of `fluxcap run --state FILE` (docs/reliability.md).

Streams a generated input in chunks, one `fluxcap run --state` per chunk, and kills
runs with SIGKILL: at random moments (while loading, while processing, as soon as a
temporary state file appears), and at forced points, where the tool kills itself
(the test-only hook FLUXCAP_TEST_CRASH_AT: after taking the lock, after loading, with
the temporary state file synced before its rename, right after the rename). A random
kill may land after the run has finished (on a fast machine, often): it then counts
as no kill, and chunks go on until the wanted number of kills has landed. A forced
kill always lands, and every chunk starts with one, so the count of kills, of kills
while saving and of chunks never depends on timing. After every kill it
checks that the state file still decodes, then follows the recovery contract of
docs/cli.md ("Crashes and recovery"):

  the state file is either exactly the one before the run (then replay the run's
  whole input, discarding its partial output) or the new one (then the run had
  written all its output before saving: keep it); stale FILE.tmp-* files may be
  deleted.

At the end, the concatenated output must equal one uninterrupted run over the
whole input, and the final state must answer like the uninterrupted run's.

With --incremental, runs use `--state FILE --incremental` (small capacity, so that
groups have several generations and saves alternate between checkpoint files
FILE.delta-* and full snapshots, which remove them): the state is then FILE and its
checkpoint files, and "unchanged" means the same set of files with the same bytes.

  crash_test.py PATH/TO/fluxcap [--kills N] [--seed S] [--kills-per-chunk N] [--max-chunks N]
                [--incremental]
"""
import argparse
import glob
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

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
conditions:
  office_shell: lineage.office and parent.shell
  recon_done:
    rule: recon
    condition: all of them
"""


class event_source:
    """JSON lines: process trees on `hosts` hosts, random tags; deterministic per seed."""

    def __init__(self, rng, hosts):
        self.rng = rng
        self.hosts = hosts
        self.next_pid = {h: 1 for h in range(hosts)}

    def take(self, events):
        rng = self.rng
        lines = []
        for _ in range(events):
            h = rng.randrange(self.hosts)
            pid = self.next_pid[h]
            self.next_pid[h] += 1
            parent = rng.randrange(1, pid) if pid > 1 and rng.random() < 0.9 else None
            tags = {}
            if rng.random() < 0.05:
                tags.setdefault("lineage", {})["office"] = True
            if rng.random() < 0.2:
                tags.setdefault("parent", {})["script" if rng.random() < 0.5 else "shell"] = True
            if rng.random() < 0.2:
                tags.setdefault("recon", {})[rng.choice("abc")] = True
            fields = ['"host":"h%d"' % h, '"pid":%d' % pid, '"user":"u%d"' % rng.randrange(4)]
            if parent is not None:
                fields.append('"ppid":%d' % parent)
            if tags:
                fields.append('"sigma":{%s}' % ",".join(
                    '"%s":{%s}' % (r, ",".join('"%s":true' % t for t in ts))
                    for r, ts in tags.items()))
            lines.append("{" + ",".join(fields) + "}\n")
        return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fluxcap")
    ap.add_argument("--kills", type=int, default=int(os.environ.get("FLUXCAP_CRASH_KILLS", 100)))
    ap.add_argument("--seed", type=int, default=20261124)
    ap.add_argument("--kills-per-chunk", type=int, default=6)
    ap.add_argument("--max-chunks", type=int, default=0,
                    help="a bound on chunks (default: --kills; every chunk has a kill)")
    ap.add_argument("--incremental", action="store_true")
    args = ap.parse_args()
    fluxcap = os.path.abspath(args.fluxcap)
    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="fluxcap-crash-")
    try:
        os.chdir(work)
        with open("spec.yaml", "w") as f:
            f.write(SPEC)
        opts = ["--spec", "spec.yaml", "--group-key", "host", "--capacity",
                "60" if args.incremental else "20000"] + (["--incremental"] if args.incremental
                                                          else [])

        def state_files(state):
            """The files a state consists of (not the temporary files of a save)."""
            return sorted(f for f in glob.glob(state + "*") if ".tmp-" not in f and
                          (f == state or f.startswith(state + ".delta-")))

        def contents(state):
            return {f[len(state):]: open(f, "rb").read() for f in state_files(state)}

        # Committed runs (finished, or killed after the rename) that added a checkpoint file.
        # On a fast machine most chunks commit through a kill after the rename.
        deltas_written = 0

        def wrote_checkpoint(before):
            return any(".delta-" in f and f not in before for f in contents(state))

        def run(state, inputs, out):
            with open(out, "wb") as o:
                return subprocess.run([fluxcap, "run"] + opts + ["--state", state] + inputs,
                                      stdout=o, stderr=subprocess.PIPE).returncode

        def decodes(state):
            """The state loads (checked on a copy: loading saves it again)."""
            for f in state_files(state):
                shutil.copyfile(f, "check.state" + f[len(state):])
            rc = run("check.state", ["/dev/null"], "check.out")
            for f in state_files("check.state"):
                os.remove(f)
            return rc == 0

        # Chunks are made as needed, until enough kills have landed (at least 10 chunks).
        # A kill after the state's rename commits its chunk, so the count of chunks
        # depends on where the kills land; a chunk's first kill is forced (it always
        # lands), so there are at most --kills chunks.
        source = event_source(rng, 400)
        chunk_size, min_chunks = 2500, 10
        max_chunks = max(args.max_chunks or args.kills, min_chunks)
        chunks, outputs = [], []
        state = "crash.state"
        # The crashed chain and the reference start from one empty state: one hash key (a
        # new state draws a random one, and Bloom false positives depend on it).
        if run("seed.state", ["/dev/null"], "seed.out") != 0:
            sys.exit("FAIL: the seed run failed")
        shutil.copyfile("seed.state", state)
        shutil.copyfile("seed.state", "ref.state")
        kills = kills_in_save = replays = commits_after_kill = 0
        finished_early = {"save": 0, "random": 0, "early": 0}
        # The forced points, taken in turn; half of them while saving.
        points = ("locked", "synced", "loaded", "renamed")
        forced = {p: 0 for p in points}
        # Forced kills first and every other one: whatever random kills miss, at least
        # half of a chunk's kills are forced.
        modes = ("forced", "save", "forced", "random", "forced", "early")
        duration = None  # how long an unkilled run takes, to spread the random kills over it
        while len(chunks) < min_chunks or (kills < args.kills and len(chunks) < max_chunks):
            i = len(chunks)
            chunk = "chunk%03d.jsonl" % i
            with open(chunk, "w") as f:
                f.writelines(source.take(chunk_size))
            chunks.append(chunk)
            if duration is None:
                started = time.monotonic()
                run("scratch.state", [chunk], "scratch.out")
                duration = time.monotonic() - started
            killed_here = 0
            while True:
                before = contents(state)
                out = "chunk%03d.out" % i
                mode = "finish" if killed_here >= args.kills_per_chunk else modes[
                    killed_here % len(modes)]
                env = None
                if mode == "forced":
                    point = points[sum(forced.values()) % len(points)]
                    env = dict(os.environ, FLUXCAP_TEST_CRASH_AT=point)
                started = time.monotonic()
                with open(out, "wb") as o:
                    proc = subprocess.Popen([fluxcap, "run"] + opts + ["--state", state, chunk],
                                            stdout=o, stderr=subprocess.DEVNULL, env=env)
                    if mode == "save":  # kill as soon as the temporary state file appears
                        while proc.poll() is None:
                            if glob.glob(state + "*.tmp-*"):
                                time.sleep(rng.uniform(0, 0.002))
                                proc.send_signal(signal.SIGKILL)
                                break
                            time.sleep(0.0002)
                    elif mode == "random":
                        time.sleep(rng.uniform(0, duration))
                        proc.send_signal(signal.SIGKILL)
                    elif mode == "early":
                        time.sleep(rng.uniform(0, 0.01))
                        proc.send_signal(signal.SIGKILL)
                    rc = proc.wait()
                if mode == "forced" and rc != -signal.SIGKILL:
                    sys.exit("FAIL: chunk %d: the run did not stop at the forced point %r "
                             "(exit %d)" % (i, point, rc))
                if rc == 0:
                    deltas_written += wrote_checkpoint(before)
                    duration = 0.8 * duration + 0.2 * (time.monotonic() - started)
                    if mode != "finish":
                        finished_early[mode] += 1
                    outputs.append(out)
                    break
                if rc != -signal.SIGKILL:
                    sys.exit("FAIL: chunk %d: fluxcap exited with %d" % (i, rc))
                kills += 1
                killed_here += 1
                stale = glob.glob(state + "*.tmp-*")
                if mode == "forced":
                    forced[point] += 1
                if stale or (mode == "forced" and point in ("synced", "renamed")):
                    kills_in_save += 1
                    for t in stale:  # the contract: stale temporary files may be deleted
                        os.remove(t)
                if os.path.exists(state) and not decodes(state):
                    sys.exit("FAIL: chunk %d: the state file does not decode after a kill" % i)
                if contents(state) == before:
                    replays += 1  # the run did not commit: replay the chunk from the old state
                    continue
                commits_after_kill += 1  # killed after the rename: the run's output is whole
                deltas_written += wrote_checkpoint(before)
                outputs.append(out)
                break

        # The reference: one uninterrupted run over the same input, then a probe.
        probe = "probe.jsonl"
        with open(probe, "w") as f:
            f.writelines(event_source(random.Random(args.seed + 1), 400).take(4000))
        if run("ref.state", chunks, "ref.out") != 0:
            sys.exit("FAIL: the uninterrupted run failed")
        if run("ref.state", [probe], "ref.probe.out") != 0:
            sys.exit("FAIL: the reference probe run failed")

        with open("crash.out", "wb") as o:
            for out in outputs:
                o.write(open(out, "rb").read())
        if open("crash.out", "rb").read() != open("ref.out", "rb").read():
            sys.exit("FAIL: the output after %d kills differs from an uninterrupted run" % kills)
        if not decodes(state):
            sys.exit("FAIL: the final state does not decode")
        if run(state, [probe], "crash.probe.out") != 0:
            sys.exit("FAIL: the probe run on the recovered state failed")
        if open("crash.probe.out", "rb").read() != open("ref.probe.out", "rb").read():
            sys.exit("FAIL: the recovered state answers differently from the uninterrupted one")
        size = os.path.getsize("ref.state")
        print("crash consistency%s: %d kills (%d while saving the state, %d after the rename), "
              "%d replays; %d chunks of %d events, state file %d bytes%s; output and final "
              "state identical to an uninterrupted run (forced kills: %s; random kills that "
              "landed after the run had finished: %s)" % (
                  " (--incremental)" if args.incremental else "", kills, kills_in_save,
                  commits_after_kill, replays, len(chunks), chunk_size, size,
                  ", %d runs wrote a checkpoint file" % deltas_written
                  if args.incremental else "", forced, finished_early))
        if args.incremental and deltas_written < 3:
            sys.exit("FAIL: only %d runs wrote a checkpoint file" % deltas_written)
        if kills < args.kills:
            sys.exit("FAIL: only %d kills in %d chunks" % (kills, len(chunks)))
        if kills_in_save < kills // 10:
            sys.exit("FAIL: only %d kills while saving the state" % kills_in_save)
        if min(forced.values()) < min(args.kills // 10, 5):
            sys.exit("FAIL: too few kills at a forced point: %s" % forced)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
