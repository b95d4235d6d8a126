"""The planner: desired values, state and live objects in; an immutable plan out. Pure.

Rules (DESIGN.md "Plan"):

- only fields written in the manifest are compared, so a value the server filled in (a default
  end_time, Meta's estimated daily cap) is never a perpetual diff;
- a field that cannot change in place (the Page, the pixel, daily <-> lifetime budget) makes a
  ``replace`` whose reason says which;
- live values that differ from what mmctl last applied are reported as drift, apart from the
  intended changes;
- a live object that state does not know but that has the same name (and Page) as a new
  resource is adopted, never duplicated: the name an interrupted create actually sent (kept in
  its pending entry) counts too, and a recorded id that no longer resolves is looked up by name
  before anything is created again; objects state does not know are never deleted;
- ``protect`` (kept in state) blocks a delete and a replace alike, even after the resource left
  the manifests;
- ``differences`` compares a saved plan with the plan made again at apply time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from reconciler.core.desired import ORDER, Desired
from reconciler.errors import ReconcilerError, format_path
from reconciler.graph.graphmap import LIVE_ONLY, LiveObject
from reconciler.model import thaw
from reconciler.state.local import State
from reconciler.urls import message_urls

ACTIONS = ("create", "update", "replace", "delete", "adopt", "forget", "no-op")


class PlanError(ReconcilerError):
    """The plan cannot be made as asked (a protected delete, a start time that has passed…)."""


@dataclass(frozen=True)
class Change:
    path: str
    before: Any
    after: Any


@dataclass(frozen=True)
class Action:
    address: str
    kind: str
    action: str
    reason: str
    changes: tuple[Change, ...] = ()
    ids: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    before: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    after: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    protect: bool = False
    resolves: tuple[str, ...] = ()  # pending operations in state this action settles
    notes: tuple[str, ...] = ()  # what the server will fill in, what to expect after apply

    @property
    def mutates(self) -> bool:
        return self.action != "no-op"


@dataclass(frozen=True)
class Drift:
    address: str
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class SpendLine:
    address: str
    before: int | None  # spend per day at most, in minor units; None: unknown (Meta sets it at creation)
    after: int | None
    new: bool = False  # created (or recreated) by this plan
    removed: bool = False
    source: str = "manifest"  # where ``after`` comes from: manifest | live (not in the manifest) | meta (unknown yet)
    budget: str = "daily"  # daily | lifetime | none


@dataclass(frozen=True)
class Spend:
    lines: tuple[SpendLine, ...]
    total_before: int
    total_after: int
    daily_budgets_after: int = 0  # the daily budgets alone: Meta's weekly cap applies to them only

    @property
    def weekly_cap(self) -> int:
        """Meta spends at most 7 times a daily budget in a calendar week (lifetime budgets have no weekly cap)."""
        return 7 * self.daily_budgets_after


@dataclass(frozen=True)
class Estimate:
    """Meta's message_delivery_estimate for one campaign: messages delivered and their cost."""

    address: str
    delivery: tuple[int, int]
    cost: tuple[int, int]  # minor units


@dataclass(frozen=True)
class Plan:
    account: str
    graph: str
    currency: str
    actions: tuple[Action, ...]
    drift: tuple[Drift, ...] = ()
    state_serial: int = 0
    state_lineage: str = ""
    refresh_only: bool = False
    spend: Spend | None = None
    estimates: tuple[Estimate, ...] = ()
    warnings: tuple[str, ...] = ()
    page_id: str = ""
    targets: tuple[str, ...] = ()

    @property
    def summary(self) -> dict[str, int]:
        counts = dict.fromkeys(ACTIONS, 0)
        for action in self.actions:
            counts[action.action] += 1
        return counts

    @property
    def changes_pending(self) -> bool:
        return any(a.mutates for a in self.actions) or (self.refresh_only and bool(self.drift))


def _differs(before: Any, after: Any) -> bool:
    return bool(before != after)


def _compare(desired: Desired, values: Mapping[str, Any]) -> tuple[Change, ...]:
    return tuple(
        Change(f, values.get(f), desired.values.get(f))
        for f in sorted(desired.compared)
        if _differs(values.get(f), desired.values.get(f))
    )


def _replace_reason(desired: Desired, live: LiveObject, changes: Sequence[Change]) -> tuple[str, str] | None:
    """The field that forces a replace, and why; None when every change can be made in place."""
    changed = {c.path for c in changes}
    if "page_id" in changed:
        return "page_id", "page_id cannot change in place: the object is deleted and created again for the new Page"
    if desired.kind != "campaign":
        return None
    if "pixel_id" in changed:
        return "pixel_id", "pixel_id cannot change after creation: the campaign is deleted and created again"
    wants_daily = desired.values.get("daily_budget") is not None
    wants_lifetime = desired.values.get("lifetime_budget") is not None
    if wants_daily and live.values.get("lifetime_budget"):
        return "daily_budget", "switching between a daily and a lifetime budget is not possible in place"
    if wants_lifetime and live.values.get("daily_budget"):
        return "lifetime_budget", "switching between a daily and a lifetime budget is not possible in place"
    return None


