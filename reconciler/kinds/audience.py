"""Custom audiences for marketing messages: ``act_X/customaudiences`` with the fields of graph-api.md §3,
and their members uploaded in sessions of hashed rows (``POST /<audience id>/users``)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from reconciler.errors import ManifestError
from reconciler.kinds.base import DesiredContext, ResourceKind, reads
from reconciler.model import Audience
from reconciler.operation import Operation, fields
from reconciler.resources import Desired, Kind, LiveObject

MM_AUDIENCE_FILTER = [{"field": "data_source.subtype", "operator": "IN", "value": [1010]}]  # graph-api.md §3
MAX_ROWS = 10_000  # rows per /users request (graph-api.md §3)
EDITABLE = ("name", "description")  # the Page is fixed at creation


class AudienceKind(ResourceKind):
    kind = Kind.AUDIENCE
    section = "audiences"
    applied_fields = frozenset({"name", "description", "page_id"})
    live_only = frozenset({"operation_status", "approximate_count"})
    has_members = True

    def desired(self, item: Audience, context: DesiredContext, problems: list[ManifestError]) -> Desired:
        values = {"name": item.name, "description": item.description, "page_id": context.page_id}
        compared = {"name", "page_id"} | ({"description"} if item.description is not None else set())
        return Desired(
            item.address, self.kind, MappingProxyType(values), frozenset(compared), item.protect, item.location
        )

    def listing(self, ad_account: str) -> tuple[str, dict[str, Any]]:
        return f"{ad_account}/customaudiences", {**self.object_read(), "filtering": MM_AUDIENCE_FILTER}

    def object_read(self) -> dict[str, Any]:
        return {
            "fields": fields(
                "id",
                "account_id",
                "name",
                "description",
                "operation_status",
                "approximate_count_lower_bound",
                messenger_marketing_messages_page=("id",),
            )
        }

    @reads("a custom audience in the listing")
    def parse(self, row: Mapping[str, Any]) -> LiveObject:
        page = row.get("messenger_marketing_messages_page")
        page_id = page.get("id") if isinstance(page, Mapping) else page
        raw_status = row.get("operation_status")
        status: Mapping[str, Any] = raw_status if isinstance(raw_status, Mapping) else {}
        values = {
            "name": row.get("name"),
            "description": row.get("description") or None,
            "page_id": str(page_id) if page_id else None,
            "operation_status": {"code": status.get("code"), "description": status.get("description")},
        }
        count = row.get("approximate_count_lower_bound")
        if isinstance(count, int) and count >= 0:
            values["approximate_count"] = count
        return LiveObject(self.kind, MappingProxyType({"id": str(row["id"])}), MappingProxyType(values))

    def create(self, ad_account: str, values: Mapping[str, Any]) -> Operation:
        return Operation(
            "POST",
            f"{ad_account}/customaudiences",
            {
                "subtype": "CUSTOM",
                "customer_file_source": "USER_PROVIDED_ONLY",
                "name": values["name"],
                "description": values.get("description") or "",
                "use_for_products": ["MARKETING_MESSAGES"],
                "subscription_info": ["MESSENGER"],
                "marketing_message_channels": {"MESSENGER": values["page_id"]},
            },
            kind="create",
        )

    def updates(self, ids: Mapping[str, str], changes: Mapping[str, Any]) -> list[Operation]:
        params = {k: (v if v is not None else "") for k, v in changes.items() if k in EDITABLE}
        return [Operation("POST", ids["id"], params, kind="update")] if params else []


def users_add(audience_id: str, schema: list[str], rows: list[list[str]], session: Mapping[str, Any]) -> Operation:
    """Add hashed rows to an audience, one batch of an upload session."""
    payload = {"schema": schema, "data": rows}
    return Operation("POST", f"{audience_id}/users", {"payload": payload, "session": dict(session)}, kind="update")


def users_remove(audience_id: str, rows: list[list[str]], session: Mapping[str, Any]) -> Operation:
    """Remove people by their email and phone hashes: POST with method=DELETE (a DELETE cannot carry
    10,000 rows in its query string)."""
    payload = {"schema": ["EMAIL", "PHONE"], "data": rows}
    params = {"method": "DELETE", "payload": payload, "session": dict(session)}
    return Operation("POST", f"{audience_id}/users", params, kind="update")


SPEC = AudienceKind()
