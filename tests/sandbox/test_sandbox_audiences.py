"""Custom audiences, member uploads, subscription tokens and unsubscribing, over real HTTP."""

from __future__ import annotations

import json

from sandbox_helpers import ACCOUNT, OTHER_PAGE, PAGE, error, sha

SEED_FILTER = (
    "%5B%7B%22field%22%3A%22data_source.subtype%22%2C%22operator%22%3A%22IN%22%2C%22value%22%3A%5B1010%5D%7D%5D"
)


def people(n: int, start: int = 0) -> list[str]:
    return [f"person{i}@example.com" for i in range(start, start + n)]


def test_the_seeds_audience_flow(sandbox):
    created = sandbox.post(
        f"{ACCOUNT}/customaudiences",
        subtype="CUSTOM",
        customer_file_source="USER_PROVIDED_ONLY",
        name="VIP customers",
        description="Customers with 3+ orders",
        use_for_products=["MARKETING_MESSAGES"],
        subscription_info=["MESSENGER"],
        marketing_message_channels={"MESSENGER": PAGE},
    )
    assert created.status_code == 200
    [row] = created.json()["data"]  # the shape graph-api.md §3 shows
    audience = row["id"]
    plain = sandbox.post(
        f"{ACCOUNT}/customaudiences",
        subtype="CUSTOM",
        customer_file_source="USER_PROVIDED_ONLY",
        name="Not for messages",
    ).json()["data"][0]["id"]
    listed = sandbox.http.get(
        f"/{ACCOUNT}/customaudiences?fields=id,name,messenger_marketing_messages_page&filtering={SEED_FILTER}"
    ).json()
    assert listed["data"] == [
        {"id": audience, "name": "VIP customers", "messenger_marketing_messages_page": {"id": PAGE}}
    ]
    everything = [a["id"] for a in sandbox.get(f"{ACCOUNT}/customaudiences").json()["data"]]
    assert everything == [audience, plain]
    fresh = sandbox.get(audience, fields="approximate_count_lower_bound,operation_status,delivery_status").json()
    assert fresh["operation_status"]["code"] == 410 and fresh["delivery_status"]["code"] == 300


def test_audience_creation_rules(sandbox):
    base = {
        "subtype": "CUSTOM",
        "customer_file_source": "USER_PROVIDED_ONLY",
        "name": "VIP",
        "description": "d",
        "use_for_products": ["MARKETING_MESSAGES"],
        "subscription_info": ["MESSENGER"],
        "marketing_message_channels": {"MESSENGER": PAGE},
    }
    cases = [
        ({"subtype": "LOOKALIKE"}, "subtype must be CUSTOM"),
        ({"customer_file_source": "SOMEWHERE"}, "customer_file_source must be one of"),
        ({"use_for_products": ["ADS"]}, "use_for_products"),
        ({"subscription_info": ["WHATSAPP"]}, "subscription_info"),
        ({"marketing_message_channels": {"WHATSAPP": PAGE}}, "marketing_message_channels"),
        ({"description": None}, "The parameter description is required"),
        ({"name": None}, "The parameter name is required"),
        ({"colour": "red"}, "Param colour is not a valid parameter"),
    ]
    for change, words in cases:
        body = {k: v for k, v in {**base, **change}.items() if v is not None}
        found = error(sandbox.post(f"{ACCOUNT}/customaudiences", **body))
        assert found["code"] == 100 and words in found["message"], (change, found)
    assert sandbox.get(f"{ACCOUNT}/customaudiences").json() == {"data": []}


def test_upload_add_and_remove(sandbox):
    audience = sandbox.audience()
    answer = sandbox.upload(audience, people(150))
    assert answer["audience_id"] == audience and answer["num_received"] == 150
    assert answer["num_invalid_entries"] == 0 and answer["invalid_entry_samples"] == {}
    assert answer["subscription_info"]["messenger"]["num_subscribers_received"] == 150
    read = sandbox.get(
        audience,
        fields="approximate_count_lower_bound,approximate_count_upper_bound,"
        "operation_status,delivery_status,time_content_updated",
    ).json()
    assert read["operation_status"] == {"code": 200, "description": "Normal"}
    assert read["approximate_count_lower_bound"] <= 150 * 0.6 * 1.1

    removed = sandbox.http.request(
        "DELETE",
        f"/{audience}/users",
        json={"payload": {"schema": "EMAIL_SHA256", "data": [sha(e) for e in people(50)]}},
    )
    assert removed.status_code == 200 and removed.json()["num_received"] == 50
    again = sandbox.post(
        f"{audience}/users", method="DELETE", payload={"schema": ["EMAIL"], "data": [[sha(e)] for e in people(10, 50)]}
    )
    assert again.status_code == 200
    assert len(sandbox.members(audience)) == 90


