#!/usr/bin/env python3
"""Take-over time of a partition by a `fluxcap worker`: warm (--state-db holding the
committed state: nothing read from Redis) against cold (the Redis state hash read in
full: in memory, or into a new --state-db), at G groups (docs/scale-out.md, "The warm
cache").

Starts its own redis-server (loopback, temporary directory, noeviction, AOF always),
produces 2 events a host for G hosts into one partition (three streams), lets a worker
process each (in memory; --state-db A; --state-db with a small cache: CPU per event and
peak RSS of the whole worker, take included), then starts workers that take the partition and have nothing to
process (so that Redis's position stays A's): the take time is the worker's own figure
(`took partition ... ms`, from the lease to the loaded state); the peak RSS and CPU
seconds come from wait4. Each measurement is repeated; the median is shown.

  redis_warm_takeover.py PATH/TO/fluxcap [--groups G] [--repeat N]
"""
import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "cli"))
import redis_test  # noqa: E402  (resp, redis_server, SPEC)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fluxcap")
    ap.add_argument("--groups", type=int, default=100000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    fluxcap = os.path.abspath(args.fluxcap)
    binary = shutil.which("redis-server")
    if binary is None:
        print("redis-server is not installed")
        return 77
    work = tempfile.mkdtemp(prefix="fluxcap-warm-bench-")
    server = None
    try:
        server = redis_test.redis_server(binary, work)
        spec = os.path.join(work, "spec.yaml")
        with open(spec, "w") as f:
            f.write(redis_test.SPEC)
        opts = ["--spec", spec, "--group-key", "host", "--capacity", "20000"]
        data = os.path.join(work, "in.jsonl")
        with open(data, "w") as f:
            for h in range(args.groups):
                f.write('{"host":"h%d","pid":1,"user":"u%d"}\n' % (h, h % 4))
                f.write('{"host":"h%d","pid":2,"ppid":1,"user":"u%d","sigma":{"parent":'
                        '{"shell":true}}}\n' % (h, h % 4))
        def base(stream):
            return [fluxcap, "worker", "--redis", server.url, "--stream", stream, "--poll-ms",
                    "10", "--stats", "--batch", "1000"] + opts

        for stream in ("b", "m", "s"):
            r = subprocess.run([fluxcap, "produce", "--redis", server.url, "--stream", stream,
                                "--partitions", "1"] + opts + [data], stderr=subprocess.PIPE)
            assert r.returncode == 0, r.stderr.decode()

        def worker(extra, until, stream="b"):
            """Runs a worker until `until(log)`; returns (log, peak RSS MiB, CPU s)."""
            log_path = os.path.join(work, "w.log")
            with open(log_path, "wb") as log:
                p = subprocess.Popen(base(stream) + extra, stdout=subprocess.DEVNULL, stderr=log)
            deadline = time.time() + 600
            text = ""
            while time.time() < deadline:
                with open(log_path, "rb") as f:
                    text = f.read().decode(errors="replace")
                if until(text) or p.poll() is not None:
                    break
                time.sleep(0.02)
            if p.returncode is None:
                p.send_signal(signal.SIGTERM)
            _, status, ru = os.wait4(p.pid, 0)
            p.returncode = os.waitstatus_to_exitcode(status)
            with open(log_path, "rb") as f:
                text = f.read().decode(errors="replace")
            assert p.returncode == 0, text
            return text, ru.ru_maxrss / 1024.0, ru.ru_utime + ru.ru_stime

        def done(stream):
            def check(text):
                c = redis_test.resp(server.port)
                last = c("XREVRANGE", "fluxcap:{%s/0}:in" % stream, "+", "-", "COUNT", 1)
                pos = c("GET", "fluxcap:{%s/0}:pos" % stream)
                c.close()
                return last and last[0][0] == pos
            return check

        # Processing the input (2 events a group, batches of 1000): the worker's CPU per
        # event with its groups in memory, and in the store (each accepted commit also
        # written locally).
        warm_db = os.path.join(work, "warm")
        steady = []
        for name, extra, stream in (
                ("in memory (no --state-db)", [], "m"),
                ("--state-db (default cache)", ["--state-db", warm_db], "b"),
                ("--state-db --cache-groups 10000",
                 ["--state-db", os.path.join(work, "steady-small"), "--cache-groups", "10000"],
                 "s")):
            _, rss, cpu = worker(extra, done(stream), stream)
            steady.append((name, cpu / (2 * args.groups) * 1e6, rss))
        took = re.compile(r"took partition 0 \(.*, (\d+) groups(, (warm|cold)[^,]*)?, ([\d.]+) ms\)")

        def take(extra, want):
            text, rss, cpu = worker(extra, lambda t: "took partition" in t)
            m = took.search(text)
            assert m and (m.group(3) or "memory") == want, text
            assert int(m.group(1)) == args.groups, text
            return float(m.group(4)), rss, cpu

        rows = {}
        for i in range(args.repeat):
            for name, extra, want in (
                    ("warm, --state-db (default cache)", ["--state-db", warm_db], "warm"),
                    ("warm, --state-db --cache-groups 10000",
                     ["--state-db", warm_db, "--cache-groups", "10000"], "warm"),
                    ("cold, in memory (no --state-db)", [], "memory"),
                    ("cold, new --state-db (default cache)",
                     ["--state-db", os.path.join(work, "cold%d" % i)], "cold"),
                    ("cold, new --state-db --cache-groups 10000",
                     ["--state-db", os.path.join(work, "small%d" % i), "--cache-groups",
                      "10000"], "cold")):
                rows.setdefault(name, []).append(take(extra, want))
        print("%d groups in one partition, median of %d:" % (args.groups, args.repeat))
        print("| take-over | take (ms) | worker peak RSS (MiB) | worker CPU (s) |")
        print("|---|---:|---:|---:|")
        for name, runs in rows.items():
            print("| %s | %.0f | %.0f | %.2f |" % (
                name, statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs),
                statistics.median(r[2] for r in runs)))
        print("\nprocessing %d events over %d groups (batch 1000), whole worker process:" % (
            2 * args.groups, args.groups))
        print("| worker | CPU (µs per event) | peak RSS (MiB) |")
        print("|---|---:|---:|")
        for name, us, rss in steady:
            print("| %s | %.2f | %.0f |" % (name, us, rss))
    finally:
        if server:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
