"""Benchmark: a plan that resolves N pending creates (an interrupted apply of N campaigns) is linear.

    python benchmarks/pending.py [--sizes 10000,20000]

Each size builds N desired campaigns, N pending create entries and N live objects that state does
not know yet (the creates landed, their answers were lost), and times the planner (best of three), which
must adopt every one. Prints seconds per size and the ratio between sizes (linear: about the ratio of
the sizes; it was quadratic, 8 s for 10,000 and 101 s for 20,000, before the planner indexed
pending entries by address).
"""

from __future__ import annotations

import argparse
import gc
import time
from types import MappingProxyType

from reconciler.core.planner import make_plan
from reconciler.resources import Desired, Kind, LiveObject
from reconciler.state.model import Pending, State


def measure(n: int) -> float:
    desired, live, pending = {}, [], []
    for i in range(n):
        address, values = f"campaign.c{i}", {"name": f"C{i}", "page_id": "1", "daily_budget": 500}
        desired[address] = Desired(address, Kind.CAMPAIGN, MappingProxyType(values), frozenset(values))
        ids = MappingProxyType({"id": str(i), "campaign": f"{i}1", "adset": f"{i}2"})
        live.append(LiveObject(Kind.CAMPAIGN, ids, MappingProxyType(values)))
        pending.append(Pending(f"p{i}", address, "create", "2027-01-01T00:00:00Z", f"C{i}"))
    state = State(pending=tuple(pending))
    # The inputs are built, not planned: keep the collector from re-walking them while timing.
    gc.collect()
    gc.freeze()
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        plan = make_plan(desired, state, live, account="act_1", graph="x", currency="USD", now=0)
        best = min(best, time.perf_counter() - started)
        assert plan.summary["adopt"] == n, plan.summary
    gc.unfreeze()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,20000")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    figures = [(n, measure(n)) for n in sizes]
    print("| pending creates | plan s |")
    print("|---:|---:|")
    for n, seconds in figures:
        print(f"| {n:,} | {seconds:.2f} |")
    (small, fast), (large, slow) = figures[0], figures[-1]
    ratio = slow / fast if fast else float("inf")
    verdict = "PASS" if ratio <= 1.5 * large / small and slow < 5 else "FAIL"
    print(
        f"{verdict} ratio {ratio:.2f} for {large / small:g}x the size (linear: <= {1.5 * large / small:g}); "
        f"{large:,} pending in {slow:.2f} s (< 5 s)"
    )


if __name__ == "__main__":
    main()
