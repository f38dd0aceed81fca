#!/usr/bin/env python3
"""`fluxcap worker --state-db DIR`: the worker's warm cache (docs/scale-out.md, "The warm
cache"), against `fluxcap run` byte for byte (the harness of redis_test.py: each case
starts its own redis-server on loopback).

Cases: a worker restarted with its store (warm starts: the Redis state hashes are not
read, HSCAN never called); a stale store (another worker advanced the partitions
meanwhile: cold reloads); kill -9 at the forced points (before and after the Redis
commit; after it, the local store is behind Redis: the next take is cold, before it
warm) with a small cache; a small cache
(16 groups over 40 hosts), with a second worker on the same directory refused; a store of
another deployment (emptied and reloaded) and a `fluxcap run` database (refused, left
unchanged).

Skips (exit 77) when redis-server is not installed or the build lacks Redis or RocksDB.

  redis_warm_test.py PATH/TO/fluxcap [--seed S] [--events N]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import redis_test as rt  # noqa: E402  (the harness: servers, workers, collect, compare)


def starts(log):
    """(warm, cold) partition takes announced in a worker's log (--stats)."""
    return log.count(", warm: local store, "), log.count(", cold: read from Redis, ")


def summary(log):
    m = re.search(r"(\d+) warm starts, (\d+) cold starts, (\d+) groups read from Redis, "
                  r"(\d+) partitions emptied, (\d+) groups evicted", log)
    return tuple(int(x) for x in m.groups()) if m else None


def hscan_calls(server):
    c = rt.resp(server.port)
    info = c("INFO", "commandstats").decode()
    c.close()
    m = re.search(r"cmdstat_hscan:calls=(\d+)", info)
    return int(m.group(1)) if m else 0


