"""Field-level differences between two message payloads (the only DeepDiff user)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deepdiff import DeepDiff

from reconciler.errors import format_path


def payload_changes(before: Any, after: Any, root: str = "message") -> list[tuple[str, Any, Any]]:
    """``(path, before, after)`` for every leaf that differs; a side that lacks it gives None."""
    out = []
    tree = DeepDiff(before, after, view="tree", ignore_order=False)
    for items in tree.values():
        for item in items:
            path = format_path((root, *item.path(output_format="list")))
            old = None if type(item.t1).__name__ == "NotPresent" else item.t1
            new = None if type(item.t2).__name__ == "NotPresent" else item.t2
            out.append((path, old, new))
    return sorted(out, key=lambda change: change[0])


def describe_message(message: Mapping[str, Any]) -> str:
    """A one-line summary of a message, for a plan: ``generic template, 2 elements, a greeting``."""
    parts = []
    attachment = message.get("attachment")
    if isinstance(attachment, Mapping):
        raw = attachment.get("payload")
        payload: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        parts.append(f"{payload.get('template_type', attachment.get('type', '?'))} template")
        elements = payload.get("elements")
        if isinstance(elements, (list, tuple)):
            parts.append(f"{len(elements)} element{'s' if len(elements) != 1 else ''}")
        if payload.get("text") and payload.get("template_type") != "button":
            parts.append("a greeting")
    elif "text" in message:
        parts.append("text")
    replies = message.get("quick_replies")
    if isinstance(replies, (list, tuple)) and replies:
        parts.append(f"{len(replies)} quick repl{'ies' if len(replies) != 1 else 'y'}")
    return ", ".join(parts) or "message"
