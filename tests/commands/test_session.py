"""A command's parts are passed in (client, store, clock, sleep) or made by the default factories."""

from __future__ import annotations

import pytest
from helpers import store_of

from reconciler.clock import utc_text
from reconciler.commands import plan as plan_command
from reconciler.commands.session import Options, open_session
from reconciler.errors import ManifestErrors
from reconciler.graph.client import Credentials, GraphClient, RetryPolicy, connect
from reconciler.model import SANDBOX_DATA
from reconciler.render.plan import plan_json
from reconciler.sandbox import Sandbox, SandboxConfig
from reconciler.sandbox.transport import SandboxTransport
from reconciler.state.model import Pending, State
from reconciler.state.sqlite import SQLiteStateStore

NOW = 1_800_000_000.0


def test_the_defaults_come_from_the_factories(example):
    session = open_session(["."], {}, Options(request_timeout=5.0))
    try:
        assert isinstance(session.store, SQLiteStateStore)
        assert session.store.location == ".mmctl/state.db (state act_100000000000001)"
        assert session.client.retry.timeout == 5.0
        assert session.client.retry.settle == 0.0  # in-process: nothing outlives its process
        assert session.graph == "sandbox"
    finally:
        session.close()


def test_each_part_can_be_passed_in(example, tmp_path):
    made: list[str] = []

    def client(project, graph) -> GraphClient:
        made.append(graph)
        return connect(graph, project.provider.api_version, root=project.root, env={}, retry=RetryPolicy(timeout=1.0))

    elsewhere = SQLiteStateStore(tmp_path / "other.db", "other.db")
    session = open_session(["."], {}, client=client, store=lambda project: elsewhere, clock=lambda: NOW)
    try:
        assert made == ["sandbox"] and session.store is elsewhere and session.now() == int(NOW)
        planned, _ = plan_command.plan(session, estimate=False)
        assert planned.summary["create"] == 6
        assert not (example / ".mmctl" / "state.db").exists()  # the store given was the one read
    finally:
        session.close()


def served_like(project, graph) -> GraphClient:
    """The sandbox as a remote Graph API would be: a request given up on may still be carried out."""
    app = Sandbox(SandboxConfig(), project.root / SANDBOX_DATA)
    credentials = Credentials("session-test-token-0001")
    return GraphClient(
        "http://localhost", "v24.0", credentials, transport=SandboxTransport(app), retry=RetryPolicy(timeout=2.0)
    )


@pytest.mark.parametrize(
    ("sent_ago", "waits"),
    [
        (3, [2.0]),  # settles 4 s after it was sent (twice the timeout), plus a second for rounding
        (3600, []),
    ],
)
def test_a_plan_waits_for_an_interrupted_create_that_may_still_land(example, sent_ago, waits):
    sent = Pending("p1", "campaign.winter-sale", "create", utc_text(NOW - sent_ago), "Winter Sale")
    store_of(example).write(State(account="act_100000000000001", pending=(sent,)))
    slept: list[float] = []
    session = open_session(["."], {}, client=served_like, clock=lambda: NOW, sleep=slept.append)
    try:
        plan_command.plan(session, estimate=False)
    finally:
        session.close()
    assert slept == waits


def counted_reads(monkeypatch) -> list[str]:
    from reconciler.graph import live

    calls: list[str] = []
    real = live.read_live

    def counting(client, ad_account):
        calls.append(ad_account)
        return real(client, ad_account)

    monkeypatch.setattr(live, "read_live", counting)
    return calls


def test_plan_reads_the_account_while_the_manifests_load_and_plans_the_same(example, monkeypatch):
    reads = counted_reads(monkeypatch)
    made: list[str] = []

    def client(project, graph):
        made.append(graph)
        return served_like(project, graph)

    options = Options(graph_url="http://localhost")
    plans = []
    for read_ahead in (False, True):
        session = open_session(["."], {}, options, client=client, clock=lambda: NOW, read_ahead=read_ahead)
        try:
            assert (session.live_ahead is not None) == read_ahead
            plans.append(plan_json(plan_command.plan(session, estimate=False)[0]))
        finally:
            session.close()
    assert plans[0] == plans[1] and plans[1]["summary"]["create"] == 6
    assert made == ["http://localhost", "http://localhost"] and len(reads) == 2  # one client, one reading each


def test_a_reading_made_before_state_showed_a_lost_create_is_not_used(example, monkeypatch):
    sent = Pending("p1", "campaign.winter-sale", "create", utc_text(NOW - 3600), "Winter Sale")
    store_of(example).write(State(account="act_100000000000001", pending=(sent,)))
    reads = counted_reads(monkeypatch)
    options = Options(graph_url="http://localhost")
    session = open_session(["."], {}, options, client=served_like, clock=lambda: NOW, read_ahead=True)
    try:
        assert session.live_ahead is not None
        plan_command.plan(session, estimate=False)
    finally:
        session.close()
    assert len(reads) == 2  # the one made ahead, and the one after state was read


def test_no_reading_ahead_for_the_built_in_sandbox_or_two_provider_blocks(example, monkeypatch):
    reads = counted_reads(monkeypatch)
    session = open_session(["."], {}, read_ahead=True)
    try:
        assert session.live_ahead is None
    finally:
        session.close()
    (example / "second.yaml").write_text((example / "mmctl.yaml").read_text())
    with pytest.raises(ManifestErrors):  # two provider blocks: the full load says so, nothing was read
        open_session(["."], {}, Options(graph_url="http://localhost"), client=served_like, read_ahead=True)
    assert reads == []
