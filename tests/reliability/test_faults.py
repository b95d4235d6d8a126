"""Apply against a sandbox that fails: every fault kind at 10-30%; apply converges with no duplicate.

Each case runs `mmctl apply` until it succeeds (a failed run exits 1 and leaves pending operations
that the next run resolves), then checks: exactly one live campaign per manifest campaign, no
pending operations, and an empty plan. Bounded: a few seeds per kind in CI (MMCTL_RELIABILITY_SEEDS
raises it locally).
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
from click.testing import CliRunner
from reliability_project import write_project

from reconciler.cli import cli

pytestmark = pytest.mark.slow

SEEDS = int(os.environ.get("MMCTL_RELIABILITY_SEEDS", "1"))
KINDS = [
    ("500",),
    ("1",),
    ("2",),
    ("drop",),
    ("null",),
    ("slow",),
    ("throttle",),
    ("500", "1", "2", "drop", "null", "slow", "throttle"),
]
CAMPAIGNS = 30


@pytest.mark.parametrize("kinds", KINDS, ids=["+".join(k) for k in KINDS])
@pytest.mark.parametrize("seed", range(SEEDS))
def test_apply_converges_under_faults(serve, tmp_path, monkeypatch, kinds, seed):
    rate = (0.3, 0.2, 0.1)[seed % 3]
    sandbox = serve(fault_rate=rate, fault_kinds=kinds, fault_phase="any", slow_ms=900, seed=seed)
    root = tmp_path / "project"
    root.mkdir()
    write_project(root, CAMPAIGNS, 3)
    monkeypatch.chdir(root)
    runner = CliRunner(env={"MMCTL_GRAPH_URL": sandbox.url, "META_ACCESS_TOKEN": "reliability-token-0001"})
    runs = []
    timeouts = 0
    for _ in range(12):
        # A slow answer (900 ms) outlasts the request timeout: the client gives up and retries.
        result = runner.invoke(cli, ["apply", "--auto-approve", "--no-estimate", "--request-timeout", "0.6", "-v"])
        runs.append(result.exit_code)
        timeouts += result.stderr.count(" ReadTimeout ")
        assert result.exit_code in (0, 1), result.output
        assert "Traceback" not in result.output and "internal error" not in result.output
        if result.exit_code == 0:
            break
    assert runs[-1] == 0, f"apply did not converge in {len(runs)} runs"
    sandbox.faults(rate=0.0)
    live = Counter(o["name"] for o in sandbox.objects("campaign") if o["status"] != "DELETED")
    assert live == Counter(f"Campaign {i}" for i in range(CAMPAIGNS)), "a duplicate or a missing campaign"
    paused = {o["name"] for o in sandbox.objects("campaign") if o["status"] == "PAUSED"}
    assert paused == {f"Campaign {i}" for i in range(0, CAMPAIGNS, 3)}
    final = runner.invoke(cli, ["plan", "--detailed-exitcode"])
    assert final.exit_code == 0, final.output
    faults = sandbox.stats()["faults"]
    injected = sum(faults.values())
    assert injected > 0 or rate < 0.2, "no fault was injected"
    if faults.get("slow"):
        assert timeouts > 0, f"{faults['slow']} slow answers, and none became a client timeout"
    print(
        f"\nRELIABILITY faults kinds={'+'.join(kinds)} rate={rate} runs={len(runs)} injected={injected} "
        f"timeouts={timeouts} duplicates=0"
    )
