#!/usr/bin/env python3
"""End-to-end benchmark (workload 5 of bench/README.md): `fluxcap run` on JSON Lines of the
benchmark workloads, against simdjson parsing the same file and doing nothing else.

For each workload it generates the spec and events once (fluxcap_gen_jsonl, into the work
directory), then times, alternating runs so that machine noise hits all alike:
  - parse_only/lines: simdjson On-Demand, one document a line, every value visited (as
    fluxcap run parses); the file already in memory;
  - parse_only/many: simdjson's iterate_many over the file (its fastest JSON Lines path);
  - fluxcap run --threads 1 and --threads 2: the whole process (start, spec, reading the
    file from the page cache, writing the output to /dev/null), wall time; and
    --threads 1 --memory cuckoo.
and prints one JSON object: per workload, per run kind, the median seconds, MB/s,
events/s, and the ratios the targets are stated in.

  bench/end_to_end.py [--build build/bench] [--work DIR] [--repeat 5] [--only NAME]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

# name: (generator workload, events, hosts)
WORKLOADS = {
    "harness_1_host": ("harness", 100000, 1),
    "harness_10000_hosts": ("harness", 100000, 10000),
    "process_tree_1000_hosts": ("process_tree", 500000, 1000),
    "process_tree_100000_hosts": ("process_tree", 500000, 100000),
}


def generate(build, work, name):
    kind, events, hosts = WORKLOADS[name]
    spec = os.path.join(work, name + ".yaml")
    data = os.path.join(work, name + ".jsonl")
    if not (os.path.exists(spec) and os.path.exists(data)):
        with open(data + ".tmp", "wb") as out:
            subprocess.run([os.path.join(build, "bench", "fluxcap_gen_jsonl"), kind, str(events),
                            str(hosts), spec], stdout=out, check=True)
        os.replace(data + ".tmp", data)
    return spec, data, events


def time_fluxcap(build, spec, data, threads, extra=()):
    cmd = [os.path.join(build, "tools", "fluxcap", "fluxcap"), "run", "--spec", spec, "--group-key",
           "host", "--no-progress", "--threads", str(threads), *extra, data]
    with open(os.devnull, "wb") as null:
        start = time.perf_counter()
        subprocess.run(cmd, stdout=null, check=True)
        return time.perf_counter() - start


def time_parse(build, data, mode):
    r = subprocess.run([os.path.join(build, "bench", "fluxcap_parse_only"), data, mode],
                       capture_output=True, check=True, text=True)
    return json.loads(r.stdout)["seconds"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build/bench")
    ap.add_argument("--work", default="build/bench/end_to_end")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--only", action="append", choices=sorted(WORKLOADS))
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    results = {"repeat": a.repeat, "load_average_at_start": os.getloadavg()[0], "workloads": {}}
    for name in a.only or WORKLOADS:
        spec, data, events = generate(a.build, a.work, name)
        size = os.path.getsize(data)
        runs = {"parse_only/lines": lambda: time_parse(a.build, data, "lines"),
                "parse_only/many": lambda: time_parse(a.build, data, "many"),
                "fluxcap_run/threads:1": lambda: time_fluxcap(a.build, spec, data, 1),
                "fluxcap_run/threads:2": lambda: time_fluxcap(a.build, spec, data, 2),
                "fluxcap_run/threads:1/memory:cuckoo":
                    lambda: time_fluxcap(a.build, spec, data, 1, ("--memory", "cuckoo"))}
        times = {k: [] for k in runs}
        for _ in range(a.repeat):
            for k, f in runs.items():
                times[k].append(f())
        w = {"bytes": size, "events": events}
        for k, ts in times.items():
            m = statistics.median(ts)
            w[k] = {"seconds_median": m, "seconds_min": min(ts), "MB_per_s": size / m / 1e6,
                    "events_per_s": events / m}
        parse = w["parse_only/lines"]["seconds_median"]
        best_parse = min(parse, w["parse_only/many"]["seconds_median"])
        t1 = w["fluxcap_run/threads:1"]["seconds_median"]
        t2 = w["fluxcap_run/threads:2"]["seconds_median"]
        w["fluxcap_threads1_share_of_parse_only_lines"] = parse / t1
        w["fluxcap_threads2_share_of_parse_only_lines"] = parse / t2
        w["fluxcap_threads2_share_of_parse_only_best"] = best_parse / t2
        w["threads2_speedup"] = t1 / t2
        w["cuckoo_speedup_threads1"] = t1 / w["fluxcap_run/threads:1/memory:cuckoo"]["seconds_median"]
        results["workloads"][name] = w
        print("%s: %.0f MB, parse-only %.0f MB/s, fluxcap run %.0f MB/s (1 thread), %.0f MB/s "
              "(2 threads, %.2fx), cuckoo %.2fx bloom (1 thread)"
              % (name, size / 1e6, size / parse / 1e6, size / t1 / 1e6, size / t2 / 1e6, t1 / t2,
                 w["cuckoo_speedup_threads1"]), file=sys.stderr)
    json.dump(results, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
