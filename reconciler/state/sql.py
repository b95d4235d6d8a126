"""State as rows of a SQL database: the tables, migrations and queries SQLite and PostgreSQL share.

Each resource, pending operation and member of an uploaded audience is a row keyed by the state
key (one database holds the states of many projects or ad accounts, which never see or block each
other), so a write changes only the rows that changed and a million-member diff streams a sorted
index in bounded memory. Every write also appends the rows it changed to ``history``, so the state
of any recorded version can be rebuilt without copying the whole state on every apply; ``versions``
says who changed it, where, from which commit and plan. ``journal`` is the per-recipient record of
sends. A backend supplies connections, transactions, bulk member inserts and its lock.
"""

from __future__ import annotations

import json
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import replace
from types import MappingProxyType
from typing import Any, ClassVar, Protocol

from reconciler.clock import utc_text
from reconciler.model import thaw
from reconciler.state.holder import Holder
from reconciler.state.model import Entry, JournalRow, Pending, Resource, State, StateError, Version
from reconciler.state.store import StateStore

TABLES = ("states", "resources", "pending", "member_sets", "members", "versions", "history", "journal", "locks")

# Versioned migrations: MIGRATIONS[n] takes a database from version n to n + 1. ``{t}`` is a
# table's qualified name, ``{norowid}`` SQLite's WITHOUT ROWID (nothing in PostgreSQL).
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE {states} (key TEXT PRIMARY KEY, serial BIGINT NOT NULL, lineage TEXT NOT NULL, account TEXT)",
        "CREATE TABLE {resources} (state_key TEXT NOT NULL, address TEXT NOT NULL, kind TEXT NOT NULL, "
        "ids TEXT NOT NULL, applied TEXT NOT NULL, protect INTEGER NOT NULL, members TEXT, notices TEXT NOT NULL, "
        "PRIMARY KEY (state_key, address)){norowid}",
        "CREATE TABLE {pending} (state_key TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL, entry TEXT NOT NULL, "
        "PRIMARY KEY (state_key, id)){norowid}",
        "CREATE TABLE {member_sets} (state_key TEXT NOT NULL, address TEXT NOT NULL, PRIMARY KEY (state_key, address))",
        "CREATE TABLE {members} (state_key TEXT NOT NULL, address TEXT NOT NULL, row_key TEXT NOT NULL, "
        "email TEXT NOT NULL, phone TEXT NOT NULL, PRIMARY KEY (state_key, address, row_key)){norowid}",
    ),
    (
        "CREATE TABLE {versions} (state_key TEXT NOT NULL, number BIGINT NOT NULL, serial BIGINT NOT NULL, "
        "at TEXT NOT NULL, command TEXT NOT NULL, user_name TEXT NOT NULL, host TEXT NOT NULL, git_commit TEXT, "
        "plan_digest TEXT, summary TEXT NOT NULL, ci_url TEXT, PRIMARY KEY (state_key, number)){norowid}",
        # A resource as a write left it (NULL: removed), by the serial of that write.
        "CREATE TABLE {history} (state_key TEXT NOT NULL, address TEXT NOT NULL, serial BIGINT NOT NULL, "
        "resource TEXT, PRIMARY KEY (state_key, address, serial)){norowid}",
        # One row per recipient per send: pending before the call, then its outcome.
        "CREATE TABLE {journal} (state_key TEXT NOT NULL, send TEXT NOT NULL, recipient TEXT NOT NULL, "
        "status TEXT NOT NULL, detail TEXT, tracking_id TEXT, at TEXT NOT NULL, "
        "PRIMARY KEY (state_key, send, recipient)){norowid}",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
COLUMNS = {  # what ``copy_to`` carries over for a state, besides its state, pending and members
    "versions": "number, serial, at, command, user_name, host, git_commit, plan_digest, summary, ci_url",
    "history": "address, serial, resource",
    "journal": "send, recipient, status, detail, tracking_id, at",
}


class Cursor(Protocol):
    """What sqlite3's and psycopg's cursors both offer."""

    def execute(self, sql: Any, params: Any = ..., /) -> Any: ...

    def executemany(self, sql: Any, params: Any, /) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


# ``json.dumps(value, sort_keys=True)``, without making an encoder per call (a write of 10,000
# resources made 30,000 of them).
_sorted_json = json.JSONEncoder(sort_keys=True).encode


def _resource_row(resource: Resource) -> tuple[Any, ...]:
    members = _sorted_json(thaw(resource.members)) if resource.members is not None else None
    return (
        resource.kind,
        _sorted_json(dict(resource.ids)),
        _sorted_json(thaw(resource.applied)),
        int(resource.protect),
        members,
        json.dumps(list(resource.notices)),
    )


def _history_record(row: tuple[Any, ...]) -> str:
    """``json.dumps(resource.to_dict(), sort_keys=True)``, put together from the row's parts: each
    is encoded once (a write of 10,000 resources encoded each of them twice)."""
    kind, ids, applied, protect, members, notices = row
    parts = [f'"applied": {applied}', f'"ids": {ids}', f'"kind": {json.dumps(kind)}']
    if members is not None:
        parts.append(f'"members": {members}')
    if notices != "[]":
        parts.append(f'"notices": {notices}')
    parts.append(f'"protect": {"true" if protect else "false"}')
    return "{" + ", ".join(parts) + "}"


def _resource_from_row(address: str, row: tuple[Any, ...]) -> Resource:
    kind, ids, applied, protect, members, notices = row
    data = {
        "kind": kind,
        "ids": json.loads(ids),
        "applied": json.loads(applied),
        "protect": {0: False, 1: True}.get(protect, protect),  # a hand edit ("false") is refused, not read as true
        "notices": json.loads(notices),
    }
    if members is not None:
        data["members"] = json.loads(members)
    return Resource.from_dict(data, address)


def _version(row: tuple[Any, ...]) -> Version:
    number, serial, at, command, user, host, commit, digest, summary, ci_url = row
    return Version(
        int(number), int(serial), at, command, user, host, commit, digest, MappingProxyType(json.loads(summary)), ci_url
    )


class SQLStateStore(ABC):
    """The state named ``key`` in one database; subclasses connect, lock and bulk-insert."""

    backend: ClassVar[str]
    placeholder: ClassVar[str] = "?"
    _norowid: ClassVar[str] = ""  # SQLite's " WITHOUT ROWID" for tables keyed by text
    prefix: str = ""  # the schema tables live in, with its dot

    def __init__(self, key: str, display: str) -> None:
        self.key = key
        self._display = display
        self._written: State | None = None  # what this store last read or wrote: the base of the next write
        self._queries: dict[str, str] = {}

    @property
    def location(self) -> str:
        return f"{self._display} (state {self.key})"

    def _q(self, sql: str) -> str:
        """``sql`` with qualified table names and this driver's placeholders."""
        if sql not in self._queries:
            text = sql.format(**{t: self.prefix + t for t in TABLES}, norowid=self._norowid)
            self._queries[sql] = text.replace("?", self.placeholder)
        return self._queries[sql]

    # -- what a backend provides

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[Cursor]:
        """A cursor in a write transaction: committed when the block ends, rolled back on error."""

    @abstractmethod
    def _snapshot(self) -> AbstractContextManager[Cursor]:
        """A cursor in a read transaction that sees one consistent state."""

    @abstractmethod
    def _stream(self, sql: str, params: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
        """The rows of a query read a page at a time (a million members in bounded memory)."""

    @abstractmethod
    def _insert_members(self, cursor: Cursor, rows: Iterable[tuple[str, str, str, str, str]]) -> None: ...

    @abstractmethod
    def lock(self, command: str, timeout: float = 0.0) -> AbstractContextManager[None]: ...

    @abstractmethod
    def holder(self) -> tuple[bool, Holder | None]:
        """Whether the lock is held now, and the record of its holder (or of the last one)."""

    @abstractmethod
    def break_lock(self) -> Holder | None:
        """End the lock of a holder that cannot release it; return who held it."""

    def close(self) -> None:  # noqa: B027 - a backend that holds no connection has nothing to release
        """Release connections; the store opens them again when used."""

    def check_version(self, version: int) -> bool:
        """Whether a database of format ``version`` needs migrating; one of a newer mmctl is refused."""
        if version > SCHEMA_VERSION:
            raise StateError(
                f"{self._display}: the state database is of format {version}, newer than this mmctl "
                f"({SCHEMA_VERSION}); upgrade mmctl"
            )
        return version < SCHEMA_VERSION

    def migrate(self, cursor: Cursor, version: int) -> int:
        """Run the migrations after ``version``; return the version reached."""
        self.check_version(version)
        for step in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[step]:
                cursor.execute(self._q(statement))
        return SCHEMA_VERSION

    # -- state

    def read(self) -> State:
        with self._snapshot() as cursor:
            state = self._read(cursor)
        return self._remember(state)

    def _remember(self, state: State) -> State:
        """``state`` as the base of the next write, marked so that what is derived from it by
        ``with_resources`` can be written by its touched addresses alone."""
        marked = replace(state, origin=object(), touched=frozenset())
        self._written = marked
        return marked

    def _read(self, cursor: Cursor) -> State:
        cursor.execute(self._q("SELECT serial, lineage, account FROM {states} WHERE key = ?"), (self.key,))
        row = cursor.fetchone()
        if row is None:
            return State.empty()
        try:
            cursor.execute(
                self._q(
                    "SELECT address, kind, ids, applied, protect, members, notices FROM {resources} "
                    "WHERE state_key = ? ORDER BY address"
                ),
                (self.key,),
            )
            resources = {r[0]: _resource_from_row(r[0], r[1:]) for r in cursor.fetchall()}
            cursor.execute(self._q("SELECT entry FROM {pending} WHERE state_key = ? ORDER BY seq"), (self.key,))
            pending = tuple(Pending(**json.loads(entry)) for (entry,) in cursor.fetchall())
        except (ValueError, TypeError) as exc:
            raise StateError(
                f"{self.location}: a damaged row in the state database ({exc}); restore it from a backup"
            ) from exc
        return State(int(row[0]), str(row[1]), row[2], MappingProxyType(resources), pending)

    def write(self, state: State) -> State:
        """Write ``state`` with the next serial, changing only the rows that differ from the state
        this store last read or wrote."""
        written = replace(state, serial=state.serial + 1, lineage=state.lineage or str(uuid.uuid4()))
        with self._transaction() as cursor:
            cursor.execute(self._q("SELECT serial FROM {states} WHERE key = ?"), (self.key,))
            stored = cursor.fetchone()
            base = self._written
            if base is None or (stored[0] if stored else 0) != base.serial:
                base = self._read(cursor)  # another store wrote since: compare with the database
            self._write_rows(cursor, base, written)
        return self._remember(written)

    def load(self, state: State) -> State:
        """Make the stored state exactly ``state``, serial and lineage included (an import or a
        migration: a plan saved before it still matches after)."""
        with self._transaction() as cursor:
            self._write_rows(cursor, self._read(cursor), state)
        return self._remember(state)

    def _write_rows(self, cursor: Cursor, base: State, written: State) -> None:
        cursor.execute(
            self._q(
                "INSERT INTO {states} (key, serial, lineage, account) VALUES (?, ?, ?, ?) ON CONFLICT (key) "
                "DO UPDATE SET serial = excluded.serial, lineage = excluded.lineage, account = excluded.account"
            ),
            (self.key, written.serial, written.lineage, written.account),
        )
        before, after = base.resources, written.resources
        if base.origin is not None and written.origin is base.origin:
            # Derived from the state this store last wrote: only the touched addresses can differ.
            candidates: Iterable[str] = sorted(written.touched)
            gone = [a for a in candidates if a in before and a not in after]
        else:
            candidates = after
            gone = sorted(before.keys() - after.keys())
        changed = [(a, _resource_row(after[a])) for a in candidates if a in after and before.get(a) != after[a]]
        if gone:
            cursor.executemany(
                self._q("DELETE FROM {resources} WHERE state_key = ? AND address = ?"), [(self.key, a) for a in gone]
            )
        if changed:
            cursor.executemany(
                self._q(
                    "INSERT INTO {resources} (state_key, address, kind, ids, applied, protect, members, notices) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (state_key, address) DO UPDATE SET "
                    "kind = excluded.kind, ids = excluded.ids, applied = excluded.applied, "
                    "protect = excluded.protect, members = excluded.members, notices = excluded.notices"
                ),
                [(self.key, a, *row) for a, row in changed],
            )
        if gone or changed:
            cursor.executemany(
                self._q(
                    "INSERT INTO {history} (state_key, address, serial, resource) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (state_key, address, serial) DO UPDATE SET resource = excluded.resource"
                ),
                [(self.key, a, written.serial, None) for a in gone]
                + [(self.key, a, written.serial, _history_record(row)) for a, row in changed],
            )
        if base.pending != written.pending:
            self._write_pending(cursor, base.pending, written.pending)

    def _write_pending(self, cursor: Cursor, before: tuple[Pending, ...], after: tuple[Pending, ...]) -> None:
        """Pending entries keep their place (``seq``) while they stay: a batch that settles 50 of
        10,000 entries deletes 50 rows instead of renumbering the rest. New or changed entries go
        after the last; anything else (a reordering) renumbers them all."""
        old = {p.id: p for p in before}
        kept = {p.id for p in after}
        dropped = [(self.key, p.id) for p in before if p.id not in kept]
        if dropped:
            cursor.executemany(self._q("DELETE FROM {pending} WHERE state_key = ? AND id = ?"), dropped)
        staying = [p.id for p in after if old.get(p.id) == p]
        fresh = [p for p in after if old.get(p.id) != p]
        still = set(staying)
        in_order = staying == [p.id for p in before if p.id in still] and (
            not fresh or not staying or after.index(fresh[0]) >= len(staying)
        )
        if in_order:
            cursor.execute(self._q("SELECT MAX(seq) FROM {pending} WHERE state_key = ?"), (self.key,))
            last = cursor.fetchone()[0]
            start, rows = (-1 if last is None else int(last)) + 1, fresh
        else:
            start, rows = 0, list(after)
        if rows:
            cursor.executemany(
                self._q(
                    "INSERT INTO {pending} (state_key, id, seq, entry) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (state_key, id) DO UPDATE SET seq = excluded.seq, entry = excluded.entry"
                ),
                [(self.key, p.id, start + n, json.dumps(p.to_dict())) for n, p in enumerate(rows)],
            )

    # -- history

    def record_version(
        self,
        command: str,
        summary: Mapping[str, int],
        *,
        plan_digest: str | None = None,
        git_commit: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Version:
        """Add a version for the state as it is now: who ran ``command``, where, and what it did."""
        me = Holder.me(command, env)
        with self._transaction() as cursor:
            cursor.execute(self._q("SELECT serial FROM {states} WHERE key = ?"), (self.key,))
            row = cursor.fetchone()
            cursor.execute(self._q("SELECT MAX(number) FROM {versions} WHERE state_key = ?"), (self.key,))
            number = int(cursor.fetchone()[0] or 0) + 1
            version = Version(
                number,
                int(row[0]) if row else 0,
                utc_text(),
                command,
                me.user,
                me.host,
                git_commit,
                plan_digest,
                MappingProxyType(dict(summary)),
                me.ci_url,
            )
            cursor.execute(
                self._q(
                    "INSERT INTO {versions} (state_key, number, serial, at, command, user_name, host, git_commit, "
                    "plan_digest, summary, ci_url) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                ),
                (
                    self.key,
                    number,
                    version.serial,
                    version.at,
                    command,
                    me.user,
                    me.host,
                    git_commit,
                    plan_digest,
                    json.dumps(dict(summary), sort_keys=True),
                    me.ci_url,
                ),
            )
        return version

    def versions(self) -> list[Version]:
        with self._snapshot() as cursor:
            cursor.execute(
                self._q("SELECT " + COLUMNS["versions"] + " FROM {versions} WHERE state_key = ? ORDER BY number"),
                (self.key,),
            )
            return [_version(row) for row in cursor.fetchall()]

    def version(self, number: int) -> tuple[Version, State] | None:
        """Version ``number`` and the resources as that version left them."""
        with self._snapshot() as cursor:
            cursor.execute(
                self._q("SELECT " + COLUMNS["versions"] + " FROM {versions} WHERE state_key = ? AND number = ?"),
                (self.key, number),
            )
            row = cursor.fetchone()
            if row is None:
                return None
            found = _version(row)
            cursor.execute(
                self._q(
                    "SELECT h.address, h.resource FROM {history} h WHERE h.state_key = ? AND h.serial = "
                    "(SELECT MAX(serial) FROM {history} WHERE state_key = h.state_key AND address = h.address "
                    "AND serial <= ?) ORDER BY h.address"
                ),
                (self.key, found.serial),
            )
            resources = {a: Resource.from_dict(json.loads(r), a) for a, r in cursor.fetchall() if r is not None}
            cursor.execute(self._q("SELECT lineage, account FROM {states} WHERE key = ?"), (self.key,))
            lineage, account = cursor.fetchone() or ("", None)
        return found, State(found.serial, lineage, account, MappingProxyType(resources))

    # -- member upload records

    def members_location(self, address: str) -> str:
        return f"{self.location}, members of {address}"

    def has_members(self, address: str) -> bool:
        with self._snapshot() as cursor:
            cursor.execute(
                self._q("SELECT 1 FROM {member_sets} WHERE state_key = ? AND address = ?"), (self.key, address)
            )
            return cursor.fetchone() is not None

    def member_addresses(self) -> list[str]:
        with self._snapshot() as cursor:
            cursor.execute(
                self._q("SELECT address FROM {member_sets} WHERE state_key = ? ORDER BY address"), (self.key,)
            )
            return [a for (a,) in cursor.fetchall()]

    def member_entries(self, address: str) -> Iterator[Entry]:
        """(key, email hash, phone hash) of the last upload, sorted by key, read as a stream."""
        sql = self._q(
            "SELECT row_key, email, phone FROM {members} WHERE state_key = ? AND address = ? ORDER BY row_key"
        )
        yield from ((key, email, phone) for key, email, phone in self._stream(sql, (self.key, address)))

    def save_members(self, address: str, entries: Iterable[Entry]) -> None:
        """Replace the record of ``address``'s upload in one transaction."""
        with self._transaction() as cursor:
            cursor.execute(self._q("DELETE FROM {members} WHERE state_key = ? AND address = ?"), (self.key, address))
            self._insert_members(cursor, ((self.key, address, k, e, p) for k, e, p in entries))
            cursor.execute(
                self._q(
                    "INSERT INTO {member_sets} (state_key, address) VALUES (?, ?) ON CONFLICT (state_key, address) "
                    "DO NOTHING"
                ),
                (self.key, address),
            )

    def drop_members(self, address: str) -> None:
        with self._transaction() as cursor:
            cursor.execute(self._q("DELETE FROM {members} WHERE state_key = ? AND address = ?"), (self.key, address))
            cursor.execute(
                self._q("DELETE FROM {member_sets} WHERE state_key = ? AND address = ?"), (self.key, address)
            )

    # -- moving a state

    # -- the send journal: one row per recipient per send

    def journal_start(self, send: str, recipients: Iterable[str], at: str) -> None:
        """Freeze a send's recipients as pending, in one transaction (a second call adds nobody
        twice and changes no recorded outcome)."""
        with self._transaction() as cursor:
            cursor.executemany(
                self._q(
                    "INSERT INTO {journal} (state_key, send, recipient, status, at) VALUES (?, ?, ?, 'pending', ?) "
                    "ON CONFLICT (state_key, send, recipient) DO NOTHING"
                ),
                [(self.key, send, recipient, at) for recipient in recipients],
            )

    def journal_mark(self, send: str, rows: Iterable[JournalRow]) -> None:
        """Record what became of recipients, all in one transaction: the rows of one batch."""
        with self._transaction() as cursor:
            cursor.executemany(
                self._q(
                    "UPDATE {journal} SET status = ?, detail = ?, tracking_id = ?, at = ? "
                    "WHERE state_key = ? AND send = ? AND recipient = ?"
                ),
                [(r.status, r.detail, r.tracking_id, r.at, self.key, send, r.recipient) for r in rows],
            )

    def journal(self, send: str) -> Iterator[JournalRow]:
        """A send's recipients and what became of them, by recipient."""
        sql = self._q(
            "SELECT recipient, status, detail, tracking_id, at FROM {journal} WHERE state_key = ? AND send = ? "
            "ORDER BY recipient"
        )
        yield from (JournalRow(*row) for row in self._stream(sql, (self.key, send)))

    def journal_recent(self, since: str) -> dict[str, str]:
        """Recipients mmctl sent any send to at or after ``since`` (UTC text), with the latest time."""
        with self._snapshot() as cursor:
            cursor.execute(
                self._q(
                    "SELECT recipient, MAX(at) FROM {journal} WHERE state_key = ? AND status = 'sent' AND at >= ? "
                    "GROUP BY recipient"
                ),
                (self.key, since),
            )
            return {recipient: at for recipient, at in cursor.fetchall()}

    def journal_sends(self) -> list[str]:
        """Every send with a journal, including sends forgotten since (their journal is kept)."""
        with self._snapshot() as cursor:
            cursor.execute(
                self._q("SELECT DISTINCT send FROM {journal} WHERE state_key = ? ORDER BY send"), (self.key,)
            )
            return [send for (send,) in cursor.fetchall()]

    def is_empty(self) -> bool:
        with self._snapshot() as cursor:
            cursor.execute(self._q("SELECT 1 FROM {states} WHERE key = ?"), (self.key,))
            return cursor.fetchone() is None

    def copy_to(self, target: StateStore) -> State:
        """Copy this state whole into ``target`` (empty): resources, pending operations, member
        records, versions, history and send journal. Returns what was copied."""
        if not isinstance(target, SQLStateStore):
            raise StateError(f"{target.location}: not a SQL state store; the state can only move between databases")
        state = self.read()
        target.load(state)
        for address in self.member_addresses():
            target.save_members(address, self.member_entries(address))
        for table, columns in COLUMNS.items():
            sql = self._q(f"SELECT {columns} FROM {{{table}}} WHERE state_key = ?")
            rows = [(target.key, *row) for row in self._stream(sql, (self.key,))]
            marks = ", ".join("?" * (len(columns.split(",")) + 1))
            with target._transaction() as cursor:
                cursor.execute(target._q(f"DELETE FROM {{{table}}} WHERE state_key = ?"), (target.key,))
                if rows:
                    cursor.executemany(
                        target._q(f"INSERT INTO {{{table}}} (state_key, {columns}) VALUES ({marks})"), rows
                    )
        return state
