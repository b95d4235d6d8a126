"""The JSON state store, directly: what it refuses, its lock, and the member upload records."""

from __future__ import annotations

import threading
import time

import pytest

from reconciler.commands.session import open_session
from reconciler.errors import UsageError
from reconciler.state.local import LocalStateStore
from reconciler.state.model import State, StateError, StateLocked


@pytest.fixture
def store(tmp_path) -> LocalStateStore:
    return LocalStateStore(tmp_path / "state.json", ".mmctl/state.json")


def test_no_file_is_an_empty_state_and_each_write_takes_the_next_serial(store):
    assert store.read() == State()
    first = store.write(State(account="act_1"))
    second = store.write(first)
    assert (first.serial, second.serial) == (1, 2) and first.lineage == second.lineage != ""
    assert store.read() == second


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", ".mmctl/state.json: the state file is not valid JSON ("),
        ("[1, 2]", ".mmctl/state.json: not a valid mmctl state file"),
        ('{"version": 9}', ".mmctl/state.json: state format 9 is not 1; this mmctl cannot read it"),
        ('{"version": 1, "lineage": "x", "resources": {}}', "(the field 'serial' is missing)"),
    ],
)
def test_a_corrupt_state_file_is_an_error_naming_it(store, text, message):
    store.path.write_text(text)
    with pytest.raises(StateError) as info:
        store.read()
    assert message in str(info.value)


def test_the_state_of_another_ad_account_is_refused(example):
    session = open_session(["."], {})
    try:
        session.store.write(State(account="act_999"))
        with pytest.raises(UsageError, match=r"belongs to act_999, but the manifests manage act_100000000000001"):
            session.read_state()
    finally:
        session.close()


def test_the_lock_names_its_holder_and_a_timeout_really_waits(store):
    holding = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with store.lock("mmctl apply"):
            holding.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(5)
    try:
        locked = r"is locked by mmctl apply \(pid \d+ on .*, since .*\); wait for it"
        with pytest.raises(StateLocked, match=locked), store.lock("mmctl plan"):
            pass
        threading.Timer(0.3, release.set).start()
        started = time.monotonic()
        with store.lock("mmctl plan", timeout=5):
            waited = time.monotonic() - started
    finally:
        release.set()
        holder.join(5)
    assert 0.25 <= waited < 5


def test_member_records_round_trip_and_a_damaged_line_is_an_error(store):
    address = "audience.vip"
    assert not store.has_members(address) and list(store.member_entries(address)) == []
    store.save_members(address, iter([("k1", "e1", ""), ("k2", "", "p2")]))
    assert store.has_members(address)
    assert list(store.member_entries(address)) == [("k1", "e1", ""), ("k2", "", "p2")]
    assert store.members_location(address) == ".mmctl/state.json.members/audience.vip.tsv"
    store._members_path(address).write_text("k1\te1\n")
    with pytest.raises(StateError, match=r"state.json.members/audience.vip.tsv:1: not a member record line"):
        list(store.member_entries(address))
    store.drop_members(address)
    store.drop_members(address)  # dropping what is gone is fine
    assert not store.has_members(address)
