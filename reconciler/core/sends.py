"""What a send would do now: its recipients, who is already done, who must wait, and whether its
campaign can send at all. Pure: the tokens, the journal and the campaign's facts are passed in.

A send that has not started is planned over the subscribers the token listing returns now (less
the excluded audiences); once started, over the recipients frozen in its journal when it started.
Apply can do nothing for a send whose campaign cannot send yet (a new campaign's 1-hour warm-up,
a PAUSED campaign, a start time or ``not_before`` ahead, everyone left inside the 12-hour
cooldown): that send is ``wait``, with the time it can start where one is known, and is not a
pending change.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

from reconciler.clock import zoned_text
from reconciler.core.plan import Action
from reconciler.errors import PlanError
from reconciler.kinds.send import COOLDOWN, WARM_UP
from reconciler.money import format_money, format_range
from reconciler.resources import Change, Op

# Journal statuses. ``pending``: frozen, not tried yet; ``intent``: written just before its call,
# so a recipient left in it after a crash may or may not have been sent to; ``unknown``: could not
# be resolved safely, an operator decides; the rest are final.
PENDING, INTENT, SENT, SKIPPED, FAILED, UNKNOWN = "pending", "intent", "sent", "skipped", "failed", "unknown"
OPEN = frozenset({PENDING, INTENT})  # apply still has something to do for these
STATUSES = (SENT, SKIPPED, FAILED, UNKNOWN, INTENT, PENDING)


@dataclass(frozen=True)
class CampaignFacts:
    """What decides whether a send's campaign can send, after this plan is applied."""

    address: str
    message_id: str | None  # None: the campaign is made by this apply
    status: str | None
    created: int | None = None
    start: int | None = None
    end: int | None = None
    daily_budget: int | None = None
    lifetime_budget: int | None = None


@dataclass(frozen=True)
class Recipients:
    """The subscribers a send would reach now (tokens), and when Meta lets each be messaged again."""

    tokens: frozenset[str]
    eligible_at: Mapping[str, int]  # token -> next_eligible_time, for tokens Meta holds back


def recipients_digest(tokens: Iterable[str]) -> str:
    """A reviewed plan's recipients, so that a saved plan is stale when they changed."""
    h = hashlib.sha256()
    for token in sorted(tokens):
        h.update(token.encode() + b"\n")
    return h.hexdigest()


def readiness(
    campaign: CampaignFacts, not_before: int | None, now: int, zone: str = "UTC"
) -> tuple[int | None, str] | None:
    """None when the campaign can send now; else (the time it can, None if no time is known; why),
    times written in ``zone`` (the manifest's)."""
    if campaign.message_id is None:
        return now + WARM_UP, (
            f"{campaign.address} is created by this apply, and Meta lets a new campaign send only after a 1-hour "
            "warm-up; the next apply after that sends"
        )
    if campaign.status != "ACTIVE":
        return None, f"{campaign.address} is {campaign.status or 'not active'}; set status: ACTIVE and apply"
    if campaign.end is not None and campaign.end <= now:
        return None, (
            f"{campaign.address} ended at {zoned_text(campaign.end, zone)}; it cannot send again. Move end_time into the "
            "future, or declare the send on another campaign"
        )
    waits = []
    if campaign.created is not None and campaign.created + WARM_UP > now:
        waits.append((campaign.created + WARM_UP, "Meta's 1-hour warm-up after the campaign was created"))
    if campaign.start is not None and campaign.start > now:
        waits.append((campaign.start, "the campaign's start_time"))
    if not_before is not None and not_before > now:
        waits.append((not_before, "not_before"))
    if not waits:
        return None
    return max(waits)


