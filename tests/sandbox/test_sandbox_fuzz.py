"""Any request, however malformed, gets a Graph answer (a result or an error envelope), never a sandbox bug."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sandbox_helpers import ACCOUNT, PAGE, sha

from reconciler.sandbox import Sandbox, SandboxConfig
from reconciler.sandbox.transport import SandboxTransport

pytestmark = pytest.mark.slow

APP = Sandbox(SandboxConfig())
CLIENT = httpx.Client(
    transport=SandboxTransport(APP), base_url="http://sandbox/v24.0", headers={"Authorization": "Bearer t"}
)
AD = CLIENT.post(f"/{ACCOUNT}/message_campaign", json={"name": "F", "page_id": PAGE, "daily_budget": 500}).json()["id"]
IDS = CLIENT.get(f"/{AD}", params={"fields": "campaign_id,adset_id,creative{id}"}).json()
AUDIENCE = CLIENT.post(
    f"/{ACCOUNT}/customaudiences",
    json={
        "subtype": "CUSTOM",
        "customer_file_source": "USER_PROVIDED_ONLY",
        "name": "A",
        "description": "",
        "use_for_products": ["MARKETING_MESSAGES"],
        "subscription_info": ["MESSENGER"],
        "marketing_message_channels": {"MESSENGER": PAGE},
    },
).json()["data"][0]["id"]
PATHS = [
    f"{ACCOUNT}",
    f"{ACCOUNT}/message_campaign",
    f"{ACCOUNT}/ads",
    f"{ACCOUNT}/minimum_budgets",
    f"{ACCOUNT}/message_delivery_estimate",
    f"{ACCOUNT}/generatepreviews",
    f"{ACCOUNT}/customaudiences",
    f"{ACCOUNT}/messages",
    AD,
    IDS["campaign_id"],
    IDS["adset_id"],
    IDS["creative"]["id"],
    f"{AD}/insights",
    AUDIENCE,
    f"{AUDIENCE}/users",
    f"{PAGE}/notification_message_tokens",
    f"{PAGE}/messaging_customer_base/unsubscribe",
    "",
    "999",
    "act_x/ads",
]
KEYS = [
    "name",
    "page_id",
    "daily_budget",
    "lifetime_budget",
    "start_time",
    "end_time",
    "pixel_id",
    "status",
    "fields",
    "filtering",
    "limit",
    "after",
    "before",
    "payload",
    "session",
    "message",
    "message_id",
    "messenger_delivery_data",
    "data",
    "batch",
    "creative",
    "ad_format",
    "promoted_object",
    "targeting_spec",
    "custom_audience_ids",
    "time_range",
    "date_preset",
    "subtype",
    "marketing_message_channels",
    "method",
    "use_for_products",
    "subscription_info",
    "customer_file_source",
    "effective_status",
    "lifetime_in_days",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**18),
    st.text(max_size=30),
    st.sampled_from(
        [
            "id,adset{name}",
            "[]",
            "{}",
            '[{"field":"id","operator":"IN","value":[1]}]',
            "2026-12-01T00:00:00Z",
            "ACTIVE",
            PAGE,
            sha("x"),
            "DELETE",
            "-1",
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS + ["schema"]), inner, max_size=4)
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(["GET", "POST", "DELETE"]),
    path=st.sampled_from(PATHS),
    params=st.dictionaries(st.sampled_from(KEYS), values, max_size=5),
    as_json=st.booleans(),
)
def test_no_request_breaks_the_sandbox(method, path, params, as_json):
    if as_json and method == "POST":
        response = CLIENT.request(method, f"/{path}", json=params)
    else:
        flat = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
        response = CLIENT.request(
            method, f"/{path}", params=flat if method != "POST" else None, data=flat if method == "POST" else None
        )
    assert APP.stats.internal_errors == 0, response.text
    body = response.json()
    if response.status_code != 200:
        assert response.status_code == 400 and set(body) == {"error"}, response.text
