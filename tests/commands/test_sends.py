"""Sends end to end on the examples, through the CLI, against the in-process sandbox: a send waits
for its campaign, plans with its recipients and cost, is delivered once each, shows in
``send status``, and the next apply sends nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.sandbox import Sandbox, SandboxConfig


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def world(root: Path) -> Any:
    return Sandbox(SandboxConfig(), root / ".mmctl" / "sandbox.json").store.world


def winter_ad(root: Path) -> dict[str, Any]:
    return next(o for o in world(root).objects.values() if o["type"] == "ad" and o["name"].startswith("Winter"))


def audience_tokens(root: Path) -> set[str]:
    return {t["id"] for t in world(root).tokens.values() if t["audiences"] and not t["unsubscribed"]}


def test_a_send_waits_for_its_campaign_then_goes_to_each_subscriber_once(example):
    first = run("apply", "--auto-approve")
    assert first.exit_code == 0, first.output
    assert "Plan: 6 to create, 0 to update, 0 to replace, 0 to delete, 0 to adopt, 2 waiting." in first.stdout
    assert ".. send.winter-first-wave  (wait: audience.vip is created by this apply" in first.stdout
    # Waiting is not a pending change: apply could do nothing now.
    waiting = run("plan", "--detailed-exitcode")
    assert waiting.exit_code == 0, waiting.output
    assert "(wait: can start at " in waiting.stdout and "Meta's 1-hour warm-up" in waiting.stdout
    assert "send.spring-teaser  (wait: cannot start: campaign.spring-launch is PAUSED" in waiting.stdout
    assert waiting.stdout.endswith("No changes. The account matches the manifests.\n")

    assert run("sandbox", "clock", "--advance", "61m").exit_code == 0
    subscribers = audience_tokens(example)
    n = len(subscribers)
    assert n >= 100  # the example's 260 people at the sandbox's 60% match rate
    planned = run("plan", "--detailed-exitcode")
    assert planned.exit_code == 2, planned.output
    assert f">> send.winter-first-wave  (send: a new send: {n} recipient(s) now)" in planned.stdout
    assert f"        recipients: {n}\n        to send: {n}\n        estimated cost: " in planned.stdout
    assert f"  send.winter-first-wave: {n} message(s), estimated " in planned.stdout
    assert "1 to send, 1 waiting." in planned.stdout
    as_json = json.loads(run("plan", "--format", "json").stdout)
    (action,) = [a for a in as_json["actions"] if a["address"] == "send.winter-first-wave"]
    assert action["action"] == "send" and action["kind"] == "send" and action["after"]["recipients"] == n
    assert as_json["summary"]["send"] == 1 and as_json["summary"]["wait"] == 1
    assert "| `>>` | `send.winter-first-wave` | send |" in run("plan", "--format", "markdown").stdout

    sent = run("apply", "--auto-approve")
    assert sent.exit_code == 0, sent.output
    assert f"send.winter-first-wave: started: {n} recipients frozen in the journal" in sent.stderr
    assert f"send.winter-first-wave: done: {n} sent" in sent.stderr
    assert winter_ad(example)["delivered"] == dict.fromkeys(subscribers, 1)

    status = run("send", "status")
    assert status.exit_code == 0 and "unsubscribe.page" not in status.stdout
    assert "send.winter-first-wave  (campaign.winter-sale, template.winter-carousel, started " in status.stdout
    assert f"  recipients: {n}\n  sent: {n}\n  skipped: 0" in status.stdout
    shown = json.loads(run("send", "status", "winter-first-wave", "--format", "json").stdout)["sends"]
    assert [(s["address"], s["counts"]["sent"], s["recipients"]) for s in shown] == [("send.winter-first-wave", n, n)]

    again = run("apply", "--auto-approve")
    assert again.exit_code == 0 and "No changes" in again.stdout
    assert winter_ad(example)["delivered"] == dict.fromkeys(subscribers, 1)
    assert run("plan", "--detailed-exitcode").exit_code == 0


def test_a_started_send_cannot_change_and_a_removed_one_keeps_its_journal(example):
    assert run("apply", "--auto-approve").exit_code == 0
    run("sandbox", "clock", "--advance", "2h")
    assert run("apply", "--auto-approve").exit_code == 0
    edit(example / "templates.yaml", "our winter sale starts today!", "our winter sale ends soon!")
    refused = run("plan")
    assert refused.exit_code == 1
    assert "send.winter-first-wave has started" in refused.stderr
    assert (
        "template (its message changed) differ from what it was started with. Declare a new send under another name"
    ) in refused.stderr
    edit(example / "templates.yaml", "our winter sale ends soon!", "our winter sale starts today!")
    # Removed from the manifests (with the campaign's defaults, which nothing would use): forgotten, journal kept.
    text = (example / "sends.yaml").read_text()
    (example / "sends.yaml").write_text(
        text[: text.index("  winter-first-wave:")] + text[text.index("  spring-teaser:") :]
    )
    unused = run("plan")
    assert unused.exit_code == 1 and "campaigns.winter-sale.template: template is the default" in unused.stderr
    edit(
        example / "campaigns.yaml",
        "    template: winter-carousel       # the defaults for this campaign's sends (sends.yaml)\n    audience: vip\n",
        "",
    )
    forgotten = run("apply", "--auto-approve")
    assert forgotten.exit_code == 0, forgotten.output
    assert (
        "x send.winter-first-wave  (forget: removed from the manifests; sends live only in state)" in forgotten.stdout
    )
    status = run("send", "status", "winter-first-wave")
    assert "removed from the manifests; journal kept" in status.stdout and "sent: " in status.stdout


def test_the_recipient_guardrail_fails_the_plan(example):
    assert run("apply", "--auto-approve").exit_code == 0
    run("sandbox", "clock", "--advance", "2h")
    edit(
        example / "mmctl.yaml",
        "  timezone: America/New_York\n",
        "  timezone: America/New_York\n  max_send_recipients: 10\n",
    )
    refused = run("plan")
    assert refused.exit_code == 1
    assert "send.spring-teaser would go to " in refused.stderr
    assert "recipients, above provider.max_send_recipients (10)" in refused.stderr


def test_a_second_send_waits_out_the_cooldown_then_meets_the_frequency_cap(example):
    assert run("apply", "--auto-approve").exit_code == 0
    run("sandbox", "clock", "--advance", "2h")
    assert run("apply", "--auto-approve").exit_code == 0
    n = len(audience_tokens(example))
    with (example / "sends.yaml").open("a") as handle:
        handle.write("  winter-second-wave:\n    campaign: winter-sale\n")
    cooling = run("plan", "--detailed-exitcode")
    assert cooling.exit_code == 0, cooling.output
    assert "send.winter-second-wave  (wait: can start at " in cooling.stdout
    assert "every recipient left is inside the 12-hour cooldown" in cooling.stdout
    assert f"cooldown: {n} inside Meta's 12-hour cooldown" in cooling.stdout
    run("sandbox", "clock", "--advance", "13h")
    # Nobody had an organic thread with the Page since the first wave: Meta's weekly cap blocks them all.
    capped = run("apply", "--auto-approve")
    assert capped.exit_code == 0, capped.output
    assert f"send.winter-second-wave: done: {n} skipped" in capped.stderr
    status = run("send", "status", "winter-second-wave").stdout
    assert f"  skipped: {n}\n      {n}  WEEKLY_MM_LOAD_CAP_REACHED: weekly frequency cap reached" in status
    assert max(winter_ad(example)["delivered"].values()) == 1


def test_unsubscribes_are_journaled_once_and_never_sent_to(example):
    first = run("apply", "--auto-approve")
    assert first.exit_code == 0, first.output
    assert "+ unsubscribe.page  (create: 3 people to unsubscribe from the Page's marketing messages)" in first.stdout
    assert "removing someone from an audience does not unsubscribe them" in first.stdout
    assert "unsubscribe.page: 3 people unsubscribed at the Page level" in first.stderr
    gone = {t["id"] for t in world(example).tokens.values() if t["unsubscribed"]}
    assert len(gone) == 3  # the three fictional people of data/optouts.csv are matched subscribers
    assert run("plan", "--detailed-exitcode").exit_code == 0  # each is journaled once
    # One more, by subscription token: a subscriber of the audience whom the first wave would reach.
    keep_out = sorted(audience_tokens(example))[0]
    (example / "data" / "token-optouts.csv").write_text(f"subscription_token\n{keep_out}\n")
    edit(example / "unsubscribes.yaml", "file: data/optouts.csv", "file: data/token-optouts.csv")
    run("sandbox", "clock", "--advance", "2h")
    planned = run("plan")
    assert "~ unsubscribe.page  (update: 1 people to unsubscribe" in planned.stdout
    assert "unsubscribed: 1 left out (the unsubscribes file)" in planned.stdout
    assert run("apply", "--auto-approve").exit_code == 0
    assert keep_out not in winter_ad(example)["delivered"]
    assert set(winter_ad(example)["delivered"]).isdisjoint(gone)
    # No raw email of the file reaches the state, the journal or a plan.
    raw = b"".join(p.read_bytes() for p in (example / ".mmctl").glob("state.db*"))
    assert b"@example.com" not in raw and b"cyrus" not in raw and b"555-0105" not in raw
    assert "@example.com" not in run("plan", "--format", "json").stdout


def test_a_saved_plan_is_stale_when_the_recipients_changed(example):
    assert run("apply", "--auto-approve").exit_code == 0
    run("sandbox", "clock", "--advance", "2h")
    assert run("plan", "--out", "reviewed.plan").exit_code == 0
    # Someone unsubscribes in Messenger after the review: the reviewed recipients are not those of now.
    sandbox = Sandbox(SandboxConfig(), example / ".mmctl" / "sandbox.json")
    with sandbox.store.transaction() as data:
        token = sorted(t for t in data.tokens if data.tokens[t]["audiences"] and not data.tokens[t]["unsubscribed"])[0]
        data.tokens[token]["unsubscribed"] = True
        data.touch()
    stale = run("apply", "reviewed.plan")
    assert stale.exit_code == 1 and "the saved plan is stale" in stale.stderr
    assert "send.winter-first-wave after.recipients" in stale.stderr
    assert "delivered" not in winter_ad(example)


def test_a_budget_stops_the_send_the_next_day_resumes_it_and_old_unknowns_are_reported(example):
    from helpers import store_of

    from reconciler.clock import utc_text
    from reconciler.state.model import JournalRow

    edit(example / "campaigns.yaml", 'daily_budget: "50.00 USD"', 'daily_budget: "1.00 USD"')
    assert run("apply", "--auto-approve").exit_code == 0
    run("sandbox", "clock", "--set", "2027-01-04T15:00:00Z")  # a Monday, 10:00 in New York
    n = len(audience_tokens(example))
    planned = run("plan")
    assert (
        "campaign.winter-sale may spend at most 1.75 USD a day (175% of the daily budget): Meta stops" in planned.stdout
    )
    stopped = run("apply", "--auto-approve")
    assert stopped.exit_code == 1
    assert "send.winter-first-wave: stopped: the campaign's daily budget is reached (code 2300070)." in stopped.stderr
    assert (
        "The recipients left stay pending: the next apply after 2027-01-05T0" in stopped.stderr
    )  # midnight, Los Angeles
    sent_today = len(winter_ad(example)["delivered"])
    assert 0 < sent_today < n
    # Five of those left were in flight when an apply died 13 hours ago: nothing can tell any more.
    store = store_of(example)
    left = [r.recipient for r in store.journal("send.winter-first-wave") if r.status == "pending"][:5]
    old = utc_text(world(example).now() - 13 * 3600)
    store.journal_mark("send.winter-first-wave", [JournalRow(t, "intent", None, None, old) for t in left])
    store.close()
    run("sandbox", "clock", "--set", "2027-01-05T15:00:00Z")
    resumed = run("apply", "--auto-approve")
    assert resumed.exit_code == 1
    assert "5 recipient(s) have an unknown outcome and are not sent again (mmctl send status winter-first-wave)" in (
        resumed.stderr
    )
    delivered = winter_ad(example)["delivered"]
    assert len(delivered) == n - 5 and max(delivered.values()) == 1 and not set(left) & set(delivered)
    status = run("send", "status", "winter-first-wave").stdout
    assert "  unknown: 5\n      5  outcome unknown: its call at " in status
    assert "unknown outcomes are never sent again by mmctl" in status
    assert run("plan", "--detailed-exitcode").exit_code == 0  # finished: nothing left that apply could do


def test_the_token_listings_rate_limit_stops_the_plan_saying_when_it_returns(example, serve):
    import shutil

    sandbox = serve(token_query_quota=1)
    env = {"MMCTL_GRAPH_URL": sandbox.url, "META_ACCESS_TOKEN": "rate-limit-test-token-01"}

    def served(*args: str):
        return CliRunner().invoke(cli, list(args), env=env)

    shutil.rmtree(example / ".mmctl", ignore_errors=True)
    assert served("apply", "--auto-approve").exit_code == 0
    sandbox.advance(2 * 3600)
    assert served("plan", "--detailed-exitcode").exit_code == 2  # the one listing of the hour (both sends share it)
    limited = served("plan")
    assert limited.exit_code == 1
    assert "Subscription Tokens API rate limit reached" in limited.stderr
    assert "Access returns at about " in limited.stderr and "Traceback" not in limited.output
