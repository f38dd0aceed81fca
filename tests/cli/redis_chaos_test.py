#!/usr/bin/env python3
"""Redis workers under failures of the network and of membership (docs/scale-out.md).

The same setting as redis_test.py (its own redis-server a case, appendonly yes,
appendfsync always, noeviction; the collected output compared byte for byte with one
`fluxcap run` over the same input). Cases:

- a worker cut off from Redis by a pausable TCP proxy (the proxy stops forwarding at
  the worker's third commit and keeps both sockets open) while it keeps running, past
  its lease; another worker takes over and finishes; the proxy is restored: the cut-off
  worker's commit is refused as stale and counted (by the worker and in Redis);
- workers joining and leaving while input arrives: 1, then 2 more, one leaves
  (SIGTERM), one is killed (SIGKILL), one more joins; the joined workers are seen
  taking partitions (--stats), the first one giving some up, and the lease keys end
  held by the two live workers only;
- a seeded random chaos loop (the seed is printed; --seed replays it): workers started,
  stopped with SIGTERM, killed with SIGKILL, paused with SIGSTOP/SIGCONT, cut off by
  their proxies, Redis killed and restarted from its append-only file, input produced
  meanwhile; bounded in time (--chaos-seconds), then drained.

Skips (exit 77) when redis-server is not installed or fluxcap lacks Redis.

  redis_chaos_test.py PATH/TO/fluxcap [--seed S] [--events N] [--chaos-seconds S]
"""
import argparse
import os
import random
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import redis_test as rt  # noqa: E402  (the server, client, harness and comparison)

check = rt.check


class proxy:
    """A pausable TCP proxy in front of Redis. cut() stops forwarding in both directions
    (the sockets stay open: the worker sees a silent network, not a closed connection);
    restore() forwards what waited. cut_at(pattern, k) cuts just before forwarding the
    k-th chunk from a client that contains `pattern` (held until restore)."""

    def __init__(self, upstream_port):
        self.upstream = upstream_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.forwarding = threading.Event()
        self.forwarding.set()
        self.lock = threading.Lock()
        self.trigger = None
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def cut(self):
        self.forwarding.clear()

    def restore(self):
        self.forwarding.set()

    @property
    def is_cut(self):
        return not self.forwarding.is_set()

    def cut_at(self, pattern, k):
        with self.lock:
            self.trigger = [pattern, k]

    def close(self):
        self.closed = True
        self.forwarding.set()
        self.listener.close()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream), timeout=2)
            except OSError:
                client.close()  # Redis is down: the worker sees a refused connection
                continue
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _triggered(self, data):
        with self.lock:
            if self.trigger is None or self.trigger[0] not in data:
                return False
            self.trigger[1] -= 1
            if self.trigger[1] > 0:
                return False
            self.trigger = None
            self.forwarding.clear()
            return True

    def _pump(self, client, server):
        held = {client: [], server: []}  # bytes read, to be sent to the other side
        other = {client: server, server: client}
        try:
            while not self.closed:
                if not self.forwarding.is_set():
                    time.sleep(0.005)
                    continue
                for s, chunks in held.items():
                    if chunks:
                        other[s].sendall(b"".join(chunks))
                        chunks.clear()
                ready, _, _ = select.select([client, server], [], [], 0.05)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    if s is client and self._triggered(data):
                        held[s].append(data)
                    elif not self.forwarding.is_set():
                        held[s].append(data)
                    else:
                        other[s].sendall(data)
        except OSError:
            pass
        finally:
            client.close()
            server.close()


