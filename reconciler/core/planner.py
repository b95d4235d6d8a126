"""The planner: desired values, state and live objects in; an immutable plan out. Pure.

Rules (docs/architecture.md, "Plan"):

- only fields written in the manifest are compared, so a value the server filled in (a default
  end_time, Meta's estimated daily cap) is never a perpetual diff;
- a field that cannot change in place (the Page, the pixel, daily <-> lifetime budget: each kind
  says which) makes a ``replace`` whose reason says which;
- live values that differ from what mmctl last applied are reported as drift, apart from the
  intended changes;
- a live object that state does not know but that has the same name (and Page) as a new
  resource is adopted, never duplicated: the name an interrupted create actually sent (kept in
  its pending entry) counts too, and a recorded id that no longer resolves is looked up by name
  before anything is created again; objects state does not know are never deleted;
- ``protect`` (kept in state) blocks a delete and a replace alike, even after the resource left
  the manifests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from reconciler import kinds
from reconciler.core.plan import Action, Drift, Plan
from reconciler.errors import PlanError
from reconciler.kinds.base import ResourceKind
from reconciler.resources import REMOVING, Change, Desired, LiveObject, Op, kind_of
from reconciler.state.model import Pending, Resource, State


def _compare(desired: Desired, values: Mapping[str, Any]) -> tuple[Change, ...]:
    return tuple(
        Change(f, values.get(f), desired.values.get(f))
        for f in sorted(desired.compared)
        if values.get(f) != desired.values.get(f)
    )


def _drift(address: str, applied: Mapping[str, Any], live: LiveObject) -> Drift | None:
    changes = tuple(
        Change(f, applied[f], live.values.get(f))
        for f in sorted(applied)
        if f in live.values and applied[f] != live.values.get(f)
    )
    return Drift(address, changes) if changes else None


@dataclass
class _Account:
    """The live objects, and those among them that state does not claim (adoptable by name)."""

    by_id: dict[str, LiveObject]
    unclaimed: dict[tuple[str, str | None], list[LiveObject]] = field(default_factory=dict)

    @classmethod
    def of(cls, live: Iterable[LiveObject], state: State) -> _Account:
        by_id = {obj.id: obj for obj in live}
        claimed = {r.ids.get("id") for r in state.resources.values()}
        found = cls(by_id)
        for obj in by_id.values():
            if obj.id not in claimed:
                found.unclaimed.setdefault((obj.kind, obj.values.get("name")), []).append(obj)
        return found

    def claim(self, want: Desired, *names: str | None) -> LiveObject | None:
        """An unmanaged live object of this kind and Page under one of ``names``, taken off the list."""
        for name in dict.fromkeys(n for n in names if n):
            candidates = self.unclaimed.get((want.kind, name), [])
            for candidate in candidates:
                if candidate.values.get("page_id") in (None, want.values.get("page_id")):
                    candidates.remove(candidate)
                    return candidate
        return None


@dataclass(frozen=True)
class _Inputs:
    state: State
    account: _Account
    now: int
    pending: Mapping[str, tuple[Pending, ...]]  # by address

    def resolves(self, address: str, *, members: bool = True) -> tuple[str, ...]:
        """The pending entries an action on ``address`` settles (a member upload in progress is
        settled by the upload itself, when it resumes)."""
        return tuple(p.id for p in self.pending.get(address, ()) if members or p.operation != "members")

    def sent_name(self, address: str) -> str | None:
        """The name an interrupted create actually sent: the manifest's may have been edited since."""
        return next((p.name for p in self.pending.get(address, ()) if p.operation == "create" and p.name), None)


def make_plan(
    desired: Mapping[str, Desired],
    state: State,
    live: Iterable[LiveObject],
    *,
    account: str,
    graph: str,
    currency: str,
    now: int,
    targets: Sequence[str] = (),
    refresh_only: bool = False,
) -> Plan:
    """The actions that take the account from ``live`` (and ``state``) to ``desired``."""
    unknown = [t for t in targets if t not in desired and t not in state.resources]
    if unknown:
        raise PlanError(f"--target {unknown[0]}: no such resource in the manifests or the state")
    pending: dict[str, tuple[Pending, ...]] = {}
    for entry in state.pending:
        pending[entry.address] = pending.get(entry.address, ()) + (entry,)
    inputs = _Inputs(state, _Account.of(live, state), now, pending)

    actions: list[Action] = []
    drift: list[Drift] = []
    for want in desired.values():
        action, found = _plan_declared(want, inputs)
        actions.append(action)
        drift += [found] if found else []
    actions += _plan_removed(desired, inputs)
    actions += _plan_abandoned(desired, inputs)

    if targets:
        wanted = set(targets)
        actions = [a for a in actions if a.address in wanted]
        drift = [d for d in drift if d.address in wanted]
    if refresh_only:
        actions = []
    return Plan(
        account=account,
        graph=graph,
        currency=currency,
        actions=tuple(_ordered(actions)),
        drift=tuple(drift),
        state_serial=state.serial,
        state_lineage=state.lineage,
        refresh_only=refresh_only,
    )


