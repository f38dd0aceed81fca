#!/usr/bin/env python3
"""Turns fluxcap_bench JSON output into the Markdown tables of bench/README.md.

    build/bench/bench/fluxcap_bench --benchmark_out=results.json --benchmark_out_format=json
    python3 bench/summarize.py results.json [more.json ...]

Every ratio is computed from one file (one run of the binary), never across runs.
With several files, one column of numbers per file is printed side by side.
With --benchmark_repetitions, the median of the repetitions is used.
"""

import json
import sys

TIME_TO_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
IMPLS = ["fluxcap_bloom", "fluxcap_cuckoo", "fluxcap_exact", "string_set", "classic_bloom",
         "fluxcap_bloom_vector_store", "fluxcap_cuckoo_vector_store", "fluxcap_bloom_fpp1e-3",
         "fluxcap_cuckoo_fpp1e-3"]
BASELINES = ["string_set", "classic_bloom"]


def load(path):
    with open(path) as f:
        data = json.load(f)
    runs = {}
    for b in data["benchmarks"]:
        name = b.get("run_name", b["name"])
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") != "median":
                continue
        elif name in runs and runs[name].get("run_type") == "aggregate":
            continue
        # strip the "/iterations:N" suffix Google Benchmark adds to fixed-iteration runs
        key = name.split("/iterations:")[0]
        if b.get("run_type") == "aggregate" or key not in runs:
            runs[key] = b
    return data.get("context", {}), runs


def ns_per_iteration(b):
    return b["cpu_time"] * TIME_TO_NS[b.get("time_unit", "ns")]


def fmt(x, digits=3):
    if x is None:
        return "-"
    if x == 0:
        return "0"
    if abs(x) >= 1e9:
        return f"{x / 1e9:.{digits}g}G"
    if abs(x) >= 1e6:
        return f"{x / 1e6:.{digits}g}M"
    if abs(x) >= 1e4:
        return f"{x / 1e3:.{digits}g}k"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.{digits}g}"


def workload_rows(runs):
    """(workload, hosts) -> impl -> benchmark entry"""
    groups = {}
    for key, b in runs.items():
        parts = key.split("/")
        if len(parts) != 3 or not parts[2].startswith("hosts:"):
            continue
        groups.setdefault((parts[0], int(parts[2][6:])), {})[parts[1]] = b
    return groups


