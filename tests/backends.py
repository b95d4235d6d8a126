"""The state backends the tests run on: SQLite always, PostgreSQL over a real connection.

PostgreSQL is the server this machine runs at 127.0.0.1:5432 (trust auth, database ``test``;
``MMCTL_TEST_POSTGRES`` names another). Each test gets a schema of its own, dropped afterwards.
Without a reachable server the PostgreSQL cases skip, saying why, unless
``MMCTL_REQUIRE_POSTGRES=1`` (set by ``.ci/run``): then they fail, so a green CI means they ran.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest

POSTGRES_URL = os.environ.get("MMCTL_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
NAMES = ("sqlite", "postgres")


@cache
def postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used here, or None when it can."""
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except Exception as exc:  # any reason at all is a reason to skip (or to fail in CI)
        return (
            f"no PostgreSQL at {POSTGRES_URL}: {str(exc).strip().splitlines()[0] if str(exc) else type(exc).__name__}"
        )
    return None


def need_postgres() -> None:
    problem = postgres_problem()
    if problem is None:
        return
    if os.environ.get("MMCTL_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"{problem} (MMCTL_REQUIRE_POSTGRES=1: the PostgreSQL tests must run)")
    pytest.skip(problem)


def drop_schema(name: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@dataclass
class Backend:
    """One backend for one test: how a manifest names it, the environment it needs, its stores."""

    name: str
    schemas: list[str] = field(default_factory=list)

    def new_schema(self) -> str:
        schema = f"mmctl_test_{uuid.uuid4().hex[:12]}"
        self.schemas.append(schema)
        return schema

    @property
    def schema(self) -> str:
        return self.schemas[0] if self.schemas else self.new_schema()

    def state_block(self) -> str:
        if self.name == "sqlite":
            return "state:\n  backend: sqlite\n  path: .mmctl/state.db\n"
        return f"state:\n  backend: postgres\n  schema: {self.schema}\n"

    @property
    def env(self) -> dict[str, str]:
        return {"MMCTL_STATE_URL": POSTGRES_URL} if self.name == "postgres" else {}

    def store(self, root: Path, key: str = "act_100000000000001", schema: str | None = None) -> Any:
        if self.name == "sqlite":
            from reconciler.state.sqlite import SQLiteStateStore

            return SQLiteStateStore(root / ".mmctl" / "state.db", ".mmctl/state.db", key)
        from reconciler.state.postgres import PostgresStateStore

        return PostgresStateStore(POSTGRES_URL, key, schema or self.schema)

    def state(self, root: Path) -> dict[str, Any]:
        """The examples' state on this backend, in its JSON form (``State.to_dict``)."""
        store = self.store(root)
        try:
            return dict(store.read().to_dict())
        finally:
            store.close()

    def use_in(self, manifest: Path) -> None:
        """Point a manifest file's state block (the examples' one, or none) at this backend."""
        text = manifest.read_text()
        default = "state:\n  backend: sqlite\n  path: .mmctl/state.db\n"
        manifest.write_text(text.replace(default, "") + "\n" + self.state_block())


@pytest.fixture(params=NAMES)
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "postgres":
        need_postgres()
    made = Backend(request.param)
    yield made
    for schema in made.schemas:
        drop_schema(schema)


@pytest.fixture
def postgres_schema() -> Iterator[str]:
    """A fresh schema name in the test database, dropped after the test."""
    need_postgres()
    made = Backend("postgres")
    yield made.schema
    drop_schema(made.schema)
