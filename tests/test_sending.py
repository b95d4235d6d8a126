"""Every send error of the seeds' table and changelog, judged by meaning: skip the recipient, hold
it, stop the whole send (with when to resume), or resolve an interrupted call."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.errors import OutcomeUnknown, TransientError
from reconciler.graph.client import Answer, Credentials, error_from
from reconciler.kinds.send import message_send
from reconciler.operation import Result
from reconciler.sending import Outcome, Stop, judge

NOW = 1_800_000_000.0
OP = message_send("act_1", "120", "tok", {"text": "hi"}, None)


def refused(code: int, message: str = "refused", *, subcode: int | None = None, **extra: Any) -> Result:
    envelope: dict[str, Any] = {"message": f"(#{code}) {message}", "type": "OAuthException", "code": code}
    if subcode is not None:
        envelope["error_subcode"] = subcode
    envelope.update(extra)
    error = error_from(
        Answer(400, {"error": envelope}, {}, ""), "POST", "act_1/messages", Credentials("not-a-real-token-0123456789")
    )
    return Result(OP, error=error)


@pytest.mark.parametrize(
    ("result", "reason"),
    [
        (refused(2300004), "2300004: invalid subscription token"),
        (refused(2300005), "2300005: the subscription token belongs to another Page"),
        (refused(2300032), "2300032: the subscriber is not in a supported region"),
        (refused(2300052, "This person is not available right now."), "2300052: recipient unavailable"),
        (refused(1893047), "1893047: recipient not available"),
        # Frequency caps, by their names (the seeds give no numbers) and by the unverified numbers.
        (refused(2300042), "WEEKLY_MM_LOAD_CAP_REACHED: weekly frequency cap reached"),
        (refused(100, "Blocked: DAILY_MM_LOAD_CAP_REACHED"), "DAILY_MM_LOAD_CAP_REACHED: daily frequency cap"),
        (
            refused(2300099, "x", error_user_title="MIN_ORGANIC_THREAD_NOT_REACHED"),
            "MIN_ORGANIC_THREAD_NOT_REACHED: too few organic threads",
        ),
        # The code may come as the subcode.
        (refused(100, "x", subcode=2300052), "2300052: recipient unavailable"),
    ],
)
def test_recipients_meta_will_not_take_are_skipped_never_retried(result, reason):
    verdict = judge(result, NOW)
    assert isinstance(verdict, Outcome) and verdict.status == "skipped"
    assert verdict.detail is not None and verdict.detail.startswith(reason)


@pytest.mark.parametrize(
    ("result", "why", "resume"),
    [
        (refused(2300015), "the campaign's budget has been reached (code 2300015)", None),
        (refused(2300017), "the ad account has reached its spend limitation (code 2300017)", None),
        (refused(2300069), "the campaign's lifetime budget is reached (code 2300069)", None),
        (
            refused(2300070, error_data={"remaining_seconds": 7200}),
            "the campaign's daily budget is reached (code 2300070)",
            NOW + 7200,
        ),
        (refused(2300072), "the ad account's spend cap is reached (code 2300072)", None),
        (refused(2300074), "the prepay balance is depleted (code 2300074)", None),
        (refused(2300079), "the daily spending limit is reached (code 2300079)", None),
        (refused(2300068), "a pacing limit was reached (code 2300068)", None),
        (
            refused(2300028),
            "pacing information for the campaign is not ready (code 2300028); retry after 1 hour",
            NOW + 3600,
        ),
        (refused(2300000), "the campaign is not active (code 2300000)", None),
        (refused(2300002), "the campaign's message set is not active (code 2300002)", None),
        (
            refused(2300003, error_data={"remaining_seconds": 1200}),
            "a new campaign warms up for 1 hour",
            NOW + 1200,
        ),
        (refused(2300012), "the campaign is still being populated (code 2300012)", None),
        (refused(2300011), "no payment method: add one", None),
        (
            refused(2300013),
            "has not accepted the marketing messages terms of service: accept them in Meta Business",
            None,
        ),
        (refused(2300019), "app dashboard -> Messenger -> Messenger API Settings", None),
        (refused(2300030), "the ad account is not in a region the Marketing Message API serves", None),
        (refused(2300031), "the Page is not in a region the Marketing Message API serves", None),
        (refused(2300010), "Meta refused the message", None),
        (refused(2300001), "Meta refused the message", None),
        (refused(190, "Error validating access token"), "Error validating access token", None),
    ],
)
def test_refusals_of_the_whole_send_stop_it_with_what_to_do(result, why, resume):
    verdict = judge(result, NOW)
    assert isinstance(verdict, Stop)
    assert why in verdict.why
    assert verdict.resume_at == resume


def test_pacing_holds_a_recipient_and_a_cooldown_refusal_proves_an_interrupted_delivery():
    paced = refused(2300071, error_data={"remaining_seconds": 5400})
    held = judge(paced, NOW)
    assert held == Outcome("pending", "held: Meta's pacing or 12-hour cooldown until 2027-01-15T09:30:00Z")
    # The recipient's earlier call got no answer; the same message now meets the 12-hour cooldown, so
    # that call delivered: it is recorded as sent, and nothing is sent twice.
    # 5,400 s left of 12 hours: a delivery at NOW - 37,800 s. A call recorded 60 s after that: ours.
    resolved = judge(paced, NOW, since=NOW - 37_800 - 60)
    assert isinstance(resolved, Outcome) and resolved.status == "sent"
    assert resolved.detail == (
        "inferred: Meta's 12-hour cooldown refused a second call and dates a delivery at 2027-01-14T21:30:00Z, "
        "after the interrupted call"
    )
    # A delivery well before the interrupted call was someone else's message: the call stays unexplained.
    earlier = judge(paced, NOW, since=NOW - 37_800 + 3600)
    assert isinstance(earlier, Outcome) and earlier.status == "pending"


def test_answers_that_say_nothing_leave_the_recipient_in_flight_or_untried():
    lost = Result(OP, error=OutcomeUnknown("no answer", method="POST", path="act_1/messages"))
    assert judge(lost, NOW).status == "intent"  # type: ignore[union-attr]
    never = Result(OP, error=TransientError("could not connect", method="POST", path="/", sent=False))
    assert judge(never, NOW).status == "pending"  # type: ignore[union-attr]
    odd = Result(OP, body={"success": False})
    assert judge(odd, NOW).status == "intent"  # type: ignore[union-attr]
    ok = Result(OP, body={"success": True, "marketing_message_tracking_id": "98ecd977"})
    assert judge(ok, NOW) == Outcome("sent", None, "98ecd977")


def test_any_other_refusal_of_one_recipient_fails_it_with_the_code():
    verdict = judge(
        refused(100, "Invalid parameter"),
        NOW,
    )
    assert verdict == Outcome("failed", "code 100: (#100) Invalid parameter")


def runner_on(tmp_path, answer):
    """A SendRunner over a fake Graph: ``answer(token, call_number)`` gives (status, body) per send."""
    import json
    from types import MappingProxyType
    from urllib.parse import parse_qs

    import httpx

    from reconciler.core.plan import Action
    from reconciler.graph.client import GraphClient, RetryPolicy
    from reconciler.resources import Kind, Op
    from reconciler.sending import SendRunner
    from reconciler.state.sqlite import SQLiteStateStore

    calls: list[str] = []

    def graph(request: httpx.Request) -> httpx.Response:
        items = json.loads(parse_qs(request.content.decode())["batch"][0])
        out = []
        for item in items:
            token = json.loads(parse_qs(item["body"])["messenger_delivery_data"][0])["subscription_token"]
            calls.append(token)
            status, body = answer(token, len(calls))
            out.append({"code": status, "headers": [], "body": json.dumps(body)})
        return httpx.Response(200, json=out)

    client = GraphClient(
        "http://127.0.0.1:9",
        "v24.0",
        Credentials("not-a-real-token-0123456789"),
        transport=httpx.MockTransport(graph),
        retry=RetryPolicy(attempts=1),
    )
    store = SQLiteStateStore(tmp_path / "state.db")
    slept: list[float] = []
    runner = SendRunner(client, store, "act_1", lambda line: None, slept.append, max_wait=60)
    action = Action(
        "send.s", Kind.SEND, Op.SEND, "a new send", after=MappingProxyType({"message": {"text": "hi"}, "audiences": ()})
    )
    return runner, store, action, calls, slept


def statuses(store) -> dict[str, str]:
    return {row.recipient: row.status for row in store.journal("send.s")}


def test_a_batch_refused_alike_stops_the_send_instead_of_failing_everyone(tmp_path):
    bad = {"error": {"message": "(#100) Param message is invalid", "type": "OAuthException", "code": 100}}
    runner, store, action, calls, _ = runner_on(tmp_path, lambda token, n: (400, bad))
    runner.start(store.read(), action, "120", [f"t{i}" for i in range(60)])
    counts, stop, unknown = runner.run(action, "120")
    assert stop is not None and "Meta refused every call of a batch alike" in stop.why
    assert len(calls) == 50 and set(statuses(store).values()) == {"pending"}  # nobody failed for it


def test_campaign_pacing_waits_as_meta_says_then_sends_the_same_recipients_once(tmp_path):
    paced = {
        "error": {"message": "(#2300071) Pacing limit reached", "code": 2300071, "error_data": {"remaining_seconds": 5}}
    }

    def answer(token: str, n: int):
        return (400, paced) if n <= 3 else (200, {"success": True, "marketing_message_tracking_id": f"id-{token}"})

    runner, store, action, calls, slept = runner_on(tmp_path, answer)
    runner.start(store.read(), action, "120", ["a", "b", "c"])
    counts, stop, unknown = runner.run(action, "120")
    assert stop is None and slept == [5.0] and counts == {"sent": 3}
    assert calls == ["a", "b", "c", "a", "b", "c"]  # the paced calls were refused, then sent once each
    assert statuses(store) == {"a": "sent", "b": "sent", "c": "sent"}


def test_an_interrupted_call_whose_second_call_is_refused_stays_unknown_never_skipped(tmp_path):
    from reconciler.clock import utc_text
    from reconciler.state.model import JournalRow

    gone = {"error": {"message": "(#2300052) This person is not available right now.", "code": 2300052}}
    runner, store, action, calls, _ = runner_on(tmp_path, lambda token, n: (400, gone))
    runner.start(store.read(), action, "120", ["a"])
    store.journal_mark("send.s", [JournalRow("a", "intent", None, None, utc_text(runner.now() - 60))])
    counts, stop, unknown = runner.run(action, "120")
    assert (counts, unknown) == ({"unknown": 1}, 1)
    (row,) = store.journal("send.s")
    assert row.status == "unknown" and "the call made to find out was refused (2300052" in str(row.detail)
