"""Saved plans: recognised by content, sealed with a digest, signed with MMCTL_PLAN_KEY, and applied
only when the plan made at apply time does exactly what the saved one says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_plan_apply_cli import campaign_rows, edit

from reconciler import planfile
from reconciler.cli import cli
from reconciler.planfile import PlanFileError

KEY = "k" * 32


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env=env)


def forge(path: Path, change, key: str | None = None) -> None:
    """Edit a saved plan as an attacker would, and re-seal it so that its digest matches again."""
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(planfile.seal(data, key), indent=2))


def action(data: dict, address: str) -> dict:
    return next(a for a in data["actions"] if a["address"] == address)


# --- the file ---------------------------------------------------------------------------------------


def test_seal_and_verify_roundtrip():
    sealed = planfile.seal({"kind": "mmctl-plan", "actions": [1, 2]}, None)
    assert sealed["integrity"]["digest"].startswith("sha256:") and sealed["integrity"]["signature"] is None
    assert planfile.verify(sealed, None, "p") is False
    signed = planfile.seal({"kind": "mmctl-plan", "actions": [1, 2]}, KEY)
    assert planfile.verify(signed, KEY, "p") is True
    with pytest.raises(PlanFileError, match="was changed after it was saved"):
        planfile.verify({**signed, "actions": [1, 3]}, KEY, "p")
    with pytest.raises(PlanFileError, match="signature does not match"):
        planfile.verify(signed, "x" * 32, "p")
    with pytest.raises(PlanFileError, match="the plan is not signed"):
        planfile.verify(sealed, KEY, "p")
    with pytest.raises(PlanFileError, match="the plan is signed, but MMCTL_PLAN_KEY is not set here"):
        planfile.verify(signed, None, "p")
    with pytest.raises(PlanFileError, match="has no digest"):
        planfile.verify({"kind": "mmctl-plan"}, None, "p")
    with pytest.raises(PlanFileError, match="shorter than 16 bytes"):
        planfile.plan_key({"MMCTL_PLAN_KEY": "short"})


def test_recognised_by_content_not_by_name(tmp_path):
    plan = tmp_path / "tfplan"
    plan.write_text(json.dumps(planfile.seal({"kind": "mmctl-plan"}, None), indent=2))
    manifest = tmp_path / "plan.json"
    manifest.write_text('{"campaigns": {"a": {"name": "mmctl-plan"}}}\n' + " " * 300)
    yaml_manifest = tmp_path / "reviewed.plan"
    yaml_manifest.write_text("kind: mmctl-plan\n")
    assert planfile.looks_like_plan(plan)
    assert not planfile.looks_like_plan(yaml_manifest)
    assert not planfile.looks_like_plan(tmp_path)  # a folder
    with pytest.raises(PlanFileError, match="not a saved mmctl plan"):
        planfile.read_document(manifest, "plan.json")


@pytest.mark.parametrize("name", ["plan.out", "tfplan", "reviewed.plan", "plan.yaml"])
def test_apply_takes_a_saved_plan_whatever_its_name(example, name):
    assert run("apply", "--auto-approve").exit_code == 0
    edit(example / "campaigns.yaml", 'daily_budget: "50.00 USD"', 'daily_budget: "60.00 USD"')
    saved = run("plan", "--out", name)
    assert saved.exit_code == 0, saved.output
    assert f"Saved the plan to {name}; apply exactly this plan with `mmctl apply {name}`." in saved.stderr
    assert (example / name).stat().st_mode & 0o077 == 0  # only its owner reads it
    # A plan saved among the manifests is not read as one of them.
    assert run("validate").exit_code == 0
    applied = run("apply", name)
    assert applied.exit_code == 0, applied.output
    assert "daily_budget: 50.00 USD → 60.00 USD" in applied.stdout
    assert run("plan", "--detailed-exitcode").exit_code == 0


def test_a_plan_named_on_the_command_line_is_not_a_manifest(example):
    run("plan", "--out", "tfplan")
    refused = run("validate", "tfplan")
    assert refused.exit_code == 1
    assert "tfplan: this is a saved mmctl plan, not a manifest; carry it out with `mmctl apply FILE`" in refused.stderr


# --- hand-edited plans --------------------------------------------------------------------------------


def _saved_budget_change(example: Path) -> Path:
    assert run("apply", "--auto-approve").exit_code == 0
    edit(example / "campaigns.yaml", 'daily_budget: "50.00 USD"', 'daily_budget: "60.00 USD"')
    assert run("plan", "--out", "reviewed.plan").exit_code == 0
    return example / "reviewed.plan"


def _live_daily_budgets(example: Path) -> list[int]:
    from test_plan_apply_cli import sandbox_of

    world = sandbox_of(example).store.world
    return sorted(o["daily_budget"] for o in world.objects.values() if o["type"] == "adset" and o["daily_budget"])


def test_an_edited_plan_without_a_new_digest_is_refused(example):
    path = _saved_budget_change(example)
    path.write_text(path.read_text().replace('"after": 6000', '"after": 600000'))
    refused = run("apply", str(path))
    assert refused.exit_code == 1
    assert "the plan file was changed after it was saved (its digest does not match)" in refused.stderr
    assert _live_daily_budgets(example) == [5000]


@pytest.mark.parametrize(
    ("what", "change", "expected"),
    [
        (
            "a bigger budget in after",
            lambda d: action(d, "campaign.winter-sale")["after"].update(daily_budget=900000),
            "campaign.winter-sale after.daily_budget: the plan has 900000, now 6000",
        ),
        (
            "a bigger budget in the changes",
            lambda d: action(d, "campaign.winter-sale")["changes"][0].update(after=900000),
            "campaign.winter-sale changes: the plan has",
        ),
        (
            "forged ids",
            lambda d: action(d, "campaign.winter-sale")["ids"].update(id="999999999999"),
            'campaign.winter-sale ids.id: the plan has "999999999999", now',
        ),
        (
            "another address's ids",
            lambda d: action(d, "campaign.winter-sale").update(ids=action(d, "campaign.spring-launch")["ids"]),
            "campaign.winter-sale ids.adset: the plan has",
        ),
        (
            "a removed before",
            lambda d: action(d, "campaign.winter-sale").update(before={}),
            "campaign.winter-sale before.daily_budget: the plan has (missing), now 5000",
        ),
        (
            "an added delete",
            lambda d: action(d, "campaign.spring-launch").update(action="delete"),
            "campaign.spring-launch: the plan would delete it (campaign); apply would now leave it as it is",
        ),
        (
            "another account",
            lambda d: d.update(account="act_999"),
            'ad account: the plan is for "act_999", this run is for "act_100000000000001"',
        ),
        (
            "another Page",
            lambda d: d.update(page_id="200000000000009"),
            'Page: the plan is for "200000000000009", this run is for "200000000000001"',
        ),
        (
            "another currency",
            lambda d: d.update(currency="EUR"),
            'currency: the plan is for "EUR", this run is for "USD"',
        ),
    ],
)
def test_a_forged_plan_is_refused_and_nothing_changes(example, what, change, expected):
    path = _saved_budget_change(example)
    forge(path, change)
    refused = run("apply", str(path))
    assert refused.exit_code == 1, what
    assert expected in refused.stderr, refused.stderr
    assert "nothing was changed" in refused.stderr
    assert _live_daily_budgets(example) == [5000]
    assert len(campaign_rows(example)) == 2


def test_apply_shows_what_it_sends_never_the_files_prose(example):
    path = _saved_budget_change(example)
    forge(path, lambda d: action(d, "campaign.winter-sale").update(reason="a harmless typo fix"))
    applied = run("apply", str(path))
    assert applied.exit_code == 0, applied.output
    assert "harmless typo fix" not in applied.output
    assert "~ campaign.winter-sale  (update: the manifest changed)" in applied.stdout


def test_a_plan_for_another_graph_endpoint_is_refused(example, serve):
    path = _saved_budget_change(example)
    served = serve()
    refused = run("apply", str(path), "--graph-url", served.url, env={"META_ACCESS_TOKEN": "t"})
    assert refused.exit_code == 1
    assert f'Graph endpoint: the plan is for "sandbox", this run is for "{served.url}"' in refused.stderr
    assert served.stats()["requests"] == 0  # refused before reading anything


# --- signatures ---------------------------------------------------------------------------------------


def test_with_a_plan_key_only_signed_plans_are_applied(example):
    assert run("apply", "--auto-approve").exit_code == 0
    edit(example / "campaigns.yaml", 'daily_budget: "50.00 USD"', 'daily_budget: "60.00 USD"')
    assert run("plan", "--out", "unsigned.plan").exit_code == 0
    signed = run("plan", "--out", "signed.plan", env={"MMCTL_PLAN_KEY": KEY})
    assert "(signed with MMCTL_PLAN_KEY)" in signed.stderr
    assert KEY not in (example / "signed.plan").read_text() and KEY not in signed.output

    refused = run("apply", "unsigned.plan", env={"MMCTL_PLAN_KEY": KEY})
    assert refused.exit_code == 1 and "the plan is not signed, and MMCTL_PLAN_KEY is set" in refused.stderr
    wrong = run("apply", "signed.plan", env={"MMCTL_PLAN_KEY": "w" * 32})
    assert wrong.exit_code == 1 and "the plan's signature does not match MMCTL_PLAN_KEY" in wrong.stderr
    forge(example / "signed.plan", lambda d: action(d, "campaign.winter-sale")["after"].update(daily_budget=7000))
    swapped = run("apply", "signed.plan", env={"MMCTL_PLAN_KEY": KEY})
    assert swapped.exit_code == 1 and "the plan is not signed" in swapped.stderr
    assert _live_daily_budgets(example) == [5000]

    assert run("plan", "--out", "signed.plan", env={"MMCTL_PLAN_KEY": KEY}).exit_code == 0
    unverifiable = run("apply", "signed.plan")
    assert (
        unverifiable.exit_code == 1 and "the plan is signed, but MMCTL_PLAN_KEY is not set here" in unverifiable.stderr
    )
    applied = run("apply", "signed.plan", env={"MMCTL_PLAN_KEY": KEY})
    assert applied.exit_code == 0, applied.output
    assert _live_daily_budgets(example) == [6000]


def test_the_streamed_digest_is_the_digest_of_the_whole_plan(example):
    """An apply names its plan in the history by a digest made one action at a time; a saved plan's
    digest covers the whole document. Both must be the same number for the same plan."""
    from reconciler.render.plan import plan_digest, plan_from_json

    out = CliRunner().invoke(cli, ["plan", "--format", "json"])
    made = plan_from_json(json.loads(out.stdout))
    from reconciler.render.plan import plan_json

    assert len(made.actions) >= 6 and any(a.before or a.after for a in made.actions)
    assert plan_digest(made) == planfile.digest(plan_json(made))
    head = {"kind": "x", "integrity": {"digest": "ignored"}, "é": [1, {"b": 2, "a": "ü"}]}
    assert planfile.streamed_digest(head, {"list": iter([{"z": 1, "a": [2]}, 3])}) == planfile.digest(
        {**head, "list": [{"z": 1, "a": [2]}, 3]}
    )
