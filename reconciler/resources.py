"""What the planner works with: the kinds of resource and of action, and resources as values.

A ``Desired`` resource is what the manifests ask for, a ``LiveObject`` what the Graph API
reports, both in the normalised form the planner compares (money in minor units of the account's
currency, times as Unix seconds). Nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from reconciler.errors import SourceLocation

# The empty mapping, shared: read-only, so one serves every object with no ids or values yet (a
# new one per object was 100,000 dicts in a 100,000-create plan).
NOTHING: Mapping[str, Any] = MappingProxyType({})


class Kind(StrEnum):
    """The resource kinds, in no particular order (``kinds.ordered()`` fixes the order)."""

    TEMPLATE = "template"
    AUDIENCE = "audience"
    CAMPAIGN = "campaign"
    UNSUBSCRIBE = "unsubscribe"
    SEND = "send"


class Op(StrEnum):
    """What a plan does to one resource (the words the plan output uses)."""

    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    ADOPT = "adopt"
    FORGET = "forget"
    SEND = "send"  # deliver a template to recipients (or resume delivering it)
    WAIT = "wait"  # a send that cannot start yet: nothing apply could do now
    NOOP = "no-op"


REMOVING = frozenset({Op.DELETE, Op.FORGET})  # the resource leaves state
MAKING = frozenset({Op.CREATE, Op.REPLACE})  # a new object is made in the account
IDLE = frozenset({Op.NOOP, Op.WAIT})  # apply does nothing to the resource now


def kind_of(address: str) -> str:
    """``campaign`` of ``campaign.winter-sale`` (not checked against the known kinds)."""
    return address.partition(".")[0]


@dataclass(frozen=True)
class Desired:
    address: str
    kind: Kind
    values: Mapping[str, Any]
    compared: frozenset[str]  # only fields written in the manifest are compared with live values
    protect: bool = False
    location: SourceLocation | None = None

    @property
    def name(self) -> str | None:
        value = self.values.get("name")
        return str(value) if value is not None else None


@dataclass(frozen=True)
class LiveObject:
    """An object as the API reports it, with its ids and the normalised values mmctl compares."""

    kind: Kind
    ids: Mapping[str, str]
    values: Mapping[str, Any] = field(default_factory=lambda: NOTHING)

    @property
    def id(self) -> str:
        return self.ids["id"]


@dataclass(frozen=True)
class Account:
    id: str  # act_…
    currency: str
    timezone_name: str
    name: str


@dataclass(frozen=True)
class Change:
    path: str
    before: Any
    after: Any


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
