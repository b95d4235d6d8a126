"""The kinds registry: each kind is one module, the order is fixed, and an unknown kind is refused
everywhere instead of running another kind's code."""

from __future__ import annotations

from types import MappingProxyType

import httpx
import pytest

from reconciler import kinds
from reconciler.core.plan import Action, Plan
from reconciler.core.planner import make_plan
from reconciler.executor import Executor
from reconciler.graph.client import Credentials, GraphClient
from reconciler.kinds.base import NotInAccount, UnknownKind
from reconciler.resources import Account, Desired, Kind, Op
from reconciler.state.model import Resource, State
from reconciler.state.sqlite import SQLiteStateStore


def test_every_kind_has_one_module_in_creation_order():
    assert [spec.kind for spec in kinds.ordered()] == [
        Kind.TEMPLATE,
        Kind.AUDIENCE,
        Kind.CAMPAIGN,
        Kind.UNSUBSCRIBE,
        Kind.SEND,
    ]
    assert [spec.section for spec in kinds.ordered()] == [
        "templates",
        "audiences",
        "campaigns",
        "unsubscribes",
        "sends",
    ]
    assert [spec.kind for spec in kinds.in_account()] == [Kind.AUDIENCE, Kind.CAMPAIGN]
    assert {type(spec).__module__ for spec in kinds.ordered()} == {
        "reconciler.kinds.template",
        "reconciler.kinds.audience",
        "reconciler.kinds.campaign",
        "reconciler.kinds.send",
        "reconciler.kinds.unsubscribe",
    }


@pytest.mark.parametrize("name", ["webhook", "Campaign", "", "campaign "])
def test_an_unknown_kind_is_refused_by_the_registry(name):
    with pytest.raises(UnknownKind, match="unknown resource kind"):
        kinds.spec(name)


def test_the_planner_refuses_a_desired_resource_of_an_unknown_kind():
    hook = Desired("webhook.first", "webhook", MappingProxyType({"name": "x"}), frozenset({"name"}))  # type: ignore[arg-type]
    with pytest.raises(UnknownKind, match="'webhook'"):
        make_plan({hook.address: hook}, State(), [], account="act_1", graph="sandbox", currency="USD", now=0)


def test_the_planner_refuses_state_of_an_unknown_kind_left_by_a_newer_mmctl():
    state = State(resources=MappingProxyType({"webhook.x": Resource("webhook")}))
    with pytest.raises(UnknownKind):
        make_plan({}, state, [], account="act_1", graph="sandbox", currency="USD", now=0)


def test_the_executor_refuses_an_unknown_kind_before_any_call(tmp_path):
    calls = []

    def graph(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(500)

    client = GraphClient("http://127.0.0.1:9", "v24.0", Credentials("t"), transport=httpx.MockTransport(graph))
    store = SQLiteStateStore(tmp_path / "state.db")
    plan = Plan(
        "act_1",
        "sandbox",
        "USD",
        (
            Action(address="campaign.a", kind=Kind.CAMPAIGN, action=Op.CREATE, reason="new", after={"name": "a"}),
            Action(address="webhook.b", kind="webhook", action=Op.CREATE, reason="new"),  # type: ignore[arg-type]
        ),
    )
    executor = Executor(client, store, State(), Account("act_1", "USD", "UTC", "x"))
    with pytest.raises(UnknownKind):
        executor.run(plan)
    assert calls == []
    assert not (tmp_path / "state.db").exists()


def test_state_of_an_unknown_kind_is_an_error_naming_the_field():
    with pytest.raises(
        ValueError, match=r"resources.webhook.x.kind is \"webhook\"; expected one of template, audience"
    ):
        Resource.from_dict({"kind": "webhook"}, "webhook.x")


def test_a_kind_kept_in_state_only_has_no_graph_operations():
    template = kinds.spec("template")
    with pytest.raises(NotInAccount):
        template.listing("act_1")
    with pytest.raises(NotInAccount):
        template.delete({"id": "1"})


def test_the_plan_schema_names_exactly_the_kinds_and_actions():
    import json
    from pathlib import Path

    schema = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "plan.schema.json").read_text())
    action = schema["$defs"]["action"]["properties"]
    assert set(action["kind"]["enum"]) == {k.value for k in Kind}
    assert set(action["action"]["enum"]) == {o.value for o in Op}
