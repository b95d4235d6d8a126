"""Message campaigns over real HTTP: the seeds' sample flow, defaults, rules, updates, listings."""

from __future__ import annotations

import re

import pytest
from sandbox_helpers import ACCOUNT, PAGE, error

SEED_LIST_FIELDS = (
    "id,adset{name,daily_budget,lifetime_budget,start_time,end_time},"
    "campaign{name,is_direct_send_campaign,is_message_campaign}"
)
SEED_READ_FIELDS = (
    "id,campaign{name},creative{actor_id},"
    "adset{name,lifetime_budget,daily_budget,start_time,end_time,promoted_object{pixel_id}}"
)
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000")
DAY = 86_400


def instant(text: str) -> float:
    """The ad set's times are Unix timestamps (as strings), as the send guide says."""
    assert text.isdigit(), text
    return float(text)


def test_the_seeds_sample_flow(sandbox):
    sandbox.control("POST", "clock", {"now": "2026-11-22T12:00:00Z", "freeze": True})
    created = sandbox.post(
        f"{ACCOUNT}/message_campaign",
        name="Spring Launch",
        lifetime_budget=30000,
        page_id=PAGE,
        pixel_id="300000000000001",
        start_time="2026-12-01T09:00:00-05:00",
        end_time="2026-12-20T09:00:00-05:00",
    )
    assert created.status_code == 200, created.text
    ad_id = created.json()["id"]
    assert set(created.json()) == {"id"} and ad_id.isdigit()

    listed = sandbox.get(f"{ACCOUNT}/ads", fields=SEED_LIST_FIELDS).json()
    [row] = listed["data"]
    adset_id, campaign_id = row["adset"]["id"], row["campaign"]["id"]
    assert row == {
        "id": ad_id,
        "adset": {
            "name": "Spring Launch",
            "daily_budget": "0",
            "lifetime_budget": "30000",
            "start_time": "1796133600",
            "end_time": "1797775200",
            "id": adset_id,
        },
        "campaign": {
            "name": "Spring Launch",
            "is_direct_send_campaign": True,
            "is_message_campaign": True,
            "id": campaign_id,
        },
    }
    assert set(listed["paging"]["cursors"]) == {"before", "after"} and "next" not in listed["paging"]

    read = sandbox.get(ad_id, fields=SEED_READ_FIELDS).json()
    assert read == {
        "id": ad_id,
        "campaign": {"name": "Spring Launch", "id": campaign_id},
        "creative": {"actor_id": PAGE, "id": read["creative"]["id"]},
        "adset": {
            "name": "Spring Launch",
            "lifetime_budget": "30000",
            "daily_budget": "0",
            "start_time": "1796133600",
            "end_time": "1797775200",
            "promoted_object": {"pixel_id": "300000000000001"},
            "id": adset_id,
        },
    }
    assert sandbox.delete(ad_id).json() == {"success": True}
    assert sandbox.get(f"{ACCOUNT}/ads").json() == {"data": []}
    # Deleted objects stay readable by id, as in the Marketing API.
    assert sandbox.get(ad_id, fields="effective_status").json()["effective_status"] == "DELETED"
    assert sandbox.stats()["by_endpoint"] == {
        "DELETE <id>": 1,
        "GET <id>": 2,
        "GET act_/ads": 2,
        "POST act_/message_campaign": 1,
    }


