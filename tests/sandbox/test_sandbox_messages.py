"""Sending marketing messages: warm-up, cooldown, statuses, pages, tokens, budgets, insights."""

from __future__ import annotations

import json
import uuid
from urllib.parse import urlencode

import pytest
from sandbox_helpers import ACCOUNT, OTHER_PAGE, PAGE, error

MESSAGE = {
    "attachment": {
        "type": "template",
        "payload": {
            "template_type": "generic",
            "elements": [
                {
                    "title": "Winter Sale",
                    "buttons": [{"type": "web_url", "url": "https://example.com", "title": "Shop"}],
                }
            ],
        },
    }
}
HOUR = 3600


@pytest.fixture
def ready(sandbox):
    """A campaign past its warm-up and one opt-in subscriber of its Page."""
    sandbox.control("POST", "clock", {"now": "2026-11-22T12:00:00Z", "freeze": True})
    ad = sandbox.campaign(daily_budget=500)
    [token] = sandbox.control("POST", f"pages/{PAGE}/subscribers", {"count": 1})["tokens"]
    sandbox.advance(HOUR)
    return sandbox, ad, token


def send(sandbox, ad, token, **extra):
    return sandbox.post(
        f"{ACCOUNT}/messages",
        message_id=ad,
        messenger_delivery_data={"subscription_token": token},
        message=MESSAGE,
        **extra,
    )


def test_warm_up_then_send_then_cooldown(sandbox):
    sandbox.control("POST", "clock", {"now": "2026-11-22T12:00:00Z", "freeze": True})
    ad = sandbox.campaign()
    [token] = sandbox.control("POST", f"pages/{PAGE}/subscribers", {"count": 1})["tokens"]
    early = error(send(sandbox, ad, token))
    assert early["code"] == 2300003 and early["message"].startswith("(#2300003) ") and "error_user_title" not in early
    assert early["error_data"] == {"remaining_seconds": HOUR}
    sandbox.advance(HOUR)
    sent = send(sandbox, ad, token)
    assert sent.status_code == 200
    assert sent.json()["success"] is True and uuid.UUID(sent.json()["marketing_message_tracking_id"])
    cooldown = error(send(sandbox, ad, token))
    assert cooldown["code"] == 2300071 and cooldown["error_data"] == {"remaining_seconds": 12 * HOUR}
    row = sandbox.get(f"{PAGE}/notification_message_tokens").json()["data"][0]
    assert row["next_eligible_time"] == sandbox.control("GET", "clock")["unix"] + 12 * HOUR
    sandbox.advance(12 * HOUR)
    # The frequency caps want organic threads between marketing messages (changelog 2026-04-10).
    assert error(send(sandbox, ad, token))["code"] == 2300042
    sandbox.control("POST", f"pages/{PAGE}/activity", {"subscription_token": token, "threads": 10})
    assert send(sandbox, ad, token).status_code == 200


def test_frequency_caps_follow_the_organic_activity_model(ready):
    sandbox, ad, token = ready
    assert send(sandbox, ad, token).status_code == 200
    sandbox.advance(13 * HOUR)
    weekly = error(send(sandbox, ad, token))
    assert weekly["code"] == 2300042 and weekly["error_user_title"] == "WEEKLY_MM_LOAD_CAP_REACHED"
    assert "WEEKLY_MM_LOAD_CAP_REACHED" in weekly["message"]
    # Four organic threads since: 1 message in 7 days against 4 threads is 25%, above the weekly 20%.
    sandbox.control("POST", f"pages/{PAGE}/activity", {"subscription_token": token, "threads": 4})
    assert error(send(sandbox, ad, token))["code"] == 2300042
    sandbox.control("POST", f"pages/{PAGE}/activity", {"subscription_token": token, "threads": 1})
    assert send(sandbox, ad, token).status_code == 200  # 1/5 is not above 20%; 1/5 in a day is not above 40%
    sandbox.advance(13 * HOUR)
    sandbox.control(
        "POST", f"pages/{PAGE}/activity", {"subscription_token": token, "threads": 20, "at": "2020-01-01T00:00:00Z"}
    )
    # Threads long ago do not count for the week; the two messages of this week against none: weekly cap.
    assert error(send(sandbox, ad, token))["code"] == 2300042


