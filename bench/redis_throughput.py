#!/usr/bin/env python3
"""fluxcap on Redis Streams (docs/scale-out.md): CPU per event, the throughput model,
pinned workers, failover. A benchmark script, not a test (not in CI).

Starts its own redis-server (loopback, temporary directory, noeviction, AOF with
--appendfsync), generates the process-tree events of tests/cli/redis_test.py, and runs
three phases (--phases, default all three); every collected output is checked byte for
byte against one `fluxcap run` over the same input.

  cost      on one unpinned Redis: `fluxcap run` (the baseline), `produce`, one `worker`
            until every partition is committed, `collect`; CPU seconds per event of each
            (getrusage of the child) and of Redis meanwhile (INFO cpu deltas).
  pinned    Redis pinned to core --redis-core (taskset), workers pinned: 1 worker on the
            other core; 2 workers both on the other core; 2 workers, one on each core (one
            shares Redis's core). Wall-clock throughput of each against the model
            min(workers / worker cost, shards / Redis cost) and its core-aware form, with
            the costs measured in the 1-worker run (docs/scale-out.md, "Performance").
  failover  a live stream (a producer fed at --rate events/s), worker A owning every
            partition, worker B waiting; kill -9 of A mid-stream: time until B holds every
            partition, until the output lag is back to its level before the kill, and the
            events recomputed (at most the batch A had in hand: bounded by counting the
            uncommitted entries of each partition at the kill), for each --lease-ms and
            --failover-batch, with and without --detections-only.

One Redis is one shard in every figure (Redis Cluster was not measured).

  redis_throughput.py PATH/TO/fluxcap [--quick] [--phases cost,pinned,failover]
        [--events N] [--partitions P] [--batch N] [--appendfsync always|everysec]
        [--detections-only] [--lease-ms 1000,3000] [--failover-batch 100,1000]
        [--rate EVENTS/S] [--redis-core C]
"""
import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "cli"))
import redis_test  # noqa: E402  (events, resp, free_port, SPEC)


# ---------------------------------------------------------------------------------------
# processes


def spawn(cmd, core=None, **kw):
    """Popen, pinned to `core` by taskset (which execs: the pid is the command's)."""
    if core is not None:
        cmd = ["taskset", "-c", str(core)] + cmd
    return subprocess.Popen(cmd, **kw)


def reap(p, block=True):
    """Waits for `p` (block) or checks whether it ended; returns its CPU seconds (user +
    system, getrusage via wait4), or None while it runs."""
    if getattr(p, "cpu", None) is None:
        pid, status, ru = os.wait4(p.pid, 0 if block else os.WNOHANG)
        if pid == 0:
            return None
        p.returncode = os.waitstatus_to_exitcode(status)
        p.cpu = ru.ru_utime + ru.ru_stime
    return p.cpu


def run_child(cmd, core=None, stdin=None, stdout=None, stderr=None):
    """Runs `cmd` to its end; returns (CPU seconds, wall seconds). Fails on a non-zero exit."""
    t0 = time.time()
    p = spawn(cmd, core, stdin=stdin, stdout=stdout, stderr=stderr)
    cpu = reap(p)
    if p.returncode != 0:
        raise RuntimeError("%s exited %d" % (" ".join(cmd), p.returncode))
    return cpu, time.time() - t0


class redis:
    def __init__(self, binary, work, appendfsync, core=None):
        self.port = redis_test.free_port()
        self.dir = tempfile.mkdtemp(prefix="redis-", dir=work)
        self.proc = spawn(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
             "--appendonly", "yes", "--appendfsync", appendfsync, "--save", "",
             "--maxmemory-policy", "noeviction", "--logfile", os.path.join(self.dir, "log")],
            core, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while True:
            try:
                c = redis_test.resp(self.port)
                if c("PING") == "PONG":
                    break
            except (OSError, RuntimeError):
                pass
            if time.time() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        self.c = c
        self.url = "redis://127.0.0.1:%d" % self.port

    def cpu(self):
        info = self.c("INFO", "cpu").decode()
        fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
        return float(fields["used_cpu_user"]) + float(fields["used_cpu_sys"])

    def pipeline(self, commands):
        out = b""
        for args in commands:
            out += b"*%d\r\n" % len(args)
            for a in args:
                a = a if isinstance(a, bytes) else str(a).encode()
                out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.c.sock.sendall(out)
        return [self.c._reply() for _ in commands]

    def stop(self):
        self.c.close()
        self.proc.terminate()
        self.proc.wait()


