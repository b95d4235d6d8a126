"""Unsubscribes: the people of the unsubscribe file, kept unsubscribed at the Page level
(``POST /<PAGE_ID>/messaging_customer_base/unsubscribe``, changelog 2026-06-11).

One resource, ``unsubscribe.page``, kept in state; the journal holds one row per person, so each
is unsubscribed once. There is no way back through the API: removing someone from the file (or the
block from the manifests) does not subscribe them again, and the plan says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from reconciler.errors import ManifestError
from reconciler.kinds.base import DesiredContext, ResourceKind, reads
from reconciler.model import Project, Unsubscribes
from reconciler.operation import Operation
from reconciler.resources import Change, Desired, Kind, Op

ADDRESS = "unsubscribe.page"
BATCH_ROWS = 1000  # rows per request (the changelog gives no limit; a member upload's is 10,000)


class UnsubscribeKind(ResourceKind):
    kind = Kind.UNSUBSCRIBE
    section = "unsubscribes"
    in_account = False
    applied_fields = frozenset({"file", "people"})

    def declared(self, project: Project) -> Mapping[str, Any]:
        return {"page": project.unsubscribes} if project.unsubscribes is not None else {}

    def desired(self, item: Unsubscribes, context: DesiredContext, problems: list[ManifestError]) -> Desired:
        values = {"file": item.file.name, "page_id": context.page_id}
        return Desired(item.address, self.kind, MappingProxyType(values), frozenset(), location=item.location)

    def applied(self, values: Mapping[str, Any]) -> Mapping[str, Any]:
        return MappingProxyType({k: values[k] for k in self.applied_fields if values.get(k) is not None})

    def state_plan(
        self, want: Desired, applied: Mapping[str, Any] | None
    ) -> tuple[Op, str, tuple[Change, ...], tuple[str, ...]]:
        """Counted later against the journal (``commands.sends``): here only new or known."""
        return (Op.CREATE if applied is None else Op.NOOP), "the unsubscribe file", (), ()


def unsubscribe(page_id: str, rows: list[dict[str, str]]) -> Operation:
    """One request of rows; repeating it is harmless (an unsubscribed person stays so)."""
    return Operation("POST", f"{page_id}/messaging_customer_base/unsubscribe", {"data": rows}, kind="update")


@reads("an unsubscribe answer")
def parse_invalid(body: Mapping[str, Any]) -> int:
    return int(body.get("invalid_rows_count") or 0)


SPEC = UnsubscribeKind()
