"""State in an embedded SQLite database (``.mmctl/state.db``): rows instead of one document.

Each resource, pending operation and member of an uploaded audience is a row, keyed by the
state key (one database may hold the states of several projects or ad accounts), so a write
changes only the rows that changed and a million-member diff reads a sorted index in bounded
memory. The file is created 0600, in WAL mode; every write is one ``BEGIN IMMEDIATE``
transaction, so a crash leaves the previous state or the next, never half of one. The lock is
the same file lock as the JSON store's, beside the database.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from reconciler.state.filelock import hold
from reconciler.state.model import Entry, Pending, Resource, State, StateError

SCHEMA_VERSION = 1
# Versioned migrations: MIGRATIONS[n] takes a database from version n to n + 1.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE states (key TEXT PRIMARY KEY, serial INTEGER NOT NULL, lineage TEXT NOT NULL, account TEXT)",
        "CREATE TABLE resources (state_key TEXT NOT NULL, address TEXT NOT NULL, kind TEXT NOT NULL, "
        "ids TEXT NOT NULL, applied TEXT NOT NULL, protect INTEGER NOT NULL, members TEXT, notices TEXT NOT NULL, "
        "PRIMARY KEY (state_key, address)) WITHOUT ROWID",
        "CREATE TABLE pending (state_key TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL, entry TEXT NOT NULL, "
        "PRIMARY KEY (state_key, id)) WITHOUT ROWID",
        "CREATE TABLE member_sets (state_key TEXT NOT NULL, address TEXT NOT NULL, PRIMARY KEY (state_key, address))",
        "CREATE TABLE members (state_key TEXT NOT NULL, address TEXT NOT NULL, row_key TEXT NOT NULL, "
        "email TEXT NOT NULL, phone TEXT NOT NULL, PRIMARY KEY (state_key, address, row_key)) WITHOUT ROWID",
    ),
)


def _resource_row(resource: Resource) -> tuple[Any, ...]:
    data = resource.to_dict()
    members = json.dumps(data["members"], sort_keys=True) if "members" in data else None
    return (
        resource.kind,
        json.dumps(data["ids"], sort_keys=True),
        json.dumps(data["applied"], sort_keys=True),
        int(resource.protect),
        members,
        json.dumps(list(resource.notices)),
    )


class SQLiteStateStore:
    """The states of one database file; this store reads and writes the one named ``key``."""

    def __init__(self, path: Path, display: str | None = None, key: str = "default") -> None:
        self.path = path
        self.key = key
        self._display = display or str(path)
        self._written: State | None = None  # what this store last read or wrote: the base of the next write

    @property
    def location(self) -> str:
        return self._display if self.key == "default" else f"{self._display} (state {self.key})"

    # -- the database

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Created 0600 before SQLite opens it: its -wal and -shm files take the same mode.
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            connection = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            self._migrate(connection)
        except sqlite3.DatabaseError as exc:
            raise StateError(
                f"{self._display}: not a usable mmctl state database ({exc}); restore it from a backup"
            ) from exc
        except OSError as exc:
            raise StateError(f"{self._display}: cannot open the state database ({exc.strerror or exc})") from exc
        return connection

    def _migrate(self, connection: sqlite3.Connection) -> None:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StateError(
                f"{self._display}: the state database is of format {version}, newer than this mmctl "
                f"({SCHEMA_VERSION}); upgrade mmctl"
            )
        for step in range(version, SCHEMA_VERSION):
            connection.execute("BEGIN IMMEDIATE")
            try:
                for statement in MIGRATIONS[step]:
                    connection.execute(statement)
                connection.execute(f"PRAGMA user_version = {step + 1}")
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with closing(self._connect()) as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise

    # -- state

    def read(self) -> State:
        with closing(self._connect()) as connection:
            state = self._read(connection)
        self._written = state
        return state

    def _read(self, connection: sqlite3.Connection) -> State:
        row = connection.execute("SELECT serial, lineage, account FROM states WHERE key = ?", (self.key,)).fetchone()
        if row is None:
            return State.empty()
        resources = {}
        where = self.location
        try:
            for address, kind, ids, applied, protect, members, notices in connection.execute(
                "SELECT address, kind, ids, applied, protect, members, notices FROM resources WHERE state_key = ? "
                "ORDER BY address",
                (self.key,),
            ):
                data = {
                    "kind": kind,
                    "ids": json.loads(ids),
                    "applied": json.loads(applied),
                    "protect": bool(protect),
                    "notices": json.loads(notices),
                }
                if members is not None:
                    data["members"] = json.loads(members)
                resources[address] = Resource.from_dict(data, address)
            pending = tuple(
                Pending(**json.loads(entry))
                for (entry,) in connection.execute(
                    "SELECT entry FROM pending WHERE state_key = ? ORDER BY seq", (self.key,)
                )
            )
        except (ValueError, TypeError) as exc:
            raise StateError(f"{where}: a damaged row in the state database ({exc}); restore it from a backup") from exc
        return State(int(row[0]), str(row[1]), row[2], MappingProxyType(resources), pending)

    def write(self, state: State) -> State:
        """Write ``state`` with the next serial, changing only the rows that differ from the state
        this store last read or wrote."""
        written = replace(state, serial=state.serial + 1, lineage=state.lineage or str(uuid.uuid4()))
        with self._transaction() as connection:
            stored = connection.execute("SELECT serial FROM states WHERE key = ?", (self.key,)).fetchone()
            base = self._written
            if base is None or (stored[0] if stored else 0) != base.serial:
                base = self._read(connection)  # another store wrote since: compare with the database
            connection.execute(
                "INSERT INTO states (key, serial, lineage, account) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE "
                "SET serial = excluded.serial, lineage = excluded.lineage, account = excluded.account",
                (self.key, written.serial, written.lineage, written.account),
            )
            gone = [(self.key, a) for a in base.resources if a not in written.resources]
            connection.executemany("DELETE FROM resources WHERE state_key = ? AND address = ?", gone)
            changed = [
                (self.key, a, *_resource_row(r)) for a, r in written.resources.items() if base.resources.get(a) != r
            ]
            connection.executemany(
                "INSERT OR REPLACE INTO resources (state_key, address, kind, ids, applied, protect, members, notices) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                changed,
            )
            if base.pending != written.pending:
                kept = {p.id for p in written.pending}
                connection.executemany(
                    "DELETE FROM pending WHERE state_key = ? AND id = ?",
                    [(self.key, p.id) for p in base.pending if p.id not in kept],
                )
                connection.executemany(
                    "INSERT OR REPLACE INTO pending (state_key, id, seq, entry) VALUES (?, ?, ?, ?)",
                    [(self.key, p.id, seq, json.dumps(p.to_dict())) for seq, p in enumerate(written.pending)],
                )
        self._written = written
        return written

    def lock(self, command: str, timeout: float = 0.0) -> AbstractContextManager[None]:
        """Hold the state lock; fail fast (or after ``timeout`` seconds) naming who holds it."""
        return hold(self.path.with_name(f"{self.path.name}.{self.key}.lock"), self.location, command, timeout)

    # -- member upload records

    def members_location(self, address: str) -> str:
        return f"{self.location}, members of {address}"

    def has_members(self, address: str) -> bool:
        with closing(self._connect()) as connection:
            found = connection.execute(
                "SELECT 1 FROM member_sets WHERE state_key = ? AND address = ?", (self.key, address)
            ).fetchone()
        return found is not None

    def member_entries(self, address: str) -> Iterator[Entry]:
        """(key, email hash, phone hash) of the last upload, sorted by key, read as a stream."""
        with closing(self._connect()) as connection:
            rows = connection.execute(
                "SELECT row_key, email, phone FROM members WHERE state_key = ? AND address = ? ORDER BY row_key",
                (self.key, address),
            )
            yield from rows

    def save_members(self, address: str, entries: Iterable[Entry]) -> None:
        """Replace the record of ``address``'s upload in one transaction."""
        with self._transaction() as connection:
            connection.execute("DELETE FROM members WHERE state_key = ? AND address = ?", (self.key, address))
            connection.executemany(
                "INSERT INTO members (state_key, address, row_key, email, phone) VALUES (?, ?, ?, ?, ?)",
                ((self.key, address, key, email, phone) for key, email, phone in entries),
            )
            connection.execute(
                "INSERT OR IGNORE INTO member_sets (state_key, address) VALUES (?, ?)", (self.key, address)
            )

    def drop_members(self, address: str) -> None:
        with self._transaction() as connection:
            connection.execute("DELETE FROM members WHERE state_key = ? AND address = ?", (self.key, address))
            connection.execute("DELETE FROM member_sets WHERE state_key = ? AND address = ?", (self.key, address))