def _adopt(want: Desired, found: LiveObject, reason: str, resolves: tuple[str, ...]) -> Action:
    """Take an unmanaged live object under ``want``'s address; its differences become updates."""
    return Action(
        address=want.address,
        kind=want.kind,
        action="adopt",
        reason=reason,
        changes=_compare(want, found.values),
        ids=found.ids,
        before=found.values,
        after=want.values,
        protect=want.protect,
        resolves=resolves,
    )


def _protected_replace(address: str, kind: str, field: str, reason: str, object_id: str) -> PlanError:
    return PlanError(
        f"{address} is protected (protect: true), and the change to {field} needs a replace: {reason}. A replace "
        f"deletes the live {kind} (id {object_id}) before creating the new one, and mmctl never deletes a protected "
        f"resource. To proceed, first apply a reviewed change that sets protect: false on {address}, then the change "
        f"to {field}; or revert the change to {field}"
    )


def _drift(address: str, applied: Mapping[str, Any], live: LiveObject) -> Drift | None:
    changes = tuple(
        Change(f, applied[f], live.values.get(f))
        for f in sorted(applied)
        if f in live.values and _differs(applied[f], live.values.get(f))
    )
    return Drift(address, changes) if changes else None


def _campaign_time_check(desired: Desired, live: LiveObject, changes: Sequence[Change], now: int) -> None:
    for change in changes:
        if change.path == "start_time" and live.values.get("start_time") and live.values["start_time"] <= now:
            raise PlanError(
                f"{desired.address}: start_time cannot move: the campaign started at "
                f"{_iso(live.values['start_time'])} and a start time that has passed is fixed; remove start_time "
                "from the manifest or write the time it started"
            )


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
    by_id: dict[str, LiveObject] = {obj.id: obj for obj in live}
    claimed = {r.ids.get("id") for r in state.resources.values()}
    unclaimed: dict[tuple[str, str | None], list[LiveObject]] = {}
    for obj in by_id.values():
        if obj.id not in claimed:
            unclaimed.setdefault((obj.kind, obj.values.get("name")), []).append(obj)
    pending = {p.address: p for p in state.pending}
    # What an interrupted create actually sent: the manifest's name may have been edited since.
    sent_names = {p.address: p.name for p in state.pending if p.operation == "create" and p.name}
    unknown = [t for t in targets if t not in desired and t not in state.resources]
    if unknown:
        raise PlanError(f"--target {unknown[0]}: no such resource in the manifests or the state")

    def claim(want: Desired, *names: str | None) -> LiveObject | None:
        """An unmanaged live object of this kind and Page under one of ``names``, taken off the list."""
        for name in dict.fromkeys(n for n in names if n):
            for candidate in unclaimed.get((want.kind, name), []):
                if candidate.values.get("page_id") in (None, want.values.get("page_id")):
                    unclaimed[(want.kind, name)].remove(candidate)
                    return candidate
        return None

    actions: list[Action] = []
    drift: list[Drift] = []
    for address, want in desired.items():
        recorded = state.resources.get(address)
        # A member upload in progress is settled by the upload itself, when it resumes.
        resolves = tuple(p.id for p in state.pending if p.address == address and p.operation != "members")
        if want.kind == "template":
            actions.append(_template_action(want, recorded, resolves))
            continue
        current = by_id.get(recorded.ids.get("id", "")) if recorded else None
        if recorded is not None and current is None:
            found = claim(want, recorded.applied.get("name"), want.name, sent_names.get(address))
            if found is not None:
                why = (
                    f"its recorded id {recorded.ids.get('id')} no longer resolves, and a live {want.kind} named "
                    f"{found.values.get('name')!r} exists; adopting it instead of creating another"
                )
                actions.append(_adopt(want, found, why, resolves))
                continue
            drift.append(Drift(address, (Change("(object)", "present", "deleted outside mmctl"),)))
            actions.append(
                Action(
                    address=address,
                    kind=want.kind,
                    action="create",
                    reason="it was deleted outside mmctl; creating it again",
                    after=want.values,
                    protect=want.protect,
                    resolves=resolves,
                    notes=_create_notes(want, now),
                )
            )
            continue
        if recorded is None:
            found = claim(want, want.name, sent_names.get(address))
            if found is not None:
                if address in pending:
                    sent = found.values.get("name")
                    why = (
                        "an interrupted apply created it"
                        if sent == want.name
                        else f"an interrupted apply created it as {sent!r} (the name has changed since)"
                    )
                else:
                    why = f"a live {want.kind} with this name already exists"
                actions.append(_adopt(want, found, f"{why}; adopting it instead of creating another", resolves))
                continue
            why = (
                "an interrupted apply did not create it; creating it"
                if address in pending
                else "not in the account yet"
            )
            actions.append(
                Action(
                    address=address,
                    kind=want.kind,
                    action="create",
                    reason=why,
                    changes=_compare(want, {}),
                    after=want.values,
                    protect=want.protect,
                    resolves=resolves,
                    notes=_create_notes(want, now),
                )
            )
            continue
        assert current is not None
        found_drift = _drift(address, recorded.applied, current)
        if found_drift:
            drift.append(found_drift)
        changes = _compare(want, current.values)
        if want.protect != recorded.protect:
            changes += (Change("protect", recorded.protect, want.protect),)
        forced = _replace_reason(want, current, changes)
        if forced:
            field_name, reason = forced
            if want.protect or recorded.protect:
                raise _protected_replace(address, want.kind, field_name, reason, current.id)
            actions.append(
                Action(
                    address=address,
                    kind=want.kind,
                    action="replace",
                    reason=reason,
                    changes=changes,
                    ids=current.ids,
                    before=current.values,
                    after=want.values,
                    protect=want.protect,
                    resolves=resolves,
                    notes=_create_notes(want, now),
                )
            )
        elif changes:
            if want.kind == "campaign":
                _campaign_time_check(want, current, changes, now)
            drifted = {c.path for c in found_drift.changes} if found_drift else set()
            if any(p.address == address and p.operation == "update" for p in state.pending):
                why = "finishing an interrupted apply"
            elif {c.path for c in changes} <= drifted:
                why = "restoring values changed outside mmctl"
            else:
                why = "the manifest changed"
            notes = (
                ("sending resumes 10 minutes after a campaign is active again (Meta's FAQ)",)
                if any(c.path == "status" and c.after == "ACTIVE" for c in changes)
                else ()
            )
            actions.append(
                Action(
                    address=address,
                    kind=want.kind,
                    action="update",
                    reason=why,
                    changes=changes,
                    ids=current.ids,
                    before=current.values,
                    after=want.values,
                    protect=want.protect,
                    resolves=resolves,
                    notes=notes,
                )
            )
        else:
            actions.append(
                Action(
                    address=address,
                    kind=want.kind,
                    action="no-op",
                    reason="up to date",
                    ids=current.ids,
                    before=current.values,
                    after=want.values,
                    protect=want.protect,
                    resolves=resolves,
                )
            )

    for address, recorded in reversed(list(state.resources.items())):
        if address in desired:
            continue
        resolves = tuple(p.id for p in state.pending if p.address == address)
        current = by_id.get(recorded.ids.get("id", ""))
        if recorded.protect:
            raise PlanError(
                f"{address} is protected (protect: true, kept in state) but is no longer in the manifests; "
                f"mmctl will not delete it. Put it back, or set protect: false and apply before removing it, "
                f"or run `mmctl state rm {address}` to stop managing it without deleting it"
            )
        if recorded.kind == "template" or current is None:
            why = (
                "removed from the manifests; templates live only in state"
                if recorded.kind == "template"
                else "removed from the manifests and already gone from the account"
            )
            actions.append(Action(address, recorded.kind, "forget", why, ids=recorded.ids, resolves=resolves))
        else:
            actions.append(
                Action(
                    address,
                    recorded.kind,
                    "delete",
                    "removed from the manifests",
                    ids=current.ids,
                    before=current.values,
                    resolves=resolves,
                )
            )
    for address in sorted({p.address for p in state.pending} - set(desired) - set(state.resources)):
        # A create was interrupted and the resource has left the manifests since: mmctl does not
        # delete what it cannot prove it made; it says what it found and stops tracking the attempt.
        entries = [p for p in state.pending if p.address == address]
        name = next((p.name for p in entries if p.name), None)
        kind = address.partition(".")[0]
        leftovers = unclaimed.get((kind, name), []) if name else []
        seen = (
            f"; a live {kind} named {name!r} exists (id {leftovers[0].id}): import it to manage it" if leftovers else ""
        )
        actions.append(
            Action(
                address,
                kind,
                "forget",
                f"an interrupted apply was creating it and it is no longer in the manifests{seen}",
                resolves=tuple(p.id for p in entries),
            )
        )

    if targets:
        wanted = set(targets)
        actions = [a for a in actions if a.address in wanted]
        drift = [d for d in drift if d.address in wanted]
    if refresh_only:
        actions = []
    return Plan(
        account, graph, currency, tuple(_ordered(actions)), tuple(drift), state.serial, state.lineage, refresh_only
    )


