"""Benchmark: plans of an audience with a big member file, through the CLI against a served sandbox.

    python benchmarks/member_plan.py [--rows 1000000] [--json out.json]

Writes a project with one audience whose member file has ``--rows`` fictional people, then runs
``mmctl apply`` (the first normalise, hash, diff and upload), ``mmctl plan`` with the file
unchanged (its fingerprint equals the last upload's: the file is not read again; target < 3 s),
and ``mmctl plan`` after one row was added (read, hashed and diffed again). Prints wall seconds,
Graph requests and peak memory of each mmctl process.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from members import write_people
from scale import measure, serve

TARGET_UNCHANGED_S = 3.0


def write_member_project(root: Path, rows: int) -> None:
    """A project of one audience whose member file (``people.csv``) has ``rows`` fictional people."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "mmctl.yaml").write_text(
        'provider:\n  graph: sandbox\n  ad_account: act_100000000000001\n  page_id: "200000000000001"\n'
        "audiences:\n  big:\n    name: Big list\n    description: d\n"
        "    members: {file: people.csv, default_country: US}\n"
    )
    write_people(root / "people.csv", rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--json", dest="json_out", help="also write the figures to this file")
    args = parser.parse_args()
    proc, url = serve(0)
    try:
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            write_member_project(root, args.rows)
            env = {**os.environ, "MMCTL_GRAPH_URL": url, "META_ACCESS_TOKEN": "benchmark-token-0000"}
            steps = {"apply_first_upload": measure(["apply", ".", "--auto-approve"], root, env, url)}
            steps["plan_unchanged"] = measure(["plan", ".", "--detailed-exitcode"], root, env, url)
            with open(root / "people.csv", "a", encoding="utf-8") as out:
                out.write("one.more@example.com,,US\n")
            steps["plan_one_row_added"] = measure(["plan", ".", "--detailed-exitcode"], root, env, url)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(f"| {args.rows:,} rows | seconds | requests | peak MB | exit |")
    print("|---|---:|---:|---:|---:|")
    for name, figures in steps.items():
        print(f"| {name} | {figures['seconds']} | {figures['requests']} | {figures['peak_mb']} | {figures['exit']} |")
    unchanged = steps["plan_unchanged"]["seconds"]
    verdict = "PASS" if unchanged < TARGET_UNCHANGED_S and steps["plan_unchanged"]["exit"] == 0 else "MISS"
    print(f"{verdict} plan with the file unchanged: {unchanged} s (target < {TARGET_UNCHANGED_S} s, no changes)")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(steps, indent=2) + "\n")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