def test_server_defaults(sandbox):
    now = sandbox.control("POST", "clock", {"now": "2026-11-22T12:00:00Z", "freeze": True})["unix"]
    lifetime = sandbox.post(f"{ACCOUNT}/message_campaign", name="L", page_id=PAGE, lifetime_budget=9000).json()["id"]
    adset = sandbox.get(lifetime, fields="adset{start_time,end_time,daily_budget}").json()["adset"]
    assert instant(adset["start_time"]) == now  # start defaults to now
    assert instant(adset["end_time"]) == now + 30 * DAY  # lifetime: start + 30 days
    assert adset["daily_budget"] == "0"

    daily = sandbox.campaign()
    assert "end_time" not in sandbox.get(daily, fields="adset{end_time}").json()["adset"]  # daily: none

    answer = sandbox.post(f"{ACCOUNT}/message_campaign", name="No budget", page_id=PAGE).json()
    assert answer["info"]["message"].startswith("Meta set an estimated daily budget cap of 1.00 USD")
    cap = sandbox.get(answer["id"], fields="adset{daily_budget,lifetime_budget}").json()["adset"]
    assert cap == {"daily_budget": "100", "lifetime_budget": "0", "id": cap["id"]}

    low = sandbox.post(f"{ACCOUNT}/message_campaign", name="Low", page_id=PAGE, daily_budget=100).json()
    assert "warning" not in low
    sandbox.control("POST", f"pages/{PAGE}/subscribers", {"count": 80})
    low = sandbox.post(f"{ACCOUNT}/message_campaign", name="Low", page_id=PAGE, daily_budget=100).json()
    assert "lower than the budget reference (1.60 USD a day)" in low["warning"]["message"]


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        ({"daily_budget": 0}, 100, "daily_budget must be greater than 0"),
        ({"daily_budget": -5}, 100, "daily_budget must be greater than 0"),
        ({"daily_budget": "ten"}, 100, "daily_budget must be an integer"),
        ({"lifetime_budget": 9000}, 100, "Only one of daily_budget or lifetime_budget"),
        ({"daily_budget": 99}, 100, "Your budget is too low"),
        ({"daily_budget": None, "lifetime_budget": 2999}, 100, "Your budget is too low"),
        ({"start_time": "2026-11-22T11:00:00Z"}, 100, "start_time must be now or in the future"),
        ({"start_time": "2026-12-23T12:00:00Z"}, 100, "within 30 days"),
        ({"start_time": 1796000000, "end_time": 1796000000}, 100, "end_time must be after start_time"),
        ({"start_time": "next tuesday"}, 100, "start_time must be a valid time"),
        ({"name": ""}, 100, "The parameter name is required"),
        ({"name": None}, 100, "The parameter name is required"),
        ({"page_id": None}, 100, "The parameter page_id is required"),
        ({"page_id": "my-page"}, 100, "page_id must be a valid ID"),
        ({"status": "PAUSED"}, 100, "Param status is not a valid parameter"),
    ],
)
def test_creation_rules(sandbox, body, code, words):
    sandbox.control("POST", "clock", {"now": "2026-11-22T12:00:00Z", "freeze": True})
    fields = {"name": "Winter Sale", "page_id": PAGE, "daily_budget": 5000, **body}
    response = sandbox.post(f"{ACCOUNT}/message_campaign", **{k: v for k, v in fields.items() if v is not None})
    found = error(response)
    assert response.status_code == 400
    assert found["code"] == code and found["type"] == "OAuthException"
    assert words in found["message"], found
    assert sandbox.get(f"{ACCOUNT}/ads").json() == {"data": []}  # nothing half-created


def test_documented_account_errors(sandbox):
    sandbox.control("POST", f"accounts/{ACCOUNT}", {"tos_accepted": False})
    found = error(sandbox.post(f"{ACCOUNT}/message_campaign", name="x", page_id=PAGE, daily_budget=500))
    assert found["code"] == 2300013 and found["message"].startswith("(#2300013) ")
    sandbox.control("POST", f"accounts/{ACCOUNT}", {"tos_accepted": True, "default_budget_mode": False})
    found = error(sandbox.post(f"{ACCOUNT}/message_campaign", name="x", page_id=PAGE))
    assert found["code"] == 2300007
    sandbox.control("POST", f"accounts/{ACCOUNT}", {"region_supported": False})
    assert (
        error(sandbox.post(f"{ACCOUNT}/message_campaign", name="x", page_id=PAGE, daily_budget=500))["code"] == 2300030
    )


def test_pixels_of_the_account(sandbox):
    sandbox.control("POST", f"accounts/{ACCOUNT}", {"pixels": ["300000000000001"]})
    found = error(sandbox.post(f"{ACCOUNT}/message_campaign", name="x", page_id=PAGE, daily_budget=500, pixel_id="399"))
    assert "not active or not accessible" in found["message"]
    # Exactly one active pixel: Meta may use it when none is given.
    ad = sandbox.campaign()
    assert sandbox.get(ad, fields="adset{promoted_object}").json()["adset"]["promoted_object"] == {
        "page_id": PAGE,
        "pixel_id": "300000000000001",
    }


