"""State in PostgreSQL, shared by a team and its CI (``state: {backend: postgres}``).

Tables live in a schema of their own (``mmctl`` unless configured), created on first use and
migrated under a transaction-level advisory lock of that schema alone: creating one project's
state never waits for another schema's, unlike Terraform's database-wide lock ``-1`` (#33217).

The state lock is a session advisory lock on a 64-bit key taken from SHA-256 of the schema and
state key (``hashtext`` is 32-bit and undocumented), so states never block each other; the server
frees it when the holder's connection ends, a killed process included. A row in ``locks`` names
the holder for the message a blocked run prints; ``break_lock`` ends the holder's session (what
``mmctl state unlock --force`` does), the one way to free another process's advisory lock.

The connection string is a secret: it is never printed, and errors are scrubbed of it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from reconciler.state.holder import Holder, locked_message
from reconciler.state.model import StateError, StateLocked
from reconciler.state.sql import Cursor, SQLStateStore

if TYPE_CHECKING:
    import psycopg

LOCK_NAMESPACE = "mmctl"
_PAGE = 5000  # member rows read per round trip


def advisory_key(schema: str, key: str) -> int:
    """The signed 64-bit advisory lock key of a state: stable across versions and machines."""
    digest = hashlib.sha256(f"{LOCK_NAMESPACE}:{schema}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def describe(conninfo: str, env: Mapping[str, str]) -> str:
    """Where a connection string points, without its user or password: ``postgres host:port/db``."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(conninfo) if conninfo else {}
    except Exception:  # an unparsable string: say so without echoing it
        return "postgres (an unreadable connection string)"
    host = parts.get("host") or env.get("PGHOST") or "localhost"
    port = parts.get("port") or env.get("PGPORT") or "5432"
    database = parts.get("dbname") or env.get("PGDATABASE") or parts.get("user") or env.get("PGUSER") or "?"
    return f"postgres {host}:{port}/{database}"


