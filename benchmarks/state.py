"""Benchmark: what one batch costs to record, on each state backend, at 10 and 10,000 resources.

    python benchmarks/state.py [--sizes 10,10000] [--batches 20] [--backends json,sqlite,postgres] [--json out.json]

For each backend and size: a state of N campaigns is loaded, then ``--batches`` writes are timed,
each as the executor makes them after a batch of 50 creates: 50 resources changed and a pending
operation settled. The store writes only the rows a batch changed, so the time per write should
not grow with N. ``json`` is the state file of earlier mmctl versions (rewritten whole), shown
for comparison. PostgreSQL is ``MMCTL_STATE_URL`` (default: the local test server), in a schema
made for the run and dropped after it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import MappingProxyType
from typing import Any

from stores import drop_schemas, make_store

from reconciler.state.model import Pending, Resource, State

BATCH = 50


def campaign(i: int, budget: int) -> Resource:
    return Resource(
        "campaign",
        MappingProxyType({"id": str(10**14 + i), "campaign": str(2 * 10**14 + i), "adset": str(3 * 10**14 + i)}),
        MappingProxyType({"name": f"Campaign {i}", "daily_budget": budget, "status": "ACTIVE"}),
    )


def measure(backend: str, size: int, batches: int, folder: Path, schema: str) -> dict[str, Any]:
    store = make_store(backend, folder, schema)
    state = State(1, "bench", "act_1", MappingProxyType({f"campaign.c{i}": campaign(i, 500) for i in range(size)}))
    state = store.write(state) if backend == "json" else store.load(state)
    times = []
    for n in range(batches):
        changed = {
            f"campaign.c{(n * BATCH + j) % size}": campaign((n * BATCH + j) % size, 600 + n) for j in range(BATCH)
        }
        recorded = store.write(state.with_pending(Pending(f"p{n}", "campaign.new", "create", "2027-01-01T00:00:00Z")))
        settled = recorded.with_resources(changed).without_pending(f"p{n}")
        started = time.perf_counter()
        state = store.write(settled)
        times.append(time.perf_counter() - started)
    if hasattr(store, "close"):
        store.close()
    return {
        "backend": backend,
        "resources": size,
        "batch": min(BATCH, size),
        "median_ms": statistics.median(times) * 1000,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,10000")
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--backends", default="json,sqlite,postgres")
    parser.add_argument("--json", dest="json_out", help="also write the figures to this file")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    schema = f"mmctl_bench_{uuid.uuid4().hex[:8]}"
    try:
        for backend in args.backends.split(","):
            for size in sizes:
                with tempfile.TemporaryDirectory() as folder:
                    rows.append(measure(backend, size, args.batches, Path(folder), f"{schema}_{size}"))
    finally:
        if "postgres" in args.backends:
            drop_schemas(f"{schema}_{size}" for size in sizes)
    print(
        "| backend | resources | resources changed by the batch | write of one batch, median ms | vs the same batch at the smallest state |"
    )
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        smallest = next(r for r in rows if r["backend"] == row["backend"] and r["batch"] == row["batch"])
        ratio = row["median_ms"] / smallest["median_ms"]
        print(f"| {row['backend']} | {row['resources']:,} | {row['batch']} | {row['median_ms']:.1f} | {ratio:.1f}x |")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
