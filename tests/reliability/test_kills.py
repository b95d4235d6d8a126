"""Kill anywhere: SIGKILL `mmctl apply` at a random moment, run it again; no duplicate, no lost id.

The sandbox answers slowly (latency) so kills land in every phase: before the first write, between
recording a pending create and Meta's answer, between the answer and the state write, during
pausing. After each kill the state database must still read, and a second
apply must converge to exactly one campaign per manifest entry with an empty plan.
MMCTL_KILL_SEEDS sets the number of seeds (CI runs a few; the README reports a local run of 50).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections import Counter

import pytest
from reliability_project import mmctl_process, write_project

pytestmark = pytest.mark.slow

SEEDS = int(os.environ.get("MMCTL_KILL_SEEDS", "6"))
CAMPAIGNS = 20


@pytest.mark.parametrize("seed", range(SEEDS))
def test_kill_anywhere_then_converge(serve, tmp_path, seed, backend):
    def mmctl(root, url, *args) -> subprocess.Popen[str]:
        return mmctl_process(
            *args, cwd=root, url=url, token="kill-test-token-000001", stdout=subprocess.DEVNULL, env=backend.env
        )

    rng = random.Random(seed)
    sandbox = serve(latency_ms=80)
    root = tmp_path / "project"
    root.mkdir()
    write_project(root, CAMPAIGNS, 4, backend.state_block())
    victim = mmctl(root, sandbox.url, "apply", "--auto-approve", "--no-estimate")
    time.sleep(rng.uniform(0.35, 1.0))  # mmctl starts in about 0.4 s; its calls follow
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    pending_at_kill = len(backend.state(root)["pending"])  # the database reads: never half written
    rerun = mmctl(root, sandbox.url, "apply", "--auto-approve", "--no-estimate")
    _, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    objects = [*sandbox.objects("campaign"), *sandbox.objects("customaudience")]
    live = Counter(o["name"] for o in objects if o["type"] == "campaign" and o["status"] != "DELETED")
    assert live == Counter(f"Campaign {i}" for i in range(CAMPAIGNS)), f"seed {seed}: duplicates or gaps"
    audiences = [o for o in objects if o["type"] == "customaudience"]
    assert len(audiences) == 1
    state = backend.state(root)
    assert state["pending"] == [] and len(state["resources"]) == CAMPAIGNS + 1
    final = mmctl(root, sandbox.url, "plan", "--detailed-exitcode", "--no-estimate")
    _, err = final.communicate(timeout=60)
    assert final.returncode == 0, err
    print(f"\nRELIABILITY kill backend={backend.name} seed={seed} pending_at_kill={pending_at_kill} duplicates=0")