def print_workloads(files):
    print("### Workloads (one iteration = one event; CPU time)\n")
    print("| workload | hosts | implementation | run | events/s | ns/event | ns/tag op "
          "| tag ops/event | fluxcap_bloom speed-up | state B/host | heap B/host | keys/host |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    all_groups = [workload_rows(runs) for _, runs in files]
    keys = []
    for g in all_groups:
        for k in g:
            if k not in keys:
                keys.append(k)
    order = {"harness": 0, "process_tree": 1, "temporal": 2, "temporal_timed": 3}
    keys.sort(key=lambda k: (order.get(k[0], 9), k[1]))
    for wl, hosts in keys:
        for impl in IMPLS:
            for run, g in enumerate(all_groups, 1):
                b = g.get((wl, hosts), {}).get(impl)
                if b is None:
                    continue
                t = ns_per_iteration(b)
                flux = g[(wl, hosts)].get("fluxcap_bloom")
                speedup = t / ns_per_iteration(flux) if flux is not None else None
                per_op = b.get("per_tag_op")
                print(f"| {wl} | {hosts} | {impl} | {run} | {fmt(b.get('items_per_second'))} "
                      f"| {fmt(t)} | {fmt(per_op * 1e9 if per_op else None)} "
                      f"| {fmt(b.get('tag_ops_per_event'))} "
                      f"| {'' if impl == 'fluxcap_bloom' else fmt(speedup) + 'x'} "
                      f"| {fmt(b.get('state_B_per_host'))} | {fmt(b.get('heap_B_per_host'))} "
                      f"| {fmt(b.get('keys_per_host'))} |")
    print()


def print_micro(files):
    print("### Micro-benchmarks (CPU time)\n")
    print("| benchmark | run | ns/op | ops/s | bytes/s | notes |")
    print("|---|---:|---:|---:|---:|---|")
    names = []
    for _, runs in files:
        for k in runs:
            if k.split("/")[0] in ("group_state", "state_codec", "checkpoint", "default_hash",
                                    "bloom_probe") and k not in names:
                names.append(k)
    for name in names:
        for run, (_, runs) in enumerate(files, 1):
            b = runs.get(name)
            if b is None:
                continue
            notes = []
            for c in ("hit_rate", "false_positive_rate", "states", "state_B", "total_MB", "blob_B",
                      "k", "delta_B", "full_save_B", "delta_share_of_full"):
                if c in b:
                    notes.append(f"{c}={fmt(b[c])}")
            bps = b.get("bytes_per_second")
            print(f"| {name} | {run} | {fmt(ns_per_iteration(b))} | {fmt(b.get('items_per_second'))} "
                  f"| {fmt(bps) + 'B/s' if bps else '-'} | {' '.join(notes)} |")
    print()


def print_footprint(files):
    print("### Memory of one group (capacity 200,000)\n")
    print("| configuration | idle B | one key B | B after 200k stores | B full (max) "
          "| B per remembered tag | bits/key | k (bloom) or f (cuckoo) | measured fpp "
          "| excess (sigmas) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    # the most recent file that has footprint rows
    runs = next((r for _, r in reversed(files) if any(k.startswith("footprint/") for k in r)), {})
    for name, b in runs.items():
        if not name.startswith("footprint/"):
            continue
        print(f"| {name[len('footprint/'):]} | {fmt(b.get('idle_B'))} | {fmt(b.get('one_key_B'))} "
              f"| {fmt(b.get('B_at_capacity'))} | {fmt(b.get('B_full'))} "
              f"| {fmt(b.get('B_per_remembered_tag'))} | {fmt(b.get('bits_per_key'))} "
              f"| {fmt(b.get('bloom_k', b.get('fingerprint_bits')))} | {fmt(b.get('measured_fpp'))} "
              f"| {fmt(b.get('fp_excess_sigmas'))} |")
    print()


def check(label, ok, detail):
    print(f"| {label} | {'met' if ok else '**not met**'} | {detail} |")


def print_targets(files):
    print("### Targets\n")
    print("| target | status | measured |")
    print("|---|---|---|")
    for run, (_, runs) in enumerate(files, 1):
        g = workload_rows(runs)
        tag = f" (run {run})" if len(files) > 1 else ""
        h1 = g.get(("harness", 1), {})
        for impl in ("fluxcap_bloom", "fluxcap_cuckoo"):
            f1 = h1.get(impl)
            if not f1:
                continue
            for base, want in (("classic_bloom", 10.0), ("string_set", 3.0)):
                if base in h1:
                    r = ns_per_iteration(h1[base]) / ns_per_iteration(f1)
                    check(f"harness 1 host: {impl} >= {want:g}x {base}{tag}", r >= want,
                          f"{r:.2f}x")
            ns = f1["per_tag_op"] * 1e9
            check(f"harness 1 host, {impl}: <= 15 ns/tag op{tag}", ns <= 15, f"{ns:.1f} ns")
        for impl in ("fluxcap_bloom", "fluxcap_cuckoo"):
            f10k = g.get(("harness", 10000), {}).get(impl)
            if f10k:
                ns = f10k["per_tag_op"] * 1e9
                check(f"harness 10,000 hosts, {impl}: <= 60 ns/tag op{tag}", ns <= 60,
                      f"{ns:.1f} ns")
        for hosts in (1, 1000):
            t = g.get(("temporal", hosts), {}).get("fluxcap_bloom")
            if t:
                eps = t["items_per_second"]
                check(f"temporal {hosts} host(s): >= 2M events/s{tag}", eps >= 2e6,
                      f"{eps / 1e6:.2f}M events/s")
        for name, b in runs.items():
            if name.startswith("state_codec/"):
                bps = b["bytes_per_second"]
                check(f"{name} >= 2 GB/s{tag}", bps >= 2e9, f"{bps / 1e9:.2f} GB/s")
        for name, b in runs.items():
            if name.startswith("footprint/fluxcap") and "idle_B" in b:
                check(f"idle group < 100 B ({name}){tag}", b["idle_B"] < 100, f"{b['idle_B']:.0f} B")
                break
        for name, b in runs.items():
            if name.startswith("footprint/fluxcap") and "fpp:1e-3" in name:
                check(f"full group at fpp 1e-3 < CCCS's 479 KB ({name}){tag}",
                      b["B_full"] < 479e3, f"{b['B_full'] / 1e3:.0f} KB")
    print()


def main(paths):
    files = [load(p) for p in paths]
    ctx = files[0][0]
    caches = ", ".join(f"L{c['level']} {c['type']} {c['size'] // 1024} KiB"
                       for c in ctx.get("caches", []))
    print(f"Host: {ctx.get('host_name', '?')}, {ctx.get('num_cpus', '?')} CPUs at "
          f"{ctx.get('mhz_per_cpu', '?')} MHz, caches: {caches or 'not reported'}; "
          f"{ctx.get('compiler', '')}; fluxcap {ctx.get('fluxcap_version', '?')}\n")
    for run, (path, (c, _)) in enumerate(zip(paths, files), 1):
        load_avg = ", ".join(f"{x:.2f}" for x in c.get("load_avg", []))
        print(f"- run {run}: `{path}`, {c.get('date', '?')}, "
              f"load average at start {load_avg or '?'}")
    print()
    print_workloads(files)
    print_micro(files)
    print_footprint(files)
    print_targets(files)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
