"""plan, apply, import and state on the examples, through the CLI, against the sandbox."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import jsonschema
from click.testing import CliRunner
from helpers import REPO, stored_state

from reconciler.cli import cli
from reconciler.sandbox import Sandbox, SandboxConfig
from reconciler.sandbox.transport import SandboxTransport

PLAN_SCHEMA = json.loads((REPO / "schemas" / "plan.schema.json").read_text())


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), input=input)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def sandbox_of(root: Path) -> Sandbox:
    return Sandbox(SandboxConfig(), root / ".mmctl" / "sandbox.json")


def change_live_daily_budget(root: Path, amount: int) -> str:
    """Change the winter sale's budget in the sandbox, as someone in Ads Manager would; returns the ad set id."""
    world = sandbox_of(root)
    adset = next(o for o in world.store.world.objects.values() if o["type"] == "adset" and o["daily_budget"])
    with world.store.transaction() as data:
        data.objects[adset["id"]]["daily_budget"] = amount
        data.touch()
    return str(adset["id"])


def campaign_rows(root: Path) -> list[dict]:
    world = sandbox_of(root).store.world
    return [o for o in world.objects.values() if o["type"] == "campaign" and o["status"] != "DELETED"]


def test_apply_then_plan_is_empty(example):
    first = run("apply", "--auto-approve")
    assert first.exit_code == 0, first.output
    assert "Plan: 6 to create, 0 to update, 0 to replace, 0 to delete, 0 to adopt, 2 waiting." in first.stdout
    assert "Apply complete: 6 resource(s) changed." in first.stdout
    assert "campaign.spring-launch: paused" in first.stderr
    again = run("plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert again.stdout.endswith("No changes. The account matches the manifests.\n")
    assert sorted(r["name"] for r in campaign_rows(example)) == ["Spring Launch Teaser", "Winter Sale 2027"]
    state = stored_state(example)
    assert state["pending"] == [] and state["resources"]["campaign.winter-sale"]["protect"] is True


def test_a_budget_change_plans_an_update_with_currency(example):
    run("apply", "--auto-approve")
    edit(example / "campaigns.yaml", 'daily_budget: "50.00 USD"', "daily_budget: 6000")
    changed = run("plan", "--detailed-exitcode")
    assert changed.exit_code == 2
    assert (
        "  ~ campaign.winter-sale  (update: the manifest changed)\n        daily_budget: 50.00 USD → 60.00 USD\n"
    ) in changed.stdout
    assert run("apply", "--auto-approve").exit_code == 0
    assert run("plan", "--detailed-exitcode").exit_code == 0


def test_removing_campaigns_deletes_them_unless_protected(example):
    run("apply", "--auto-approve")
    text = (example / "campaigns.yaml").read_text()
    (example / "campaigns.yaml").write_text(text[: text.index("  spring-launch:")])
    sends = (example / "sends.yaml").read_text()
    (example / "sends.yaml").write_text(sends[: sends.index("  spring-teaser:")])
    removed = run("plan")
    assert "  - campaign.spring-launch  (delete: removed from the manifests)" in removed.stdout
    (example / "campaigns.yaml").write_text("campaigns: {}\n")
    (example / "sends.yaml").unlink()
    refused = run("plan")
    assert refused.exit_code == 1
    assert "campaign.winter-sale is protected (protect: true, kept in state)" in refused.stderr
    assert "Traceback" not in refused.output


def test_a_new_page_replaces_with_its_reason(example):
    run("apply", "--auto-approve")
    edit(example / "mmctl.yaml", 'page_id: "200000000000001"', 'page_id: "200000000000002"')
    # The winter sale is protected: a replace deletes it, so it is refused like a delete.
    refused = run("plan")
    assert refused.exit_code == 1
    assert (
        "campaign.winter-sale is protected (protect: true), and the change to page_id needs a replace: page_id "
        "cannot change in place"
    ) in refused.stderr
    assert "first apply a reviewed change that sets protect: false on campaign.winter-sale" in refused.stderr
    edit(example / "campaigns.yaml", "protect: true ", "protect: false")
    replaced = run("plan", "--format", "json")
    assert replaced.exit_code == 1 and "protect: true" in replaced.stderr  # state still says protected
    edit(example / "mmctl.yaml", 'page_id: "200000000000002"', 'page_id: "200000000000001"')
    assert run("apply", "--auto-approve").exit_code == 0  # the reviewed protect: false lands first
    edit(example / "mmctl.yaml", 'page_id: "200000000000001"', 'page_id: "200000000000002"')
    replaced = run("plan", "--format", "json")
    data = json.loads(replaced.stdout)
    jsonschema.validate(data, PLAN_SCHEMA)
    by_address = {a["address"]: a for a in data["actions"]}
    assert by_address["campaign.winter-sale"]["action"] == "replace"
    assert "page_id cannot change in place" in by_address["campaign.winter-sale"]["reason"]
    applied = run("apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert run("plan", "--detailed-exitcode").exit_code == 0
    assert len(campaign_rows(example)) == 2  # the old ones are gone


def test_drift_is_shown_apart_from_intended_changes(example):
    run("apply", "--auto-approve")
    change_live_daily_budget(example, 9900)
    edit(example / "campaigns.yaml", "name: Spring Launch Teaser", "name: Spring Launch")
    out = run("plan").stdout
    assert (
        "Changed outside mmctl (drift):\n  campaign.winter-sale\n"
        "      daily_budget: 50.00 USD (last applied) → 99.00 USD (live)\n"
    ) in out
    assert "~ campaign.spring-launch  (update: the manifest changed)" in out
    assert "~ campaign.winter-sale  (update: restoring values changed outside mmctl)" in out


def test_saved_plans_are_applied_exactly_or_refused_when_stale(example):
    run("apply", "--auto-approve")
    edit(example / "campaigns.yaml", 'daily_budget: "50.00 USD"', 'daily_budget: "70.00 USD"')
    assert run("plan", "--out", "plan.json").exit_code == 0
    jsonschema.validate(json.loads(Path("plan.json").read_text()), PLAN_SCHEMA)
    edit(example / "campaigns.yaml", "name: Spring Launch Teaser", "name: Spring Launch")
    assert run("apply", "--auto-approve", "--target", "campaign.spring-launch").exit_code == 0
    stale = run("apply", "plan.json")
    assert stale.exit_code == 1 and "the saved plan is stale: apply would now do something else" in stale.stderr
    assert (
        'campaign.spring-launch before.name: the plan has "Spring Launch Teaser", now "Spring Launch"' in stale.stderr
    )
    assert run("plan", "--out", "fresh.json").exit_code == 0
    fresh = run("apply", "fresh.json")
    assert fresh.exit_code == 0, fresh.output
    assert run("plan", "--detailed-exitcode").exit_code == 0
    # A live change to an object the plan touches also makes it stale.
    edit(example / "campaigns.yaml", 'daily_budget: "70.00 USD"', 'daily_budget: "80.00 USD"')
    run("plan", "--out", "later.json")
    change_live_daily_budget(example, 100)
    refused = run("apply", "later.json")
    assert refused.exit_code == 1
    assert "campaign.winter-sale before.daily_budget: the plan has 7000, now 100" in refused.stderr
    # A JSON file that is not a plan is not taken for one (nor for a manifest that is a plan).
    assert (
        "is not a valid YAML" in run("apply", str(REPO / "schemas" / "plan.schema.json")).stderr
        or run("apply", str(REPO / "schemas" / "plan.schema.json")).exit_code == 1
    )


def test_apply_asks_and_refuses_without_a_terminal(example):
    refused = run("apply")
    assert refused.exit_code == 1
    assert "apply needs --auto-approve when it cannot ask" in refused.stderr
    assert campaign_rows(example) == []


def test_markdown_stays_under_the_comment_limit(example):
    text = "campaigns:\n" + "".join(
        f"  c{n}:\n    name: Campaign {n} with a long enough name\n    daily_budget: {500 + n}\n" for n in range(3000)
    )
    (example / "campaigns.yaml").write_text(text)
    (example / "sends.yaml").unlink()
    markdown = run("plan", "--format", "markdown")
    assert markdown.exit_code == 0, markdown.output
    assert len(markdown.stdout) < 65_000
    assert markdown.stdout.startswith("### mmctl plan for `act_100000000000001`\n\n**Plan: 3004 to create")
    assert "more resources: `mmctl plan --format json`" in markdown.stdout
    assert "  Total: 0.00 USD → " in markdown.stdout  # the money totals always fit


def test_import_and_state_commands(example):
    run("apply", "--auto-approve")
    listed = run("state", "list")
    assert "campaign.winter-sale\t" in listed.stdout and "\tprotected" in listed.stdout
    ident = json.loads(run("state", "show", "campaign.spring-launch").stdout)["ids"]["id"]
    removed = run("state", "rm", "campaign.spring-launch")
    assert removed.exit_code == 0 and "the live object was not touched" in removed.stdout
    adopted = run("plan")
    assert "campaign.spring-launch  (adopt: a live campaign with this name already exists" in adopted.stdout
    imported = run("import", "campaign.spring-launch", ident)
    assert imported.exit_code == 0, imported.output
    assert run("plan", "--detailed-exitcode").exit_code == 0
    again = run("import", "campaign.spring-launch", ident)
    assert again.exit_code == 1 and "already managed" in again.stderr
    assert "not declared in the manifests" in run("import", "campaign.nope", "1").stderr


def test_a_campaign_is_imported_by_its_campaign_or_ad_set_id_too(example):
    run("apply", "--auto-approve")
    message = json.loads(run("state", "show", "campaign.spring-launch").stdout)["ids"]["id"]
    ad = sandbox_of(example).store.world.objects[message]
    for other in (ad["campaign_id"], ad["adset_id"]):
        run("state", "rm", "campaign.spring-launch")
        imported = run("import", "campaign.spring-launch", other)
        assert imported.exit_code == 0, imported.output
        assert f"Imported campaign.spring-launch (id {message}, found through {other})." in imported.stdout
        assert json.loads(run("state", "show", "campaign.spring-launch").stdout)["ids"]["id"] == message
        assert run("plan", "--detailed-exitcode").exit_code == 0
    run("state", "rm", "campaign.winter-sale")
    again = run("import", "campaign.winter-sale", ad["adset_id"])
    assert again.exit_code == 1
    assert (
        f"object {ad['adset_id']} is the campaign {message}, already managed as campaign.spring-launch" in again.stderr
    )
    creative = run("import", "campaign.winter-sale", ad["creative_id"])
    assert creative.exit_code == 1
    assert "is not a marketing-message campaign of act_100000000000001, nor an object behind one" in creative.stderr


def test_refresh_only_records_drift_in_state_and_changes_nothing(example):
    run("apply", "--auto-approve")
    adset = change_live_daily_budget(example, 9900)
    refresh = run("plan", "--refresh-only", "--out", "refresh.json", "--detailed-exitcode")
    assert refresh.exit_code == 2
    assert "Refresh only: 1 resource(s) changed outside mmctl" in refresh.stdout
    applied = run("apply", "refresh.json")
    assert applied.exit_code == 0, applied.output
    state = stored_state(example)
    assert state["resources"]["campaign.winter-sale"]["applied"]["daily_budget"] == 9900
    assert sandbox_of(example).store.world.objects[adset]["daily_budget"] == 9900  # untouched
    # No more drift; the manifest (5000) now differs from what was last seen, an intended change.
    out = run("plan").stdout
    assert "drift" not in out and "daily_budget: 99.00 USD → 50.00 USD" in out


def test_one_failed_action_keeps_the_others(example):
    # Only the API knows which pixels the account may use: the plan cannot catch this one.
    with httpx.Client(transport=SandboxTransport(sandbox_of(example)), base_url="http://sandbox") as control:
        control.post("/__sandbox/accounts/act_100000000000001", json={"pixels": ["300000000000001"]})
    edit(example / "campaigns.yaml", "lifetime_budget: 30000", 'lifetime_budget: 30000\n    pixel_id: "399"')
    result = run("apply", "--auto-approve")
    assert result.exit_code == 1
    assert "Apply incomplete: 5 resource(s) changed, 1 failed:" in result.stderr
    # Meta's title, its message for people and its message for developers all reach the user.
    assert (
        "campaign.spring-launch: create failed: POST act_100000000000001/message_campaign: Invalid pixel: The "
        "pixel must be active and accessible by the ad account or business. [(#100) Pixel 399 is not active or "
        "not accessible by this ad account] (HTTP 400, code 100, fbtrace_id "
    ) in result.stderr
    assert "What succeeded is recorded in state" in result.stderr
    state = stored_state(example)
    assert sorted(state["resources"]) == [
        "audience.vip",
        "campaign.winter-sale",
        "template.spring-preview",
        "template.winter-carousel",
        "unsubscribe.page",
    ]
    assert state["pending"] == []
    edit(example / "campaigns.yaml", 'pixel_id: "399"', 'pixel_id: "300000000000001"')
    assert run("apply", "--auto-approve").exit_code == 0
    assert run("plan", "--detailed-exitcode").exit_code == 0


def test_a_first_plan_cannot_be_applied_twice(example):
    """Terraform #24078: a plan saved from empty state applied twice duplicated everything."""
    assert run("plan", "--out", "first.json").exit_code == 0
    assert run("apply", "first.json").exit_code == 0
    again = run("apply", "first.json")
    assert again.exit_code == 1
    assert (
        "campaign.winter-sale: the plan would create it (campaign); apply would now leave it as it is "
        "(campaign: up to date)"
    ) in again.stderr
    assert len(campaign_rows(example)) == 2


def test_a_first_plan_applied_on_a_fresh_machine_creates_nothing_twice(example):
    """A CI retry with no state: the adoption-by-name safety net holds on the saved-plan path too."""
    assert run("plan", "--out", "first.json").exit_code == 0
    assert run("apply", "first.json").exit_code == 0
    (example / ".mmctl" / "state.db").unlink()  # the retry's machine has the sandbox (the account), no state
    retry = run("apply", "first.json")
    assert retry.exit_code == 1
    assert (
        "campaign.winter-sale: the plan would create it (campaign); apply would now adopt it (campaign: a live "
        "campaign with this name already exists; adopting it instead of creating another)"
    ) in retry.stderr
    assert len(campaign_rows(example)) == 2


def test_max_wait_takes_a_duration(example):
    refused = run("plan", "--max-wait", "soon")
    assert refused.exit_code == 1
    assert (
        "Invalid value for '--max-wait': 'soon' is not a duration; expected e.g. 90s, 15m, 2h or 1h30m"
        in refused.stderr
    )
    assert run("plan", "--max-wait", "2h").exit_code == 0
