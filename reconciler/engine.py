"""The operations behind the commands: plan, apply (fresh or saved), import, and state edits.

Each takes a loaded project and returns values for the CLI to render; the reading of live state,
the planner and the executor are composed here, so that the CLI stays a dispatcher.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from reconciler import costs, graphmap, live, manifest, memberfile, schema
from reconciler.apply import Executor, Report
from reconciler.client import GraphClient, RetryPolicy, connect
from reconciler.desired import desired_state
from reconciler.errors import ManifestError, ManifestErrors, NotFound, ReconcilerError, SourceLocation, UsageError
from reconciler.graphmap import Account
from reconciler.model import Audience, Campaign, Members, Project, thaw
from reconciler.money import MoneyError, to_minor
from reconciler.plan import Action, Estimate, MemberChange, Plan, make_plan, with_members
from reconciler.render_plan import plan_from_json
from reconciler.state import LocalStateStore, Resource, State

Progress = Callable[[str], None]


class StalePlan(ReconcilerError):
    """A saved plan no longer matches the state or the live account."""


@dataclass(frozen=True)
class Options:
    graph_url: str | None = None  # --graph-url / MMCTL_GRAPH_URL: overrides provider.graph
    token_file: str | None = None
    parallelism: int = 4
    lock_timeout: float = 0.0


@dataclass
class Session:
    """A loaded project with its state store and a client for its Graph API."""

    project: Project
    store: LocalStateStore
    client: GraphClient
    graph: str
    # Member files hashed for this run (temporary files, removed on close).
    members: dict[str, memberfile.Prepared] = field(default_factory=dict)
    workdir: tempfile.TemporaryDirectory[str] | None = None

    def close(self) -> None:
        self.client.close()
        if self.workdir is not None:
            self.workdir.cleanup()

    def prepared(self, address: str, members: Members) -> memberfile.Prepared:
        if address not in self.members:
            if self.workdir is None:
                self.workdir = tempfile.TemporaryDirectory(prefix="mmctl-members-")
            try:
                self.members[address] = memberfile.prepare(members.file, hashed=members.hashed,
                                                           default_country=members.default_country,
                                                           workdir=Path(self.workdir.name))
            except (memberfile.MemberFileError, OSError, UnicodeDecodeError) as exc:
                raise UsageError(f"{address}: member file {manifest.display_path(members.file)}: {exc}") from None
        return self.members[address]


def open_session(paths: Sequence[str], env: Mapping[str, str], options: Options) -> Session:
    project = manifest.load_project(paths or (".",), env=env)
    graph = options.graph_url or project.provider.graph
    client = connect(graph, project.provider.api_version, root=project.root, env=env, token_file=options.token_file,
                     retry=RetryPolicy(), concurrency=options.parallelism)
    store = LocalStateStore(project.state_path, manifest.display_path(project.state_path))
    return Session(project, store, client, graph)


def plan(session: Session, *, targets: Sequence[str] = (), refresh_only: bool = False,
         estimate: bool = True) -> tuple[Plan, Account]:
    """Read state and the live account, and plan, checking the money rules. Changes nothing."""
    state = session.store.read()
    provider = session.project.provider
    _check_account(state, provider.ad_account, session.store.location)
    found = live.read_live(session.client, provider.ad_account)
    account, objects = found.account, found.objects
    desired = desired_state(session.project, account)
    now = int(time.time())
    made = make_plan(desired, state, objects, account=provider.ad_account, graph=session.graph,
                     currency=account.currency, now=now, targets=targets, refresh_only=refresh_only)
    touched = [a for a in made.actions if costs.budget_touched(a)]
    costs.check_rules(made.actions, desired, _limits(session.project, account), found.min_daily, account.currency,
                      now)
    estimates = _estimates(session, touched, now) if estimate and touched else ()
    made = replace(made, spend=costs.spend(made.actions, now), estimates=estimates)
    if not refresh_only:
        made = _with_members(session, made, {o.id: o for o in objects})
    return made, account


def _with_members(session: Session, made: Plan, live_by_id: Mapping[str, graphmap.LiveObject]) -> Plan:
    """Hash each audience's member file and diff it with the last upload: ``members: +N / -M``."""
    changes: dict[str, MemberChange] = {}
    warnings: list[str] = []
    for action in made.actions:
        if action.kind != "audience" or action.action in ("delete", "forget"):
            continue
        key = action.address.partition(".")[2]
        audience = session.project.audiences.get(key)
        if audience is None or audience.members is None:
            continue
        prepared = session.prepared(action.address, audience.members)
        fresh = action.action in ("create", "replace")  # a new audience starts empty
        stored = memberfile.store_path(session.project.state_path, action.address)
        found = memberfile.diff(prepared, Path(os.devnull) if fresh else stored)
        changes[action.address] = MemberChange(found.before, found.after, found.add, found.remove, prepared.digest)
        shown = manifest.display_path(audience.members.file)
        if prepared.bad_rows:
            details = "; ".join(str(p) for p in prepared.problems[:5])
            warnings.append(f"{action.address}: {prepared.bad_rows} row(s) of {shown} are skipped: {details}")
        if prepared.count < 100:
            warnings.append(f"{action.address}: {prepared.count} member(s); Meta returns no subscription tokens for "
                            "an audience with fewer than 100 matched people")
        live_status = live_by_id.get(action.ids.get("id", ""))
        status = live_status.values.get("operation_status") if live_status else None
        if (not found.add and not found.remove and isinstance(status, Mapping)
                and status.get("code") not in (None, 200)):
            warnings.append(f"{action.address}: the member file is unchanged, but Meta reports the audience as "
                            f"{status.get('code')}: {status.get('description')}")
    return with_members(made, changes, warnings)


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
    results = session.client.batch([graphmap.estimate_read(ad_account, a.after, now) for a in actions])
    found = []
    for action, result in zip(actions, results):
        if result.ok:
            try:
                delivery, cost = graphmap.parse_estimate(result.body)
            except (KeyError, IndexError, TypeError, ValueError):
                continue
            found.append(Estimate(action.address, delivery, cost))
    return tuple(found)