def _plan_declared(want: Desired, inputs: _Inputs) -> tuple[Action, Drift | None]:
    """The action for one resource of the manifests, and the drift found on its live object."""
    spec = kinds.spec(want.kind)
    recorded = inputs.state.resources.get(want.address)
    resolves = inputs.resolves(want.address, members=False)
    if not spec.in_account:
        return _plan_state_only(spec, want, recorded, resolves), None
    if recorded is None:
        return _plan_new(spec, want, inputs, resolves), None
    current = inputs.account.by_id.get(recorded.ids.get("id", ""))
    if current is None:
        return _plan_vanished(spec, want, recorded, inputs, resolves)
    return _plan_existing(spec, want, recorded, current, inputs, resolves)


def _plan_state_only(spec: ResourceKind, want: Desired, recorded: Resource | None, resolves: tuple[str, ...]) -> Action:
    op, reason, changes, notes = spec.state_plan(want, recorded.applied if recorded is not None else None)
    return Action(
        address=want.address,
        kind=want.kind,
        action=op,
        reason=reason,
        changes=changes,
        before=recorded.applied if recorded is not None else {},
        after=want.values,
        resolves=resolves,
        notes=notes,
    )


def _adopt(want: Desired, found: LiveObject, reason: str, resolves: tuple[str, ...]) -> Action:
    """Take an unmanaged live object under ``want``'s address; its differences become updates."""
    return Action(
        address=want.address,
        kind=want.kind,
        action=Op.ADOPT,
        reason=reason,
        changes=_compare(want, found.values),
        ids=found.ids,
        before=found.values,
        after=want.values,
        protect=want.protect,
        resolves=resolves,
    )


def _create(
    spec: ResourceKind,
    want: Desired,
    reason: str,
    inputs: _Inputs,
    resolves: tuple[str, ...],
    changes: tuple[Change, ...] = (),
) -> Action:
    return Action(
        address=want.address,
        kind=want.kind,
        action=Op.CREATE,
        reason=reason,
        changes=changes,
        after=want.values,
        protect=want.protect,
        resolves=resolves,
        notes=spec.create_notes(want, inputs.now),
    )


def _plan_new(spec: ResourceKind, want: Desired, inputs: _Inputs, resolves: tuple[str, ...]) -> Action:
    """Not in state: adopt a live object of the same name, or create it."""
    interrupted = want.address in inputs.pending
    found = inputs.account.claim(want, want.name, inputs.sent_name(want.address))
    if found is not None:
        sent = found.values.get("name")
        if not interrupted:
            why = f"a live {want.kind} with this name already exists"
        elif sent == want.name:
            why = "an interrupted apply created it"
        else:
            why = f"an interrupted apply created it as {sent!r} (the name has changed since)"
        return _adopt(want, found, f"{why}; adopting it instead of creating another", resolves)
    why = "an interrupted apply did not create it; creating it" if interrupted else "not in the account yet"
    return _create(spec, want, why, inputs, resolves, _compare(want, {}))


def _plan_vanished(
    spec: ResourceKind, want: Desired, recorded: Resource, inputs: _Inputs, resolves: tuple[str, ...]
) -> tuple[Action, Drift | None]:
    """In state, but its recorded id no longer resolves: adopt it by name, or create it again."""
    found = inputs.account.claim(want, recorded.applied.get("name"), want.name, inputs.sent_name(want.address))
    if found is not None:
        why = (
            f"its recorded id {recorded.ids.get('id')} no longer resolves, and a live {want.kind} named "
            f"{found.values.get('name')!r} exists; adopting it instead of creating another"
        )
        return _adopt(want, found, why, resolves), None
    gone = Drift(want.address, (Change("(object)", "present", "deleted outside mmctl"),))
    return _create(spec, want, "it was deleted outside mmctl; creating it again", inputs, resolves), gone


def _protected_replace(address: str, kind: str, field: str, reason: str, object_id: str) -> PlanError:
    return PlanError(
        f"{address} is protected (protect: true), and the change to {field} needs a replace: {reason}. A replace "
        f"deletes the live {kind} (id {object_id}) before creating the new one, and mmctl never deletes a protected "
        f"resource. To proceed, first apply a reviewed change that sets protect: false on {address}, then the change "
        f"to {field}; or revert the change to {field}"
    )


