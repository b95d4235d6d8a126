"""What a plan costs, and the money rules it must pass before anyone is asked to approve it. Pure.

- Meta's minimum budgets (graph-api.md §1): a daily budget of at least ``min_daily_budget_imp``, a
  lifetime budget of at least 30 times that.
- Guardrails from the provider block: ``max_daily_budget``, ``max_lifetime_budget``,
  ``max_total_daily_budget`` (all campaigns together). They see every campaign's real budget:
  the manifest's when it writes one, else the live budget (for a campaign created without one,
  the estimated daily cap Meta set). A plan that creates, adopts, activates or raises a campaign
  over a guardrail is refused; a campaign already over it and left as it is gives a warning.
- A start time must be now or within 30 days when a campaign is created.
- The spend summary: each campaign's spend per day at most, before and after. A daily budget is
  an average (Meta may spend up to 75 % more on one day, and at most 7 times the daily budget in a
  calendar week: the weekly cap, for daily budgets only); a lifetime budget counts as what is
  left of it over the days left.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.core.plan import Action, Spend, SpendLine
from reconciler.errors import PlanError
from reconciler.kinds import campaign
from reconciler.money import format_money
from reconciler.resources import MAKING, REMOVING, Kind, Op

DAY = campaign.DAY
MAX_START_AHEAD = 30 * DAY  # graph-api.md §1: a start now or within 30 days
START_GRACE = 60  # the API takes "now" as written a moment ago
BUDGET_FIELDS = frozenset(campaign.BUDGET_FIELDS)
SCHEDULE_FIELDS = campaign.TIME_FIELDS
LIVE_LABEL = " (live, not in the manifest)"


@dataclass(frozen=True)
class Limits:
    """Guardrails, in minor units of the account currency (None: no limit)."""

    max_daily: int | None = None
    max_lifetime: int | None = None
    max_total_daily: int | None = None


@dataclass(frozen=True)
class Budget:
    """A campaign's budget as it will be after the plan, and where it comes from."""

    values: Mapping[str, Any]  # daily_budget / lifetime_budget / start_time / end_time / budget_remaining
    source: str  # manifest | live | meta (no budget anywhere yet: Meta sets an estimated cap at creation)

    @property
    def kind(self) -> str:
        if self.values.get("daily_budget"):
            return "daily"
        return "lifetime" if self.values.get("lifetime_budget") else "none"


def effective_budget(action: Action) -> Budget:
    """The budget a campaign has after ``action``: the manifest's, else the live one (which, for a
    campaign created without a budget, is the estimated daily cap Meta set)."""
    after, live = action.after, (action.before if action.action != Op.CREATE else {})
    written = {k: after[k] for k in BUDGET_FIELDS if after.get(k)}
    values: dict[str, Any] = {k: after.get(k) or live.get(k) for k in SCHEDULE_FIELDS}
    if written:
        values.update(written)
        source = "manifest"
    elif any(live.get(k) for k in BUDGET_FIELDS):
        values.update({k: live[k] for k in BUDGET_FIELDS if live.get(k)})
        source = "live"
    else:
        source = "meta" if action.action in MAKING else "live"
    if values.get("lifetime_budget") and live.get("lifetime_budget") and live.get("budget_remaining") is not None:
        spent = max(0, int(live["lifetime_budget"]) - int(live["budget_remaining"]))
        values["budget_remaining"] = max(0, int(values["lifetime_budget"]) - spent)
    return Budget(values, source)


