"""The sandbox's world, kept in memory and persisted to one JSON file.

Every request runs inside ``Store.transaction()``: a thread lock for the threaded server and an
``flock`` on ``<data>.lock`` for a second process using the same file (an in-process sandbox run by
``mmctl`` beside a served one). The file is reloaded when another process changed it, and a change
is written whole to a temporary file, fsynced and renamed over the old one, so a reader or a crash
never sees half a file.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import threading
import time
from bisect import bisect_right
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1
FIRST_ID = 120_210_000_000_000_001  # the shape of Marketing API object ids


class SandboxDataError(Exception):
    """The data file cannot be used; the message names it and says what to do."""


class World:
    """Everything the sandbox knows. Plain dicts, so that it serialises as it is."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        data = data or {}
        self.next_id: int = data.get("next_id", FIRST_ID)
        self.clock: dict[str, Any] = data.get("clock", {"offset": 0.0, "frozen": None})
        self.accounts: dict[str, dict[str, Any]] = data.get("accounts", {})
        self.pages: dict[str, dict[str, Any]] = data.get("pages", {})
        self.objects: dict[str, dict[str, Any]] = data.get("objects", {})
        self.members: dict[str, dict[str, list[str]]] = data.get("members", {})
        self.tokens: dict[str, dict[str, Any]] = data.get("tokens", {})
        self.sessions: dict[str, dict[str, Any]] = data.get("sessions", {})
        # SHA-256 of an access token -> what happened to it (expired, invalidated, ...): Graph's 190 subcodes.
        self.access_tokens: dict[str, dict[str, Any]] = data.get("access_tokens", {})
        self.dirty = False
        # Results computed from the contents (a token listing's rows), dropped on every change.
        self.derived: dict[Any, Any] = {}
        # What is bound to this world and reads it when used (node types), kept across changes.
        self.bound: dict[str, Any] = {}
        # Ids of each type per account, ascending: listings page through these.
        self.index: dict[tuple[str, str], list[int]] = {}
        for object_id, obj in sorted(self.objects.items(), key=lambda item: int(item[0])):
            self.index.setdefault((obj["account"], obj["type"]), []).append(int(object_id))

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "next_id": self.next_id,
            "clock": self.clock,
            "accounts": self.accounts,
            "pages": self.pages,
            "objects": self.objects,
            "members": self.members,
            "tokens": self.tokens,
            "sessions": self.sessions,
            "access_tokens": self.access_tokens,
        }

    def touch(self) -> None:
        self.dirty = True
        self.derived.clear()  # what was computed from the old contents

    # The clock: real time plus an offset, or frozen at an instant.
    def now(self) -> float:
        frozen = self.clock.get("frozen")
        return float(frozen) if frozen is not None else time.time() + float(self.clock.get("offset", 0.0))

    def set_clock(self, now: float | None = None, *, freeze: bool | None = None, advance: float | None = None) -> None:
        frozen = self.clock.get("frozen") is not None if freeze is None else freeze
        target = self.now() if now is None else now
        if advance:
            target += advance
        self.clock = {"offset": 0.0 if frozen else target - time.time(), "frozen": target if frozen else None}
        self.touch()

    def new_id(self) -> str:
        value = self.next_id
        self.next_id += 1
        self.touch()
        return str(value)

    def add(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a new object (it carries ``id``, ``type`` and ``account``)."""
        self.objects[obj["id"]] = obj
        self.index.setdefault((obj["account"], obj["type"]), []).append(int(obj["id"]))
        self.touch()
        return obj

    def listing(self, account: str, type_: str) -> list[dict[str, Any]]:
        """The objects of one type in an account, by ascending id (deleted ones included)."""
        objects = self.objects
        return [objects[str(i)] for i in self.index.get((account, type_), []) if str(i) in objects]

    def listing_after(self, account: str, type_: str, after: int | None) -> Iterator[dict[str, Any]]:
        """Those of ``listing`` with an id above ``after``, found by bisection: a page deep in a
        long listing costs its own objects, not every object before it."""
        objects = self.objects
        ids = self.index.get((account, type_), [])
        for i in ids[bisect_right(ids, after) if after is not None else 0 :]:
            found = objects.get(str(i))
            if found is not None:
                yield found

    def remove(self, object_id: str) -> None:
        obj = self.objects.pop(object_id)
        ids = self.index.get((obj["account"], obj["type"]), [])
        if int(object_id) in ids:
            ids.remove(int(object_id))
        self.touch()


class Store:
    """The world and where it lives; ``path=None`` keeps it in memory only."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._thread_lock = threading.RLock()
        self._signature: tuple[int, int, int] | None = None
        self.world = World()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._file_lock():
                self._refresh()

    @contextmanager
    def transaction(self) -> Iterator[World]:
        with self._thread_lock, self._file_lock():
            self._refresh()
            try:
                yield self.world
            finally:
                # A handler that raised half way may have changed the world: those changes are kept
                # only if it marked them (handlers validate before they change anything).
                if self.world.dirty:
                    self._save()
                    self.world.dirty = False

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        if self.path is None:
            yield
            return
        lock_path = self.path.with_name(self.path.name + ".lock")
        with open(lock_path, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _stat(self) -> tuple[int, int, int] | None:
        assert self.path is not None
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _refresh(self) -> None:
        if self.path is None:
            return
        signature = self._stat()
        if signature == self._signature:
            return
        if signature is None:
            self.world = World()
        else:
            self.world = World(self._read())
        self._signature = signature

    def _read(self) -> dict[str, Any]:
        assert self.path is not None
        try:
            data = json.loads(self.path.read_bytes())
        except (ValueError, UnicodeDecodeError) as exc:
            raise SandboxDataError(
                f"{self.path}: not a sandbox data file ({exc}); move it away or delete it to start afresh"
            ) from None
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
            raise SandboxDataError(
                f"{self.path}: sandbox data format {data.get('version') if isinstance(data, dict) else '?'} "
                f"is not {FORMAT_VERSION}; delete the file to start afresh"
            )
        return data

    def _save(self) -> None:
        if self.path is None:
            return
        text = json.dumps(self.world.to_dict(), separators=(",", ":"))
        fd, temp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.path)
        except BaseException:
            try:
                os.unlink(temp)
            except FileNotFoundError:
                pass
            raise
        self._signature = self._stat()
