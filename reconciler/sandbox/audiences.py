"""Custom audiences for marketing messages, and their members (graph-api.md §3, graph-api.md §3)."""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any

from . import accounts, subscribers
from .call import Call
from .errors import invalid_parameter
from .fields import Node, NodeType, resolve_path
from .filtering import parse_filtering

MAX_ROWS = 10_000
SESSION_TIMEOUT = 90 * 60
MM_SUBTYPE = 1010  # data_source.subtype of Messenger marketing-message audiences (graph-api.md §3 filter)
FILE_SOURCES = ("USER_PROVIDED_ONLY", "PARTNER_PROVIDED_ONLY", "BOTH_USER_AND_PARTNER_PROVIDED")
HASHED_KEYS = ("EMAIL", "PHONE", "FN", "LN", "FI", "CT", "ST", "ZIP", "COUNTRY", "DOBY", "DOBM", "DOBD", "GEN")
PLAIN_KEYS = ("MADID", "EXTERN_ID")
SINGLE_KEYS = {"EMAIL_SHA256": "EMAIL", "PHONE_SHA256": "PHONE", "MOBILE_ADVERTISER_ID": "MADID"}
CREATE_PARAMS = {
    "name",
    "description",
    "subtype",
    "customer_file_source",
    "use_for_products",
    "subscription_info",
    "marketing_message_channels",
    "retention_days",
}
FILTER_FIELDS = {"id", "name", "subtype", "data_source.subtype", "data_source.type"}
_HEX64 = re.compile(r"[0-9a-f]{64}")


def _status(world: Any, audience: dict[str, Any], rate: float) -> tuple[dict[str, Any], dict[str, Any]]:
    members = len(world.members.get(audience["id"], {}))
    matched = subscribers.matched_count(world, audience["id"], rate)
    if not audience.get("uploaded"):
        operation = {"code": 410, "description": "No upload: this audience has no customer list yet."}
    elif members and matched / members < 0.2:
        operation = {"code": 411, "description": "Low match rate."}
    else:
        operation = {"code": 200, "description": "Normal"}
    if matched >= subscribers.MIN_MATCHED:
        delivery = {"code": 200, "description": "This audience is ready for use."}
    else:
        delivery = {"code": 300, "description": "This audience is too small to use."}
    return operation, delivery


def node_type(call: Call) -> NodeType:
    world, rate = call.world, call.config.match_rate

    def bound(audience: dict[str, Any], lower: bool) -> int:
        matched = subscribers.matched_count(world, audience["id"], rate)
        return int(matched * 0.9) if lower else math.ceil(matched * 1.1)

    return NodeType(
        "CustomAudience",
        {
            "id": lambda a: a["id"],
            "account_id": lambda a: a["account"],
            "name": lambda a: a["name"],
            "description": lambda a: a["description"],
            "subtype": lambda a: a["subtype"],
            "customer_file_source": lambda a: a["customer_file_source"],
            "use_for_products": lambda a: a["use_for_products"],
            "retention_days": lambda a: a["retention_days"],
            "approximate_count_lower_bound": lambda a: bound(a, True),
            "approximate_count_upper_bound": lambda a: bound(a, False),
            "operation_status": lambda a: _status(world, a, rate)[0],
            "delivery_status": lambda a: _status(world, a, rate)[1],
            "time_created": lambda a: int(a["created"]),
            "time_updated": lambda a: int(a["updated"]),
            "time_content_updated": lambda a: int(a["content_updated"]) if a.get("content_updated") else None,
            "messenger_marketing_messages_page": lambda a: (
                Node(accounts.PAGE, world.pages[a["page_id"]]) if a.get("page_id") else None
            ),
            "data_source": lambda a: {
                "type": "FILE_IMPORTED",
                "sub_type": "HASHES",
                "subtype": MM_SUBTYPE if a.get("page_id") else 0,
            },
        },
    )


def create(call: Call, acct: dict[str, Any]) -> dict[str, Any]:
    """``POST act_X/customaudiences`` with the marketing-message fields of graph-api.md §3."""
    call.only(CREATE_PARAMS)
    p = call.params
    name = p.text("name", required=True) or ""
    if not name.strip():
        raise invalid_parameter("The parameter name is required")
    subtype = p.text("subtype", required=True)
    if subtype != "CUSTOM":
        raise invalid_parameter("Param subtype must be CUSTOM for a customer list audience")
    source = p.text("customer_file_source", required=True)
    if source not in FILE_SOURCES:
        raise invalid_parameter(f"Param customer_file_source must be one of {{{', '.join(FILE_SOURCES)}}}")
    products = p.structured("use_for_products")
    page_id = None
    if products is not None:
        if products != ["MARKETING_MESSAGES"]:
            raise invalid_parameter('Param use_for_products must be ["MARKETING_MESSAGES"]')
        if p.structured("subscription_info") != ["MESSENGER"]:
            raise invalid_parameter('Param subscription_info must be ["MESSENGER"] for a marketing messages audience')
        channels = p.structured("marketing_message_channels")
        if not isinstance(channels, dict) or set(channels) != {"MESSENGER"}:
            raise invalid_parameter('Param marketing_message_channels must be {"MESSENGER": "<PAGE_ID>"}')
        page_id = str(channels["MESSENGER"])
        accounts.page(call.world, page_id)
        if "description" not in p:
            raise invalid_parameter("The parameter description is required")
    retention = p.integer("retention_days")
    if retention is not None and not 1 <= retention <= 180:
        raise invalid_parameter("Param retention_days must be between 1 and 180")
    now = call.now
    world = call.world
    audience = world.add(
        {
            "id": world.new_id(),
            "type": "customaudience",
            "account": acct["id"],
            "name": name,
            "description": p.text("description") or "",
            "subtype": "CUSTOM",
            "customer_file_source": source,
            "use_for_products": products or [],
            "page_id": page_id,
            "retention_days": retention or 0,
            "created": now,
            "updated": now,
            "content_updated": None,
            "uploaded": False,
        }
    )
    world.members[audience["id"]] = {}
    # graph-api.md §3 shows the answer inside "data"; the Graph default for creation is {"id"}.
    return {"data": [{"id": audience["id"]}]}


