"""The project the reliability tests apply: N campaigns (every k-th PAUSED) and one audience."""

from __future__ import annotations

from pathlib import Path


def write_project(root: Path, campaigns: int, paused_every: int) -> None:
    (root / "mmctl.yaml").write_text(
        'provider:\n  graph: sandbox\n  ad_account: act_100000000000001\n  page_id: "200000000000001"\n'
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
