"""``mmctl plan``: read state and the live account, plan, check the money rules. Changes nothing.

The plan gets the money summary and guardrail results (``core.costs``), Meta's delivery
estimates for campaigns whose budget is new or changed, and each audience's member-file diff
against the last upload kept in the state store.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from reconciler.background import Ahead
from reconciler.clock import from_utc_text, utc_text
from reconciler.commands.sends import with_sends, with_unsubscribes
from reconciler.commands.session import Session
from reconciler.core import costs
from reconciler.core.desired import desired_state
from reconciler.core.plan import Action, Estimate, MemberChange, Plan, with_members
from reconciler.core.planner import make_plan
from reconciler.errors import (
    ManifestError,
    ManifestErrors,
    PlanError,
    ReconcilerError,
    SourceLocation,
    UnexpectedAnswer,
    UsageError,
)
from reconciler.graph import live
from reconciler.kinds import campaign
from reconciler.manifest.discovery import display_path
from reconciler.members import memberfile
from reconciler.model import Members, Project
from reconciler.money import MoneyError, to_minor
from reconciler.resources import MAKING, REMOVING, Account, Kind, LiveObject, Op
from reconciler.state.model import State
from reconciler.state.store import StateStore

log = logging.getLogger("mmctl")


def plan(
    session: Session, *, targets: Sequence[str] = (), refresh_only: bool = False, estimate: bool = True
) -> tuple[Plan, Account]:
    """Read state and the live account, and plan, checking the money rules. Changes nothing."""
    state = session.read_state()
    provider = session.project.provider
    _let_lost_creates_settle(session, state)
    ahead, session.live_ahead = session.live_ahead, None
    # A reading made before the state was read may miss a create an interrupted run left pending.
    lost = any(entry.operation == "create" for entry in state.pending)
    if ahead is not None and not lost:
        found = ahead.result()
    else:
        if ahead is not None:
            _finished(ahead)  # one reading at a time on the client
        found = live.read_live(session.client, provider.ad_account)
    account, objects = found.account, found.objects
    desired = desired_state(session.project, account)
    now = session.now()
    made = make_plan(
        desired,
        state,
        objects,
        account=provider.ad_account,
        graph=session.graph,
        currency=account.currency,
        now=now,
        targets=targets,
        refresh_only=refresh_only,
    )
    made = replace(
        made,
        page_id=provider.page_id,
        targets=tuple(targets),
        state_backend=session.store.backend,
        state_key=session.store.key,
        timezone=provider.timezone or account.timezone_name,
    )
    touched = [a for a in made.actions if costs.budget_touched(a)]
    warnings = costs.check_rules(
        made.actions, _limits(session.project, account), found.min_daily, account.currency, now
    )
    estimates = _estimates(session, touched, now) if estimate and touched else ()
    made = replace(
        made,
        spend=costs.spend(made.actions, now),
        estimates=estimates,
        warnings=tuple(str(w) for w in session.project.warnings) + made.warnings + warnings,
    )
    if not refresh_only:
        live_by_id = {o.id: o for o in objects}
        made = _with_members(session, made, state, live_by_id)
        made = with_sends(session, with_unsubscribes(session, made), state, live_by_id)
    return made, account


def _finished(ahead: Ahead[live.Live]) -> None:
    try:
        ahead.result()
    except ReconcilerError:
        pass  # a reading not used: its failure is not this plan's


def _let_lost_creates_settle(session: Session, state: State) -> None:
    """A create of an interrupted run may still be carried out by Meta for a while after it was
    sent; reading the account before then would find nothing and plan the create again (a
    duplicate paid campaign). Wait, once, until the newest such create has settled."""
    sent = []
    for entry in state.pending:
        if entry.operation == "create":
            try:
                sent.append(from_utc_text(entry.since))
            except ValueError:
                continue  # a hand-edited time: nothing to wait for
    if not sent:
        return
    wait = max(sent) + 1 + session.client.retry.settle - session.clock()  # ``since`` is to the second
    if wait > 0:
        log.warning(
            f"waiting {wait:.0f}s: an interrupted create from {utc_text(max(sent))} may still be carried out "
            "by Meta, and the plan must see it"
        )
        session.sleep(wait)


MATCH_RATE = (0.2, 0.7)  # graph-api.md §3: "Match rates typically range from 20% to 70%"
MIN_MATCHED = 100  # Meta returns no subscription tokens for an audience with fewer matched people


def _with_members(session: Session, made: Plan, state: State, live_by_id: Mapping[str, LiveObject]) -> Plan:
    """Hash each audience's member file and diff it with the last upload: ``members: +N / -M``."""
    changes: dict[str, MemberChange] = {}
    warnings: list[str] = []
    notes: list[str] = []
    for action in made.actions:
        if action.kind != Kind.AUDIENCE or action.action in REMOVING:
            continue
        key = action.address.partition(".")[2]
        audience = session.project.audiences.get(key)
        if audience is None or audience.members is None:
            continue
        fresh = action.action in MAKING  # a new audience starts empty
        _check_member_record(state, action, session.store, fresh)
        live_object = live_by_id.get(action.ids.get("id", ""))
        source = _fingerprint(action.address, audience.members)
        unchanged = _unchanged_upload(state, action, source)
        if unchanged is not None:
            changes[action.address] = unchanged
            found = memberfile.MemberDiff(add=0, remove=0, before=unchanged.count, after=unchanged.count)
            warnings += _member_warnings(action, None, audience.members.file, found, live_object)
            notes.append(
                f"{action.address}: {display_path(audience.members.file)} is byte for byte the file of the last "
                f"upload ({unchanged.count:,} members): not read again"
            )
            continue
        prepared = session.prepared(action.address, audience.members)
        last = memberfile.NOBODY if fresh else lambda: session.store.member_entries(action.address)
        found = memberfile.diff(prepared, last)
        changes[action.address] = MemberChange(
            found.before, found.after, found.add, found.remove, prepared.digest, source
        )
        warnings += _member_warnings(action, prepared, audience.members.file, found, live_object)
    return with_members(made, changes, warnings, notes)