def listing(call: Call, acct: dict[str, Any]) -> dict[str, Any]:
    """``GET act_X/customaudiences`` with the ``data_source.subtype`` filter of graph-api.md §3."""
    call.only({"fields", "filtering", "limit", "after", "before"})
    audience_type = node_type(call)
    predicates = parse_filtering(call.params.structured("filtering"), FILTER_FIELDS)
    items = []
    for audience in call.world.listing(acct["id"], "customaudience"):

        def read(path: str, audience: dict[str, Any] = audience) -> Any:
            return resolve_path(audience_type, audience, path)

        if all(test(read) for test in predicates):
            items.append(audience)
    return call.listing(items, audience_type)


def update(call: Call, audience: dict[str, Any]) -> dict[str, Any]:
    """``POST /<CUSTOM_AUDIENCE_ID>``: name and description only."""
    for key in sorted(call.params.endpoint_keys()):
        if key in CREATE_PARAMS - {"name", "description"}:
            raise invalid_parameter(f"Param {key} cannot be changed after the audience is created")
        if key not in ("name", "description"):
            raise invalid_parameter(f"Param {key} is not a field of node type (CustomAudience) that can be updated")
    if "name" in call.params:
        audience["name"] = call.params.name()
    if "description" in call.params:
        audience["description"] = call.params.text("description") or ""
    audience["updated"] = call.now
    call.world.touch()
    return {"success": True}


def delete(call: Call, audience: dict[str, Any]) -> dict[str, Any]:
    call.only(set())
    world = call.world
    subscribers.drop_audience(world, audience["id"])
    world.members.pop(audience["id"], None)
    for key in [k for k in world.sessions if k.startswith(audience["id"] + ":")]:
        del world.sessions[key]
    world.remove(audience["id"])
    return {"success": True}


def _schema(raw: Any) -> list[str]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw or not all(isinstance(k, str) for k in raw):
        raise invalid_parameter("payload.schema must be a key or a list of keys")
    keys = [SINGLE_KEYS.get(k.upper(), k.upper()) for k in raw]
    for key in keys:
        if key not in HASHED_KEYS and key not in PLAIN_KEYS:
            raise invalid_parameter(f"Invalid schema key {key} in payload.schema")
    if len(set(keys)) != len(keys):
        raise invalid_parameter("payload.schema names a key twice")
    return keys


def _people(schema: list[str], data: list[Any]) -> tuple[dict[str, list[str]], dict[str, str], int]:
    """The people in rows of hashed values, keyed by email hash (or phone hash), and the bad rows."""
    people: dict[str, list[str]] = {}
    samples: dict[str, str] = {}
    invalid = 0
    for number, row in enumerate(data, start=1):
        reason = None
        if isinstance(row, str) and len(schema) == 1:
            row = [row]
        if not isinstance(row, list) or len(row) != len(schema):
            reason = f"the row has {len(row) if isinstance(row, list) else 'no'} values for {len(schema)} keys"
        else:
            values = {key: str(value).strip() for key, value in zip(schema, row) if str(value).strip()}
            bad = [key for key, value in values.items() if key in HASHED_KEYS and not _HEX64.fullmatch(value)]
            if bad:
                reason = f"{bad[0]} is not a lowercase SHA-256 hex digest; hash values before upload"
            elif "EMAIL" not in values and "PHONE" not in values:
                reason = "the row has neither EMAIL nor PHONE"
            else:
                person = values.get("EMAIL") or values["PHONE"]
                hashes = [values[k] for k in ("EMAIL", "PHONE") if k in values]
                people[person] = sorted(set(people.get(person, [])) | set(hashes))
        if reason is not None:
            invalid += 1
            if len(samples) < 100:
                samples[f"row {number}"] = reason  # Meta echoes values; rows are named here instead
    return people, samples, invalid