def test_send_time_business_and_recipient_refusals(ready):
    sandbox, ad, token = ready
    account = f"accounts/{ACCOUNT}"
    for setting, code in (
        ("tos_accepted", 2300013),
        ("region_supported", 2300030),
        ("page_region_supported", 2300031),
        ("pacing_ready", 2300028),
    ):
        sandbox.control("POST", account, {setting: False})
        assert error(send(sandbox, ad, token))["code"] == code
        sandbox.control("POST", account, {setting: True})
    sandbox.control("POST", f"pages/{PAGE}/activity", {"subscription_token": token, "threads": 0, "region": "EU"})
    assert error(send(sandbox, ad, token))["code"] == 2300032
    sandbox.control(
        "POST",
        f"pages/{PAGE}/activity",
        {"subscription_token": token, "threads": 0, "region": "US", "unavailable": True},
    )
    assert error(send(sandbox, ad, token))["code"] == 1893047
    sandbox.control("POST", f"pages/{PAGE}/activity", {"subscription_token": token, "threads": 0, "unavailable": False})
    sandbox.control("POST", account, {"spend_cap": 1})
    assert error(send(sandbox, ad, token))["code"] == 2300072
    sandbox.control("POST", account, {"spend_cap": 0})
    assert send(sandbox, ad, token).status_code == 200


def test_statuses_block_sending(ready):
    sandbox, ad, token = ready
    ids = sandbox.get(ad, fields="campaign_id,adset_id").json()
    for target, code in ((ids["campaign_id"], 2300000), (ids["adset_id"], 2300002), (ad, 2300003)):
        sandbox.post(target, status="PAUSED")
        assert error(send(sandbox, ad, token))["code"] == code
        sandbox.post(target, status="ACTIVE")
    # The FAQ: 10 minutes after a campaign is set active again.
    assert error(send(sandbox, ad, token))["code"] == 2300003
    sandbox.advance(600)
    assert send(sandbox, ad, token).status_code == 200


def test_schedule_blocks_sending(sandbox):
    sandbox.control("POST", "clock", {"now": "2026-11-22T12:00:00Z", "freeze": True})
    ad = sandbox.campaign(start_time="2026-11-25T00:00:00Z", end_time="2026-11-26T00:00:00Z")
    [token] = sandbox.control("POST", f"pages/{PAGE}/subscribers", {"count": 1})["tokens"]
    sandbox.advance(2 * HOUR)
    assert error(send(sandbox, ad, token))["code"] == 2300000  # not started
    sandbox.control("POST", "clock", {"now": "2026-11-25T06:00:00Z"})
    assert send(sandbox, ad, token).status_code == 200
    sandbox.control("POST", "clock", {"now": "2026-11-26T00:00:01Z"})
    assert error(send(sandbox, ad, token))["code"] == 2300000  # ended


def test_tokens_and_ids(ready):
    sandbox, ad, token = ready
    assert error(send(sandbox, ad, "12345"))["code"] == 2300004
    [stranger] = sandbox.control("POST", f"pages/{OTHER_PAGE}/subscribers", {"count": 1})["tokens"]
    assert error(send(sandbox, ad, stranger))["code"] == 2300005
    assert error(send(sandbox, "999999", token))["code"] == 2300001
    other = sandbox.post(
        "act_100000000000002/messages",
        message_id=ad,
        messenger_delivery_data={"subscription_token": token},
        message=MESSAGE,
    )
    assert error(other)["code"] == 2300014
    sandbox.post(f"{PAGE}/messaging_customer_base/unsubscribe", data=[{"subscriber_token": token}])
    assert error(send(sandbox, ad, token))["code"] == 2300004
    assert (
        "messenger_delivery_data"
        in error(sandbox.post(f"{ACCOUNT}/messages", message_id=ad, message=MESSAGE))["message"]
    )


def test_payload_checks(ready):
    sandbox, ad, token = ready
    cases = [
        ({"nothing": True}, 2300010),
        ({"attachment": {"type": "template", "payload": {"template_type": "weird"}}}, 2300010),
        (
            {
                "attachment": {
                    "type": "template",
                    "payload": {"template_type": "media", "elements": [{"media_type": "video"}]},
                }
            },
            2300021,
        ),
        (
            {
                "attachment": {
                    "type": "template",
                    "payload": {"template_type": "media", "elements": [{"media_type": "image"}]},
                }
            },
            2300022,
        ),
        (
            {
                "attachment": {
                    "type": "template",
                    "payload": {"template_type": "button", "text": "t", "buttons": [{"type": "phone_number"}]},
                }
            },
            2300023,
        ),
        (
            {
                "attachment": {
                    "type": "template",
                    "payload": {"template_type": "button", "text": "t", "buttons": [{"type": "web_url", "title": "x"}]},
                }
            },
            2300024,
        ),
        (
            {
                "attachment": {
                    "type": "template",
                    "payload": {
                        "template_type": "button",
                        "text": "t",
                        "buttons": [{"type": "postback", "payload": "p"}],
                    },
                }
            },
            2300025,
        ),
        (
            {
                "attachment": {
                    "type": "template",
                    "payload": {
                        "template_type": "button",
                        "text": "t",
                        "buttons": [{"type": "postback", "title": "x", "payload": "p"}] * 4,
                    },
                }
            },
            2300026,
        ),
    ]
    for message, code in cases:
        response = sandbox.post(
            f"{ACCOUNT}/messages", message_id=ad, messenger_delivery_data={"subscription_token": token}, message=message
        )
        assert error(response)["code"] == code, message
    assert (
        sandbox.post(
            f"{ACCOUNT}/messages",
            message_id=ad,
            messenger_delivery_data={"subscription_token": token},
            message={"text": "Hello"},
        ).status_code
        == 200
    )


