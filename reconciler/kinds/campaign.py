"""Marketing-message campaigns: one ``POST act_X/message_campaign`` makes three Graph objects.

The campaign owns name and status, the ad set owns budget, schedule and pixel, and the ad is
the message (its id, the MESSAGE_CAMPAIGN_ID, is the address mmctl keeps). The listing is
``GET act_X/ads`` with field expansion; an update goes to the object that owns the field; the
delete is ``DELETE /<message id>``. ``message_campaign`` takes no status: a campaign meant to be
PAUSED is created ACTIVE and paused right after.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any

from reconciler.clock import utc_text
from reconciler.errors import ManifestError, PlanError
from reconciler.kinds.base import DesiredContext, FollowUp, ResourceKind, reads
from reconciler.model import Campaign
from reconciler.money import MoneyError, to_minor
from reconciler.operation import Operation, fields
from reconciler.resources import Change, Desired, Kind, LiveObject
from reconciler.timeparse import TimeError, parse_instant

DAY = 86_400
LIFETIME_DAYS = 30  # without an end_time, Meta ends a lifetime budget 30 days after the start
MAX_INSTANT = 253_402_300_799  # 9999-12-31T23:59:59Z: any later "time" is garbage
MAX_AMOUNT = 10**15  # minor units; no budget is larger

# Where each field lives: the campaign object, the ad set, or fixed at creation (the Page is the
# creative's actor, the pixel the ad set's promoted object; neither changes in place).
OWNER = {
    "name": "campaign",
    "status": "campaign",
    "daily_budget": "adset",
    "lifetime_budget": "adset",
    "start_time": "adset",
    "end_time": "adset",
    "pixel_id": "creation",
    "page_id": "creation",
}
BUDGET_FIELDS = ("daily_budget", "lifetime_budget")
TIME_FIELDS = ("start_time", "end_time")
IDS_PER_READ = 100  # message ids per filtered read of the ads listing (a URL of about 2 kB)
MANIFEST_FIELDS = frozenset(OWNER) - {"page_id"}  # compared when written; name and the Page always are
CREATE_FIELDS = ("name", "page_id", *BUDGET_FIELDS, *TIME_FIELDS, "pixel_id")


def default_end(start: int) -> int:
    """The end_time Meta sets for a lifetime budget written without one."""
    return start + LIFETIME_DAYS * DAY


def _instant(value: Any) -> int | None:
    if value in (None, "", 0, "0"):
        return None
    if isinstance(value, (int, float)) or (str(value).isascii() and str(value).isdigit()):
        instant = int(value)
    else:
        # Graph writes ``2026-12-03T19:00:00+0000``, which fromisoformat reads (and 20 times
        # faster than strptime: a listing of 10,000 campaigns has 30,000 of them).
        instant = int(datetime.fromisoformat(str(value)).timestamp())
    if not 0 < instant <= MAX_INSTANT:
        raise ValueError(f"a time out of any sensible range ({instant})")
    return instant


def _budget(value: Any) -> int | None:
    amount = int(value) if value not in (None, "") else 0
    if isinstance(value, bool) or not 0 <= amount < MAX_AMOUNT:
        raise ValueError(f"a budget that cannot be one ({amount})")
    return amount or None  # the API writes "0" for the budget type not in use


class CampaignKind(ResourceKind):
    kind = Kind.CAMPAIGN
    section = "campaigns"
    applied_fields = frozenset(OWNER)
    live_only = frozenset({"budget_remaining", "created_time"})

    def desired(self, item: Campaign, context: DesiredContext, problems: list[ManifestError]) -> Desired:
        where = item.location or context.where
        values: dict[str, Any] = {
            "name": item.name,
            "page_id": context.page_id,
            "status": item.status,
            "pixel_id": item.pixel_id,
            "template": item.template,
            "audience": item.audience,
        }
        for key in BUDGET_FIELDS:
            raw = getattr(item, key)
            try:
                values[key] = to_minor(raw, context.currency) if raw is not None else None
            except MoneyError as exc:
                problems.append(ManifestError(where, ("campaigns", item.key, key), str(exc)))
        for key in TIME_FIELDS:
            raw = getattr(item, key)
            try:
                values[key] = int(parse_instant(raw, context.zone).timestamp()) if raw is not None else None
            except TimeError as exc:
                problems.append(ManifestError(where, ("campaigns", item.key, key), str(exc)))
        compared = (set(item.fields_set) & MANIFEST_FIELDS) | {"name", "page_id"}
        return Desired(
            item.address, self.kind, MappingProxyType(values), frozenset(compared), item.protect, item.location
        )

    # -- reading

    def listing(self, ad_account: str) -> tuple[str, dict[str, Any]]:
        return f"{ad_account}/ads", self.object_read()

    def object_read(self) -> dict[str, Any]:
        return {
            "fields": fields(
                "id",
                "account_id",
                "created_time",
                campaign=("id", "name", "status", "is_message_campaign"),
                adset=("id", *BUDGET_FIELDS, "budget_remaining", *TIME_FIELDS, "promoted_object"),
                creative=("actor_id",),
            )
        }

    def related_reads(self, ad_account: str, object_id: str) -> tuple[tuple[str, dict[str, Any]], ...]:
        """The message of a campaign id or an ad set id: the ads listing filtered by either."""
        path, params = self.listing(ad_account)
        return tuple(
            (path, {**params, "filtering": [{"field": field, "operator": "EQUAL", "value": object_id}], "limit": 2})
            for field in ("campaign.id", "adset.id")
        )

    @reads("a campaign in the ads listing")
    def parse(self, row: Mapping[str, Any]) -> LiveObject | None:
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
        if row.get("created_time"):
            values["created_time"] = _instant(row["created_time"])  # a send waits an hour after it
        if adset.get("budget_remaining") not in (None, ""):
            values["budget_remaining"] = int(adset["budget_remaining"])
        ids = {"id": str(row["id"]), "campaign": str(campaign["id"]), "adset": str(adset["id"])}
        return LiveObject(self.kind, MappingProxyType(ids), MappingProxyType(values))

    # -- changing

    def create(self, ad_account: str, values: Mapping[str, Any]) -> Operation:
        params = {k: values.get(k) for k in CREATE_FIELDS}
        return Operation("POST", f"{ad_account}/message_campaign", params, kind="create")

    def updates(self, ids: Mapping[str, str], changes: Mapping[str, Any]) -> list[Operation]:
        """One update per object that owns a changed field."""
        out = []
        on_campaign = {k: v for k, v in changes.items() if OWNER.get(k) == "campaign"}
        # An end_time taken out is sent as 0: Meta's way of saying "no end".
        on_adset = {
            k: (0 if v is None and k == "end_time" else v) for k, v in changes.items() if OWNER.get(k) == "adset"
        }
        if on_campaign:
            out.append(Operation("POST", ids["campaign"], on_campaign, kind="update"))
        if on_adset:
            out.append(Operation("POST", ids["adset"], on_adset, kind="update"))
        return out

    def as_created(self, applied: Mapping[str, Any]) -> tuple[Mapping[str, Any], FollowUp | None]:
        if applied.get("status") == "PAUSED":
            pause = FollowUp(MappingProxyType({"status": "PAUSED"}), "pause", "pausing", "paused", "it is ACTIVE")
            return MappingProxyType({**applied, "status": "ACTIVE"}), pause
        return applied, None

    def ids_read(self, object_id: str) -> Operation:
        return Operation("GET", object_id, {"fields": fields("id", campaign=("id",), adset=("id",))})

    def ids_listings(self, ad_account: str, object_ids: Sequence[str]) -> list[Operation]:
        """The ads listing filtered by id, 100 ids a read: after 10,000 creates, 100 reads in two
        batch requests instead of 10,000 reads in 200 (a message id missing from an answer is read
        on its own)."""
        path, _ = self.listing(ad_account)
        wanted = fields("id", campaign=("id",), adset=("id",))
        return [
            Operation(
                "GET",
                path,
                {
                    "fields": wanted,
                    "filtering": [{"field": "id", "operator": "IN", "value": list(object_ids[at : at + IDS_PER_READ])}],
                    "limit": IDS_PER_READ,
                },
            )
            for at in range(0, len(object_ids), IDS_PER_READ)
        ]

    @reads("the ids of a new campaign")
    def parse_ids(self, body: Mapping[str, Any]) -> dict[str, str]:
        return {"id": str(body["id"]), "campaign": str(body["campaign"]["id"]), "adset": str(body["adset"]["id"])}

    # -- plan rules

    def replace_reason(self, want: Desired, live: LiveObject, changed: set[str]) -> tuple[str, str] | None:
        found = super().replace_reason(want, live, changed)
        if found:
            return found
        if "pixel_id" in changed:
            return "pixel_id", "pixel_id cannot change after creation: the campaign is deleted and created again"
        switch = "switching between a daily and a lifetime budget is not possible in place"
        if want.values.get("daily_budget") is not None and live.values.get("lifetime_budget"):
            return "daily_budget", switch
        if want.values.get("lifetime_budget") is not None and live.values.get("daily_budget"):
            return "lifetime_budget", switch
        return None

    def check_update(self, want: Desired, live: LiveObject, changes: Sequence[Change], now: int) -> None:
        started = live.values.get("start_time")
        if any(c.path == "start_time" for c in changes) and started and started <= now:
            raise PlanError(
                f"{want.address}: start_time cannot move: the campaign started at {utc_text(started)} and a start "
                "time that has passed is fixed; remove start_time from the manifest or write the time it started"
            )

    def create_notes(self, want: Desired, now: int) -> tuple[str, ...]:
        values = want.values
        notes = []
        if values.get("start_time") is None:
            notes.append("start_time: set by Meta to the time of creation")
        if values.get("lifetime_budget") is not None and values.get("end_time") is None:
            start = values.get("start_time") or now
            notes.append(
                f"end_time: set by Meta to start + {LIFETIME_DAYS} days (about {utc_text(default_end(start))})"
            )
        if values.get("daily_budget") is None and values.get("lifetime_budget") is None:
            notes.append("no budget: Meta sets an estimated daily budget cap (shown after apply; never a diff)")
        notes.append("messages can be sent after Meta's 1-hour warm-up from creation")
        return tuple(notes)

    def update_notes(self, changes: Sequence[Change]) -> tuple[str, ...]:
        if any(c.path == "status" and c.after == "ACTIVE" for c in changes):
            return ("sending resumes 10 minutes after a campaign is active again (Meta's FAQ)",)
        return ()


ESTIMATE_FIELDS = (
    "estimate_delivery_upper_bound",
    "estimate_delivery_lower_bound",
    "estimate_cost_upper_bound",
    "estimate_cost_lower_bound",
)


def estimate_read(ad_account: str, values: Mapping[str, Any], now: int) -> Operation:
    """``message_delivery_estimate`` for a campaign's budget, with the parameters of graph-api.md §2."""
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
        end = values.get("end_time") or default_end(start)
        params["lifetime_budget"] = values["lifetime_budget"]
        params["lifetime_in_days"] = max(1, -(-(end - start) // DAY))
    return Operation("GET", f"{ad_account}/message_delivery_estimate", params)


@reads("a delivery estimate")
def parse_estimate(body: Mapping[str, Any]) -> tuple[tuple[int, int], tuple[int, int]]:
    row = body["data"][0]
    return (
        (int(row["estimate_delivery_lower_bound"]), int(row["estimate_delivery_upper_bound"])),
        (int(row["estimate_cost_lower_bound"]), int(row["estimate_cost_upper_bound"])),
    )


SPEC = CampaignKind()