def tree(path):
    """Every file under `path` with its bytes (a directory left as it was)."""
    out = {}
    for root, _, files in os.walk(path):
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, path)] = fh.read()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fluxcap")
    ap.add_argument("--seed", type=int, default=20261206)
    ap.add_argument("--events", type=int, default=4500)
    args = ap.parse_args()
    fluxcap = os.path.abspath(args.fluxcap)
    ready = rt.prepare(fluxcap, "warm", ("--redis", "redis://127.0.0.1:1", "--stream", "s", "--spec", "x",
                                   "--state-db", "x"))
    if ready is None:
        return 77
    binary, work = ready
    servers = []
    started = time.time()
    try:
        h = rt.harness(args, work, fluxcap, binary)
        spec = h.write("spec.yaml", [rt.SPEC])
        opts = ["--spec", spec, "--group-key", "host", "--capacity", "20000"]
        lines = rt.events(h.rng, args.events, 40)
        third = len(lines) // 3
        parts = [h.write("part%d.jsonl" % i, lines[i * third:(i + 1) * third if i < 2 else None])
                 for i in range(3)]
        expected = h.run_expected(opts, parts)

        def server():
            s = rt.redis_server(binary, h.work)
            servers.append(s)
            return s

        def db(name):
            return ["--state-db", os.path.join(work, name)]

        def run_until_done(s, stream, extra):
            w = h.worker(s, stream, opts, extra)
            rt.check(rt.harness.done(s, stream, workers=[w]), "%s: did not finish" % stream)
            code = rt.harness.stop_worker(w)
            log = rt.harness.log_of(w)
            rt.check(code == 0, "%s: exit status %s:\n%s" % (stream, code, log))
            return log

        # Usage: --cache-groups needs --state-db; --state-ttl needs a timestamp column
        # (redis_ttl_test.py tests it with one).
        for argv, message in ((["--cache-groups", "5"], b"needs --state-db"),
                              (db("u") + ["--state-ttl", "1h"], b"timestamp column")):
            r = subprocess.run([fluxcap, "worker", "--redis", "redis://127.0.0.1:1", "--stream",
                                "s"] + opts + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            rt.check(r.returncode == 2 and message in r.stderr,
                     "usage %s: %d %s" % (argv, r.returncode, r.stderr.decode()))

        # 1. A worker restarted with its store: every partition warm, no state read.
        t = time.time()
        s = server()
        r = h.produce(s, "warm", opts, parts[:2], ["--partitions", "4"])
        rt.check(r.returncode == 0, "produce: " + r.stderr.decode())
        log = run_until_done(s, "warm", db("a") + ["--batch", "200"])
        rt.check(starts(log) == (0, 4), "first worker: 4 cold starts: " + log)
        c = rt.resp(s.port)
        c("CONFIG", "RESETSTAT")
        c.close()
        r = h.produce(s, "warm", opts, parts[2:])
        log = run_until_done(s, "warm", db("a") + ["--batch", "200"])
        rt.check(starts(log) == (4, 0) and summary(log)[:3] == (4, 0, 0),
                 "restarted worker: 4 warm starts, nothing read from Redis: " + log)
        rt.check(hscan_calls(s) == 0, "restarted worker: HSCAN called %d times" % hscan_calls(s))
        rt.compare("warm restart", h.collect(s, "warm"), expected)
        print("  (%.1f s)" % (time.time() - t), flush=True)

        # 2. A stale store: another worker (in memory) advanced every partition meanwhile.
        t = time.time()
        r = h.produce(s, "stale", opts, parts[:1], ["--partitions", "4"])
        run_until_done(s, "stale", db("b"))
        h.produce(s, "stale", opts, parts[1:2])
        run_until_done(s, "stale", [])
        h.produce(s, "stale", opts, parts[2:])
        log = run_until_done(s, "stale", db("b"))
        rt.check(starts(log) == (0, 4) and summary(log)[3] == 4,
                 "stale store: 4 cold starts, 4 partitions emptied: " + log)
        rt.compare("stale store", h.collect(s, "stale"), expected)
        print("  (%.1f s)" % (time.time() - t), flush=True)

        # 3. kill -9 at the forced points, with a small cache (write-backs and their undo
        # records between commits); after the Redis commit the local store is behind.
        t = time.time()
        r = h.produce(s, "kill", opts, parts, ["--partitions", "4"])
        lease = db("c") + ["--lease-ms", "300", "--batch", "50", "--cache-groups", "8"]
        cold_after = []
        for point in ("before-commit:3", "after-commit:2", "after-commit:4", "before-commit:2",
                      "after-commit:1"):
            w = h.worker(s, "kill", opts, lease, {"FLUXCAP_TEST_REDIS_KILL_AT": point})
            code = rt.harness.wait_forced_exit(w)
            rt.check(code == -9, "kill at %s: status %s" % (point, code))
            cold_after.append(starts(rt.harness.log_of(w)))
        log = run_until_done(s, "kill", lease)
        cold_after.append(starts(log))
        rt.check(sum(c for _, c in cold_after[1:]) >= 1 and sum(w for w, _ in cold_after) >= 1,
                 "kill -9: warm and cold takes after the first worker: %s" % cold_after)
        rt.compare("kill -9 with --state-db", h.collect(s, "kill"), expected)
        print("  (warm, cold) takes of each worker: %s" % cold_after)
        # One partition, so that each worker takes it: killed before its second commit,
        # the store is at Redis's position (warm); killed after its second Redis commit,
        # before the local write, the store is behind (cold).
        r = h.produce(s, "kill1", opts, parts, ["--partitions", "1"])
        lease = db("e") + ["--lease-ms", "300", "--batch", "50", "--cache-groups", "8"]
        takes = []
        for point in ("before-commit:2", "after-commit:2", None):
            env = {"FLUXCAP_TEST_REDIS_KILL_AT": point} if point else None
            w = h.worker(s, "kill1", opts, lease, env)
            if point:
                code = rt.harness.wait_forced_exit(w)
                rt.check(code == -9, "kill at %s: status %s" % (point, code))
            else:
                rt.check(rt.harness.done(s, "kill1", workers=[w]), "kill1: did not finish")
                rt.check(rt.harness.stop_worker(w) == 0, "kill1: exit status")
            takes.append(starts(rt.harness.log_of(w)))
        rt.check(takes == [(0, 1), (1, 0), (0, 1)],
                 "kill -9 before / after the Redis commit: (warm, cold) takes %s, expected "
                 "[(0, 1), (1, 0), (0, 1)]" % takes)
        rt.compare("kill -9 before and after the Redis commit, one partition",
                   h.collect(s, "kill1"), expected)
        print("  (%.1f s)" % (time.time() - t), flush=True)

        # 4. A small cache: 16 groups for the worker over 40 hosts (4 a partition).
        t = time.time()
        r = h.produce(s, "small", opts, parts, ["--partitions", "4"])
        # (A second worker on the same directory is refused at start: RocksDB's lock.)
        w = h.worker(s, "small", opts, db("d") + ["--cache-groups", "16", "--batch", "100"])
        deadline = time.time() + 20
        while "took partition" not in rt.harness.log_of(w) and time.time() < deadline:
            time.sleep(0.01)
        second = h.worker(s, "small", opts, db("d"))
        code = second.wait(20)
        rt.check(code == 2 and "in use" in rt.harness.log_of(second),
                 "a second worker on one --state-db: %s %s" % (code, rt.harness.log_of(second)))
        rt.check(rt.harness.done(s, "small", workers=[w]), "small cache: did not finish")
        rt.check(rt.harness.stop_worker(w) == 0, "small cache: exit status")
        log = rt.harness.log_of(w)
        rt.check(summary(log) is not None and summary(log)[4] > 1000,
                 "small cache: groups evicted: " + log)
        rt.compare("cache of 16 groups", h.collect(s, "small"), expected)
        print("  (%.1f s)" % (time.time() - t), flush=True)
        s.stop()

        # 5. Another deployment: the stream "warm" created anew (a new hash key) on another
        # server: the store of case 1 is emptied (it is a cache of a deployment that is
        # gone), the partitions are reloaded. A `fluxcap run` database is refused, unchanged.
        t = time.time()
        s = server()
        h.produce(s, "warm", opts, parts, ["--partitions", "4"])
        log = run_until_done(s, "warm", db("a"))
        rt.check("emptying 4 partitions written for another deployment" in log
                 and starts(log) == (0, 4), "another deployment: emptied: " + log)
        rt.compare("store of another deployment", h.collect(s, "warm"), expected)
        run_db = os.path.join(work, "run-db")
        r = subprocess.run([fluxcap, "run", "--state-db", run_db] + opts + parts[:1],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        rt.check(r.returncode == 0, "run --state-db: " + r.stderr.decode())
        before = tree(run_db)
        w = h.worker(s, "warm", opts, ["--state-db", run_db])
        code = w.wait(20)
        rt.check(code == 2 and "holds the state of a `fluxcap run`" in rt.harness.log_of(w),
                 "a run's database: %s %s" % (code, rt.harness.log_of(w)))
        rt.check(tree(run_db) == before, "a run's database was changed by a refused worker")
        s.stop()
        print("  (%.1f s)" % (time.time() - t), flush=True)
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("%.1f s" % (time.time() - started))
    if rt.FAILURES:
        print("%d FAILURES" % len(rt.FAILURES))
        return 1
    print("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
