"""A command's parts are passed in (client, store, clock, sleep) or made by the default factories."""

from __future__ import annotations

import pytest
from helpers import store_of

from reconciler.clock import utc_text
from reconciler.commands import plan as plan_command
from reconciler.commands.session import Options, open_session
from reconciler.graph.client import Credentials, GraphClient, RetryPolicy, connect
from reconciler.model import SANDBOX_DATA
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
