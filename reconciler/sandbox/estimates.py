"""Delivery estimates and message previews (graph-api.md §2)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from . import accounts
from .call import Call
from .errors import INVALID_PACING_TYPE, invalid_parameter, marketing_messages
from .messages import check_payload
from .subscribers import subscriber_count

ESTIMATE_FIELDS = (
    "estimate_delivery_upper_bound",
    "estimate_delivery_lower_bound",
    "estimate_cost_upper_bound",
    "estimate_cost_lower_bound",
)


def delivery_estimate(call: Call, acct: dict[str, Any]) -> dict[str, Any]:
    """``GET act_X/message_delivery_estimate``: deliveries and cost bounded by subscribers and budget.

    A message costs between the currency's price and 1.5 times it; deliveries are capped by the
    Page's subscribers (one message a day each) and by what the budget buys over the lifetime.
    """
    call.only(
        {
            "fields",
            "daily_budget",
            "lifetime_budget",
            "lifetime_in_days",
            "pacing_type",
            "is_direct_send_campaign",
            "promoted_object",
            "targeting_spec",
        }
    )
    p = call.params
    promoted = p.structured("promoted_object", required=True)
    if not isinstance(promoted, dict) or not str(promoted.get("page_id", "")).isdigit():
        raise invalid_parameter("Param promoted_object must be {page_id: <PAGE_ID>}")
    targeting = p.structured("targeting_spec")
    if targeting is not None and (
        not isinstance(targeting, dict)
        or targeting.get("publisher_platforms") != ["messenger"]
        or targeting.get("messenger_positions") != ["marketing_messages"]
    ):
        raise invalid_parameter(
            'Param targeting_spec must be {publisher_platforms: ["messenger"], '
            'messenger_positions: ["marketing_messages"]}'
        )
    pacing = p.text("pacing_type")
    if pacing is not None and pacing.lower() != "no_pacing":
        raise marketing_messages(
            INVALID_PACING_TYPE, "INVALID_PACING_TYPE", "The pacing type for direct send is invalid."
        )
    daily, lifetime = p.integer("daily_budget"), p.integer("lifetime_budget")
    if daily is not None and lifetime is not None:
        raise invalid_parameter("Only one of daily_budget or lifetime_budget can be set")
    for amount in (daily, lifetime):
        if amount is not None and amount <= 0:
            raise invalid_parameter("A budget must be greater than 0")
    days = p.integer("lifetime_in_days") or (30 if lifetime is not None else 1)
    if days <= 0:
        raise invalid_parameter("Param lifetime_in_days must be positive")
    wanted = (p.text("fields") or ",".join(ESTIMATE_FIELDS)).split(",")
    for name in wanted:
        if name.strip() not in ESTIMATE_FIELDS:
            raise invalid_parameter(f"{name.strip()} is not valid for fields param")
    price = accounts.currency_facts(acct["currency"])[2]
    high_price = price + (price + 1) // 2
    reach = subscriber_count(call.world, str(promoted["page_id"])) * days
    budget = daily * days if daily is not None else lifetime
    upper = reach if budget is None else min(reach, budget // price)
    lower = reach if budget is None else min(reach, budget // high_price)
    lower = min(lower, int(upper * 0.8)) if upper else 0
    row = {
        "estimate_delivery_upper_bound": upper,
        "estimate_delivery_lower_bound": lower,
        "estimate_cost_upper_bound": upper * high_price if budget is None else min(budget, upper * high_price),
        "estimate_cost_lower_bound": lower * price,
    }
    return {"data": [{name.strip(): row[name.strip()] for name in wanted}]}


def previews(call: Call, acct: dict[str, Any], host_url: str) -> dict[str, Any]:
    """``GET act_X/generatepreviews?ad_format=MESSENGER_MARKETING_MESSAGES_MEDIA&creative=…&message=…``."""
    call.only({"ad_format", "creative", "message", "locale", "width", "height"})
    p = call.params
    ad_format = p.text("ad_format", required=True)
    if ad_format != "MESSENGER_MARKETING_MESSAGES_MEDIA":
        raise invalid_parameter(f"Param ad_format must be MESSENGER_MARKETING_MESSAGES_MEDIA, not {ad_format}")
    creative = p.structured("creative", required=True)
    story = creative.get("object_story_spec") if isinstance(creative, dict) else None
    if not isinstance(story, dict) or not str(story.get("page_id", "")).isdigit():
        raise invalid_parameter("Param creative must carry object_story_spec.page_id")
    message = p.structured("message", required=True)
    check_payload(message)
    text = json.dumps(message, sort_keys=True, separators=(",", ":"))
    key = base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    src = f"{host_url}/__sandbox/preview?d={key}&t={digest}"
    body = f'<iframe src="{src}" width="274" height="213" scrolling="yes" style="border: none;"></iframe>'
    return {"data": [{"body": body}]}