def test_conversation_gap(ready):
    sandbox, ad, token = ready
    sandbox.control("POST", f"pages/{PAGE}/activity", {"subscription_token": token})
    sandbox.advance(300)
    gap = error(send(sandbox, ad, token, min_conversation_gap_seconds=600))
    assert (gap["code"], gap["message"]) == (2300052, "(#2300052) This person is not available right now.")
    assert error(send(sandbox, ad, token, min_conversation_gap_seconds=0))["code"] == 100
    assert send(sandbox, ad, token, min_conversation_gap_seconds=60).status_code == 200


def test_budgets_and_insights(sandbox):
    sandbox.control("POST", "clock", {"now": "2026-11-22T12:00:00Z", "freeze": True})
    sandbox.control("POST", f"accounts/{ACCOUNT}", {"timezone_name": "UTC"})
    ad = sandbox.campaign(daily_budget=None, lifetime_budget=3000)
    tokens = sandbox.control("POST", f"pages/{PAGE}/subscribers", {"count": 1600})["tokens"]
    sandbox.advance(HOUR)
    codes = []
    for start in range(0, 1500, 50):  # through the batch API: 30 requests rather than 1,500
        ops = [
            {
                "method": "POST",
                "relative_url": f"{ACCOUNT}/messages",
                "body": urlencode(
                    {
                        "message_id": ad,
                        "message": json.dumps(MESSAGE),
                        "messenger_delivery_data": json.dumps({"subscription_token": t}),
                    }
                ),
            }
            for t in tokens[start : start + 50]
        ]
        codes += [a["code"] for a in sandbox.http.post("/", data={"batch": json.dumps(ops)}).json()]
    assert codes == [200] * 1500  # 2 cents a message, 30.00 USD
    reached = error(send(sandbox, ad, tokens[1501]))
    assert reached["code"] == 2300069
    [row] = sandbox.get(
        f"{ad}/insights",
        fields="marketing_messages_delivered,marketing_messages_spend,marketing_messages_cost_per_delivered",
    ).json()["data"]
    assert row == {
        "marketing_messages_delivered": "1500",
        "marketing_messages_spend": "30.00",
        "marketing_messages_cost_per_delivered": "0.02",
        "date_start": "2026-10-23",
        "date_stop": "2026-11-22",
    }
    assert (
        sandbox.get(f"{ad}/insights", date_preset="yesterday").json()["data"][0]["marketing_messages_delivered"] == "0"
    )
    assert error(sandbox.get(f"{ad}/insights", fields="reach"))["code"] == 100


def test_daily_budget_allows_75_percent_more_on_a_day(sandbox):
    sandbox.control("POST", "clock", {"now": "2026-11-22T01:00:00Z", "freeze": True})
    sandbox.control("POST", f"accounts/{ACCOUNT}", {"timezone_name": "UTC", "payment_method": True})
    ad = sandbox.campaign(daily_budget=100)
    tokens = sandbox.control("POST", f"pages/{PAGE}/subscribers", {"count": 100})["tokens"]
    sandbox.advance(HOUR)
    sent = [send(sandbox, ad, t).status_code for t in tokens[:88]]
    assert sent == [200] * 87 + [400]  # 175 cents a day at 2 cents a message
    over = error(send(sandbox, ad, tokens[90]))
    assert over["code"] == 2300070 and over["error_data"]["remaining_seconds"] == 22 * HOUR
    sandbox.control("POST", f"accounts/{ACCOUNT}", {"payment_method": False})
    assert error(send(sandbox, ad, tokens[91]))["code"] == 2300011
