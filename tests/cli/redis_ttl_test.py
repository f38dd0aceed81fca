#!/usr/bin/env python3
"""`fluxcap worker --state-ttl D` (docs/scale-out.md, "Time to live on workers"): through
`collect`, byte for byte the output of `fluxcap run --state-db X --state-ttl D` over the
same input (the harness of redis_test.py: each case starts its own redis-server).

The input: 40 hosts with clocks skewed against each other (out-of-order times across
hosts, and within a host), hosts idle for phases longer than the time to live (their
groups expire, then come back), lines without a time or with a bad one (refused before
the time is read: they do not advance the watermark), and a line refused after it (a
group key too long, far ahead in time: it advances the watermark). Expiry must use the
latest time of the whole input (the producer's watermark, field w), not a partition's:
the test checks that the input tells the two apart (per-partition runs differ from the
run) before checking the workers.

Cases: one worker; workers killed at forced points (after, before and during a commit) and
another finishing; the same with --state-db (a small cache), then a second producer and
a warm restart, then a third and a worker without --state-db (every partition reloaded
from Redis: the state hashes and the watermarks give the same view); the Redis state hashes hold no expired group (their values carry the
last event time); usage: a worker whose producer lacked --state-ttl stops, --rules and
a spec without a timestamp column refused.

Skips (exit 77) when redis-server is not installed or the build lacks Redis or RocksDB.

  redis_ttl_test.py PATH/TO/fluxcap [--seed S] [--events N]
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import redis_test as rt  # noqa: E402  (the harness: servers, workers, collect, compare)

SPEC = "timestamp: ts\n" + rt.SPEC.replace("    ordered: true\n",
                                             "    ordered: true\n    timespan: 1h\n")
TTL_S = 90


def timed_events(rng, count, hosts):
    """rt.events with a field ts (seconds since the epoch): each host's clock skewed by up
    to 40 s and jittered by 5 s; hosts asleep for phases of 150 events (300 s, longer than
    the time to live). Plus bad lines and one refused after its time is read."""
    base_lines = rt.events(rng, count, hosts)
    skew = [rng.randrange(-40, 41) for _ in range(hosts)]
    awake = set(range(hosts))
    out = []
    t0 = 1780000000
    for i, line in enumerate(base_lines):
        if i % 150 == 0:
            awake = {h for h in range(hosts) if rng.random() < 0.6} or {0}
        h = int(json.loads(line)["host"][1:])
        if h not in awake:
            h = rng.choice(sorted(awake))
            line = line.replace(json.dumps(json.loads(line)["host"]), '"h%d"' % h, 1)
        ts = t0 + 2 * i + skew[h] + rng.randrange(-5, 6)
        out.append('{"ts":%d,%s' % (ts, line[1:]))
        if i == count // 3:
            out.append('{"host":"h1","pid":1}\n')  # no time: refused before it
            out.append('{"ts":"soon","host":"h2","pid":1}\n')  # a bad time likewise
            out.append('{"ts":%d,"host":"%s","pid":1}\n' % (t0 + 2 * i + 300, "x" * 100))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fluxcap")
    ap.add_argument("--seed", type=int, default=20261206)
    ap.add_argument("--events", type=int, default=3000)
    args = ap.parse_args()
    fluxcap = os.path.abspath(args.fluxcap)
    ready = rt.prepare(fluxcap, "ttl", ("--redis", "redis://127.0.0.1:1", "--stream", "s", "--spec", "x",
                                   "--state-db", "x"))
    if ready is None:
        return 77
    binary, work = ready
    servers = []
    started = time.time()
    try:
        h = rt.harness(args, work, fluxcap, binary)
        spec = h.write("spec.yaml", [SPEC])
        base = ["--spec", spec, "--group-key", "host", "--capacity", "20000",
                "--on-error", "skip", "--max-key-bytes", "64"]
        ttl = ["--state-ttl", "%ds" % TTL_S]
        opts = base + ttl
        lines = timed_events(h.rng, args.events, 40)
        half = len(lines) // 2
        parts = [h.write("part0.jsonl", lines[:half]), h.write("part1.jsonl", lines[half:])]
        run_db = [0]

        def run_ttl(inputs):
            run_db[0] += 1
            r = subprocess.run([fluxcap, "run", "--state-db", os.path.join(work, "run%d" % run_db[0])]
                               + opts + inputs, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            assert r.returncode == 0, r.stderr.decode()
            return r.stdout

        expected = run_ttl(parts)
        rt.check(expected != h.run_expected(base, parts),
                 "the time to live changes nothing in this input")

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

        def state_check(s, stream, partitions):
            """Every state value starts with its group's last event time; none is expired
            at its partition's watermark; returns the fields per partition."""
            c = rt.resp(s.port)
            counts = []
            for p in range(partitions):
                wm = c("HGET", "fluxcap:{%s/%d}:meta" % (stream, p), "watermark")
                items = c("HGETALL", "fluxcap:{%s/%d}:state" % (stream, p))
                counts.append(len(items) // 2)
                if not items:
                    continue
                rt.check(wm is not None, "%s/%d: groups but no watermark" % (stream, p))
                for k in range(0, len(items), 2):
                    last = struct.unpack("<q", items[k + 1][:8])[0]
                    rt.check(last >= int(wm) - TTL_S * 1000,
                             "%s/%d: group %s expired (last %d, watermark %s) but kept"
                             % (stream, p, items[k], last, wm))
            c.close()
            return counts

        # Usage: --rules refused, a spec without a timestamp column refused.
        untimed = h.write("untimed.yaml", [rt.SPEC])
        for argv, message in (
                (["--rules", os.path.join(rt.SIGMA, "rules"), "--profile",
                  os.path.join(rt.SIGMA, "tree-profile.yml")] + ttl, b"--rules runs"),
                (["--spec", untimed] + ttl, b"timestamp column"),
                (["--spec", spec, "--state-ttl", "5"], b"duration"),
                (["--spec", spec, "--max-time-ahead", "5m"], b"needs --state-ttl"),
                (["--spec", spec] + ttl + ["--max-time-ahead", "soon"], b"duration")):
            for cmd in ("worker", "produce"):
                r = subprocess.run([fluxcap, cmd, "--redis", "redis://127.0.0.1:1", "--stream", "s"]
                                   + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                rt.check(r.returncode == 2 and message in r.stderr,
                         "usage %s %s: %d %s" % (cmd, argv[-2:], r.returncode, r.stderr.decode()))

        for opt in ("--state-ttl", "--max-time-ahead"):
            r = subprocess.run([fluxcap, "collect", "--redis", "redis://127.0.0.1:1", "--stream", "s",
                                opt, "5m"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            rt.check(r.returncode == 2 and b"'fluxcap worker' option" in r.stderr,
                     "usage collect %s: %d %s" % (opt, r.returncode, r.stderr.decode()))

        # 0. The input tells run's watermark from a partition's own latest time: runs of
        # each partition's lines alone (as a worker expiring at its partition's own
        # latest time would compute them), merged back, differ from the run.
        t = time.time()
        s = server()
        r = h.produce(s, "one", opts, parts, ["--partitions", "4"])
        rt.check(r.returncode == 0, "produce: " + r.stderr.decode())
        c = rt.resp(s.port)
        merged = {}
        for p in range(4):
            entries = c("XRANGE", "fluxcap:{one/%d}:in" % p, "-", "+")
            fields = [dict(zip(e[1][::2], e[1][1::2])) for e in entries]
            rt.check(all(b"w" in f for f in fields if f[b"l"].startswith(b'{"ts":1')),
                     "partition %d: a timed line without w" % p)
            numbers = [int(f[b"n"]) for f in fields]
            path = h.write("p%d.jsonl" % p, [f[b"l"].decode() + "\n" for f in fields])
            out = run_ttl([path]).splitlines(keepends=True)
            good = [n for n, f in zip(numbers, fields)
                    if f[b"l"].startswith(b'{"ts":1') and len(json.loads(f[b"l"])["host"]) <= 64]
            rt.check(len(out) == len(good), "partition %d: run of its lines" % p)
            merged.update(zip(good, out))
        c.close()
        per_partition = b"".join(merged[n] for n in sorted(merged))
        rt.check(per_partition != expected,
                 "expiry at each partition's own latest time gives the same output: the input "
                 "does not test the watermark")
        rt.check(per_partition.count(b"\n") == expected.count(b"\n"),
                 "per-partition runs: as many lines as the run")
        log = run_until_done(s, "one", ["--batch", "100"])
        rt.compare("one worker", h.collect(s, "one"), expected)
        counts = state_check(s, "one", 4)
        rt.check(0 < sum(counts) < 40, "one worker: groups kept %s (some expired)" % counts)
        print("  groups in Redis per partition: %s (%.1f s)" % (counts, time.time() - t),
              flush=True)

        # 0b. A line dated far ahead (2100) moves the producer's watermark (field w) only
        # to its clock plus --max-time-ahead (10 minutes by default), as in run.
        forged = h.write("forged.jsonl", ['{"ts":%d,"host":"h1","pid":1}\n' % (time.time() - 60),
                                          '{"ts":4102444800,"host":"h2","pid":1}\n'])
        c = rt.resp(s.port)
        for stream, extra, ceiling in (("forged", [], 600), ("forged2", ["--max-time-ahead", "1h"], 3600),
                                       ("forged3", ["--max-time-ahead", "104166666666d"], None)):
            before = time.time()
            r = h.produce(s, stream, opts + extra, [forged], ["--partitions", "1"])
            rt.check(r.returncode == 0, "produce %s: %s" % (stream, r.stderr.decode()))
            entries = c("XRANGE", "fluxcap:{%s/0}:in" % stream, "-", "+")
            w = max(int(dict(zip(e[1][::2], e[1][1::2]))[b"w"]) for e in entries)
            if ceiling is None:
                rt.check(w == 4102444800000, "%s: the watermark is %d, not the line's time" % (stream, w))
            else:
                rt.check(before * 1000 + ceiling * 1000 - 1000 <= w <= time.time() * 1000 + ceiling * 1000,
                         "%s: the watermark %d is not the clock plus %d s" % (stream, w, ceiling))
        c.close()
        # A worker over those lines (its clock later than the producer's, which cut the
        # time): it finishes, with run's output. Also over the stream whose w reached
        # 2100 (a producer without the bound): the worker bounds w by its own clock.
        expected_forged = run_ttl([forged])
        for stream in ("forged", "forged3"):
            run_until_done(s, stream, [])
            rt.compare("worker over " + stream, h.collect(s, stream), expected_forged)
            # The partition's clock of expiry, as committed: the worker's bounded one.
            c = rt.resp(s.port)
            wm = int(c("HGET", "fluxcap:{%s/0}:meta" % stream, "watermark"))
            c.close()
            rt.check(wm <= time.time() * 1000 + 600 * 1000,
                     "worker over %s committed the watermark %d, beyond its clock plus 10m"
                     % (stream, wm))
        # A worker without the bound committed a group stamped 2100 (and the watermark),
        # then a process tree of now is produced with a bound: the producer bounds the
        # stream's stored 2100 (its w), and a --state-db worker keeps the tree whether it
        # takes the partition cold, loading that group from Redis (stream poison_cold),
        # or warm, from a local store whose header holds 2100 (stream poison_warm).
        huge = ["--max-time-ahead", "104166666666d"]
        short = ["--max-time-ahead", "30s"]  # below the time to live (90 s), unlike 10m
        for stream, first_db in (("poison_cold", []), ("poison_warm", db("poison_warm"))):
            r = h.produce(s, stream, opts + huge,
                          [h.write("p1.jsonl", ['{"ts":4102444800,"host":"h6","pid":1}\n'])],
                          ["--partitions", "1"])
            rt.check(r.returncode == 0, "produce %s: %s" % (stream, r.stderr.decode()))
            run_until_done(s, stream, huge + first_db)
            now = int(time.time())
            tree = ['{"ts":%d,"host":"h7","pid":1,"sigma":{"lineage":{"office":true}}}\n' % (now - 50),
                    '{"ts":%d,"host":"h7","pid":2,"ppid":1,"sigma":{"parent":{"shell":true}}}\n' % (now - 49),
                    '{"ts":%d,"host":"h7","pid":3,"ppid":2}\n' % (now - 48)]
            r = h.produce(s, stream, opts + short, [h.write("p2.jsonl", tree)], ["--partitions", "1"])
            rt.check(r.returncode == 0, "produce %s (2): %s" % (stream, r.stderr.decode()))
            c = rt.resp(s.port)
            entries = c("XRANGE", "fluxcap:{%s/0}:in" % stream, "-", "+")
            c.close()
            w = int(dict(zip(entries[-1][1][::2], entries[-1][1][1::2]))[b"w"])
            rt.check(w <= time.time() * 1000 + 30 * 1000,
                     "%s: the producer sent w %d from the stream's stored 2100" % (stream, w))
            log = run_until_done(s, stream, (first_db or db("poison_cold")) + short)
            take = ", warm: local store, " if first_db else ", cold: read from Redis, "
            rt.check(take in log, "%s: not the take meant (%r): %s" % (stream, take, log))
            last = h.collect(s, stream).splitlines()[-1:]
            rt.check(last and b"office_shell" in last[0],
                     "%s: a --state-db worker after a time of 2100 lost the tree: %s" % (stream, last))

        # 1. Workers killed after and before a commit, another finishing (no --state-db).
        t = time.time()
        r = h.produce(s, "kill", opts, parts, ["--partitions", "4"])
        lease = ["--lease-ms", "300", "--batch", "50"]
        for point in ("after-commit:3", "before-commit:2", "commit-sent:3", "after-commit:5"):
            w = h.worker(s, "kill", opts, lease, {"FLUXCAP_TEST_REDIS_KILL_AT": point})
            code = rt.harness.wait_forced_exit(w)
            rt.check(code == -9, "kill at %s: status %s" % (point, code))
        run_until_done(s, "kill", lease)
        rt.compare("workers killed, another finishing", h.collect(s, "kill"), expected)
        state_check(s, "kill", 4)
        print("  (%.1f s)" % (time.time() - t), flush=True)

        # 2. With --state-db (a small cache): killed, finished; then a second producer
        # (its watermark starts from the first's) and a warm restart; then a third, and a
        # worker without --state-db, which reloads every partition from Redis.
        t = time.time()
        third = len(lines) // 3
        thirds = [h.write("third%d.jsonl" % i, lines[i * third:(i + 1) * third if i < 2 else None])
                  for i in range(3)]
        r = h.produce(s, "warm", opts, thirds[:1], ["--partitions", "4"])
        lease = db("a") + ["--lease-ms", "300", "--batch", "50", "--cache-groups", "8"]
        for point in ("after-commit:2", "before-commit:3"):
            w = h.worker(s, "warm", opts, lease, {"FLUXCAP_TEST_REDIS_KILL_AT": point})
            code = rt.harness.wait_forced_exit(w)
            rt.check(code == -9, "--state-db: kill at %s: status %s" % (point, code))
        run_until_done(s, "warm", lease)
        r = h.produce(s, "warm", opts, thirds[1:2])
        rt.check(r.returncode == 0, "produce (second): " + r.stderr.decode())
        log = run_until_done(s, "warm", lease)
        rt.check(log.count(", warm: local store, ") == 4, "--state-db: warm restart: " + log)
        state_check(s, "warm", 4)
        r = h.produce(s, "warm", opts, thirds[2:])
        rt.check(r.returncode == 0, "produce (third): " + r.stderr.decode())
        run_until_done(s, "warm", ["--batch", "50"])
        rt.compare("--state-db: killed, a second producer, a warm restart, then a worker "
                   "reloading from Redis", h.collect(s, "warm"), expected)
        c = rt.resp(s.port)
        latest = max(json.loads(x)["ts"] for x in lines
                     if isinstance(json.loads(x).get("ts"), int)) * 1000
        got = c("GET", "fluxcap:{warm}:watermark")
        c.close()
        rt.check(got == b"%d" % latest,
                 "the stream's watermark after three producers: %s, expected %d" % (got, latest))
        state_check(s, "warm", 4)
        print("  (%.1f s)" % (time.time() - t), flush=True)

        # 3. A producer without --state-ttl: the worker stops at its first timed line.
        r = h.produce(s, "nottl", base, parts[:1], ["--partitions", "2"])
        w = h.worker(s, "nottl", opts, [])
        code = rt.harness.wait_forced_exit(w)
        rt.check(code == 2 and "produce with --state-ttl" in rt.harness.log_of(w),
                 "worker on a stream produced without --state-ttl: %s %s"
                 % (code, rt.harness.log_of(w)))
        # A producer without --state-ttl after one with it (the reviewer's case: its lines
        # lag the clock, so their times alone cannot tell): refused all the same, by the
        # missing w.
        r = h.produce(s, "mixed", opts, parts[:1], ["--partitions", "2"])
        rt.check(r.returncode == 0, "produce (mixed, with --state-ttl): " + r.stderr.decode())
        r = h.produce(s, "mixed", base, parts[:1])
        rt.check(r.returncode == 0, "produce (mixed, without): " + r.stderr.decode())
        w = h.worker(s, "mixed", opts, [])
        code = rt.harness.wait_forced_exit(w)
        rt.check(code == 2 and "produce with --state-ttl" in rt.harness.log_of(w),
                 "worker on a stream produced with and then without --state-ttl: %s %s"
                 % (code, rt.harness.log_of(w)))
        # A worker without --state-ttl on a deployment with it: another spec, refused.
        w = h.worker(s, "one", base, [])
        code = rt.harness.wait_forced_exit(w)
        rt.check(code == 2 and "refused" in rt.harness.log_of(w),
                 "worker without --state-ttl: %s %s" % (code, rt.harness.log_of(w)))
        s.stop()
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