def test_upload_rules(sandbox):
    audience = sandbox.audience()
    too_many = {"schema": ["EMAIL"], "data": [[sha(e)] for e in people(10_001)]}
    found = error(sandbox.post(f"{audience}/users", payload=too_many))
    assert "at most 10000 rows" in found["message"] and found["error_user_title"] == "Too many rows"
    found = error(sandbox.post(f"{audience}/users", payload={"schema": ["FN", "LN"], "data": [[sha("a"), sha("b")]]}))
    assert "must include EMAIL or PHONE" in found["message"]
    assert (
        "Invalid schema key"
        in error(sandbox.post(f"{audience}/users", payload={"schema": ["SSN"], "data": [["x"]]}))["message"]
    )
    assert error(sandbox.post(f"{audience}/users", payload="not json"))["code"] == 100
    mixed = {
        "schema": ["EMAIL", "PHONE"],
        "data": [
            [sha("a@example.com"), ""],
            ["raw@example.com", ""],
            ["", ""],
            [sha("b@example.com")],
            ["", sha("15551234567")],
        ],
    }
    answer = sandbox.post(f"{audience}/users", payload=mixed).json()
    assert answer["num_received"] == 5 and answer["num_invalid_entries"] == 3
    assert answer["invalid_entry_samples"] == {
        "row 2": "EMAIL is not a lowercase SHA-256 hex digest; hash values before upload",
        "row 3": "the row has neither EMAIL nor PHONE",
        "row 4": "the row has 1 values for 2 keys",
    }
    assert "raw@example.com" not in json.dumps(answer)  # bad values are named by row, never echoed


def test_upload_sessions_resume_without_double_counting(sandbox):
    audience = sandbox.audience()

    def batch(seq: int, rows: list[str], last: bool = False):
        return sandbox.post(
            f"{audience}/users",
            payload={"schema": ["EMAIL"], "data": [[sha(e)] for e in rows]},
            session={"session_id": 9876543210, "batch_seq": seq, "last_batch_flag": last, "estimated_num_total": 300},
        )

    assert error(batch(2, people(10)))["message"] == "(#100) session.batch_seq must start at 1; got 2"
    first = batch(1, people(100)).json()
    assert (first["session_id"], first["num_received"]) == ("9876543210", 100)
    assert error(batch(3, people(10)))["message"] == "(#100) session.batch_seq must be 2; got 3"
    second = batch(2, people(100, 100)).json()
    assert second["num_received"] == 200
    assert batch(2, people(100, 100)).json() == second  # a retried batch is answered again, not applied twice
    assert "already received with other rows" in error(batch(2, people(5)))["message"]
    assert batch(3, people(100, 200), last=True).json()["num_received"] == 300
    assert "already finished" in error(batch(4, people(1)))["message"]
    assert len(sandbox.members(audience)) == 300


def test_sessions_time_out_after_90_minutes(sandbox):
    audience = sandbox.audience()
    body = {"payload": {"schema": ["EMAIL"], "data": [[sha("a@example.com")]]}}
    sandbox.post(f"{audience}/users", **body, session={"session_id": 1, "batch_seq": 1})
    sandbox.advance(91 * 60)
    body["payload"]["data"] = [[sha("b@example.com")]]
    assert (
        "timed out"
        in error(sandbox.post(f"{audience}/users", **body, session={"session_id": 1, "batch_seq": 2}))["message"]
    )


