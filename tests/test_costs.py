"""Money rules and the spend summary see every campaign's real budget (costs.py), and what Meta says
about budgets reaches the user."""

from __future__ import annotations

from types import MappingProxyType

import httpx
import pytest
from helpers import PROVIDER, stored_state
from test_campaign_plans import project, run  # noqa: F401 - the campaigns project fixture, shared

from reconciler.core import costs
from reconciler.core.plan import Action, Plan
from reconciler.errors import PlanError
from reconciler.render.plan import money_lines
from reconciler.resources import Change
from reconciler.sandbox import Sandbox, SandboxConfig
from reconciler.sandbox.transport import SandboxTransport

NOW = 1_800_000_000
DAY = 86_400
LIMITS = costs.Limits(max_daily=100_000, max_lifetime=None, max_total_daily=150_000)


def campaign(action: str, after: dict, before: dict | None = None, changes: tuple[Change, ...] = ()) -> Action:
    base = {
        "name": "A",
        "page_id": "1",
        "status": "ACTIVE",
        "daily_budget": None,
        "lifetime_budget": None,
        "start_time": None,
        "end_time": None,
    }
    return Action(
        address="campaign.a",
        kind="campaign",
        action=action,
        reason="r",
        changes=changes,
        ids=MappingProxyType({"id": "1"}) if before else MappingProxyType({}),
        before=MappingProxyType({**base, **before}) if before else MappingProxyType({}),
        after=MappingProxyType({**base, **after}),
    )


LIVE_BIG = {"daily_budget": 500_000}  # 5,000.00 USD a day, set in Ads Manager or as Meta's estimated cap


def test_a_campaign_without_a_budget_in_the_manifest_counts_with_its_live_budget():
    kept = campaign("no-op", {}, LIVE_BIG)
    budget = costs.effective_budget(kept)
    assert (budget.source, budget.values["daily_budget"]) == ("live", 500_000)
    spend = costs.spend((kept,), NOW)
    assert (spend.total_before, spend.total_after, spend.weekly_cap) == (500_000, 500_000, 3_500_000)
    adopted = campaign("adopt", {}, LIVE_BIG)
    plan = Plan("act_1", "sandbox", "USD", (adopted,), spend=costs.spend((adopted,), NOW))
    assert "  campaign.a: 5,000.00 USD a day → 5,000.00 USD a day (live, not in the manifest)" in money_lines(plan)


def test_adopting_a_campaign_over_a_guardrail_is_refused():
    with pytest.raises(PlanError) as refused:
        costs.check_rules((campaign("adopt", {}, LIVE_BIG),), LIMITS, None, "USD", NOW)
    assert (
        "campaign.a: daily_budget 5,000.00 USD (live, not in the manifest) exceeds the guardrail max_daily_budget "
        "1,000.00 USD (adopting it puts it under mmctl's guardrails)"
    ) in str(refused.value)


def test_activating_a_campaign_over_a_guardrail_is_refused():
    activate = campaign(
        "update", {"status": "ACTIVE"}, {**LIVE_BIG, "status": "PAUSED"}, (Change("status", "PAUSED", "ACTIVE"),)
    )
    with pytest.raises(PlanError, match=r"\(this plan activates it\)"):
        costs.check_rules((activate,), LIMITS, None, "USD", NOW)


def test_a_campaign_already_over_a_guardrail_and_left_alone_is_a_warning():
    warnings = costs.check_rules((campaign("no-op", {}, {"daily_budget": 120_000}),), LIMITS, None, "USD", NOW)
    assert warnings == (
        "campaign.a: daily_budget 1,200.00 USD (live, not in the manifest) exceeds the guardrail max_daily_budget "
        "1,000.00 USD; this plan does not change it",
    )


def test_the_total_guardrail_counts_budgets_not_in_the_manifest():
    other = Action(
        address="campaign.b",
        kind="campaign",
        action="create",
        reason="r",
        after=MappingProxyType({"name": "B", "daily_budget": 60_000}),
    )
    with pytest.raises(PlanError, match="all campaigns together would spend up to 1,500.01 USD a day"):
        costs.check_rules((campaign("no-op", {}, {"daily_budget": 90_001}), other), LIMITS, None, "USD", NOW)


def test_a_new_campaign_without_a_budget_cannot_pass_guardrails_unseen():
    with pytest.raises(
        PlanError,
        match="writes no budget, so Meta sets an estimated daily budget cap when it is "
        "created, which the guardrails cannot check beforehand",
    ):
        costs.check_rules((campaign("create", {}),), LIMITS, None, "USD", NOW)
    assert costs.check_rules((campaign("create", {}),), costs.Limits(), None, "USD", NOW) == ()
    line = costs.spend((campaign("create", {}),), NOW).lines[0]
    assert (line.source, line.after) == ("meta", None)


