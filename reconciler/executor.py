"""The executor: carries a plan out without losing an id or duplicating a paid campaign.

Before a batch of mutating calls, each call is recorded in state as a pending operation (and the
state written); after the batch, every confirmed result is recorded and its pending entry
removed (and the state written again). A create whose answer was lost is looked up by name at
once and adopted if it exists; otherwise it stays pending and the next plan resolves it. One
failed action does not lose the results of the others.

Order: deletes first, in reverse creation order (``kinds.ordered()``: campaigns, then audiences,
then templates), then each kind in creation order is created, adopted and updated.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from itertools import islice
from types import MappingProxyType
from typing import Any

from reconciler import kinds
from reconciler.background import Ahead
from reconciler.clock import Sleep, system_sleep, utc_text
from reconciler.core.plan import Action, Plan
from reconciler.core.sends import INTENT, SENT
from reconciler.errors import GraphApiError, NotFound, OutcomeUnknown, UnexpectedAnswer
from reconciler.graph import account as graph_account
from reconciler.graph import live
from reconciler.graph.client import MAX_BATCH, GraphClient
from reconciler.kinds import audience, unsubscribe
from reconciler.kinds.base import FollowUp, ResourceKind
from reconciler.members import memberfile, optouts
from reconciler.members.memberfile import Prepared
from reconciler.members.optouts import OptOut
from reconciler.model import freeze
from reconciler.operation import Operation, Result
from reconciler.resources import MAKING, REMOVING, Account, Kind, Op
from reconciler.sending import SendRunner, counts_text
from reconciler.state.model import Entry, JournalRow, Pending, Resource, State, pending_entry
from reconciler.state.store import StateStore

Progress = Callable[[str], None]


@dataclass
class Report:
    """What apply did and did not do; ``state`` is what was last written."""

    state: State
    done: list[tuple[str, str]] = field(default_factory=list)  # (address, what happened)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (address, why)
    notices: list[tuple[str, str]] = field(default_factory=list)  # (address, what Meta said: info/warning)

    @property
    def ok(self) -> bool:
        return not self.failed


RUN = 2_000  # creates recorded pending, made and recorded together: 40 batch requests, 5 rounds of 8


@dataclass(frozen=True)
class _FollowUpAnswers:
    unread: list[tuple[Action, FollowUp, Exception | None]]  # created, but its ids could not be read: why
    owners: list[tuple[Action, FollowUp]]  # whose each call was
    results: list[Result]  # the answers, in the order of ``owners``


@dataclass(frozen=True)
class _Run:
    """A run of creates recorded pending, and when."""

    actions: Sequence[Action]
    entries: Mapping[str, Pending]
    now: str


@dataclass(frozen=True)
class _Sending:
    run: _Run
    results: Ahead[list[Result]]


@dataclass(frozen=True)
class _FollowingUp:
    """A run's follow-up calls in flight, and the pending entries their answers settle."""

    pending: Mapping[str, Pending]
    answers: Ahead[_FollowUpAnswers]


def _as_created(
    action: Action, object_id: str, notices: tuple[str, ...] = (), since: str | None = None
) -> tuple[Resource, Pending | None]:
    """The resource a confirmed create leaves, as the server has it. A create that cannot carry
    every field (``message_campaign`` takes no status: a campaign meant to be PAUSED is ACTIVE until
    the pause is confirmed) leaves a pending update for the rest, so that an interrupted
    create-then-pause is finished by the next apply and never shown as somebody else's drift."""
    spec = kinds.spec(action.kind)
    applied, then = spec.as_created(spec.applied(action.after))
    pause = pending_entry(action.address, "update", since=since) if then is not None else None
    resource = Resource(
        action.kind, MappingProxyType({"id": object_id}), freeze(dict(applied)), action.protect, notices=notices
    )
    return resource, pause