def _create_notes(want: Desired, now: int) -> tuple[str, ...]:
    """What the server fills in for a new campaign, and when it can send."""
    if want.kind != "campaign":
        return ()
    values = want.values
    notes = []
    if values.get("start_time") is None:
        notes.append("start_time: set by Meta to the time of creation")
    if values.get("lifetime_budget") is not None and values.get("end_time") is None:
        start = values.get("start_time") or now
        notes.append(f"end_time: set by Meta to start + 30 days (about {_iso(start + 30 * 86_400)})")
    if values.get("daily_budget") is None and values.get("lifetime_budget") is None:
        notes.append("no budget: Meta sets an estimated daily budget cap (shown after apply; never a diff)")
    notes.append("messages can be sent after Meta's 1-hour warm-up from creation")
    return tuple(notes)


def _template_action(want: Desired, recorded: Any, resolves: tuple[str, ...]) -> Action:
    # DeepDiff costs a tenth of mmctl's start-up; only plans with template changes pay for it.
    from reconciler.core.diff import describe_message, payload_changes

    if recorded is None:
        # A reviewer of a new template should see where its buttons and images lead.
        links = tuple(
            f"link {format_path(path)}: {url}" for path, url, _ in message_urls(want.values["message"], ("message",))
        )
        return Action(
            want.address,
            "template",
            "create",
            "new template; kept in state for sends and previews",
            (Change("message", None, describe_message(want.values["message"])),),
            after=want.values,
            resolves=resolves,
            notes=links,
        )
    if recorded.applied.get("digest") != want.values["digest"]:
        changes = tuple(
            Change(*found)
            for found in payload_changes(thaw(recorded.applied.get("message")), thaw(want.values["message"]))
        )
        return Action(
            want.address,
            "template",
            "update",
            "the message changed",
            changes or (Change("message", "(changed)", describe_message(want.values["message"])),),
            before=recorded.applied,
            after=want.values,
            resolves=resolves,
        )
    return Action(
        want.address, "template", "no-op", "up to date", before=recorded.applied, after=want.values, resolves=resolves
    )


