"""State in an embedded SQLite database (``.mmctl/state.db``), the default: zero configuration.

The file is created 0600 (its -wal and -shm files take the same mode), in WAL mode with
``synchronous=FULL`` (a commit survives a power cut, as the send journal needs); every write is
one ``BEGIN IMMEDIATE`` transaction, so a crash leaves the previous state or the next, never half
of one, and two writers never fail on a read-then-write race. The lock is a file beside the
database that the kernel releases when its holder dies, holding the holder's record.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, closing, contextmanager, suppress
from pathlib import Path
from typing import Any, ClassVar

from reconciler.state import filelock
from reconciler.state.holder import Holder
from reconciler.state.model import StateError
from reconciler.state.sql import Cursor, SQLStateStore

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.-]{1,80}")


class SQLiteStateStore(SQLStateStore):
    """The states of one database file; this store reads and writes the one named ``key``."""

    backend: ClassVar[str] = "sqlite"
    _norowid: ClassVar[str] = " WITHOUT ROWID"

    def __init__(self, path: Path, display: str | None = None, key: str = "default") -> None:
        super().__init__(key, display or str(path))
        self.path = path
        # One lock file per state key, so that unrelated states never wait for each other.
        tag = key if _PLAIN_KEY.fullmatch(key) else hashlib.sha256(key.encode()).hexdigest()[:16]
        self.lock_path = path.with_name(f"{path.name}.{tag}.lock")
        # Each thread keeps its connection until close(): a connection opened per write made every
        # write also checkpoint the WAL into the database when it closed (10,000 PAUSED creates
        # write 15 times; the checkpoints were half a second).
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._opened_lock = threading.Lock()

    @property
    def location(self) -> str:
        return self._display if self.key == "default" else f"{self._display} (state {self.key})"

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            connection = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            if self.check_version(connection.execute("PRAGMA user_version").fetchone()[0]):
                connection.execute("BEGIN IMMEDIATE")
                try:  # read again inside the transaction: another process may have migrated meanwhile
                    version = connection.execute("PRAGMA user_version").fetchone()[0]
                    connection.execute(f"PRAGMA user_version = {self.migrate(connection.cursor(), version)}")
                    connection.execute("COMMIT")
                except BaseException:
                    connection.execute("ROLLBACK")
                    raise
        except sqlite3.DatabaseError as exc:
            raise StateError(
                f"{self._display}: not a usable mmctl state database ({exc}); restore it from a backup"
            ) from exc
        except OSError as exc:
            raise StateError(f"{self._display}: cannot open the state database ({exc.strerror or exc})") from exc
        return connection

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
            self._local.connection = connection
            with self._opened_lock:
                self._opened.append(connection)
        return connection

    def _drop(self, connection: sqlite3.Connection) -> None:
        """Forget a connection that failed: the next use opens a new one."""
        self._local.connection = None
        with self._opened_lock:
            if connection in self._opened:
                self._opened.remove(connection)
        with suppress(sqlite3.Error):
            connection.close()

    def close(self) -> None:
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for connection in opened:
            with suppress(sqlite3.Error):
                connection.close()
        self._local = threading.local()

    @contextmanager
    def _transaction(self) -> Iterator[Cursor]:
        connection = self._connection()
        try:
            connection.execute("BEGIN IMMEDIATE")
            yield connection.cursor()
            connection.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            self._rollback(connection)
            self._drop(connection)
            raise StateError(
                f"{self._display}: cannot write the state database ({exc}); the previous state is unchanged. "
                "Free disk space or make the folder writable, then run again: the next plan picks up what was done"
            ) from exc
        except BaseException:
            self._rollback(connection)
            raise

    @staticmethod
    def _rollback(connection: sqlite3.Connection) -> None:
        if connection.in_transaction:
            with suppress(sqlite3.Error):
                connection.execute("ROLLBACK")

    @contextmanager
    def _snapshot(self) -> Iterator[Cursor]:
        connection = self._connection()
        connection.execute("BEGIN")
        try:
            yield connection.cursor()
        finally:
            connection.execute("COMMIT")

    def _stream(self, sql: str, params: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
        with closing(self._connect()) as connection:
            yield from connection.execute(sql, params)

    def _insert_members(self, cursor: Cursor, rows: Iterable[tuple[str, str, str, str, str]]) -> None:
        cursor.executemany(
            self._q("INSERT INTO {members} (state_key, address, row_key, email, phone) VALUES (?, ?, ?, ?, ?)"), rows
        )

    # -- the lock

    def lock(self, command: str, timeout: float = 0.0) -> AbstractContextManager[None]:
        """Hold the state lock; fail fast (or after ``timeout`` seconds) naming who holds it."""
        return filelock.hold(self.lock_path, self.location, command, timeout)

    def holder(self) -> tuple[bool, Holder | None]:
        return filelock.is_held(self.lock_path), filelock.read_holder(self.lock_path)

    def break_lock(self) -> Holder | None:
        held, who = self.holder()
        if held:
            raise StateError(
                f"the state {self.location} is locked by {who.describe() if who else 'another process'}; a lock "
                "file is released by the system the moment its holder ends, so it is never stale: stop that "
                "process (or wait for it) instead"
            )
        return None
