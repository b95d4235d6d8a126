"""Plans for people (text), for tools (JSON, also the saved plan file) and for pull requests (Markdown).

Pure functions of a ``Plan``. Money is shown in the account's currency, times in the manifest's
time zone (``provider.timezone``, else the account's: the zone a time without an offset is read
in), counts with thousands separators; the JSON keeps minor units and Unix seconds. The JSON
is documented by ``schemas/plan.schema.json`` (format_version "1": extended, never broken); it
carries no token and no customer data, so it can be stored as a CI artifact.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from reconciler import planfile
from reconciler.clock import zoned_text
from reconciler.core.plan import ACTIONS, Action, Drift, Estimate, Plan, Spend, SpendLine
from reconciler.kinds import campaign
from reconciler.model import freeze, thaw
from reconciler.money import format_money, format_range
from reconciler.planfile import PLAN_KIND
from reconciler.render.yamlish import change_diff
from reconciler.resources import Change, Kind, Op

FORMAT_VERSION = "1"
MARKERS = {
    "create": "+",
    "update": "~",
    "replace": "-/+",
    "delete": "-",
    "adopt": "<=",
    "forget": "x",
    "send": ">>",
    "wait": "..",
    "no-op": " ",
}
COLOURS = {
    "create": "green",
    "update": "yellow",
    "replace": "magenta",
    "delete": "red",
    "adopt": "cyan",
    "forget": "red",
    "send": "blue",
    "wait": "bright_black",
}
MONEY = frozenset(campaign.BUDGET_FIELDS)
TIMES = frozenset(campaign.TIME_FIELDS)
MARKDOWN_LIMIT = 65_000

Style = Any  # click.style when colour is wanted; render_plan never imports click


def value_text(path: str, value: Any, currency: str, zone: str = "UTC") -> str:
    """One value as a reviewer reads it: money in the currency, times in the manifest's time zone,
    counts with thousands separators."""
    if value is None:
        return "(none)"
    if path in MONEY and isinstance(value, int):
        return format_money(value, currency)
    if path in TIMES and isinstance(value, int):
        return zoned_text(value, zone)
    if isinstance(value, str):
        # What json.dumps would write, without its cost for the common case (10,000 names a plan).
        plain = value.isprintable() and '"' not in value and "\\" not in value
        return f'"{value}"' if plain else json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:,}" if isinstance(value, int) else str(value)


def change_text(change: Change, currency: str, zone: str = "UTC") -> str:
    if change.path == "members" and isinstance(change.after, Mapping):
        before = change.before.get("count", 0) if isinstance(change.before, Mapping) else 0
        after = change.after
        return f"members: +{after['add']:,} / -{after['remove']:,} members ({before:,} → {after['count']:,})"
    if change.before is None:
        return f"{change.path}: {value_text(change.path, change.after, currency, zone)}"
    return (
        f"{change.path}: {value_text(change.path, change.before, currency, zone)} → "
        f"{value_text(change.path, change.after, currency, zone)}"
    )


def summary_line(plan: Plan) -> str:
    if plan.refresh_only:
        return (
            f"Refresh only: {len(plan.drift)} resource(s) changed outside mmctl; applying records the live "
            "values in state and changes nothing in the account."
        )
    counts = plan.summary
    if not plan.changes_pending:
        return "No changes. The account matches the manifests."
    words = [
        f"{counts['create']} to create",
        f"{counts['update']} to update",
        f"{counts['replace']} to replace",
        f"{counts['delete']} to delete",
        f"{counts['adopt']} to adopt",
    ]
    if counts["forget"]:
        words.append(f"{counts['forget']} to forget")
    if counts["send"]:
        words.append(f"{counts['send']} to send")
    if counts["wait"]:
        words.append(f"{counts['wait']} waiting")
    return "Plan: " + ", ".join(words) + "."


def _action_lines(action: Action, currency: str, zone: str = "UTC") -> list[str]:
    head = f"{MARKERS[action.action]} {action.address}"
    lines = [f"{head}  ({action.action}: {action.reason})"]
    # A template's payload changes read as YAML, what was there marked -, what will be +.
    payload = [
        c for c in action.changes if action.kind == Kind.TEMPLATE and c.path.startswith(("message.", "message["))
    ]
    for marker, line in change_diff([(c.path, c.before, c.after) for c in payload]):
        lines.append(f"    {marker} {line}" if marker != " " else f"      {line}")
    for change in action.changes:
        if change in payload:
            continue
        # A send's lines are counts, written out already (no before, nothing to quote).
        counted = action.kind in (Kind.SEND, Kind.UNSUBSCRIBE)
        shown = f"{change.path}: {change.after}" if counted else change_text(change, currency, zone)
        lines.append(f"      {shown}")
    for note in action.notes:
        lines.append(f"      # {note}")
    return lines


def _per_day(line: SpendLine, amount: int | None, currency: str, *, after: bool) -> str:
    if amount is None:
        return "set by Meta at creation (an estimated daily cap)" if after and line.source == "meta" else "no budget"
    text = f"{format_money(amount, currency)} a day"
    if after and line.budget == "lifetime":
        text += " (what is left of the lifetime budget over the days left)"
    if after and line.source == "live":
        text += " (live, not in the manifest)"
    return text


def money_lines(plan: Plan, most: int | None = None) -> list[str]:
    """Spend per day before and after, the weekly cap, and Meta's estimates; ``most``: at most that
    many lines per resource in each part (the totals always)."""
    out: list[str] = []
    currency = plan.currency
    if plan.spend is not None and plan.spend.lines:
        spend = plan.spend
        out.append("Daily spend caps:")
        shown = spend.lines if most is None else spend.lines[:most]
        for line in shown:
            before = "new" if line.new else _per_day(line, line.before, currency, after=False)
            after = "deleted" if line.removed else _per_day(line, line.after, currency, after=True)
            out.append(f"  {line.address}: {before} → {after}")
        if len(shown) < len(spend.lines):
            out.append(f"  … and {len(spend.lines) - len(shown):,} more (`mmctl plan` shows each)")
        change = spend.total_after - spend.total_before
        out.append(
            f"  Total: {format_money(spend.total_before, currency)} → {format_money(spend.total_after, currency)}"
            f" a day ({'+' if change >= 0 else ''}{format_money(change, currency)})"
        )
        if spend.daily_budgets_after:
            out.append(
                f"  Daily budgets are averages: Meta may spend up to 75% more on one day, and at most 7 times "
                f"the daily budget in a calendar week (weekly cap {format_money(spend.weekly_cap, currency)})."
            )
    out += _send_money_lines(plan, most)
    if plan.estimates:
        out.append("Estimates (Meta's message_delivery_estimate, for new or changed budgets):")
        for estimate in plan.estimates if most is None else plan.estimates[:most]:
            out.append(
                f"  {estimate.address}: {_range(estimate.delivery)} messages, {_money_range(estimate.cost, currency)}"
            )
        if most is not None and len(plan.estimates) > most:
            out.append(f"  … and {len(plan.estimates) - most:,} more")
        delivery = (sum(e.delivery[0] for e in plan.estimates), sum(e.delivery[1] for e in plan.estimates))
        cost = (sum(e.cost[0] for e in plan.estimates), sum(e.cost[1] for e in plan.estimates))
        out.append(f"  Total: {_range(delivery)} messages, {_money_range(cost, currency)}")
    return out


def _range(bounds: tuple[int, int]) -> str:
    return f"{bounds[0]:,}-{bounds[1]:,}"


def _send_money_lines(plan: Plan, most: int | None = None) -> list[str]:
    """What the sends of this plan deliver now, and Meta's price for it (charged per delivered message)."""
    sends = [a for a in plan.actions if a.action == Op.SEND]
    if not sends:
        return []
    out = ["Sends (Meta charges per delivered message; each recipient at most once):"]
    total, low, high, priced = 0, 0, 0, True
    for index, action in enumerate(sends):
        ready = int(action.after.get("ready") or 0)
        estimate = action.after.get("estimate")
        total += ready
        cost = ""
        if estimate:
            low, high = low + estimate[0], high + estimate[1]
            cost = f", estimated {_money_range((estimate[0], estimate[1]), plan.currency)}"
        else:
            priced = False
        if most is None or index < most:
            out.append(f"  {action.address}: {ready:,} message(s){cost}")
        elif index == most:
            out.append(f"  … and {len(sends) - most:,} more")
    cost = f", estimated {_money_range((low, high), plan.currency)}" if priced else " (no estimate for some)"
    out.append(f"  Total: {total:,} message(s){cost}")
    return out