def test_updates_go_to_the_object_that_owns_the_field(sandbox):
    sandbox.control("POST", "clock", {"now": "2026-11-22T12:00:00Z", "freeze": True})
    ad = sandbox.campaign(start_time="2026-12-01T00:00:00Z")
    ids = sandbox.get(ad, fields="adset_id,campaign_id").json()
    campaign, adset = ids["campaign_id"], ids["adset_id"]
    assert sandbox.post(campaign, name="Winter Sale 2026", status="PAUSED").json() == {"success": True}
    assert sandbox.post(adset, daily_budget=7000, end_time="2026-12-24T23:59:00-05:00").json() == {"success": True}
    assert sandbox.post(adset, start_time="2026-12-02T00:00:00Z").json() == {"success": True}
    read = sandbox.get(
        ad, fields="effective_status,campaign{name,status},adset{daily_budget,start_time,end_time}"
    ).json()
    assert read["effective_status"] == "CAMPAIGN_PAUSED"
    assert read["campaign"] == {"name": "Winter Sale 2026", "status": "PAUSED", "id": campaign}
    assert read["adset"] == {"daily_budget": "7000", "start_time": "1796169600", "end_time": "1798174740", "id": adset}
    assert "updated_time" in sandbox.get(campaign, fields="updated_time").json()

    assert "not a field of node type (Ad)" in error(sandbox.post(ad, daily_budget=100))["message"]
    assert "not a field of node type (Campaign)" in error(sandbox.post(campaign, daily_budget=100))["message"]
    switch = error(sandbox.post(adset, lifetime_budget=90000))
    assert switch["error_user_title"] == "Budget type cannot be changed"
    assert "pixel_id cannot be changed" in error(sandbox.post(adset, pixel_id="300000000000009"))["message"]
    assert "status must be one of" in error(sandbox.post(campaign, status="RUNNING"))["message"]

    sandbox.control("POST", "clock", {"now": "2026-12-03T00:00:00Z"})
    started = error(sandbox.post(adset, start_time="2026-12-10T00:00:00Z"))
    assert "already started cannot be changed" in started["message"]
    assert sandbox.delete(ad).json() == {"success": True}
    assert "has been deleted" in error(sandbox.post(campaign, name="again"))["message"]
    assert sandbox.delete(ad).json() == {"success": True}  # deleting twice is not an error


def test_missing_objects_answer_like_graph(sandbox):
    for method in ("GET", "POST", "DELETE"):
        response = sandbox.http.request(method, "/123456789")
        found = error(response)
        assert (found["code"], found["error_subcode"], found["type"]) == (100, 33, "GraphMethodException")
        assert found["message"].startswith(
            f"Unsupported {method.lower()} request. Object with ID '123456789' does not exist"
        )
    assert error(sandbox.get("not_an_object"))["code"] == 803
    ad = sandbox.campaign()
    found = error(sandbox.get(ad, fields="id,adset{budget}"))
    assert found["message"] == "(#100) Tried accessing nonexisting field (budget) on node type (AdSet)"
    assert error(sandbox.get(ad, fields="id,adset{name"))["code"] == 100
    assert error(sandbox.get(f"{ACCOUNT}/adz"))["message"].endswith("(adz) on node type (AdAccount)")


def test_ads_listing_filters_and_status(sandbox):
    first = sandbox.campaign(name="Winter Sale")
    second = sandbox.campaign(name="Spring Launch")
    campaign = sandbox.get(second, fields="campaign_id").json()["campaign_id"]
    sandbox.post(campaign, status="PAUSED")

    def ids(**params):
        return [row["id"] for row in sandbox.get(f"{ACCOUNT}/ads", **params).json()["data"]]

    assert ids() == [first, second]
    assert ids(filtering='[{"field":"campaign.name","operator":"CONTAIN","value":"spring"}]') == [second]
    assert ids(filtering='[{"field":"campaign.is_message_campaign","operator":"EQUAL","value":true}]') == [
        first,
        second,
    ]
    assert ids(effective_status='["CAMPAIGN_PAUSED"]') == [second]
    assert ids(filtering='[{"field":"effective_status","operator":"IN","value":["ACTIVE"]}]') == [first]
    assert (
        "Filtering field adset.budget is invalid"
        in error(sandbox.get(f"{ACCOUNT}/ads", filtering='[{"field":"adset.budget","operator":"EQUAL","value":1}]'))[
            "message"
        ]
    )
    assert error(sandbox.get(f"{ACCOUNT}/ads", filtering="not json"))["code"] == 100
    # Another account sees none of them.
    assert sandbox.get("act_100000000000002/ads").json() == {"data": []}
    # A filter by id reads just those ads (in id order), of this account, whatever else it names.
    by_id = f'[{{"field":"id","operator":"IN","value":["{second}","{first}","999",{campaign}]}}]'
    assert ids(filtering=by_id) == [first, second]
    assert ids(filtering=f'[{{"field":"id","operator":"EQUAL","value":"{second}"}}]') == [second]
    both = f'[{{"field":"id","operator":"IN","value":["{first}","{second}"]}},' + (
        '{"field":"campaign.name","operator":"CONTAIN","value":"winter"}]'
    )
    assert ids(filtering=both) == [first]
    assert sandbox.get("act_100000000000002/ads", filtering=by_id).json() == {"data": []}
    assert ids(filtering=by_id, limit="1") == [first]  # and pages like any listing


