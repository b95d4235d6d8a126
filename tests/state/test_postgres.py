"""PostgreSQL only: its own schema, the lock key, the holder's session, and the secret connection string."""

from __future__ import annotations

import multiprocessing
import os
import signal

import psycopg
import pytest
from backends import POSTGRES_URL

from reconciler.state.model import State, StateError, StateLocked
from reconciler.state.postgres import PostgresStateStore, advisory_key, describe


def test_the_lock_key_is_pinned():
    # A change here would let an old and a new mmctl apply the same state at once: never change it.
    assert advisory_key("mmctl", "act_100000000000001") == 6037798484324747122
    assert advisory_key("mmctl", "act_100000000000002") != advisory_key("other", "act_100000000000001")


def test_the_location_never_shows_user_or_password():
    env = {"PGHOST": "db.internal"}
    assert describe("postgresql://deploy:hunter2@db.example.com:6432/mm", {}) == "postgres db.example.com:6432/mm"
    assert describe("dbname=mm password=hunter2", env) == "postgres db.internal:5432/mm"
    assert describe("postgresql://%zz", {}) == "postgres (an unreadable connection string)"


def test_an_unreachable_server_is_a_clear_error_without_the_secret():
    store = PostgresStateStore("postgresql://deploy:hunter2-secret@127.0.0.1:9/mm", "act_1")
    with pytest.raises(StateError) as info:
        store.read()
    text = str(info.value)
    assert text.startswith(
        "postgres 127.0.0.1:9/mm, schema mmctl (state act_1): cannot connect to the state database ("
    )
    assert "hunter2" not in text and "deploy" not in text.partition("(")[2].partition(" ")[0]


def test_tables_live_in_their_own_schema_created_on_first_use(postgres_schema):
    schema = postgres_schema
    store = PostgresStateStore(POSTGRES_URL, "act_1", schema)
    store.write(State(account="act_1"))
    store.close()
    with psycopg.connect(POSTGRES_URL) as connection:
        tables = {
            name
            for (name,) in connection.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
            )
        }
        version = connection.execute(f'SELECT version FROM "{schema}".schema_version').fetchone()
    assert tables == {
        "states",
        "resources",
        "pending",
        "member_sets",
        "members",
        "versions",
        "history",
        "journal",
        "locks",
        "schema_version",
    }
    assert version == (2,)


def _hold(schema: str, ready) -> None:  # runs in a child process
    store = PostgresStateStore(POSTGRES_URL, "act_1", schema)
    with store.lock("mmctl apply"):
        ready.set()
        signal.pause()


def test_a_killed_holder_frees_the_lock_and_unlock_ends_a_live_one(postgres_schema):
    schema = postgres_schema
    context = multiprocessing.get_context("spawn")
    for ending in ("kill -9", "state unlock"):
        ready = context.Event()
        child = context.Process(target=_hold, args=(schema, ready))
        child.start()
        assert ready.wait(30)
        store = PostgresStateStore(POSTGRES_URL, "act_1", schema)
        locked = rf"locked by mmctl apply \(pid {child.pid} on .*\(advisory lock"
        with pytest.raises(StateLocked, match=locked), store.lock("mmctl plan"):
            pass
        if ending == "kill -9":
            os.kill(child.pid, signal.SIGKILL)
        else:
            who = store.break_lock()
            assert who is not None and who.pid == child.pid
        with store.lock("mmctl plan", timeout=20):  # the server ends the session, and its lock with it
            assert store.holder()[0] is True
        assert store.holder() == (False, None)
        store.close()
        child.kill()
        child.join(10)


def test_without_a_url_libpq_variables_are_used(postgres_schema, monkeypatch):
    for name, value in {"PGHOST": "127.0.0.1", "PGPORT": "5432", "PGUSER": "postgres", "PGDATABASE": "test"}.items():
        monkeypatch.setenv(name, value)
    store = PostgresStateStore("", "act_1", postgres_schema, dict(os.environ))
    try:
        assert store.write(State(account="act_1")).serial == 1
        assert store.location == f"postgres 127.0.0.1:5432/test, schema {postgres_schema} (state act_1)"
    finally:
        store.close()


def test_no_connection_string_at_all_says_where_to_give_one(monkeypatch):
    for name in ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGSERVICE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PGHOST", "127.0.0.1")
    monkeypatch.setenv("PGPORT", "9")
    with pytest.raises(StateError, match=r"no connection string was given: set MMCTL_STATE_URL \(or state.url\)$"):
        PostgresStateStore("", "act_1").read()
