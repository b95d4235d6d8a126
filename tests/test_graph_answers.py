"""The client reads Graph's real answers as Meta documents them: error bodies of every family, usage
headers, errors inside HTTP 200, body-less refusals, and paging links of another API version.

The bodies below are written from Meta's documentation (Graph error handling, Marketing API rate
limiting, the Messenger Send API error codes, graph-api.md §5); none is invented. ``PRODUCTION`` is also the
yardstick for the sandbox: ``tests/sandbox/test_sandbox_fidelity.py`` checks that each error the
sandbox answers is classified as the production body of its family is."""

from __future__ import annotations

import json

import httpx
import pytest
from helpers import create
from test_client import client

from reconciler import errors
from reconciler.graph.client import RetryPolicy

TRACE = "AbCdEfGhIjK1234567890"


def body(
    message: str, code: int, *, subcode: int | None = None, type: str = "OAuthException", **extra: object
) -> dict[str, object]:
    error: dict[str, object] = {"message": message, "type": type, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    error.update(extra)
    error["fbtrace_id"] = TRACE
    return {"error": error}


# family -> (a production body, the class the client must give it)
PRODUCTION: dict[str, tuple[dict[str, object], type[errors.GraphApiError]]] = {
    "no token": (body("An access token is required to request this resource.", 104), errors.AuthenticationError),
    "bad token": (body("Invalid OAuth access token - Cannot parse access token", 190), errors.AuthenticationError),
    "expired token": (
        body(
            "Error validating access token: Session has expired on Friday, 09-Nov-18 08:00:00 PST. "
            "The current time is Friday, 09-Nov-18 08:30:00 PST.",
            190,
            subcode=463,
        ),
        errors.AuthenticationError,
    ),
    "invalidated token": (
        body(
            "Error validating access token: The session has been invalidated because the user "
            "changed their password or Facebook has changed the session for security reasons.",
            190,
            subcode=460,
        ),
        errors.AuthenticationError,
    ),
    "permission": (
        body("(#200) Requires ads_management permission to manage the object", 200),
        errors.PermissionDenied,
    ),
    "messaging window": (
        body("(#10) This message is sent outside of allowed window.", 10, subcode=2018278),
        errors.PolicyRefused,
    ),
    "terms of service": (
        body(
            "Terms of service have not been accepted.",
            2300013,
            error_user_title="TERM_OF_SERVICE_NOT_ACCEPTED",
            error_user_msg="Terms of service have not been accepted.",
        ),
        errors.PolicyRefused,
    ),
    "recipient unavailable": (
        body("(#551) This person isn't available right now.", 551, subcode=1545041),
        errors.RecipientError,
    ),
    "invalid subscription token": (
        body(
            "Invalid messenger subscription token.",
            2300004,
            error_user_title="INVALID_MESSENGER_SUBSCRIPTION_TOKEN",
            error_user_msg="Invalid messenger subscription token.",
        ),
        errors.RecipientError,
    ),
    "ad account throttle": (
        body(
            "(#80004) There have been too many calls to this ad-account. Wait a bit and try "
            "again. For more info, please refer to https://developers.facebook.com/docs/graph-api/"
            "overview/rate-limiting#ads-management.",
            80004,
            subcode=2446079,
            is_transient=True,
        ),
        errors.Throttled,
    ),
    "user throttle": (
        body("(#17) User request limit reached", 17, subcode=2446079, is_transient=True),
        errors.Throttled,
    ),
    "parameter": (
        body(
            "Invalid parameter",
            100,
            subcode=1487301,
            is_transient=False,
            error_user_title="Budget Too Low",
            error_user_msg="The budget for your campaign is too low.",
        ),
        errors.InvalidParameter,
    ),
    "not found": (
        body(
            "Unsupported get request. Object with ID '120210000000000999' does not exist, cannot be "
            "loaded due to missing permissions, or does not support this operation. Please read the Graph "
            "API documentation at https://developers.facebook.com/docs/graph-api",
            100,
            subcode=33,
            type="GraphMethodException",
        ),
        errors.NotFound,
    ),
    "does not exist without 33": (body("(#100) Object with ID 'act_999' does not exist", 100), errors.NotFound),
    "bad cursor": (body("(#2642) Invalid cursors values", 2642), errors.InvalidParameter),
    "unknown": (body("An unknown error occurred", 1, is_transient=True), errors.TransientError),
    "service": (body("Service temporarily unavailable", 2, is_transient=True), errors.TransientError),
    "temporary send failure": (
        body("(#1200) Temporary send message failure. Please try again later", 1200),
        errors.TransientError,
    ),
}


def answered(payload: dict[str, object], status: int = 400, headers: dict[str, str] | None = None):
    return lambda request, n: httpx.Response(status, json=payload, headers=headers)


@pytest.mark.parametrize("family", sorted(PRODUCTION))
def test_every_family_of_production_errors_is_classified(family):
    payload, cls = PRODUCTION[family]
    graph, recorder, waits = client(answered(payload))
    with pytest.raises(errors.GraphApiError) as info:
        graph.get("act_1/ads")
    error = info.value
    assert type(error) is cls
    assert error.fbtrace_id == TRACE and f"fbtrace_id {TRACE}" in str(error)
    retried = cls in (errors.Throttled, errors.TransientError)
    assert len(recorder.requests) == (4 if retried else 1)


def test_a_recipient_or_policy_refusal_is_not_called_a_missing_permission():
    for family in ("messaging window", "recipient unavailable"):
        graph, _, _ = client(answered(PRODUCTION[family][0]))
        with pytest.raises(errors.GraphApiError) as info:
            graph.get("me/messages")
        assert "permission" not in info.value.advice.lower()


def test_the_user_title_and_both_messages_reach_the_user():
    graph, _, _ = client(answered(PRODUCTION["parameter"][0]))
    with pytest.raises(errors.InvalidParameter) as info:
        graph.get("act_1")
    assert str(info.value).startswith(
        "GET act_1: Budget Too Low: The budget for your campaign is too low. "
        "[Invalid parameter] (HTTP 400, code 100/1487301"
    )


def test_code_104_says_the_token_is_missing():
    graph, _, _ = client(answered(PRODUCTION["no token"][0]))
    with pytest.raises(errors.AuthenticationError) as info:
        graph.get("act_1")
    assert "No access token was sent: set META_ACCESS_TOKEN or pass --token-file." in str(info.value)


def test_is_transient_false_is_honoured_and_a_refused_create_is_not_outcome_unknown():
    refused = body("Service temporarily unavailable", 2, is_transient=False)
    graph, recorder, waits = client(answered(refused, status=500))
    with pytest.raises(errors.GraphApiError) as info:
        create(graph, "act_1/message_campaign", {"name": "x"})
    assert not isinstance(info.value, (errors.TransientError, errors.OutcomeUnknown))
    assert len(recorder.requests) == 1 and waits == []


def test_is_transient_true_is_retried_whatever_the_code():
    flaky = body("(#100) Please retry", 100, is_transient=True)
    graph, recorder, _ = client(
        lambda r, n: httpx.Response(400, json=flaky) if n == 1 else httpx.Response(200, json={"ok": True})
    )
    assert graph.get("act_1") == {"ok": True} and len(recorder.requests) == 2


def test_an_error_inside_http_200_is_an_error():
    graph, recorder, _ = client(answered(PRODUCTION["permission"][0], status=200))
    with pytest.raises(errors.PermissionDenied):
        graph.get("act_1")
    batch = [{"code": 200, "headers": [], "body": json.dumps(PRODUCTION["recipient unavailable"][0])}]
    graph, _, _ = client(lambda r, n: httpx.Response(200, json=batch))
    from reconciler.operation import Operation

    [result] = graph.batch([Operation("GET", "act_1")])
    assert isinstance(result.error, errors.RecipientError)


def test_a_bodyless_refusal_uses_www_authenticate_and_the_trace_header():
    headers = {
        "WWW-Authenticate": 'OAuth "Facebook Platform" "invalid_token" "Invalid OAuth access token signature."',
        "x-fb-trace-id": "HeaderTrace42",
    }
    graph, _, _ = client(lambda r, n: httpx.Response(401, headers=headers))
    with pytest.raises(errors.AuthenticationError) as info:
        graph.get("act_1")
    assert info.value.fbtrace_id == "HeaderTrace42"
    assert "invalid_token: Invalid OAuth access token signature." in str(info.value)


# --- throttling hints ---------------------------------------------------------------------------------

BUC = json.dumps(
    {
        "100000000000001": [
            {
                "type": "ads_management",
                "call_count": 100,
                "total_cputime": 25,
                "total_time": 25,
                "estimated_time_to_regain_access": 45,
                "ads_api_access_tier": "standard_access",
            }
        ]
    }
)
ACCOUNT_USAGE = json.dumps(
    {"acc_id_util_pct": 100, "reset_time_duration": 300, "ads_api_access_tier": "standard_access"}
)


def test_a_throttle_longer_than_the_deadline_says_when_access_returns_and_which_header_said_so():
    throttled = answered(
        PRODUCTION["ad account throttle"][0],
        headers={"x-business-use-case-usage": BUC, "x-ad-account-usage": ACCOUNT_USAGE},
    )
    graph, recorder, waits = client(throttled, retry=RetryPolicy(deadline=60), wall=lambda: 1_800_000_000.0)
    with pytest.raises(errors.Throttled) as info:
        graph.get("act_1/ads")
    assert len(recorder.requests) == 1 and waits == []
    # 45 minutes (the usage header) beat 300 seconds (the ad-account header): the longest wins.
    assert (
        "Access returns at about 2027-01-15T08:45:00Z (x-business-use-case-usage "
        "estimated_time_to_regain_access: 45 minutes); run again then, or give --max-wait"
    ) in str(info.value)


def test_max_wait_waits_the_throttle_out():
    throttled = PRODUCTION["ad account throttle"][0]
    graph, recorder, waits = client(
        lambda r, n: (
            httpx.Response(400, json=throttled, headers={"x-ad-account-usage": ACCOUNT_USAGE})
            if n == 1
            else httpx.Response(200, json={"ok": True})
        ),
        retry=RetryPolicy(deadline=60, max_wait=3600),
    )
    assert graph.get("act_1") == {"ok": True}
    assert waits == [300.0]


def test_several_hints_the_longest_wins():
    pacing = body("Pacing limit reached", 17, error_data={"remaining_seconds": 90})
    graph, _, waits = client(
        lambda r, n: (
            httpx.Response(400, json=pacing, headers={"Retry-After": "30"}) if n == 1 else httpx.Response(200, json={})
        ),
        retry=RetryPolicy(deadline=600),
    )
    graph.get("act_1")
    assert waits == [90.0]


# --- paging -------------------------------------------------------------------------------------------


def test_a_next_link_naming_another_api_version_is_followed_as_given():
    def answer(request, n):
        if n == 1:
            return httpx.Response(
                200,
                json={
                    "data": [{"id": "1"}],
                    "paging": {
                        "cursors": {"before": "QVFI", "after": "QVFJ"},
                        "next": "https://graph.facebook.com/v23.0/act_1/ads?fields=id&limit=1&after=QVFJ",
                    },
                },
            )
        return httpx.Response(200, json={"data": [{"id": "2"}], "paging": {"cursors": {"before": "a", "after": "b"}}})

    graph, recorder, _ = client(answer)
    assert [row["id"] for row in graph.pages("act_1/ads", {"fields": "id"}, limit=1)] == ["1", "2"]
    followed = recorder.requests[1].url
    assert followed.path == "/v23.0/act_1/ads" and followed.params["after"] == "QVFJ"
