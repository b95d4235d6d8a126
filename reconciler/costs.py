"""What a plan costs, and the money rules it must pass before anyone is asked to approve it. Pure.

- Meta's minimum budgets (seeds/000): a daily budget of at least ``min_daily_budget_imp``, a
  lifetime budget of at least 30 times that.
- Guardrails from the provider block: ``max_daily_budget``, ``max_lifetime_budget``,
  ``max_total_daily_budget`` (all campaigns together; a lifetime budget counts as its average
  per day).
- A start time must be now or within 30 days when a campaign is created.
- The spend summary: each campaign's daily spend cap before and after, the total, and the
  weekly cap (Meta: spend in a calendar week never exceeds 7 times the daily budget).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.desired import Desired
from reconciler.money import format_money
from reconciler.plan import Action, PlanError, Spend, SpendLine

DAY = 86_400
MAX_START_AHEAD = 30 * DAY
START_GRACE = 60  # the API takes "now" as written a moment ago
BUDGET_FIELDS = frozenset({"daily_budget", "lifetime_budget"})


@dataclass(frozen=True)
class Limits:
    """Guardrails, in minor units of the account currency (None: no limit)."""

    max_daily: int | None = None
    max_lifetime: int | None = None
    max_total_daily: int | None = None


def daily_equivalent(values: Mapping[str, Any], now: int) -> int | None:
    """A campaign's spend per day at most: the daily budget, or the lifetime budget over its days."""
    if values.get("daily_budget"):
        return int(values["daily_budget"])
    if values.get("lifetime_budget"):
        start = values.get("start_time") or now
        end = values.get("end_time") or start + 30 * DAY  # the server's default end
        days = max(1, -(-(end - start) // DAY))
        return -(-int(values["lifetime_budget"]) // days)
    return None


def budget_touched(action: Action) -> bool:
    return action.kind == "campaign" and (
        action.action in ("create", "replace") or any(c.path in BUDGET_FIELDS for c in action.changes))


def check_rules(actions: tuple[Action, ...], desired: Mapping[str, Desired], limits: Limits,
                min_daily: int | None, currency: str, now: int) -> None:
    """PlanError naming every breach: minimum budgets, guardrails, the start window of new campaigns."""
    problems: list[str] = []

    def money(amount: int) -> str:
        return format_money(amount, currency)

    for action in actions:
        if action.kind != "campaign" or action.action not in ("create", "replace", "update", "adopt"):
            continue
        values = action.after
        daily, lifetime = values.get("daily_budget"), values.get("lifetime_budget")
        if budget_touched(action) and min_daily is not None:
            if daily is not None and daily < min_daily:
                problems.append(f"{action.address}: daily_budget {money(daily)} is below Meta's minimum of "
                                f"{money(min_daily)} (min_daily_budget_imp)")
            if lifetime is not None and lifetime < 30 * min_daily:
                problems.append(f"{action.address}: lifetime_budget {money(lifetime)} is below Meta's minimum of "
                                f"{money(30 * min_daily)} (30 days x min_daily_budget_imp {money(min_daily)})")
        if action.action in ("create", "replace"):
            start = values.get("start_time")
            if start is not None and start < now - START_GRACE:
                problems.append(f"{action.address}: start_time is in the past; a new campaign starts now or within "
                                "30 days (leave start_time out to start now)")
            elif start is not None and start > now + MAX_START_AHEAD:
                problems.append(f"{action.address}: start_time is more than 30 days ahead; Meta accepts a start "
                                "now or within 30 days")
    for address, want in desired.items():
        if want.kind != "campaign":
            continue
        daily, lifetime = want.values.get("daily_budget"), want.values.get("lifetime_budget")
        if limits.max_daily is not None and daily is not None and daily > limits.max_daily:
            problems.append(f"{address}: daily_budget {money(daily)} exceeds the guardrail max_daily_budget "
                            f"{money(limits.max_daily)}")
        if limits.max_lifetime is not None and lifetime is not None and lifetime > limits.max_lifetime:
            problems.append(f"{address}: lifetime_budget {money(lifetime)} exceeds the guardrail max_lifetime_budget "
                            f"{money(limits.max_lifetime)}")
    if limits.max_total_daily is not None:
        total = sum(daily_equivalent(d.values, now) or 0 for d in desired.values() if d.kind == "campaign")
        if total > limits.max_total_daily:
            problems.append(f"all campaigns together would spend up to {money(total)} a day, over the guardrail "
                            f"max_total_daily_budget {money(limits.max_total_daily)}")
    if problems:
        raise PlanError("the plan breaks money rules; nothing was changed:\n  " + "\n  ".join(problems))


def spend(actions: tuple[Action, ...], now: int) -> Spend:
    """Daily spend caps before and after, for every campaign the plan keeps, changes or removes."""
    lines = []
    total_before = total_after = 0
    for action in actions:
        if action.kind != "campaign":
            continue
        before = daily_equivalent(action.before, now) if action.before and action.action != "create" else None
        after = None if action.action in ("delete", "forget") else daily_equivalent(action.after, now)
        total_before += before or 0
        total_after += after or 0
        new, removed = action.action in ("create", "replace"), action.action in ("delete", "forget")
        if before != after or new or removed:
            lines.append(SpendLine(action.address, None if new else before, after, new, removed))
    return Spend(tuple(lines), total_before, total_after)
