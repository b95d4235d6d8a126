"""The client against a served sandbox that fails 20% of requests and throttles: work completes."""

from __future__ import annotations

import random

import pytest
from sandbox_helpers import ACCOUNT, PAGE

from reconciler.graph.client import Credentials, GraphClient, RetryPolicy
from reconciler.operation import Operation

pytestmark = pytest.mark.slow

POLICY = RetryPolicy(attempts=12, base_delay=0.02, max_delay=0.5, deadline=120, timeout=0.5)


def test_listing_and_updates_survive_faults_and_throttling(serve):
    sandbox = serve(
        quota=40, quota_window_s=0.5, fault_kinds=("500", "1", "2", "slow", "drop", "null"), slow_ms=700, seed=11
    )
    # Setting up runs without faults and with the default 30 s timeout: a loaded machine must not make it flaky.
    setup = GraphClient(sandbox.url, "v24.0", Credentials("setup-token-000000"))
    sandbox.faults(quota=0)
    created = setup.batch(
        [
            Operation(
                "POST",
                f"{ACCOUNT}/message_campaign",
                {"name": f"Campaign {n}", "page_id": PAGE, "daily_budget": 500},
                kind="create",
            )
            for n in range(2500)
        ]
    )
    ids = [r.body["id"] for r in created]
    assert len(set(ids)) == 2500

    sandbox.faults(rate=0.2, quota=40)
    sandbox.control("DELETE", "stats")
    graph = GraphClient(
        sandbox.url, "v24.0", Credentials("faulty-token-0000"), retry=POLICY, concurrency=4, rng=random.Random(3)
    )
    listed = [row["id"] for row in graph.pages(f"{ACCOUNT}/ads", {"fields": "id,campaign{id,name}"}, limit=100)]
    # Complete and nothing twice (concurrent batches may be carried out in any order, so ids are compared as sets).
    assert len(listed) == 2500 and set(listed) == set(ids)

    campaigns = [row["campaign"]["id"] for row in graph.pages(f"{ACCOUNT}/ads", {"fields": "campaign{id}"}, limit=500)]
    results = graph.batch(
        [
            Operation("POST", campaign, {"name": f"Renamed {n}"}, kind="update")
            for n, campaign in enumerate(campaigns[:200])
        ]
    )
    assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
    stats = sandbox.stats()
    assert graph.counters.retries > 0 and graph.counters.throttled_waits > 0
    assert sum(stats["faults"].values()) > 0 and stats["throttled"] > 0

    sandbox.faults(rate=0.0, quota=0)
    rows = setup.pages(f"{ACCOUNT}/ads", {"fields": "campaign{id,name}"}, limit=1000)
    names = {row["campaign"]["id"]: row["campaign"]["name"] for row in rows}
    # Each renamed once, by its own operation; the others untouched (creates ran 8 batches at once,
    # so listing order is not creation order: campaigns are matched by id).
    assert [names[c] for c in campaigns[:200]] == [f"Renamed {n}" for n in range(200)]
    assert all(names[c].startswith("Campaign ") for c in campaigns[200:]) and len(names) == 2500
    print(
        f"client counters {graph.counters.as_dict()}; sandbox faults {stats['faults']}, throttled {stats['throttled']}"
    )