def run_delay(pid):
    """Seconds the process's main thread waited, runnable, for a CPU (/proc/PID/schedstat):
    what other processes on its core took from it."""
    try:
        with open("/proc/%d/schedstat" % pid) as f:
            return int(f.read().split()[1]) / 1e9
    except OSError:
        return 0.0


def key(stream, p, part):
    return "fluxcap:{%s/%d}:%s" % (stream, p, part)


def done(server, stream, partitions, workers=()):
    """Waits until every partition's committed position is its input's last ID."""
    while True:
        replies = server.pipeline(
            [c for p in range(partitions) for c in (
                ["XREVRANGE", key(stream, p, "in"), "+", "-", "COUNT", 1],
                ["GET", key(stream, p, "pos")])])
        if all(not replies[2 * p] or replies[2 * p][0][0] == replies[2 * p + 1]
               for p in range(partitions)):
            return True
        if any(reap(w, block=False) is not None for w in workers):
            return False
        time.sleep(0.01)


def wait_for_log(path, text, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(path, "rb") as f:
            if text in f.read():
                return True
        time.sleep(0.01)
    return False


def expected_output(fluxcap, opts, data, detections_only):
    out = subprocess.run([fluxcap, "run"] + opts + [data], stdout=subprocess.PIPE,
                         check=True).stdout
    if detections_only:
        out = b"".join(l + b"\n" for l in out.splitlines() if json.loads(l).get("detections"))
    return out


def collect(fluxcap, server, stream):
    return subprocess.run([fluxcap, "collect", "--redis", server.url, "--stream", stream],
                          stdout=subprocess.PIPE, check=True).stdout


def us(seconds, n):
    return seconds / n * 1e6


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# ---------------------------------------------------------------------------------------
# phases


def phase_cost(a, env):
    fluxcap, opts, data, n = env["fluxcap"], env["opts"], env["data"], a.events
    server = redis(env["binary"], env["work"], a.appendfsync)
    extra = ["--detections-only"] if a.detections_only else []
    expected = expected_output(fluxcap, opts, data, a.detections_only)
    streams = iter("c%d" % i for i in range(1000))
    ok = True

    def produce():
        stream = next(streams)
        r0 = server.cpu()
        cpu, wall = run_child([fluxcap, "produce", "--redis", server.url, "--stream", stream,
                               "--partitions", str(a.partitions), "--batch", str(a.batch)]
                              + opts + [data], stderr=env["log"])
        return stream, cpu, server.cpu() - r0, wall

    def worker(binary):
        nonlocal ok
        stream = produce()[0]
        r0, t0 = server.cpu(), time.time()
        w = spawn([binary, "worker", "--redis", server.url, "--stream", stream, "--batch",
                   str(a.batch), "--poll-ms", "5"] + extra + opts, stderr=env["log"])
        if not done(server, stream, a.partitions, [w]):
            raise RuntimeError("the worker did not finish")
        wall = time.time() - t0
        rcpu = server.cpu() - r0
        w.send_signal(signal.SIGTERM)
        cpu = reap(w)
        ok &= collect(fluxcap, server, stream) == expected
        return stream, cpu, rcpu, wall

    try:
        rows = []
        with open(os.devnull, "wb") as null:
            cpu, wall = run_child([fluxcap, "run"] + opts + [data], stdout=null)
        rows.append(("run", cpu, None, wall))
        rows.append(("produce",) + produce()[1:])
        # Each worker run on a fresh stream; with --baseline, the two binaries alternate and
        # each keeps its least CPU (the machine is shared: noise only adds).
        best = {}
        for _ in range(a.repeat):
            for name, binary in [("worker", fluxcap)] + (
                    [("worker (baseline)", a.baseline)] if a.baseline else []):
                stream, cpu, rcpu, wall = worker(binary)
                if name not in best or cpu < best[name][0]:
                    best[name] = (cpu, rcpu, wall, stream)
        for name, (cpu, rcpu, wall, stream) in best.items():
            rows.append((name, cpu, rcpu, wall))
        out = os.path.join(env["work"], "collected")
        with open(out, "wb") as f:
            cpu, wall = run_child([fluxcap, "collect", "--redis", server.url, "--stream",
                                   best["worker"][3]], stdout=f)
        rows.append(("collect", cpu, None, wall))
    finally:
        server.stop()
    print("== cost: %d events (%.1f MB), %d partitions, 1 shard (one unpinned Redis), batch %d, "
          "appendfsync %s%s; outputs %s; load %s" % (
              n, os.path.getsize(data) / 1e6, a.partitions, a.batch, a.appendfsync,
              ", --detections-only" if a.detections_only else "",
              "identical to run" if ok else "DIFFERENT FROM RUN", loadavg()))
    print("%-18s %14s %14s %12s %10s" % ("role", "fluxcap us/ev", "redis us/ev", "x run cpu",
                                         "wall s"))
    base = rows[0][1]
    for role, cpu, rcpu, wall in rows:
        print("%-18s %14.2f %14s %12.1f %10.2f" % (
            role, us(cpu, n), "-" if rcpu is None else "%.2f" % us(rcpu, n), cpu / base, wall))
    sys.stdout.flush()
    return ok


def phase_pinned(a, env):
    """Redis on core R, workers on the other core O; three placements."""
    fluxcap, opts, data, n, P = env["fluxcap"], env["opts"], env["data"], a.events, a.partitions
    rc = a.redis_core
    oc = 1 - rc
    server = redis(env["binary"], env["work"], a.appendfsync, core=rc)
    placements = [("1 worker, core %d" % oc, [oc]),
                  ("2 workers, both on core %d" % oc, [oc, oc]),
                  ("2 workers, cores %d and %d (shares Redis's)" % (oc, rc), [oc, rc])]
    extra = ["--detections-only"] if a.detections_only else []
    expected = expected_output(fluxcap, opts, data, a.detections_only)
    results = []
    ok = True
    try:
        for i, (label, cores) in enumerate(placements):
            stream = "pin%d" % i
            run_child([fluxcap, "produce", "--redis", server.url, "--stream", stream,
                       "--partitions", str(P), "--batch", "1000"] + opts + [data],
                      stderr=env["log"])
            pmax = str(P // len(cores))
            r0, t0, rd0 = server.cpu(), time.time(), run_delay(server.proc.pid)
            ws = [spawn([fluxcap, "worker", "--redis", server.url, "--stream", stream, "--batch",
                         str(a.batch), "--poll-ms", "5", "--lease-ms", str(a.pinned_lease_ms),
                         "--partitions-max", pmax] + extra + opts,
                        core, stderr=env["log"]) for core in cores]
            finished = done(server, stream, P, ws)
            wall = time.time() - t0
            rcpu = server.cpu() - r0
            delays = [run_delay(w.pid) for w in ws] + [run_delay(server.proc.pid) - rd0]
            for w in ws:
                w.send_signal(signal.SIGTERM)
            wcpu = sum(reap(w) for w in ws)
            if not finished:
                raise RuntimeError("workers did not finish (%s)" % label)
            same = collect(fluxcap, server, stream) == expected
            ok &= same
            results.append((label, cores, wall, wcpu, rcpu, same, delays))
    finally:
        server.stop()
    # The costs of the model: the 1-worker run's (CPU per event of the worker and of Redis).
    _, _, wall1, w_cost, r_cost, _, _ = results[0]
    w = w_cost / n
    r = r_cost / n
    print("== pinned: %d events, %d partitions, 1 shard (one Redis, pinned to core %d), batch %d, "
          "appendfsync %s%s; load %s" % (
              n, P, rc, a.batch, a.appendfsync, ", --detections-only" if a.detections_only else "",
              loadavg()))
    print("model costs (1-worker run): worker w = %.2f us/ev, Redis r = %.2f us/ev" % (
        w * 1e6, r * 1e6))
    print("%-44s %7s %7s %9s %10s %9s %9s %6s %6s %-12s %7s %s" % (
        "placement", "w us/ev", "r us/ev", "min-model", "core-model", "measured", "meas/core",
        "busy W", "busy R", "waited W/R s", "overlap", "output"))
    for label, cores, wall, wcpu, rcpu, same, delays in results:
        k = len(cores)
        issue_model = min(k / w, 1 / r)
        # Core-aware: a worker's loop is synchronous (read, process, commit, each waiting for
        # Redis), so k workers give at most k / (w + r); each core's load per event (its
        # workers' share of w, plus r on Redis's core) must stay below 1 s per second.
        load = {}
        for core in cores:
            load[core] = load.get(core, 0) + w / k
        load[rc] = load.get(rc, 0) + r
        core_model = min([k / (w + r)] + [1 / l for l in load.values()])
        measured = n / wall
        print("%-44s %7.2f %7.2f %9.0f %10.0f %9.0f %9.2f %6.2f %6.2f %-12s %7.2f %s" % (
            label, us(wcpu, n), us(rcpu, n), issue_model, core_model, measured,
            measured / core_model, wcpu / wall, rcpu / wall,
            "%.2f/%.2f" % (sum(delays[:-1]), delays[-1]), (wcpu + rcpu + sum(delays)) / wall,
            "identical" if same else "DIFFERENT"))
    print("(events/s; min-model = min(workers / w, shards / r); core-model = min(workers / (w + r),"
          " 1 / each core's load); busy: CPU seconds a second of the workers (W, summed) and of "
          "Redis (R); waited: seconds the workers (summed) and Redis were runnable but had no "
          "CPU (other processes on their core); overlap: (CPU + waited) / wall, all processes: 1.0 "
          "when the workers and Redis take turns, as one synchronous worker must, above 1 when "
          "they run at the same time)")
    sys.stdout.flush()
    return ok


class feeder(threading.Thread):
    """Writes lines[0:] to a producer's standard input at `rate` lines a second."""

    def __init__(self, pipe, lines, rate):
        super().__init__(daemon=True)
        self.pipe, self.lines, self.rate = pipe, lines, rate
        self.stop = threading.Event()
        self.fed = 0

    def run(self):
        t0 = time.time()
        while not self.stop.is_set() and self.fed < len(self.lines):
            target = min(len(self.lines), int((time.time() - t0) * self.rate))
            if target > self.fed:
                self.pipe.write("".join(self.lines[self.fed:target]).encode())
                self.pipe.flush()
                self.fed = target
            time.sleep(0.005)
        self.pipe.close()


def lag_ms(server, stream, P):
    """The age of the oldest uncommitted input entry (0 when all are committed), and for
    each partition its uncommitted entries (counted up to `cap`)."""
    pos = server.pipeline([["GET", key(stream, p, "pos")] for p in range(P)])
    nxt = server.pipeline([["XRANGE", key(stream, p, "in"), b"(" + pos[p] if pos[p] else "-",
                            "+", "COUNT", 1] for p in range(P)])
    now = time.time() * 1000
    ages = [now - int(r[0][0].split(b"-")[0]) for r in nxt if r]
    return max(ages) if ages else 0.0, pos


def phase_failover(a, env):
    fluxcap, P = env["fluxcap"], a.partitions
    rc = a.redis_core
    oc = 1 - rc
    server = redis(env["binary"], env["work"], a.appendfsync, core=rc)
    rows = []
    ok = True
    try:
        i = 0
        for mode in ("live", "backlog"):
            for detections_only in (False, True):
                for lease in a.lease_ms:
                    for batch in a.failover_batch:
                        i += 1
                        row = failover_once(a, env, server, "fo%d" % i, mode, lease, batch,
                                            detections_only, oc, rc)
                        ok &= row["identical"]
                        rows.append(row)
                        print("  %s" % json.dumps(row), flush=True)
    finally:
        server.stop()
    print("== failover: %d partitions, 1 shard (one Redis, pinned to core %d, with the producer), "
          "workers A and B on core %d, --poll-ms 10; live: input at %d events/s, A killed from "
          "outside (kill -9) after %.1f s; backlog: %d events produced first, A kills itself "
          "(SIGKILL) just before commit k (a full batch in hand, about a third in); load %s" % (
              P, rc, oc, a.rate, a.steady_s, a.failover_events, loadavg()))
    print("%-8s %4s %6s %6s %8s %8s %8s %10s %9s %10s %s" % (
        "mode", "det", "lease", "batch", "lag pre", "ttl left", "taken", "caught up", "pending",
        "recomputed", "output"))
    for r in rows:
        print("%-8s %4s %6d %6d %8s %8.0f %8.0f %10s %9d %10s %s" % (
            r["mode"], "yes" if r["detections_only"] else "no", r["lease_ms"], r["batch"],
            "-" if r["lag_before_ms"] is None else "%.0f" % r["lag_before_ms"],
            r["lease_left_ms"], r["taken_ms"],
            "%.0f" % r["caught_up_ms"] if r["mode"] == "live" else "+%.0f" % r["delay_ms"],
            r["pending_at_kill"],
            ("<=%d" if r["mode"] == "live" else "%d") % r["recomputed"],
            "identical" if r["identical"] else "DIFFERENT"))
    print("(ms after the kill. lag pre: the largest output lag before the kill; ttl left: the "
          "longest lease time left at the kill; taken: B holds every partition; caught up "
          "(live): the output lag is back to lag pre; +delay (backlog): the whole input "
          "committed this much later than by one uninterrupted worker; pending: uncommitted "
          "entries at the kill; recomputed: entries A had read and B read again (live: at most "
          "one batch of the pending ones; backlog: counted, the batch A died with))")
    sys.stdout.flush()
    return ok


def failover_once(a, env, server, stream, mode, lease, batch, detections_only, oc, rc):
    fluxcap, opts, P, work = env["fluxcap"], env["opts"], a.partitions, env["work"]
    extra = ["--lease-ms", str(lease), "--batch", str(batch), "--poll-ms", "10", "--stats"]
    if detections_only:
        extra.append("--detections-only")
    live = mode == "live"

    def worker(name, stream, env_extra=None):
        log = os.path.join(work, "%s-%s.log" % (stream, name))
        e = dict(os.environ)
        e.update(env_extra or {})
        with open(log, "wb") as f:
            p = spawn([fluxcap, "worker", "--redis", server.url, "--stream", stream] + extra + opts,
                      oc, stdout=subprocess.DEVNULL, stderr=f, env=e)
        p.log = log
        return p

    def owners(stream):
        values = server.pipeline([["GET", key(stream, p, "lease")] for p in range(P)])
        return [v.split(b"/")[1] if v else None for v in values]

    delay = None
    if live:
        # The deployment first, so that the workers find it.
        run_child([fluxcap, "produce", "--redis", server.url, "--stream", stream, "--partitions",
                   str(P)] + opts + [os.devnull], stderr=env["log"])
        producer = spawn([fluxcap, "produce", "--redis", server.url, "--stream", stream,
                          "--batch", "100"] + opts, rc, stdin=subprocess.PIPE, stderr=env["log"])
        lines = env["live_lines"]
        feed = feeder(producer.stdin, lines, a.rate)
        feed.start()
        wa = worker("a", stream)
    else:
        data = env["failover_data"]
        for s in (stream, stream + "u"):
            run_child([fluxcap, "produce", "--redis", server.url, "--stream", s, "--partitions",
                       str(P)] + opts + [data], stderr=env["log"])
        # The baseline: one uninterrupted worker over the same input.
        t0 = time.time()
        wu = worker("u", stream + "u")
        if not done(server, stream + "u", P, [wu]):
            raise RuntimeError("the uninterrupted worker did not finish")
        baseline = time.time() - t0
        wu.send_signal(signal.SIGTERM)
        reap(wu)
        k = max(1, a.failover_events // 3 // batch)
        t_start = time.time()
        wa = worker("a", stream, {"FLUXCAP_TEST_REDIS_KILL_AT": "before-commit:%d" % k})
    while owners(stream).count(str(wa.pid).encode()) < P:
        if reap(wa, block=False) is not None:
            raise RuntimeError("worker A ended before taking every partition")
        time.sleep(0.002)
    wb = worker("b", stream)
    if not wait_for_log(wb.log, b"partitions\n"):
        raise RuntimeError("worker B did not start")
    lag_before = None
    if live:
        # Steady state: the largest lag seen before the kill.
        t_end = time.time() + a.steady_s
        lag_before = 0.0
        while time.time() < t_end:
            lag_before = max(lag_before, lag_ms(server, stream, P)[0])
            time.sleep(0.01)
        ttl = server.pipeline([["PTTL", key(stream, p, "lease")] for p in range(P)])
        wa.kill()
        t_kill = time.time()
    else:
        ttl = server.pipeline([["PTTL", key(stream, p, "lease")] for p in range(P)])
        while reap(wa, block=False) is None:
            ttl = server.pipeline([["PTTL", key(stream, p, "lease")] for p in range(P)])
            time.sleep(0.002)
        t_kill = time.time()
    reap(wa)
    # The committed positions A left (B can commit nothing before it holds a lease).
    _, pos = lag_ms(server, stream, P)
    ends = [r[0][0] if r else b"0-0" for r in server.pipeline(
        [["XREVRANGE", key(stream, p, "in"), "+", "-", "COUNT", 1] for p in range(P)])]
    taken = caught = None
    bpid = str(wb.pid).encode()
    threshold = max(lag_before or 0, 10.0)
    while time.time() - t_kill < 60:
        now = time.time()
        if taken is None and owners(stream).count(bpid) == P:
            taken = now - t_kill
        if taken is not None and (not live or lag_ms(server, stream, P)[0] <= threshold):
            caught = time.time() - t_kill
            break
        time.sleep(0.002)
    if live:
        time.sleep(0.3)
        feed.stop.set()
        feed.join()
        reap(producer)
    # What A left uncommitted: each partition's entries after its committed position
    # (counted now: reading them in Python takes a while).
    pend = server.pipeline([["XRANGE", key(stream, p, "in"), b"(" + pos[p] if pos[p] else "-",
                             ends[p], "COUNT", batch] for p in range(P)])
    pending_total = sum(len(x) for x in server.pipeline(
        [["XRANGE", key(stream, p, "in"), b"(" + pos[p] if pos[p] else "-", ends[p]]
         for p in range(P)]))
    if live:
        # A had at most one batch in hand, of one partition.
        recomputed = max(len(x) for x in pend)
    else:
        # A died before commit k: the batch in hand was of the ((k - 1) mod P)-th partition it
        # took (it goes round its partitions, a batch each), all of whose entries were there.
        with open(wa.log) as f:
            order = [int(l.split("took partition ")[1].split()[0]) for l in f
                     if "took partition" in l]
        recomputed = len(pend[order[(k - 1) % P]])
    if not done(server, stream, P, [wb]):
        raise RuntimeError("worker B did not finish")
    if not live:
        delay = (time.time() - t_start - baseline) * 1000
    wb.send_signal(signal.SIGTERM)
    reap(wb)
    if live:
        data = os.path.join(work, stream + ".jsonl")
        with open(data, "w") as f:
            f.writelines(lines[:feed.fed])
    same = collect(fluxcap, server, stream) == expected_output(fluxcap, opts, data, detections_only)
    meta = server.pipeline([["HGET", key(stream, p, "meta"), "stale_commits"] for p in range(P)])
    return {"mode": mode, "detections_only": detections_only, "lease_ms": lease, "batch": batch,
            "lag_before_ms": lag_before,
            "lease_left_ms": max(int(x) for x in ttl),
            "taken_ms": -1 if taken is None else taken * 1000,
            "caught_up_ms": -1 if caught is None else caught * 1000, "delay_ms": delay,
            "pending_at_kill": pending_total, "recomputed": recomputed,
            "events": feed.fed if live else a.failover_events,
            "stale_commits": sum(int(x or 0) for x in meta), "identical": same}


def main():
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("fluxcap")
    ap.add_argument("--quick", action="store_true",
                    help="a few seconds: 5,000 events, one failover setting")
    ap.add_argument("--phases", default="cost,pinned,failover")
    ap.add_argument("--events", type=int, default=200000)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--appendfsync", default="everysec")
    ap.add_argument("--detections-only", action="store_true",
                    help="(cost, pinned) workers with --detections-only")
    ap.add_argument("--lease-ms", default="1000,3000")
    ap.add_argument("--failover-batch", default="100,1000")
    ap.add_argument("--rate", type=int, default=10000, help="failover: input events/s")
    ap.add_argument("--steady-s", type=float, default=1.5,
                    help="failover: seconds of steady state before the kill")
    ap.add_argument("--redis-core", type=int, default=1, choices=(0, 1))
    ap.add_argument("--failover-events", type=int, default=100000,
                    help="failover, backlog mode: events produced first")
    ap.add_argument("--baseline", help="cost: another fluxcap whose worker is measured too")
    ap.add_argument("--repeat", type=int, default=1,
                    help="cost: worker runs of each binary (the least CPU is kept)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--pinned-lease-ms", type=int, default=1000,
                    help="pinned: the workers' --lease-ms (a worker retries an assigned partition "
                    "still held by another every lease/12: a short lease shortens the handover "
                    "while workers start together)")
    a = ap.parse_args()
    if a.quick:
        a.events = min(a.events, 5000)
        a.failover_events = min(a.failover_events, 5000)
        a.lease_ms, a.failover_batch, a.steady_s = "300", "100", 0.5
        a.rate = min(a.rate, 2000)
    if a.baseline:
        a.baseline = os.path.abspath(a.baseline)
    a.lease_ms = [int(x) for x in a.lease_ms.split(",")]
    a.failover_batch = [int(x) for x in a.failover_batch.split(",")]
    phases = a.phases.split(",")
    binary = shutil.which("redis-server")
    if binary is None:
        print("redis-server is not installed")
        return 1
    if os.cpu_count() != 2 and "cost" != a.phases:
        print("note: the pinned placements assume 2 cores (this machine has %d)" % os.cpu_count())
    work = tempfile.mkdtemp(prefix="fluxcap-redis-bench-")
    try:
        rng = random.Random(a.seed)
        spec = os.path.join(work, "spec.yaml")
        with open(spec, "w") as f:
            f.write(redis_test.SPEC)
        data = os.path.join(work, "in.jsonl")
        with open(data, "w") as f:
            f.writelines(redis_test.events(rng, a.events, 1000))
        env = {"fluxcap": os.path.abspath(a.fluxcap), "binary": binary, "work": work,
               "opts": ["--spec", spec, "--group-key", "host", "--capacity", "20000"],
               "data": data,
               # The children's warnings (appendfsync everysec), kept out of the tables.
               "log": open(os.path.join(work, "children.log"), "wb")}
        ok = True
        if "cost" in phases:
            ok &= phase_cost(a, env)
        if "pinned" in phases:
            ok &= phase_pinned(a, env)
        if "failover" in phases:
            # Enough live input for the longest lease, at the rate.
            seconds = a.steady_s + 3 + 2 * max(a.lease_ms) / 1000 + 10
            env["live_lines"] = redis_test.events(random.Random(a.seed + 1),
                                                  int(a.rate * seconds), 1000)
            env["failover_data"] = os.path.join(work, "failover.jsonl")
            with open(env["failover_data"], "w") as f:
                f.writelines(redis_test.events(random.Random(a.seed + 2), a.failover_events,
                                               1000))
            ok &= phase_failover(a, env)
        print("all outputs identical to fluxcap run" if ok else "SOME OUTPUT DIFFERS FROM RUN")
        return 0 if ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
