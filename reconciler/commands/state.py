"""``mmctl state``: list, show and forget what mmctl manages, without touching the account."""

from __future__ import annotations

from typing import Any

from reconciler.errors import UsageError
from reconciler.state.model import State
from reconciler.state.store import StateStore


def state_summary(state: State) -> list[dict[str, Any]]:
    return [
        {"address": a, "kind": r.kind, "id": r.ids.get("id"), "protect": r.protect} for a, r in state.resources.items()
    ]


def forget(store: StateStore, address: str) -> None:
    state = store.read()
    if address not in state.resources:
        raise UsageError(f"{address} is not in the state {store.location}")
    store.write(state.with_resource(address, None))