class Executor:
    def __init__(
        self,
        client: GraphClient,
        store: StateStore,
        state: State,
        account: Account,
        progress: Progress = lambda line: None,
        *,
        members: Mapping[str, Prepared] | None = None,
        recipients: Mapping[str, Sequence[str]] | None = None,
        optouts: Sequence[OptOut] = (),
        unsubscribed: frozenset[str] = frozenset(),
        sleep: Sleep = system_sleep,
    ) -> None:
        self.client = client
        self.store = store
        self.account = account
        self.progress = progress
        self.report = Report(state)
        self.members = members or {}
        self.recipients = recipients or {}  # send address -> the tokens its plan counted
        self.optouts = list(optouts)  # the unsubscribe file's people not unsubscribed yet
        self.unsubscribed = unsubscribed  # tokens never to send to
        self.sleep = sleep

    @property
    def state(self) -> State:
        return self.report.state

    def _save(self, state: State) -> None:
        self.report.state = self.store.write(state)

    # -- the run

    def run(self, plan: Plan) -> Report:
        actions = list(plan.actions)
        for action in actions:
            kinds.spec(action.kind)  # an unknown kind stops the run before anything is changed
        if plan.refresh_only:
            self._refresh(plan)
            return self.report
        if self.state.account is None:
            self._save(replace(self.state, account=plan.account))
        self._delete([a for a in actions if a.action in REMOVING or a.action == Op.REPLACE])
        for spec in kinds.ordered():
            building = [a for a in actions if a.kind == spec.kind and a.action not in REMOVING]
            if spec.kind == Kind.SEND:
                self._send(building)
                continue
            if spec.kind == Kind.UNSUBSCRIBE:
                self._unsubscribe(building)
                continue
            if not spec.in_account:
                self._state_only(building)
                continue
            self._build(spec, building)
            if spec.has_members:
                for action in building:
                    self._sync_members(action)
        return self.report

    def _refresh(self, plan: Plan) -> None:
        """A refresh-only plan: state takes the live values; the account is not touched."""
        state = self.state
        for drift in plan.drift:
            known = state.resources.get(drift.address)
            if known is None:
                continue
            if any(c.path == "(object)" for c in drift.changes):
                state = state.with_resource(drift.address, None)
                self._note(drift.address, "forgotten (deleted outside mmctl)")
                continue
            applied = {**known.applied, **{c.path: c.after for c in drift.changes}}
            state = state.with_resource(drift.address, Resource(known.kind, known.ids, freeze(applied), known.protect))
            self._note(drift.address, f"state refreshed ({', '.join(c.path for c in drift.changes)})")
        if state is not self.state:
            self._save(state)

    def _note(self, address: str, what: str) -> None:
        self.report.done.append((address, what))
        self.progress(f"{address}: {what}")

    def _fail(self, address: str, why: str) -> None:
        self.report.failed.append((address, why))
        self.progress(f"{address}: FAILED: {why}")

    # -- audience members

    def _sync_members(self, action: Action) -> None:
        """Upload the added people and remove the departed, in sessions of 10,000-row batches.

        Each confirmed batch is recorded in the pending entry, so a crash resumes after it instead of
        sending it again; the store's record of the upload is replaced only at the end.
        """
        planned = action.after.get("members")
        resource = self.state.resources.get(action.address)
        stale = [p.id for p in self.state.pending if p.address == action.address and p.operation == "members"]
        if isinstance(planned, Mapping) and not (planned["add"] or planned["remove"]) and stale:
            self._save(self.state.without_pending(*stale))  # the file went back to what was uploaded
        if isinstance(planned, Mapping) and not (planned["add"] or planned["remove"]) and resource is not None:
            self._remember_source(action.address, planned)
        if not isinstance(planned, Mapping) or not (planned["add"] or planned["remove"]) or resource is None:
            return
        prepared = self.members.get(action.address)
        if prepared is None:
            self._fail(action.address, "the member file was not read in this run; run `mmctl plan` again")
            return
        address = action.address

        def stored() -> Iterator[Entry]:
            return self.store.member_entries(address)

        if action.action in MAKING:
            self.store.drop_members(address)  # a new audience starts with nobody
        audience_id = resource.ids["id"]
        digest = f"{planned['digest']}:{planned['add']}:{planned['remove']}"
        resumed = next(
            (
                p
                for p in self.state.pending
                if p.address == action.address and p.operation == "members" and p.digest == digest
            ),
            None,
        )
        phases: list[tuple[str, int, Iterator[list[str]]]] = [
            ("add", int(planned["add"]), memberfile.additions(prepared, stored)),
            ("remove", int(planned["remove"]), (list(pair) for pair in memberfile.removals(prepared, stored))),
        ]
        for phase, count, rows in phases:
            if not count or (resumed is not None and resumed.phase == "remove" and phase == "add"):
                continue
            if resumed is not None and resumed.phase == phase:
                entry = resumed
            else:
                entry = replace(
                    pending_entry(action.address, "members"),
                    session=secrets.randbelow(2**62) + 1,
                    phase=phase,
                    done=0,
                    digest=digest,
                )
            if not self._upload(action, audience_id, prepared, phase, count, rows, entry):
                return
            resumed = None
        self.store.save_members(address, memberfile.entries(prepared))
        settled = [p.id for p in self.state.pending if p.address == action.address and p.operation == "members"]
        uploaded = replace(
            self.state.resources[action.address],
            members=freeze(_upload_record(planned)),
        )
        self._save(self.state.with_resource(action.address, uploaded).without_pending(*settled))
        self._note(action.address, f"members +{planned['add']} / -{planned['remove']} (now {planned['count']})")

    def _remember_source(self, address: str, planned: Mapping[str, Any]) -> None:
        """An upload recorded before mmctl kept the file's fingerprint, whose file is unchanged:
        keep the fingerprint now, so that the next plan need not read the file again."""
        resource = self.state.resources[address]
        recorded = resource.members
        if recorded is None or recorded.get("digest") != planned["digest"] or not planned.get("source"):
            return
        if recorded.get("source") != planned["source"] and recorded.get("count") == planned["count"]:
            self._save(self.state.with_resource(address, replace(resource, members=freeze(_upload_record(planned)))))

    def _upload(
        self,
        action: Action,
        audience_id: str,
        prepared: Prepared,
        phase: str,
        count: int,
        rows: Iterator[list[str]],
        entry: Pending,
    ) -> bool:
        total = -(-count // audience.MAX_ROWS)
        state = self.state.without_pending(*[p.id for p in self.state.pending if p.id == entry.id])
        self._save(state.with_pending(entry))
        for seq in range(1, total + 1):
            batch = list(islice(rows, audience.MAX_ROWS))
            if seq <= (entry.done or 0):
                continue  # Meta confirmed this batch before an interruption
            session = {
                "session_id": entry.session,
                "batch_seq": seq,
                "last_batch_flag": seq == total,
                "estimated_num_total": count,
            }
            op = (
                audience.users_add(audience_id, prepared.schema, batch, session)
                if phase == "add"
                else audience.users_remove(audience_id, batch, session)
            )
            try:
                self.client.call(op.method, op.path, op.params, kind="update")
            except GraphApiError as exc:
                self._fail(
                    action.address,
                    f"member {phase} batch {seq}/{total} failed: {exc}; the next apply resumes "
                    "after the last confirmed batch",
                )
                return False
            entry = replace(entry, done=seq)
            self._save(self.state.without_pending(entry.id).with_pending(entry))
            self.progress(f"{action.address}: members {'added' if phase == 'add' else 'removed'}, batch {seq}/{total}")
        return True

    # -- deletes (and the first half of replaces)

    def _delete(self, actions: Sequence[Action]) -> None:
        forget = [a for a in actions if a.action == Op.FORGET]
        for action in forget:
            self._save(self.state.with_resource(action.address, None).without_pending(*action.resolves))
            self._note(action.address, "forgotten (nothing to delete)")
        for spec in reversed(kinds.in_account()):
            batch = [a for a in actions if a.kind == spec.kind and a.action in (Op.DELETE, Op.REPLACE)]
            if not batch:
                continue
            now = utc_text()
            entries = {a.address: pending_entry(a.address, "delete", since=now) for a in batch}
            self._save(self.state.with_pending(*entries.values()))
            results = self.client.batch([spec.delete(a.ids) for a in batch])
            state = self.state
            for action, result in zip(batch, results):
                entry = entries[action.address]
                if result.ok or isinstance(result.error, NotFound):
                    state = state.with_resource(action.address, None).without_pending(entry.id, *action.resolves)
                    if spec.has_members:
                        self.store.drop_members(action.address)
                    self._note(action.address, "deleted" if action.action == Op.DELETE else "deleted (replacing)")
                else:
                    state = state.without_pending(entry.id)
                    self._fail(action.address, f"delete failed: {result.error}")
            self._save(state)

    # -- kinds kept in state only (templates)

    def _state_only(self, actions: Sequence[Action]) -> None:
        made: dict[str, Resource | None] = {}
        settled: list[str] = []
        for action in actions:
            known = self.state.resources.get(action.address)
            if not action.mutates and not action.resolves and known is not None:
                continue
            applied = kinds.spec(action.kind).applied(action.after)
            made[action.address] = Resource(action.kind, MappingProxyType({}), applied, action.protect)
            settled += action.resolves
            if action.mutates:
                self._note(action.address, f"{action.action}d (kept in state)")
        if made:
            self._save(self.state.with_resources(made).without_pending(*settled))

    # -- unsubscribes

    def _unsubscribe(self, actions: Sequence[Action]) -> None:
        """The new people of the unsubscribe file, 1,000 to a request, each journaled once. A request
        that fails leaves its people in flight: the next apply sends them again, which is harmless."""
        for action in actions:
            if action.action not in (Op.CREATE, Op.UPDATE):
                continue
            address, page_id = action.address, str(action.after["page_id"])
            self.store.journal_start(address, [e.key for e in self.optouts], utc_text())
            done = invalid = 0
            for batch in optouts.batches(self.optouts, unsubscribe.BATCH_ROWS):
                self.store.journal_mark(address, [JournalRow(e.key, INTENT, None, None, utc_text()) for e in batch])
                try:
                    call = unsubscribe.unsubscribe(page_id, [e.row for e in batch])
                    body = self.client.call(call.method, call.path, call.params, kind=call.kind)
                    invalid += unsubscribe.parse_invalid(body)
                except (GraphApiError, UnexpectedAnswer) as exc:
                    self._fail(address, f"unsubscribing stopped after {done:,} people: {exc}; the next apply goes on")
                    break
                detail = f"Meta counted {invalid:,} invalid row(s) in this request" if invalid else None
                self.store.journal_mark(address, [JournalRow(e.key, SENT, detail, None, utc_text()) for e in batch])
                done += len(batch)
            else:
                applied = kinds.spec(action.kind).applied(action.after)
                resource = Resource(action.kind, MappingProxyType({}), freeze(dict(applied)))
                self._save(self.state.with_resource(address, resource))
                shown = f" (Meta counted {invalid:,} invalid)" if invalid else ""
                self._note(address, f"{done:,} people unsubscribed at the Page level{shown}")

    # -- sends

    def _send(self, actions: Sequence[Action]) -> None:
        """Each send to be carried out now, after everything else (its campaign exists by then)."""
        runner = SendRunner(
            self.client,
            self.store,
            self.account.id,
            self.progress,
            self.sleep,
            max_wait=max(60.0, self.client.retry.max_wait),
        )
        for action in actions:
            if action.action != Op.SEND:
                continue
            address = action.address
            campaign = self.state.resources.get(str(action.after.get("campaign")))
            message_id = campaign.ids.get("id") if campaign is not None else None
            if not message_id:
                self._fail(
                    address, f"{action.after.get('campaign')} has no id in state (was it created?); nothing sent"
                )
                continue
            if address not in self.state.resources:
                tokens = self.recipients.get(address)
                if tokens is None:
                    self._fail(address, "its recipients were not read by this plan; nothing sent (run plan again)")
                    continue
                self.report.state = runner.start(self.state, action, message_id, tokens)
                self.progress(f"{address}: started: {len(tokens):,} recipients frozen in the journal")
            counts, stop, unknown = runner.run(action, message_id, self.unsubscribed)
            done = counts_text(counts, "nothing to send now")
            if stop is not None:
                when = f" after {utc_text(stop.resume_at)}" if stop.resume_at else " once that is done"
                self._fail(
                    address,
                    f"stopped: {stop.why}. This run: {done}. The recipients left stay pending: the next apply"
                    f"{when} sends to them, nobody twice",
                )
            elif unknown:
                self._fail(
                    address,
                    f"{done}; {unknown:,} recipient(s) have an unknown outcome and are not sent again "
                    f"(mmctl send status {address.partition('.')[2]})",
                )
            else:
                self._note(address, f"done: {done}")

    # -- kinds that live in the account

    def _build(self, spec: ResourceKind, actions: Sequence[Action]) -> None:
        failed_deletes = {address for address, _ in self.report.failed}
        creates = [a for a in actions if a.action in MAKING and a.address not in failed_deletes]
        adopts = [a for a in actions if a.action == Op.ADOPT]
        updates = [a for a in actions if a.action == Op.UPDATE]
        settled = self._settle([a for a in actions if a.action == Op.NOOP])
        if settled is not self.state:
            self._save(settled)
        if adopts:
            adopted = {
                a.address: Resource(spec.kind, MappingProxyType({"id": a.ids["id"]}), spec.applied(a.before), a.protect)
                for a in adopts
            }
            resolved = [p for a in adopts for p in a.resolves]
            self._save(self.state.with_resources(adopted).without_pending(*resolved))
            for action in adopts:
                self._note(action.address, f"adopted (id {action.ids['id']})")
        # In runs: a kill leaves at most two runs' creates pending (and the last run's follow-ups), and
        # two runs' calls and answers, with the last run's follow-up, are all that is held at once
        # (100,000 creates were 100,000 operations and answers in memory).
        runs = [creates[start : start + RUN] for start in range(0, len(creates), RUN)]
        following: _FollowingUp | None = None
        sending = self._send_run(spec, self._record_pending(runs[0])) if runs else None
        for index in range(len(runs)):
            assert sending is not None
            # Each call finishes the follow-up it is given, whatever happens in it.
            following, sending = self._create(spec, sending, following, runs[index + 1 : index + 2])
        if following is not None:
            self._follow_up_done(following)
        self._update(spec, updates + [a for a in adopts if a.changes])

    def _settle(self, actions: Sequence[Action]) -> State:
        """Up-to-date resources: clear their pending entries and refresh what state says was applied."""
        refreshed: dict[str, Resource | None] = {}
        settled: list[str] = []
        for action in actions:
            known = self.state.resources.get(action.address)
            applied = kinds.spec(action.kind).applied(action.after)
            if known is not None and (known.applied != applied or known.protect != action.protect):
                refreshed[action.address] = replace(known, applied=applied, protect=action.protect)
            settled += action.resolves
        if not refreshed and not settled:
            return self.state
        return self.state.with_resources(refreshed).without_pending(*settled)

    def _meta_said(self, address: str, notices: Sequence[str]) -> None:
        for notice in notices:
            self.report.notices.append((address, notice))
            self.progress(f"{address}: Meta says {notice}")

    def _record_pending(self, actions: Sequence[Action]) -> _Run:
        """A run of creates, recorded pending (before any of it is sent: a kill then leaves entries
        the next plan resolves, never a create nobody knows of)."""
        now = utc_text()
        entries = {a.address: pending_entry(a.address, "create", a.after.get("name"), now) for a in actions}
        self._save(self.state.with_pending(*entries.values()))
        return _Run(actions, entries, now)

    def _send_run(self, spec: ResourceKind, run: _Run) -> _Sending:
        calls = [spec.create(self.account.id, a.after) for a in run.actions]
        return _Sending(run, Ahead(partial(self.client.batch, calls), name="mmctl-creates"))

    def _create(
        self,
        spec: ResourceKind,
        sending: _Sending,
        following: _FollowingUp | None,
        upcoming: Sequence[Sequence[Action]],
    ) -> tuple[_FollowingUp | None, _Sending | None]:
        """Record what came back from a run of creates in flight, and send what follows it, so that
        the requests in flight never run dry while answers are recorded: the next run (``upcoming``,
        when there is one) is recorded pending while this one is on the wire and sent the moment
        its answers are in; this run's follow-up is sent before its creates are recorded; and
        ``following``, the last run's follow-up, is recorded last. A create whose answer was lost
        holds the next run back until it is resolved: that looks the create up by name, and a
        create of the next run with the same name must not be in the account yet."""
        run = sending.run
        next_run = self._record_pending(upcoming[0]) if upcoming else None
        sent_next: _Sending | None = None
        try:
            results = sending.results.result()
            if next_run is not None and not any(isinstance(r.error, OutcomeUnknown) for r in results):
                sent_next = self._send_run(spec, next_run)
            created, pauses = self._created(spec, run.actions, run.entries, results, run.now)
            ahead = self._follow_up(spec, created, pauses)
            if next_run is not None and sent_next is None:
                sent_next = self._send_run(spec, next_run)
        except BaseException:
            try:
                if sent_next is not None:
                    self._record_sent(spec, sent_next)
                elif next_run is not None:
                    self._save(self.state.without_pending(*(e.id for e in next_run.entries.values())))  # never sent
            finally:
                if following is not None:
                    self._follow_up_done(following)  # what it confirmed is recorded, whatever happened here
            raise
        if following is not None:
            try:
                self._follow_up_done(following)
            except BaseException:
                if sent_next is not None:
                    self._record_sent(spec, sent_next)  # what is on the wire is recorded before the error
                raise
        return ahead, sent_next

    def _record_sent(self, spec: ResourceKind, sending: _Sending) -> None:
        """A run of creates on the wire when something failed: its answers are recorded all the same."""
        run = sending.run
        self._created(spec, run.actions, run.entries, sending.results.result(), run.now)

    def _created(
        self,
        spec: ResourceKind,
        actions: Sequence[Action],
        entries: Mapping[str, Pending],
        results: Sequence[Result],
        now: str,
    ) -> tuple[list[tuple[Action, str]], dict[str, Pending]]:
        """State takes the confirmed creates; a create whose answer was lost is looked up by name
        (no other create of this apply is in flight then: ``_create`` holds the next run back)."""
        made: dict[str, Resource | None] = {}
        settled: list[str] = []
        pauses: dict[str, Pending] = {}
        created: list[tuple[Action, str]] = []
        unknown: list[Action] = []
        for action, result in zip(actions, results):
            entry = entries[action.address]
            if result.ok:
                object_id = graph_account.parse_created_id(result.body)
                notices = graph_account.server_notices(result.body)
                made[action.address], pause = _as_created(action, object_id, notices, now)
                if pause is not None:
                    pauses[action.address] = pause
                settled += [entry.id, *action.resolves]
                created.append((action, object_id))
            elif isinstance(result.error, OutcomeUnknown):
                unknown.append(action)
            else:
                settled.append(entry.id)
                self._fail(action.address, f"create failed: {result.error}")
        self._save(self.state.with_resources(made).without_pending(*settled).with_pending(*pauses.values()))
        for action, object_id in created:
            self._note(action.address, f"created (id {object_id})")
            created_resource = made[action.address]
            self._meta_said(action.address, created_resource.notices if created_resource is not None else ())
        if unknown:
            found, found_pauses = self._resolve_unknown(spec, unknown, entries)
            created += found
            pauses.update(found_pauses)
        return created, pauses

    def _resolve_unknown(
        self,
        spec: ResourceKind,
        actions: Sequence[Action],
        entries: Mapping[str, Pending],
    ) -> tuple[list[tuple[Action, str]], dict[str, Pending]]:
        """Creates whose answer was lost: look them up by name; adopt what exists. A request the
        client gave up on may still be carried out after it, so the lookup waits for that first:
        looking too early would find nothing, and the next run would create a duplicate."""
        wait = max(0.0, self.client.retry.settle - self.client.retry.timeout)  # the call itself waited ``timeout``
        if wait:
            self.progress(
                f"waiting {wait:g}s before looking up {len(actions)} create(s) whose answer was lost (Meta may "
                "still carry them out)"
            )
            self.sleep(wait)
        try:
            found = live.read_kind(self.client, self.account.id, spec.kind)
        except GraphApiError as exc:
            for action in actions:
                self._fail(
                    action.address,
                    f"the create may or may not have happened, and looking it up failed "
                    f"({exc}); it stays pending and the next plan resolves it",
                )
            return [], {}
        adopted: list[tuple[Action, str]] = []
        pauses: dict[str, Pending] = {}
        claimed = {r.ids.get("id") for r in self.state.resources.values()}
        by_name: dict[Any, list[str]] = {}  # unclaimed live ids by name, in listing order
        for obj in found:
            if obj.id not in claimed:
                by_name.setdefault(obj.values.get("name"), []).append(obj.id)
        made: dict[str, Resource | None] = {}
        settled: list[str] = []
        for action in actions:
            candidates = by_name.get(action.after.get("name"), [])
            if not candidates:
                self._fail(
                    action.address,
                    "the create got no answer and the object is not in the account; it stays "
                    "pending and the next apply creates it",
                )
                continue
            object_id = candidates.pop(0)
            made[action.address], pause = _as_created(action, object_id)
            settled += [entries[action.address].id, *action.resolves]
            if pause is not None:
                pauses[action.address] = pause
            self._note(action.address, f"created (id {object_id}; found after the answer was lost)")
            adopted.append((action, object_id))
        self._save(self.state.with_resources(made).without_pending(*settled).with_pending(*pauses.values()))
        return adopted, pauses

    def _follow_up(
        self, spec: ResourceKind, created: Sequence[tuple[Action, str]], pending: Mapping[str, Pending]
    ) -> _FollowingUp | None:
        """What a create could not carry, sent right after it (``message_campaign`` takes no status:
        a campaign meant to be PAUSED is paused now), in the background; ``_follow_up_done`` records
        the answers."""
        todo = [(a, i) for a, i in created if a.address in pending]
        if not todo:
            return None
        return _FollowingUp(pending, Ahead(partial(self._follow_up_calls, spec, todo), name="mmctl-follow-up"))

    def _follow_up_calls(self, spec: ResourceKind, todo: Sequence[tuple[Action, str]]) -> _FollowUpAnswers:
        """The calls of a follow-up and their answers; nothing here touches state or the report
        (it runs beside the main thread)."""
        listed = self._ids_listed(spec, [i for _, i in todo])
        alone = [i for _, i in todo if i not in listed]
        reads = dict(zip(alone, self.client.batch([spec.ids_read(i) for i in alone]) if alone else ()))
        unread: list[tuple[Action, FollowUp, Exception | None]] = []
        ops: list[Operation] = []
        owners: list[tuple[Action, FollowUp]] = []
        for action, object_id in todo:
            _, then = spec.as_created(spec.applied(action.after))
            assert then is not None  # the pending entry was made for it
            ids, error = listed.get(object_id), None
            if ids is None:
                result = reads[object_id]
                error = result.error
                try:
                    ids = spec.parse_ids(result.body) if result.ok else None
                except UnexpectedAnswer as exc:
                    ids, error = None, exc
            if ids is None:
                unread.append((action, then, error))
                continue
            for op in spec.updates(ids, then.changes):
                ops.append(op)
                owners.append((action, then))
        return _FollowUpAnswers(unread, owners, self.client.batch(ops) if ops else [])

    def _follow_up_done(self, following: _FollowingUp) -> None:
        """State takes what a follow-up changed (and its pending update is settled) only once Meta
        confirmed it."""
        answers, pending = following.answers.result(), following.pending
        for action, then, error in answers.unread:
            self._fail(
                action.address,
                f"created, but could not read its {action.kind} id to {then.verb} it: "
                f"{error}; {then.meanwhile}, and the next apply {then.verb}s it",
            )
        failed: set[str] = set()
        confirmed: dict[str, FollowUp] = {}
        for (action, then), result in zip(answers.owners, answers.results):
            if result.ok:
                confirmed.setdefault(action.address, then)
            elif action.address not in failed:
                failed.add(action.address)
                self._fail(
                    action.address,
                    f"created, but {then.gerund} it failed: {result.error}; {then.meanwhile}, "
                    f"and the next apply {then.verb}s it",
                )
        done: dict[str, Resource | None] = {}
        for address, then in confirmed.items():
            if address in failed:
                continue  # one of its calls failed: it stays pending, and the next apply finishes it
            known = self.state.resources[address]
            done[address] = replace(known, applied=freeze({**known.applied, **then.changes}))
            self._note(address, then.done)
        # One new state for all of them: a copy per confirmed update made 10,000 pauses quadratic.
        self._save(self.state.with_resources(done).without_pending(*(pending[a].id for a in done)))

    def _ids_listed(self, spec: ResourceKind, object_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """The ids behind many new objects, read through the kind's filtered listings (a few
        requests instead of one read per 50 objects); what they miss or fail is read one by one."""
        if len(object_ids) <= MAX_BATCH:
            return {}  # one batch of single reads: as few requests, and the simplest answer
        found: dict[str, dict[str, str]] = {}
        for result in self.client.batch(spec.ids_listings(self.account.id, object_ids)):
            rows = result.body.get("data") if result.ok and isinstance(result.body, dict) else None
            for row in rows if isinstance(rows, list) else ():
                try:
                    ids = spec.parse_ids(row)
                except UnexpectedAnswer:
                    continue
                found[ids["id"]] = ids
        wanted = set(object_ids)
        return {k: v for k, v in found.items() if k in wanted}

    def _update(self, spec: ResourceKind, actions: Sequence[Action]) -> None:
        if not actions:
            return
        ops: list[Operation] = []
        owner: list[Action] = []
        entries = {}
        for action in actions:
            changed = {c.path: action.after.get(c.path) for c in action.changes if c.path != "protect"}
            for op in spec.updates(action.ids, changed):
                ops.append(op)
                owner.append(action)
            entries[action.address] = pending_entry(action.address, "update")
        self._save(self.state.with_pending(*entries.values()))
        results: list[Result] = self.client.batch(ops) if ops else []
        errors: dict[str, str] = {}
        said: dict[str, tuple[str, ...]] = {}
        for action, result in zip(owner, results):
            if not result.ok:
                errors[action.address] = str(result.error)
            else:
                said[action.address] = said.get(action.address, ()) + graph_account.server_notices(result.body)
        resources: dict[str, Resource | None] = {}
        settled: list[str] = []
        for action in actions:
            entry = entries[action.address]
            settled.append(entry.id)
            if action.address in errors:
                self._fail(action.address, f"update failed: {errors[action.address]}")
                continue
            known = self.state.resources.get(action.address)
            notices = said.get(action.address, ())
            if known is not None:
                resources[action.address] = replace(
                    known, applied=spec.applied(action.after), protect=action.protect, notices=notices or known.notices
                )
            else:
                resources[action.address] = Resource(
                    spec.kind,
                    MappingProxyType({"id": action.ids["id"]}),
                    spec.applied(action.after),
                    action.protect,
                    notices=notices,
                )
            settled += action.resolves
            if action.action == Op.UPDATE:
                fields = ", ".join(c.path for c in action.changes)
                self._note(action.address, f"updated ({fields})")
            self._meta_said(action.address, notices)
        self._save(self.state.with_resources(resources).without_pending(*settled))


def _upload_record(planned: Mapping[str, Any]) -> dict[str, Any]:
    """What state keeps of a confirmed upload: its count, the digest of its members, and the
    fingerprint of the file it came from (when the plan had one)."""
    record = {"count": planned["count"], "digest": planned["digest"]}
    if planned.get("source"):
        record["source"] = planned["source"]
    return record
