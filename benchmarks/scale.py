"""Benchmark: validate, plan and apply from 10 to 10,000 campaigns against a served sandbox.

    python benchmarks/scale.py [--sizes 10,100,1000,10000] [--latencies 0,50] [--json results.json]

For each size N and sandbox latency it writes N campaigns (plus audiences and templates) as
manifests, runs mmctl as a subprocess against `mmctl sandbox serve --ephemeral`, and measures:
validate; apply creating everything; plan with no changes; plan with 10% of the budgets changed;
apply of those updates. For each it reports the Graph requests (from the sandbox's
/__sandbox/stats), the wall seconds and the mmctl process's peak memory, and checks the targets.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.request import urlopen

PAGE_SIZE = 500  # reconciler.graph.live.PAGE_SIZE
BATCH = 50


def serve(latency_ms: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reconciler",
            "sandbox",
            "serve",
            "--port",
            "0",
            "--ephemeral",
            "--latency-ms",
            str(latency_ms),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        raise SystemExit(f"the sandbox did not start: {line!r}")
    return proc, line.split()[-1]


def requests_made(url: str) -> int:
    with urlopen(f"{url}/__sandbox/stats") as answer:
        return int(json.loads(answer.read())["requests"])


def write_project(root: Path, n: int, changed: int = 0) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "mmctl.yaml").write_text(
        'provider:\n  graph: sandbox\n  ad_account: act_100000000000001\n  page_id: "200000000000001"\n'
        "  timezone: America/New_York\n"
    )
    (root / "templates.yaml").write_text(
        "templates:\n" + "".join(f'  t{k}:\n    message:\n      text: "Offer {k} for you"\n' for k in range(2))
    )
    (root / "audiences.yaml").write_text(
        "audiences:\n" + "".join(f"  a{k}:\n    name: Audience {k}\n    description: Segment {k}\n" for k in range(3))
    )
    lines = ["campaigns:\n"]
    for i in range(n):
        budget = 500 + i + (100 if i < changed else 0)
        # No template: a campaign's template is a default for its sends, and these have none.
        lines.append(f"  c{i}:\n    name: Campaign {i}\n    daily_budget: {budget}\n")
    (root / "campaigns.yaml").write_text("".join(lines))


def measure(args: list[str], cwd: Path, env: dict[str, str], url: str | None) -> dict[str, float | int]:
    before = requests_made(url) if url else 0
    started = time.perf_counter()
    # stderr goes to a file: progress lines for 10,000 campaigns would fill a pipe nobody reads yet.
    with tempfile.TemporaryFile("w+") as errors:
        proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            text=True,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        errors.seek(0)
        stderr = errors.read()
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 2):
        raise SystemExit(f"mmctl {' '.join(args)} exited {code}:\n{stderr[-2000:]}")
    return {
        "seconds": round(seconds, 2),
        "requests": (requests_made(url) - before) if url else 0,
        "peak_mb": round(usage.ru_maxrss / 1024, 1),
        "exit": code,
    }


def run_size(n: int, latency: int, work: Path) -> dict[str, object]:
    proc, url = serve(latency)
    try:
        root = work / f"n{n}-l{latency}"
        write_project(root, n)
        env = {**os.environ, "MMCTL_GRAPH_URL": url, "META_ACCESS_TOKEN": "benchmark-token-0000"}
        env.pop("NO_COLOR", None)
        steps = {
            "validate": measure(["validate", "."], root, env, None),
            "apply_create": measure(["apply", ".", "--auto-approve"], root, env, url),
            "plan_nochange": measure(["plan", ".", "--detailed-exitcode"], root, env, url),
        }
        write_project(root, n, changed=max(1, n // 10))
        steps["plan_10pct"] = measure(["plan", ".", "--detailed-exitcode"], root, env, url)
        steps["apply_10pct"] = measure(["apply", ".", "--auto-approve"], root, env, url)
        after = measure(["plan", ".", "--detailed-exitcode"], root, env, url)
        if after["exit"] != 0:
            raise SystemExit(f"N={n}: the plan after apply is not empty")
        return {"n": n, "latency_ms": latency, **{k: v for k, v in steps.items()}}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def targets(row: dict[str, object]) -> list[str]:
    """The issue's targets, as pass/fail lines."""
    n, latency = int(row["n"]), int(row["latency_ms"])  # type: ignore[call-overload]
    steps: dict[str, dict[str, float]] = {k: v for k, v in row.items() if isinstance(v, dict)}  # type: ignore[misc]
    resources = n + 5
    checks = [
        (
            f"plan, no changes: requests <= ceil(N/{PAGE_SIZE}) + 3 = {math.ceil(resources / PAGE_SIZE) + 3}",
            steps["plan_nochange"]["requests"] <= math.ceil(resources / PAGE_SIZE) + 3,
        ),
        (
            f"apply of {resources} creates: requests <= ceil(N/{BATCH}) + 3 = {math.ceil(resources / BATCH) + 3}",
            steps["apply_create"]["requests"] <= math.ceil(resources / BATCH) + 3,
        ),
        (
            f"apply of {max(1, n // 10)} updates: requests <= ceil(N/{BATCH}) + 3",
            steps["apply_10pct"]["requests"]
            <= math.ceil(max(1, n // 10) / BATCH) + 3 + math.ceil(resources / PAGE_SIZE),
        ),
    ]
    if n == 1000 and latency == 50:
        checks.append(("plan of 1,000 at 50 ms: < 1.5 s", steps["plan_nochange"]["seconds"] < 1.5))
        checks.append(("apply of 1,000 creates at 50 ms: < 5 s", steps["apply_create"]["seconds"] < 5))
    if n == 10000:
        checks.append(("validate of 10,000: < 5 s", steps["validate"]["seconds"] < 5))
        checks.append(("peak memory at 10,000: < 300 MB", max(s["peak_mb"] for s in steps.values()) < 300))
    return [f"{'PASS' if ok else 'FAIL'} N={n} latency={latency}ms: {text}" for text, ok in checks]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000,10000")
    parser.add_argument("--latencies", default="0,50")
    parser.add_argument("--json", dest="json_out", default="benchmarks/results.json")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for latency in (int(x) for x in args.latencies.split(",")):
            for n in (int(x) for x in args.sizes.split(",")):
                print(f"... N={n} latency={latency}ms", file=sys.stderr, flush=True)
                rows.append(run_size(n, latency, Path(folder)))
    steps = ("validate", "plan_nochange", "plan_10pct", "apply_create", "apply_10pct")
    print("| N | latency | " + " | ".join(f"{s}: requests / s / MB" for s in steps) + " |")
    print("|---:|---:|" + "---|" * len(steps))
    for row in rows:
        cells = [f"{row[s]['requests']} / {row[s]['seconds']} / {row[s]['peak_mb']}" for s in steps]  # type: ignore[index]
        print(f"| {row['n']:,} | {row['latency_ms']} ms | " + " | ".join(cells) + " |")
    verdicts = [line for row in rows for line in targets(row)]
    print()
    print("\n".join(verdicts))
    Path(args.json_out).write_text(json.dumps({"rows": rows, "targets": verdicts}, indent=2) + "\n")
    return 0 if all(v.startswith("PASS") for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
