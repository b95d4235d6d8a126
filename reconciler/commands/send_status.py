"""``mmctl send status``: each send's progress and outcomes by reason, read from the journal alone
(no Graph call). A send removed from the manifests is forgotten by apply, but its journal is kept
and still shown."""

from __future__ import annotations

from collections import Counter
from typing import Any

from reconciler.core.sends import STATUSES
from reconciler.errors import UsageError
from reconciler.state.model import State
from reconciler.state.store import StateStore


def reason_of(detail: str | None) -> str:
    """What a skip or failure is grouped by: its code or cap name and meaning, without the times."""
    if not detail:
        return "(none)"
    return detail.split(" until ", 1)[0].split(" (", 1)[0][:120]


def send_status(store: StateStore, state: State, name: str | None) -> list[dict[str, Any]]:
    """One entry per send (or only ``name``, a send name or address)."""
    journaled = {a for a in store.journal_sends() if a.startswith("send.")}  # not the unsubscribes' journal
    addresses = sorted(journaled | {a for a in state.resources if a.startswith("send.")})
    if name is not None:
        wanted = name if name.startswith("send.") else f"send.{name}"
        if wanted not in addresses:
            known = ", ".join(a.partition(".")[2] for a in addresses) or "none has started yet"
            raise UsageError(f"no send named {wanted.partition('.')[2]!r} in the state (sends: {known})")
        addresses = [wanted]
    out = []
    for address in addresses:
        counts: Counter[str] = Counter()
        reasons: dict[str, Counter[str]] = {}
        for row in store.journal(address):
            counts[row.status] += 1
            if row.status not in ("sent", "pending", "intent"):
                reasons.setdefault(row.status, Counter())[reason_of(row.detail)] += 1
        resource = state.resources.get(address)
        applied = resource.applied if resource is not None else {}
        out.append(
            {
                "address": address,
                "campaign": applied.get("campaign"),
                "template": applied.get("template"),
                "started": applied.get("started"),
                "forgotten": resource is None,
                "recipients": sum(counts.values()),
                "counts": {status: counts[status] for status in STATUSES},
                "reasons": {status: dict(found.most_common()) for status, found in reasons.items()},
            }
        )
    return out


def status_text(entries: list[dict[str, Any]]) -> str:
    if not entries:
        return "No send has started yet."
    lines = []
    for entry in entries:
        facts = [f for f in (entry["campaign"], entry["template"]) if f]
        if entry["started"]:
            facts.append(f"started {entry['started']}")
        if entry["forgotten"]:
            facts.append("removed from the manifests; journal kept")
        lines.append(f"{entry['address']}  ({', '.join(facts)})")
        counts = entry["counts"]
        lines.append(f"  recipients: {entry['recipients']:,}")
        for status in STATUSES:
            if not counts[status] and status not in ("sent", "skipped"):
                continue
            label = {"intent": "in flight (resolved by the next apply)", "pending": "not sent yet"}.get(status, status)
            lines.append(f"  {label}: {counts[status]:,}")
            for reason, n in entry["reasons"].get(status, {}).items():
                lines.append(f"      {n:,}  {reason}")
        if counts["unknown"]:
            lines.append(
                "  unknown outcomes are never sent again by mmctl: check Meta's marketing_message_echoes webhooks "
                "for these tokens and this campaign's message id"
            )
    return "\n".join(lines)
