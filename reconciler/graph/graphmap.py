"""How mmctl's resources map onto Graph API objects and calls: the one place that knows.

A message campaign is created in one call (``POST act_X/message_campaign``) and lives as three
objects: the campaign owns name and status, the ad set owns budget, schedule and pixel, and the
ad is the message (its id is the MESSAGE_CAMPAIGN_ID). Listing is ``GET act_X/ads`` with field
expansion; updates go to the object that owns the field; delete is ``DELETE /<message id>``.
Custom audiences are ``act_X/customaudiences`` with the marketing-message fields of seeds/004.

Everything here is pure: it builds ``client.Operation`` values and reads answers into the
normalised values the planner compares (money in minor units, times as Unix seconds).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, TypeVar

from reconciler.errors import UnexpectedAnswer
from reconciler.graph.client import Operation, fields

F = TypeVar("F", bound=Callable[..., Any])
MAX_INSTANT = 253_402_300_799  # 9999-12-31T23:59:59Z: any later "time" is garbage
MAX_AMOUNT = 10**15  # minor units; no budget is larger


def reads(what: str) -> Callable[[F], F]:
    """Make a parser of Graph answers raise ``UnexpectedAnswer`` (exit 1, with what was read) for an
    answer of the wrong shape or with values that cannot be read, instead of a bug's traceback."""

    def wrap(parse: F) -> F:
        @functools.wraps(parse)
        def parsed(*args: Any, **kwargs: Any) -> Any:
            try:
                return parse(*args, **kwargs)
            except (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError) as exc:
                detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)[:200] or type(exc).__name__
                raise UnexpectedAnswer(detail, method="", path=what) from None

        return parsed  # type: ignore[return-value]

    return wrap


# Values that live on the campaign object; all other campaign fields live on the ad set.
CAMPAIGN_OWNED = frozenset({"name", "status"})
ADSET_OWNED = frozenset({"daily_budget", "lifetime_budget", "start_time", "end_time"})
CAMPAIGN_FIELDS = ("name", "status", "daily_budget", "lifetime_budget", "start_time", "end_time", "pixel_id", "page_id")
AUDIENCE_FIELDS = ("name", "description", "page_id")
# Read-only facts the server keeps moving on its own (spend, matching, processing): shown and used
# for money and warnings, never compared, never drift, never a reason to refuse a saved plan.
LIVE_ONLY = frozenset({"operation_status", "budget_remaining", "approximate_count"})
MM_AUDIENCE_FILTER = [{"field": "data_source.subtype", "operator": "IN", "value": [1010]}]  # seeds/004


@dataclass(frozen=True)
class LiveObject:
    """An object as the API reports it, with its ids and the normalised values mmctl compares."""

    kind: str
    ids: Mapping[str, str]
    values: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def id(self) -> str:
        return self.ids["id"]


@dataclass(frozen=True)
class Account:
    id: str  # act_…
    currency: str
    timezone_name: str
    name: str


def account_read(ad_account: str) -> tuple[str, dict[str, str]]:
    return ad_account, {"fields": "currency,timezone_name,name"}


@reads("the ad account")
def parse_account(ad_account: str, body: Mapping[str, Any]) -> Account:
    currency = body.get("currency")
    if not isinstance(currency, str) or not currency.strip():
        # Money is planned in the account's currency: guessing USD could misread a budget 100-fold.
        raise ValueError(
            "the account has no currency, so no budget can be read or checked; check the token's "
            "access to the ad account (ads_read)"
        )
    return Account(
        ad_account,
        currency.strip().upper(),
        str(body.get("timezone_name") or "UTC"),
        str(body.get("name") or ad_account),
    )


# --- campaigns -----------------------------------------------------------------------------------


def campaign_listing(ad_account: str) -> tuple[str, dict[str, str]]:
    return f"{ad_account}/ads", {
        "fields": fields(
            "id",
            "account_id",
            campaign=("id", "name", "status", "is_message_campaign"),
            adset=(
                "id",
                "daily_budget",
                "lifetime_budget",
                "budget_remaining",
                "start_time",
                "end_time",
                "promoted_object",
            ),
            creative=("actor_id",),
        )
    }


