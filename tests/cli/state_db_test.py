#!/usr/bin/env python3
"""`fluxcap run --state-db DIR` (docs/cli.md, "State database"; docs/scale-out.md):

  - a million groups (FLUXCAP_ROCKSDB_TEST_GROUPS, default 1000000) through a cache of
    about 10,000 groups: output byte-identical to the in-memory store, in one run and in
    two runs chained through the database; the peak RSS within the cache bound plus a
    stated margin for RocksDB (and far below the in-memory run's);
  - kill -9 at random moments during a run (write-backs under way) and at forced points,
    then the same input again: output identical to an uninterrupted run's, and the state
    after it too (a probe input run on both gives identical output);
  - a second writer refused (exit 1, nothing changed), also after --wait-lock;
  - a foreign directory, a foreign RocksDB database, a damaged one and other memory
    parameters refused with exit 1 and nothing changed;
  - --rules mode gives the in-memory output; usage errors (--state with --state-db...).

  state_db_test.py PATH/TO/fluxcap
"""
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SPEC = """rules:
  - rulename: par
    action: parent
    parent: ppid
    child: pid
    tags: [shell]
conditions:
  child_of_shell: par.shell
"""

failed = False
EMPTY = hashlib.sha256(b"").hexdigest()


def check(cond, what):
    global failed
    if not cond:
        failed = True
        print("FAIL: " + what)
    return cond


def write_events(path, groups, seed, halves=None):
    """Two events a group: a shell (pass 1), then its child (pass 2, another order), and
    in pass 2 a process whose parent was never seen, every 7th group. `halves`: also
    the two passes alone, in these two files."""
    rnd = random.Random(seed)
    order = list(range(groups))
    first = "".join('{"host":"h%d","pid":1,"ppid":0,"sigma":{"par":{"shell":true}}}\n' % g
                    for g in order)
    rnd.shuffle(order)
    second = "".join('{"host":"h%d","pid":%d,"ppid":%d,"sigma":{"par":{"shell":false}}}\n' %
                     ((g, 2, 1) if g % 7 else (g, 3, 9)) for g in order)
    with open(path, "w") as f:
        f.write(first)
        f.write(second)
    if halves:
        with open(halves[0], "w") as f:
            f.write(first)
        with open(halves[1], "w") as f:
            f.write(second)


def generate(path, groups, seed, halves=None):
    """write_events in a child Python: this process stays small, so that the peak RSS
    of the fluxcap it starts (which counts this process's pages until the exec) is
    fluxcap's own."""
    subprocess.run([sys.executable, os.path.abspath(__file__), "--generate", path, str(groups),
                    str(seed)] + list(halves or []), check=True)


def tree_digest(path):
    h = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(path)):
        dirs.sort()
        for name in sorted(files):
            p = os.path.join(root, name)
            h.update(p.encode())
            with open(p, "rb") as f:
                h.update(f.read())
    return h.hexdigest()