def _waiting_lines(plan: Plan) -> list[str]:
    """Sends apply can do nothing for yet, with their counts and when they can start."""
    waiting = [a for a in plan.actions if a.action == Op.WAIT]
    out = ["", "Waiting (apply can do nothing for these yet):"] if waiting else []
    for action in waiting:
        out += ["  " + line for line in _action_lines(action, plan.currency, plan.timezone)]
    return out


def _money_range(bounds: tuple[int, int], currency: str) -> str:
    return format_range(bounds[0], bounds[1], currency)


def _drift_lines(drift: Drift, currency: str, zone: str = "UTC") -> list[str]:
    lines = [f"  {drift.address}"]
    for change in drift.changes:
        before = value_text(change.path, change.before, currency, zone)
        after = value_text(change.path, change.after, currency, zone)
        lines.append(f"      {change.path}: {before} (last applied) → {after} (live)")
    return lines


def plan_text(plan: Plan, style: Style = None) -> str:
    """The plan for a terminal; ``style`` (click.style) adds colour, None leaves it plain."""
    return "\n".join(plan_lines(plan, style))


def plan_lines(plan: Plan, style: Style = None) -> Iterator[str]:
    """``plan_text``'s lines one at a time: a 100,000-action plan is printed without being held whole."""

    def paint(text: str, action: str) -> str:
        colour = COLOURS.get(action)
        return style(text, fg=colour) if style is not None and colour else text

    yield from (f"Account {plan.account} ({plan.currency}) via {plan.graph}", f"State: {plan.state_text}")
    if plan.drift:
        yield from ("", "Changed outside mmctl (drift):")
        for drift in plan.drift:
            yield from _drift_lines(drift, plan.currency, plan.timezone)
    changing = [a for a in plan.actions if a.mutates]
    if changing:
        yield from ("", "mmctl will:")
        for action in changing:
            lines = _action_lines(action, plan.currency, plan.timezone)
            yield paint("  " + lines[0], action.action)
            yield from ("  " + line for line in lines[1:])
    yield from _waiting_lines(plan)
    money = money_lines(plan)
    if money:
        yield from ("", *money)
    if plan.warnings:
        yield from ("", "Warnings:", *(f"  ! {w}" for w in plan.warnings))
    if plan.notes:
        yield from ("", "Notes:", *(f"  {n}" for n in plan.notes))
    yield from ("", summary_line(plan))


