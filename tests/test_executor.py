"""The executor, directly: each failure path, what it says and what it leaves in state, against a
fake Graph API on httpx.MockTransport (no sandbox, no CLI)."""

from __future__ import annotations

import json
import threading
import time
from types import MappingProxyType
from urllib.parse import parse_qsl

import httpx
import pytest

from reconciler import executor as executor_module
from reconciler.core.plan import Action, Plan
from reconciler.executor import Executor
from reconciler.graph.client import Credentials, GraphClient, RetryPolicy
from reconciler.resources import Account, Kind, Op
from reconciler.state.model import Resource, State
from reconciler.state.sqlite import SQLiteStateStore

ACCOUNT = Account("act_1", "USD", "UTC", "Test")
PAGE = "200000000000001"


class FakeGraph:
    """Answers batches operation by operation with ``answer(method, path, params)``, and the ads listing
    from ``self.ads``. ``lose_batches`` batch requests time out (after being carried out)."""

    def __init__(self) -> None:
        self.ads: list[dict] = []
        self.calls: list[tuple[str, str]] = []
        self.lose_batches = 0
        self.answers: dict[tuple[str, str], tuple[int, dict]] = {}
        self.next_id = 500
        self.unlisted: set[str] = set()  # ads the listing leaves out (read by id they are found)
        self.lock = threading.Lock()  # batch requests arrive from several threads at once
        self.in_flight = self.most_in_flight = 0
        self.pause_delay = 0.001

    def campaign_row(self, name: str) -> dict:
        self.next_id += 3
        row = {
            "id": str(self.next_id),
            "campaign": {"id": str(self.next_id + 1), "name": name, "status": "ACTIVE"},
            "adset": {"id": str(self.next_id + 2), "daily_budget": "500"},
            "creative": {"actor_id": PAGE},
        }
        return row

    def operation(self, method: str, path: str, params: dict) -> tuple[int, dict]:
        self.calls.append((method, path))
        if (method, path) in self.answers:
            return self.answers[(method, path)]
        if method == "POST" and path.endswith("/message_campaign"):
            row = self.campaign_row(params["name"])
            self.ads.append(row)
            return 200, {"id": row["id"]}
        if method == "GET" and path.endswith("/ads"):
            return 200, {"data": [r for r in self.ads if r["id"] not in self.unlisted]}
        if method == "GET":
            row = next(r for r in self.ads if r["id"] == path)
            return 200, {
                "id": row["id"],
                "campaign": {"id": row["campaign"]["id"]},
                "adset": {"id": row["adset"]["id"]},
            }
        return 200, {"success": True}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            # Long enough for requests sent together to overlap; pauses (a status sent) take longer.
            time.sleep(self.pause_delay if b"status" in request.content else 0.001)
            with self.lock:
                return self._answer(request)
        finally:
            with self.lock:
                self.in_flight -= 1

    def _answer(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/v24.0/").strip("/")
        if request.method == "POST" and path == "":
            form = dict(parse_qsl(request.content.decode()))
            answers = []
            for item in json.loads(form["batch"]):
                relative = item["relative_url"]
                bare, _, query = relative.partition("?")
                params = dict(parse_qsl(item.get("body") or query))
                status, body = self.operation(item["method"], bare, params)
                answers.append({"code": status, "headers": [], "body": json.dumps(body)})
            if self.lose_batches:
                self.lose_batches -= 1
                raise httpx.ReadTimeout("the answer never came", request=request)
            return httpx.Response(200, json=answers)
        status, body = self.operation(request.method, path, dict(request.url.params))
        return httpx.Response(status, json=body)


@pytest.fixture
def graph() -> FakeGraph:
    return FakeGraph()


def executor(
    graph: FakeGraph, tmp_path, state: State = State(), slept: list[float] | None = None, concurrency: int = 8
):
    policy = RetryPolicy(attempts=1, timeout=2.0, base_delay=0.0)
    client = GraphClient(
        "http://127.0.0.1:9",
        "v24.0",
        Credentials("executor-test-token-0001"),
        transport=httpx.MockTransport(graph),
        retry=policy,
        concurrency=concurrency,
    )
    lines: list[str] = []
    store = SQLiteStateStore(tmp_path / "state.db")
    made = Executor(
        client, store, state, ACCOUNT, lines.append, sleep=(slept.append if slept is not None else lambda seconds: None)
    )
    return made, store, lines


def plan(*actions: Action) -> Plan:
    return Plan("act_1", "http://127.0.0.1:9", "USD", actions)


def create(key: str, **after) -> Action:
    values = {"name": f"Campaign {key}", "page_id": PAGE, "daily_budget": 500, **after}
    return Action(
        address=f"campaign.{key}", kind=Kind.CAMPAIGN, action=Op.CREATE, reason="new", after=MappingProxyType(values)
    )


def test_a_create_whose_answer_was_lost_is_looked_up_after_the_wait_and_adopted(graph, tmp_path):
    graph.lose_batches = 1
    slept: list[float] = []
    run, store, lines = executor(graph, tmp_path, slept=slept)
    report = run.run(plan(create("a")))
    assert report.ok, report.failed
    assert slept == [2.0]  # the request timeout again: an abandoned request may still be carried out
    assert [c for c in graph.calls if c[1].endswith("/message_campaign")] == [("POST", "act_1/message_campaign")]
    assert report.done == [("campaign.a", f"created (id {graph.ads[0]['id']}; found after the answer was lost)")]
    state = store.read()
    assert state.resources["campaign.a"].ids["id"] == graph.ads[0]["id"] and state.pending == ()
    assert lines[0] == "waiting 2s before looking up 1 create(s) whose answer was lost (Meta may still carry them out)"


def test_a_lost_create_that_never_happened_stays_pending(graph, tmp_path):
    graph.answers[("POST", "act_1/message_campaign")] = (200, {})  # no id: answer unreadable, outcome unknown
    graph.lose_batches = 1
    run, store, _ = executor(graph, tmp_path)
    report = run.run(plan(create("a")))
    assert report.failed == [
        (
            "campaign.a",
            "the create got no answer and the object is not in the account; it stays pending and the "
            "next apply creates it",
        )
    ]
    assert [(p.address, p.operation, p.name) for p in store.read().pending] == [("campaign.a", "create", "Campaign a")]


def test_a_refused_create_fails_with_what_meta_said_and_leaves_nothing_pending(graph, tmp_path):
    graph.answers[("POST", "act_1/message_campaign")] = (
        400,
        {"error": {"message": "Invalid parameter", "type": "OAuthException", "code": 100, "fbtrace_id": "Tr1"}},
    )
    run, store, _ = executor(graph, tmp_path)
    report = run.run(plan(create("a")))
    [(address, why)] = report.failed
    assert address == "campaign.a" and why.startswith("create failed: POST act_1/message_campaign: Invalid parameter")
    assert "fbtrace_id Tr1" in why
    assert store.read().pending == () and "campaign.a" not in store.read().resources


def test_a_failed_lookup_of_a_lost_create_says_so_and_keeps_it_pending(graph, tmp_path):
    graph.lose_batches = 1
    graph.answers[("GET", "act_1/ads")] = (400, {"error": {"message": "Unsupported get request", "code": 100}})
    run, store, _ = executor(graph, tmp_path)
    [(address, why)] = run.run(plan(create("a"))).failed
    assert why.startswith("the create may or may not have happened, and looking it up failed (")
    assert why.endswith("); it stays pending and the next plan resolves it")
    assert [p.operation for p in store.read().pending] == ["create"]


def test_a_paused_campaign_whose_ids_cannot_be_read_is_left_active_with_its_pause_pending(graph, tmp_path):
    original = graph.operation

    def refuse_ids(method, path, params):
        if method == "GET" and path.isdigit():
            return 400, {"error": {"message": "Object does not exist", "code": 100, "error_subcode": 33}}
        return original(method, path, params)

    graph.operation = refuse_ids  # type: ignore[method-assign]
    run, store, _ = executor(graph, tmp_path)
    [(address, why)] = run.run(plan(create("a", status="PAUSED"))).failed
    assert why.startswith("created, but could not read its campaign id to pause it: ")
    assert why.endswith("; it is ACTIVE, and the next apply pauses it")
    state = store.read()
    assert state.resources["campaign.a"].applied["status"] == "ACTIVE"
    assert [(p.address, p.operation) for p in state.pending] == [("campaign.a", "update")]


def test_a_campaign_created_paused_is_paused_right_after(graph, tmp_path):
    run, store, lines = executor(graph, tmp_path)
    assert run.run(plan(create("a", status="PAUSED"))).ok
    assert ("POST", graph.ads[0]["campaign"]["id"]) in graph.calls
    assert store.read().resources["campaign.a"].applied["status"] == "PAUSED" and store.read().pending == ()
    assert lines[-1] == "campaign.a: paused"


def test_of_many_paused_campaigns_a_refused_pause_stays_pending_and_the_others_are_recorded(graph, tmp_path):
    graph.answers[("POST", "507")] = (
        400,
        {"error": {"message": "Invalid status", "type": "OAuthException", "code": 100}},
    )
    run, store, lines = executor(graph, tmp_path)
    report = run.run(plan(create("a", status="PAUSED"), create("b", status="PAUSED")))
    [(address, why)] = report.failed
    assert address == "campaign.b" and why.startswith("created, but pausing it failed: ")
    state = store.read()
    assert state.resources["campaign.a"].applied["status"] == "PAUSED"
    assert state.resources["campaign.b"].applied["status"] == "ACTIVE"  # as it is: the next apply pauses it
    assert [(p.address, p.operation) for p in state.pending] == [("campaign.b", "update")]
    assert "campaign.a: paused" in lines and "campaign.b: paused" not in lines


def test_the_ids_of_many_new_campaigns_are_read_through_the_listing_and_the_rest_one_by_one(graph, tmp_path):
    graph.unlisted = {"521"}  # the 7th campaign made: missing from the listing, read by its id
    run, store, lines = executor(graph, tmp_path)
    report = run.run(plan(*(create(f"c{i:03}", status="PAUSED") for i in range(120))))
    assert report.ok, report.failed
    listings = [c for c in graph.calls if c == ("GET", "act_1/ads")]
    single_reads = [c for c in graph.calls if c[0] == "GET" and c[1] != "act_1/ads"]
    assert len(listings) == 2 and single_reads == [("GET", "521")]  # 100 ids a listing read, then the one missed
    pauses = [c for c in graph.calls if c[0] == "POST" and not c[1].endswith("/message_campaign")]
    assert len(pauses) == 120
    state = store.read()
    assert state.pending == () and {r.applied["status"] for r in state.resources.values()} == {"PAUSED"}


def test_in_runs_each_runs_pauses_go_out_with_the_next_runs_creates_within_the_parallelism(
    graph, tmp_path, monkeypatch
):
    monkeypatch.setattr(executor_module, "RUN", 60)
    graph.pause_delay = 0.2  # a run's pauses are still in flight when the next run's creates go out
    run, store, lines = executor(graph, tmp_path, concurrency=2)  # a run is 2 batch requests, its pauses 2
    report = run.run(plan(*(create(f"c{i:03}", status="PAUSED") for i in range(150))))
    assert report.ok, report.failed
    state = store.read()
    assert state.pending == () and {r.applied["status"] for r in state.resources.values()} == {"PAUSED"}
    assert len(state.resources) == 150 and len(graph.ads) == 150  # nothing created twice
    # A run's pauses are told once the next run's creates are: these are recorded first, so that
    # the next run's follow-up goes out while the last one's answers are recorded.
    told = [(line.split(":")[0], "created" if "created" in line else "paused") for line in lines]
    runs = [range(0, 60), range(60, 120), range(120, 150)]
    order = [(runs[0], "created"), (runs[1], "created"), (runs[0], "paused")]
    order += [(runs[2], "created"), (runs[1], "paused"), (runs[2], "paused")]
    assert told == [(f"campaign.c{i:03}", what) for r, what in order for i in r]
    assert graph.most_in_flight == 2  # the pauses and the next creates share the 2 requests in flight


def test_when_a_follow_up_fails_the_next_runs_creates_are_recorded_before_the_error(graph, tmp_path, monkeypatch):
    monkeypatch.setattr(executor_module, "RUN", 60)
    run, store, lines = executor(graph, tmp_path)

    def broken(self, spec, todo):
        raise RuntimeError("the follow-up broke")

    monkeypatch.setattr(Executor, "_follow_up_calls", broken)
    with pytest.raises(RuntimeError, match="the follow-up broke"):
        run.run(plan(*(create(f"c{i:03}", status="PAUSED") for i in range(150))))
    state = store.read()
    # The first run was created (its pauses stay pending), and so were the second and the third,
    # sent meanwhile: the third was on the wire when the first run's follow-up failed.
    assert len(state.resources) == 150 and len(graph.ads) == 150
    assert sorted(p.operation for p in state.pending) == ["update"] * 150  # no create left in doubt
    assert {r.applied["status"] for r in state.resources.values()} == {"ACTIVE"}


def test_a_run_with_a_lost_create_holds_the_next_run_back_until_it_is_looked_up(graph, tmp_path, monkeypatch):
    # The lookup goes by name: a create of the next run with the same name must not be in the account yet.
    monkeypatch.setattr(executor_module, "RUN", 60)
    graph.lose_batches = 1  # the first batch request of the first run: carried out, its answer lost
    seen: list[str] = []
    answer = graph.operation

    def logged(method, path, params):
        seen.append("lookup" if (method, path) == ("GET", "act_1/ads") else params.get("name", path))
        return answer(method, path, params)

    monkeypatch.setattr(graph, "operation", logged)
    run, store, _ = executor(graph, tmp_path)
    report = run.run(plan(*(create(f"c{i:03}") for i in range(120))))
    assert report.ok, report.failed
    assert seen.count("lookup") == 1 and "Campaign c060" not in seen[: seen.index("lookup")]
    state = store.read()
    assert len(state.resources) == 120 and len(graph.ads) == 120 and state.pending == ()


def managed(object_id: str = "9") -> State:
    resource = Resource(
        Kind.CAMPAIGN,
        MappingProxyType({"id": object_id, "campaign": "10", "adset": "11"}),
        MappingProxyType({"name": "Campaign a", "daily_budget": 500}),
    )
    return State(serial=1, lineage="l", account="act_1", resources=MappingProxyType({"campaign.a": resource}))


def test_a_failed_delete_keeps_the_resource_and_says_why(graph, tmp_path):
    graph.answers[("DELETE", "9")] = (400, {"error": {"message": "Cannot delete", "code": 100}})
    run, store, _ = executor(graph, tmp_path, managed())
    delete = Action(
        address="campaign.a", kind=Kind.CAMPAIGN, action=Op.DELETE, reason="removed", ids=MappingProxyType({"id": "9"})
    )
    [(address, why)] = run.run(plan(delete)).failed
    assert why.startswith("delete failed: DELETE 9: Cannot delete")
    assert "campaign.a" in store.read().resources and store.read().pending == ()


def test_a_delete_of_an_object_already_gone_counts_as_done(graph, tmp_path):
    graph.answers[("DELETE", "9")] = (
        400,
        {"error": {"message": "Object does not exist", "code": 100, "error_subcode": 33}},
    )
    run, store, _ = executor(graph, tmp_path, managed())
    delete = Action(
        address="campaign.a", kind=Kind.CAMPAIGN, action=Op.DELETE, reason="removed", ids=MappingProxyType({"id": "9"})
    )
    assert run.run(plan(delete)).done == [("campaign.a", "deleted")]
    assert "campaign.a" not in store.read().resources


def test_a_failed_update_keeps_the_last_applied_values(graph, tmp_path):
    graph.answers[("POST", "11")] = (400, {"error": {"message": "Budget too low", "code": 100}})
    run, store, _ = executor(graph, tmp_path, managed())
    from reconciler.resources import Change

    update = Action(
        address="campaign.a",
        kind=Kind.CAMPAIGN,
        action=Op.UPDATE,
        reason="the manifest changed",
        changes=(Change("daily_budget", 500, 100),),
        ids=MappingProxyType({"id": "9", "campaign": "10", "adset": "11"}),
        after=MappingProxyType({"name": "Campaign a", "page_id": PAGE, "daily_budget": 100}),
    )
    [(address, why)] = run.run(plan(update)).failed
    assert why.startswith("update failed: POST 11: Budget too low")
    assert store.read().resources["campaign.a"].applied["daily_budget"] == 500 and store.read().pending == ()


def test_an_unreadable_ids_answer_after_a_create_is_a_failure_not_a_crash(graph, tmp_path):
    original = graph.operation

    def no_adset(method, path, params):
        if method == "GET" and path.isdigit():
            return 200, {"id": path, "campaign": {"id": "1"}}
        return original(method, path, params)

    graph.operation = no_adset  # type: ignore[method-assign]
    run, store, _ = executor(graph, tmp_path)
    [(address, why)] = run.run(plan(create("a", status="PAUSED"))).failed
    assert why.startswith("created, but could not read its campaign id to pause it: unexpected answer")
    assert "missing field 'adset'" in why
    assert [(p.address, p.operation) for p in store.read().pending] == [("campaign.a", "update")]