def _check_account(state: State, ad_account: str, where: str) -> None:
    if state.account is not None and state.account != ad_account:
        raise UsageError(f"the state {where} belongs to {state.account}, but the manifests manage {ad_account}; "
                         "use a separate state path (state.path) for each ad account")


def apply(session: Session, made: Plan, account: Account, progress: Progress) -> Report:
    """Carry out a plan just made (the caller holds the lock since before planning)."""
    executor = Executor(session.client, session.store, session.store.read(), account, progress,
                        members=session.members, state_path=session.project.state_path)
    return executor.run(made)


def read_saved_plan(path: str) -> Plan:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the plan file ({exc.strerror})") from None
    except ValueError as exc:
        raise UsageError(f"{path}: not a plan file (not JSON: {exc}); save one with `mmctl plan --out FILE`") from None
    problems = schema.document_problems(data, "plan.schema.json")
    if problems:
        raise UsageError(f"{path}: not a valid mmctl plan: " + "; ".join(problems))
    return plan_from_json(data)


def check_saved_plan(session: Session, saved: Plan) -> Account:
    """Refuse a saved plan that no longer describes the account: the state or a touched object changed."""
    provider = session.project.provider
    if saved.account != provider.ad_account:
        raise StalePlan(f"the plan is for {saved.account}, but the manifests manage {provider.ad_account}")
    state = session.store.read()
    if (state.lineage, state.serial) != (saved.state_lineage, saved.state_serial):
        if state.lineage != saved.state_lineage:
            raise StalePlan("the saved plan was made from a different state (lineage changed); run `mmctl plan` again")
        raise StalePlan(f"the saved plan is stale: the state changed since it was made (serial {saved.state_serial} "
                        f"-> {state.serial}); run `mmctl plan --out FILE` again and review it")
    for action in saved.actions:
        planned = action.after.get("members") if action.kind == "audience" else None
        audience = session.project.audiences.get(action.address.partition(".")[2])
        if isinstance(planned, Mapping) and audience is not None and audience.members is not None:
            if session.prepared(action.address, audience.members).digest != planned.get("digest"):
                raise StalePlan(f"the saved plan is stale: the member file of {action.address} changed since the "
                                "plan was made; run `mmctl plan` again")
    found = live.read_live(session.client, provider.ad_account)
    account, by_id = found.account, {obj.id: obj for obj in found.objects}
    for action in saved.actions:
        if not action.mutates or not action.ids or action.action in ("forget",):
            continue
        current = by_id.get(action.ids["id"])
        if current is None:
            raise StalePlan(f"the saved plan is stale: {action.address} (id {action.ids['id']}) is no longer in the "
                            "account; run `mmctl plan` again")
        for key, before in action.before.items():
            if key in current.values and current.values[key] != before:
                raise StalePlan(f"the saved plan is stale: {action.address} changed since the plan was made "
                                f"({key} is now {current.values[key]!r}, the plan saw {before!r}); run `mmctl plan` "
                                "again")
    return account


