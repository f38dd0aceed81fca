#!/usr/bin/env python3
"""End-to-end Sigma benchmark (bench/README.md, "Sigma engine"): `fluxcap run --rules` on
Sysmon JSON Lines against simdjson parsing the same file and doing nothing else.

Input: the 410 realdata Sysmon lines (realdata/sysmon/*.jsonl, sorted by file) replicated
to at least --lines lines: replica k rewrites "Hostname" to host-(k mod --hosts) and
suffixes every {GUID} with -k, so that process trees stay separate. Rule sets: the
realdata rules (sigma/rules*, sigma-regression-extra/rules*) and --variants rules made by
bench/gen_sigma_variants.py from them. Everything generated goes to --work (default: a
new temporary folder), never into the repository.

For each rule set, alternating runs (--repeat rounds) so that machine noise hits all alike:
  - parse_only: bench/parse_only.cpp `lines` (simdjson On-Demand, one document a line,
    every value visited). Two figures from each run: `seconds`, its own timer around the
    parse of the file already in memory, and `process_seconds`, the whole process's wall
    time (it loads the whole file into one padded string first);
  - parse_stream: bench/parse_only.cpp `stream`, the same parse and walk of each line, the
    file read as `fluxcap run` reads it (read(2) into one reused, padded buffer of
    line_reader's block size);
    `seconds` (its timer, reads included) and `process_seconds` (wall);
  - check: `fluxcap check --rules ... --profile sysmon` (reading and compiling the rules:
    the start-up cost inside every run);
  - run: `fluxcap run --rules ... --profile sysmon --threads T --no-progress FILE`, the
    whole process, output to /dev/null, wall time.
Prints one JSON object: median seconds, events/s, MB/s, and the run's share of each
baseline (baseline seconds / run seconds, the target being >= 0.5 for the realdata rules;
>= 100,000 events/s with the variants), all from the same rounds:
  - run_share_of_parse_only: against the in-memory parse (parse_only `seconds`);
  - run_share_of_parse_stream: against the streamed parse as a process (parse_stream
    `process_seconds`, file reading included, as in the run);
  - run_share_of_parse_load_process: against parse_only as a process (load the whole
    file, then parse: parse_only `process_seconds`).

  bench/end_to_end_sigma.py [--build build/bench] [--fluxcap PATH] [--compare PATH] [--work DIR]
      [--lines 200000] [--hosts 1000] [--variants 3000] [--repeat 3] [--threads 1]
"""
import argparse
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
import time

GUID = re.compile(rb"\{([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})\}")
HOSTNAME = re.compile(rb'"Hostname":"[^"]*"')


def realdata_root():
    return pathlib.Path(os.environ.get(
        "FLUXCAP_REALDATA",
        pathlib.Path(__file__).resolve().parent.parent.parent / "shared" / "realdata"))


def rule_dirs(root):
    out = []
    for top in ("sigma", "sigma-regression-extra"):
        d = root / top
        if d.is_dir():
            out += sorted(str(p) for p in d.iterdir() if p.is_dir() and p.name.startswith("rules"))
    return out


def replicate(root, path, want_lines, hosts):
    lines = []
    for f in sorted((root / "sysmon").glob("*.jsonl")):
        lines += [l for l in f.read_bytes().split(b"\n") if l.strip()]
    if not lines:
        sys.exit(f"no Sysmon lines under {root / 'sysmon'}")
    written, k = 0, 0
    with open(path, "wb") as out:
        while written < want_lines:
            suffix = b"-%d}" % k
            host = b'"Hostname":"host-%d"' % (k % hosts)
            for line in lines:
                line = GUID.sub(lambda m: b"{" + m.group(1) + suffix, line)
                out.write(HOSTNAME.sub(host, line, count=1) + b"\n")
            written += len(lines)
            k += 1
    return written, len(lines), k


def timed(cmd):
    with open(os.devnull, "wb") as null:
        start = time.perf_counter()
        subprocess.run(cmd, stdout=null, stderr=subprocess.PIPE, check=True)
        return time.perf_counter() - start


def timed_parse(cmd):
    """Runs fluxcap_parse_only: (its own seconds, the process's wall seconds, its lines)."""
    start = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, check=True, text=True)
    wall = time.perf_counter() - start
    out = json.loads(r.stdout)
    return out["seconds"], wall, out["lines"]


