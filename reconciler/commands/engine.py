"""The operations behind the commands: plan, apply (fresh or saved), import, and state edits.

Each takes a loaded project and returns values for the CLI to render; the reading of live state,
the planner and the executor are composed here, so that the CLI stays a dispatcher.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from reconciler.atomic import replacing
from reconciler.core import costs
from reconciler.core.desired import desired_state
from reconciler.core.plan import Action, Estimate, MemberChange, Plan, PlanError, differences, make_plan, with_members
from reconciler.errors import ManifestError, ManifestErrors, NotFound, ReconcilerError, SourceLocation, UsageError
from reconciler.executor import Executor, Report
from reconciler.graph import graphmap, live
from reconciler.graph.client import GraphClient, RetryPolicy, connect
from reconciler.graph.graphmap import Account
from reconciler.manifest import project as manifest
from reconciler.manifest import schema
from reconciler.manifest.discovery import Filters, display_path
from reconciler.members import memberfile
from reconciler.model import Audience, Campaign, Members, Project, thaw
from reconciler.money import MoneyError, to_minor
from reconciler.render import planfile
from reconciler.render.plan import plan_from_json, plan_json
from reconciler.state.local import LocalStateStore, Resource, State

Progress = Callable[[str], None]


class StalePlan(ReconcilerError):
    """A saved plan no longer matches the state or the live account."""


@dataclass(frozen=True)
class Options:
    graph_url: str | None = None  # --graph-url / MMCTL_GRAPH_URL: overrides provider.graph
    token_file: str | None = None
    parallelism: int = 4
    lock_timeout: float = 0.0
    max_wait: float = 0.0  # --max-wait: seconds a throttled call may wait for Meta past its deadline
    proxy: str | None = None  # --proxy / MMCTL_PROXY: the only proxy used (environment proxies are ignored)
    filters: Filters = Filters()  # --include / --exclude


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
                self.members[address] = memberfile.prepare(
                    members.file,
                    hashed=members.hashed,
                    default_country=members.default_country,
                    workdir=Path(self.workdir.name),
                )
            except (memberfile.MemberFileError, OSError, UnicodeDecodeError) as exc:
                raise UsageError(f"{address}: member file {display_path(members.file)}: {exc}") from None
        return self.members[address]


def open_session(paths: Sequence[str], env: Mapping[str, str], options: Options) -> Session:
    project = manifest.load_project(paths or (".",), env=env, filters=options.filters)
    graph = options.graph_url or project.provider.graph
    client = connect(
        graph,
        project.provider.api_version,
        root=project.root,
        env=env,
        token_file=options.token_file,
        retry=RetryPolicy(max_wait=options.max_wait),
        concurrency=options.parallelism,
        proxy=options.proxy,
    )
    store = LocalStateStore(project.state_path, display_path(project.state_path))
    return Session(project, store, client, graph)


def plan(
    session: Session, *, targets: Sequence[str] = (), refresh_only: bool = False, estimate: bool = True
) -> tuple[Plan, Account]:
    """Read state and the live account, and plan, checking the money rules. Changes nothing."""
    state = session.store.read()
    provider = session.project.provider
    _check_account(state, provider.ad_account, session.store.location)
    found = live.read_live(session.client, provider.ad_account)
    account, objects = found.account, found.objects
    desired = desired_state(session.project, account)
    now = int(time.time())
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
    made = replace(made, page_id=provider.page_id, targets=tuple(targets))
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
        made = _with_members(session, made, state, {o.id: o for o in objects})
    return made, account


MATCH_RATE = (0.2, 0.7)  # seeds/004: "Match rates typically range from 20% to 70%"
MIN_MATCHED = 100  # Meta returns no subscription tokens for an audience with fewer matched people


def _with_members(session: Session, made: Plan, state: State, live_by_id: Mapping[str, graphmap.LiveObject]) -> Plan:
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
        _check_member_record(state, action, stored, fresh)
        found = memberfile.diff(prepared, Path(os.devnull) if fresh else stored)
        changes[action.address] = MemberChange(found.before, found.after, found.add, found.remove, prepared.digest)
        warnings += _member_warnings(
            action, prepared, audience.members.file, found, live_by_id.get(action.ids.get("id", ""))
        )
    return with_members(made, changes, warnings)


def _check_member_record(state: State, action: Action, stored: Path, fresh: bool) -> None:
    """Refuse to plan members against a lost record of the last upload: everyone would look new, and
    nobody who left the file would ever be removed from the audience."""
    resource = state.resources.get(action.address)
    uploaded = resource.members if resource is not None else None
    if fresh or not uploaded or not uploaded.get("count") or stored.exists():
        return
    raise PlanError(
        f"{action.address}: the state says {uploaded['count']:,} members were uploaded, but the record of that "
        f"upload ({display_path(stored)}) is missing, so mmctl cannot tell who has left the member file and "
        "would never remove them from the audience. Restore the record from a backup of the state folder; or, to "
        f"start the audience over, delete it (remove it from the manifests and apply) and declare it again"
    )


def _member_warnings(
    action: Action,
    prepared: memberfile.Prepared,
    file: Path,
    found: memberfile.MemberDiff,
    live_object: graphmap.LiveObject | None,
) -> list[str]:
    out: list[str] = []
    shown = display_path(file)
    parts = []
    if prepared.bad_cells:
        parts.append(
            f"{prepared.bad_cells} bad cell(s) in {prepared.partial_rows} row(s) are dropped (those people "
            "are uploaded with the identifiers that remain)"
        )
    if prepared.bad_rows:
        parts.append(f"{prepared.bad_rows} row(s) are skipped (no usable email or phone left)")
    if parts:
        details = "; ".join(str(p) for p in prepared.problems[:5])
        more = f"; and {len(prepared.problems) - 5} more" if len(prepared.problems) > 5 else ""
        out.append(f"{action.address}: {shown}: {' and '.join(parts)}: {details}{more}")
    if action.action == "adopt":
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
    else:
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
        raise UsageError(
            f"the state {where} belongs to {state.account}, but the manifests manage {ad_account}; "
            "use a separate state path (state.path) for each ad account"
        )


def apply(session: Session, made: Plan, account: Account, progress: Progress) -> Report:
    """Carry out a plan just made (the caller holds the lock since before planning)."""
    executor = Executor(
        session.client,
        session.store,
        session.store.read(),
        account,
        progress,
        members=session.members,
        state_path=session.project.state_path,
    )
    return executor.run(made)


def save_plan(made: Plan, path: Path, env: Mapping[str, str]) -> bool:
    """Write the plan sealed with its digest (and signed when ``MMCTL_PLAN_KEY`` is set); True if signed."""
    key = planfile.plan_key(env)
    sealed = planfile.seal(plan_json(made), key)
    try:
        with replacing(path) as handle:
            handle.write(json.dumps(sealed, indent=2, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise UsageError(f"--out {path}: cannot write ({exc.strerror})") from None
    return key is not None


def read_saved_plan(path: str, env: Mapping[str, str]) -> Plan:
    """A saved plan whose digest (and, with ``MMCTL_PLAN_KEY``, signature) checks out."""
    shown = display_path(Path(path))
    document = planfile.read_document(Path(path), shown)
    problems = schema.document_problems(document, "plan.schema.json")
    if problems:
        raise planfile.PlanFileError(f"{shown}: not a valid mmctl plan: " + "; ".join(problems))
    planfile.verify(document, planfile.plan_key(env), shown)
    return plan_from_json(document)


def replan(session: Session, saved: Plan) -> tuple[Plan, Account]:
    """The plan made now from the manifests, the state and the account, if it does exactly what
    ``saved`` says; StalePlan listing every difference otherwise. Apply carries out (and shows) the
    plan made now, never the file's own text."""
    provider = session.project.provider
    here = replace(saved, account=provider.ad_account, graph=session.graph, page_id=provider.page_id)
    elsewhere = differences(saved, here)
    if elsewhere:
        raise StalePlan("the saved plan was made for another target; nothing was changed:\n  " + "\n  ".join(elsewhere))
    fresh, account = plan(session, targets=saved.targets, refresh_only=saved.refresh_only, estimate=False)
    found = differences(saved, fresh)
    if found:
        shown = found[:40] + ([f"... and {len(found) - 40} more"] if len(found) > 40 else [])
        raise StalePlan(
            "the saved plan is stale: apply would now do something else than what was reviewed; nothing "
            "was changed:\n  " + "\n  ".join(shown) + "\nRun `mmctl plan --out FILE` again and review "
            "the new plan"
        )
    return fresh, account


