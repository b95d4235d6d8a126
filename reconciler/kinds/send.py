"""Sends: a template delivered through a campaign to the subscribers of audiences, once each.

A send lives in state only (Meta keeps no "send" object): its resource holds what it was started
with, and the state store's journal holds one row per recipient. The Graph calls are the
subscription-token listing (``GET /<PAGE_ID>/notification_message_tokens``) and one
``POST act_X/messages`` per recipient, 50 to a batch request. Once started a send is immutable:
another template, audience or campaign is another send.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from reconciler.errors import ManifestError, PlanError
from reconciler.kinds.base import DesiredContext, ResourceKind, reads
from reconciler.model import Send, thaw
from reconciler.operation import Operation
from reconciler.resources import Change, Desired, Kind, Op, digest
from reconciler.timeparse import TimeError, parse_instant

TOKENS_PAGE = 1000  # the listing's largest page (graph-api.md §4)
BATCH = 50  # sends per batch request: the batch API's limit
COOLDOWN = 12 * 3600  # one marketing message per subscription token every 12 hours (send guide)
WARM_UP = 3600  # no message in the hour after a campaign is created (changelog 2026-05-05)
IDENTITY = ("campaign", "template", "digest", "audiences", "exclude")  # fixed once the send has started
TOKEN_FIELDS = "notification_messages_token,recipient_id,next_eligible_time"


class SendKind(ResourceKind):
    kind = Kind.SEND
    section = "sends"
    in_account = False
    applied_fields = frozenset({*IDENTITY, "message_id", "recipients", "started"})

    def desired(self, item: Send, context: DesiredContext, problems: list[ManifestError]) -> Desired:
        where = item.location or context.where
        not_before = None
        if item.not_before is not None:
            try:
                not_before = int(parse_instant(item.not_before, context.zone).timestamp())
            except TimeError as exc:
                problems.append(ManifestError(where, ("sends", item.key, "not_before"), str(exc)))
        message = thaw(context.messages.get(item.template, {}))
        values = {
            "campaign": f"campaign.{item.campaign}",
            "template": f"template.{item.template}",
            "digest": digest(message),
            "message": message,
            "audiences": tuple(f"audience.{a}" for a in item.audiences),
            "exclude": tuple(f"audience.{a}" for a in item.exclude),
            "not_before": not_before,
            "min_conversation_gap_seconds": item.min_conversation_gap_seconds,
        }
        return Desired(item.address, self.kind, MappingProxyType(values), frozenset(IDENTITY), location=item.location)

    def applied(self, values: Mapping[str, Any]) -> Mapping[str, Any]:
        return MappingProxyType({k: values[k] for k in self.applied_fields if values.get(k) is not None})

    def state_plan(
        self, want: Desired, applied: Mapping[str, Any] | None
    ) -> tuple[Op, str, tuple[Change, ...], tuple[str, ...]]:
        """(action, reason, changes, notes); the recipients are counted later (``core.sends``)."""
        if applied is None:
            return Op.SEND, "a new send", (), ()
        changed = [f for f in IDENTITY if f != "digest" and _same(applied.get(f)) != _same(want.values.get(f))]
        if applied.get("digest") != want.values["digest"] and "template" not in changed:
            changed.append("template (its message changed)")
        if changed:
            raise PlanError(
                f"{want.address} has started ({applied.get('recipients', 0):,} recipients, since "
                f"{applied.get('started', 'an earlier apply')}) and a send cannot change once started: "
                f"{', '.join(changed)} differ from what it was started with. Declare a new send under "
                "another name for the new message or audience, and leave this one as it was (or remove it: "
                "its journal is kept, and nobody it reached is sent the new one twice within 12 hours)"
            )
        return Op.SEND, "resuming", (), ()


def _same(value: Any) -> Any:
    return tuple(value) if isinstance(value, (list, tuple)) else value


def tokens_listing(page_id: str, audience_ids: list[str]) -> tuple[str, dict[str, Any]]:
    """The subscription tokens of the audiences, each person once, 1,000 to a page."""
    return f"{page_id}/notification_message_tokens", {
        "fields": TOKEN_FIELDS,
        "custom_audience_ids": audience_ids,
        "do_not_return_duplicates": True,
    }


@reads("a subscription token")
def parse_token(row: Mapping[str, Any]) -> tuple[str, int | None]:
    """(token, next eligible time) of a listing row."""
    eligible = row.get("next_eligible_time")
    return str(row["notification_messages_token"]), int(eligible) if eligible not in (None, "") else None


def message_send(ad_account: str, message_id: str, token: str, message: Any, gap: int | None) -> Operation:
    """``POST act_X/messages`` for one recipient. Not retried after an unclear failure: it may have
    been delivered (the journal resolves it)."""
    params: dict[str, Any] = {
        "message_id": message_id,
        "messenger_delivery_data": {"subscription_token": token},
        "message": message,
    }
    if gap:
        params["min_conversation_gap_seconds"] = gap
    return Operation("POST", f"{ad_account}/messages", params, kind="create")


@reads("a send's answer")
def parse_sent(body: Mapping[str, Any]) -> str:
    """The ``marketing_message_tracking_id`` of a successful send."""
    if body.get("success") is not True:
        raise ValueError("the answer does not say success: true")
    return str(body.get("marketing_message_tracking_id") or "")


SPEC = SendKind()
