"""Campaigns on the sandbox: server defaults, money in the account currency, minimums, guardrails,
spend and estimates, replace reasons, start windows, previews."""

from __future__ import annotations

import json
import shutil

import httpx
import jsonschema
import pytest
from click.testing import CliRunner
from helpers import EXAMPLES, PROVIDER, REPO

from reconciler.cli import cli
from reconciler.sandbox import Sandbox, SandboxConfig
from reconciler.sandbox.transport import SandboxTransport

PLAN_SCHEMA = json.loads((REPO / "schemas" / "plan.schema.json").read_text())


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def write(campaigns: str, provider: str = PROVIDER) -> None:
        (tmp_path / "mmctl.yaml").write_text(provider)
        (tmp_path / "campaigns.yaml").write_text("campaigns:\n" + campaigns)

    write.root = tmp_path  # type: ignore[attr-defined]
    return write


def account(root, **settings) -> None:
    app = Sandbox(SandboxConfig(), root / ".mmctl" / "sandbox.json")
    with httpx.Client(transport=SandboxTransport(app), base_url="http://sandbox") as control:
        assert control.post("/__sandbox/accounts/act_100000000000001", json=settings).status_code == 200


def test_server_filled_values_are_never_a_diff(project):
    project("  lifetime:\n    name: Lifetime\n    lifetime_budget: 30000\n  capped:\n    name: Estimated cap\n")
    plan = run("plan").stdout
    assert "# end_time: set by Meta to start + 30 days" in plan
    assert "# no budget: Meta sets an estimated daily budget cap" in plan
    assert run("apply", "--auto-approve").exit_code == 0
    again = run("plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.output


def test_money_in_the_account_currency(project):
    project('  a:\n    name: A\n    daily_budget: "50.00 USD"\n  b:\n    name: B\n    daily_budget: 5000\n')
    data = json.loads(run("plan", "--format", "json").stdout)
    after = {a["address"]: a["after"]["daily_budget"] for a in data["actions"]}
    assert after == {"campaign.a": 5000, "campaign.b": 5000}
    project('  a:\n    name: A\n    daily_budget: "50 JPY"\n')
    refused = run("plan")
    assert refused.exit_code == 1
    assert 'campaigns.a.daily_budget: "50 JPY" is in JPY, but the ad account\'s currency is USD' in refused.stderr
    account(project.root, currency="JPY")
    project('  a:\n    name: A\n    daily_budget: "500 JPY"\n')
    data = json.loads(run("plan", "--format", "json").stdout)
    assert data["currency"] == "JPY" and data["actions"][0]["after"]["daily_budget"] == 500
    assert "daily_budget: 500 JPY" in run("plan").stdout


def test_minimum_budgets_fail_the_plan(project):
    project("  a:\n    name: A\n    lifetime_budget: 2999\n  b:\n    name: B\n    daily_budget: 99\n")
    refused = run("plan")
    assert refused.exit_code == 1
    assert (
        "campaign.a: lifetime_budget 29.99 USD is below Meta's minimum of 30.00 USD (30 days x "
        "min_daily_budget_imp 1.00 USD)"
    ) in refused.stderr
    assert "campaign.b: daily_budget 0.99 USD is below Meta's minimum of 1.00 USD" in refused.stderr


def test_guardrails_name_the_limit_and_the_amount(project):
    guarded = PROVIDER + (
        '  max_daily_budget: "100.00 USD"\n  max_lifetime_budget: 50000\n  max_total_daily_budget: "150.00 USD"\n'
    )
    project("  a:\n    name: A\n    daily_budget: 12000\n  b:\n    name: B\n    lifetime_budget: 60000\n", guarded)
    refused = run("plan")
    assert refused.exit_code == 1
    assert "the plan breaks money rules; nothing was changed" in refused.stderr
    assert "campaign.a: daily_budget 120.00 USD exceeds the guardrail max_daily_budget 100.00 USD" in refused.stderr
    assert (
        "campaign.b: lifetime_budget 600.00 USD exceeds the guardrail max_lifetime_budget 500.00 USD" in refused.stderr
    )
    assert "all campaigns together would spend up to 140.00 USD a day" not in refused.stderr
    project("  a:\n    name: A\n    daily_budget: 10000\n  b:\n    name: B\n    daily_budget: 6000\n", guarded)
    total = run("plan")
    assert (
        "all campaigns together would spend up to 160.00 USD a day, over the guardrail max_total_daily_budget "
        "150.00 USD"
    ) in total.stderr
    project("  a:\n    name: A\n    daily_budget: 10000\n", PROVIDER + '  max_daily_budget: "5 EUR"\n')
    assert 'provider.max_daily_budget: "5 EUR" is in EUR' in run("plan").stderr


def test_spend_and_estimates_in_text_and_json(project):
    with httpx.Client(
        transport=SandboxTransport(Sandbox(SandboxConfig(), project.root / ".mmctl" / "sandbox.json")),
        base_url="http://sandbox",
    ) as control:
        control.post("/__sandbox/pages/200000000000001/subscribers", json={"count": 400})
    project("  a:\n    name: A\n    daily_budget: 500\n")
    text = run("plan").stdout
    assert "Daily spend caps:\n  campaign.a: new → 5.00 USD a day\n" in text
    assert (
        "  Total: 0.00 USD → 5.00 USD a day (+5.00 USD)\n"
        "  Daily budgets are averages: Meta may spend up to 75% more on one day, and at most 7 times the daily "
        "budget in a calendar week (weekly cap 35.00 USD).\n"
    ) in text
    assert "Estimates (Meta's message_delivery_estimate, for new or changed budgets):" in text
    assert "  campaign.a: 166-250 messages, 3.32-5.00 USD" in text
    data = json.loads(run("plan", "--format", "json").stdout)
    jsonschema.validate(data, PLAN_SCHEMA)
    assert data["estimates"] == [
        {"address": "campaign.a", "delivery": {"lower": 166, "upper": 250}, "cost": {"lower": 332, "upper": 500}}
    ]
    assert data["spend"]["weekly_cap"] == 3500
    assert json.loads(run("plan", "--format", "json", "--no-estimate").stdout)["estimates"] == []
    run("apply", "--auto-approve")
    project("  a:\n    name: A\n    daily_budget: 700\n")
    assert "  campaign.a: 5.00 USD a day → 7.00 USD a day\n" in run("plan").stdout


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (('page_id: "200000000000001"', 'page_id: "200000000000002"'), "page_id cannot change in place"),
        (('pixel_id: "300000000000001"', 'pixel_id: "300000000000002"'), "pixel_id cannot change after creation"),
        (("daily_budget: 500", "lifetime_budget: 30000"), "switching between a daily and a lifetime budget"),
    ],
)
def test_each_immutable_field_replaces_with_its_reason(project, change, reason):
    project('  a:\n    name: A\n    daily_budget: 500\n    pixel_id: "300000000000001"\n')
    assert run("apply", "--auto-approve").exit_code == 0
    for name in ("mmctl.yaml", "campaigns.yaml"):
        path = project.root / name
        path.write_text(path.read_text().replace(*change))
    out = run("plan").stdout
    assert "-/+ campaign.a  (replace: " in out and reason in out