def _instant(value: Any) -> int | None:
    if value in (None, "", 0, "0"):
        return None
    if isinstance(value, (int, float)) or (str(value).isascii() and str(value).isdigit()):
        instant = int(value)
    else:
        try:
            instant = int(datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S%z").timestamp())
        except ValueError:
            instant = int(datetime.fromisoformat(str(value)).timestamp())
    if not 0 < instant <= MAX_INSTANT:
        raise ValueError(f"a time out of any sensible range ({instant})")
    return instant


def _budget(value: Any) -> int | None:
    amount = int(value) if value not in (None, "") else 0
    if isinstance(value, bool) or not 0 <= amount < MAX_AMOUNT:
        raise ValueError(f"a budget that cannot be one ({amount})")
    return amount or None  # the API writes "0" for the budget type not in use


@reads("a campaign in the ads listing")
def parse_campaign(row: Mapping[str, Any]) -> LiveObject | None:
    """A row of the ads listing, or None for ads that are not marketing-message campaigns."""
    campaign, adset = row.get("campaign") or {}, row.get("adset") or {}
    if campaign.get("is_message_campaign") is False or not campaign or not adset:
        return None
    promoted = adset.get("promoted_object") or {}
    creative = row.get("creative") or {}
    values = {
        "name": campaign.get("name"),
        "status": campaign.get("status"),
        "daily_budget": _budget(adset.get("daily_budget")),
        "lifetime_budget": _budget(adset.get("lifetime_budget")),
        "start_time": _instant(adset.get("start_time")),
        "end_time": _instant(adset.get("end_time")),
        "pixel_id": str(promoted["pixel_id"]) if promoted.get("pixel_id") else None,
        "page_id": str(creative.get("actor_id") or promoted.get("page_id") or "") or None,
    }
    if adset.get("budget_remaining") not in (None, ""):
        values["budget_remaining"] = int(adset["budget_remaining"])
    ids = {"id": str(row["id"]), "campaign": str(campaign["id"]), "adset": str(adset["id"])}
    return LiveObject("campaign", MappingProxyType(ids), MappingProxyType(values))


def campaign_create(ad_account: str, values: Mapping[str, Any]) -> Operation:
    params = {
        k: values.get(k)
        for k in ("name", "page_id", "daily_budget", "lifetime_budget", "start_time", "end_time", "pixel_id")
    }
    return Operation("POST", f"{ad_account}/message_campaign", params, kind="create")


def campaign_ids_read(message_id: str) -> Operation:
    """After a create: the ids of the campaign and ad set behind the new message."""
    return Operation("GET", message_id, {"fields": fields("id", campaign=("id",), adset=("id",))})


@reads("the ids of a new campaign")
def parse_campaign_ids(body: Mapping[str, Any]) -> dict[str, str]:
    return {"id": str(body["id"]), "campaign": str(body["campaign"]["id"]), "adset": str(body["adset"]["id"])}


def campaign_updates(ids: Mapping[str, str], changes: Mapping[str, Any]) -> list[Operation]:
    """One update per object that owns a changed field (name/status: campaign; the rest: ad set)."""
    out = []
    on_campaign = {k: v for k, v in changes.items() if k in CAMPAIGN_OWNED}
    on_adset = {k: (0 if v is None and k == "end_time" else v) for k, v in changes.items() if k in ADSET_OWNED}
    if on_campaign:
        out.append(Operation("POST", ids["campaign"], on_campaign, kind="update"))
    if on_adset:
        out.append(Operation("POST", ids["adset"], on_adset, kind="update"))
    return out


def campaign_delete(ids: Mapping[str, str]) -> Operation:
    return Operation("DELETE", ids["id"], kind="delete")


def minimum_budgets_read(ad_account: str) -> tuple[str, dict[str, str]]:
    return f"{ad_account}/minimum_budgets", {}


@reads("the minimum budgets")
def parse_min_daily(body: Mapping[str, Any], currency: str) -> int | None:
    """``min_daily_budget_imp`` of the account's currency (the listing covers every currency)."""
    for row in body.get("data", []):
        if isinstance(row, Mapping) and row.get("currency") == currency and row.get("min_daily_budget_imp"):
            return int(row["min_daily_budget_imp"])
    return None


ESTIMATE_FIELDS = (
    "estimate_delivery_upper_bound",
    "estimate_delivery_lower_bound",
    "estimate_cost_upper_bound",
    "estimate_cost_lower_bound",
)


def estimate_read(ad_account: str, values: Mapping[str, Any], now: int) -> Operation:
    """``message_delivery_estimate`` for a campaign's budget, with the parameters seeds/000 gives."""
    params: dict[str, Any] = {
        "fields": ",".join(ESTIMATE_FIELDS),
        "targeting_spec": {"messenger_positions": ["marketing_messages"], "publisher_platforms": ["messenger"]},
        "promoted_object": {"page_id": values["page_id"]},
        "is_direct_send_campaign": True,
        "pacing_type": "no_pacing",
    }
    if values.get("daily_budget"):
        params["daily_budget"] = values["daily_budget"]
    elif values.get("lifetime_budget"):
        start = values.get("start_time") or now
        end = values.get("end_time") or start + 30 * 86_400
        params["lifetime_budget"] = values["lifetime_budget"]
        params["lifetime_in_days"] = max(1, -(-(end - start) // 86_400))
    return Operation("GET", f"{ad_account}/message_delivery_estimate", params)


@reads("a delivery estimate")
def parse_estimate(body: Mapping[str, Any]) -> tuple[tuple[int, int], tuple[int, int]]:
    row = body["data"][0]
    return (
        (int(row["estimate_delivery_lower_bound"]), int(row["estimate_delivery_upper_bound"])),
        (int(row["estimate_cost_lower_bound"]), int(row["estimate_cost_upper_bound"])),
    )


def preview_read(ad_account: str, page_id: str, message: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``generatepreviews`` for a message payload, as seeds/000 "Preview the message attachment" calls it."""
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


# --- audiences -----------------------------------------------------------------------------------


def audience_listing(ad_account: str) -> tuple[str, dict[str, Any]]:
    return f"{ad_account}/customaudiences", {
        "fields": fields(
            "id",
            "account_id",
            "name",
            "description",
            "operation_status",
            "approximate_count_lower_bound",
            messenger_marketing_messages_page=("id",),
        ),
        "filtering": MM_AUDIENCE_FILTER,
    }


@reads("a custom audience in the listing")
def parse_audience(row: Mapping[str, Any]) -> LiveObject:
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
    return LiveObject("audience", MappingProxyType({"id": str(row["id"])}), MappingProxyType(values))


def audience_create(ad_account: str, values: Mapping[str, Any]) -> Operation:
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


def account_of(row: Mapping[str, Any]) -> str | None:
    """The ad account (``act_…``) an object read with ``account_id`` belongs to."""
    found = row.get("account_id")
    return f"act_{found}" if found not in (None, "") and not str(found).startswith("act_") else found


def server_notices(body: Any) -> tuple[str, ...]:
    """The ``info`` and ``warning`` Meta adds to a create or update answer (an estimated budget cap it
    set, a budget below its reference), as ``info: …`` / ``warning: …`` lines."""
    out = []
    if isinstance(body, Mapping):
        for key in ("warning", "info"):
            value = body.get(key)
            items = value if isinstance(value, list) else [value]
            for item in items:
                text = item.get("message") if isinstance(item, Mapping) else item
                if isinstance(text, str) and text.strip():
                    out.append(f"{key}: {text.strip()}")
    return tuple(out)


@reads("the id of a created object")
def parse_created_id(body: Any) -> str:
    """``{"id"}``, or ``{"data": [{"id"}]}`` as seeds/004 shows for audiences."""
    if isinstance(body, Mapping) and "id" in body:
        return str(body["id"])
    return str(body["data"][0]["id"])


def audience_update(ids: Mapping[str, str], changes: Mapping[str, Any]) -> list[Operation]:
    params = {k: (v if v is not None else "") for k, v in changes.items() if k in ("name", "description")}
    return [Operation("POST", ids["id"], params, kind="update")] if params else []


def audience_delete(ids: Mapping[str, str]) -> Operation:
    return Operation("DELETE", ids["id"], kind="delete")


MAX_ROWS = 10_000  # rows per /users request (seeds/004)


def users_add(audience_id: str, schema: list[str], rows: list[list[str]], session: Mapping[str, Any]) -> Operation:
    """Add hashed rows to an audience, one batch of an upload session."""
    return Operation(
        "POST",
        f"{audience_id}/users",
        {"payload": {"schema": schema, "data": rows}, "session": dict(session)},
        kind="update",
    )


def users_remove(audience_id: str, rows: list[list[str]], session: Mapping[str, Any]) -> Operation:
    """Remove people by their email and phone hashes: POST with method=DELETE (a DELETE cannot carry 10,000
    rows in its query string)."""
    return Operation(
        "POST",
        f"{audience_id}/users",
        {"method": "DELETE", "payload": {"schema": ["EMAIL", "PHONE"], "data": rows}, "session": dict(session)},
        kind="update",
    )