# --- JSON ----------------------------------------------------------------------------------------


def _change_json(change: Change) -> dict[str, Any]:
    return {"path": change.path, "before": thaw(change.before), "after": thaw(change.after)}


def _action_json(a: Action) -> dict[str, Any]:
    return {
        "address": a.address,
        "kind": a.kind,
        "action": a.action,
        "reason": a.reason,
        "changes": [_change_json(c) for c in a.changes],
        "ids": dict(a.ids),
        "before": thaw(a.before),
        "after": thaw(a.after),
        "protect": a.protect,
        "resolves": list(a.resolves),
        "notes": list(a.notes),
    }


def plan_digest(plan: Plan) -> str:
    """``planfile.digest(plan_json(plan))``, one action at a time: a 100,000-action plan's JSON is
    never held whole (it was the largest thing an apply of that size kept in memory)."""
    head = {**plan_json(replace(plan, actions=())), "summary": plan.summary}
    return planfile.streamed_digest(head, {"actions": (_action_json(a) for a in plan.actions)})


def plan_json(plan: Plan) -> dict[str, Any]:
    return {
        "kind": PLAN_KIND,
        "format_version": FORMAT_VERSION,
        "account": plan.account,
        "graph": plan.graph,
        "currency": plan.currency,
        "timezone": plan.timezone,
        "page_id": plan.page_id,
        "targets": list(plan.targets),
        "refresh_only": plan.refresh_only,
        "summary": plan.summary,
        "actions": [_action_json(a) for a in plan.actions],
        "drift": [{"address": d.address, "changes": [_change_json(c) for c in d.changes]} for d in plan.drift],
        "spend": None
        if plan.spend is None
        else {
            "daily": [
                {
                    "address": s.address,
                    "before": s.before,
                    "after": s.after,
                    "new": s.new,
                    "removed": s.removed,
                    "source": s.source,
                    "budget": s.budget,
                }
                for s in plan.spend.lines
            ],
            "total_daily_before": plan.spend.total_before,
            "total_daily_after": plan.spend.total_after,
            "daily_budgets_after": plan.spend.daily_budgets_after,
            "weekly_cap": plan.spend.weekly_cap,
        },
        "estimates": [
            {
                "address": e.address,
                "delivery": {"lower": e.delivery[0], "upper": e.delivery[1]},
                "cost": {"lower": e.cost[0], "upper": e.cost[1]},
            }
            for e in plan.estimates
        ],
        "warnings": list(plan.warnings),
        "notes": list(plan.notes),
        "state": {
            "serial": plan.state_serial,
            "lineage": plan.state_lineage,
            "backend": plan.state_backend,
            "key": plan.state_key,
        },
    }


