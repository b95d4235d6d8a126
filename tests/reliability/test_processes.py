"""Processes: a SIGKILLed apply right after Meta accepted its creates, and two applies at once."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers import stored_state
from reliability_project import mmctl_process

pytestmark = pytest.mark.slow


def mmctl(*args: str, cwd: Path, url: str) -> subprocess.Popen[str]:
    return mmctl_process(*args, cwd=cwd, url=url, token="process-test-token-000")


def wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_killed_apply_is_adopted_not_duplicated(serve, example):
    sandbox = serve(fault_rate=1.0, fault_kinds=("slow",), fault_phase="after", slow_ms=400)
    proc = mmctl("apply", "--auto-approve", cwd=example, url=sandbox.url)

    def created_campaigns() -> bool:
        return any(e["endpoint"] == "POST act_/message_campaign" for e in sandbox.control("GET", "requests")["data"])

    wait_for(created_campaigns)  # the sandbox carried the creates out; their answers are 400 ms away
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    state = stored_state(example)
    assert {p["address"] for p in state["pending"]} == {"campaign.spring-launch", "campaign.winter-sale"}
    sandbox.faults(rate=0.0)
    rerun = mmctl("apply", "--auto-approve", cwd=example, url=sandbox.url)
    out, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, err
    assert "(adopt: an interrupted apply created it; adopting it instead of creating another)" in out
    names = [o["name"] for o in sandbox.objects("campaign")]
    assert sorted(names) == ["Spring Launch Teaser", "Winter Sale 2027"]  # no duplicate
    assert stored_state(example)["pending"] == []


def test_two_applies_at_once(serve, example):
    sandbox = serve(latency_ms=300)
    first = mmctl("apply", "--auto-approve", cwd=example, url=sandbox.url)
    wait_for(lambda: sandbox.stats()["requests"] > 0)
    second = mmctl("apply", "--auto-approve", cwd=example, url=sandbox.url)
    _, err = second.communicate(timeout=60)
    assert second.returncode == 1
    assert "is locked by mmctl apply (pid" in err and "--lock-timeout" in err
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    state = stored_state(example)
    assert len(state["resources"]) == 5 and state["pending"] == []
    campaigns = sandbox.objects("campaign")
    assert len(campaigns) == 2  # no double creation
    waited = mmctl("apply", "--auto-approve", "--lock-timeout", "30", cwd=example, url=sandbox.url)
    assert waited.wait(timeout=60) == 0