def test_a_lifetime_budget_counts_what_is_left_over_the_days_left():
    # 300.00 over 30 days, 20 days gone and 200.00 spent: 100.00 left over 10 days.
    live = {
        "lifetime_budget": 30_000,
        "budget_remaining": 10_000,
        "start_time": NOW - 20 * DAY,
        "end_time": NOW + 10 * DAY,
    }
    kept = campaign("no-op", {"lifetime_budget": 30_000}, live)
    assert costs.daily_equivalent(costs.effective_budget(kept).values, NOW) == 1_000
    raised = campaign("update", {"lifetime_budget": 40_000}, live, (Change("lifetime_budget", 30_000, 40_000),))
    assert costs.daily_equivalent(costs.effective_budget(raised).values, NOW) == 2_000  # 200.00 left now
    not_started = {"lifetime_budget": 30_000, "start_time": NOW + 5 * DAY, "end_time": NOW + 35 * DAY}
    assert costs.daily_equivalent(not_started, NOW) == 1_000
    ended = {"lifetime_budget": 30_000, "start_time": NOW - 40 * DAY, "end_time": NOW - DAY}
    assert costs.daily_equivalent(ended, NOW) == 0


def test_the_weekly_cap_is_for_daily_budgets_only():
    daily = Action(
        address="campaign.d",
        kind="campaign",
        action="create",
        reason="r",
        after=MappingProxyType({"daily_budget": 1_000}),
    )
    lifetime = Action(
        address="campaign.l",
        kind="campaign",
        action="create",
        reason="r",
        after=MappingProxyType({"lifetime_budget": 30_000, "start_time": NOW, "end_time": NOW + 30 * DAY}),
    )
    spend = costs.spend((daily, lifetime), NOW)
    assert (spend.total_after, spend.daily_budgets_after, spend.weekly_cap) == (2_000, 1_000, 7_000)
    lines = money_lines(Plan("act_1", "sandbox", "USD", (daily, lifetime), spend=spend))
    assert lines[-1] == (
        "  Daily budgets are averages: Meta may spend up to 75% more on one day, and at most 7 times "
        "the daily budget in a calendar week (weekly cap 70.00 USD)."
    )


# --- through the CLI, on the sandbox ------------------------------------------------------------------


def control(root, method: str, path: str, body: dict) -> httpx.Response:
    app = Sandbox(SandboxConfig(), root / ".mmctl" / "sandbox.json")
    with httpx.Client(transport=SandboxTransport(app), base_url="http://sandbox") as client:
        return client.request(method, path, json=body, headers={"Authorization": "Bearer t"})


def test_adopting_a_live_campaign_over_the_guardrail_is_refused_at_plan_time(project):
    project("  big:\n    name: Big Spender\n")
    made = control(
        project.root,
        "POST",
        "/v24.0/act_100000000000001/message_campaign",
        {"name": "Big Spender", "page_id": "200000000000001", "daily_budget": 500000},
    )
    assert made.status_code == 200, made.text
    project("  big:\n    name: Big Spender\n", PROVIDER + '  max_daily_budget: "1000.00 USD"\n')
    refused = run("plan")
    assert refused.exit_code == 1
    assert (
        "campaign.big: daily_budget 5,000.00 USD (live, not in the manifest) exceeds the guardrail "
        "max_daily_budget 1,000.00 USD (adopting it puts it under mmctl's guardrails)"
    ) in refused.stderr
    project("  big:\n    name: Big Spender\n")
    shown = run("plan")
    assert "campaign.big: 5,000.00 USD a day → 5,000.00 USD a day (live, not in the manifest)" in shown.stdout


def test_what_meta_says_on_create_is_shown_and_kept_in_state(project):
    control(project.root, "POST", "/__sandbox/pages/200000000000001/subscribers", {"count": 400})
    project("  capped:\n    name: Capped\n  low:\n    name: Low\n    daily_budget: 500\n")
    applied = run("apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert "Meta said:\n  campaign.capped: info: Meta set an estimated daily budget cap of" in applied.stdout
    assert "  campaign.low: warning: The budget you provided is lower than the budget reference" in applied.stdout
    state = stored_state(project.root)
    assert state["resources"]["campaign.capped"]["notices"][0].startswith("info: Meta set an estimated daily budget")
    assert state["resources"]["campaign.low"]["notices"][0].startswith("warning: The budget you provided is lower")