def import_resource(session: Session, address: str, object_id: str) -> Resource:
    """Adopt an existing live object under ``address`` (which the manifests must declare)."""
    project = session.project
    kind, _, key = address.partition(".")
    declared: Mapping[str, Campaign] | Mapping[str, Audience] | None = (
        project.campaigns if kind == "campaign" else project.audiences if kind == "audience" else None
    )
    if declared is None:
        raise UsageError(f"{address}: only campaigns and audiences can be imported (templates live in state)")
    if key not in declared:
        raise UsageError(f"{address} is not declared in the manifests; declare it first, then import")
    if not object_id.isdigit():
        raise UsageError(f"{object_id!r} is not a Graph object id (digits)")
    state = session.store.read()
    _check_account(state, project.provider.ad_account, session.store.location)
    if address in state.resources:
        raise UsageError(
            f"{address} is already managed (id {state.resources[address].ids.get('id')}); "
            f"`mmctl state rm {address}` first to import another object"
        )
    owner = next((a for a, r in state.resources.items() if r.ids.get("id") == object_id), None)
    if owner is not None:
        raise UsageError(f"object {object_id} is already managed as {owner}")
    found, owner_account = _read_one(session.client, kind, object_id)
    provider = project.provider
    if owner_account is not None and owner_account != provider.ad_account:
        raise UsageError(
            f"object {object_id} belongs to the ad account {owner_account}, not to {provider.ad_account} "
            "that these manifests manage; nothing was imported"
        )
    page = found.values.get("page_id")
    if page is not None and page != provider.page_id:
        raise UsageError(
            f"object {object_id} is for the Page {page}, not for the Page {provider.page_id} that these "
            "manifests manage; nothing was imported"
        )
    applied = MappingProxyType({k: v for k, v in found.values.items() if k not in graphmap.LIVE_ONLY})
    resource = Resource(kind, MappingProxyType({"id": found.id}), applied, declared[key].protect)
    if state.account is None:
        state = State(state.serial, state.lineage, project.provider.ad_account, state.resources, state.pending)
    session.store.write(state.with_resource(address, resource))
    return resource


def _read_one(client: GraphClient, kind: str, object_id: str) -> tuple[graphmap.LiveObject, str | None]:
    """The object and the ad account it belongs to (``act_…``; None if the answer does not say)."""
    try:
        if kind == "campaign":
            _, params = graphmap.campaign_listing("act_0")
            body = client.get(object_id, params)
            found = graphmap.parse_campaign(body)
        else:
            _, params = graphmap.audience_listing("act_0")
            body = client.get(object_id, {"fields": params["fields"]})
            found = graphmap.parse_audience(body)
    except NotFound:
        raise UsageError(f"there is no {kind} with id {object_id} that this token can see") from None
    except (KeyError, TypeError, ValueError):
        found = None
    if found is None:
        raise UsageError(f"object {object_id} is not a marketing-message {kind}")
    return found, graphmap.account_of(body)


def state_summary(state: State) -> list[dict[str, Any]]:
    return [
        {"address": a, "kind": r.kind, "id": r.ids.get("id"), "protect": r.protect} for a, r in state.resources.items()
    ]


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
