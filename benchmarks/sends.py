"""Benchmark: one send to N recipients, through the CLI against a served sandbox.

    python benchmarks/sends.py [--recipients 100000] [--json out.json]

Writes a project whose audience matches about N subscribers (the sandbox matches 60% of an
upload), applies it (campaign, audience, members), moves the sandbox clock past the warm-up, then
measures ``mmctl plan`` and the ``mmctl apply`` that sends: wall seconds, Graph requests by
endpoint against the expected ⌈N/1,000⌉ token pages and ⌈N/50⌉ send batches, and peak memory.
It then times one batch's journal write (50 rows, two transactions) in journals of 10,000 and
100,000 rows: a write costs the batch, not the journal.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scale import measure, serve

from reconciler.state.model import JournalRow
from reconciler.state.sqlite import SQLiteStateStore

MATCH_RATE = 0.6


def write_project(root: Path, recipients: int) -> None:
    people = int(recipients / MATCH_RATE * 1.02) + 200
    (root / "mmctl.yaml").write_text(
        'provider:\n  graph: sandbox\n  ad_account: act_100000000000001\n  page_id: "200000000000001"\n'
        "templates:\n  t: {message: {text: Hello}}\n"
        "audiences:\n  a: {name: Everyone, members: {file: people.csv}}\n"
        "campaigns:\n  c: {name: Big send, daily_budget: 100000000, template: t, audience: a}\n"
        "sends:\n  s: {campaign: c}\n"
    )
    with open(root / "people.csv", "w", encoding="utf-8") as out:
        out.write("email\n")
        out.writelines(f"person{n}@example.com\n" for n in range(people))


def control(url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = Request(f"{url}/__sandbox/{path}", data=data, method="POST" if body is not None else "GET")
    request.add_header("Content-Type", "application/json")
    with urlopen(request) as answer:
        return json.loads(answer.read())


def by_endpoint(url: str) -> dict[str, int]:
    stats = control(url, "stats")
    return {**stats["by_endpoint"], **{f"op {k}": v for k, v in stats["operations_by_endpoint"].items()}}


def journal_write_ms(rows: int, folder: Path) -> float:
    """Median milliseconds of one batch's journal writes (intent, then outcome) in a journal of ``rows``."""
    store = SQLiteStateStore(folder / f"journal{rows}.db")
    store.journal_start("send.s", (f"{10**16 + n}" for n in range(rows)), "2027-01-01T00:00:00Z")
    times = []
    for batch in range(40):
        chosen = [f"{10**16 + (batch * 50 + k) * (rows // 2000)}" for k in range(50)]
        started = time.perf_counter()
        store.journal_mark("send.s", [JournalRow(r, "intent", None, None, "2027-01-01T00:00:01Z") for r in chosen])
        store.journal_mark("send.s", [JournalRow(r, "sent", None, "x", "2027-01-01T00:00:02Z") for r in chosen])
        times.append((time.perf_counter() - started) * 1000)
    store.close()
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--json", dest="json_out", help="also write the figures to this file")
    args = parser.parse_args()
    proc, url = serve(0)
    try:
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder) / "project"
            root.mkdir()
            write_project(root, args.recipients)
            env = {**os.environ, "MMCTL_GRAPH_URL": url, "META_ACCESS_TOKEN": "benchmark-token-0000"}
            setup = measure(["apply", ".", "--auto-approve", "--no-estimate"], root, env, url)
            control(url, "clock", {"advance_seconds": 7200})
            before = by_endpoint(url)
            plan = measure(["plan", ".", "--detailed-exitcode"], root, env, url)
            send = measure(["apply", ".", "--auto-approve"], root, env, url)
            after = by_endpoint(url)
            again = measure(["plan", ".", "--detailed-exitcode"], root, env, url)
            used = {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}
            journal = {n: round(journal_write_ms(n, Path(folder)), 2) for n in (10_000, 100_000)}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    sent = used.get("op POST act_/messages", 0)
    token_pages = used.get("GET <id>/notification_message_tokens", 0)
    # plan and apply each read the tokens once; apply sends in batch requests of 50.
    expected_pages = 2 * math.ceil(sent / 1000)
    expected_batches = math.ceil(sent / 50)
    figures = {
        "recipients": sent,
        "setup_apply": setup,
        "plan": plan,
        "apply_send": send,
        "plan_after": again,
        "requests_by_endpoint": used,
        "token_pages": token_pages,
        "token_pages_expected": expected_pages,
        "batch_requests": used.get("POST /", 0),
        "send_batches_expected": expected_batches,
        "journal_batch_write_ms": journal,
    }
    print(f"| {sent:,} recipients | seconds | requests | peak MB | exit |")
    print("|---|---:|---:|---:|---:|")
    for name in ("setup_apply", "plan", "apply_send", "plan_after"):
        f = figures[name]
        print(f"| {name} | {f['seconds']} | {f['requests']} | {f['peak_mb']} | {f['exit']} |")
    print(
        f"\ntoken pages read by plan + apply: {token_pages} (expected 2 × ⌈N/1,000⌉ = {expected_pages}); "
        f"batch requests: {figures['batch_requests']} (⌈N/50⌉ = {expected_batches} for the sends, plus the "
        "estimate and the other reads)"
    )
    print(f"requests by endpoint (plan + apply): {json.dumps(used, sort_keys=True)}")
    print(
        f"one batch's journal writes: {journal[10_000]} ms in a journal of 10,000, {journal[100_000]} ms of "
        f"100,000 ({journal[100_000] / max(journal[10_000], 0.001):.2f}×)"
    )
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
