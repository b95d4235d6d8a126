"""Constants and builders shared by the tests (importable as ``helpers``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"

PROVIDER = """\
provider:
  graph: sandbox
  ad_account: act_100000000000001
  page_id: "200000000000001"
  timezone: America/New_York
"""


def create(graph: Any, path: str, params: Mapping[str, Any]) -> Any:
    """One create call outside a batch (the executor batches them; client tests call it alone)."""
    return graph.call("POST", path, params, kind="create")


ACCOUNT = "act_100000000000001"  # the examples' ad account: also their state key


def store_of(root: Path, key: str = ACCOUNT) -> Any:
    """The state store of a project made from the examples (SQLite at .mmctl/state.db)."""
    from reconciler.state.sqlite import SQLiteStateStore

    return SQLiteStateStore(root / ".mmctl" / "state.db", ".mmctl/state.db", key)


def stored_state(root: Path, key: str = ACCOUNT) -> dict[str, Any]:
    """The state of a project made from the examples, in its JSON form (``State.to_dict``)."""
    return dict(store_of(root, key).read().to_dict())