def import_resource(session: Session, address: str, object_id: str) -> Resource:
    """Adopt an existing live object under ``address`` (which the manifests must declare)."""
    project = session.project
    kind, _, key = address.partition(".")
    declared: Mapping[str, Campaign] | Mapping[str, Audience] | None = (
        project.campaigns if kind == "campaign" else project.audiences if kind == "audience" else None)
    if declared is None:
        raise UsageError(f"{address}: only campaigns and audiences can be imported (templates live in state)")
    if key not in declared:
        raise UsageError(f"{address} is not declared in the manifests; declare it first, then import")
    if not object_id.isdigit():
        raise UsageError(f"{object_id!r} is not a Graph object id (digits)")
    state = session.store.read()
    _check_account(state, project.provider.ad_account, session.store.location)
    if address in state.resources:
        raise UsageError(f"{address} is already managed (id {state.resources[address].ids.get('id')}); "
                         f"`mmctl state rm {address}` first to import another object")
    owner = next((a for a, r in state.resources.items() if r.ids.get("id") == object_id), None)
    if owner is not None:
        raise UsageError(f"object {object_id} is already managed as {owner}")
    found = _read_one(session.client, kind, object_id)
    resource = Resource(kind, MappingProxyType({"id": found.id}), found.values, declared[key].protect)
    if state.account is None:
        state = State(state.serial, state.lineage, project.provider.ad_account, state.resources, state.pending)
    session.store.write(state.with_resource(address, resource))
    return resource


def _read_one(client: GraphClient, kind: str, object_id: str) -> graphmap.LiveObject:
    try:
        if kind == "campaign":
            _, params = graphmap.campaign_listing("act_0")
            found = graphmap.parse_campaign(client.get(object_id, params))
        else:
            _, params = graphmap.audience_listing("act_0")
            found = graphmap.parse_audience(client.get(object_id, {"fields": params["fields"]}))
    except NotFound:
        raise UsageError(f"there is no {kind} with id {object_id} that this token can see") from None
    except (KeyError, TypeError):
        found = None
    if found is None:
        raise UsageError(f"object {object_id} is not a marketing-message {kind}")
    return found


def state_summary(state: State) -> list[dict[str, Any]]:
    return [{"address": a, "kind": r.kind, "id": r.ids.get("id"), "protect": r.protect}
            for a, r in state.resources.items()]


def forget(store: LocalStateStore, address: str) -> None:
    state = store.read()
    if address not in state.resources:
        raise UsageError(f"{address} is not in the state {store.location}")
    store.write(state.with_resource(address, None))



def preview(session: Session, template: str | None, campaign: str | None) -> tuple[str, str]:
    """The template (named, or the campaign's) rendered by ``generatepreviews``: (template key, iframe HTML)."""
    project = session.project
    if campaign is not None:
        key = campaign.removeprefix("campaign.")
        if key not in project.campaigns:
            raise UsageError(f"no campaign {key!r} in the manifests")
        template = project.campaigns[key].template
        if template is None:
            raise UsageError(f"campaign.{key} names no template to preview")
    if template is None:
        raise UsageError("name a template (mmctl preview TEMPLATE) or a campaign (--campaign NAME)")
    key = template.removeprefix("template.")
    if key not in project.templates:
        known = ", ".join(sorted(project.templates)) or "none"
        raise UsageError(f"no template {key!r} in the manifests (templates: {known})")
    provider = project.provider
    path, params = graphmap.preview_read(provider.ad_account, provider.page_id, thaw(project.templates[key].message))
    return key, graphmap.parse_preview(session.client.get(path, params))