def plan_send(
    action: Action,
    *,
    campaign: CampaignFacts,
    recipients: Recipients,
    journal: Mapping[str, str],
    recently_sent: Mapping[str, int],
    now: int,
    price: tuple[int, int] | None,
    currency: str,
    max_recipients: int | None,
    unsubscribed: frozenset[str] = frozenset(),
    zone: str = "UTC",
) -> Action:
    """The send's action with its counts: ``>>`` when apply would send now, ``wait`` when it cannot
    yet, no-op when every recipient is done. ``journal`` maps this send's recipients to their
    status (empty: not started); ``recently_sent`` maps recipients mmctl sent anything to in the
    last 12 hours to the time."""
    started = bool(journal)
    counts = Counter(journal.values())
    frozen = frozenset(journal) if started else recipients.tokens - unsubscribed
    left_out = len(recipients.tokens & unsubscribed) if not started else 0
    if max_recipients is not None and len(frozen) > max_recipients:
        raise PlanError(
            f"{action.address} would go to {len(frozen):,} recipients, above provider.max_send_recipients "
            f"({max_recipients:,}); raise the guardrail in a reviewed change, or send to a smaller audience"
        )
    open_ = [r for r in frozen if journal.get(r, PENDING) in OPEN and r not in unsubscribed]
    left_out += sum(1 for r in frozen if journal.get(r) == PENDING and r in unsubscribed)
    held = {}
    for token in open_:
        if journal.get(token) == INTENT:
            continue  # resolved first, by a call Meta's cooldown deduplicates: never held back
        eligible = max(recipients.eligible_at.get(token, 0), recently_sent.get(token, -COOLDOWN) + COOLDOWN)
        if eligible > now:
            held[token] = eligible
    ready = len(open_) - len(held)
    changes = [Change("recipients", None, f"{len(frozen):,}")]
    if left_out:
        changes.append(Change("unsubscribed", None, f"{left_out:,} left out (the unsubscribes file)"))
    if started:
        done = ", ".join(f"{counts[s]:,} {s}" for s in STATUSES if counts[s] and s not in OPEN)
        changes.append(Change("journal", None, done or "nothing sent yet"))
        if counts[INTENT]:
            changes.append(
                Change(
                    "unknown outcome",
                    None,
                    f"{counts[INTENT]:,} (an apply stopped during their call; resolved before anything else, "
                    "never sent twice)",
                )
            )
        new = len(recipients.tokens - frozen)
        if new:
            changes.append(
                Change("not included", None, f"{new:,} subscribed since the send started (declare a new send)")
            )
    if held:
        changes.append(
            Change(
                "cooldown",
                None,
                f"{len(held):,} inside Meta's 12-hour cooldown (until {zoned_text(max(held.values()), zone)})",
            )
        )
    changes.append(Change("to send", None, f"{ready:,}"))
    cost = (ready * price[0], ready * price[1]) if price is not None else None
    if cost is not None and ready:
        changes.append(Change("estimated cost", None, format_range(cost[0], cost[1], currency)))
    after = MappingProxyType(
        {
            **action.after,
            "recipients": len(frozen),
            "recipients_digest": recipients_digest(frozen) if not started else None,
            "ready": ready,
            "estimate": list(cost) if cost is not None and ready else None,
        }
    )
    base = replace(action, changes=tuple(changes), after=after)
    if not started and not frozen:
        blocked_now = readiness(campaign, action.after.get("not_before"), now, zone)
        why = (
            blocked_now[1]
            if blocked_now is not None
            else "no subscriber of its audiences yet: Meta matches an upload over up to 24 hours, and returns no "
            "tokens for an audience with fewer than 100 matched people"
        )
        at = blocked_now[0] if blocked_now is not None else None
        when = f"can start at {zoned_text(at, zone)}" if at is not None else "cannot start"
        return replace(base, action=Op.WAIT, reason=f"{when}: {why}", changes=())
    if not open_:
        summary = ", ".join(f"{counts[s]:,} {s}" for s in STATUSES if counts[s])
        return replace(base, action=Op.NOOP, reason=f"finished: {summary or 'no recipients'}", changes=())
    blocked: tuple[int | None, str] | None = readiness(campaign, action.after.get("not_before"), now, zone)
    if blocked is None and not ready:
        blocked = (
            min(held.values()),
            f"every recipient left is inside the 12-hour cooldown (until {zoned_text(min(held.values()), zone)})",
        )
    if blocked is not None:
        at, why = blocked
        when = f"can start at {zoned_text(at, zone)}" if at is not None else "cannot start"
        return replace(base, action=Op.WAIT, reason=f"{when}: {why}", after=MappingProxyType({**after, "ready_at": at}))
    verb = "resuming" if started else "a new send"
    notes = _budget_notes(campaign, cost, price, currency)
    return replace(base, action=Op.SEND, reason=f"{verb}: {ready:,} recipient(s) now", notes=notes)


def _budget_notes(
    campaign: CampaignFacts, cost: tuple[int, int] | None, price: tuple[int, int] | None, currency: str
) -> tuple[str, ...]:
    """Say so when the campaign's budget will stop the send partway (the next apply resumes it)."""
    if cost is None or price is None:
        return ()
    if campaign.daily_budget:
        cap, what = campaign.daily_budget * 7 // 4, "a day (175% of the daily budget)"
    elif campaign.lifetime_budget:
        cap, what = campaign.lifetime_budget, "over its lifetime"
    else:
        return ()
    if cost[0] <= cap:
        return ()
    return (
        f"{campaign.address} may spend at most {format_money(cap, currency)} {what}: Meta stops the send after "
        f"about {cap // max(price[1], 1):,} messages, and the next apply after the budget refreshes (or is raised "
        "in a reviewed change) resumes it",
    )
