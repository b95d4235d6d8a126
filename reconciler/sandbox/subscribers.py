"""Subscription tokens: who a Page may message, how people match, and how they leave.

Matching is simulated deterministically from the uploaded hashes: a person (keyed by their email
hash, or phone hash when there is no email) matches a Messenger user when the first 32 bits of the
key fall under the configured match rate, so the same upload always gives the same tokens. A
matched person gets one token per Page (the FAQ: one subscriber, one token); opt-in tokens made
through the control endpoint carry a PSID and a topic, and may repeat a recipient, which is what
``do_not_return_duplicates`` removes.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from .call import Call
from .errors import invalid_parameter
from .fields import NodeType
from .store import World

MIN_MATCHED = 100  # tokens of an audience are returned only from 100 matched people (changelog 2025-07-31)
TOKEN_FIELDS = (
    "notification_messages_token",
    "recipient_id",
    "notification_messages_reoptin",
    "creation_timestamp",
    "token_expiry_timestamp",
    "user_token_status",
    "topic_title",
    "notification_messages_timezone",
    "next_eligible_time",
    "custom_audience_ids",
)
COOLDOWN = 12 * 3600
_HEX64 = re.compile(r"[0-9a-f]{64}")


def matches(person: str, rate: float) -> bool:
    return int(person[:8], 16) / 0xFFFFFFFF < rate


def token_id(page_id: str, person: str) -> str:
    digest = hashlib.sha256(f"token|{page_id}|{person}".encode()).digest()
    return str(10**16 + int.from_bytes(digest[:8], "big") % (9 * 10**16))


def matched_count(world: World, audience_id: str, rate: float) -> int:
    return sum(1 for person in world.members.get(audience_id, {}) if matches(person, rate))


def add_people(world: World, audience: dict[str, Any], people: dict[str, list[str]], rate: float, now: float) -> None:
    """Members joined ``audience``: matched ones get (or keep) the Page's token for them."""
    page_id = audience["page_id"]
    if page_id is None:
        return
    for person, hashes in people.items():
        if not matches(person, rate):
            continue
        tid = token_id(page_id, person)
        token = world.tokens.get(tid)
        if token is None:
            token = world.tokens[tid] = {
                "id": tid,
                "page": page_id,
                "source": "custom_audience",
                "person": person,
                "hashes": [],
                "recipient_id": None,
                "topic_title": "Marketing messages",
                "created": now,
                "last_sent": None,
                "last_activity": None,
                "unsubscribed": False,
                "audiences": [],
            }
        token["hashes"] = sorted(set(token["hashes"]) | set(hashes))
        if audience["id"] not in token["audiences"]:
            token["audiences"].append(audience["id"])
    world.touch()


def drop_audience(world: World, audience_id: str, people: set[str] | None = None) -> None:
    """People left an audience (all of them when ``people`` is None); their tokens stay valid.

    Changelog 2026-05-05: removing a user from a custom audience no longer opts them out.
    """
    for token in world.tokens.values():
        if audience_id in token["audiences"] and (people is None or token["person"] in people):
            token["audiences"].remove(audience_id)
    world.touch()


def _visible_audiences(world: World, rate: float, page_id: str) -> set[str]:
    return {
        obj["id"]
        for obj in world.objects.values()
        if obj["type"] == "customaudience"
        and obj.get("page_id") == page_id
        and matched_count(world, obj["id"], rate) >= MIN_MATCHED
    }


def subscriber_count(world: World, page_id: str) -> int:
    return sum(1 for t in world.tokens.values() if t["page"] == page_id and not t["unsubscribed"])


def _token_rows(call: Call, page_id: str, wanted_ids: set[str] | None, dedupe: bool) -> list[dict[str, Any]]:
    world = call.world
    visible = _visible_audiences(world, call.config.match_rate, page_id)
    rows = []
    for token in world.tokens.values():
        if token["page"] != page_id or token["unsubscribed"]:
            continue
        shown = sorted(set(token["audiences"]) & visible)
        if token["source"] == "custom_audience" and (
            not shown or token["created"] + call.config.match_delay_s > call.now
        ):
            continue  # not matched (yet): Meta matches an upload over up to 24 hours
        if wanted_ids is not None and not set(shown) & wanted_ids:
            continue
        rows.append({**token, "shown_audiences": shown})
    rows.sort(key=lambda t: int(t["id"]))
    if dedupe:
        seen: set[str] = set()
        unique = []
        for row in rows:
            who = row["recipient_id"] or row["person"]
            if who not in seen:
                seen.add(who)
                unique.append(row)
        rows = unique
    return rows


