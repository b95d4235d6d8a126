"""``mmctl import``: adopt an existing live object under an address the manifests declare, without
changing it; the next plan shows how it differs from the manifest."""

from __future__ import annotations

from types import MappingProxyType

from reconciler import kinds
from reconciler.commands.provenance import git_commit
from reconciler.commands.session import Session
from reconciler.errors import InvalidParameter, NotFound, UsageError
from reconciler.graph import account as graph_account
from reconciler.graph.client import GraphClient
from reconciler.kinds.base import ResourceKind, UnknownKind
from reconciler.resources import LiveObject, kind_of
from reconciler.state.model import Resource, State


def import_resource(session: Session, address: str, object_id: str) -> Resource:
    """Adopt an existing live object under ``address`` (which the manifests must declare)."""
    project = session.project
    try:
        spec = kinds.spec(kind_of(address))
    except UnknownKind:
        spec = None
    if spec is None or not spec.in_account:
        can = " and ".join(f"{s.kind}s" for s in kinds.in_account())
        raise UsageError(f"{address}: only {can} can be imported (templates live in state)")
    key = address.partition(".")[2]
    declared = spec.declared(project)
    if key not in declared:
        raise UsageError(f"{address} is not declared in the manifests; declare it first, then import")
    if not object_id.isdigit():
        raise UsageError(f"{object_id!r} is not a Graph object id (digits)")
    state = session.read_state()
    if address in state.resources:
        raise UsageError(
            f"{address} is already managed (id {state.resources[address].ids.get('id')}); "
            f"`mmctl state rm {address}` first to import another object"
        )
    owner = next((a for a, r in state.resources.items() if r.ids.get("id") == object_id), None)
    if owner is not None:
        raise UsageError(f"object {object_id} is already managed as {owner}")
    provider = project.provider
    found, owner_account = _read_one(session.client, spec, object_id, provider.ad_account)
    if found.id != object_id:
        owner = next((a for a, r in state.resources.items() if r.ids.get("id") == found.id), None)
        if owner is not None:
            raise UsageError(f"object {object_id} is the {spec.kind} {found.id}, already managed as {owner}")
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
    applied = MappingProxyType({k: v for k, v in found.values.items() if k not in spec.live_only})
    resource = Resource(spec.kind, MappingProxyType({"id": found.id}), applied, declared[key].protect)
    if state.account is None:
        state = State(state.serial, state.lineage, provider.ad_account, state.resources, state.pending)
    session.store.write(state.with_resource(address, resource))
    session.store.record_version("mmctl import", {"import": 1}, git_commit=git_commit(session.project.root))
    return resource


def _read_one(
    client: GraphClient, spec: ResourceKind, object_id: str, ad_account: str
) -> tuple[LiveObject, str | None]:
    """The object and the ad account it belongs to (``act_…``; None if the answer does not say).

    ``object_id`` may also be the id of an object behind it (a campaign's campaign or ad set id):
    Graph refuses the object's fields on such a node, and the kind's related listings find it."""
    try:
        body = client.get(object_id, spec.object_read())
    except NotFound as exc:
        raise UsageError(f"there is no {spec.kind} with id {object_id} that this token can see") from exc
    except InvalidParameter as exc:
        related = _read_related(client, spec, object_id, ad_account)
        if related is None:
            behind = f" of {ad_account}, nor an object behind one" if spec.related_reads(ad_account, object_id) else ""
            raise UsageError(
                f"object {object_id} is not a marketing-message {spec.kind}{behind}: {exc.message}"
            ) from exc
        return related, ad_account
    found = spec.parse(body)
    if found is None:
        raise UsageError(f"object {object_id} is not a marketing-message {spec.kind}")
    return found, graph_account.account_of(body)


def _read_related(client: GraphClient, spec: ResourceKind, object_id: str, ad_account: str) -> LiveObject | None:
    """The one object of ``ad_account`` found through ``object_id`` by the kind's related listings."""
    for path, params in spec.related_reads(ad_account, object_id):
        body = client.get(path, params)
        rows = body.get("data") if isinstance(body, dict) else None
        rows = rows if isinstance(rows, list) else []
        found = [live for live in (spec.parse(row) for row in rows) if live is not None]
        if len(found) > 1:
            ids = ", ".join(live.id for live in found)
            raise UsageError(f"{object_id} leads to more than one {spec.kind} ({ids}); import one by its own id")
        if found:
            return found[0]
    return None
