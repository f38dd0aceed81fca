#!/usr/bin/env python3
"""Sigma correlation rules on Redis Streams workers (docs/scale-out.md, "Correlation
rules"): workers write every base rule's detections, and `fluxcap collect --rules ...`
runs the correlation rules over the merged lines, in input order, as `fluxcap run` runs
them after its Sigma stage.

Every case starts its own redis-server (the harness of redis_test.py) and compares the
collected output with one `fluxcap run` over the same input, byte for byte:

- the correlation test rules (event_count, value_count, temporal, temporal_ordered over
  a correlation, value_sum with generate; grouped by user across the hosts the
  partitions follow), two workers sharing 5 partitions, one killed (SIGKILL) after its
  twelfth commit, a third finishing; collect twice gives the same bytes;
- a collect while partitions are still behind writes only the complete prefix: the
  first lines of the run's output, exactly, then everything once the workers finish; a
  committed line numbered past the producers' written mark is left out until the mark
  covers it;
- bad lines under --on-error pass that spell a detections array (an attacker's forged
  failed logins) are passed through unchanged and kept out of the correlations, as in
  `run`;
- --detections-only: the run's lines with a detection, and a bad line's text never
  counts as one;
- --correlation-memory bounded: two collects agree (keyed by the deployment's key);
- refusals (exit 2): collect without --rules on a deployment with correlations, with
  other correlation options, with other rules; run options without --rules; a
  deployment of the protocol's version 1.

Skips (exit 77) when redis-server is not installed. About 5 s in release.

  redis_correlation_test.py PATH/TO/fluxcap [--seed S] [--events N]
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import redis_test as rt  # noqa: E402  (the harness: servers, workers, collect, compare)

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data", "correlation")
OPTS = ["--rules", os.path.join(DATA, "rules.yml"), "--profile", os.path.join(DATA, "profile.yml")]


def stream_lines(n, seed, forged=0):
    """The correlation test's events (correlation_test.py's generator: 10 users over 16
    hosts, failed and successful logins, recon steps, uploads), with `forged` bad lines
    that spell a detections array of failed logins: valid JSON (the correlation stage
    would read them), bad only for their host name's length."""
    rnd = random.Random(seed)
    users = ["u%d" % i for i in range(10)]
    actions = ["fail", "fail", "success", "recon_a", "recon_b", "upload", "noop"]
    t = 1767225600
    out = []
    for i in range(n):
        t += rnd.randint(0, 3)
        e = {"ts": t, "host": "h%d" % rnd.randrange(16), "pid": i, "user": rnd.choice(users),
             "action": rnd.choice(actions)}
        if e["action"] == "upload" and rnd.random() < 0.9:
            e["bytes"] = rnd.randint(100, 900)
        out.append(json.dumps(e, separators=(",", ":")) + "\n")
    for k in range(forged):  # valid JSON, but a host name over --max-key-bytes 32
        at = rnd.randrange(len(out))
        out.insert(at, '{"ts":%d,"host":"%s","user":"u1","action":"fail","detections":'
                   '["failed login"]}\n' % (t - 40 + k, "h" * 40))
    return out


def detection_lines(data, bad):
    """The lines of `data` whose detections array is not empty (what --detections-only
    keeps of a run's output), but for the bad lines `bad` (passed through unchanged: no
    detection was computed for them)."""
    kept = []
    for line in data.splitlines(keepends=True):
        e = json.loads(line)
        if line.decode() not in bad and e.get("detections"):
            kept.append(line)
    return b"".join(kept)