def main():
    fluxcap = os.path.abspath(sys.argv[1])
    groups = int(os.environ.get("FLUXCAP_ROCKSDB_TEST_GROUPS", "1000000"))
    work = tempfile.mkdtemp(prefix="fluxcap-state-db-")
    try:
        os.chdir(work)
        with open("spec.yaml", "w") as f:
            f.write(SPEC)
        base = ["--spec", "spec.yaml", "--group-key", "host", "--exact", "--capacity", "16",
                "--max-groups", str(2 * groups + 10)]

        def run(args, stdin=None, env=None, out_name="out.bin"):
            """Runs fluxcap; returns (exit status, sha256 of stdout, stderr, peak RSS in
            bytes, CPU seconds). Python itself stays small (outputs are hashed, never
            held): a child's peak RSS counts its parent's pages until the exec."""
            with open(out_name, "wb") as out, open("err.bin", "wb") as err:
                p = subprocess.Popen([fluxcap, "run", "--no-progress"] + args, stdout=out,
                                     stderr=err, stdin=subprocess.DEVNULL if stdin is None
                                     else stdin, env=env)
                _, status, usage = os.wait4(p.pid, 0)
            code = os.waitstatus_to_exitcode(status)
            h = hashlib.sha256()
            with open(out_name, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            with open("err.bin", "rb") as f:
                err_text = f.read().decode(errors="replace")
            return (code, h.hexdigest(), err_text, usage.ru_maxrss * 1024,
                    usage.ru_utime + usage.ru_stime)

        def count_in(path, text):
            n = 0
            with open(path, "rb") as f:
                for line in f:
                    n += text in line
            return n

        # 1. A million groups through a cache of about 10,000.
        generate("all.jsonl", groups, 1, ("first.jsonl", "second.jsonl"))
        code, mem_out, err, mem_rss, mem_cpu = run(base + ["all.jsonl"], out_name="mem.out")
        check(code == 0, "in-memory run: exit %d: %s" % (code, err))
        detections = count_in("mem.out", b'"detections":["child_of_shell"]')
        expected = 2 * groups - (groups + 6) // 7  # every shell, and its children
        check(detections == expected,
              "in-memory run: %d detections, expected %d" % (detections, expected))
        # Each cached group costs about 420 bytes here (state, key, bookkeeping).
        cache = 10000 * 420
        dbargs = base + ["--state-db", "db", "--state-cache-bytes", str(cache), "--stats"]
        code, db_out, err, db_rss, db_cpu = run(dbargs + ["all.jsonl"])
        check(code == 0, "--state-db run: exit %d: %s" % (code, err))
        check(db_out == mem_out, "--state-db output differs from the in-memory store's")
        check("%d groups," % groups in err, "--state-db stats: %s" % err)
        cached = int(err.split("state database: ")[1].split(" groups cached")[0])
        check(8000 <= cached <= 12500, "groups cached: %d (about 10,000 expected)" % cached)
        code, _, _, base_rss, _ = run(base + ["/dev/null"])
        # RocksDB's own memory: two 16 MiB memtables, an 8 MiB block cache, table readers
        # (their index and filter blocks: about 2 bytes a group) and arenas: 96 MiB of
        # margin over the group cache and the tool's own footprint.
        margin = 96 << 20
        # An AddressSanitizer build keeps freed memory in quarantine (256 MiB): no bound.
        with open(fluxcap, "rb") as f:
            sanitized = b"__asan_init" in f.read()
        if sanitized:
            print("AddressSanitizer build: the RSS bound is not checked")
        check(sanitized or db_rss <= base_rss + cache + margin,
              "--state-db peak RSS %d > %d (base) + %d (cache) + %d (margin)" %
              (db_rss, base_rss, cache, margin))
        if groups >= 1000000 and not sanitized:
            check(db_rss * 2 < mem_rss, "--state-db peak RSS %d not below half the in-memory "
                  "run's %d" % (db_rss, mem_rss))
        print("%d groups: in-memory %.1f CPU s, peak RSS %.0f MiB; --state-db %.1f CPU s, peak "
              "RSS %.0f MiB (base %.0f MiB, cache %.1f MiB), %d groups cached" %
              (groups, mem_cpu, mem_rss / 2**20, db_cpu, db_rss / 2**20, base_rss / 2**20,
               cache / 2**20, cached))
        shutil.rmtree("db")

        # Chained: two runs through the database give the one run's output.
        code, _, err, _, _ = run(dbargs + ["first.jsonl"], out_name="out1.bin")
        check(code == 0, "first half: %s" % err)
        code, _, err, _, _ = run(dbargs + ["second.jsonl"], out_name="out2.bin")
        check(code == 0, "second half: %s" % err)
        with open("chained.bin", "wb") as out:
            for name in ("out1.bin", "out2.bin"):
                with open(name, "rb") as f:
                    shutil.copyfileobj(f, out)
        h = hashlib.sha256()
        with open("chained.bin", "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        check(h.hexdigest() == mem_out, "two chained --state-db runs differ from one run")
        check("committed as run 2" in err, "second run's stats: %s" % err)
        shutil.rmtree("db")
        for name in ("all.jsonl", "first.jsonl", "second.jsonl", "mem.out", "out.bin",
                     "out1.bin", "out2.bin", "chained.bin"):
            os.remove(name)

        # 2. kill -9 during writes, then resume.
        small = min(groups, 100000)
        generate("k.jsonl", small, 2, ("k1.jsonl", "k2.jsonl"))
        with open("probe.jsonl", "w") as f:
            f.write("".join('{"host":"h%d","pid":5,"ppid":%d,"sigma":{"par":{"shell":false}}}\n' %
                            (g, 1 + g % 3) for g in range(0, small, 3)))
        kargs = base + ["--state-cache-bytes", str(1000 * 420), "--state-db"]
        code, _, err, _, _ = run(kargs + ["k0", "k1.jsonl"])
        check(code == 0, "kill test, first input: %s" % err)
        shutil.copytree("k0", "k-clean")
        code, clean_out, err, _, _ = run(kargs + ["k-clean", "k2.jsonl"])
        check(code == 0, "uninterrupted run: %s" % err)
        code, clean_probe, err, _, _ = run(kargs + ["k-clean", "probe.jsonl"])
        check(code == 0, "probe of the uninterrupted state: %s" % err)
        rnd = random.Random(3)
        kills = 0
        for attempt, point in enumerate(["random"] * 5 + ["locked", "loaded"]):
            d = "k-%d" % attempt
            shutil.copytree("k0", d)
            env = dict(os.environ)
            if point == "random":
                with open("killed.out", "wb") as out:
                    p = subprocess.Popen([fluxcap, "run", "--no-progress"] + kargs + [d, "k2.jsonl"],
                                         stdout=out, stderr=subprocess.DEVNULL)
                    time.sleep(rnd.uniform(0.2, 1.5))
                    p.send_signal(signal.SIGKILL)
                    p.wait()
                killed = p.returncode == -signal.SIGKILL
            else:
                env["FLUXCAP_TEST_CRASH_AT"] = point
                code, _, _, _, _ = run(kargs + [d, "k2.jsonl"], env=env)
                killed = code == -signal.SIGKILL
            kills += 1 if killed else 0
            if not killed:  # finished before the kill: it committed, nothing to resume
                continue
            code, out, err, _, _ = run(kargs + [d, "k2.jsonl"])
            check(code == 0, "resume after kill %d (%s): %s" % (attempt, point, err))
            check(out == clean_out, "resume after kill %d (%s): output differs" % (attempt, point))
            code, probe, err, _, _ = run(kargs + [d, "probe.jsonl"])
            check(probe == clean_probe,
                  "state after kill %d (%s) and resume differs from the uninterrupted one" %
                  (attempt, point))
            shutil.rmtree(d)
        check(kills >= 4, "only %d of 7 runs were killed before finishing" % kills)
        print("kill -9: %d runs killed and resumed" % kills)

        # 3. One writer: a run holding the database (reading a pipe) refuses a second.
        holder = subprocess.Popen([fluxcap, "run", "--no-progress"] + kargs + ["k-clean", "-"],
                                  stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        for wait in ([], ["--wait-lock", "0.3"]):
            code, out, err, _, _ = run(kargs + ["k-clean", "probe.jsonl"] + wait)
            check(code == 1 and out == EMPTY, "second writer%s: exit %d" % (" " + " ".join(wait), code))
            check("state database '" in err and "in use by another fluxcap run (pid %d" % holder.pid in err,
                  "second writer's message: %s" % err)
        holder.stdin.close()
        holder.wait()
        check(holder.returncode == 0, "the holder exited %d" % holder.returncode)
        # The holder committed an empty run; a refused writer changed nothing before it.

        # 4. Foreign, damaged and mismatched databases: exit 1, nothing changed.
        os.mkdir("foreign")
        with open("foreign/notes.txt", "w") as f:
            f.write("not a database\n")
        shutil.copytree("k-clean", "damaged")
        for name in os.listdir("damaged"):
            if name.startswith("MANIFEST-"):
                with open(os.path.join("damaged", name), "r+b") as f:
                    f.write(b"garbage garbage garbage garbage garbage")
        shutil.copytree("k-clean", "params")
        for d, extra, words in [("foreign", [], "not a fluxcap state database"),
                                ("damaged", [], "cannot open state database"),
                                ("params", ["--capacity", "32"], "other parameters")]:
            before = tree_digest(d)
            args = [a for a in kargs]
            if extra:
                args[args.index("--capacity") + 1] = extra[1]
            code, out, err, _, _ = run(args + [d, "probe.jsonl"])
            check(code == 1 and out == EMPTY, "%s database: exit %d" % (d, code))
            check(words in err and "nothing was changed" in err, "%s database: %s" % (d, err))
            check(tree_digest(d) == before, "%s database was changed" % d)

        # 5. --rules mode: the in-memory output, in two runs.
        data = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "sigma")
        rules = ["--rules", os.path.join(data, "rules"), "--profile",
                 os.path.join(data, "tree-profile.yml"), "--exact"]
        with open(os.path.join(data, "tree.jsonl")) as f:
            tree = f.readlines()
        with open("t1.jsonl", "w") as f:
            f.writelines(tree[:6])
        with open("t2.jsonl", "w") as f:
            f.writelines(tree[6:])
        code, mem, err, _, _ = run(rules + [os.path.join(data, "tree.jsonl")], out_name="tm.bin")
        check(code == 0, "--rules in memory: %s" % err)
        code, a, err, _, _ = run(rules + ["--state-db", "sdb", "--state-cache-bytes", "65536", "t1.jsonl"],
                                   out_name="t1.bin")
        check(code == 0, "--rules --state-db (1): %s" % err)
        code, b, err, _, _ = run(rules + ["--state-db", "sdb", "--state-cache-bytes", "65536", "t2.jsonl"],
                                   out_name="t2.bin")
        check(code == 0, "--rules --state-db (2): %s" % err)
        with open("t1.bin", "rb") as f1, open("t2.bin", "rb") as f2, open("tm.bin", "rb") as fm:
            check(f1.read() + f2.read() == fm.read(),
                  "--rules with --state-db differs from the in-memory output")

        # 6. Event times are their senders' word: with --state-ttl, one event dated far
        # ahead must not expire every other group. A shell on host a, then an event of
        # host b dated 2100, then the shell's child: still the child of a shell (the
        # forged time counts as the clock plus --max-time-ahead, 10 minutes by default).
        with open("timed.yaml", "w") as f:
            f.write("timestamp: ts\n" + SPEC.replace("tags: [shell]", "tags: [shell]\n    timespan: 1d"))
        now = int(time.time())
        with open("forged.jsonl", "w") as f:
            f.write('{"ts":%d,"host":"a","pid":1,"ppid":0,"sigma":{"par":{"shell":true}}}\n'
                    % (now - 60))
            f.write('{"ts":4102444800,"host":"b","pid":5,"ppid":0,"sigma":{"par":{"shell":false}}}\n')
            f.write('{"ts":%d,"host":"a","pid":2,"ppid":1,"sigma":{"par":{"shell":false}}}\n'
                    % (now - 59))
        timed = ["--spec", "timed.yaml", "--group-key", "host", "--exact", "--state-ttl", "1h"]
        # 104166666666d, the longest duration taken (9e18 ms): no bound at all.
        for extra, fires in [([], True), (["--max-time-ahead", "2h"], False),
                             (["--max-time-ahead", "104166666666d"], False)]:
            shutil.rmtree("tdb", ignore_errors=True)
            code, _, err, _, _ = run(timed + extra + ["--state-db", "tdb", "forged.jsonl"],
                                     out_name="forged.out")
            check(code == 0, "forged time %s: exit %d: %s" % (extra, code, err))
            with open("forged.out") as f:
                child = (f.read().splitlines() or ["(no output)"])[-1]
            check(("child_of_shell" in child) == fires,
                  "forged time %s: the child's line is %s" % (extra, child))
        # A database whose committed time came from a run without the bound (2100, from
        # the last run above) is bounded when opened: a shell and its child now are seen.
        with open("fresh.jsonl", "w") as f:
            f.write('{"ts":%d,"host":"c","pid":1,"ppid":0,"sigma":{"par":{"shell":true}}}\n'
                    % (now - 30))
            f.write('{"ts":%d,"host":"c","pid":2,"ppid":1,"sigma":{"par":{"shell":false}}}\n'
                    % (now - 29))
        code, _, err, _, _ = run(timed + ["--state-db", "tdb", "fresh.jsonl"], out_name="fresh.out")
        check(code == 0, "fresh: exit %d: %s" % (code, err))
        with open("fresh.out") as f:
            lines = f.read().splitlines()
            check(len(lines) == 2 and "child_of_shell" in lines[-1],
                  "a database holding a time far ahead expires every group: %s" % lines)
        # Times within the bound still expire groups: a shell 3 hours ago, its child an
        # hour ago, both real times: the shell's group has expired (a time to live of 1h).
        with open("aged.jsonl", "w") as f:
            f.write('{"ts":%d,"host":"a","pid":1,"ppid":0,"sigma":{"par":{"shell":true}}}\n'
                    % (now - 10800))
            f.write('{"ts":%d,"host":"a","pid":2,"ppid":1,"sigma":{"par":{"shell":false}}}\n'
                    % (now - 3600))
        shutil.rmtree("tdb", ignore_errors=True)
        code, _, err, _, _ = run(timed + ["--state-db", "tdb", "aged.jsonl"], out_name="aged.out")
        check(code == 0, "aged: exit %d: %s" % (code, err))
        with open("aged.out") as f:
            lines = f.read().splitlines()
            check(len(lines) == 2 and "child_of_shell" not in lines[-1],
                  "aged: the shell did not expire: %s" % lines)
        shutil.rmtree("tdb", ignore_errors=True)

        # 7. Usage errors: exit 2, nothing written.
        for args, words in [(["--state", "f", "--state-db", "u"], "cannot be given together"),
                            (["--state-cache-bytes", "100000"], "needs --state-db"),
                            (["--state-db", "u", "--threads", "2"], "one thread"),
                            (["--state-db", "u", "--incremental"], "--incremental"),
                            (["--state-db", "u", "--state-ttl", "5"], "duration"),
                            (["--state-db", "u", "--state-ttl", "5m"], "timestamp column"),
                            (["--state-db", "u", "--max-time-ahead", "5m"], "needs --state-ttl"),
                            (["--state-db", "u", "--state-ttl", "5m", "--max-time-ahead", "0s"],
                             "duration")]:
            code, out, err, _, _ = run(base + args + ["probe.jsonl"])
            check(code == 2 and words in err, "%s: exit %d: %s" % (" ".join(args), code, err))
            check(not os.path.exists("u"), "%s wrote the database" % " ".join(args))
    finally:
        os.chdir("/")
        shutil.rmtree(work, ignore_errors=True)
    if failed:
        sys.exit(1)
    print("state_db_test: all checks passed")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--generate":
        write_events(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:7] or None)
    else:
        main()
