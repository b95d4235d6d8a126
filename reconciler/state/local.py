"""What mmctl manages: state values, and where they are kept (the storage interface).

State is versioned JSON::

    {"version": 1, "serial": 7, "lineage": "<uuid>", "account": "act_…",
     "resources": {"campaign.winter-sale": {"kind": "campaign", "ids": {...}, "applied": {...},
                                             "protect": true}},
     "pending": [{"id": "<uuid>", "address": "…", "operation": "create", "since": "…", "name": "…"}]}

``ids`` are the Graph ids of the live objects; ``applied`` holds the values last applied (in the
normalised form the planner compares: money in minor units, times as Unix seconds); ``pending``
lists mutating calls that were started and not yet confirmed, so that an interrupted apply is
resolved on the next run instead of duplicating a paid campaign.

``State`` is immutable; changes make a new value. ``StateStore`` is the storage interface, and
``LocalStateStore`` keeps it in a file next to the manifests with atomic writes (temporary file,
fsync, rename) and a lock that names its holder.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any, Protocol

from reconciler.atomic import replacing
from reconciler.errors import ReconcilerError
from reconciler.model import freeze, thaw

FORMAT_VERSION = 1
KINDS = ("template", "audience", "campaign")


class StateError(ReconcilerError):
    """The state file cannot be read or written; the message names it and says what to do."""


class StateLocked(StateError):
    """Another mmctl holds the lock."""


@dataclass(frozen=True)
class Resource:
    kind: str
    ids: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    applied: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
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
        return replace(self, resources=MappingProxyType(resources))

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
            ) from None
        except (TypeError, ValueError, AttributeError) as exc:
            raise StateError(
                f"{where}: not a valid mmctl state file ({exc}); restore it from a backup or version "
                "control, or undo the hand edit"
            ) from None


def pending_entry(address: str, operation: str, name: str | None = None) -> Pending:
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Pending(str(uuid.uuid4()), address, operation, since, name)


class StateStore(Protocol):
    """Where state lives. A backend reads, writes atomically, and locks."""

    def read(self) -> State: ...

    def write(self, state: State) -> State: ...

    def lock(self, command: str, timeout: float = 0.0) -> Any: ...

    @property
    def location(self) -> str: ...


class LocalStateStore:
    """State in a JSON file; ``<file>.lock`` is the lock and says who holds it."""

    def __init__(self, path: Path, display: str | None = None) -> None:
        self.path = path
        self._display = display or str(path)

    @property
    def location(self) -> str:
        return self._display

    def read(self) -> State:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return State.empty()
        except OSError as exc:
            raise StateError(f"{self._display}: cannot read the state file ({exc.strerror})") from None
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise StateError(
                f"{self._display}: the state file is not valid JSON ({exc}); restore it from a "
                "backup or version control"
            ) from None
        if not isinstance(data, dict):
            raise StateError(f"{self._display}: not a valid mmctl state file")
        return State.from_dict(data, self._display)

    def write(self, state: State) -> State:
        """Write ``state`` with the next serial; the file is replaced whole or not at all."""
        written = replace(state, serial=state.serial + 1, lineage=state.lineage or str(uuid.uuid4()))
        text = json.dumps(written.to_dict(), indent=2, sort_keys=False) + "\n"
        try:
            with replacing(self.path) as handle:
                handle.write(text)
        except OSError as exc:
            raise StateError(
                f"{self._display}: cannot write the state file ({exc.strerror or exc}); the previous "
                "state is unchanged. Free disk space or make the folder writable, then run again: the "
                "next plan picks up what was done"
            ) from None
        return written

    @contextmanager
    def lock(self, command: str, timeout: float = 0.0) -> Iterator[None]:
        """Hold the state lock; fail fast (or after ``timeout`` seconds) naming who holds it."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(lock_path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the whole block
        except OSError as exc:
            raise StateError(
                f"{lock_path}: cannot create the state lock ({exc.strerror or exc}); mmctl needs to "
                f"write in {lock_path.parent} (a read-only folder? a full disk?)"
            ) from None
        acquired = False
        try:
            deadline = time.monotonic() + timeout
            while not acquired:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    acquired = True
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise StateError(f"{lock_path}: cannot lock ({exc.strerror})") from None
                    if time.monotonic() >= deadline:
                        raise StateLocked(self._holder_message(handle, lock_path)) from None
                    time.sleep(min(0.2, max(0.01, deadline - time.monotonic())))
            _write_holder(handle, command)
            yield
        finally:
            if acquired:
                handle.seek(0)
                handle.truncate(0)  # the holder's note goes with the lock
            handle.close()  # closing releases the flock

    def _holder_message(self, handle: IO[str], lock_path: Path) -> str:
        handle.seek(0)
        try:
            holder = json.loads(handle.read() or "{}")
        except ValueError:
            holder = {}
        who = (
            (
                f"{holder.get('command', 'mmctl')} (pid {holder.get('pid', '?')} on {holder.get('host', '?')}, "
                f"since {holder.get('since', '?')})"
            )
            if holder
            else "another process"
        )
        return (
            f"the state {self._display} is locked by {who}; wait for it to finish, or retry with "
            f"--lock-timeout SECONDS (lock file: {lock_path})"
        )


def _write_holder(handle: IO[str], command: str) -> None:
    handle.seek(0)
    handle.truncate(0)
    handle.write(
        json.dumps(
            {
                "command": command,
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "since": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
    )
    handle.flush()
