"""Processes: a SIGKILLed apply right after Meta accepted its creates, and two applies at once."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from backends import Backend
from reliability_project import mmctl_process

pytestmark = pytest.mark.slow


def mmctl(*args: str, cwd: Path, url: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return mmctl_process(*args, cwd=cwd, url=url, token="process-test-token-000", env=env)


def wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_killed_apply_is_adopted_not_duplicated(serve, example, backend):
    backend.use_in(example / "mmctl.yaml")

    sandbox = serve(fault_rate=1.0, fault_kinds=("slow",), fault_phase="after", slow_ms=400)
    proc = mmctl("apply", "--auto-approve", cwd=example, url=sandbox.url, env=backend.env)

    def created_campaigns() -> bool:
        return any(e["endpoint"] == "POST act_/message_campaign" for e in sandbox.control("GET", "requests")["data"])

    wait_for(created_campaigns)  # the sandbox carried the creates out; their answers are 400 ms away
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    state = backend.state(example)
    assert {p["address"] for p in state["pending"]} == {"campaign.spring-launch", "campaign.winter-sale"}
    sandbox.faults(rate=0.0)
    rerun = mmctl("apply", "--auto-approve", cwd=example, url=sandbox.url, env=backend.env)
    out, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, err
    assert "(adopt: an interrupted apply created it; adopting it instead of creating another)" in out
    names = [o["name"] for o in sandbox.objects("campaign")]
    assert sorted(names) == ["Spring Launch Teaser", "Winter Sale 2027"]  # no duplicate
    assert backend.state(example)["pending"] == []


def test_two_applies_at_once(serve, example, backend):
    backend.use_in(example / "mmctl.yaml")

    sandbox = serve(latency_ms=300)
    first = mmctl("apply", "--auto-approve", cwd=example, url=sandbox.url, env=backend.env)
    wait_for(lambda: sandbox.stats()["requests"] > 0)
    second = mmctl("apply", "--auto-approve", cwd=example, url=sandbox.url, env=backend.env)
    _, err = second.communicate(timeout=60)
    assert second.returncode == 1
    assert "is locked by mmctl apply (pid" in err and "--lock-timeout" in err
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    state = backend.state(example)
    assert len(state["resources"]) == 6 and state["pending"] == []  # the examples: 6 resources
    campaigns = sandbox.objects("campaign")
    assert len(campaigns) == 2  # no double creation
    waited = mmctl("apply", "--auto-approve", "--lock-timeout", "30", cwd=example, url=sandbox.url, env=backend.env)
    assert waited.wait(timeout=60) == 0


def test_two_machines_share_one_postgres_state(serve, example, tmp_path, postgres_schema):
    """Two working folders (two CI machines) on one shared state: the second waits for, or fails
    naming, the first; a holder killed with SIGKILL frees the lock; nothing is created twice."""
    shared = Backend("postgres", [postgres_schema])
    shared.use_in(example / "mmctl.yaml")
    other = tmp_path / "machine-b"
    shutil.copytree(example, other, ignore=shutil.ignore_patterns(".mmctl"))
    sandbox = serve(latency_ms=300)
    first = mmctl("apply", "--auto-approve", cwd=example, url=sandbox.url, env=shared.env)
    wait_for(lambda: sandbox.stats()["requests"] > 0)
    refused = mmctl("apply", "--auto-approve", cwd=other, url=sandbox.url, env=shared.env)
    _, err = refused.communicate(timeout=60)
    assert refused.returncode == 1
    assert f"is locked by mmctl apply (pid {first.pid} on {socket.gethostname()}, user " in err
    waiting = mmctl("apply", "--auto-approve", "--lock-timeout", "60", cwd=other, url=sandbox.url, env=shared.env)
    assert first.wait(timeout=60) == 0
    assert waiting.wait(timeout=60) == 0  # it waited, then found nothing left to do
    assert len(sandbox.objects("campaign")) == 2

    # A holder killed mid-apply: the server ends its session, and the lock with it.
    (example / "campaigns.yaml").write_text(
        (example / "campaigns.yaml").read_text().replace('daily_budget: "50.00 USD"', "daily_budget: 6100")
    )
    (other / "campaigns.yaml").write_text((example / "campaigns.yaml").read_text())
    sandbox.faults(latency_ms=800)  # under the 1 s request timeout: the victim is slow, not failing
    victim = mmctl("apply", "--auto-approve", cwd=example, url=sandbox.url, env=shared.env)
    wait_for(lambda: shared.store(example).holder()[0])
    time.sleep(0.5)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    sandbox.faults(latency_ms=0)
    started = time.monotonic()
    after = mmctl("apply", "--auto-approve", "--lock-timeout", "30", cwd=other, url=sandbox.url, env=shared.env)
    out, err = after.communicate(timeout=90)
    assert after.returncode == 0, err
    assert time.monotonic() - started < 30
    assert sorted(o["name"] for o in sandbox.objects("campaign")) == ["Spring Launch Teaser", "Winter Sale 2027"]
    final = mmctl("plan", "--detailed-exitcode", cwd=other, url=sandbox.url, env=shared.env)
    assert final.wait(timeout=60) == 0
