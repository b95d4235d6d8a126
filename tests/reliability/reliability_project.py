"""The project the reliability tests apply: N campaigns (every k-th PAUSED) and one audience."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def write_project(root: Path, campaigns: int, paused_every: int, state: str = "") -> None:
    """``state`` is the manifest's state block (a backend of the tests), none for the default."""
    (root / "mmctl.yaml").write_text(
        'provider:\n  graph: sandbox\n  ad_account: act_100000000000001\n  page_id: "200000000000001"\n' + state
    )
    (root / "campaigns.yaml").write_text(
        "campaigns:\n"
        + "".join(
            f"  c{i}:\n    name: Campaign {i}\n    daily_budget: {500 + i}\n"
            + ("    status: PAUSED\n" if i % paused_every == 0 else "")
            for i in range(campaigns)
        )
    )
    (root / "audiences.yaml").write_text("audiences:\n  a:\n    name: Audience A\n    description: d\n")


def mmctl_process(
    *args: str, cwd: Path, url: str, token: str, stdout: int | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """``mmctl ARGS`` as its own process against a served sandbox (``env`` adds to the environment)."""
    # A killed create may still land for twice the request timeout; the next plan waits that long for it.
    env = {
        **os.environ,
        "MMCTL_GRAPH_URL": url,
        "META_ACCESS_TOKEN": token,
        "MMCTL_REQUEST_TIMEOUT": "1",
        **(env or {}),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        cwd=cwd,
        env=env,
        text=True,
        stdout=subprocess.PIPE if stdout is None else stdout,
        stderr=subprocess.PIPE,
    )
