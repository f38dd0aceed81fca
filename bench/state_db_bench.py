#!/usr/bin/env python3
"""Events per second of `fluxcap run` with the in-memory store and with the RocksDB store
(`--state-db`), in the same run, on two workloads (bench/README.md, "RocksDB state store"):

  hit:  G_hit groups (default 5,000) that all fit the cache, E events over them;
  miss: G_miss groups (default 1,000,000), each seen twice (two shuffled passes), through a
        cache of about 10,000 groups: nearly every event misses the cache, reads its group
        from RocksDB and writes another back.

Each configuration runs `--repeat` times (alternating), the best wall time counts; the
RocksDB runs start from an empty database each time and include the commit.

  bench/state_db_bench.py build/release/tools/fluxcap/fluxcap [--miss-groups N]
      [--hit-groups N] [--hit-events N] [--repeat N]
"""
import argparse
import os
import random
import shutil
import subprocess
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


def write_miss(path, groups):
    rnd = random.Random(1)
    order = list(range(groups))
    with open(path, "w") as f:
        f.write("".join('{"host":"h%d","pid":1,"ppid":0,"sigma":{"par":{"shell":true}}}\n' % g
                        for g in order))
        rnd.shuffle(order)
        f.write("".join('{"host":"h%d","pid":2,"ppid":1,"sigma":{"par":{"shell":false}}}\n' % g
                        for g in order))
    return 2 * groups


def write_hit(path, groups, events):
    rnd = random.Random(2)
    with open(path, "w") as f:
        for i in range(events):
            g = rnd.randrange(groups)
            f.write('{"host":"h%d","pid":%d,"ppid":%d,"sigma":{"par":{"shell":%s}}}\n' %
                    (g, i, i - groups, "true" if i % 3 == 0 else "false"))
    return events


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fluxcap")
    ap.add_argument("--miss-groups", type=int, default=1000000)
    ap.add_argument("--hit-groups", type=int, default=5000)
    ap.add_argument("--hit-events", type=int, default=2000000)
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args()
    fluxcap = os.path.abspath(a.fluxcap)
    work = tempfile.mkdtemp(prefix="fluxcap-state-db-bench-")
    try:
        os.chdir(work)
        with open("spec.yaml", "w") as f:
            f.write(SPEC)
        n_miss = write_miss("miss.jsonl", a.miss_groups)
        n_hit = write_hit("hit.jsonl", a.hit_groups, a.hit_events)
        base = [fluxcap, "run", "--no-progress", "--spec", "spec.yaml", "--group-key", "host",
                "--exact", "--capacity", "16", "--max-groups", str(2 * a.miss_groups + 10)]
        cache = 10000 * 420  # about 10,000 groups of this workload
        outputs = {}

        def timed(name, args):
            if os.path.exists("db"):
                shutil.rmtree("db")
            t = time.perf_counter()
            with open("out-" + name, "wb") as out:
                subprocess.run(base + args, stdout=out, check=True)
            return time.perf_counter() - t

        results = {}
        configs = [("hit", "memory", ["hit.jsonl"], n_hit),
                   ("hit", "rocksdb", ["--state-db", "db", "--state-cache-bytes",
                                       str(64 << 20), "hit.jsonl"], n_hit),
                   ("miss", "memory", ["miss.jsonl"], n_miss),
                   ("miss", "rocksdb", ["--state-db", "db", "--state-cache-bytes", str(cache),
                                        "miss.jsonl"], n_miss)]
        for _ in range(a.repeat):
            for work_name, store, args, n in configs:
                secs = timed(work_name + "-" + store, args)
                key = (work_name, store)
                results[key] = min(results.get(key, secs), secs)
        for work_name in ("hit", "miss"):
            with open("out-%s-memory" % work_name, "rb") as f1, \
                    open("out-%s-rocksdb" % work_name, "rb") as f2:
                assert f1.read() == f2.read(), "outputs differ on " + work_name
        print("| workload | events | groups | in-memory events/s | RocksDB events/s | ratio |")
        print("|---|---:|---:|---:|---:|---:|")
        for work_name, n, g in (("hit", n_hit, a.hit_groups), ("miss", n_miss, a.miss_groups)):
            m = n / results[(work_name, "memory")]
            r = n / results[(work_name, "rocksdb")]
            print("| %s | %d | %d | %.0f | %.0f | %.2f |" % (work_name, n, g, m, r, r / m))
        print("(outputs identical; best of %d; RocksDB runs include opening and the commit)" %
              a.repeat)
    finally:
        os.chdir("/")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