def list_tokens(call: Call, page: dict[str, Any]) -> dict[str, Any]:
    """``GET /<PAGE_ID>/notification_message_tokens``."""
    call.only(
        {"fields", "limit", "after", "before", "custom_audience_ids", "do_not_return_duplicates", "since", "until"}
    )
    world, page_id = call.world, page["id"]
    wanted = call.params.structured("custom_audience_ids")
    if isinstance(wanted, (str, int)):
        wanted = [part for part in str(wanted).split(",") if part]
    if wanted is not None and not isinstance(wanted, list):
        raise invalid_parameter("Param custom_audience_ids must be an array of custom audience IDs")
    wanted_ids = {str(a) for a in wanted} if wanted is not None else None
    dedupe = call.params.boolean("do_not_return_duplicates")
    # The pages of one listing see the same rows: computed once until the world changes (a listing of
    # 100,000 tokens is 100 pages; filtering every token for each would make it quadratic).
    moment = int(call.now) if call.config.match_delay_s else 0
    cache_key = ("tokens", page_id, frozenset(wanted_ids) if wanted_ids is not None else None, dedupe, moment)
    rows = world.derived.get(cache_key)
    if rows is None:
        rows = world.derived[cache_key] = _token_rows(call, page_id, wanted_ids, dedupe)
    tz = page.get("timezone", call.config.default_timezone)
    node = NodeType(
        "MessengerNotificationToken",
        {
            "id": lambda t: t["id"],
            "notification_messages_token": lambda t: t["id"],
            "recipient_id": lambda t: t["recipient_id"],
            "notification_messages_reoptin": lambda t: "ENABLED",
            "creation_timestamp": lambda t: int(t["created"]),
            "token_expiry_timestamp": lambda t: None,
            "user_token_status": lambda t: "NOT_REFRESHED",
            "topic_title": lambda t: t["topic_title"],
            "notification_messages_timezone": lambda t: tz,
            "next_eligible_time": lambda t: int(max(t["created"], (t["last_sent"] or 0) + COOLDOWN)),
            "custom_audience_ids": lambda t: t["shown_audiences"] or None,
        },
        default=TOKEN_FIELDS,
    )
    return call.listing(rows, node, default_limit=100, max_limit=1000, strict_limit=True)


def add_optins(
    world: World, page_id: str, count: int, topic: str, recipients: list[str] | None, now: float
) -> list[str]:
    """Opt-in tokens (control endpoint): people who subscribed in a Messenger thread."""
    created = []
    recipients = recipients or [str(7_000_000_000_000_000 + len(world.tokens) + i) for i in range(count)]
    for psid in recipients:
        tid = token_id(page_id, f"optin|{psid}|{topic}")
        world.tokens[tid] = {
            "id": tid,
            "page": page_id,
            "source": "optin",
            "person": f"psid:{psid}",
            "hashes": [],
            "recipient_id": psid,
            "topic_title": topic,
            "created": now,
            "last_sent": None,
            "last_activity": None,
            "unsubscribed": False,
            "audiences": [],
        }
        created.append(tid)
    world.touch()
    return created


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _row_hashes(row: Any) -> tuple[str, list[str]] | None:
    """(kind, values) for one unsubscribe row; None when the row is invalid."""
    if not isinstance(row, dict) or not row:
        return None
    keys = set(row)
    if not keys <= {"phone", "email", "psid", "subscriber_token"}:
        return None
    for alone in ("psid", "subscriber_token"):
        if alone in keys:
            return (alone, [str(row[alone])]) if keys == {alone} and str(row[alone]).strip() else None
    out = []
    for key in ("email", "phone"):
        if key not in row:
            continue
        value = str(row[key]).strip()
        if _HEX64.fullmatch(value.lower()):
            out.append(value.lower())
        elif key == "email" and "@" in value:
            out.append(_hash(value.lower()))
        elif key == "phone" and re.sub(r"\D", "", value).lstrip("0"):
            out.append(_hash(re.sub(r"\D", "", value).lstrip("0")))
        else:
            return None
    return ("hashes", out)


def unsubscribe(call: Call, page: dict[str, Any]) -> dict[str, Any]:
    """``POST /<PAGE_ID>/messaging_customer_base/unsubscribe`` (changelog 2026-06-11)."""
    call.only({"data"})
    rows = call.params.structured("data", required=True)
    if not isinstance(rows, list) or not rows:
        raise invalid_parameter("Param data must be a non-empty array of rows")
    invalid = 0
    page_tokens = [t for t in call.world.tokens.values() if t["page"] == page["id"]]
    for row in rows:
        parsed = _row_hashes(row)
        if parsed is None:
            invalid += 1
            continue
        kind, values = parsed
        for token in page_tokens:
            if (
                kind == "psid"
                and token["recipient_id"] == values[0]
                or kind == "subscriber_token"
                and token["id"] == values[0]
                or kind == "hashes"
                and set(values) & set(token["hashes"])
            ):
                token["unsubscribed"] = True
    call.world.touch()
    return {"invalid_rows_count": invalid}
