#!/usr/bin/env python3
"""Writes a large Sigma rule set for benchmarks: the given rules plus variants of them.

    python3 bench/gen_sigma_variants.py OUT_DIR [--count 3000] [--rules PATH]...
                                        [--no-originals]

Each variant is a copy of a source rule (in turn) with a new id and title and every
literal value mutated deterministically: each ASCII letter is shifted by an amount that
depends on the variant number and the letter's position, so the values are new patterns
of the same lengths, with the same wildcards, escapes, separators and digits. Kept as
they are: regexes (`re`), `cidr`, `fieldref`, numbers, booleans, null, `exists`, and
`%placeholders%` (`expand`); conditions, logsource and everything else. The originals are
written too (unless --no-originals), then variants until COUNT files. Rules whose condition
starts with `not` give no variants (mutated, they would fire on nearly every event).

Needs python3-yaml (Debian: apt-get install python3-yaml). Plain scalars keep YAML 1.2
meaning for our reader: only true/false are booleans (PyYAML's YAML 1.1 would also read
yes/no/on/off). Default rules: the realdata Sigma folders ($FLUXCAP_REALDATA, else
../shared/realdata beside the repository): sigma/rules*, sigma-regression-extra/rules*.
The output is generated data: write it to a temporary folder, never into the repository.
"""
import argparse
import copy
import os
import pathlib
import re
import sys
import uuid

import yaml


class Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans (true/false only)."""


Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
# Timestamps stay strings (dates are metadata; the reader takes them as text).
Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in Loader.yaml_implicit_resolvers.items()
}

KEEP_MODIFIERS = {"re", "cidr", "fieldref", "exists", "lt", "lte", "gt", "gte",
                  "minute", "hour", "day", "week", "month", "year"}
PLACEHOLDER = re.compile(r"%[A-Za-z0-9_.-]+%")


def default_rule_paths():
    root = pathlib.Path(os.environ.get(
        "FLUXCAP_REALDATA",
        pathlib.Path(__file__).resolve().parent.parent.parent / "shared" / "realdata"))
    paths = []
    for top in ("sigma", "sigma-regression-extra"):
        d = root / top
        if d.is_dir():
            paths += sorted(p for p in d.iterdir() if p.is_dir() and p.name.startswith("rules"))
    return paths


def rule_files(paths):
    for p in paths:
        p = pathlib.Path(p)
        if p.is_dir():
            yield from sorted(q for q in p.rglob("*") if q.suffix in (".yml", ".yaml"))
        elif p.is_file():
            yield p


def mutate_text(text, variant):
    """Shifts each letter outside %placeholders% and escapes by a (variant, position) amount."""
    out = []
    protected = set()
    for m in PLACEHOLDER.finditer(text):
        protected.update(range(m.start(), m.end()))
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in "*?\\":  # keep escapes
            out.append(text[i:i + 2])
            i += 2
            continue
        if i not in protected and c.isascii() and c.isalpha():
            base = ord("a") if c.islower() else ord("A")
            shift = 1 + (variant * 7 + i * 3) % 25  # never 0: every letter changes
            out.append(chr(base + (ord(c) - base + shift) % 26))
        else:
            out.append(c)
        i += 1
    return "".join(out)


def mutate_values(value, variant):
    if isinstance(value, str):
        return mutate_text(value, variant)
    if isinstance(value, list):
        return [mutate_values(v, variant) for v in value]
    return value  # numbers, booleans, null


def mutate_search(search, variant):
    """A search identifier: a mapping, a list of mappings, or keyword values."""
    if isinstance(search, dict):
        out = {}
        for key, value in search.items():
            modifiers = set(str(key).split("|")[1:])
            out[key] = value if modifiers & KEEP_MODIFIERS else mutate_values(value, variant)
        return out
    if isinstance(search, list):
        return [mutate_search(s, variant) for s in search]
    return mutate_values(search, variant)


def variant_of(rule, variant):
    r = copy.deepcopy(rule)
    base_id = str(rule.get("id", rule.get("title", "")))
    r["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"fluxcap-bench-variant/{base_id}/{variant}"))
    r["title"] = f"{rule.get('title', 'rule')} (variant {variant})"
    detection = r.get("detection")
    if isinstance(detection, dict):
        for name in list(detection):
            if name not in ("condition", "timeframe"):
                detection[name] = mutate_search(detection[name], variant)
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--rules", action="append", default=[])
    ap.add_argument("--no-originals", action="store_true")
    args = ap.parse_args()

    paths = args.rules or default_rule_paths()
    sources = []  # (file, text of the original)
    for f in rule_files(paths):
        try:
            docs = list(yaml.load_all(f.read_text(encoding="utf-8"), Loader=Loader))
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            print(f"skipped {f}: {e}", file=sys.stderr)
            continue
        rules = [d for d in docs if isinstance(d, dict) and "detection" in d]
        if len(rules) == 1 and len(docs) == 1:
            sources.append((f, rules[0]))
    if not sources:
        sys.exit("no rules found (give --rules PATH)")
    # A condition that starts with `not` (`not selection and not 1 of filter*`) holds on
    # nearly every event once its values are mutated: such rules give no variants.
    def starts_negated(rule):
        c = rule.get("detection", {}).get("condition", "")
        return any(str(x).lstrip().startswith("not ") for x in (c if isinstance(c, list) else [c]))
    templates = [r for _, r in sources if not starts_negated(r)]

    out = pathlib.Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    if not args.no_originals:
        for f, _ in sources:
            if written == args.count:
                break
            (out / f"original_{written:05d}.yml").write_bytes(f.read_bytes())
            written += 1
    variant = 1
    while written < args.count:
        for rule in templates:
            if written == args.count:
                break
            text = yaml.safe_dump(variant_of(rule, variant), sort_keys=False, allow_unicode=True,
                                  width=100000)
            (out / f"variant_{written:05d}.yml").write_text(text, encoding="utf-8")
            written += 1
        variant += 1
    print(f"{written} rules in {out} ({len(sources)} sources, {len(templates)} templates, "
          f"variants 1..{variant - 1})",
          file=sys.stderr)


if __name__ == "__main__":
    main()
