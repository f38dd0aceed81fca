#!/usr/bin/env python3
"""CPU cost per event of each role of fluxcap on Redis Streams (docs/scale-out.md).

Starts its own redis-server (loopback, temporary directory, noeviction, AOF with
--appendfsync), generates the process-tree events of tests/cli/redis_test.py, and
measures, on the same input:

  run      one `fluxcap run` (the baseline, CPU from getrusage of the child)
  produce  `fluxcap produce` (getrusage), and Redis's CPU meanwhile (INFO cpu deltas)
  worker   one `fluxcap worker` until every partition is committed (getrusage), and
           Redis's CPU meanwhile
  collect  `fluxcap collect` (getrusage)

CPU seconds, not wall time, so that a shared machine distorts less; every figure names
the partition count. The collected output is checked against the run's (byte for byte).

  redis_throughput.py PATH/TO/fluxcap [--events N] [--partitions P] [--batch N]
                      [--appendfsync always|everysec] [--detections-only]
"""
import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "cli"))
import redis_test  # noqa: E402  (events, resp, free_port, SPEC)


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def redis_cpu(port):
    c = redis_test.resp(port)
    info = c("INFO", "cpu").decode()
    c.close()
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    return float(fields["used_cpu_user"]) + float(fields["used_cpu_sys"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fluxcap")
    ap.add_argument("--events", type=int, default=200000)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--appendfsync", default="everysec")
    ap.add_argument("--detections-only", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    fluxcap = os.path.abspath(args.fluxcap)
    binary = shutil.which("redis-server")
    if binary is None:
        print("redis-server is not installed")
        return 1
    work = tempfile.mkdtemp(prefix="fluxcap-redis-bench-")
    server = None
    try:
        import random
        rng = random.Random(args.seed)
        spec = os.path.join(work, "spec.yaml")
        with open(spec, "w") as f:
            f.write(redis_test.SPEC)
        data = os.path.join(work, "in.jsonl")
        with open(data, "w") as f:
            f.writelines(redis_test.events(rng, args.events, 1000))
        opts = ["--spec", spec, "--group-key", "host", "--capacity", "20000"]
        port = redis_test.free_port()
        rdir = os.path.join(work, "redis")
        os.mkdir(rdir)
        server = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", rdir, "--appendonly",
             "yes", "--appendfsync", args.appendfsync, "--save", "", "--maxmemory-policy",
             "noeviction", "--logfile", os.path.join(rdir, "log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while True:
            try:
                if redis_test.resp(port)("PING") == "PONG":
                    break
            except (OSError, RuntimeError):
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        url = "redis://127.0.0.1:%d" % port
        n = args.events
        rows = []

        c0 = child_cpu()
        t0 = time.time()
        expected = subprocess.run([fluxcap, "run"] + opts + [data], stdout=subprocess.PIPE,
                                  check=True).stdout
        rows.append(("run", child_cpu() - c0, None, time.time() - t0))

        c0, r0, t0 = child_cpu(), redis_cpu(port), time.time()
        subprocess.run([fluxcap, "produce", "--redis", url, "--stream", "b", "--partitions",
                        str(args.partitions), "--batch", str(args.batch)] + opts + [data],
                       check=True)
        rows.append(("produce", child_cpu() - c0, redis_cpu(port) - r0, time.time() - t0))

        c0, r0, t0 = child_cpu(), redis_cpu(port), time.time()
        extra = ["--detections-only"] if args.detections_only else []
        w = subprocess.Popen([fluxcap, "worker", "--redis", url, "--stream", "b", "--batch",
                              str(args.batch), "--poll-ms", "5"] + extra + opts)
        h = redis_test.harness
        if not h.done(type("s", (), {"port": port})(), "b", timeout=600, workers=[w]):
            print("the worker did not finish")
            return 1
        wall = time.time() - t0
        w.send_signal(signal.SIGTERM)
        w.wait()
        rows.append(("worker", child_cpu() - c0, redis_cpu(port) - r0, wall))

        c0, t0 = child_cpu(), time.time()
        got = subprocess.run([fluxcap, "collect", "--redis", url, "--stream", "b"],
                             stdout=subprocess.PIPE, check=True).stdout
        rows.append(("collect", child_cpu() - c0, None, time.time() - t0))
        if args.detections_only:
            import json
            expected = b"".join(l + b"\n" for l in expected.splitlines()
                                if json.loads(l).get("detections"))
        ok = got == expected

        print("%d events (%.1f MB), %d partitions, batch %d, appendfsync %s%s; output %s" % (
            n, os.path.getsize(data) / 1e6, args.partitions, args.batch, args.appendfsync,
            ", --detections-only" if args.detections_only else "",
            "identical to run" if ok else "DIFFERENT FROM RUN"))
        print("%-8s %14s %14s %12s %10s" % ("role", "fluxcap us/ev", "redis us/ev", "x run cpu",
                                            "wall s"))
        base = rows[0][1]
        for role, cpu, rcpu, wall in rows:
            print("%-8s %14.2f %14s %12.1f %10.2f" % (
                role, cpu / n * 1e6, "-" if rcpu is None else "%.2f" % (rcpu / n * 1e6),
                cpu / base, wall))
        return 0 if ok else 1
    finally:
        if server:
            server.terminate()
            server.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