def count_detections(cmd):
    """Runs cmd once, counting output lines with a detections array (streamed)."""
    n, tail = 0, b""
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as p:
        for chunk in iter(lambda: p.stdout.read(1 << 20), b""):
            data = tail + chunk
            n += data.count(b'"detections":[')
            tail = data[-16:]
            n -= tail.count(b'"detections":[')
        err = p.stderr.read().decode(errors="replace")
    n += tail.count(b'"detections":[')
    return n, err.strip().splitlines()[:2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build/bench")
    ap.add_argument("--fluxcap", help="the fluxcap binary (default: BUILD/tools/fluxcap/fluxcap)")
    ap.add_argument("--compare", metavar="PATH",
                    help="another fluxcap binary (say, main's), run in the same rounds: its "
                         "shares are reported beside the run's (run_compare)")
    ap.add_argument("--work", help="folder for the generated data (default: a new temporary one)")
    ap.add_argument("--lines", type=int, default=200000)
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--variants", type=int, default=3000, help="0: skip the variant rule set")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()

    root = realdata_root()
    rules = rule_dirs(root)
    if not rules or not (root / "sysmon").is_dir():
        print(json.dumps({"skipped": f"realdata absent ({root})"}))
        return
    fluxcap = a.fluxcap or os.path.join(a.build, "tools", "fluxcap", "fluxcap")
    parse_only = os.path.join(a.build, "bench", "fluxcap_parse_only")
    for exe in (fluxcap, parse_only):
        if not os.access(exe, os.X_OK):
            sys.exit(f"{exe} not found: build the bench preset (fluxcap_cli, fluxcap_parse_only)")
    work = pathlib.Path(a.work or tempfile.mkdtemp(prefix="fluxcap-sigma-e2e-"))
    work.mkdir(parents=True, exist_ok=True)

    data = work / f"sysmon_{a.lines}_{a.hosts}.jsonl"
    if not data.exists():
        replicate(root, data, a.lines, a.hosts)
    lines = sum(1 for _ in open(data, "rb"))
    base = sum(1 for f in (root / "sysmon").glob("*.jsonl")
               for l in f.read_bytes().split(b"\n") if l.strip())
    replicas = -(-lines // base)
    size = data.stat().st_size
    rule_sets = {"realdata": rules}
    if a.variants:
        variants = work / f"variants_{a.variants}"
        if not variants.exists():
            subprocess.run([sys.executable, str(pathlib.Path(__file__).parent / "gen_sigma_variants.py"),
                            str(variants), "--count", str(a.variants)], check=True)
        rule_sets[f"variants_{a.variants}"] = [str(variants)]

    result = {"loadavg_before": os.getloadavg(), "file": str(data), "lines": lines, "bytes": size, "base_lines": base,
              "replicas": replicas, "hosts": a.hosts, "threads": a.threads, "repeat": a.repeat,
              "fluxcap": fluxcap, "rule_sets": {}}
    for name, paths in rule_sets.items():
        rules_args = ["--rules", *paths, "--profile", "sysmon"]
        runs = {
            "parse_only": [parse_only, str(data), "lines"],
            "parse_stream": [parse_only, str(data), "stream"],
            "check": [fluxcap, "check", *rules_args],
            "run": [fluxcap, "run", *rules_args, "--threads", str(a.threads), "--no-progress",
                    "--", str(data)],
        }
        if a.compare:
            runs["run_compare"] = [a.compare, *runs["run"][1:]]
        detections, banner = count_detections(runs["run"])
        times = {k: [] for k in runs}
        walls = {k: [] for k in runs if k.startswith("parse_")}
        for _ in range(a.repeat):
            for k, cmd in runs.items():
                if k in walls:
                    secs, wall, parsed = timed_parse(cmd)
                    if parsed != lines:
                        sys.exit(f"{k} parsed {parsed} lines of {lines}")
                    times[k].append(secs)
                    walls[k].append(wall)
                else:
                    times[k].append(timed(cmd))
        w = {"rules": paths, "stderr": banner, "lines_with_detections": detections,
             "loadavg_after": os.getloadavg()}
        for k, t in times.items():
            med = statistics.median(t)
            w[k] = {"seconds": t, "seconds_median": med,
                    "events_per_s": lines / med if k != "check" else None,
                    "mb_per_s": size / med / 1e6 if k != "check" else None}
            if k in walls:
                pmed = statistics.median(walls[k])
                w[k].update({"process_seconds": walls[k], "process_seconds_median": pmed,
                             "process_events_per_s": lines / pmed})
        for r in ("run", "run_compare") if a.compare else ("run",):
            run_s = w[r]["seconds_median"]
            w[f"{r}_share_of_parse_only"] = w["parse_only"]["seconds_median"] / run_s
            w[f"{r}_share_of_parse_stream"] = w["parse_stream"]["process_seconds_median"] / run_s
            w[f"{r}_share_of_parse_stream_timer"] = w["parse_stream"]["seconds_median"] / run_s
            w[f"{r}_share_of_parse_load_process"] = (
                w["parse_only"]["process_seconds_median"] / run_s)
        run_s = w["run"]["seconds_median"]
        # Without the start-up (reading and compiling the rules, as `check` does it):
        steady = w["run"]["seconds_median"] - w["check"]["seconds_median"]
        w["run_minus_check_events_per_s"] = lines / steady if steady > 0 else None
        w["run_minus_check_share_of_parse_only"] = (
            w["parse_only"]["seconds_median"] / steady if steady > 0 else None)
        result["rule_sets"][name] = w
        print(f"{name}: run {w['run']['events_per_s']:.0f} events/s "
              f"({w['run']['mb_per_s']:.0f} MB/s, {run_s:.3f} s); share of "
              f"(a) in-memory parse {w['run_share_of_parse_only']:.3f} "
              f"({w['parse_only']['events_per_s']:.0f} events/s; "
              f"{w['run_minus_check_share_of_parse_only']:.3f} without start-up), "
              f"(b) streamed parse process {w['run_share_of_parse_stream']:.3f} "
              f"({w['parse_stream']['process_events_per_s']:.0f} events/s), "
              f"(c) load-whole-file parse process {w['run_share_of_parse_load_process']:.3f} "
              f"({w['parse_only']['process_events_per_s']:.0f} events/s); "
              f"check {w['check']['seconds_median']:.2f} s; "
              f"{detections} lines with detections; load {w['loadavg_after'][0]:.2f}",
              file=sys.stderr)
        if a.compare:
            print(f"{name}: compare ({a.compare}) {lines / w['run_compare']['seconds_median']:.0f} "
                  f"events/s ({w['run_compare']['seconds_median']:.3f} s); shares (a) "
                  f"{w['run_compare_share_of_parse_only']:.3f}, (b) "
                  f"{w['run_compare_share_of_parse_stream']:.3f}, (c) "
                  f"{w['run_compare_share_of_parse_load_process']:.3f}; run / compare time "
                  f"{run_s / w['run_compare']['seconds_median']:.3f}", file=sys.stderr)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
