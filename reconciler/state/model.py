"""What mmctl remembers: state as immutable values, and its JSON form.

State is versioned JSON::

    {"version": 1, "serial": 7, "lineage": "<uuid>", "account": "act_…",
     "resources": {"campaign.winter-sale": {"kind": "campaign", "ids": {...}, "applied": {...},
                                             "protect": true}},
     "pending": [{"id": "<uuid>", "address": "…", "operation": "create", "since": "…", "name": "…"}]}

``ids`` are the Graph ids of the live objects; ``applied`` holds the values last applied (in the
normalised form the planner compares: money in minor units, times as Unix seconds); ``pending``
lists mutating calls that were started and not yet confirmed, so that an interrupted apply is
resolved on the next run instead of duplicating a paid campaign. ``State`` is immutable; changes
make a new value.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from reconciler.clock import utc_text
from reconciler.errors import ReconcilerError
from reconciler.model import freeze, thaw
from reconciler.resources import NOTHING, Kind

FORMAT_VERSION = 1
Entry = tuple[str, str, str]  # a member upload record: (row key, email hash, phone hash)
KINDS = tuple(k.value for k in Kind)


class StateError(ReconcilerError):
    """The state file cannot be read or written; the message names it and says what to do."""


class StateLocked(StateError):
    """Another mmctl holds the lock."""


@dataclass(frozen=True)
class Resource:
    kind: str
    ids: Mapping[str, str] = field(default_factory=lambda: NOTHING)
    applied: Mapping[str, Any] = field(default_factory=lambda: NOTHING)
    protect: bool = False
    # An audience's last confirmed member upload ({"count", "digest"}): its record must exist to diff against.
    members: Mapping[str, Any] | None = None
    # What Meta said when creating or updating it (``info: …`` / ``warning: …``), kept for review.
    notices: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = {"kind": self.kind, "ids": dict(self.ids), "applied": thaw(self.applied), "protect": self.protect}
        if self.members is not None:
            out["members"] = thaw(self.members)
        if self.notices:
            out["notices"] = list(self.notices)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], address: str = "") -> Resource:
        """A resource as stored, checked field by field: a hand edit that would change what mmctl
        does (``"protect": "false"`` is true to Python) is an error, never a guess."""
        where = f"resources.{address}" if address else "resource"
        if not isinstance(data, Mapping):
            raise ValueError(f"{where} is not an object")
        kind = data.get("kind")
        if kind not in KINDS:
            raise ValueError(f"{where}.kind is {json.dumps(kind)}; expected one of {', '.join(KINDS)}")
        if address and not address.startswith(f"{kind}."):
            raise ValueError(f"{where}.kind is {json.dumps(kind)}, but the address says {address.partition('.')[0]}")
        ids, applied = data.get("ids", {}), data.get("applied", {})
        if not isinstance(ids, Mapping) or not all(isinstance(v, str) and isinstance(k, str) for k, v in ids.items()):
            raise ValueError(f"{where}.ids must map names to id strings")
        if not isinstance(applied, Mapping):
            raise ValueError(f"{where}.applied must be an object")
        protect = data.get("protect", False)
        if not isinstance(protect, bool):
            raise ValueError(f"{where}.protect is {json.dumps(protect)}; expected true or false (unquoted)")
        members = data.get("members")
        if members is not None and not isinstance(members, Mapping):
            raise ValueError(f"{where}.members must be an object")
        notices = data.get("notices", [])
        if not isinstance(notices, list) or not all(isinstance(n, str) for n in notices):
            raise ValueError(f"{where}.notices must be a list of texts")
        return cls(
            kind,
            freeze(dict(ids)),
            freeze(dict(applied)),
            protect,
            freeze(dict(members)) if members is not None else None,
            tuple(notices),
        )


@dataclass(frozen=True)
class Pending:
    """A mutating call that was started: recorded before the call, removed once confirmed."""

    id: str
    address: str
    operation: str  # create | update | delete | members
    since: str
    name: str | None = None  # what a create is looked up by
    # A member upload: its session, the phase (add/remove), the batches Meta confirmed, and what it uploads.
    session: int | None = None
    phase: str | None = None
    done: int | None = None
    digest: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class State:
    serial: int = 0
    lineage: str = ""
    account: str | None = None
    resources: Mapping[str, Resource] = field(default_factory=lambda: MappingProxyType({}))
    pending: tuple[Pending, ...] = ()
    # Bookkeeping for a store, not part of the value: the stored state this one was derived from
    # (a token the store gave it) and the addresses ``with_resources`` set or removed since, so
    # that writing a batch looks at its own resources only, not at every resource of the state.
    origin: object | None = field(default=None, compare=False, repr=False)
    touched: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    @classmethod
    def empty(cls) -> State:
        """No state yet: serial 0 and no lineage, so that a plan saved now still matches at apply
        (the lineage is made when the state is first written; a saved "first plan" applied twice is
        refused the second time, as the lineage no longer matches)."""
        return cls()

    def with_resource(self, address: str, resource: Resource | None) -> State:
        return self.with_resources({address: resource})

    def with_resources(self, changes: Mapping[str, Resource | None]) -> State:
        """Several resources set (or removed, for None) at once: one copy, however many change."""
        resources = dict(self.resources)
        for address, resource in changes.items():
            if resource is None:
                resources.pop(address, None)
            else:
                resources[address] = resource
        return replace(self, resources=MappingProxyType(resources), touched=self.touched | changes.keys())

    def with_pending(self, *entries: Pending) -> State:
        return replace(self, pending=self.pending + entries)

    def without_pending(self, *ids: str) -> State:
        drop = set(ids)
        return replace(self, pending=tuple(p for p in self.pending if p.id not in drop))

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "serial": self.serial,
            "lineage": self.lineage,
            "account": self.account,
            "resources": {address: self.resources[address].to_dict() for address in sorted(self.resources)},
            "pending": [p.to_dict() for p in self.pending],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> State:
        if data.get("version") != FORMAT_VERSION:
            raise StateError(
                f"{where}: state format {data.get('version')!r} is not {FORMAT_VERSION}; this mmctl cannot read it"
            )
        try:
            serial, lineage, account = data["serial"], data["lineage"], data.get("account")
            if not isinstance(serial, int) or isinstance(serial, bool) or serial < 0:
                raise ValueError(f"serial is {json.dumps(serial)}; expected a whole number")
            if not isinstance(lineage, str) or not (account is None or isinstance(account, str)):
                raise ValueError("lineage and account must be texts")
            if not isinstance(data["resources"], Mapping) or not isinstance(data.get("pending", []), list):
                raise ValueError("resources must be an object and pending a list")
            return cls(
                serial=serial,
                lineage=lineage,
                account=account,
                resources=MappingProxyType(
                    {str(a): Resource.from_dict(r, str(a)) for a, r in data["resources"].items()}
                ),
                pending=tuple(Pending(**p) for p in data.get("pending", [])),
            )
        except KeyError as exc:
            raise StateError(
                f"{where}: not a valid mmctl state file (the field {exc} is missing); restore it from "
                "a backup or version control, or undo the hand edit"
            ) from exc
        except (TypeError, ValueError, AttributeError) as exc:
            raise StateError(
                f"{where}: not a valid mmctl state file ({exc}); restore it from a backup or version "
                "control, or undo the hand edit"
            ) from exc


def pending_entry(address: str, operation: str, name: str | None = None, since: str | None = None) -> Pending:
    """A new pending operation, dated now (or ``since``: one time for a batch of them)."""
    return Pending(str(uuid.uuid4()), address, operation, since or utc_text(), name)


@dataclass(frozen=True)
class Version:
    """One entry of a state's history: a command that changed it (an apply, an import, a state
    rm), who ran it where, and what it did. ``serial`` is the state it left."""

    number: int
    serial: int
    at: str
    command: str
    user: str
    host: str
    git_commit: str | None = None
    plan_digest: str | None = None
    summary: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    ci_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "summary": dict(self.summary)}


@dataclass(frozen=True)
class JournalRow:
    """One recipient of one send: ``status`` is pending, intent (its call was about to be made),
    sent (with Meta's tracking id), skipped (``detail`` says why), failed (``detail``: the code) or
    unknown (could not be resolved safely)."""

    recipient: str
    status: str
    detail: str | None = None
    tracking_id: str | None = None
    at: str = ""