def plan_json_text(plan: Plan) -> str:
    return json.dumps(plan_json(plan), indent=2, ensure_ascii=False) + "\n"


def plan_from_json(data: Mapping[str, Any]) -> Plan:
    """A saved plan read back (the file was checked against the plan schema first)."""

    def changes(items: Any) -> tuple[Change, ...]:
        return tuple(Change(c["path"], freeze(c["before"]), freeze(c["after"])) for c in items)

    actions = tuple(
        Action(
            address=a["address"],
            kind=Kind(a["kind"]),
            action=Op(a["action"]),
            reason=a["reason"],
            changes=changes(a["changes"]),
            ids=MappingProxyType(dict(a["ids"])),
            before=freeze(a["before"]),
            after=freeze(a["after"]),
            protect=bool(a["protect"]),
            resolves=tuple(a["resolves"]),
            notes=tuple(a.get("notes", ())),
        )
        for a in data["actions"]
    )
    drift = tuple(Drift(d["address"], changes(d["changes"])) for d in data["drift"])
    raw_spend = data.get("spend")
    spend = (
        None
        if raw_spend is None
        else Spend(
            tuple(
                SpendLine(
                    s["address"],
                    s["before"],
                    s["after"],
                    bool(s.get("new")),
                    bool(s.get("removed")),
                    str(s.get("source", "manifest")),
                    str(s.get("budget", "daily")),
                )
                for s in raw_spend["daily"]
            ),
            int(raw_spend["total_daily_before"]),
            int(raw_spend["total_daily_after"]),
            int(raw_spend.get("daily_budgets_after", raw_spend["weekly_cap"] // 7)),
        )
    )
    estimates = tuple(
        Estimate(
            e["address"], (e["delivery"]["lower"], e["delivery"]["upper"]), (e["cost"]["lower"], e["cost"]["upper"])
        )
        for e in data.get("estimates", ())
    )
    return Plan(
        data["account"],
        data["graph"],
        data["currency"],
        actions,
        drift,
        int(data["state"]["serial"]),
        str(data["state"]["lineage"]),
        bool(data["refresh_only"]),
        spend,
        estimates,
        tuple(data.get("warnings", ())),
        str(data.get("page_id", "")),
        tuple(data.get("targets", ())),
        str(data["state"].get("backend", "")),
        str(data["state"].get("key", "")),
        tuple(data.get("notes", ())),
        str(data.get("timezone", "UTC")),
    )


# --- Markdown ------------------------------------------------------------------------------------


def graph_words(graph: str) -> str:
    """Where the plan was made, in words: a reviewer must see whether it touched real money."""
    if graph == "sandbox":
        return "the built-in sandbox (no real account)"
    if graph.rstrip("/") in ("https://graph.facebook.com", "https://graph.facebook.com/"):
        return f"production: {graph}"
    return f"a Graph API at {graph}"


def _fitting(items: list[str], budget: int, more: str) -> list[str]:
    """As many of ``items`` as fit in ``budget`` characters, then ``more`` with the count left out."""
    kept: list[str] = []
    for index, item in enumerate(items):
        if len(item) + 1 + len(more) + 12 > budget:
            return kept + [more.format(n=f"{len(items) - index:,}")]
        kept.append(item)
        budget -= len(item) + 1
    return kept


def _diff_marker_first(line: str) -> str:
    """A template diff line with its marker moved to the first column, where GitHub colours it."""
    return line[4] + line[:4] + line[5:] if line.startswith(("    - ", "    + ")) else line


def plan_markdown(plan: Plan, limit: int = MARKDOWN_LIMIT) -> str:
    """A pull-request comment under ``limit`` characters at any size. Always in it: the header
    (account, Graph endpoint in words, state), the summary, what waits, the money summary with its
    totals, every warning and note; only the per-resource table and details are cut, "and N more"."""
    counts = plan.summary
    head = [
        f"### mmctl plan for `{plan.account}`",
        "",
        f"**{summary_line(plan)}**",
        "",
        f"<sub>via {graph_words(plan.graph)} · {plan.state_text}</sub>",
        "",
    ]
    waiting = [a for a in plan.actions if a.action == Op.WAIT]
    if waiting:
        head += ["Waiting (apply can do nothing for these yet):", ""]
        head += [f"- `{a.address}`: {a.reason}" for a in waiting[:20]]
        head += [f"- and {len(waiting) - 20:,} more"] if len(waiting) > 20 else []
        head.append("")
    if plan.drift:
        head += [f"⚠️ {len(plan.drift)} resource(s) changed outside mmctl (drift); see below.", ""]
    money = money_lines(plan, most=25)
    if money:
        head += ["```", *money, "```", ""]
    notices = [f"> ⚠️ {w[:1000]}" for w in plan.warnings] + [f"> ℹ️ {n[:1000]}" for n in plan.notes]
    tail = ["", f"<sub>{', '.join(f'{counts[k]} {k}' for k in ACTIONS if counts[k])} · currency {plan.currency}</sub>"]
    room = limit - len("\n".join(head + tail)) - 400
    head += _fitting(
        notices, room // 2 if len("\n".join(notices)) > room // 2 else room, "> … and {n} more (see `mmctl plan`)"
    )
    head.append("")
    changing = [a for a in plan.actions if a.mutates]
    table = [f"| `{MARKERS[a.action]}` | `{a.address}` | {a.action} | {a.reason} |" for a in changing]
    blocks: list[str] = []
    for action in changing:
        lines = [_diff_marker_first(line) for line in _action_lines(action, plan.currency, plan.timezone)]
        blocks.append(
            "\n".join(
                [
                    f"<details><summary><code>{action.address}</code>: {action.action}</summary>",
                    "",
                    "```diff",
                    *lines,
                    "```",
                    "",
                    "</details>",
                    "",
                ]
            )
        )
    for drift in plan.drift:
        blocks.append(
            "\n".join(
                [
                    f"<details><summary>drift: <code>{drift.address}</code></summary>",
                    "",
                    "```",
                    *_drift_lines(drift, plan.currency, plan.timezone),
                    "```",
                    "",
                    "</details>",
                    "",
                ]
            )
        )
    budget = limit - len("\n".join(head + tail)) - 200
    body: list[str] = []
    if table:
        rows = _fitting(table, budget // 2, "| | … and {n} more | | the full plan: `mmctl plan --format json` |")
        body += ["| | resource | action | reason |", "|---|---|---|---|", *rows, ""]
        budget -= len("\n".join(body)) + 1
    body += _fitting(blocks, budget, "_… and the details of {n} more resources: `mmctl plan --format json`._")
    return "\n".join(head + body + tail)


def error_markdown(message: str) -> str:
    """The PR comment of a plan that failed (invalid manifests, a refusal): never an empty comment."""
    text = (
        message
        if len(message) < MARKDOWN_LIMIT - 200
        else message[: MARKDOWN_LIMIT - 260] + "\n… (cut; see the job log)"
    )
    return "\n".join(["### mmctl plan failed", "", "Nothing was planned or changed.", "", "```", text, "```"])
