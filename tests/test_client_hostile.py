"""The Graph client against hostile or broken networks: every failure ends, typed, with a clear message."""

from __future__ import annotations

import logging
import socket
import time

import httpx
import pytest
from helpers import create

from reconciler.errors import OutcomeUnknown, TransientError, UnexpectedAnswer
from reconciler.graph import account as graph_account
from reconciler.graph.client import Credentials, GraphClient, RetryPolicy
from reconciler.kinds import campaign
from reconciler.operation import Operation

TRACE = {"x-fb-trace-id": "TraceHostile1"}


def client(handler, *, retry: RetryPolicy | None = None, clock=time.monotonic) -> GraphClient:
    return GraphClient(
        "https://graph.example.com",
        "v24.0",
        Credentials("hostile-test-token"),
        transport=httpx.MockTransport(handler),
        retry=retry or RetryPolicy(attempts=2, base_delay=0),
        sleep=lambda s: None,
        clock=clock,
    )


def test_an_answer_that_drips_past_the_deadline_is_cut_off():
    now = [0.0]

    def drip():
        for _ in range(100):
            now[0] += 10.0  # every part arrives within the read timeout; all of it takes 1,000 s
            yield b" "
        yield b"{}"

    graph = client(
        lambda r: httpx.Response(200, headers=TRACE, content=drip()),
        retry=RetryPolicy(attempts=1, deadline=60),
        clock=lambda: now[0],
    )
    with pytest.raises(TransientError, match="still arriving after the call's deadline of 60s"):
        graph.get("act_1")
    with pytest.raises(OutcomeUnknown):  # a create cut off may have run
        create(graph, "act_1/message_campaign", {"name": "x"})


def test_an_answer_larger_than_the_cap_is_not_read():
    graph = client(
        lambda r: httpx.Response(200, headers=TRACE, content=b"[" + b"0," * 5000 + b"0]"),
        retry=RetryPolicy(attempts=1, max_answer_bytes=1000),
    )
    with pytest.raises(UnexpectedAnswer, match="larger than 0 MiB") as info:
        graph.get("act_1")
    assert info.value.fbtrace_id == "TraceHostile1"


@pytest.mark.parametrize("content", [b"<html>oops</html>", b"[" * 100_000 + b"]" * 100_000, b""])
def test_answers_that_are_not_json_are_unexpected_answers_with_the_trace(content):
    graph = client(lambda r: httpx.Response(200, headers=TRACE, content=content))
    with pytest.raises(UnexpectedAnswer) as info:
        graph.get("act_1")
    assert "not JSON" in str(info.value) and "fbtrace_id TraceHostile1" in str(info.value)


def test_a_paging_cycle_and_an_endless_listing_stop():
    cycle = client(
        lambda r: httpx.Response(
            200,
            headers=TRACE,
            json={"data": [{"id": "1"}], "paging": {"next": "https://graph.example.com/v24.0/act_1/ads?after=A"}},
        )
    )
    with pytest.raises(UnexpectedAnswer, match="paging cycle"):
        list(cycle.pages("act_1/ads"))
    counter = iter(range(10**6))
    endless = client(
        lambda r: httpx.Response(
            200,
            json={"data": [], "paging": {"next": f"https://graph.example.com/v24.0/act_1/ads?after={next(counter)}"}},
        ),
        retry=RetryPolicy(max_pages=5),
    )
    with pytest.raises(UnexpectedAnswer, match="more than 5 pages"):
        list(endless.pages("act_1/ads"))


@pytest.mark.parametrize(
    "item",
    ["a string", 7, {"code": "two hundred", "body": "{}"}, {"code": 200, "body": 5}, {"code": 200, "body": "not json"}],
)
def test_garbage_batch_items_are_unexpected_answers_or_unknown_outcomes(item):
    graph = client(lambda r: httpx.Response(200, headers=TRACE, json=[item, item]))
    read, create = graph.batch([Operation("GET", "act_1"), Operation("POST", "act_1/message_campaign", kind="create")])
    assert isinstance(read.error, UnexpectedAnswer) and read.error.fbtrace_id == "TraceHostile1"
    assert isinstance(create.error, OutcomeUnknown)  # it may have run: looked up by name, never sent again


def test_a_batch_answer_of_the_wrong_length_is_unexpected():
    graph = client(lambda r: httpx.Response(200, json=[{"code": 200, "body": "{}"}]))
    [a, b] = graph.batch([Operation("GET", "1"), Operation("GET", "2")])
    assert isinstance(a.error, UnexpectedAnswer) and "not a list of 2 results" in str(a.error)


def test_an_error_whose_code_is_not_a_number_is_unexpected():
    graph = client(lambda r: httpx.Response(400, headers=TRACE, json={"error": {"message": "m", "code": "abc"}}))
    with pytest.raises(UnexpectedAnswer, match="code is not a number"):
        graph.get("act_1")
    digits = client(lambda r: httpx.Response(400, json={"error": {"message": "bad", "code": "100"}}))
    with pytest.raises(Exception) as info:
        digits.get("act_1")
    assert getattr(info.value, "code", None) == 100


@pytest.mark.parametrize(
    ("field", "value"),
    [("daily_budget", "lots"), ("daily_budget", "-5"), ("start_time", "yesterday"), ("end_time", "99999999999999")],
)
def test_unreadable_budgets_and_times_are_unexpected_answers(field, value):
    row = {
        "id": "1",
        "campaign": {"id": "2", "name": "x", "status": "ACTIVE"},
        "adset": {"id": "3", "daily_budget": "500", field: value},
    }
    with pytest.raises(UnexpectedAnswer, match="a campaign in the ads listing"):
        campaign.SPEC.parse(row)


def test_an_account_without_a_currency_stops_money_planning():
    with pytest.raises(UnexpectedAnswer, match="the account has no currency"):
        graph_account.parse_account("act_1", {"name": "x"})


def test_a_refused_first_connection_fails_in_seconds(caplog):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    graph = GraphClient(f"http://127.0.0.1:{port}", "v24.0", Credentials("t"))
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="mmctl"), pytest.raises(TransientError) as info:
        graph.get("act_1")
    assert time.monotonic() - started < 5
    assert "connection refused" in str(info.value)
    assert any("retrying" in record.getMessage() for record in caplog.records)  # said without --verbose


def test_retries_are_logged_as_warnings(caplog):
    answers = iter(
        [
            httpx.Response(500, json={"error": {"message": "try later", "code": 2}}),
            httpx.Response(200, json={"id": "1"}),
        ]
    )
    graph = client(lambda r: next(answers))
    with caplog.at_level(logging.WARNING, logger="mmctl"):
        assert graph.get("1") == {"id": "1"}
    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert record.getMessage().startswith("GET 1: try later; retrying 1 call(s) in ")