def test_tokens_need_100_matches_and_are_deterministic(serve):
    first, second = serve(), serve()
    tokens = []
    for sandbox in (first, second):
        small, big = sandbox.audience("small"), sandbox.audience("big")
        sandbox.upload(small, people(100, 10_000))  # 60% match: under 100 matched people
        sandbox.upload(big, people(400))
        rows = sandbox.get(f"{PAGE}/notification_message_tokens", limit=1000).json()["data"]
        assert {tuple(r["custom_audience_ids"]) for r in rows} == {(big,)}
        tokens.append(sorted(r["notification_messages_token"] for r in rows))
        assert 200 <= len(rows) <= 280  # about 60% of 400
        row = rows[0]
        assert set(row) == {
            "id",
            "notification_messages_token",
            "notification_messages_reoptin",
            "creation_timestamp",
            "user_token_status",
            "topic_title",
            "notification_messages_timezone",
            "next_eligible_time",
            "custom_audience_ids",
        }  # no recipient_id for Custom Audience subscribers
        assert sandbox.get(f"{PAGE}/notification_message_tokens", custom_audience_ids=json.dumps([small])).json() == {
            "data": []
        }
        assert sandbox.get(f"{OTHER_PAGE}/notification_message_tokens").json() == {"data": []}
    assert tokens[0] == tokens[1]


def test_token_listing_parameters(sandbox):
    audience = sandbox.audience()
    sandbox.upload(audience, people(400))
    assert (
        "limit must be at most 1000" in error(sandbox.get(f"{PAGE}/notification_message_tokens", limit=1001))["message"]
    )
    page = sandbox.get(f"{PAGE}/notification_message_tokens", limit=100, fields="notification_messages_token").json()
    assert len(page["data"]) == 100 and "next" in page["paging"]
    assert set(page["data"][0]) == {"notification_messages_token", "id"}
    default = sandbox.get(f"{PAGE}/notification_message_tokens").json()
    assert len(default["data"]) == 100  # the documented default limit

    created = sandbox.control(
        "POST", f"pages/{PAGE}/subscribers", {"recipient_ids": ["71", "72"], "topic_title": "Deals"}
    )["tokens"]
    sandbox.control("POST", f"pages/{PAGE}/subscribers", {"recipient_ids": ["71"], "topic_title": "News"})
    optins = [
        r
        for r in sandbox.get(f"{PAGE}/notification_message_tokens", limit=1000).json()["data"]
        if r.get("recipient_id")
    ]
    assert sorted(r["recipient_id"] for r in optins) == ["71", "71", "72"]
    unique = [
        r
        for r in sandbox.get(f"{PAGE}/notification_message_tokens", limit=1000, do_not_return_duplicates="true").json()[
            "data"
        ]
        if r.get("recipient_id")
    ]
    assert sorted(r["recipient_id"] for r in unique) == ["71", "72"]
    assert set(created) <= {r["notification_messages_token"] for r in optins}


def test_unsubscribe(sandbox):
    audience = sandbox.audience()
    sandbox.upload(audience, people(400))
    before = {r["id"] for r in sandbox.get(f"{PAGE}/notification_message_tokens", limit=1000).json()["data"]}
    matched = [
        e for e in people(400) if any(sandbox.app.store.world.tokens.get(t, {}).get("person") == sha(e) for t in before)
    ]
    rows = [
        {"email": matched[0].upper()},
        {"email": sha(matched[1])},
        {"psid": "1", "email": "x@example.com"},
        {"phone": "not a phone"},
        {},
    ]
    assert sandbox.post(f"{PAGE}/messaging_customer_base/unsubscribe", data=rows).json() == {"invalid_rows_count": 3}
    after = {r["id"] for r in sandbox.get(f"{PAGE}/notification_message_tokens", limit=1000).json()["data"]}
    assert len(before - after) == 2
    assert error(sandbox.post(f"{PAGE}/messaging_customer_base/unsubscribe", data=[]))["code"] == 100


def test_audience_update_and_delete(sandbox):
    audience = sandbox.audience()
    sandbox.upload(audience, people(200))
    assert sandbox.post(audience, name="VIP 2026", description="Best customers").json() == {"success": True}
    assert sandbox.get(audience, fields="name,description").json() == {
        "name": "VIP 2026",
        "description": "Best customers",
        "id": audience,
    }
    assert (
        "cannot be changed" in error(sandbox.post(audience, marketing_message_channels={"MESSENGER": "1"}))["message"]
    )
    assert sandbox.delete(audience).json() == {"success": True}
    assert error(sandbox.get(audience))["error_subcode"] == 33
    # Removing people from an audience keeps their opt-in (changelog 2026-05-05), but tokens that came only
    # from this audience are no longer listed.
    assert sandbox.get(f"{PAGE}/notification_message_tokens").json() == {"data": []}