def _fingerprint(address: str, members: Members) -> str:
    try:
        return memberfile.fingerprint(members.file, hashed=members.hashed, default_country=members.default_country)
    except OSError as exc:
        raise UsageError(f"{address}: member file {display_path(members.file)}: {exc.strerror or exc}") from exc


def _unchanged_upload(state: State, action: Action, source: str) -> MemberChange | None:
    """The member change of a file identical to the one last uploaded, or None when it must be
    read: a new or adopted audience, an upload left unfinished, a record without the file's
    fingerprint (written before mmctl kept one), or another file."""
    resource = state.resources.get(action.address)
    uploaded = resource.members if resource is not None else None
    if action.action not in (Op.NOOP, Op.UPDATE) or not uploaded or uploaded.get("source") != source:
        return None
    if any(p.address == action.address and p.operation == "members" for p in state.pending):
        return None
    count, digest = uploaded.get("count"), uploaded.get("digest")
    if not isinstance(count, int) or not isinstance(digest, str):
        return None
    return MemberChange(count, count, 0, 0, digest, source)


def _check_member_record(state: State, action: Action, store: StateStore, fresh: bool) -> None:
    """Refuse to plan members against a lost record of the last upload: everyone would look new, and
    nobody who left the file would ever be removed from the audience."""
    resource = state.resources.get(action.address)
    uploaded = resource.members if resource is not None else None
    if fresh or not uploaded or not uploaded.get("count") or store.has_members(action.address):
        return
    raise PlanError(
        f"{action.address}: the state says {uploaded['count']:,} members were uploaded, but the record of that "
        f"upload ({store.members_location(action.address)}) is missing, so mmctl cannot tell who has left the member file and "
        "would never remove them from the audience. Restore the record from a backup of the state folder; or, to "
        f"start the audience over, delete it (remove it from the manifests and apply) and declare it again"
    )


