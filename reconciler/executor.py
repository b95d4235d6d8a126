"""The executor: carries a plan out without losing an id or duplicating a paid campaign.

Before a batch of mutating calls, each call is recorded in state as a pending operation (and the
state written); after the batch, every confirmed result is recorded and its pending entry
removed (and the state written again). A create whose answer was lost is looked up by name at
once and adopted if it exists; otherwise it stays pending and the next plan resolves it. One
failed action does not lose the results of the others.

Order: deletes first (campaigns, then audiences, then templates), then templates, audiences and
campaigns are created, adopted and updated.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path
from types import MappingProxyType
from typing import Any

from reconciler.core.plan import Action, Plan
from reconciler.errors import GraphApiError, NotFound, OutcomeUnknown
from reconciler.graph import graphmap, live
from reconciler.graph.client import GraphClient, Operation, Result
from reconciler.graph.graphmap import Account
from reconciler.members import memberfile
from reconciler.members.memberfile import Prepared
from reconciler.model import freeze
from reconciler.state.local import Pending, Resource, State, StateStore, pending_entry

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


def _applied(action: Action, values: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    """What state remembers as applied: the compared values (and a template's message)."""
    source = values if values is not None else action.after
    if action.kind == "template":
        kept: Mapping[str, Any] = freeze({"digest": source["digest"], "message": source["message"]})
        return kept
    keys = {
        "name",
        "description",
        "page_id",
        "status",
        "daily_budget",
        "lifetime_budget",
        "start_time",
        "end_time",
        "pixel_id",
    }
    applied: Mapping[str, Any] = freeze({k: v for k, v in source.items() if k in keys and v is not None})
    return applied


def _as_created(
    kind: str, action: Action, object_id: str, notices: tuple[str, ...] = ()
) -> tuple[Resource, Pending | None]:
    """The resource a confirmed create leaves, as the server has it. ``message_campaign`` takes no
    status, so a campaign meant to be PAUSED is ACTIVE until the pause is confirmed: state says so,
    with a pending update for the pause, so an interrupted create-then-pause is finished by the next
    apply and never shown as somebody else's drift."""
    applied = _applied(action)
    pause = None
    if kind == "campaign" and action.after.get("status") == "PAUSED":
        applied = freeze({**applied, "status": "ACTIVE"})
        pause = pending_entry(action.address, "update")
    return Resource(kind, MappingProxyType({"id": object_id}), applied, action.protect, notices=notices), pause


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
        state_path: Path | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.account = account
        self.progress = progress
        self.report = Report(state)
        self.members = members or {}
        self.state_path = state_path

    @property
    def state(self) -> State:
        return self.report.state

    def _save(self, state: State) -> None:
        self.report.state = self.store.write(state)

    # -- the run

    def run(self, plan: Plan) -> Report:
        actions = list(plan.actions)
        if plan.refresh_only:
            self._refresh(plan)
            return self.report
        if self.state.account is None:
            self._save(
                State(self.state.serial, self.state.lineage, plan.account, self.state.resources, self.state.pending)
            )
        removing = [a for a in actions if a.action in ("delete", "forget", "replace")]
        self._delete(removing)
        for kind in ("template", "audience", "campaign"):
            building = [a for a in actions if a.kind == kind and a.action not in ("delete", "forget")]
            if kind == "template":
                self._templates(building)
            else:
                self._build(kind, building)
            if kind == "audience":
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
        sending it again; the record of the upload (beside the state) is replaced only at the end.
        """
        planned = action.after.get("members")
        resource = self.state.resources.get(action.address)
        stale = [p.id for p in self.state.pending if p.address == action.address and p.operation == "members"]
        if isinstance(planned, Mapping) and not (planned["add"] or planned["remove"]) and stale:
            self._save(self.state.without_pending(*stale))  # the file went back to what was uploaded
        if not isinstance(planned, Mapping) or not (planned["add"] or planned["remove"]) or resource is None:
            return
        prepared = self.members.get(action.address)
        if prepared is None or self.state_path is None:
            self._fail(action.address, "the member file was not read in this run; run `mmctl plan` again")
            return
        stored = memberfile.store_path(self.state_path, action.address)
        if action.action in ("create", "replace"):
            memberfile.forget_store(stored)  # a new audience starts with nobody
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
        memberfile.write_store(prepared, stored)
        settled = [p.id for p in self.state.pending if p.address == action.address and p.operation == "members"]
        uploaded = replace(
            self.state.resources[action.address],
            members=freeze({"count": planned["count"], "digest": planned["digest"]}),
        )
        self._save(self.state.with_resource(action.address, uploaded).without_pending(*settled))
        self._note(action.address, f"members +{planned['add']} / -{planned['remove']} (now {planned['count']})")

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
        total = -(-count // graphmap.MAX_ROWS)
        state = self.state.without_pending(*[p.id for p in self.state.pending if p.id == entry.id])
        self._save(state.with_pending(entry))
        for seq in range(1, total + 1):
            batch = list(islice(rows, graphmap.MAX_ROWS))
            if seq <= (entry.done or 0):
                continue  # Meta confirmed this batch before an interruption
            session = {
                "session_id": entry.session,
                "batch_seq": seq,
                "last_batch_flag": seq == total,
                "estimated_num_total": count,
            }
            op = (
                graphmap.users_add(audience_id, prepared.schema, batch, session)
                if phase == "add"
                else graphmap.users_remove(audience_id, batch, session)
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
        forget = [a for a in actions if a.action == "forget"]
        for action in forget:
            self._save(self.state.with_resource(action.address, None).without_pending(*action.resolves))
            self._note(action.address, "forgotten (nothing to delete)")
        for kind in ("campaign", "audience"):
            batch = [a for a in actions if a.kind == kind and a.action in ("delete", "replace")]
            if not batch:
                continue
            entries = {a.address: pending_entry(a.address, "delete") for a in batch}
            self._save(self.state.with_pending(*entries.values()))
            delete_op = graphmap.campaign_delete if kind == "campaign" else graphmap.audience_delete
            results = self.client.batch([delete_op(a.ids) for a in batch])
            state = self.state
            for action, result in zip(batch, results):
                entry = entries[action.address]
                if result.ok or isinstance(result.error, NotFound):
                    state = state.with_resource(action.address, None).without_pending(entry.id, *action.resolves)
                    if kind == "audience" and self.state_path is not None:
                        memberfile.forget_store(memberfile.store_path(self.state_path, action.address))
                    self._note(action.address, "deleted" if action.action == "delete" else "deleted (replacing)")
                else:
                    state = state.without_pending(entry.id)
                    self._fail(action.address, f"delete failed: {result.error}")
            self._save(state)

    # -- templates: state only

    def _templates(self, actions: Sequence[Action]) -> None:
        state = self.state
        for action in actions:
            known = state.resources.get(action.address)
            if not action.mutates and not action.resolves and known is not None:
                continue
            state = state.with_resource(
                action.address, Resource("template", MappingProxyType({}), _applied(action), action.protect)
            )
            state = state.without_pending(*action.resolves)
            if action.mutates:
                self._note(action.address, f"{action.action}d (kept in state)")
        if state is not self.state:
            self._save(state)

    # -- audiences and campaigns

    def _build(self, kind: str, actions: Sequence[Action]) -> None:
        failed_deletes = {address for address, _ in self.report.failed}
        creates = [a for a in actions if a.action in ("create", "replace") and a.address not in failed_deletes]
        adopts = [a for a in actions if a.action == "adopt"]
        updates = [a for a in actions if a.action == "update"]
        settled = self._settle([a for a in actions if a.action == "no-op"])
        if settled is not self.state:
            self._save(settled)
        if adopts:
            adopted = {
                a.address: Resource(kind, MappingProxyType({"id": a.ids["id"]}), _applied(a, a.before), a.protect)
                for a in adopts
            }
            resolved = [p for a in adopts for p in a.resolves]
            self._save(self.state.with_resources(adopted).without_pending(*resolved))
            for action in adopts:
                self._note(action.address, f"adopted (id {action.ids['id']})")
        self._create(kind, creates)
        self._update(kind, updates + [a for a in adopts if a.changes])

    def _settle(self, actions: Sequence[Action]) -> State:
        """Up-to-date resources: clear their pending entries and refresh what state says was applied."""
        state = self.state
        for action in actions:
            known = state.resources.get(action.address)
            applied = _applied(action)
            if known is not None and (known.applied != applied or known.protect != action.protect):
                state = state.with_resource(action.address, replace(known, applied=applied, protect=action.protect))
            if action.resolves:
                state = state.without_pending(*action.resolves)
        return state

    def _meta_said(self, address: str, notices: Sequence[str]) -> None:
        for notice in notices:
            self.report.notices.append((address, notice))
            self.progress(f"{address}: Meta says {notice}")

    def _create(self, kind: str, actions: Sequence[Action]) -> None:
        if not actions:
            return
        entries = {a.address: pending_entry(a.address, "create", a.after.get("name")) for a in actions}
        self._save(self.state.with_pending(*entries.values()))
        make = graphmap.campaign_create if kind == "campaign" else graphmap.audience_create
        results = self.client.batch([make(self.account.id, a.after) for a in actions])
        made: dict[str, Resource | None] = {}
        settled: list[str] = []
        pauses: dict[str, Pending] = {}
        created: list[tuple[Action, str]] = []
        unknown: list[Action] = []
        for action, result in zip(actions, results):
            entry = entries[action.address]
            if result.ok:
                object_id = graphmap.parse_created_id(result.body)
                notices = graphmap.server_notices(result.body)
                made[action.address], pause = _as_created(kind, action, object_id, notices)
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
            found, found_pauses = self._resolve_unknown(kind, unknown, entries)
            created += found
            pauses.update(found_pauses)
        if kind == "campaign":
            self._after_campaign_create(created, pauses)

    def _resolve_unknown(
        self,
        kind: str,
        actions: Sequence[Action],
        entries: Mapping[str, Pending],
    ) -> tuple[list[tuple[Action, str]], dict[str, Pending]]:
        """Creates whose answer was lost: look them up by name; adopt what exists."""
        try:
            found = live.read_kind(self.client, self.account.id, kind)
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
        state = self.state
        for action in actions:
            match = next(
                (o for o in found if o.values.get("name") == action.after.get("name") and o.id not in claimed), None
            )
            if match is None:
                self._fail(
                    action.address,
                    "the create got no answer and the object is not in the account; it stays "
                    "pending and the next apply creates it",
                )
                continue
            claimed.add(match.id)
            resource, pause = _as_created(kind, action, match.id)
            state = state.with_resource(action.address, resource).without_pending(
                entries[action.address].id, *action.resolves
            )
            if pause is not None:
                pauses[action.address] = pause
                state = state.with_pending(pause)
            self._note(action.address, f"created (id {match.id}; found after the answer was lost)")
            adopted.append((action, match.id))
        self._save(state)
        return adopted, pauses

    def _after_campaign_create(self, created: Sequence[tuple[Action, str]], pauses: Mapping[str, Pending]) -> None:
        """``message_campaign`` takes no status: a campaign meant to be PAUSED is paused right after,
        and state says PAUSED (its pending update settled) only once Meta confirmed the pause."""
        paused = [(a, i) for a, i in created if a.address in pauses]
        if not paused:
            return
        reads = self.client.batch([graphmap.campaign_ids_read(i) for _, i in paused])
        ops: list[Operation] = []
        owners: list[Action] = []
        for (action, _), result in zip(paused, reads):
            if not result.ok:
                self._fail(
                    action.address,
                    f"created, but could not read its campaign id to pause it: {result.error}; "
                    "it is ACTIVE, and the next apply pauses it",
                )
                continue
            ids = graphmap.parse_campaign_ids(result.body)
            ops += graphmap.campaign_updates(ids, {"status": "PAUSED"})
            owners.append(action)
        state = self.state
        for action, result in zip(owners, self.client.batch(ops)):
            if result.ok:
                known = state.resources[action.address]
                state = state.with_resource(
                    action.address, replace(known, applied=freeze({**known.applied, "status": "PAUSED"}))
                )
                state = state.without_pending(pauses[action.address].id)
                self._note(action.address, "paused")
            else:
                self._fail(
                    action.address,
                    f"created, but pausing it failed: {result.error}; it is ACTIVE, and the next apply pauses it",
                )
        self._save(state)

    def _update(self, kind: str, actions: Sequence[Action]) -> None:
        if not actions:
            return
        make = graphmap.campaign_updates if kind == "campaign" else graphmap.audience_update
        ops: list[Operation] = []
        owner: list[Action] = []
        entries = {}
        for action in actions:
            changed = {c.path: action.after.get(c.path) for c in action.changes if c.path != "protect"}
            for op in make(action.ids, changed):
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
                said[action.address] = said.get(action.address, ()) + graphmap.server_notices(result.body)
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
                    known, applied=_applied(action), protect=action.protect, notices=notices or known.notices
                )
            else:
                resources[action.address] = Resource(
                    kind, MappingProxyType({"id": action.ids["id"]}), _applied(action), action.protect, notices=notices
                )
            settled += action.resolves
            if action.action == "update":
                fields = ", ".join(c.path for c in action.changes)
                self._note(action.address, f"updated ({fields})")
            self._meta_said(action.address, notices)
        self._save(self.state.with_resources(resources).without_pending(*settled))
