"""What every endpoint shares: tokens, versions, batch, throttling, faults, counters and the request log."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx
import pytest
from sandbox_helpers import ACCOUNT, PAGE, error, sha


def test_tokens(serve):
    open_box = serve()
    missing = open_box.raw.get(f"/v24.0/{ACCOUNT}")
    assert error(missing)["code"] == 104 and "access token is required" in error(missing)["message"]
    assert "WWW-Authenticate" in missing.headers
    assert open_box.raw.get(f"/v24.0/{ACCOUNT}", params={"access_token": "any"}).status_code == 200
    assert open_box.raw.get(f"/v24.0/{ACCOUNT}", headers={"Authorization": "OAuth any"}).status_code == 200

    strict = serve(token="s3cret", app_secret="appsecret")
    wrong = strict.raw.get(f"/v24.0/{ACCOUNT}", headers={"Authorization": "Bearer other"})
    assert error(wrong)["code"] == 190 and error(wrong)["message"].startswith("Invalid OAuth access token")
    auth = {"Authorization": "Bearer s3cret"}
    assert "require an appsecret_proof" in error(strict.raw.get(f"/v24.0/{ACCOUNT}", headers=auth))["message"]
    bad = strict.raw.get(f"/v24.0/{ACCOUNT}", headers=auth, params={"appsecret_proof": "00"})
    assert error(bad)["message"] == "(#100) Invalid appsecret_proof provided in the API argument"
    proof = hmac.new(b"appsecret", b"s3cret", hashlib.sha256).hexdigest()
    assert strict.raw.get(f"/v24.0/{ACCOUNT}", headers=auth, params={"appsecret_proof": proof}).status_code == 200


def test_versions_and_paths(sandbox):
    auth = {"Authorization": "Bearer t"}
    assert sandbox.raw.get(f"/{ACCOUNT}", headers=auth).status_code == 200  # unversioned: the default version
    assert sandbox.raw.get(f"/v25.0/{ACCOUNT}", headers=auth).status_code == 200
    assert error(sandbox.raw.get(f"/v15.0/{ACCOUNT}", headers=auth))["code"] == 2635
    assert error(sandbox.raw.get(f"/v99.0/{ACCOUNT}", headers=auth))["code"] == 2500
    assert error(sandbox.get("act_abc"))["code"] == 100
    assert error(sandbox.post(ACCOUNT, name="x"))["code"] == 100
    body = sandbox.http.post(
        f"/{ACCOUNT}/message_campaign", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert error(body)["message"] == "(#100) The request body is not valid JSON"
    form = sandbox.http.post(
        f"/{ACCOUNT}/message_campaign", data={"name": "Form", "page_id": PAGE, "daily_budget": "500"}
    )
    assert form.status_code == 200
    headers = sandbox.get(ACCOUNT).headers
    assert headers["content-type"] == "application/json; charset=UTF-8" and headers["x-fb-trace-id"]
    usage = json.loads(headers["x-business-use-case-usage"])
    assert list(usage) == [ACCOUNT[4:]] and usage[ACCOUNT[4:]][0]["type"] == "ads_management"


def test_batch(sandbox):
    ops = [
        {
            "method": "POST",
            "relative_url": f"v24.0/{ACCOUNT}/message_campaign",
            "body": f"name=Campaign+{n}&page_id={PAGE}&daily_budget=500",
        }
        for n in range(49)
    ]
    ops.insert(7, {"method": "POST", "relative_url": f"{ACCOUNT}/message_campaign", "body": "name=Broken"})
    answers = sandbox.http.post("/", data={"batch": json.dumps(ops)}).json()
    assert len(answers) == 50
    assert [a["code"] for a in answers] == [200] * 7 + [400] + [200] * 42
    assert json.loads(answers[7]["body"])["error"]["message"] == "(#100) The parameter page_id is required"
    ids = [json.loads(a["body"])["id"] for a in answers if a["code"] == 200]
    names = [
        r["campaign"]["name"] for r in sandbox.get(f"{ACCOUNT}/ads", fields="campaign{name}", limit=100).json()["data"]
    ]
    assert names == [f"Campaign {n}" for n in range(49)]  # carried out in order
    assert sorted(ids, key=int) == ids
    assert {"name": "Content-Type", "value": "application/json; charset=UTF-8"} not in answers[0]["headers"]
    assert answers[0]["headers"][0]["name"] == "X-Business-Use-Case-Usage"

    too_many = sandbox.http.post("/", data={"batch": json.dumps(ops + ops[:1])})
    assert error(too_many)["message"] == "(#100) Too many requests in batch message. Maximum batch size is 50"
    stats = sandbox.stats()
    assert stats["by_endpoint"]["POST /"] == 2
    assert stats["operations_by_endpoint"] == {"POST act_/message_campaign": 50}

    chained = [
        {
            "method": "POST",
            "name": "create",
            "relative_url": f"{ACCOUNT}/message_campaign",
            "body": f"name=Chained&page_id={PAGE}&daily_budget=500",
        },
        {"method": "GET", "relative_url": "{result=create:$.id}?fields=campaign{name}", "depends_on": "create"},
        {"method": "GET", "relative_url": "{result=nothing:$.id}"},
    ]
    answers = sandbox.http.post("/", data={"batch": json.dumps(chained), "include_headers": "false"}).json()
    assert json.loads(answers[1]["body"])["campaign"]["name"] == "Chained"
    assert answers[2]["code"] == 400 and "headers" not in answers[2]
    assert error(sandbox.http.post("/", data={"batch": "[]"}))["code"] == 100


def test_throttling_by_account_and_by_token(serve):
    sandbox = serve(quota=5, quota_window_s=1.0)
    for _ in range(5):
        assert sandbox.get(ACCOUNT).status_code == 200
    throttled = sandbox.get(ACCOUNT)
    found = error(throttled)
    assert (found["code"], found["error_subcode"], found["is_transient"]) == (80004, 2446079, True)
    assert found["message"].startswith("(#80004) There have been too many calls to this ad-account.")
    usage = json.loads(throttled.headers["x-business-use-case-usage"])[ACCOUNT[4:]][0]
    # Whole minutes, as Meta reports them: under a minute is 0, and x-ad-account-usage has the seconds.
    assert usage["call_count"] == 100 and usage["estimated_time_to_regain_access"] == 0
    account_usage = json.loads(throttled.headers["x-ad-account-usage"])
    assert account_usage["acc_id_util_pct"] == 100 and 0 <= account_usage["reset_time_duration"] <= 1
    assert "retry-after" not in throttled.headers  # Meta does not send it
    # Custom audiences have their own use case and code.
    for _ in range(5):
        sandbox.get(f"{ACCOUNT}/customaudiences")
    assert error(sandbox.get(f"{ACCOUNT}/customaudiences"))["code"] == 80003
    sandbox.control("POST", "clock", {"advance_seconds": 1.05})  # the window ends on the sandbox's clock
    assert sandbox.get(ACCOUNT).status_code == 200
    assert sandbox.stats()["throttled"] == 2

    per_token = serve(user_quota=2, quota_window_s=30)
    per_token.get(ACCOUNT)
    per_token.get(ACCOUNT)
    assert error(per_token.get(ACCOUNT))["code"] == 17

    tokens = serve(token_query_quota=3)
    for _ in range(3):
        assert tokens.get(f"{PAGE}/notification_message_tokens").status_code == 200
    assert error(tokens.get(f"{PAGE}/notification_message_tokens"))["code"] == 2300080
    assert tokens.get("200000000000009/notification_message_tokens").status_code == 200  # per Page


@pytest.mark.parametrize(("kind", "status", "code"), [("500", 500, None), ("1", 500, 1), ("2", 503, 2)])
def test_error_faults(serve, kind, status, code):
    sandbox = serve(fault_rate=1.0, fault_kinds=(kind,), fault_phase="before")
    response = sandbox.get(ACCOUNT)
    assert response.status_code == status
    if code is None:
        assert response.headers["content-type"].startswith("text/html")
    else:
        assert error(response)["code"] == code and "is_transient" not in error(response)  # Meta leaves it out
    assert sandbox.stats()["faults"] == {kind: 1}


def test_throttle_faults_draw_every_throttling_code(serve):
    sandbox = serve(fault_rate=1.0, fault_kinds=("throttle",), fault_phase="after", seed=3)
    codes = set()
    for _ in range(60):
        found = error(sandbox.get(ACCOUNT))
        assert found["is_transient"] is True
        codes.add(found["code"])
    assert codes == {4, 17, 32, 341, 613, 80000, 80003, 80004, 80014}
    # Throttling refuses before looking: even with phase "after", nothing was created.
    assert sandbox.post(f"{ACCOUNT}/message_campaign", name="x", page_id=PAGE, daily_budget=500).status_code == 400
    sandbox.faults(rate=0.0)
    assert sandbox.get(f"{ACCOUNT}/ads").json() == {"data": []}


def test_faults_after_the_call_leave_the_outcome_unknown(serve):
    sandbox = serve(fault_rate=1.0, fault_kinds=("500",), fault_phase="after")
    assert sandbox.post(f"{ACCOUNT}/message_campaign", name="x", page_id=PAGE, daily_budget=500).status_code == 500
    sandbox.faults(rate=0.0)
    assert len(sandbox.get(f"{ACCOUNT}/ads").json()["data"]) == 1  # it was created all the same


def test_dropped_connections_and_slow_answers(serve):
    dropping = serve(fault_rate=1.0, fault_kinds=("drop",), fault_phase="before")
    with pytest.raises(httpx.RemoteProtocolError):
        dropping.get(ACCOUNT)
    slow = serve(fault_rate=1.0, fault_kinds=("slow",), slow_ms=800, fault_phase="before")
    with pytest.raises(httpx.ReadTimeout):
        slow.http.get(f"/{ACCOUNT}", timeout=0.3)
    started = time.monotonic()
    assert slow.get(ACCOUNT).status_code == 200
    assert time.monotonic() - started >= 0.8


def test_batch_operations_fail_one_by_one(serve):
    sandbox = serve(fault_rate=0.3, fault_kinds=("null", "1"), fault_phase="before", seed=7)
    ops = [
        {
            "method": "POST",
            "relative_url": f"{ACCOUNT}/message_campaign",
            "body": f"name=C{n}&page_id={PAGE}&daily_budget=500",
        }
        for n in range(50)
    ]
    response = None
    while response is None:  # the whole request may itself fail
        attempt = sandbox.http.post("/", data={"batch": json.dumps(ops)})
        response = attempt.json() if attempt.status_code == 200 else None
    assert None in response and any(a and a["code"] == 500 for a in response)
    ok = [a for a in response if a and a["code"] == 200]
    sandbox.faults(rate=0.0)
    assert len(sandbox.get(f"{ACCOUNT}/ads", limit=100).json()["data"]) == len(ok)


def test_latency(serve):
    sandbox = serve(latency_ms=200)
    started = time.monotonic()
    sandbox.get(ACCOUNT)
    assert time.monotonic() - started >= 0.2


def test_controls(sandbox):
    clock = sandbox.control("POST", "clock", {"now": "2026-11-22T12:00:00Z", "freeze": True})
    assert clock == {"now": "2026-11-22T12:00:00+0000", "unix": 1795348800.0, "frozen": True}
    assert sandbox.control("POST", "clock", {"advance_seconds": 90})["now"] == "2026-11-22T12:01:30+0000"
    running = sandbox.control("POST", "clock", {"freeze": False})
    assert running["frozen"] is False and running["unix"] >= 1795348890
    settings = sandbox.control("POST", "faults", {"rate": 0.25, "kinds": ["1", "2"], "latency_ms": 5})
    assert (settings["rate"], settings["kinds"], settings["latency_ms"]) == (0.25, ["1", "2"], 5)
    assert error(sandbox.raw.post("/__sandbox/faults", json={"kinds": ["meteor"]}))["code"] == 100
    sandbox.control("POST", "faults", {"rate": 0})
    sandbox.campaign()
    assert sandbox.control("POST", "reset") == {"success": True}
    assert sandbox.get(f"{ACCOUNT}/ads").json() == {"data": []}
    assert error(sandbox.raw.get("/__sandbox/nothing"))["code"] == 100


def test_the_request_log_keeps_no_tokens(sandbox):
    sandbox.raw.get(f"/v24.0/{ACCOUNT}", params={"access_token": "secret-token-value", "fields": "name"})
    sandbox.post(f"{ACCOUNT}/customaudiences", subtype="CUSTOM", customer_file_source="USER_PROVIDED_ONLY", name="A")
    log = sandbox.control("GET", "requests")["data"]
    assert [(e["method"], e["endpoint"], e["status"]) for e in log] == [
        ("GET", "GET act_", 200),
        ("POST", "POST act_/customaudiences", 200),
    ]
    assert log[0]["params"] == {"fields": "name"}
    assert "secret-token-value" not in json.dumps(log) and "test-token" not in json.dumps(log)
    assert sandbox.control("DELETE", "requests") == {"data": []}


def test_stats_count_by_endpoint(sandbox):
    audience = sandbox.audience()
    sandbox.upload(audience, ["a@example.com"])
    sandbox.get(f"{PAGE}/notification_message_tokens")
    sandbox.get(f"{audience}", fields="name")
    assert sandbox.stats()["by_endpoint"] == {
        "GET <id>": 1,
        "GET <id>/notification_message_tokens": 1,
        "POST <id>/users": 1,
        "POST act_/customaudiences": 1,
    }
    assert sandbox.control("DELETE", "stats")["requests"] == 0
    assert sha("a@example.com") in json.dumps(sandbox.control("GET", "requests"))