class PostgresStateStore(SQLStateStore):
    """The state named ``key`` in one schema of a PostgreSQL database."""

    backend: ClassVar[str] = "postgres"
    placeholder: ClassVar[str] = "%s"

    def __init__(self, conninfo: str, key: str, schema: str = "mmctl", env: Mapping[str, str] | None = None) -> None:
        super().__init__(key, f"{describe(conninfo, env or {})}, schema {schema}")
        self.schema = schema
        self.prefix = f'"{schema}".'
        self.lock_id = advisory_key(schema, key)
        self._conninfo = conninfo
        self._secrets = _secrets_of(conninfo)
        self._connection: psycopg.Connection[Any] | None = None

    def __repr__(self) -> str:
        return f"PostgresStateStore({self.location!r})"

    # -- connections

    def _connect(self, autocommit: bool = True) -> psycopg.Connection[Any]:
        import psycopg

        try:
            return psycopg.connect(self._conninfo, autocommit=autocommit, application_name="mmctl", connect_timeout=10)
        except psycopg.Error as exc:
            hint = "" if self._conninfo else "; no connection string was given: set MMCTL_STATE_URL (or state.url)"
            raise self._error("cannot connect to the state database", exc, hint) from exc

    def _error(self, what: str, exc: BaseException, hint: str = "") -> StateError:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return StateError(f"{self.location}: {what} ({text}){hint}")

    def _conn(self) -> psycopg.Connection[Any]:
        import psycopg

        if self._connection is not None and not self._connection.closed:
            return self._connection
        connection = self._connect()
        try:
            self._ensure_schema(connection)
        except psycopg.Error as exc:
            connection.close()
            raise self._error("cannot prepare the state tables", exc) from exc
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        return connection

    def _ensure_schema(self, connection: psycopg.Connection[Any]) -> None:
        version_table = f"{self.prefix}schema_version"
        if self.check_version(self._stored_version(connection)):
            with connection.transaction():
                # Only this schema's creation waits: other schemas' states are not blocked.
                connection.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_key(self.schema, "#schema"),))
                connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                connection.execute(f"CREATE TABLE IF NOT EXISTS {version_table} (version INTEGER NOT NULL)")
                version = self._stored_version(connection)
                if self.check_version(version):
                    cursor = connection.cursor()
                    reached = self.migrate(cursor, version)
                    # Who holds each state's advisory lock (SQLite keeps this in its lock file).
                    cursor.execute(
                        self._q(
                            "CREATE TABLE IF NOT EXISTS {locks} (state_key TEXT PRIMARY KEY, holder TEXT NOT NULL, "
                            "pid INTEGER NOT NULL)"
                        )
                    )
                    connection.execute(f"DELETE FROM {version_table}")
                    connection.execute(f"INSERT INTO {version_table} (version) VALUES (%s)", (reached,))

    def _stored_version(self, connection: psycopg.Connection[Any]) -> int:
        found = connection.execute("SELECT to_regclass(%s)", (f'"{self.schema}".schema_version',)).fetchone()
        if found is None or found[0] is None:
            return 0
        row = connection.execute(f"SELECT MAX(version) FROM {self.prefix}schema_version").fetchone()
        return int(row[0] or 0) if row else 0

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    @contextmanager
    def _transaction(self) -> Iterator[Cursor]:
        import psycopg

        connection = self._conn()
        try:
            with connection.transaction(), connection.cursor() as cursor:
                yield cursor
        except psycopg.Error as exc:
            raise self._error(
                "cannot write the state database; the previous state is unchanged. Run again once it is "
                "reachable: the next plan picks up what was done",
                exc,
            ) from exc

    @contextmanager
    def _snapshot(self) -> Iterator[Cursor]:
        import psycopg

        connection = self._conn()
        try:
            with connection.transaction(), connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                yield cursor
        except psycopg.Error as exc:
            raise self._error("cannot read the state database", exc) from exc

    def _stream(self, sql: str, params: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
        """A server-side cursor on a connection of its own, so the store stays usable meanwhile."""
        import psycopg

        self._conn()  # the tables exist
        connection = self._connect(autocommit=False)
        try:
            with connection.cursor(name="mmctl_stream") as cursor:
                cursor.itersize = _PAGE
                cursor.execute(sql, params)
                yield from cursor
            connection.rollback()
        except psycopg.Error as exc:
            raise self._error("cannot read the state database", exc) from exc
        finally:
            connection.close()

    def _insert_members(self, cursor: Cursor, rows: Iterable[tuple[str, str, str, str, str]]) -> None:
        with cursor.copy(  # type: ignore[attr-defined]
            self._q("COPY {members} (state_key, address, row_key, email, phone) FROM STDIN")
        ) as copy:
            for row in rows:
                copy.write_row(row)

    # -- the lock

    @property
    def _locks(self) -> str:
        return self._q("{locks}")

    @contextmanager
    def _holding(self, command: str, timeout: float) -> Iterator[None]:
        import psycopg

        connection = self._conn()
        me = Holder.me(command)
        deadline = time.monotonic() + timeout
        try:
            while not connection.execute("SELECT pg_try_advisory_lock(%s)", (self.lock_id,)).fetchone()[0]:  # type: ignore[index]
                if time.monotonic() >= deadline:
                    _, who = self.holder()
                    raise StateLocked(locked_message(self.location, who, f"advisory lock {self.lock_id}"))
                time.sleep(min(0.2, max(0.01, deadline - time.monotonic())))
            with connection.transaction():
                connection.execute(
                    f"INSERT INTO {self._locks} (state_key, holder, pid) VALUES (%s, %s, pg_backend_pid()) "
                    "ON CONFLICT (state_key) DO UPDATE SET holder = excluded.holder, pid = excluded.pid",
                    (self.key, me.to_json()),
                )
        except psycopg.Error as exc:
            raise self._error("cannot take the state lock", exc) from exc
        try:
            yield
        finally:
            try:
                with connection.transaction():
                    connection.execute(
                        f"DELETE FROM {self._locks} WHERE state_key = %s AND pid = pg_backend_pid()", (self.key,)
                    )
                connection.execute("SELECT pg_advisory_unlock(%s)", (self.lock_id,))
            except psycopg.Error:
                self.close()  # a lost connection: the server has released the lock with it

    def lock(self, command: str, timeout: float = 0.0) -> AbstractContextManager[None]:
        """Hold the state lock; fail fast (or after ``timeout`` seconds) naming who holds it."""
        return self._holding(command, timeout)

    def _holder_pid(self, connection: psycopg.Connection[Any]) -> int | None:
        unsigned = self.lock_id & 0xFFFFFFFFFFFFFFFF
        row = connection.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = %s AND objid = %s "
            "AND objsubid = 1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            (unsigned >> 32, unsigned & 0xFFFFFFFF),
        ).fetchone()
        return int(row[0]) if row else None

    def _holding_session(self) -> tuple[int | None, Holder | None]:
        """The backend pid holding the lock now (None: nobody) and the holder's record (when nobody
        holds it, the last holder's, if one is left)."""
        import psycopg

        connection = self._conn()
        try:
            pid = self._holder_pid(connection)
            row = connection.execute(
                f"SELECT holder, pid FROM {self._locks} WHERE state_key = %s", (self.key,)
            ).fetchone()
        except psycopg.Error as exc:
            raise self._error("cannot read the state lock", exc) from exc
        who = Holder.from_json(row[0]) if row else None
        if pid is not None and (row is None or int(row[1]) != pid):
            who = None  # the record is of an earlier holder: the one now is not known by name
        return pid, who

    def holder(self) -> tuple[bool, Holder | None]:
        pid, who = self._holding_session()
        return pid is not None, who

    def break_lock(self) -> Holder | None:
        """End the session that holds this state's advisory lock (``pg_terminate_backend``)."""
        import psycopg

        connection = self._conn()
        pid, who = self._holding_session()
        try:
            if pid is not None and pid != connection.info.backend_pid:
                connection.execute("SELECT pg_terminate_backend(%s)", (pid,))
            with connection.transaction():
                connection.execute(f"DELETE FROM {self._locks} WHERE state_key = %s", (self.key,))
        except psycopg.Error as exc:
            raise self._error("cannot end the lock holder's session (it needs the right to signal it)", exc) from exc
        return who if pid is not None else None


def _secrets_of(conninfo: str) -> list[str]:
    """The password of a connection string (and the string itself), to scrub from messages."""
    from psycopg.conninfo import conninfo_to_dict

    found = [conninfo] if conninfo else []
    try:
        password = conninfo_to_dict(conninfo).get("password") if conninfo else None
    except Exception:
        password = None
    if password:
        found.append(str(password))
    return sorted(found, key=len, reverse=True)
