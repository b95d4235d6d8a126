"""Message templates: kept in state only (Meta has no template object for marketing messages);
a template is the ``message`` a send and a preview carry. Its plan compares digests and shows a
field-level diff of the payload."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from reconciler.errors import ManifestError, format_path
from reconciler.kinds.base import DesiredContext, ResourceKind, reads
from reconciler.model import Template, freeze, thaw
from reconciler.resources import Change, Desired, Kind, Op, digest
from reconciler.urls import message_urls


class TemplateKind(ResourceKind):
    kind = Kind.TEMPLATE
    section = "templates"
    in_account = False
    applied_fields = frozenset({"digest", "message"})

    def desired(self, item: Template, context: DesiredContext, problems: list[ManifestError]) -> Desired:
        message = thaw(item.message)
        values = MappingProxyType({"message": message, "digest": digest(message)})
        return Desired(item.address, self.kind, values, frozenset({"digest"}), location=item.location)

    def applied(self, values: Mapping[str, Any]) -> Mapping[str, Any]:
        kept: Mapping[str, Any] = freeze({"digest": values["digest"], "message": values["message"]})
        return kept

    def state_plan(
        self, want: Desired, applied: Mapping[str, Any] | None
    ) -> tuple[Op, str, tuple[Change, ...], tuple[str, ...]]:
        """(action, reason, changes, notes) against what state last kept (None: never applied)."""
        message = want.values["message"]
        if applied is not None and applied.get("digest") == want.values["digest"]:
            return Op.NOOP, "up to date", (), ()
        # DeepDiff costs a tenth of mmctl's start-up; only plans with template changes pay for it.
        from reconciler.kinds.message_diff import describe_message, payload_changes

        if applied is None:
            # A reviewer of a new template should see where its buttons and images lead.
            links = tuple(f"link {format_path(path)}: {url}" for path, url, _ in message_urls(message, ("message",)))
            shown = (Change("message", None, describe_message(message)),)
            return Op.CREATE, "new template; kept in state for sends and previews", shown, links
        found = payload_changes(thaw(applied.get("message")), thaw(message))
        changes = tuple(Change(*c) for c in found) or (Change("message", "(changed)", describe_message(message)),)
        return Op.UPDATE, "the message changed", changes, ()


def preview_read(ad_account: str, page_id: str, message: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``generatepreviews`` for a message payload, as graph-api.md §2 describes it."""
    return f"{ad_account}/generatepreviews", {
        "ad_format": "MESSENGER_MARKETING_MESSAGES_MEDIA",
        "creative": {
            "marketing_message_structured_spec": {},
            "object_story_spec": {"page_id": page_id, "link_data": {}},
        },
        "message": dict(message),
    }


@reads("a preview")
def parse_preview(body: Mapping[str, Any]) -> str:
    return str(body["data"][0]["body"])


SPEC = TemplateKind()