def test_paging_through_2500_campaigns(sandbox):
    created = []
    for start in range(0, 2500, 50):
        batch = [
            {
                "method": "POST",
                "relative_url": f"{ACCOUNT}/message_campaign",
                "body": f"name=Campaign+{n}&page_id={PAGE}&daily_budget=500",
            }
            for n in range(start, start + 50)
        ]
        answers = sandbox.http.post("/", data={"batch": __import__("json").dumps(batch)}).json()
        created += [__import__("json").loads(a["body"])["id"] for a in answers]
    assert len(set(created)) == 2500
    seen, pages, url = [], 0, f"{sandbox.url}/v24.0/{ACCOUNT}/ads?fields=id,campaign%7Bname%7D&limit=100"
    while url:
        body = sandbox.http.get(url).json()
        pages += 1
        seen += [row["id"] for row in body["data"]]
        assert all(re.fullmatch(r"\d+", row["id"]) for row in body["data"])
        url = body["paging"].get("next")
    assert pages == 25 and seen == created
    # A filtered listing pages over the matching ads alone, in order, each once.
    wanted = [i for n, i in enumerate(created) if "7" in str(n)]
    query = 'filtering=[{"field":"campaign.name","operator":"CONTAIN","value":"7"}]&limit=60'
    seen, url = [], f"{sandbox.url}/v24.0/{ACCOUNT}/ads?fields=id&{query}"
    while url:
        body = sandbox.http.get(url).json()
        seen += [row["id"] for row in body["data"]]
        url = body.get("paging", {}).get("next")
    assert seen == wanted
    # Cursors follow objects, not offsets: deleting on an earlier page does not skip anything.
    first = sandbox.get(f"{ACCOUNT}/ads", limit=10).json()
    sandbox.delete(first["data"][0]["id"])
    after = sandbox.get(f"{ACCOUNT}/ads", limit=10, after=first["paging"]["cursors"]["after"]).json()
    assert after["data"][0]["id"] == created[10]
    back = sandbox.http.get(after["paging"]["previous"]).json()
    assert [r["id"] for r in back["data"]] == created[1:10]
    assert error(sandbox.get(f"{ACCOUNT}/ads", after="bogus"))["message"] == "(#2642) Invalid cursors values"
    assert sandbox.stats()["requests"] > 50


def test_shapes_of_times_ids_and_money(sandbox):
    ad = sandbox.campaign(daily_budget=5000, end_time=1798761600)
    read = sandbox.get(
        ad, fields="id,created_time,adset{id,daily_budget,budget_remaining,end_time},campaign{id}"
    ).json()
    assert isinstance(read["adset"]["daily_budget"], str) and read["adset"]["daily_budget"] == "5000"
    assert read["adset"]["budget_remaining"] == "5000"
    assert TIME.fullmatch(read["created_time"]) and read["adset"]["end_time"] == "1798761600"
    assert all(x.isdigit() for x in (read["id"], read["adset"]["id"], read["campaign"]["id"]))


