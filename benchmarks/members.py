"""Benchmark: hash and diff a large member file in bounded memory.

    python benchmarks/members.py [--rows 1000000] [--json out.json]

Writes a CSV of fictional people (email, phone, country), then measures: preparing it (read,
normalise, hash, external sort), diffing it against an empty store, recording the upload, and
diffing a copy with 1% of the rows replaced against that record. Prints wall seconds and the
process's peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from reconciler.members import memberfile
from reconciler.state.local import LocalStateStore


def peak_mb() -> float:
    # ru_maxrss is in kilobytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_people(path: Path, rows: int, changed: int = 0) -> None:
    with open(path, "w", encoding="utf-8") as out:
        out.write("email,phone,country\n")
        for n in range(rows):
            who = n + 10_000_000 if n < changed else n
            out.write(f"person{who}@example.com,+1 555 {who % 10_000_000:07d},US\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--json", dest="json_out", help="also write the figures to this file")
    args = parser.parse_args()
    figures: dict[str, float | int] = {"rows": args.rows}
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        source = work / "members.csv"
        write_people(source, args.rows)
        figures["file_mb"] = round(source.stat().st_size / 1e6, 1)
        base = peak_mb()

        started = time.perf_counter()
        prepared = memberfile.prepare(source, hashed=False, default_country=None, workdir=work)
        figures["prepare_s"] = round(time.perf_counter() - started, 2)

        store = LocalStateStore(work / "state.json")

        def stored() -> Iterator[tuple[str, str, str]]:
            return store.member_entries("audience.big")

        started = time.perf_counter()
        first = memberfile.diff(prepared, stored)
        store.save_members("audience.big", memberfile.entries(prepared))
        figures["diff_and_record_s"] = round(time.perf_counter() - started, 2)

        write_people(source, args.rows, changed=args.rows // 100)
        started = time.perf_counter()
        again = memberfile.prepare(source, hashed=False, default_country=None, workdir=work)
        second = memberfile.diff(again, stored)
        figures["prepare_and_diff_changed_s"] = round(time.perf_counter() - started, 2)
        figures["peak_rss_mb"] = round(peak_mb(), 1)
        figures["peak_above_start_mb"] = round(peak_mb() - base, 1)
        figures["first_add"] = first.add
        figures["second_add"], figures["second_remove"] = second.add, second.remove

    print("| rows | file MB | prepare s | diff+record s | 1% changed: prepare+diff s | +add / -remove | peak RSS MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {figures['rows']:,} | {figures['file_mb']} | {figures['prepare_s']} | {figures['diff_and_record_s']} | "
        f"{figures['prepare_and_diff_changed_s']} | +{figures['second_add']:,} / -{figures['second_remove']:,} | "
        f"{figures['peak_rss_mb']} |"
    )
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