def users(call: Call, audience: dict[str, Any], *, remove: bool) -> dict[str, Any]:
    """``POST /<CUSTOM_AUDIENCE_ID>/users`` (add) and ``DELETE`` / ``method=DELETE`` (remove)."""
    call.only({"payload", "session", "namespace", "app_ids", "page_ids"})
    payload = call.params.structured("payload", required=True)
    if not isinstance(payload, dict) or "schema" not in payload or "data" not in payload:
        raise invalid_parameter("Param payload must be an object with schema and data")
    schema = _schema(payload["schema"])
    data = payload["data"]
    if not isinstance(data, list) or not data:
        raise invalid_parameter("payload.data must be a non-empty array of rows")
    if len(data) > MAX_ROWS:
        raise invalid_parameter(
            f"payload.data has {len(data)} rows; at most {MAX_ROWS} rows can be sent in one request",
            user_title="Too many rows",
            user_msg="Send at most 10,000 rows per request, in several batches of one session.",
        )
    if audience.get("page_id") and not {"EMAIL", "PHONE"} & set(schema):
        raise invalid_parameter("For a marketing messages audience, payload.schema must include EMAIL or PHONE")
    session = _session(call, audience, call.params.structured("session"), payload)
    if session.get("replayed"):
        replayed: dict[str, Any] = session["response"]
        return replayed
    people, samples, invalid = _people(schema, data)
    world = call.world
    members = world.members.setdefault(audience["id"], {})
    if remove:
        gone = set()
        by_hash = {h: person for person, hashes in members.items() for h in hashes}
        for person, hashes in people.items():
            # Someone added with email and phone can be removed by either.
            found = person if person in members else next((by_hash[h] for h in hashes if h in by_hash), None)
            if found is not None and found in members:
                del members[found]
                gone.add(found)
        subscribers.drop_audience(world, audience["id"], gone)
    else:
        for person, hashes in people.items():
            members[person] = sorted(set(members.get(person, [])) | set(hashes))
        subscribers.add_people(world, audience, people, call.config.match_rate, call.now)
        audience["uploaded"] = True
    audience["content_updated"] = call.now
    record = session["record"]
    record["received"] += len(data)
    record["invalid"] += invalid
    response = {
        "audience_id": audience["id"],
        "session_id": session["id"],
        "num_received": record["received"],
        "num_invalid_entries": record["invalid"],
        "invalid_entry_samples": samples,
        "subscription_info": {
            "messenger": {
                "num_subscribers_received": record["received"] - record["invalid"],
                "num_subscribers_invalid_entries": record["invalid"],
                "invalid_subscribers_entry_samples": samples,
                "error": None,
            }
        }
        if audience.get("page_id")
        else None,
    }
    if response["subscription_info"] is None:
        del response["subscription_info"]
    record["responses"][str(record["last_seq"])] = response
    world.touch()
    return response


def _session(call: Call, audience: dict[str, Any], raw: Any, payload: Any) -> dict[str, Any]:
    """The upload session a batch belongs to; a repeated batch is answered again, not applied twice."""
    world = call.world
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    if raw is None:
        session_id = str(call.rng.randrange(10**15, 10**16))
        # A one-batch upload: its session is not kept, there is nothing to resume.
        single: dict[str, Any] = {
            "received": 0,
            "invalid": 0,
            "last_seq": 1,
            "closed": True,
            "started": call.now,
            "digests": {"1": digest},
            "responses": {},
        }
        return {"id": session_id, "record": single}
    if not isinstance(raw, dict) or "session_id" not in raw or "batch_seq" not in raw:
        raise invalid_parameter("Param session must have session_id and batch_seq")
    try:
        session_id, seq = str(int(raw["session_id"])), int(raw["batch_seq"])
    except (TypeError, ValueError):
        raise invalid_parameter("session.session_id and session.batch_seq must be integers") from None
    key = f"{audience['id']}:{session_id}"
    record: dict[str, Any] | None = world.sessions.get(key)
    if record is not None and str(seq) in record["digests"]:
        if record["digests"][str(seq)] != digest:
            raise invalid_parameter(f"Batch {seq} of session {session_id} was already received with other rows")
        return {"id": session_id, "record": record, "replayed": True, "response": record["responses"].get(str(seq), {})}
    if record is None:
        if seq != 1:
            raise invalid_parameter(f"session.batch_seq must start at 1; got {seq}")
        record = world.sessions[key] = {
            "received": 0,
            "invalid": 0,
            "last_seq": 0,
            "closed": False,
            "started": call.now,
            "digests": {},
            "responses": {},
        }
    elif record["closed"]:
        raise invalid_parameter(f"Upload session {session_id} has already finished (last_batch_flag was sent)")
    elif call.now - record["started"] > SESSION_TIMEOUT:
        raise invalid_parameter(f"Upload session {session_id} timed out 90 minutes after its first batch")
    elif seq != record["last_seq"] + 1:
        raise invalid_parameter(f"session.batch_seq must be {record['last_seq'] + 1}; got {seq}")
    record["last_seq"] = seq
    record["digests"][str(seq)] = digest
    if raw.get("last_batch_flag") in (True, "true", 1, "1"):
        record["closed"] = True
    return {"id": session_id, "record": record}
