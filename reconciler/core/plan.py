"""What a plan is: immutable data, made by ``core.planner`` and read by the executor and renderers.

``Plan`` holds the actions in the order apply carries them out, the drift found, the money
summary and Meta's estimates; ``with_members`` folds an audience's member-file changes into it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from reconciler.resources import IDLE, NOTHING, REMOVING, Change, Kind, Op

ACTIONS = tuple(op.value for op in Op)


@dataclass(frozen=True)
class Action:
    address: str
    kind: Kind
    action: Op
    reason: str
    changes: tuple[Change, ...] = ()
    ids: Mapping[str, str] = field(default_factory=lambda: NOTHING)
    before: Mapping[str, Any] = field(default_factory=lambda: NOTHING)
    after: Mapping[str, Any] = field(default_factory=lambda: NOTHING)
    protect: bool = False
    resolves: tuple[str, ...] = ()  # pending operations in state this action settles
    notes: tuple[str, ...] = ()  # what the server will fill in, what to expect after apply

    @property
    def mutates(self) -> bool:
        return self.action not in IDLE


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
    state_backend: str = ""  # where the state the plan was made from lives (sqlite, postgres)
    state_key: str = ""  # and which state of that database
    notes: tuple[str, ...] = ()  # how the plan was made, where it took a shortcut (an unchanged member file)
    timezone: str = "UTC"  # the manifest's time zone (provider.timezone, else the account's): times are shown in it

    @property
    def state_text(self) -> str:
        """``postgres state act_…, serial 12``: a reviewer sees that the plan read the shared state."""
        return f"{self.state_backend or 'unknown backend'} state {self.state_key or '?'}, serial {self.state_serial}"

    @property
    def summary(self) -> dict[str, int]:
        counts = dict.fromkeys(ACTIONS, 0)
        for action in self.actions:
            counts[action.action] += 1
        return counts

    @property
    def changes_pending(self) -> bool:
        return any(a.mutates for a in self.actions) or (self.refresh_only and bool(self.drift))


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
    source: str = ""  # the member file's fingerprint (memberfile.fingerprint)


def with_members(
    plan: Plan, members: Mapping[str, MemberChange], warnings: Sequence[str] = (), notes: Sequence[str] = ()
) -> Plan:
    """Fold member changes into the audiences' actions: ``members: +N / -M``."""
    actions = []
    for action in plan.actions:
        change = members.get(action.address)
        if change is None or action.kind != Kind.AUDIENCE or action.action in REMOVING:
            actions.append(action)
            continue
        after = MappingProxyType(
            {
                **action.after,
                "members": {
                    "count": change.count,
                    "add": change.add,
                    "remove": change.remove,
                    "digest": change.digest,
                    "source": change.source,
                },
            }
        )
        if change.add or change.remove:
            shown = Change(
                "members", {"count": change.before}, {"count": change.count, "add": change.add, "remove": change.remove}
            )
            op = Op.UPDATE if action.action == Op.NOOP else action.action
            reason = "the member file changed" if action.action == Op.NOOP else action.reason
            notes = action.notes + ((UNSUBSCRIBE_NOTE,) if change.remove else ())
            actions.append(
                replace(action, action=op, reason=reason, changes=action.changes + (shown,), after=after, notes=notes)
            )
        else:
            actions.append(replace(action, after=after))
    return replace(
        plan, actions=tuple(actions), warnings=plan.warnings + tuple(warnings), notes=plan.notes + tuple(notes)
    )
