"""The Graph client against httpx.MockTransport: auth, errors, retries, paging, batches, no leaks."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable
from urllib.parse import parse_qsl

import httpx
import pytest
from helpers import create

from reconciler import errors
from reconciler.graph.client import Credentials, GraphClient, RetryPolicy, connect
from reconciler.operation import Operation, fields

TOKEN = "SENTINEL-TOKEN-7f3a9"
SECRET = "SENTINEL-SECRET-c41d"
PROOF = hmac.new(SECRET.encode(), TOKEN.encode(), hashlib.sha256).hexdigest()
SECRETS = (TOKEN, SECRET, PROOF)


class Recorder:
    """A fake Graph: answers from a function, remembers requests, counts concurrency."""

    def __init__(self, answer: Callable[[httpx.Request, int], httpx.Response]) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []
        self.in_flight = 0
        self.peak = 0
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request)
            number = len(self.requests)
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            return self.answer(request, number)
        finally:
            with self._lock:
                self.in_flight -= 1


def envelope(
    code: int,
    message: str = "boom",
    status: int = 400,
    subcode: int | None = None,
    headers: dict[str, str] | None = None,
    **extra: object,
) -> httpx.Response:
    body: dict[str, object] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "TRACE1",
        **extra,
    }
    if subcode is not None:
        body["error_subcode"] = subcode
    return httpx.Response(status, json={"error": body}, headers=headers)


def client(
    answer: Callable[[httpx.Request, int], httpx.Response], **options: object
) -> tuple[GraphClient, Recorder, list[float]]:
    recorder = Recorder(answer)
    waits: list[float] = []
    policy = options.pop(
        "retry", RetryPolicy(attempts=4, throttled_attempts=4, base_delay=0.01, max_delay=0.05, deadline=30)
    )
    made = GraphClient(
        "https://graph.facebook.com",
        "v24.0",
        Credentials(TOKEN, SECRET),
        transport=httpx.MockTransport(recorder),
        retry=policy,
        sleep=waits.append,  # type: ignore[arg-type]
        **options,
    )  # type: ignore[arg-type]
    return made, recorder, waits


def form(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.content.decode()))


# --- credentials and addresses -------------------------------------------------------------------


def test_token_and_proof_are_sent(tmp_path):
    graph, recorder, _ = client(lambda r, n: httpx.Response(200, json={"id": "1"}))
    graph.get("act_1", {"fields": fields("id", adset=("name", "daily_budget"))})
    create(graph, "act_1/message_campaign", {"name": "x", "promoted_object": {"page_id": "2"}, "flag": True})
    get, post = recorder.requests
    assert get.headers["Authorization"] == f"Bearer {TOKEN}"
    assert dict(get.url.params) == {"fields": "id,adset{name,daily_budget}", "appsecret_proof": PROOF}
    assert str(get.url).startswith("https://graph.facebook.com/v24.0/act_1?")
    assert form(post) == {"name": "x", "promoted_object": '{"page_id":"2"}', "flag": "true", "appsecret_proof": PROOF}


def test_credentials_come_from_the_environment_or_a_file(tmp_path):
    assert Credentials.load({"META_ACCESS_TOKEN": " t \n"}) == Credentials("t")
    assert (
        Credentials.load({"META_ACCESS_TOKEN": "t", "META_APP_SECRET": "s"}).proof()
        == hmac.new(b"s", b"t", hashlib.sha256).hexdigest()
    )
    (tmp_path / "token").write_text("from-file\n")
    assert Credentials.load({}, str(tmp_path / "token")).token == "from-file"
    with pytest.raises(errors.UsageError, match="no access token: set META_ACCESS_TOKEN or pass --token-file"):
        Credentials.load({})
    with pytest.raises(errors.UsageError, match="empty"):
        (tmp_path / "empty").write_text("  ")
        Credentials.load({}, str(tmp_path / "empty"))
    with pytest.raises(errors.UsageError, match="No such file"):
        Credentials.load({}, str(tmp_path / "missing"))
    assert TOKEN not in repr(Credentials(TOKEN, SECRET)) and SECRET not in repr(Credentials(TOKEN, SECRET))


@pytest.mark.parametrize("url", ["http://graph.facebook.com", "http://10.0.0.5:8765", "ftp://x", "https://x/?a=1"])
def test_plain_http_only_on_loopback(url):
    with pytest.raises(errors.UsageError):
        GraphClient(url, "v24.0", Credentials("t"))


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8765", "http://localhost:1", "http://[::1]:80", "https://graph.facebook.com/"]
)
def test_allowed_urls(url):
    assert GraphClient(url, "v24.0", Credentials("t")).base_url == url.rstrip("/")


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "cls", "name"),
    [
        (lambda: envelope(190, "Invalid OAuth access token"), errors.AuthenticationError, None),
        (lambda: envelope(10, "Permission denied"), errors.PermissionDenied, None),
        (lambda: envelope(200), errors.PermissionDenied, None),
        (lambda: envelope(294), errors.PermissionDenied, None),
        (lambda: envelope(100, "(#100) Invalid parameter"), errors.InvalidParameter, None),
        (lambda: envelope(100, "Unsupported get request", subcode=33), errors.NotFound, None),
        (lambda: envelope(803, "Some of the aliases you requested do not exist"), errors.NotFound, None),
        (lambda: envelope(2300004, "token"), errors.RecipientError, "INVALID_MESSENGER_SUBSCRIPTION_TOKEN"),
        (lambda: envelope(2300013, "tos"), errors.PolicyRefused, "TERM_OF_SERVICE_NOT_ACCEPTED"),
    ],
)
def test_final_errors_are_typed_and_not_retried(response, cls, name):
    graph, recorder, waits = client(lambda r, n: response())
    with pytest.raises(cls) as info:
        graph.get("act_1/ads", {"access_token": "ignored"})
    error = info.value
    assert type(error) is cls and len(recorder.requests) == 1 and waits == []
    assert (error.method, error.path, error.status, error.fbtrace_id, error.name) == (
        "GET",
        "act_1/ads",
        400,
        "TRACE1",
        name,
    )
    assert str(error).startswith("GET act_1/ads: ") and "fbtrace_id TRACE1" in str(error)


@pytest.mark.parametrize(
    ("response", "cls"),
    [
        (lambda: envelope(4), errors.Throttled),
        (lambda: envelope(17, subcode=2446079), errors.Throttled),
        (lambda: envelope(32), errors.Throttled),
        (lambda: envelope(341), errors.Throttled),
        (lambda: envelope(613, subcode=1487742), errors.Throttled),
        (lambda: envelope(80000), errors.Throttled),
        (lambda: envelope(80004), errors.Throttled),
        (lambda: envelope(80014), errors.Throttled),
        (lambda: envelope(2300080), errors.Throttled),
        (lambda: envelope(1, status=500), errors.TransientError),
        (lambda: envelope(2, status=503), errors.TransientError),
        (lambda: httpx.Response(502, text="<html>Bad gateway</html>"), errors.TransientError),
        (lambda: envelope(368, is_transient=True), errors.TransientError),
    ],
)
def test_retryable_errors_are_retried_then_raised(response, cls):
    graph, recorder, waits = client(lambda r, n: response())
    with pytest.raises(cls):
        graph.get("act_1")
    assert len(recorder.requests) == 4 and len(waits) == 3
    assert graph.counters.retries == 3 and graph.counters.requests == 4
    assert graph.counters.throttled_waits == (3 if cls is errors.Throttled else 0)


def test_a_retry_that_succeeds():
    graph, recorder, waits = client(
        lambda r, n: envelope(2, status=503) if n < 3 else httpx.Response(200, json={"ok": 1})
    )
    assert graph.get("act_1") == {"ok": 1}
    assert graph.counters.retries == 2 and len(recorder.requests) == 3
    assert 0.005 <= waits[0] <= 0.01 and waits[1] <= 0.02  # exponential, jittered


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (lambda: envelope(80004, headers={"Retry-After": "7"}), 7.0),
        (lambda: envelope(2300071, error_data={"remaining_seconds": 42}), None),  # a rule, not a throttle: final
        (lambda: envelope(17, error_data={"remaining_seconds": 12}), 12.0),
        (
            lambda: envelope(
                80004,
                headers={
                    "X-Business-Use-Case-Usage": json.dumps(
                        {"1": [{"type": "ads_management", "call_count": 100, "estimated_time_to_regain_access": 2}]}
                    )
                },
            ),
            120.0,
        ),
    ],
)
def test_waits_honour_the_apis_hints(response, expected):
    graph, recorder, waits = client(
        lambda r, n: response() if n == 1 else httpx.Response(200, json={}),
        retry=RetryPolicy(attempts=3, base_delay=0.01, deadline=600),
    )
    if expected is None:
        with pytest.raises(errors.MarketingMessagesError):
            graph.get("act_1")
    else:
        graph.get("act_1")
        assert waits == [expected]


def test_a_wait_beyond_the_deadline_gives_up_at_once():
    graph, recorder, waits = client(
        lambda r, n: envelope(80004, headers={"Retry-After": "3600"}), retry=RetryPolicy(attempts=5, deadline=60)
    )
    with pytest.raises(errors.Throttled):
        graph.get("act_1")
    assert len(recorder.requests) == 1 and waits == []


def test_a_create_that_times_out_is_outcome_unknown_and_not_retried():
    def answer(request, n):
        raise httpx.ReadTimeout("timed out", request=request)

    graph, recorder, waits = client(answer)
    with pytest.raises(errors.OutcomeUnknown) as info:
        create(graph, "act_1/message_campaign", {"name": "x"})
    assert len(recorder.requests) == 1 and waits == []
    assert "may or may not have been carried out" in str(info.value)
    # A read that times out is simply retried.
    with pytest.raises(errors.TransientError) as read:
        graph.get("act_1")
    assert not isinstance(read.value, errors.OutcomeUnknown) and len(recorder.requests) == 5


@pytest.mark.parametrize(
    "failure",
    [
        lambda r: envelope(1, status=500),
        lambda r: httpx.Response(500, text="oops"),
        lambda r: (_ for _ in ()).throw(httpx.RemoteProtocolError("dropped", request=r)),
    ],
)
def test_a_create_with_an_unclear_answer_is_outcome_unknown(failure):
    graph, recorder, _ = client(lambda r, n: failure(r))
    with pytest.raises(errors.OutcomeUnknown):
        create(graph, "act_1/message_campaign", {"name": "x"})
    assert len(recorder.requests) == 1


def test_a_create_that_never_left_or_was_throttled_is_retried():
    def answer(request, n):
        if n == 1:
            raise httpx.ConnectError("refused", request=request)
        if n == 2:
            return envelope(80004)
        return httpx.Response(200, json={"id": "9"})

    graph, recorder, _ = client(answer)
    assert create(graph, "act_1/message_campaign", {"name": "x"}) == {"id": "9"}
    assert len(recorder.requests) == 3


# --- paging --------------------------------------------------------------------------------------


def test_paging_follows_next_until_it_is_absent():
    base = "https://graph.facebook.com/v24.0/act_1/ads"

    def answer(request, n):
        after = request.url.params.get("after")
        if after is None:
            return httpx.Response(
                200,
                json={
                    "data": [{"id": "1"}, {"id": "2"}],
                    "paging": {"next": f"{base}?limit=2&after=A&access_token=LEAKED"},
                },
            )
        if after == "A":
            return httpx.Response(200, json={"data": [], "paging": {"next": f"{base}?limit=2&after=B"}})
        return httpx.Response(200, json={"data": [{"id": "3"}], "paging": {"cursors": {"after": "C"}}})

    graph, recorder, _ = client(answer)
    assert [row["id"] for row in graph.pages("act_1/ads", {"fields": "id"}, limit=2)] == ["1", "2", "3"]
    assert len(recorder.requests) == 3
    assert all("LEAKED" not in str(r.url) for r in recorder.requests)
    assert dict(recorder.requests[1].url.params) == {"limit": "2", "after": "A", "appsecret_proof": PROOF}


def test_paging_never_follows_a_link_to_another_host():
    graph, _, _ = client(
        lambda r, n: httpx.Response(200, json={"data": [], "paging": {"next": "https://evil.example/x"}})
    )
    with pytest.raises(errors.UnexpectedAnswer, match="another host"):
        list(graph.pages("act_1/ads"))


# --- batches -------------------------------------------------------------------------------------


def batch_answer(handle: Callable[[dict[str, str], int], object], delay: float = 0.0):
    """A fake batch endpoint applying ``handle(op, attempt)`` to each operation."""
    attempts: dict[str, int] = {}
    lock = threading.Lock()

    def answer(request, n):
        time.sleep(delay)
        items = json.loads(form(request)["batch"])
        out = []
        for item in items:
            key = item["relative_url"] + item.get("body", "")
            with lock:
                attempts[key] = attempts.get(key, 0) + 1
            out.append(handle(item, attempts[key]))
        return httpx.Response(200, json=out)

    return answer


def ok(body: object) -> dict[str, object]:
    return {"code": 200, "headers": [], "body": json.dumps(body)}


def test_batches_of_50_in_order_with_bounded_concurrency():
    graph, recorder, _ = client(
        batch_answer(lambda op, a: ok({"url": op["relative_url"], "body": op.get("body")}), delay=0.05), concurrency=3
    )
    ops = [Operation("POST", f"{n}", {"name": f"n{n}"}, kind="update") for n in range(260)]
    results = graph.batch(ops)
    assert [r.body["url"] for r in results] == [str(n) for n in range(260)]
    assert results[7].body["body"] == "name=n7"
    assert len(recorder.requests) == 6 and recorder.peak == 3
    assert graph.counters.batches == 6 and graph.counters.operations == 260
    assert all(len(json.loads(form(r)["batch"])) <= 50 for r in recorder.requests)
    assert all(form(r)["appsecret_proof"] == PROOF for r in recorder.requests)


def test_batch_operations_fail_and_retry_one_by_one():
    def handle(op, attempt):
        url = op["relative_url"]
        if url == "bad":
            return {
                "code": 400,
                "headers": [],
                "body": json.dumps({"error": {"code": 100, "message": "nope", "fbtrace_id": "T"}}),
            }
        if url in ("flaky-update", "flaky-create") and attempt == 1:
            return None  # Graph's "did not complete"
        if url == "busy" and attempt == 1:
            return {
                "code": 400,
                "headers": [{"name": "Retry-After", "value": "2"}],
                "body": json.dumps({"error": {"code": 80004, "message": "too many"}}),
            }
        return ok({"done": url})

    graph, recorder, waits = client(batch_answer(handle))
    results = graph.batch(
        [
            Operation("GET", "fine"),
            Operation("POST", "bad", kind="update"),
            Operation("POST", "flaky-update", kind="update"),
            Operation("POST", "flaky-create", kind="create"),
            Operation("GET", "busy"),
        ]
    )
    assert [r.ok for r in results] == [True, False, True, False, True]
    assert isinstance(results[1].error, errors.InvalidParameter) and results[1].error.path == "bad"
    assert isinstance(results[3].error, errors.OutcomeUnknown)  # never sent twice
    assert results[4].body == {"done": "busy"}
    assert len(recorder.requests) == 2 and waits == [2.0]
    assert graph.counters.retries == 2 and graph.counters.outcome_unknown == 1


def test_a_whole_batch_failure_retries_updates_and_leaves_creates_unknown():
    def answer(request, n):
        if n == 1:
            return envelope(2, status=503)
        items = json.loads(form(request)["batch"])
        return httpx.Response(200, json=[ok({"n": n}) for _ in items])

    graph, recorder, _ = client(answer)
    results = graph.batch(
        [Operation("POST", "1", kind="update"), Operation("POST", "act_1/message_campaign", kind="create")]
    )
    assert results[0].ok and isinstance(results[1].error, errors.OutcomeUnknown)
    assert len(json.loads(form(recorder.requests[1])["batch"])) == 1


# --- nothing secret leaks ------------------------------------------------------------------------


def test_no_error_path_leaks_the_token_or_secret(caplog):
    """A hostile or buggy server echoes the token everywhere; none of it reaches errors or logs."""
    echo = f"token {TOKEN} secret {SECRET} proof {PROOF}"
    answers = [
        lambda r: envelope(190, echo),
        lambda r: envelope(10, echo),
        lambda r: envelope(100, echo),
        lambda r: envelope(100, echo, subcode=33),
        lambda r: envelope(80004, echo),
        lambda r: envelope(1, echo, status=500),
        lambda r: envelope(2300004, echo),
        lambda r: httpx.Response(500, text=echo),
        lambda r: httpx.Response(200, text=echo),
        lambda r: (_ for _ in ()).throw(httpx.ReadTimeout(echo, request=r)),
        lambda r: (_ for _ in ()).throw(httpx.ConnectError(echo, request=r)),
        lambda r: httpx.Response(200, json={"data": [], "paging": {"next": f"https://evil.example/?{echo}"}}),
    ]
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    for answer in answers:
        graph, _, _ = client(lambda r, n, answer=answer: answer(r), retry=RetryPolicy(attempts=2, base_delay=0))
        for call in (
            lambda: graph.get(f"act_1?access_token={TOKEN}"),
            lambda: create(graph, "act_1/x", {"a": 1}),
            lambda: list(graph.pages("act_1/ads")),
            lambda: graph.batch([Operation("POST", "1", kind="update")])[0],
        ):
            try:
                outcome = call()
            except errors.GraphApiError as error:
                seen += [str(error), repr(error), error.message, error.body, error.path, str(error.error_data)]
            else:
                seen.append(repr(outcome))
        seen += [repr(graph), repr(graph.credentials), str(graph.counters.as_dict())]
    seen += [record.getMessage() for record in caplog.records]
    assert len(seen) > 100
    leaks = [text for text in seen if any(secret in text for secret in SECRETS)]
    assert leaks == []


def test_the_leak_check_can_fail():
    """The redaction is what keeps the sentinel out: without it, the same check finds the token."""
    error = errors.InvalidParameter(f"echo {TOKEN}", method="GET", path="act_1")
    assert TOKEN in str(error)
    assert TOKEN not in Credentials(TOKEN).redact(str(error))


# --- the sandbox, in-process ---------------------------------------------------------------------


def test_connect_to_the_in_process_sandbox(tmp_path):
    with connect("sandbox", "v24.0", root=tmp_path, env={}) as graph:
        created = create(graph, "act_1/message_campaign", {"name": "x", "page_id": "2", "daily_budget": 500})
        assert [row["id"] for row in graph.pages("act_1/ads")] == [created["id"]]
    assert (tmp_path / ".mmctl" / "sandbox.json").exists()
    with pytest.raises(errors.UsageError, match="META_ACCESS_TOKEN"):
        connect("https://graph.facebook.com", "v24.0", root=tmp_path, env={})


def test_throttled_rounds_do_not_use_up_the_failure_budget():
    def answer(request, n):
        if n <= 5:
            return envelope(80004)
        if n == 6:
            return envelope(2, status=503)
        return httpx.Response(200, json={"ok": True})

    graph, recorder, _ = client(
        answer, retry=RetryPolicy(attempts=2, throttled_attempts=10, base_delay=0.001, deadline=30)
    )
    assert graph.get("act_1") == {"ok": True}
    assert len(recorder.requests) == 7
