"""The reading half of a send's plan: its recipients (the subscription-token listing), its journal,
the campaign's facts and a price per message; ``core.sends`` judges them.

The tokens a plan counted are kept in the session, so that apply freezes exactly the recipients the
plan showed (and a saved plan is stale when they have changed since).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType

from reconciler.clock import from_utc_text, utc_text
from reconciler.commands.session import Session
from reconciler.core.plan import Action, Plan
from reconciler.core.sends import OPEN, SENT, CampaignFacts, Recipients, plan_send, recipients_digest
from reconciler.errors import UnexpectedAnswer, UsageError
from reconciler.kinds import campaign as campaign_kind
from reconciler.kinds import send as send_kind
from reconciler.kinds import unsubscribe
from reconciler.kinds.send import COOLDOWN
from reconciler.manifest.discovery import display_path
from reconciler.members import optouts
from reconciler.members.memberfile import MemberFileError
from reconciler.operation import Operation
from reconciler.resources import MAKING, REMOVING, Change, LiveObject, Op
from reconciler.state.model import State

log = logging.getLogger("mmctl")


def with_unsubscribes(session: Session, made: Plan) -> Plan:
    """The unsubscribe file against the journal: how many people are new, who is done already. Keeps
    in the session who they are, and the tokens no send may go to (also once the block is gone)."""
    done = {row.recipient for row in session.store.journal(unsubscribe.ADDRESS) if row.status == SENT}
    session.unsubscribed = _tokens_of(done)
    action = next((a for a in made.actions if a.address == unsubscribe.ADDRESS and a.action != Op.FORGET), None)
    optout = session.project.unsubscribes
    if action is None or optout is None:
        return made
    try:
        entries, problems = optouts.read(optout.file, hashed=optout.hashed, default_country=optout.default_country)
    except (MemberFileError, OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{action.address}: unsubscribe file {display_path(optout.file)}: {exc}") from exc
    new = [e for e in entries if e.key not in done]
    session.optouts = new
    session.unsubscribed = _tokens_of(done | {e.key for e in new})
    changes = (
        Change("people", None, f"{len(entries):,} in {display_path(optout.file)}"),
        Change("already unsubscribed by mmctl", None, f"{len(entries) - len(new):,}"),
        Change("to unsubscribe", None, f"{len(new):,}"),
    )
    notes = (
        "unsubscribed at the Page level: they get no marketing message from any campaign; removing someone from "
        "the file later does not subscribe them again, and removing someone from an audience does not unsubscribe "
        "them",
    )
    after = MappingProxyType(
        {**action.after, "people": len(entries), "new_digest": recipients_digest(e.key for e in new)}
    )
    if not new:
        found = replace(action, action=Op.NOOP, reason=f"up to date: {len(entries):,} people unsubscribed", after=after)
    else:
        op = Op.CREATE if action.action == Op.CREATE else Op.UPDATE
        why = f"{len(new):,} people to unsubscribe from the Page's marketing messages"
        found = replace(action, action=op, reason=why, changes=changes, notes=notes, after=after)
    warnings = tuple(f"{action.address}: {display_path(optout.file)}: {p} (row left out)" for p in problems[:5])
    if len(problems) > 5:
        warnings += (f"{action.address}: and {len(problems) - 5:,} more rows left out",)
    return replace(
        made,
        actions=tuple(found if a.address == action.address else a for a in made.actions),
        warnings=made.warnings + warnings,
    )


def _tokens_of(keys: set[str]) -> frozenset[str]:
    """The subscription tokens among unsubscribe journal keys (people by email or phone have none)."""
    return frozenset(key.partition(":")[2] for key in keys if key.startswith("token:"))


def with_sends(session: Session, made: Plan, state: State, live_by_id: Mapping[str, LiveObject]) -> Plan:
    """Every send's action judged against its recipients, journal and campaign (after
    ``with_unsubscribes``: the people it unsubscribes are left out)."""
    sends = [a for a in made.actions if a.kind == "send" and a.action == Op.SEND]
    if not sends:
        return made
    now = int(session.meta_now())
    by_address = {a.address: a for a in made.actions}
    recent = {who: int(from_utc_text(at)) for who, at in session.store.journal_recent(utc_text(now - COOLDOWN)).items()}
    priced: list[tuple[int, int] | None] = []  # Meta's price, asked once and only if a send is counted
    judged: dict[str, Action] = {}
    for action in sends:
        journal = {row.recipient: row.status for row in session.store.journal(action.address)}
        facts = _campaign(str(action.after["campaign"]), by_address, state, live_by_id)
        missing = [a for a in action.after["audiences"] if _audience_id(a, by_address, state) is None]
        if missing and not journal:
            judged[action.address] = replace(
                action,
                action=Op.WAIT,
                reason=f"{missing[0]} is created by this apply; its subscribers are read once Meta has "
                "matched its members (up to 24 hours)",
            )
            continue
        finished = bool(journal) and not any(status in OPEN for status in journal.values())
        # A finished send plans as no change whoever subscribed since: its tokens are not read.
        recipients = Recipients(frozenset(), {}) if finished else _recipients(session, action, by_address, state)
        if not finished and not priced:
            priced.append(_price(session))
        session.recipients[action.address] = tuple(sorted(recipients.tokens - session.unsubscribed))
        judged[action.address] = plan_send(
            action,
            campaign=facts,
            recipients=recipients,
            journal=journal,
            recently_sent=recent,
            now=now,
            price=priced[0] if priced else None,
            currency=made.currency,
            max_recipients=session.project.provider.max_send_recipients,
            unsubscribed=session.unsubscribed,
            zone=made.timezone,
        )
    return replace(made, actions=tuple(judged.get(a.address, a) for a in made.actions))


def _audience_id(address: str, by_address: Mapping[str, Action], state: State) -> str | None:
    planned = by_address.get(address)
    if planned is not None and planned.action in MAKING:
        return None
    if planned is not None and planned.ids.get("id"):
        return planned.ids["id"]
    known = state.resources.get(address)
    return known.ids.get("id") if known is not None else None


def _campaign(
    address: str, by_address: Mapping[str, Action], state: State, live_by_id: Mapping[str, LiveObject]
) -> CampaignFacts:
    """The campaign as it will be once this plan is applied (a new one has no id yet)."""
    planned = by_address.get(address)
    if planned is not None and (planned.action in MAKING or planned.action in REMOVING):
        return CampaignFacts(address, None, planned.after.get("status"))
    known = state.resources.get(address)
    message_id = (planned.ids.get("id") if planned is not None else None) or (known.ids.get("id") if known else None)
    live = live_by_id.get(message_id or "")
    values = dict(live.values) if live is not None else {}
    if planned is not None:
        # What this apply changes counts: a send behind a campaign being activated can go.
        changed = {c.path for c in planned.changes}
        values.update({k: v for k, v in planned.after.items() if k in changed})
    return CampaignFacts(
        address,
        message_id,
        values.get("status") or "ACTIVE",
        created=values.get("created_time"),
        start=values.get("start_time"),
        end=values.get("end_time"),
        daily_budget=values.get("daily_budget"),
        lifetime_budget=values.get("lifetime_budget"),
    )


def _tokens(session: Session, audience_ids: list[str]) -> dict[str, int | None]:
    """The tokens of the audiences (listed once per plan for each set of audiences)."""
    key = ("tokens", *sorted(audience_ids))
    listed: dict[str, int | None] | None = session.listed.get(key)
    if listed is not None:
        return listed
    path, params = send_kind.tokens_listing(session.project.provider.page_id, audience_ids)
    found: dict[str, int | None] = {}
    for row in session.client.pages(path, params, limit=send_kind.TOKENS_PAGE):
        token, eligible = send_kind.parse_token(row)
        found[token] = eligible
    session.listed[key] = found
    return found


def _recipients(session: Session, action: Action, by_address: Mapping[str, Action], state: State) -> Recipients:
    wanted = [i for i in (_audience_id(a, by_address, state) for a in action.after["audiences"]) if i]
    left_out = [i for i in (_audience_id(a, by_address, state) for a in action.after.get("exclude", ())) if i]
    tokens = _tokens(session, wanted)
    excluded = set(_tokens(session, left_out)) if left_out else set()
    now = session.meta_now()
    return Recipients(
        frozenset(t for t in tokens if t not in excluded),
        {t: e for t, e in tokens.items() if e is not None and e > now and t not in excluded},
    )


def _price(session: Session) -> tuple[int, int] | None:
    """The price of one message (low, high), from Meta's estimate for the Page's whole audience."""
    values = {"page_id": session.project.provider.page_id}
    estimate = campaign_kind.estimate_read(session.project.provider.ad_account, values, 0)
    params = {k: v for k, v in estimate.params.items() if k not in ("daily_budget", "lifetime_budget")}
    result = session.client.batch([Operation("GET", estimate.path, params)])[0]
    if not result.ok:
        log.info("no delivery estimate for sends: %s", result.error)
        return None
    try:
        (low_n, high_n), (low_cost, high_cost) = campaign_kind.parse_estimate(result.body)
    except UnexpectedAnswer:
        return None
    if not low_n or not high_n:
        return None
    return low_cost // low_n, -(-high_cost // high_n)