def test_account_and_minimum_budgets(sandbox):
    assert sandbox.get(ACCOUNT).json() == {"id": ACCOUNT, "account_id": ACCOUNT[4:]}
    read = sandbox.get(ACCOUNT, fields="currency,timezone_name,name").json()
    assert read == {
        "currency": "USD",
        "timezone_name": "America/Los_Angeles",
        "name": "Sandbox account 100000000000001",
        "id": ACCOUNT,
    }
    sandbox.control("POST", f"accounts/{ACCOUNT}", {"currency": "JPY", "timezone_name": "Asia/Tokyo"})
    assert sandbox.get(ACCOUNT, fields="currency,timezone_name").json() == {
        "currency": "JPY",
        "timezone_name": "Asia/Tokyo",
        "id": ACCOUNT,
    }
    rows = sandbox.get(f"{ACCOUNT}/minimum_budgets").json()["data"]
    usd = next(r for r in rows if r["currency"] == "USD")
    assert usd["min_daily_budget_imp"] == 100
    # The seeds' rule: the lifetime minimum is 30 x min_daily_budget_imp of the account's currency.
    jpy = next(r for r in rows if r["currency"] == "JPY")["min_daily_budget_imp"]
    assert error(sandbox.post(f"{ACCOUNT}/message_campaign", name="x", page_id=PAGE, lifetime_budget=30 * jpy - 1))[
        "error_user_msg"
    ].startswith(f"The lifetime budget must be at least {30 * jpy} JPY")
    assert (
        sandbox.post(f"{ACCOUNT}/message_campaign", name="x", page_id=PAGE, lifetime_budget=30 * jpy).status_code == 200
    )


def test_delivery_estimate(sandbox):
    sandbox.control("POST", f"pages/{PAGE}/subscribers", {"count": 500})
    query = {
        "fields": "estimate_delivery_upper_bound,estimate_delivery_lower_bound,estimate_cost_upper_bound,"
        "estimate_cost_lower_bound",
        "targeting_spec": '{messenger_positions: ["marketing_messages"], publisher_platforms:["messenger"]}',
        "promoted_object": f"{{page_id: {PAGE}}}",
        "daily_budget": 500,
        "is_direct_send_campaign": "true",
        "pacing_type": "no_pacing",
    }
    [row] = sandbox.get(f"{ACCOUNT}/message_delivery_estimate", **query).json()["data"]
    assert row == {
        "estimate_delivery_upper_bound": 250,
        "estimate_delivery_lower_bound": 166,
        "estimate_cost_upper_bound": 500,
        "estimate_cost_lower_bound": 332,
    }
    without_budget = {k: v for k, v in query.items() if k != "daily_budget"}
    unbounded = sandbox.get(f"{ACCOUNT}/message_delivery_estimate", **without_budget).json()["data"][0]
    assert (unbounded["estimate_delivery_upper_bound"], unbounded["estimate_delivery_lower_bound"]) == (500, 400)
    assert (
        error(sandbox.get(f"{ACCOUNT}/message_delivery_estimate", **{**query, "pacing_type": "standard"}))["code"]
        == 2300020
    )
    assert error(sandbox.get(f"{ACCOUNT}/message_delivery_estimate", fields="estimate_reach"))["code"] == 100


def test_generate_previews(sandbox):
    message = '{"attachment":{"type":"template","payload":{"template_type":"generic","elements":[{"title":"Hi"}]}}}'
    creative = f'{{"marketing_message_structured_spec":{{}},"object_story_spec":{{"page_id":{PAGE},"link_data":{{}}}}}}'
    answer = sandbox.get(
        f"{ACCOUNT}/generatepreviews",
        ad_format="MESSENGER_MARKETING_MESSAGES_MEDIA",
        creative=creative,
        message=message,
    ).json()
    body = answer["data"][0]["body"]
    assert body.startswith('<iframe src="http://127.0.0.1:') and body.endswith("</iframe>")
    src = re.search(r'src="([^"]+)"', body).group(1).replace("&amp;", "&")
    assert "Hi" in sandbox.raw.get(src).text
    assert (
        error(
            sandbox.get(
                f"{ACCOUNT}/generatepreviews", ad_format="DESKTOP_FEED_STANDARD", creative=creative, message=message
            )
        )["code"]
        == 100
    )
    bad = '{"attachment":{"type":"template","payload":{"template_type":"button","buttons":[{"type":"call"}]}}}'
    assert (
        error(
            sandbox.get(
                f"{ACCOUNT}/generatepreviews",
                ad_format="MESSENGER_MARKETING_MESSAGES_MEDIA",
                creative=creative,
                message=bad,
            )
        )["code"]
        == 2300023
    )
