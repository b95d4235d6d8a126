"""Every state backend keeps the same promises (the StateStore protocol), tested alike; and the
engine plans and applies on each."""

from __future__ import annotations

import os
import random
import socket
import sqlite3
import stat
import threading
import time
from dataclasses import replace
from types import MappingProxyType

import pytest

from reconciler.commands import apply as apply_command
from reconciler.commands import plan as plan_command
from reconciler.commands.session import open_session
from reconciler.state.model import JournalRow, Pending, Resource, State, StateError, StateLocked
from reconciler.state.sql import SCHEMA_VERSION
from reconciler.state.sqlite import SQLiteStateStore


@pytest.fixture
def make(backend, tmp_path):
    """A new store on the same state each call: nothing is shared in memory between them."""
    made = []

    def new(key: str = "act_1"):
        made.append(backend.store(tmp_path, key))
        return made[-1]

    yield new
    for store in made:
        store.close()


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


def test_the_lock_waits_up_to_its_timeout_and_records_its_holder(make):
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with make().lock("mmctl apply"):
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(10)
    try:
        held, who = make().holder()
        assert held and who is not None and who.command == "mmctl apply" and who.pid == os.getpid()
        locked = rf"is locked by mmctl apply \(pid {os.getpid()} on {socket.gethostname()}, user .+, since .+\); wait"
        with pytest.raises(StateLocked, match=locked), make().lock("mmctl plan"):
            pass
        threading.Timer(0.3, release.set).start()
        started = time.monotonic()
        with make().lock("mmctl plan", timeout=10):
            waited = time.monotonic() - started
    finally:
        release.set()
        holder.join(10)
    assert 0.25 <= waited < 10
    assert make().holder()[0] is False


def test_states_of_one_database_never_block_or_see_each_other(make):
    one, other = make("project-a"), make("project-b")
    one.write(State(account="act_1", resources=MappingProxyType({"campaign.a": campaign("A")})))
    other.write(State(account="act_2"))
    other.save_members("audience.vip", iter([("k", "e", "")]))
    assert one.read().account == "act_1" and list(one.read().resources) == ["campaign.a"]
    assert other.read().account == "act_2" and other.read().resources == {}
    assert not one.has_members("audience.vip")
    with one.lock("mmctl apply"), other.lock("mmctl apply"):
        pass  # one state's lock never blocks another's
    assert "(state project-b)" in other.location


def test_every_recorded_version_can_be_shown_as_it_was(make):
    store = make()
    state = store.write(State(account="act_1", resources=MappingProxyType({"campaign.a": campaign("A")})))
    first = store.record_version("mmctl apply", {"create": 1}, plan_digest="sha256:ab", git_commit="c0ffee")
    state = store.write(state.with_resources({"campaign.a": campaign("A", 900), "campaign.b": campaign("B")}))
    state = store.write(state.with_resource("campaign.a", None))
    second = store.record_version("mmctl apply", {"update": 1, "create": 1, "delete": 1})
    assert [(v.number, v.serial) for v in make().versions()] == [(1, 1), (2, 3)]
    assert first.plan_digest == "sha256:ab" and first.git_commit == "c0ffee" and first.user and first.host
    shown = make().version(1)
    assert shown is not None and shown[0] == first
    assert dict(shown[1].resources) == {"campaign.a": campaign("A")}
    now = make().version(2)
    assert now is not None and now[0] == second and dict(now[1].resources) == {"campaign.b": campaign("B")}
    assert make().version(3) is None


def test_a_state_loaded_whole_keeps_its_serial_and_lineage(make):
    loaded = State(7, "lineage-1", "act_1", MappingProxyType({"campaign.a": campaign("A")}))
    make().load(loaded)
    assert make().read() == loaded and not make().is_empty()
    assert make("act_2").is_empty()


def test_a_state_moves_between_backends_whole(make, tmp_path):
    source = make()
    state = source.write(State(account="act_1", resources=MappingProxyType({"campaign.a": campaign("A")})))
    source.save_members("audience.vip", iter([("a", "e1", ""), ("b", "", "p2")]))
    source.record_version("mmctl apply", {"create": 1})
    target = SQLiteStateStore(tmp_path / "elsewhere.db", key="act_1")
    assert source.copy_to(target) == state
    assert target.read() == state and list(target.member_entries("audience.vip")) == [("a", "e1", ""), ("b", "", "p2")]
    assert [v.summary for v in target.versions()] == [{"create": 1}]
    assert target.version(1) is not None and dict(target.version(1)[1].resources) == dict(state.resources)