def _member_warnings(
    action: Action,
    prepared: memberfile.Prepared | None,  # None: the file was not read again (unchanged)
    file: Path,
    found: memberfile.MemberDiff,
    live_object: LiveObject | None,
) -> list[str]:
    out: list[str] = []
    shown = display_path(file)
    parts = []
    if prepared is not None and prepared.bad_cells:
        parts.append(
            f"{prepared.bad_cells} bad cell(s) in {prepared.partial_rows} row(s) are dropped (those people "
            "are uploaded with the identifiers that remain)"
        )
    if prepared is not None and prepared.bad_rows:
        parts.append(f"{prepared.bad_rows} row(s) are skipped (no usable email or phone left)")
    if parts and prepared is not None:
        details = "; ".join(str(p) for p in prepared.problems[:5])
        more = f"; and {len(prepared.problems) - 5} more" if len(prepared.problems) > 5 else ""
        out.append(f"{action.address}: {shown}: {' and '.join(parts)}: {details}{more}")
    if action.action == Op.ADOPT:
        out.append(
            f"{action.address}: adopted; mmctl does not know who is already in this audience, so people in it "
            "who are not in the member file are not removed"
        )
    live_values = live_object.values if live_object is not None else {}
    matched = live_values.get("approximate_count")
    if not found.add and not found.remove and isinstance(matched, int):
        if matched < MIN_MATCHED:
            out.append(
                f"{action.address}: Meta reports about {matched:,} matched people; Meta returns no subscription "
                f"tokens for an audience with fewer than {MIN_MATCHED} matched people"
            )
    elif prepared is not None:
        low, high = (int(prepared.count * rate) for rate in MATCH_RATE)
        if low < MIN_MATCHED:
            out.append(
                f"{action.address}: {prepared.count:,} people in the member file; Meta typically matches 20-70% "
                f"of a list (here about {low:,}-{high:,} people) and returns no subscription tokens for an "
                f"audience with fewer than {MIN_MATCHED} matched people"
            )
    status = live_values.get("operation_status")
    if not found.add and not found.remove and isinstance(status, Mapping) and status.get("code") not in (None, 200):
        out.append(
            f"{action.address}: the member file is unchanged, but Meta reports the audience as "
            f"{status.get('code')}: {status.get('description')}"
        )
    return out


def _limits(project: Project, account: Account) -> costs.Limits:
    provider = project.provider
    where = provider.location or SourceLocation(project.root.name)
    amounts: dict[str, int | None] = {}
    problems = []
    for key in ("max_daily_budget", "max_lifetime_budget", "max_total_daily_budget"):
        raw = getattr(provider, key)
        try:
            amounts[key] = to_minor(raw, account.currency) if raw is not None else None
        except MoneyError as exc:
            problems.append(ManifestError(where, ("provider", key), str(exc)))
    if problems:
        raise ManifestErrors(problems)
    return costs.Limits(amounts["max_daily_budget"], amounts["max_lifetime_budget"], amounts["max_total_daily_budget"])


def _estimates(session: Session, actions: Sequence[Action], now: int) -> tuple[Estimate, ...]:
    """Meta's delivery and cost estimates for campaigns whose budget is set or changed (batched)."""
    ad_account = session.project.provider.ad_account
    results = session.client.batch([campaign.estimate_read(ad_account, a.after, now) for a in actions])
    found = []
    for action, result in zip(actions, results):
        if result.ok:
            try:
                delivery, cost = campaign.parse_estimate(result.body)
            except UnexpectedAnswer:
                continue  # an estimate is advice: a plan without it is still the plan
            found.append(Estimate(action.address, delivery, cost))
    return tuple(found)
