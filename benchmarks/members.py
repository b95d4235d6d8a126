"""Benchmark: hash and diff a large member file in bounded memory.

    python benchmarks/members.py [--rows 1000000] [--backends sqlite,postgres] [--json out.json]

Writes a CSV of fictional people (email, phone, country), then measures: preparing it (read,
normalise, hash, external sort), and then on each state backend (in a child process, for its own
peak memory) diffing it against an empty record, recording the upload, and diffing a copy with
1% of the rows replaced against that record. Prints wall seconds and peak resident memory.
PostgreSQL is ``MMCTL_STATE_URL`` (default: the local test server), in a schema made for the run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stores import drop_schemas, make_store

from reconciler.members import memberfile


def peak_mb() -> float:
    # ru_maxrss is in kilobytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_people(path: Path, rows: int, changed: int = 0) -> None:
    with open(path, "w", encoding="utf-8") as out:
        out.write("email,phone,country\n")
        for n in range(rows):
            who = n + 10_000_000 if n < changed else n
            out.write(f"person{who}@example.com,+1 555 {who % 10_000_000:07d},US\n")


def on_backend(backend: str, work: Path, prepared: Any, again: Any, schema: str, out: Any) -> None:
    """In a child process, so that its peak memory is its own: diff against nothing, record the
    upload, then diff the changed file against that record."""
    store = make_store(backend, work, schema)

    def stored() -> Iterator[tuple[str, str, str]]:
        return store.member_entries("audience.big")

    base = peak_mb()
    started = time.perf_counter()
    first = memberfile.diff(prepared, stored)
    store.save_members("audience.big", memberfile.entries(prepared))
    record_s = time.perf_counter() - started
    started = time.perf_counter()
    second = memberfile.diff(again, stored)
    diff_s = time.perf_counter() - started
    if hasattr(store, "close"):
        store.close()
    out.send(
        {
            "backend": backend,
            "diff_and_record_s": round(record_s, 2),
            "diff_changed_s": round(diff_s, 2),
            "first_add": first.add,
            "second_add": second.add,
            "second_remove": second.remove,
            "peak_rss_mb": round(peak_mb(), 1),
            "peak_above_start_mb": round(peak_mb() - base, 1),
        }
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgres", help="state backends to record on (json too)")
    parser.add_argument("--json", dest="json_out", help="also write the figures to this file")
    args = parser.parse_args()
    figures: dict[str, Any] = {"rows": args.rows, "backends": []}
    schema = f"mmctl_bench_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        source = work / "members.csv"
        write_people(source, args.rows)
        figures["file_mb"] = round(source.stat().st_size / 1e6, 1)
        started = time.perf_counter()
        prepared = memberfile.prepare(source, hashed=False, default_country=None, workdir=work)
        figures["prepare_s"] = round(time.perf_counter() - started, 2)
        figures["prepare_peak_rss_mb"] = round(peak_mb(), 1)
        changed = work / "changed.csv"
        write_people(changed, args.rows, changed=args.rows // 100)
        started = time.perf_counter()
        again = memberfile.prepare(changed, hashed=False, default_country=None, workdir=work)
        figures["prepare_changed_s"] = round(time.perf_counter() - started, 2)
        context = multiprocessing.get_context("fork")
        try:
            for backend in args.backends.split(","):
                receive, send = context.Pipe(duplex=False)
                child = context.Process(target=on_backend, args=(backend, work, prepared, again, schema, send))
                child.start()
                figures["backends"].append(receive.recv())
                child.join()
        finally:
            if "postgres" in args.backends:
                drop_schemas([schema])

    print(
        f"{figures['rows']:,} rows ({figures['file_mb']} MB): prepare {figures['prepare_s']} s "
        f"(peak RSS {figures['prepare_peak_rss_mb']} MB); the 1%-changed file {figures['prepare_changed_s']} s"
    )
    print("| backend | diff + record s | 1% changed: diff s | +add / -remove | peak RSS MB (above start) |")
    print("|---|---:|---:|---:|---:|")
    for row in figures["backends"]:
        print(
            f"| {row['backend']} | {row['diff_and_record_s']} | {row['diff_changed_s']} | "
            f"+{row['second_add']:,} / -{row['second_remove']:,} | {row['peak_rss_mb']} "
            f"({row['peak_above_start_mb']}) |"
        )
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