def test_start_times_are_checked_at_plan_time(project):
    project(
        "  past:\n    name: Past\n    daily_budget: 500\n    start_time: 2020-01-01T00:00:00Z\n"
        "  far:\n    name: Far\n    daily_budget: 500\n    start_time: 2099-01-01T00:00:00Z\n"
    )
    refused = run("plan")
    assert "campaign.past: start_time is in the past" in refused.stderr
    assert "campaign.far: start_time is more than 30 days ahead" in refused.stderr


def test_status_changes_and_notes(project):
    project("  a:\n    name: A\n    daily_budget: 500\n    status: PAUSED\n")
    run("apply", "--auto-approve")
    assert run("plan", "--detailed-exitcode").exit_code == 0
    project("  a:\n    name: A\n    daily_budget: 500\n    status: ACTIVE\n")
    out = run("plan").stdout
    assert 'status: "PAUSED" → "ACTIVE"' in out
    assert "# sending resumes 10 minutes after a campaign is active again" in out


def test_preview(tmp_path, monkeypatch):
    root = tmp_path / "p"
    shutil.copytree(EXAMPLES, root, ignore=shutil.ignore_patterns(".mmctl"))
    monkeypatch.chdir(root)
    shown = run("preview", "winter-carousel")
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.startswith("Preview of template.winter-carousel: http://localhost/__sandbox/preview?d=")
    assert "<iframe src=" in shown.stdout
    assert run("preview", "--campaign", "spring-launch").stdout.startswith("Preview of template.spring-preview: ")
    missing = run("preview", "nope")
    assert missing.exit_code == 1 and "no template 'nope' in the manifests" in missing.stderr
