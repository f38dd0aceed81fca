#!/usr/bin/env python3
"""`fluxcap check/run --rules` on the shared real data (never copied into the repo).

  sigma_realdata_test.py PATH/TO/fluxcap

Skips (prints SKIPPED, exit 0) when the real data is absent: $FLUXCAP_REALDATA, else
../shared/realdata from the repository root.
(a) `check --rules` over the rule folders of realdata/sigma and
    realdata/sigma-regression-extra (not regression_data/, whose info.yml files are not
    rules), `--profile sysmon`:
    at most 1 % of the applicable rules are unsupported, each with a reason.
(b) every regression pair of both MANIFEST.regression.tsv files: the event file (JSON,
    possibly several pretty-printed objects) converted to JSON Lines, then
    `run --exact --rules RULE --profile evtx-json` must list the rule's id in the
    detections of some line.
Registered with ctest as `fluxcap_cli_sigma_realdata`.
"""
import csv
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def realdata():
    path = os.environ.get("FLUXCAP_REALDATA") or os.path.join(REPO, "..", "shared", "realdata")
    return path if os.path.isdir(os.path.join(path, "sigma")) else None


def json_objects(text):
    """Every JSON value of `text`, one after the other (pretty-printed or not)."""
    decoder = json.JSONDecoder()
    i, out = 0, []
    while True:
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        if i >= len(text):
            return out
        value, i = decoder.raw_decode(text, i)
        out.extend(value if isinstance(value, list) else [value])


def check_coverage(tool, data):
    # The rule folders only: regression_data/ holds info.yml files, which are not rules.
    dirs = [os.path.join(data, root, sub)
            for root in ("sigma", "sigma-regression-extra")
            for sub in ("rules", "rules-emerging-threats", "rules-threat-hunting")
            if os.path.isdir(os.path.join(data, root, sub))]
    r = subprocess.run([tool, "check", "--rules", *dirs, "--profile", "sysmon"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    statuses = re.findall(r"^rule (.*) \((.*)\): (ok|skipped|unsupported)(?:: (.*))?$",
                          r.stdout, re.M)
    ok = sum(1 for s in statuses if s[2] == "ok")
    unsupported = [s for s in statuses if s[2] == "unsupported"]
    applicable = ok + len(unsupported)
    for s in unsupported:
        assert s[3], "unsupported rule without a reason: %s" % (s,)
        print("  unsupported: %s (%s): %s" % (s[0], s[1], s[3]))
    print("check: %d rules, %d ok, %d unsupported, %d skipped (logsource)"
          % (len(statuses), ok, len(unsupported), len(statuses) - applicable))
    assert applicable > 0
    assert len(unsupported) * 100 <= applicable, "more than 1% unsupported"


def check_regressions(tool, data, tmp):
    pairs = fired = 0
    missed = []
    for root in ("sigma", "sigma-regression-extra"):
        base = os.path.join(data, root)
        with open(os.path.join(base, "MANIFEST.regression.tsv"), newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        for row in rows:
            pairs += 1
            with open(os.path.join(base, row["json_path"]), encoding="utf-8") as f:
                events = json_objects(f.read())
            jsonl = os.path.join(tmp, "events.jsonl")
            with open(jsonl, "w", encoding="utf-8") as f:
                for e in events:
                    f.write(json.dumps(e, ensure_ascii=False) + "\n")
            r = subprocess.run([tool, "run", "--exact", "--rules",
                                os.path.join(base, row["rule_path"]), "--profile", "evtx-json",
                                "--", jsonl], capture_output=True, text=True)
            assert r.returncode == 0, (row["rule_path"], r.stderr)
            hit = any(row["rule_id"] in json.loads(line).get("detections", [])
                      for line in r.stdout.splitlines() if line.strip())
            if hit:
                fired += 1
            else:
                missed.append("%s %s (%s): %s" % (row["rule_id"], row["rule_path"], root,
                                                 r.stderr.strip().replace("\n", " | ")))
    print("regression pairs: %d, fired: %d" % (pairs, fired))
    for m in missed:
        print("  did not fire: " + m)
    assert pairs > 0 and not missed


def main():
    tool = os.path.abspath(sys.argv[1])
    data = realdata()
    if data is None:
        print("SKIPPED: no real data (set FLUXCAP_REALDATA or provide ../shared/realdata)")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        check_coverage(tool, data)
        check_regressions(tool, data, tmp)
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
