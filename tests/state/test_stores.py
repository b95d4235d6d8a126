"""Every state backend keeps the same promises (the StateStore protocol), tested alike; and the
engine plans and applies on each."""

from __future__ import annotations

import sqlite3
import stat
from types import MappingProxyType

import pytest

from reconciler.commands import apply as apply_command
from reconciler.commands import plan as plan_command
from reconciler.commands.session import open_session
from reconciler.state.local import LocalStateStore
from reconciler.state.model import Pending, Resource, State, StateError, StateLocked
from reconciler.state.sqlite import SQLiteStateStore

BACKENDS = {
    "json": lambda root: LocalStateStore(root / "state.json", "state.json"),
    "sqlite": lambda root: SQLiteStateStore(root / "state.db", "state.db"),
}


@pytest.fixture(params=sorted(BACKENDS))
def make(request, tmp_path):
    return lambda: BACKENDS[request.param](tmp_path)


def campaign(name: str, budget: int = 500) -> Resource:
    return Resource(
        "campaign",
        MappingProxyType({"id": "9", "campaign": "10", "adset": "11"}),
        MappingProxyType({"name": name, "daily_budget": budget}),
        protect=True,
        members=None,
        notices=("info: Meta set an estimated cap",),
    )


def test_state_round_trips_with_the_next_serial(make):
    store = make()
    assert store.read() == State()
    state = State(account="act_1", resources=MappingProxyType({"campaign.a": campaign("A")}))
    first = store.write(state.with_pending(Pending("p1", "campaign.b", "create", "2027-01-01T00:00:00Z", "B")))
    again = make().read()  # a new store on the same file: nothing held in memory
    assert again == first and first.serial == 1 and first.lineage
    second = make().write(again.with_resource("campaign.a", None).without_pending("p1"))
    assert make().read() == second and second.serial == 2 and second.resources == {} and second.pending == ()


def test_pending_entries_keep_their_order_and_fields(make):
    store = make()
    entries = [
        Pending(f"p{i}", f"campaign.c{i}", "members", "2027-01-01T00:00:00Z", None, 7, "add", i, "d") for i in range(5)
    ]
    store.write(State().with_pending(*reversed(entries)))
    assert make().read().pending == tuple(reversed(entries))


def test_member_records_stream_sorted_and_are_replaced_whole(make):
    store = make()
    assert not store.has_members("audience.vip") and list(store.member_entries("audience.vip")) == []
    store.save_members("audience.vip", iter([("a", "e1", ""), ("b", "", "p2"), ("c", "e3", "p3")]))
    store.save_members("audience.vip", iter([("b", "", "p2"), ("d", "e4", "")]))
    assert list(make().member_entries("audience.vip")) == [("b", "", "p2"), ("d", "e4", "")]
    assert make().has_members("audience.vip") and not make().has_members("audience.other")
    store.drop_members("audience.vip")
    assert not make().has_members("audience.vip") and list(make().member_entries("audience.vip")) == []


def test_the_lock_is_exclusive_and_names_its_holder(make):
    with make().lock("mmctl apply"), pytest.raises(StateLocked, match="is locked by mmctl apply"), make().lock("x"):
        pass
    with make().lock("mmctl plan"):
        pass  # released


def test_the_engine_applies_and_then_plans_nothing_on_each_backend(example, make):
    def session():
        return open_session(["."], {}, store=lambda project: make())

    first = session()
    try:
        made, account = plan_command.plan(first, estimate=False)
        assert made.summary["create"] == 5
        with first.store.lock("test"):
            report = apply_command.apply(first, made, account, lambda line: None)
        assert report.ok, report.failed
    finally:
        first.close()
    second = session()
    try:
        again, _ = plan_command.plan(second, estimate=False)
        assert not again.changes_pending, [a.address for a in again.actions if a.mutates]
        assert second.store.has_members("audience.vip")
    finally:
        second.close()


# -- SQLite only


def test_the_database_is_private_and_in_wal_mode(tmp_path):
    store = SQLiteStateStore(tmp_path / "state.db")
    store.write(State(account="act_1"))
    assert stat.S_IMODE((tmp_path / "state.db").stat().st_mode) == 0o600
    with sqlite3.connect(tmp_path / "state.db") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("PRAGMA user_version").fetchone()[0] == 1


def test_a_write_changes_only_the_rows_that_changed(tmp_path, monkeypatch):
    store = SQLiteStateStore(tmp_path / "state.db")
    many = {f"campaign.c{i}": campaign(f"C{i}") for i in range(1000)}
    state = store.write(State(account="act_1", resources=MappingProxyType(many)))
    statements: list[str] = []
    connect = store._connect

    def traced():
        connection = connect()
        connection.set_trace_callback(statements.append)
        return connection

    monkeypatch.setattr(store, "_connect", traced)
    one = store.write(state.with_resource("campaign.c5", campaign("C5", 900)))
    written = [s for s in statements if s.startswith(("INSERT OR REPLACE INTO resources", "DELETE FROM resources"))]
    assert len(written) == 1 and "campaign.c5" in written[0]
    assert one.resources["campaign.c5"].applied["daily_budget"] == 900
    assert SQLiteStateStore(tmp_path / "state.db").read() == one


def test_several_states_share_one_database_without_mixing(tmp_path):
    one = SQLiteStateStore(tmp_path / "state.db", key="project-a")
    other = SQLiteStateStore(tmp_path / "state.db", key="project-b")
    one.write(State(account="act_1", resources=MappingProxyType({"campaign.a": campaign("A")})))
    other.write(State(account="act_2"))
    other.save_members("audience.vip", iter([("k", "e", "")]))
    assert one.read().account == "act_1" and list(one.read().resources) == ["campaign.a"]
    assert other.read().account == "act_2" and other.read().resources == {}
    assert not one.has_members("audience.vip")
    with one.lock("mmctl apply"), other.lock("mmctl apply"):
        pass  # one state's lock never blocks another's
    assert other.location == f"{tmp_path / 'state.db'} (state project-b)"


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path):
    (tmp_path / "state.db").write_text("not a database, just text that is long enough " * 40)
    with pytest.raises(StateError, match="not a usable mmctl state database"):
        SQLiteStateStore(tmp_path / "state.db", "state.db").read()


def test_a_database_from_a_newer_mmctl_is_refused(tmp_path):
    SQLiteStateStore(tmp_path / "state.db").write(State())
    with sqlite3.connect(tmp_path / "state.db") as connection:
        connection.execute("PRAGMA user_version = 9")
    with pytest.raises(StateError, match="format 9, newer than this mmctl"):
        SQLiteStateStore(tmp_path / "state.db", "state.db").read()
