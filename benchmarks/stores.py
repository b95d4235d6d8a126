"""The state stores the benchmarks measure: ``json`` (the file of earlier versions), ``sqlite``
and ``postgres`` (``MMCTL_STATE_URL``, default the local test server, in schemas made for the run)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from reconciler.state.local import LocalStateStore
from reconciler.state.postgres import PostgresStateStore
from reconciler.state.sqlite import SQLiteStateStore

URL = os.environ.get("MMCTL_STATE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def make_store(backend: str, folder: Path, schema: str) -> Any:
    if backend == "json":
        return LocalStateStore(folder / "state.json")
    if backend == "sqlite":
        return SQLiteStateStore(folder / "state.db", key="bench")
    return PostgresStateStore(URL, "bench", schema)


def drop_schemas(schemas: Iterable[str]) -> None:
    import psycopg

    with psycopg.connect(URL, autocommit=True) as connection:
        for schema in schemas:
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
