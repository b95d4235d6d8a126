"""Message campaigns: created in one call, living as a campaign, an ad set and an ad.

``POST act_X/message_campaign`` makes the three Marketing API objects the seeds describe: the
campaign owns name and status, the ad set owns budget, schedule and pixel (``promoted_object``), and
the ad is the message whose id is the MESSAGE_CAMPAIGN_ID. They are read by id or through
``GET act_X/ads`` with field expansion, updated on the object that owns the field, and deleted
with ``DELETE /<MESSAGE_CAMPAIGN_ID>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from . import accounts
from .call import Call
from .errors import invalid_parameter, marketing_messages
from .fields import Node, NodeType, resolve_path
from .filtering import ids_wanted, parse_filtering
from .store import World
from .subscribers import subscriber_count
from .timefmt import format_date, format_time, parse_time

DAY = 86_400
MAX_START_AHEAD = 30 * DAY
START_GRACE = 60  # seconds a start "now" may lag behind the sandbox clock
WARM_UP = 3_600  # changelog 2026-05-05: 1-hour warm-up after creation
REACTIVATION_WAIT = 600  # FAQ: 10 minutes after a campaign is set active again
LIVE = ("ACTIVE", "PAUSED")
STATUSES = ("ACTIVE", "PAUSED", "ARCHIVED", "DELETED")

CREATE_PARAMS = {
    "name",
    "page_id",
    "daily_budget",
    "lifetime_budget",
    "start_time",
    "end_time",
    "pixel_id",
    "bid_amount",
}
AD_FILTER_FIELDS = {
    "id",
    "name",
    "effective_status",
    "adset.id",
    "adset.name",
    "campaign.id",
    "campaign.name",
    "campaign.is_message_campaign",
    "campaign.is_direct_send_campaign",
    "creative.actor_id",
    "adset.promoted_object.pixel_id",
    "adset.promoted_object.page_id",
}


# --- reading -------------------------------------------------------------------------------------


def _status_of(world: World, obj: dict[str, Any]) -> str:
    """Effective status: the worst of the object and its parents, as the Marketing API reports."""
    chain = [obj]
    if obj["type"] in ("adset", "ad"):
        chain.insert(0, world.objects[obj["campaign_id"]])
    if obj["type"] == "ad":
        chain.insert(1, world.objects[obj["adset_id"]])
    for status in ("DELETED", "ARCHIVED"):
        if any(o["status"] == status for o in chain):
            return status
    for o in chain:
        if o["status"] == "PAUSED":
            return {"campaign": "CAMPAIGN_PAUSED", "adset": "ADSET_PAUSED"}[o["type"]] if o is not obj else "PAUSED"
    return "ACTIVE"


def node_types(world: World) -> dict[str, NodeType]:
    """The node types of the three objects and the creative, bound to ``world`` (made once per
    world: every update and listing asks, and making them cost more than most updates)."""
    made = world.bound.get("campaign node types")
    if made is None:
        made = world.bound["campaign node types"] = _node_types(world)
    return made


def _node_types(world: World) -> dict[str, NodeType]:
    objects = world.objects
    common = {
        "id": lambda o: o["id"],
        "name": lambda o: o["name"],
        "status": lambda o: o["status"],
        "configured_status": lambda o: o["status"],
        "effective_status": lambda o: _status_of(world, o),
        "account_id": lambda o: o["account"],
        "created_time": lambda o: format_time(o["created"]),
        "updated_time": lambda o: format_time(o["updated"]),
    }
    types: dict[str, NodeType] = {}
    types["campaign"] = NodeType(
        "Campaign",
        {
            **common,
            "objective": lambda o: "OUTCOME_ENGAGEMENT",
            "is_message_campaign": lambda o: True,
            "is_direct_send_campaign": lambda o: True,
            "buying_type": lambda o: "AUCTION",
        },
    )

    def promoted(o: dict[str, Any]) -> dict[str, Any]:
        found = {"page_id": o["page_id"]}
        if o.get("pixel_id"):
            found["pixel_id"] = o["pixel_id"]
        return found

    def remaining(o: dict[str, Any]) -> str:
        if o.get("lifetime_budget"):
            return str(max(0, o["lifetime_budget"] - o["spend"]["total"]))
        today = format_date(world.now(), world.accounts[o["account"]]["timezone_name"])
        return str(max(0, (o.get("daily_budget") or 0) - o["spend"]["days"].get(today, 0)))

    types["adset"] = NodeType(
        "AdSet",
        {
            **common,
            "campaign_id": lambda o: o["campaign_id"],
            "campaign": lambda o: Node(types["campaign"], objects[o["campaign_id"]]),
            "daily_budget": lambda o: str(o.get("daily_budget") or 0),
            "lifetime_budget": lambda o: str(o.get("lifetime_budget") or 0),
            "budget_remaining": remaining,
            "bid_amount": lambda o: o.get("bid_amount"),
            # The send guide: "start_time – When the campaign started (UNIX timestamp)"; strings, like budgets.
            "start_time": lambda o: str(int(o["start"])),
            "end_time": lambda o: str(int(o["end"])) if o.get("end") else None,
            "promoted_object": promoted,
            "targeting": lambda o: {
                "publisher_platforms": ["messenger"],
                "messenger_positions": ["marketing_messages"],
            },
        },
    )
    types["creative"] = NodeType(
        "AdCreative",
        {
            "id": lambda o: o["id"],
            "name": lambda o: o["name"],
            "actor_id": lambda o: o["page_id"],
            "object_story_spec": lambda o: {"page_id": o["page_id"]},
        },
    )
    types["ad"] = NodeType(
        "Ad",
        {
            **common,
            "adset_id": lambda o: o["adset_id"],
            "campaign_id": lambda o: o["campaign_id"],
            "adset": lambda o: Node(types["adset"], objects[o["adset_id"]]),
            "campaign": lambda o: Node(types["campaign"], objects[o["campaign_id"]]),
            "creative": lambda o: Node(types["creative"], objects[o["creative_id"]]),
        },
    )
    return types


def list_ads(call: Call, acct: dict[str, Any]) -> dict[str, Any]:
    """``GET act_X/ads``: live (not deleted, not archived unless asked) ads, filtered and paged."""
    call.only(
        {"fields", "filtering", "effective_status", "limit", "after", "before", "date_preset", "time_range", "summary"}
    )
    world = call.world
    ad_type = node_types(world)["ad"]
    predicates = parse_filtering(call.params.structured("filtering"), AD_FILTER_FIELDS)
    wanted_status = call.params.structured("effective_status")
    if wanted_status is not None and not isinstance(wanted_status, list):
        raise invalid_parameter("Param effective_status must be an array")

    only = ids_wanted(call.params.structured("filtering"))

    def listed(after: int | None) -> Iterator[dict[str, Any]]:
        if only is None:
            yield from world.listing_after(acct["id"], "ad", after)
            return
        # A filter by id reads those ads alone: after 10,000 creates, mmctl reads their ids 100 at a time.
        for number in sorted(i for i in only if after is None or i > after):
            found = world.objects.get(str(number))
            if found is not None and found.get("type") == "ad" and found.get("account") == acct["id"]:
                yield found

    def matching(after: int | None) -> Iterator[dict[str, Any]]:
        for ad in listed(after):
            status = _status_of(world, ad)
            if status == "DELETED" or (status == "ARCHIVED" and "ARCHIVED" not in (wanted_status or [])):
                continue
            if wanted_status is not None and status not in wanted_status:
                continue

            def read(path: str, ad: dict[str, Any] = ad) -> Any:
                return resolve_path(ad_type, ad, path)

            if all(test(read) for test in predicates):
                yield ad

    return call.listing_from(matching, ad_type)


# --- creating ------------------------------------------------------------------------------------


def _money(call: Call, name: str, acct: dict[str, Any]) -> int | None:
    amount = call.params.integer(name)
    if amount is None:
        return None
    if amount <= 0:
        raise invalid_parameter(
            f"{name} must be greater than 0",
            user_title="Invalid budget",
            user_msg=f"If you provide {name}, it must be greater than 0.",
        )
    return amount


def _check_minimum(daily: int | None, lifetime: int | None, acct: dict[str, Any]) -> None:
    """The minimum from ``minimum_budgets``: a day's, and 30 days' for a lifetime budget (graph-api.md §1)."""
    minimum = accounts.currency_facts(acct["currency"])[1]
    currency = acct["currency"]
    if daily is not None and daily < minimum:
        raise invalid_parameter(
            "Your budget is too low",
            user_title="Budget too low",
            user_msg=f"The daily budget must be at least {accounts.format_money(minimum, currency)} "
            f"(min_daily_budget_imp {minimum}).",
        )
    if lifetime is not None and lifetime < minimum * 30:
        raise invalid_parameter(
            "Your budget is too low",
            user_title="Budget too low",
            user_msg=f"The lifetime budget must be at least {accounts.format_money(minimum * 30, currency)} "
            f"(30 days x min_daily_budget_imp {minimum}).",
        )


def _schedule(
    call: Call, acct: dict[str, Any], start: float | None, end: float | None, lifetime: bool
) -> tuple[float, float | None]:
    now = call.now
    start = now if start is None else start
    if start < now - START_GRACE:
        raise invalid_parameter(
            "start_time must be now or in the future",
            user_title="Invalid start time",
            user_msg="The start time must be now or in the future and within 30 days of the current time.",
        )
    if start > now + MAX_START_AHEAD:
        raise invalid_parameter(
            "start_time must be within 30 days of the current time",
            user_title="Invalid start time",
            user_msg="The start time must be within 30 days of the current time.",
        )
    if end is None and lifetime:
        end = start + 30 * DAY
    if end is not None and end <= start:
        raise invalid_parameter(
            "end_time must be after start_time",
            user_title="Invalid end time",
            user_msg="The end time must be after the start time.",
        )
    return start, end


def _times(call: Call, acct: dict[str, Any]) -> tuple[float | None, float | None]:
    zone_name = acct["timezone_name"]
    start_raw, end_raw = call.params.get("start_time"), call.params.get("end_time")
    start = parse_time(start_raw, "start_time", zone_name) if start_raw not in (None, "") else None
    end = parse_time(end_raw, "end_time", zone_name) if end_raw not in (None, "", 0, "0") else None
    return start, end


def _id_param(call: Call, name: str, *, required: bool = False) -> str | None:
    value = call.params.text(name, required=required)
    if value is None:
        return None
    if not re.fullmatch(r"\d{1,20}", value.strip()):
        raise invalid_parameter(f"Param {name} must be a valid ID")
    return value.strip()


def estimated_daily_cap(world: World, acct: dict[str, Any], page_id: str) -> int:
    """What Meta may set when no budget is given: enough to message every subscriber once a day."""
    minimum, price = accounts.currency_facts(acct["currency"])[1:]
    return max(minimum, subscriber_count(world, page_id) * price)


def create(call: Call, acct: dict[str, Any]) -> dict[str, Any]:
    """``POST act_X/message_campaign``."""
    accounts.check_can_create(acct)
    call.only(CREATE_PARAMS)
    name = call.params.text("name", required=True) or ""
    if not name.strip():
        raise invalid_parameter("The parameter name is required")
    page_id = _id_param(call, "page_id", required=True)
    assert page_id is not None
    daily, lifetime = _money(call, "daily_budget", acct), _money(call, "lifetime_budget", acct)
    if daily is not None and lifetime is not None:
        raise invalid_parameter(
            "Only one of daily_budget or lifetime_budget can be set",
            user_title="Conflicting budgets",
            user_msg="Provide either daily_budget or lifetime_budget, not both.",
        )
    if daily is None and lifetime is None and not acct["default_budget_mode"]:
        raise marketing_messages(
            2300007,
            "LIFETIME_BUDGET_AND_DAILY_BUDGET_MISSING",
            "You need to pass in at least one of the two fields: lifetime_budget or daily_budget.",
        )
    start, end = _times(call, acct)
    start, end = _schedule(call, acct, start, end, lifetime is not None)
    _check_minimum(daily, lifetime, acct)
    pixel = _id_param(call, "pixel_id")
    if pixel is not None and acct["pixels"] and pixel not in acct["pixels"]:
        raise invalid_parameter(
            f"Pixel {pixel} is not active or not accessible by this ad account",
            user_title="Invalid pixel",
            user_msg="The pixel must be active and accessible by the ad account or business.",
        )
    if pixel is None and len(acct["pixels"]) == 1:
        pixel = acct["pixels"][0]
    bid = call.params.integer("bid_amount")
    world = call.world
    accounts.page(world, page_id)
    answer: dict[str, Any] = {}
    reference = estimated_daily_cap(world, acct, page_id)
    if daily is None and lifetime is None:
        daily = reference
        answer["info"] = {
            "message": "Meta set an estimated daily budget cap of "
            f"{accounts.format_money(reference, acct['currency'])} for this campaign."
        }
    else:
        per_day = daily if daily is not None else (lifetime or 0) / max(1.0, ((end or start) - start) / DAY)
        if per_day < reference:
            answer["warning"] = {
                "message": "The budget you provided is lower than the budget reference "
                f"({accounts.format_money(reference, acct['currency'])} a day) "
                "generated for this campaign; the campaign uses your budget."
            }
    now = call.now
    base = {"account": acct["id"], "name": name, "status": "ACTIVE", "created": now, "updated": now}
    campaign = world.add({**base, "id": world.new_id(), "type": "campaign"})
    adset = world.add(
        {
            **base,
            "id": world.new_id(),
            "type": "adset",
            "campaign_id": campaign["id"],
            "daily_budget": daily if lifetime is None else None,
            "lifetime_budget": lifetime,
            "start": start,
            "end": end,
            "page_id": page_id,
            "pixel_id": pixel,
            "bid_amount": bid,
            "spend": {"total": 0, "days": {}},
        }
    )
    creative = world.add(
        {
            "account": acct["id"],
            "id": world.new_id(),
            "type": "creative",
            "name": f"{name} message",
            "page_id": page_id,
            "status": "ACTIVE",
            "created": now,
            "updated": now,
        }
    )
    ad = world.add(
        {
            **base,
            "id": world.new_id(),
            "type": "ad",
            "campaign_id": campaign["id"],
            "adset_id": adset["id"],
            "creative_id": creative["id"],
            "page_id": page_id,
            "activated": now,
            "sends": {},
        }
    )
    return {"id": ad["id"], **answer}


# --- updating and deleting -----------------------------------------------------------------------

UPDATABLE = {
    "campaign": {"name", "status"},
    "adset": {"name", "status", "daily_budget", "lifetime_budget", "start_time", "end_time", "bid_amount"},
    "ad": {"name", "status"},
}
IMMUTABLE = {
    "adset": {
        "pixel_id": "pixel_id cannot be changed after the campaign is created",
        "promoted_object": "promoted_object cannot be changed after the campaign is created",
        "page_id": "page_id cannot be changed after the campaign is created",
    }
}


def update(call: Call, obj: dict[str, Any]) -> dict[str, Any]:
    """``POST /<id>`` on a campaign, ad set or ad: only the fields that object owns."""
    kind = obj["type"]
    node_name = node_types(call.world)[kind].name
    for key in sorted(call.params.endpoint_keys()):
        if key in IMMUTABLE.get(kind, {}):
            raise invalid_parameter(
                IMMUTABLE[kind][key],
                user_title="Field cannot be changed",
                user_msg=IMMUTABLE[kind][key] + "; create a new campaign instead.",
            )
        if key not in UPDATABLE[kind]:
            raise invalid_parameter(f"Param {key} is not a field of node type ({node_name}) that can be updated")
    if obj["status"] == "DELETED":
        raise invalid_parameter(
            f"Object {obj['id']} has been deleted and cannot be edited", user_title="Object deleted"
        )
    changes: dict[str, Any] = {}
    if "name" in call.params:
        changes["name"] = call.params.name()
    if "status" in call.params:
        status = (call.params.text("status") or "").upper()
        if status not in STATUSES:
            raise invalid_parameter(f"Param status must be one of {{{', '.join(STATUSES)}}}")
        if obj["status"] == "ARCHIVED" and status not in ("ARCHIVED", "DELETED"):
            raise invalid_parameter("An archived object can only be deleted")
        changes["status"] = status
    if obj["status"] == "ARCHIVED" and set(changes) - {"status", "name"}:
        raise invalid_parameter("Only name and status of an archived object can be edited")
    if kind == "adset":
        changes.update(_adset_changes(call, obj))
    if not changes:
        return {"success": True}
    now = call.now
    if changes.get("status") == "ACTIVE" and obj["status"] == "PAUSED":
        # The FAQ's 10-minute wait after activation applies to the message.
        ad = obj if kind == "ad" else _ad_of(call.world, obj)
        if ad is not None:
            ad["activated"] = now
    if changes.get("status") == "DELETED":
        _delete_tree(call.world, obj, now)
        changes.pop("status")
    obj.update(changes)
    obj["updated"] = now
    call.world.touch()
    return {"success": True}


def _ad_of(world: World, obj: dict[str, Any]) -> dict[str, Any] | None:
    key = "campaign_id" if obj["type"] == "campaign" else "adset_id"
    for ad in world.listing(obj["account"], "ad"):
        if ad.get(key) == obj["id"]:
            return ad
    return None


def _adset_changes(call: Call, adset: dict[str, Any]) -> dict[str, Any]:
    acct = call.world.accounts[adset["account"]]
    changes: dict[str, Any] = {}
    daily, lifetime = _money(call, "daily_budget", acct), _money(call, "lifetime_budget", acct)
    if daily is not None and adset.get("lifetime_budget") or lifetime is not None and adset.get("daily_budget"):
        raise invalid_parameter(
            "You cannot switch an ad set between a daily and a lifetime budget",
            user_title="Budget type cannot be changed",
            user_msg="Switching between daily_budget and lifetime_budget is not possible after creation.",
        )
    start, end = _times(call, acct)
    now = call.now
    new_start = adset["start"]
    if start is not None and int(start) != int(adset["start"]):
        if adset["start"] <= now:
            raise invalid_parameter(
                "The start time of an ad set that has already started cannot be changed",
                user_title="Start time cannot be changed",
                user_msg="The campaign has already started; its start time is fixed.",
            )
        new_start, _ = _schedule(call, acct, start, None, False)
        changes["start"] = new_start
    new_end = adset.get("end")
    if "end_time" in call.params:
        if end is None and adset.get("lifetime_budget"):
            raise invalid_parameter("A lifetime budget needs an end_time")
        new_end = end
        changes["end"] = end
    if new_end is not None and new_end <= new_start:
        raise invalid_parameter(
            "end_time must be after start_time",
            user_title="Invalid end time",
            user_msg="The end time must be after the start time.",
        )
    _check_minimum(daily, lifetime, acct)
    if daily is not None:
        changes["daily_budget"] = daily
    if lifetime is not None:
        if lifetime < adset["spend"]["total"]:
            raise invalid_parameter("The lifetime budget cannot be lower than the amount already spent")
        changes["lifetime_budget"] = lifetime
    bid = call.params.integer("bid_amount")
    if bid is not None:
        changes["bid_amount"] = bid
    return changes


def _delete_tree(world: World, obj: dict[str, Any], now: float) -> None:
    """Delete an object with what hangs under it (and, for a message, the whole message campaign)."""
    if obj["type"] == "ad":
        targets = [obj, world.objects[obj["adset_id"]], world.objects[obj["campaign_id"]]]
    else:
        key = "campaign_id" if obj["type"] == "campaign" else "adset_id"
        targets = [obj] + [
            o for t in ("adset", "ad") for o in world.listing(obj["account"], t) if o.get(key) == obj["id"]
        ]
    for target in targets:
        if target["status"] != "DELETED":
            target["status"] = "DELETED"
            target["updated"] = now
    world.touch()


def delete(call: Call, obj: dict[str, Any]) -> dict[str, Any]:
    """``DELETE /<id>``: deleted objects stay readable by id and leave every listing."""
    call.only(set())
    _delete_tree(call.world, obj, call.now)
    return {"success": True}


# --- insights ------------------------------------------------------------------------------------

INSIGHT_FIELDS = (
    "marketing_messages_delivered",
    "marketing_messages_read_rate",
    "marketing_messages_link_btn_click",
    "marketing_messages_link_btn_click_rate",
    "marketing_messages_spend",
    "marketing_messages_cost_per_delivered",
    "marketing_messages_cost_per_link_btn_click",
    "actions",
    "action_values",
    "website_purchase_roas",
    "date_start",
    "date_stop",
    "campaign_id",
    "campaign_name",
    "adset_id",
    "ad_id",
    "account_id",
)
PRESETS = {
    "today": 0,
    "yesterday": 1,
    "last_7d": 7,
    "last_14d": 14,
    "last_28d": 28,
    "last_30d": 30,
    "last_90d": 90,
    "maximum": 37 * 30,
    "lifetime": 37 * 30,
}


def insights(call: Call, obj: dict[str, Any]) -> dict[str, Any]:
    """``GET /<id>/insights``: delivered messages and spend from the sandbox's own sends."""
    call.only(
        {
            "fields",
            "date_preset",
            "time_range",
            "filtering",
            "action_breakdowns",
            "level",
            "limit",
            "after",
            "before",
            "time_increment",
        }
    )
    world = call.world
    acct = world.accounts[obj["account"]]
    zone_name = acct["timezone_name"]
    wanted = (call.params.text("fields") or "marketing_messages_delivered,marketing_messages_spend").split(",")
    for name in wanted:
        if name.strip() not in INSIGHT_FIELDS:
            raise invalid_parameter(f"{name.strip()} is not valid for fields param")
    today = format_date(call.now, zone_name)
    time_range = call.params.structured("time_range")
    if time_range is not None:
        if not isinstance(time_range, dict) or not {"since", "until"} <= set(time_range):
            raise invalid_parameter("Param time_range must be {'since': 'YYYY-MM-DD', 'until': 'YYYY-MM-DD'}")
        since, until = str(time_range["since"]), str(time_range["until"])
    else:
        preset = call.params.text("date_preset") or "last_30d"
        if preset not in PRESETS:
            raise invalid_parameter(f"Param date_preset must be one of {{{', '.join(PRESETS)}}}")
        days = PRESETS[preset]
        since = format_date(call.now - days * DAY, zone_name) if preset != "today" else today
        until = format_date(call.now - DAY, zone_name) if preset == "yesterday" else today
    ads = (
        [obj]
        if obj["type"] == "ad"
        else [
            ad
            for ad in world.listing(obj["account"], "ad")
            if ad.get("campaign_id" if obj["type"] == "campaign" else "adset_id") == obj["id"]
        ]
    )
    delivered = sum(n for ad in ads for day, n in ad["sends"].items() if since <= day <= until)
    adsets = {ad["adset_id"] for ad in ads}
    spend = sum(n for a in adsets for day, n in world.objects[a]["spend"]["days"].items() if since <= day <= until)
    digits = accounts.currency_facts(acct["currency"])[0]
    major = spend / 10**digits
    row = {
        "marketing_messages_delivered": str(delivered),
        "marketing_messages_read_rate": "0",
        "marketing_messages_link_btn_click": "0",
        "marketing_messages_link_btn_click_rate": "0",
        "marketing_messages_spend": f"{major:.{digits}f}",
        "marketing_messages_cost_per_delivered": f"{(major / delivered) if delivered else 0:.{digits}f}",
        "marketing_messages_cost_per_link_btn_click": "0",
        "actions": [],
        "action_values": [],
        "website_purchase_roas": [],
        "campaign_id": obj.get("campaign_id", obj["id"]),
        "campaign_name": world.objects[obj.get("campaign_id", obj["id"])]["name"],
        "adset_id": ads[0]["adset_id"] if ads else None,
        "ad_id": ads[0]["id"] if len(ads) == 1 else None,
        "account_id": obj["account"],
    }
    out = {name.strip(): row[name.strip()] for name in wanted if row.get(name.strip()) is not None}
    out["date_start"], out["date_stop"] = since, until
    return {"data": [out], "paging": {"cursors": {"before": "MAZDZD", "after": "MAZDZD"}}}