def wait_for(predicate, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def worker_id(h, w):
    """The worker's id, from its --stats start line ("fluxcap: worker ID: stream ...")."""
    for line in h.log_of(w).splitlines():
        if line.startswith("fluxcap: worker ") and ": stream " in line:
            return line[len("fluxcap: worker "):line.index(": stream ")]
    return None


def lease_holders(server, stream, partitions):
    c = rt.resp(server.port)
    try:
        values = [c("GET", "fluxcap:{%s/%d}:lease" % (stream, p)) for p in range(partitions)]
    finally:
        c.close()
    return [v.decode().rsplit(":", 1)[0] if v else None for v in values]


def members(server, stream):
    c = rt.resp(server.port)
    try:
        return c("ZRANGE", "fluxcap:{%s}:members" % stream, 0, -1)
    finally:
        c.close()


def stale_in_redis(server, stream, partitions):
    c = rt.resp(server.port)
    try:
        return sum(int(c("HGET", "fluxcap:{%s/%d}:meta" % (stream, p), "stale_commits") or 0)
                   for p in range(partitions))
    finally:
        c.close()


def chunks_of(lines, n):
    size = (len(lines) + n - 1) // n
    return [lines[i:i + size] for i in range(0, len(lines), size)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fluxcap")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--events", type=int, default=int(os.environ.get("FLUXCAP_REDIS_EVENTS", 6000)))
    ap.add_argument("--chaos-seconds", type=float, default=12.0)
    args = ap.parse_args()
    if args.seed is None:
        args.seed = random.randrange(10**9)
    print("seed %d (replay: --seed %d)" % (args.seed, args.seed), flush=True)
    fluxcap = os.path.abspath(args.fluxcap)
    ready = rt.prepare(fluxcap, "chaos")
    if ready is None:
        return 77
    binary, work = ready
    servers, proxies, procs = [], [], []
    started = time.time()
    try:
        h = rt.harness(args, work, fluxcap, binary)
        spec = h.write("spec.yaml", [rt.SPEC])
        opts = ["--spec", spec, "--group-key", "host", "--capacity", "20000"]
        lines = rt.events(random.Random(20261206), args.events, 40)
        expected = h.run_expected(opts, [h.write("all.jsonl", lines)])
        chunk_files = [h.write("chunk-%d.jsonl" % i, c) for i, c in enumerate(chunks_of(lines, 24))]

        def server():
            s = rt.redis_server(binary, work)
            servers.append(s)
            return s

        def new_proxy(s):
            p = proxy(s.port)
            proxies.append(p)
            return p

        def worker(target, stream, extra):
            w = h.worker(target, stream, opts, extra)
            procs.append(w)
            return w

        def produce(s, stream, files, extra=()):
            r = h.produce(s, stream, opts, files, list(extra))
            check(r.returncode == 0, "produce: " + r.stderr.decode())

        # 1. A worker cut off by the proxy at its third commit, past its lease.
        t = time.time()
        s = server()
        produce(s, "cut", chunk_files, ["--partitions", "4"])
        px = new_proxy(s)
        px.cut_at(b"}:out", 3)  # the commit script names the partition's out stream
        # A lease long enough that a loaded machine does not make the worker miss a renewal
        # (which would count a second stale commit).
        lease = ["--lease-ms", "1000", "--batch", "50"]
        a = worker(px, "cut", lease)
        check(wait_for(lambda: px.is_cut, 20), "proxy: the worker never reached its third commit")
        time.sleep(1.2)  # past its lease and its membership
        b = worker(s, "cut", lease)
        check(h.done(s, "cut", workers=[b]), "proxy: the second worker did not finish")
        check(a.poll() is None, "proxy: the cut-off worker did not keep running")
        px.restore()
        check(wait_for(lambda: "is stale" in h.log_of(a), 10),
              "proxy: no stale refusal after the restore:\n" + h.log_of(a))
        check(rt.harness.stop_worker(b) == 0, "proxy: exit status of the second worker")
        code = rt.harness.stop_worker(a)
        log = h.log_of(a)
        check(code == 0 and "1 commits refused as stale" in log,
              "proxy: the cut-off worker (exit %s):\n%s" % (code, log))
        check(stale_in_redis(s, "cut", 4) == 1,
              "proxy: stale commits counted in Redis: %d" % stale_in_redis(s, "cut", 4))
        rt.compare("worker cut off by a proxy", h.collect(s, "cut"), expected)
        s.stop()
        print("  (%.1f s)" % (time.time() - t), flush=True)

        # 2. Workers joining and leaving while input arrives.
        t = time.time()
        s = server()
        parts = 32  # so that each of 3 workers gets some by rendezvous (missed: (2/3)^32)
        steps = iter(chunks_of(chunk_files, 6))
        produce(s, "join", next(steps), ["--partitions", str(parts)])
        lease = ["--lease-ms", "600", "--batch", "50"]
        w1 = worker(s, "join", lease)
        check(wait_for(lambda: h.log_of(w1).count("took partition") == parts, 10),
              "join: the first worker did not take all partitions:\n" + h.log_of(w1))
        produce(s, "join", next(steps))
        w2 = worker(s, "join", lease)
        w3 = worker(s, "join", lease)
        produce(s, "join", next(steps))
        for w in (w2, w3):
            check(wait_for(lambda: "took partition" in h.log_of(w), 10),
                  "join: a joining worker got no partition:\n" + h.log_of(w))
        check("gave up partition" in h.log_of(w1),
              "join: the first worker gave no partition up:\n" + h.log_of(w1))
        check(rt.harness.stop_worker(w2) == 0, "join: exit status after SIGTERM")
        check(worker_id(h, w2).encode() not in members(s, "join"),
              "join: the worker that left is still a member: %s" % members(s, "join"))
        produce(s, "join", next(steps))
        w3.kill()
        w3.wait()
        produce(s, "join", next(steps))
        w4 = worker(s, "join", lease)
        check(wait_for(lambda: "took partition" in h.log_of(w4), 10),
              "join: the last joining worker got no partition:\n" + h.log_of(w4))
        produce(s, "join", next(steps))
        check(h.done(s, "join", workers=[w1, w4]), "join: did not finish")
        ids = {worker_id(h, w1), worker_id(h, w4)}
        check(wait_for(lambda: set(lease_holders(s, "join", parts)) == ids, 10),
              "join: leases at the end %s, not all held by the live workers %s" % (
                  lease_holders(s, "join", parts), sorted(ids)))
        # The killed worker's membership expired and was pruned by a heartbeat.
        check(wait_for(lambda: set(members(s, "join")) == {i.encode() for i in ids}, 10),
              "join: members at the end %s, not the live workers %s" % (
                  members(s, "join"), sorted(ids)))
        check(rt.harness.stop_worker(w1) == 0 and rt.harness.stop_worker(w4) == 0,
              "join: exit status of the last workers")
        rt.compare("workers joining and leaving", h.collect(s, "join"), expected)
        s.stop()
        print("  (%.1f s)" % (time.time() - t), flush=True)

        # 3. The random chaos loop.
        t = time.time()
        rng = random.Random(args.seed)
        s = server()
        parts = 6
        pending = list(chunk_files)
        produce(s, "chaos", [pending.pop(0)], ["--partitions", str(parts)])
        lease = ["--lease-ms", "500", "--batch", "50", "--reconnect-for", "60"]
        live = []  # dicts: proc, proxy, stopped_until, cut_until
        counts = {}

        def start():
            p = new_proxy(s)
            live.append({"proc": worker(p, "chaos", lease), "proxy": p, "stopped_until": None,
                         "cut_until": None})

        def healthy():
            return [x for x in live if x["stopped_until"] is None and x["cut_until"] is None]

        start()
        end = time.time() + args.chaos_seconds
        while time.time() < end:
            time.sleep(rng.uniform(0.1, 0.4))
            now = time.time()
            for x in live:
                if x["stopped_until"] is not None and now >= x["stopped_until"]:
                    x["proc"].send_signal(signal.SIGCONT)
                    x["stopped_until"] = None
                if x["cut_until"] is not None and now >= x["cut_until"]:
                    x["proxy"].restore()
                    x["cut_until"] = None
            action = rng.choice(["produce", "produce", "start", "term", "kill", "stop", "cut",
                                 "restart"])
            if action == "produce" and pending:
                produce(s, "chaos", [pending.pop(0)])
            elif action == "start" and len(live) < 4:
                start()
            elif action in ("term", "kill", "stop", "cut") and healthy():
                x = rng.choice(healthy())
                if action == "term":
                    code = rt.harness.stop_worker(x["proc"])
                    check(code in (0, -signal.SIGTERM), "chaos: exit status after SIGTERM: %s\n%s"
                          % (code, h.log_of(x["proc"])))
                    live.remove(x)
                elif action == "kill":
                    x["proc"].kill()
                    x["proc"].wait()
                    live.remove(x)
                elif action == "stop":
                    x["proc"].send_signal(signal.SIGSTOP)
                    x["stopped_until"] = now + rng.uniform(0.2, 1.5)
                else:
                    x["proxy"].cut()
                    x["cut_until"] = now + rng.uniform(0.2, 1.5)
            elif action == "restart" and counts.get("restart", 0) < 2:
                s.kill()
                time.sleep(rng.uniform(0.05, 0.3))
                s.start()
            else:
                continue
            counts[action] = counts.get(action, 0) + 1
            if not live:
                start()
        # Drain: everything continued, restored and produced; at least one worker.
        for x in live:
            if x["stopped_until"] is not None:
                x["proc"].send_signal(signal.SIGCONT)
            x["proxy"].restore()
        for f in pending:
            produce(s, "chaos", [f])
        if not live:
            start()
        print("  chaos actions: %s" % ", ".join("%s %d" % kv for kv in sorted(counts.items())),
              flush=True)
        check(h.done(s, "chaos", timeout=60, workers=[x["proc"] for x in live]),
              "chaos: did not finish")
        for x in live:
            code = rt.harness.stop_worker(x["proc"])
            check(code == 0, "chaos: exit status %s:\n%s" % (code, h.log_of(x["proc"])))
        print("  chaos: %d stale commits refused (Redis)" % stale_in_redis(s, "chaos", parts),
              flush=True)
        rt.compare("random chaos (seed %d)" % args.seed, h.collect(s, "chaos"), expected)
        s.stop()
        print("  (%.1f s)" % (time.time() - t), flush=True)
    finally:
        for p in procs:
            if p.poll() is None:
                try:
                    p.send_signal(signal.SIGCONT)
                    p.kill()
                    p.wait()
                except OSError:
                    pass
        for p in proxies:
            p.close()
        for s in servers:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("%.1f s" % (time.time() - started))
    if rt.FAILURES:
        print("%d FAILURES (seed %d)" % (len(rt.FAILURES), args.seed))
        return 1
    print("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