def test_the_send_journal_freezes_recipients_once_and_keeps_each_outcome(make, tmp_path):
    store, other = make(), make("act_2")
    store.journal_start("send.s", ["t2", "t1", "t3"], "2027-01-01T00:00:00Z")
    store.journal_start("send.s", ["t1", "t4"], "2027-01-01T00:05:00Z")  # nobody twice, nothing reset
    store.journal_mark(
        "send.s",
        [
            JournalRow("t1", "sent", None, "tracking-1", "2027-01-01T00:10:00Z"),
            JournalRow("t2", "skipped", "2300052: recipient unavailable", None, "2027-01-01T00:10:00Z"),
        ],
    )
    store.journal_start("send.s", ["t1"], "2027-01-02T00:00:00Z")
    store.journal_start("send.t", ["t3"], "2027-01-01T00:00:00Z")
    store.journal_mark("send.t", [JournalRow("t3", "sent", None, "tracking-3", "2027-01-01T20:00:00Z")])
    assert list(store.journal("send.s")) == [
        JournalRow("t1", "sent", None, "tracking-1", "2027-01-01T00:10:00Z"),
        JournalRow("t2", "skipped", "2300052: recipient unavailable", None, "2027-01-01T00:10:00Z"),
        JournalRow("t3", "pending", None, None, "2027-01-01T00:00:00Z"),
        JournalRow("t4", "pending", None, None, "2027-01-01T00:05:00Z"),
    ]
    assert store.journal_recent("2027-01-01T12:00:00Z") == {"t3": "2027-01-01T20:00:00Z"}
    assert store.journal_recent("2027-01-01T00:00:00Z") == {"t1": "2027-01-01T00:10:00Z", "t3": "2027-01-01T20:00:00Z"}
    assert store.journal_sends() == ["send.s", "send.t"]
    assert other.journal_sends() == [] and list(other.journal("send.s")) == []  # another state's journal
    target = SQLiteStateStore(tmp_path / "moved.db", key="act_1")
    store.copy_to(target)
    assert list(target.journal("send.s")) == list(store.journal("send.s"))


def test_the_engine_applies_and_then_plans_nothing_on_each_backend(example, make):
    def session():
        return open_session(["."], {}, store=lambda project: make("act_100000000000001"))

    first = session()
    try:
        made, account = plan_command.plan(first, estimate=False)
        assert made.summary["create"] == 6
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
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2


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
    store.close()  # the store keeps its connection: the next write opens one through traced()
    one = store.write(state.with_resource("campaign.c5", campaign("C5", 900)))
    written = [s for s in statements if s.startswith(("INSERT INTO resources", "DELETE FROM resources"))]
    assert len(written) == 1 and "campaign.c5" in written[0]
    history = [s for s in statements if s.startswith("INSERT INTO history")]
    assert len(history) == 1 and "campaign.c5" in history[0]
    assert one.resources["campaign.c5"].applied["daily_budget"] == 900
    assert SQLiteStateStore(tmp_path / "state.db").read() == one


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


def test_any_sequence_of_writes_reads_back_as_written(make):
    """Derived states are written by their touched addresses, others by a full comparison: either
    way the database ends up holding exactly the state written."""
    rng = random.Random(7)
    store = make()
    state = store.write(State(account="act_1"))
    for step in range(60):
        names = [f"campaign.c{rng.randrange(12)}" for _ in range(rng.randrange(1, 5))]
        changes = {n: (None if rng.random() < 0.3 else campaign(n, rng.randrange(500, 900))) for n in names}
        derived = state.with_resources(changes)
        settled = [p.id for p in derived.pending if rng.random() < 0.3]
        moved = [p for p in derived.pending if rng.random() < 0.1]  # an entry replaced: it goes last
        derived = derived.without_pending(*settled, *(p.id for p in moved)).with_pending(
            *(replace(p, done=(p.done or 0) + 1) for p in moved),
            *(Pending(f"p{step}.{n}", names[0], "create", "2027-01-01T00:00:00Z") for n in range(rng.randrange(3))),
        )
        if step % 5 == 0 and len(derived.pending) > 1:  # a reordering: the store renumbers them all
            derived = replace(derived, pending=tuple(reversed(derived.pending)))
        if step % 3 == 0:  # rebuilt from scratch, as a command may do: nothing to go by but the values
            derived = State(derived.serial, derived.lineage, derived.account, derived.resources, derived.pending)
        if step % 7 == 0:
            state = make().write(derived)  # another store wrote meanwhile
        else:
            state = store.write(derived)
        assert make().read() == state, step
