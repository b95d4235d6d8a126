"""A saved plan against the plan made now: every way apply would differ from what was reviewed."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from reconciler import kinds
from reconciler.core.plan import Action, Plan
from reconciler.model import thaw
from reconciler.resources import Op


def _shown(value: Any) -> str:
    text = json.dumps(thaw(value), sort_keys=True, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _mapping_differences(where: str, saved: Mapping[str, Any], fresh: Mapping[str, Any]) -> list[str]:
    out = []
    for key in sorted(set(saved) | set(fresh)):
        if key in kinds.LIVE_ONLY:
            continue  # read-only facts of the server that move on their own (spend, matching)
        was, now = thaw(saved.get(key)), thaw(fresh.get(key))
        if was != now or (key in saved) != (key in fresh):
            out.append(
                f"{where}.{key}: the plan has {_shown(was) if key in saved else '(missing)'}, now "
                f"{_shown(now) if key in fresh else '(missing)'}"
            )
    return out


def _action_differences(saved: Action, fresh: Action) -> list[str]:
    where = saved.address
    if saved.action != fresh.action or saved.kind != fresh.kind:
        now = "leave it as it is" if fresh.action == Op.NOOP else f"{fresh.action} it"
        return [
            f"{where}: the plan would {saved.action} it ({saved.kind}); apply would now {now} "
            f"({fresh.kind}: {fresh.reason})"
        ]
    out = _mapping_differences(f"{where} ids", saved.ids, fresh.ids)
    out += _mapping_differences(f"{where} before", saved.before, fresh.before)
    out += _mapping_differences(f"{where} after", saved.after, fresh.after)
    saved_changes = [(c.path, thaw(c.before), thaw(c.after)) for c in saved.changes]
    fresh_changes = [(c.path, thaw(c.before), thaw(c.after)) for c in fresh.changes]
    if saved_changes != fresh_changes:
        out.append(f"{where} changes: the plan has {_shown(saved_changes)}, now {_shown(fresh_changes)}")
    if saved.protect != fresh.protect:
        out.append(f"{where} protect: the plan has {str(saved.protect).lower()}, now {str(fresh.protect).lower()}")
    if tuple(saved.resolves) != tuple(fresh.resolves):
        out.append(f"{where}: the pending operations it settles differ (the state changed since the plan was made)")
    return out


def differences(saved: Plan, fresh: Plan) -> list[str]:
    """Every way ``fresh`` (made now from the manifests, the state and the account) differs from
    ``saved`` in what it would do: the target, each action, each id and each value sent. Prose
    (reasons, notes, estimates) is not compared: what is shown at apply comes from ``fresh``."""
    out = []
    for label, was, now in (
        ("ad account", saved.account, fresh.account),
        ("Graph endpoint", saved.graph, fresh.graph),
        ("currency", saved.currency, fresh.currency),
        ("Page", saved.page_id, fresh.page_id),
        ("refresh-only", saved.refresh_only, fresh.refresh_only),
        ("targets", list(saved.targets), list(fresh.targets)),
    ):
        if was != now:
            out.append(f"{label}: the plan is for {_shown(was)}, this run is for {_shown(now)}")
    if out:
        return out  # another account or endpoint: comparing actions would only add noise
    saved_by = {a.address: a for a in saved.actions}
    fresh_by = {a.address: a for a in fresh.actions}
    if len(saved_by) != len(saved.actions):
        out.append("the plan names an address twice")
    for address, action in saved_by.items():
        if address not in fresh_by:
            out.append(f"{address}: the plan would {action.action} it; apply would now do nothing to it")
        else:
            out += _action_differences(action, fresh_by[address])
    for address, action in fresh_by.items():
        if address not in saved_by:
            out.append(f"{address}: not in the plan; apply would now {action.action} it ({action.reason})")
    if not out and [a.address for a in saved.actions] != [a.address for a in fresh.actions]:
        out.append("the order of the actions differs")
    if saved.refresh_only:
        saved_drift = [(d.address, [(c.path, thaw(c.before), thaw(c.after)) for c in d.changes]) for d in saved.drift]
        fresh_drift = [(d.address, [(c.path, thaw(c.before), thaw(c.after)) for c in d.changes]) for d in fresh.drift]
        if saved_drift != fresh_drift:
            out.append(f"drift recorded in state: the plan has {_shown(saved_drift)}, now {_shown(fresh_drift)}")
    return out