def _plan_existing(
    spec: ResourceKind,
    want: Desired,
    recorded: Resource,
    current: LiveObject,
    inputs: _Inputs,
    resolves: tuple[str, ...],
) -> tuple[Action, Drift | None]:
    """Managed and live: no-op, update or replace, and any drift from what was last applied."""
    found_drift = _drift(want.address, recorded.applied, current)
    changes = _compare(want, current.values)
    if want.protect != recorded.protect:
        changes += (Change("protect", recorded.protect, want.protect),)
    # Up to date, unless the checks below find otherwise.
    same = Action(
        address=want.address,
        kind=want.kind,
        action=Op.NOOP,
        reason="up to date",
        ids=current.ids,
        before=current.values,
        after=want.values,
        protect=want.protect,
        resolves=resolves,
    )
    forced = spec.replace_reason(want, current, {c.path for c in changes})
    if forced:
        field_name, reason = forced
        if want.protect or recorded.protect:
            raise _protected_replace(want.address, want.kind, field_name, reason, current.id)
        notes = spec.create_notes(want, inputs.now)
        return replace(same, action=Op.REPLACE, reason=reason, changes=changes, notes=notes), found_drift
    if not changes:
        return same, found_drift
    spec.check_update(want, current, changes, inputs.now)
    drifted = {c.path for c in found_drift.changes} if found_drift else set()
    if any(p.operation == "update" for p in inputs.pending.get(want.address, ())):
        why = "finishing an interrupted apply"
    elif {c.path for c in changes} <= drifted:
        why = "restoring values changed outside mmctl"
    else:
        why = "the manifest changed"
    notes = spec.update_notes(changes)
    return replace(same, action=Op.UPDATE, reason=why, changes=changes, notes=notes), found_drift


def _plan_removed(desired: Mapping[str, Desired], inputs: _Inputs) -> list[Action]:
    """Managed resources no longer in the manifests: deleted, or forgotten when nothing is left to delete."""
    out = []
    for address, recorded in reversed(list(inputs.state.resources.items())):
        if address in desired:
            continue
        spec = kinds.spec(recorded.kind)
        if recorded.protect:
            raise PlanError(
                f"{address} is protected (protect: true, kept in state) but is no longer in the manifests; "
                f"mmctl will not delete it. Put it back, or set protect: false and apply before removing it, "
                f"or run `mmctl state rm {address}` to stop managing it without deleting it"
            )
        resolves = inputs.resolves(address)
        current = inputs.account.by_id.get(recorded.ids.get("id", "")) if spec.in_account else None
        if current is None:
            why = (
                f"removed from the manifests; {spec.kind}s live only in state"
                if not spec.in_account
                else "removed from the manifests and already gone from the account"
            )
            out.append(
                Action(
                    address=address, kind=spec.kind, action=Op.FORGET, reason=why, ids=recorded.ids, resolves=resolves
                )
            )
        else:
            out.append(
                Action(
                    address=address,
                    kind=spec.kind,
                    action=Op.DELETE,
                    reason="removed from the manifests",
                    ids=current.ids,
                    before=current.values,
                    resolves=resolves,
                )
            )
    return out


def _plan_abandoned(desired: Mapping[str, Desired], inputs: _Inputs) -> list[Action]:
    """A create was interrupted and the resource has left the manifests since: mmctl does not
    delete what it cannot prove it made; it says what it found and stops tracking the attempt."""
    out = []
    for address in sorted(set(inputs.pending) - set(desired) - set(inputs.state.resources)):
        entries = inputs.pending[address]
        name = next((p.name for p in entries if p.name), None)
        spec = kinds.spec(kind_of(address))
        leftovers = inputs.account.unclaimed.get((spec.kind, name), []) if name else []
        seen = (
            f"; a live {spec.kind} named {name!r} exists (id {leftovers[0].id}): import it to manage it"
            if leftovers
            else ""
        )
        out.append(
            Action(
                address=address,
                kind=spec.kind,
                action=Op.FORGET,
                reason=f"an interrupted apply was creating it and it is no longer in the manifests{seen}",
                resolves=tuple(p.id for p in entries),
            )
        )
    return out


def _ordered(actions: list[Action]) -> list[Action]:
    """Deletes first, in reverse creation order; then creates and updates in creation order."""
    removing = [a for a in actions if a.action in REMOVING]
    building = [a for a in actions if a.action not in REMOVING]
    removing.sort(key=lambda a: (-kinds.rank(a.kind), a.address))
    building.sort(key=lambda a: (kinds.rank(a.kind), a.address))
    return removing + building