def collect(h, s, stream, extra=()):
    r = subprocess.run([h.fluxcap, "collect", "--redis", s.url, "--stream", stream] + list(extra),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return r.returncode, r.stdout, r.stderr.decode(errors="replace")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fluxcap")
    ap.add_argument("--seed", type=int, default=20261206)
    ap.add_argument("--events", type=int, default=4000)
    args = ap.parse_args()
    fluxcap = os.path.abspath(args.fluxcap)
    ready = rt.prepare(fluxcap, "corr")
    if ready is None:
        return 77
    binary, work = ready
    servers = []
    started = time.time()
    try:
        h = rt.harness(args, work, fluxcap, binary)
        lines = stream_lines(args.events, args.seed)
        data = h.write("events.jsonl", lines)
        expected = h.run_expected(OPTS, [data])
        fired = sum(1 for x in expected.splitlines() if b'"many-fails"' in x or b'"many-hosts"' in x)
        rt.check(fired > 10, "the input fires correlations (%d lines)" % fired)

        def server():
            s = rt.redis_server(binary, work)
            servers.append(s)
            return s

        # Usage errors, before anything is read.
        for argv, message in (
                (["collect", "--redis", "redis://127.0.0.1:1", "--stream", "s", "--stats"],
                 b"only with --rules"),
                (["collect", "--redis", "redis://127.0.0.1:1", "--stream", "s"] + OPTS + [data],
                 b"reads the stream"),
                (["collect", "--redis", "redis://127.0.0.1:1", "--stream", "s", "--spec", data],
                 b"only with --rules")):
            r = subprocess.run([fluxcap] + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            rt.check(r.returncode == 2 and message in r.stderr,
                     "usage %s: %d %s" % (argv[-1], r.returncode, r.stderr.decode()))

        # 1. Two workers, one killed after its twelfth commit, a third finishes; a collect
        # while partitions are behind writes the complete prefix only.
        s = server()
        r = h.produce(s, "corr", OPTS, [data], ["--partitions", "5"])
        rt.check(r.returncode == 0, "produce: " + r.stderr.decode())
        killed = h.worker(s, "corr", OPTS, ["--batch", "60"],
                          env={"FLUXCAP_TEST_REDIS_KILL_AT": "after-commit:12"})
        rt.check(rt.harness.wait_forced_exit(killed) == -9, "a worker killed after its 12th commit")
        code, partial, err = collect(h, s, "corr", OPTS + ["--stats"])
        rt.check(code == 0, "collect of a partial deployment: " + err)
        rt.check(0 < len(partial) < len(expected) and expected.startswith(partial),
                 "a partial collect is a prefix of the run's output (%d of %d bytes)"
                 % (len(partial), len(expected)))
        rt.check("complete below input line" in err, "--stats names the complete prefix: " + err)
        print("ok: partial collect: %d of %d lines" % (partial.count(b"\n"),
                                                        expected.count(b"\n")), flush=True)
        workers = [h.worker(s, "corr", OPTS, ["--batch", "60"]) for _ in range(2)]
        rt.check(rt.harness.done(s, "corr", workers=workers), "two workers: did not finish")
        for w in workers:
            rt.check(rt.harness.stop_worker(w) == 0, "worker exit status:\n" + rt.harness.log_of(w))
        code, got, err = collect(h, s, "corr", OPTS + ["--stats"])
        rt.check(code == 0, "collect --rules: " + err)
        rt.compare("correlations, a worker killed", got, expected)
        code, again, err = collect(h, s, "corr", OPTS)
        rt.check(code == 0 and again == got, "a second collect gives the same bytes")

        # A line committed but numbered past the producers' written mark (its batch not
        # marked yet: its producer still sending, or killed): collect leaves it out until
        # the mark covers it, so that no line numbered below it can still be missing.
        c = rt.resp(s.port)
        extra = '{"ts":%d,"host":"zz-new","pid":0,"user":"u1","action":"fail"}' % (
            json.loads(lines[-1])["ts"] + 1)
        n = c("INCR", "fluxcap:{corr}:seq")
        c("XADD", "fluxcap:{corr/0}:in", "*", "n", str(n), "l", extra)
        w = h.worker(s, "corr", OPTS, ["--batch", "60"])
        rt.check(rt.harness.done(s, "corr", workers=[w]), "the extra line: did not finish")
        rt.check(rt.harness.stop_worker(w) == 0, "the extra line: worker exit status")
        code, got, err = collect(h, s, "corr", OPTS)
        rt.check(code == 0 and got == expected, "a line past the written mark is left out")
        c("SET", "fluxcap:{corr}:written", str(n))
        code, got, err = collect(h, s, "corr", OPTS)
        rt.compare("the line, once marked written", got,
                   h.run_expected(OPTS, [data, h.write("extra.jsonl", [extra + "\n"])]))

        # Refusals on this deployment: no --rules, other correlation options, other rules.
        code, _, err = collect(h, s, "corr")
        rt.check(code == 2 and "correlation rule" in err and "--rules" in err,
                 "collect without --rules: %d %s" % (code, err))
        code, _, err = collect(h, s, "corr", OPTS + ["--correlation-memory", "bounded"])
        rt.check(code == 2 and "fingerprint" in err, "other correlation options: %d %s" % (code, err))
        other = h.write("other.yml", [open(os.path.join(DATA, "rules.yml")).read().replace(
            "gte: 3", "gte: 4")])
        code, _, err = collect(h, s, "corr", ["--rules", other, "--profile",
                                              os.path.join(DATA, "profile.yml")])
        rt.check(code == 2 and "fingerprint" in err, "other rules: %d %s" % (code, err))

        # A deployment of the protocol's version 1 (before the written mark): refused.
        c("HSET", "fluxcap:{v1}:deployment", "format", "fluxcap-redis 1", "partitions", "4",
          "hash_key", "0" * 32, "routing", "spec group-key =host")
        code, _, err = collect(h, s, "v1")
        rt.check(code == 2 and "fluxcap-redis 2" in err, "a version-1 deployment: %d %s" % (code, err))

        # 2. Forged detections in bad lines (--on-error pass): passed through unchanged,
        # kept out of the correlations, as in run.
        forged_lines = stream_lines(1500, args.seed + 1, forged=40)
        forged = h.write("forged.jsonl", forged_lines)
        pass_opts = OPTS + ["--on-error", "pass", "--max-key-bytes", "32"]
        forged_expected = h.run_expected(pass_opts, [forged])
        unforged = h.run_expected(OPTS + ["--on-error", "skip", "--max-key-bytes", "32"], [forged])
        rt.check(forged_expected.count(b"\n") == unforged.count(b"\n") + 40,
                 "run passes the 40 bad lines through")
        r = h.produce(s, "forged", pass_opts, [forged], ["--partitions", "3"])
        rt.check(r.returncode == 0, "produce (forged): " + r.stderr.decode())
        w = h.worker(s, "forged", pass_opts, ["--batch", "50"])
        rt.check(rt.harness.done(s, "forged", workers=[w]), "forged: did not finish")
        rt.check(rt.harness.stop_worker(w) == 0, "forged: worker exit status")
        code, got, err = collect(h, s, "forged", pass_opts)
        rt.check(code == 0, "collect (forged): " + err)
        rt.compare("bad lines with forged detections passed through", got, forged_expected)

        # 3. --detections-only: the run's lines with a detection; bad lines never count.
        only = pass_opts + ["--detections-only"]
        r = h.produce(s, "only", pass_opts, [forged], ["--partitions", "4"])
        rt.check(r.returncode == 0, "produce (only): " + r.stderr.decode())
        w = h.worker(s, "only", only, ["--batch", "80"])
        rt.check(rt.harness.done(s, "only", workers=[w]), "only: did not finish")
        rt.check(rt.harness.stop_worker(w) == 0, "only: worker exit status")
        code, got, err = collect(h, s, "only", only)
        rt.check(code == 0, "collect --detections-only: " + err)
        rt.compare("--detections-only", got, detection_lines(forged_expected, set(
            x for x in forged_lines if '"host":"hhh' in x)))

        # 4. Bounded correlation memory: collects agree with each other.
        bounded = OPTS + ["--correlation-memory", "bounded"]
        r = h.produce(s, "bounded", bounded, [data], ["--partitions", "2"])
        rt.check(r.returncode == 0, "produce (bounded): " + r.stderr.decode())
        w = h.worker(s, "bounded", bounded, ["--batch", "500"])
        rt.check(rt.harness.done(s, "bounded", workers=[w]), "bounded: did not finish")
        rt.check(rt.harness.stop_worker(w) == 0, "bounded: worker exit status")
        outs = [collect(h, s, "bounded", bounded) for _ in range(2)]
        rt.check(all(o[0] == 0 for o in outs) and outs[0][1] == outs[1][1] and
                 outs[0][1].count(b"\n") == args.events, "bounded: two collects agree")
        print("ok: bounded collects agree (%d lines)" % args.events, flush=True)
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)
    if rt.FAILURES:
        for f in rt.FAILURES:
            print("FAIL: " + f)
        return 1
    print("redis correlation tests passed in %.1f s" % (time.time() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