def _ordered(actions: list[Action]) -> list[Action]:
    """Creates and updates by kind (templates, audiences, campaigns); deletes first, in reverse."""
    removing = [a for a in actions if a.action in ("delete", "forget")]
    building = [a for a in actions if a.action not in ("delete", "forget")]
    removing.sort(key=lambda a: (-ORDER[a.kind], a.address))
    building.sort(key=lambda a: (ORDER[a.kind], a.address))
    return removing + building


UNSUBSCRIBE_NOTE = (
    "people removed from the audience stay subscribed to the Page's marketing messages: removing "
    "someone from an audience does not unsubscribe them"
)


@dataclass(frozen=True)
class MemberChange:
    """How an audience's member file differs from the last upload (counts only: no one is named)."""

    before: int
    count: int
    add: int
    remove: int
    digest: str


def with_members(plan: Plan, members: Mapping[str, MemberChange], warnings: Sequence[str] = ()) -> Plan:
    """Fold member changes into the audiences' actions: ``members: +N / -M``."""
    actions = []
    for action in plan.actions:
        change = members.get(action.address)
        if change is None or action.kind != "audience" or action.action in ("delete", "forget"):
            actions.append(action)
            continue
        after = MappingProxyType(
            {
                **action.after,
                "members": {"count": change.count, "add": change.add, "remove": change.remove, "digest": change.digest},
            }
        )
        if change.add or change.remove:
            shown = Change(
                "members", {"count": change.before}, {"count": change.count, "add": change.add, "remove": change.remove}
            )
            kind = "update" if action.action == "no-op" else action.action
            reason = "the member file changed" if action.action == "no-op" else action.reason
            notes = action.notes + ((UNSUBSCRIBE_NOTE,) if change.remove else ())
            actions.append(
                replace(action, action=kind, reason=reason, changes=action.changes + (shown,), after=after, notes=notes)
            )
        else:
            actions.append(replace(action, after=after))
    return replace(plan, actions=tuple(actions), warnings=plan.warnings + tuple(warnings))


# --- a saved plan against the plan made now --------------------------------------------------------


def _shown(value: Any) -> str:
    text = json.dumps(thaw(value), sort_keys=True, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _mapping_differences(where: str, saved: Mapping[str, Any], fresh: Mapping[str, Any]) -> list[str]:
    out = []
    for key in sorted(set(saved) | set(fresh)):
        if key in LIVE_ONLY:
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
        now = "leave it as it is" if fresh.action == "no-op" else f"{fresh.action} it"
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
