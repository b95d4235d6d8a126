"""Constants and builders shared by the tests (importable as ``helpers``)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"

PROVIDER = """\
provider:
  graph: sandbox
  ad_account: act_100000000000001
  page_id: "200000000000001"
  timezone: America/New_York
"""