def daily_equivalent(values: Mapping[str, Any], now: int) -> int | None:
    """Spend per day at most: the daily budget, or what is left of a lifetime budget over the days left
    (from ``max(now, start)`` to the end; an ended campaign spends nothing)."""
    if values.get("daily_budget"):
        return int(values["daily_budget"])
    if values.get("lifetime_budget"):
        start = values.get("start_time") or now
        end = values.get("end_time") or campaign.default_end(start)
        left = end - max(now, start)
        if left <= 0:
            return 0
        remaining = values.get("budget_remaining")
        amount = int(values["lifetime_budget"]) if remaining is None else int(remaining)
        return -(-amount // max(1, -(-left // DAY)))
    return None


def budget_touched(action: Action) -> bool:
    return action.kind == Kind.CAMPAIGN and (
        action.action in MAKING or any(c.path in BUDGET_FIELDS for c in action.changes)
    )


def _adds_spend(action: Action) -> bool:
    """Whether the plan makes this campaign spend where it did not, or more: created, adopted,
    activated, or its budget changed."""
    return (
        action.action in MAKING | {Op.ADOPT}
        or budget_touched(action)
        or any(c.path == "status" and c.after == "ACTIVE" for c in action.changes)
    )


def _campaigns(actions: tuple[Action, ...]) -> list[Action]:
    return [a for a in actions if a.kind == Kind.CAMPAIGN and a.action not in REMOVING]


def check_rules(
    actions: tuple[Action, ...], limits: Limits, min_daily: int | None, currency: str, now: int
) -> tuple[str, ...]:
    """PlanError naming every breach (minimum budgets, guardrails, the start window of new
    campaigns); the warnings for campaigns already over a guardrail that the plan leaves alone."""
    problems: list[str] = []
    warnings: list[str] = []

    def money(amount: int) -> str:
        return format_money(amount, currency)

    for action in _campaigns(actions):
        if action.action != Op.NOOP:
            problems += _minimums(action, min_daily, money)
            problems += _start_window(action, now)
        budget = effective_budget(action)
        label = LIVE_LABEL if budget.source == "live" else ""
        breaches = []
        daily, lifetime = budget.values.get("daily_budget"), budget.values.get("lifetime_budget")
        if limits.max_daily is not None and daily and daily > limits.max_daily:
            breaches.append(
                f"{action.address}: daily_budget {money(daily)}{label} exceeds the guardrail "
                f"max_daily_budget {money(limits.max_daily)}"
            )
        if limits.max_lifetime is not None and lifetime and lifetime > limits.max_lifetime:
            breaches.append(
                f"{action.address}: lifetime_budget {money(lifetime)}{label} exceeds the guardrail "
                f"max_lifetime_budget {money(limits.max_lifetime)}"
            )
        if budget.source == "meta" and (limits.max_daily is not None or limits.max_total_daily is not None):
            problems.append(
                f"{action.address}: writes no budget, so Meta sets an estimated daily budget cap when it "
                "is created, which the guardrails cannot check beforehand; write a daily_budget or "
                "lifetime_budget"
            )
        if _adds_spend(action):
            problems += [f"{b} ({_why_checked(action)})" if label else b for b in breaches]
        else:
            warnings += [f"{b}; this plan does not change it" for b in breaches]
    if limits.max_total_daily is not None:
        found = spend(actions, now)
        if found.total_after > limits.max_total_daily:
            text = (
                f"all campaigns together would spend up to {money(found.total_after)} a day, over the guardrail "
                f"max_total_daily_budget {money(limits.max_total_daily)}"
            )
            if found.total_after > found.total_before or any(_adds_spend(a) for a in _campaigns(actions)):
                problems.append(text)
            else:
                warnings.append(f"{text}; this plan does not add to it")
    if problems:
        raise PlanError("the plan breaks money rules; nothing was changed:\n  " + "\n  ".join(problems))
    return tuple(warnings)


def _why_checked(action: Action) -> str:
    if action.action == Op.ADOPT:
        return "adopting it puts it under mmctl's guardrails"
    if any(c.path == "status" and c.after == "ACTIVE" for c in action.changes):
        return "this plan activates it"
    return "the manifest writes no budget; write one within the guardrail"


def _minimums(action: Action, min_daily: int | None, money: Any) -> list[str]:
    values = action.after
    daily, lifetime = values.get("daily_budget"), values.get("lifetime_budget")
    if not budget_touched(action) or min_daily is None:
        return []
    out = []
    if daily is not None and daily < min_daily:
        out.append(
            f"{action.address}: daily_budget {money(daily)} is below Meta's minimum of "
            f"{money(min_daily)} (min_daily_budget_imp)"
        )
    if lifetime is not None and lifetime < campaign.LIFETIME_DAYS * min_daily:
        out.append(
            f"{action.address}: lifetime_budget {money(lifetime)} is below Meta's minimum of "
            f"{money(campaign.LIFETIME_DAYS * min_daily)} (30 days x min_daily_budget_imp {money(min_daily)})"
        )
    return out


def _start_window(action: Action, now: int) -> list[str]:
    if action.action not in MAKING:
        return []
    start = action.after.get("start_time")
    if start is not None and start < now - START_GRACE:
        return [
            f"{action.address}: start_time is in the past; a new campaign starts now or within 30 days (leave "
            "start_time out to start now)"
        ]
    if start is not None and start > now + MAX_START_AHEAD:
        return [f"{action.address}: start_time is more than 30 days ahead; Meta accepts a start now or within 30 days"]
    return []


def spend(actions: tuple[Action, ...], now: int) -> Spend:
    """Spend per day at most, before and after, for every campaign the plan keeps, changes or removes."""
    lines = []
    total_before = total_after = daily_budgets = 0
    for action in actions:
        if action.kind != Kind.CAMPAIGN:
            continue
        new, removed = action.action in MAKING, action.action in REMOVING
        before = daily_equivalent(action.before, now) if action.before and action.action != Op.CREATE else None
        budget = effective_budget(action)
        after = None if removed else daily_equivalent(budget.values, now)
        total_before += before or 0
        total_after += after or 0
        if not removed and budget.kind == "daily":
            daily_budgets += after or 0
        if before != after or new or removed or action.action == Op.ADOPT:
            lines.append(
                SpendLine(action.address, None if new else before, after, new, removed, budget.source, budget.kind)
            )
    return Spend(tuple(lines), total_before, total_after, daily_budgets)
