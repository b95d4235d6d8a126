"""The sandbox answers errors as production does: the client classifies each error the sandbox gives
exactly as it classifies the production body of the same family (tests/test_graph_answers.py)."""

from __future__ import annotations

import httpx
import pytest
from helpers import create
from sandbox_helpers import ACCOUNT, PAGE
from test_graph_answers import PRODUCTION

from reconciler import errors
from reconciler.graph.client import Credentials, GraphClient, RetryPolicy

ONCE = RetryPolicy(attempts=1, throttled_attempts=1, deadline=5)


def failure(call) -> errors.GraphApiError:
    with pytest.raises(errors.GraphApiError) as info:
        call()
    return info.value


def client(served, token: str = "fidelity-token-0001") -> GraphClient:
    return GraphClient(served.url, "v24.0", Credentials(token), retry=ONCE)


def sandbox_errors(serve) -> dict[str, errors.GraphApiError]:
    """One error of each family the sandbox can give, as the client sees it."""
    found: dict[str, errors.GraphApiError] = {}
    plain = serve()
    bare = httpx.get(f"{plain.url}/v24.0/{ACCOUNT}")  # no token at all
    found["no token"] = failure(
        lambda: GraphClient(plain.url, "v24.0", Credentials("x"), transport=httpx.MockTransport(lambda r: bare)).get(
            ACCOUNT
        )
    )
    strict = serve(token="the-only-token-000")
    found["bad token"] = failure(lambda: client(strict, "another-token-0000").get(ACCOUNT))
    for family, state in (("expired token", "expired"), ("invalidated token", "invalidated")):
        token = f"{state}-token-00000"
        plain.control("POST", "access_tokens", {"token": token, "state": state})
        found[family] = failure(lambda: client(plain, token).get(ACCOUNT))
    graph = client(plain)
    found["not found"] = failure(lambda: graph.get("120210000000000999"))
    found["does not exist without 33"] = found["not found"]
    found["bad cursor"] = failure(lambda: graph.get(f"{ACCOUNT}/ads", {"after": "bogus"}))
    found["parameter"] = failure(
        lambda: create(
            graph,
            f"{ACCOUNT}/message_campaign",
            {"name": "x", "page_id": PAGE, "daily_budget": 500, "lifetime_budget": 30000},
        )
    )
    campaign = create(graph, f"{ACCOUNT}/message_campaign", {"name": "Fidelity", "page_id": PAGE, "daily_budget": 500})
    plain.advance(3601)  # past the 1-hour warm-up
    found["invalid subscription token"] = failure(
        lambda: create(
            graph,
            f"{ACCOUNT}/messages",
            {
                "message_id": campaign["id"],
                "messenger_delivery_data": {"subscription_token": "no-such-token"},
                "message": {"text": "hi"},
            },
        )
    )
    plain.control("POST", f"accounts/{ACCOUNT}", {"tos_accepted": False})
    found["terms of service"] = failure(
        lambda: create(graph, f"{ACCOUNT}/message_campaign", {"name": "y", "page_id": PAGE, "daily_budget": 500})
    )
    throttled = serve(quota=1, quota_window_s=30)
    client(throttled).get(ACCOUNT)
    found["ad account throttle"] = failure(lambda: client(throttled).get(ACCOUNT))
    users = serve(user_quota=1, quota_window_s=30)
    client(users).get(ACCOUNT)
    found["user throttle"] = failure(lambda: client(users).get(ACCOUNT))
    for family, kind in (("unknown", "1"), ("service", "2")):
        faulty = serve(fault_rate=1.0, fault_kinds=(kind,), fault_phase="before")
        found[family] = failure(lambda: client(faulty).get(ACCOUNT))
    return found


def test_each_sandbox_error_is_classified_as_its_production_body(serve):
    found = sandbox_errors(serve)
    wrong = {
        family: (type(error).__name__, PRODUCTION[family][1].__name__)
        for family, error in found.items()
        if type(error) is not PRODUCTION[family][1]
    }
    assert wrong == {}
    for family, error in found.items():
        assert error.fbtrace_id, family  # on every error, as Meta does
        assert error.code == PRODUCTION[family][0]["error"]["code"], family  # type: ignore[index]
    # Families the sandbox has no reason to produce (it grants every permission; Messenger's window and
    # recipient refusals come with sends) are listed, so that a new one is a deliberate choice.
    assert set(PRODUCTION) - set(found) == {
        "permission",
        "messaging window",
        "recipient unavailable",
        "temporary send failure",
    }


def test_subcodes_of_dead_tokens_and_messages_prefixed_as_meta_does(serve):
    found = sandbox_errors(serve)
    assert (found["expired token"].subcode, found["invalidated token"].subcode) == (463, 460)
    assert found["expired token"].message.startswith("Error validating access token: Session has expired on ")
    assert found["ad account throttle"].message.startswith("(#80004) There have been too many calls to this ad-account")
    assert found["user throttle"].message == "(#17) User request limit reached"
    assert found["bad cursor"].message == "(#2642) Invalid cursors values"
    assert found["parameter"].message.startswith("Provide either daily_budget or lifetime_budget, not both. [(#100) ")
    assert found["ad account throttle"].retry_after is not None and found["ad account throttle"].hint_source
    assert all(
        error.title is None for family, error in found.items() if family in ("ad account throttle", "user throttle")
    )
