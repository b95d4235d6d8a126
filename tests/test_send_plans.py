"""A send's plan (``core.sends``, pure) and its manifest checks."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from reconciler.core.plan import Action
from reconciler.core.sends import CampaignFacts, Recipients, plan_send, readiness
from reconciler.errors import ManifestErrors, PlanError
from reconciler.kinds.send import SPEC
from reconciler.resources import Desired, Kind, Op

NOW = 1_800_000_000
LIVE = CampaignFacts("campaign.c", "120", "ACTIVE", created=NOW - 7200, daily_budget=5000)
TOKENS = Recipients(frozenset(f"t{i}" for i in range(10)), {})
VALUES = {
    "campaign": "campaign.c",
    "template": "template.t",
    "digest": "d1",
    "message": {"text": "hi"},
    "audiences": ("audience.a",),
    "exclude": (),
    "not_before": None,
    "min_conversation_gap_seconds": None,
}


def new_send(**values: object) -> Action:
    return Action("send.s", Kind.SEND, Op.SEND, "a new send", after=MappingProxyType({**VALUES, **values}))


def planned(action: Action | None = None, **options: object) -> Action:
    given: dict[str, object] = {
        "campaign": LIVE,
        "recipients": TOKENS,
        "journal": {},
        "recently_sent": {},
        "now": NOW,
        "price": (2, 3),
        "currency": "USD",
        "max_recipients": None,
    }
    given.update(options)
    return plan_send(action or new_send(), **given)  # type: ignore[arg-type]


def lines(action: Action) -> list[str]:
    return [f"{c.path}: {c.after}" for c in action.changes]


def test_a_new_send_counts_its_recipients_and_their_cost():
    made = planned()
    assert (made.action, made.reason) == (Op.SEND, "a new send: 10 recipient(s) now")
    assert lines(made) == ["recipients: 10", "to send: 10", "estimated cost: 0.20-0.30 USD"]
    assert made.after["recipients"] == 10 and made.after["estimate"] == [20, 30]
    assert made.after["recipients_digest"]  # a saved plan with other recipients is stale


def test_recipients_inside_the_cooldown_are_held_and_only_they_make_it_wait():
    recent = {"t0": NOW - 3600, "t1": NOW - 13 * 3600}  # mmctl sent t0 an hour ago, t1 13 hours ago
    eligible = Recipients(TOKENS.tokens, {"t2": NOW + 600})  # Meta holds t2 for 10 more minutes
    made = planned(recently_sent=recent, recipients=eligible)
    assert made.action == Op.SEND
    assert "to send: 8" in lines(made)
    assert "cooldown: 2 inside Meta's 12-hour cooldown (until 2027-01-15T19:00:00Z)" in lines(made)
    everyone = {f"t{i}": NOW - 3600 for i in range(10)}
    waiting = planned(recently_sent=everyone)
    assert waiting.action == Op.WAIT and not waiting.mutates
    assert waiting.reason.startswith("can start at 2027-01-15T19:00:00Z: every recipient left is inside the 12-hour")


def test_a_started_send_plans_over_its_journal_and_finishes_as_no_change():
    journal = {"t0": "sent", "t1": "skipped", "t2": "intent", "t3": "pending"}
    resumed = planned(journal=journal)
    assert resumed.action == Op.SEND and resumed.reason == "resuming: 2 recipient(s) now"
    assert "journal: 1 sent, 1 skipped" in lines(resumed)
    assert any(line.startswith("unknown outcome: 1 (an apply stopped during their call") for line in lines(resumed))
    assert "not included: 6 subscribed since the send started (declare a new send)" in lines(resumed)
    done = planned(journal={"t0": "sent", "t1": "skipped", "t2": "unknown"})
    assert (done.action, done.reason, done.changes) == (Op.NOOP, "finished: 1 sent, 1 skipped, 1 unknown", ())


@pytest.mark.parametrize(
    ("campaign", "not_before", "reason"),
    [
        (CampaignFacts("campaign.c", None, "ACTIVE"), None, "campaign.c is created by this apply"),
        (CampaignFacts("campaign.c", "120", "PAUSED"), None, "campaign.c is PAUSED; set status: ACTIVE and apply"),
        (CampaignFacts("campaign.c", "120", "ACTIVE", created=NOW - 60), None, "Meta's 1-hour warm-up"),
        (CampaignFacts("campaign.c", "120", "ACTIVE", start=NOW + 86400), None, "the campaign's start_time"),
        (CampaignFacts("campaign.c", "120", "ACTIVE", end=NOW - 1), None, "campaign.c ended at"),
        (LIVE, NOW + 60, "not_before"),
    ],
)
def test_a_send_waits_for_what_stops_its_campaign(campaign, not_before, reason):
    made = planned(new_send(not_before=not_before), campaign=campaign)
    assert made.action == Op.WAIT and reason in made.reason
    assert readiness(campaign, not_before, NOW) is not None


def test_the_guardrail_and_the_budget_note():
    with pytest.raises(PlanError, match=r"send.s would go to 10 recipients, above provider.max_send_recipients \(5\)"):
        planned(max_recipients=5)
    small = CampaignFacts("campaign.c", "120", "ACTIVE", created=NOW - 7200, daily_budget=10)
    (note,) = planned(campaign=small).notes
    assert note.startswith(
        "campaign.c may spend at most 0.17 USD a day (175% of the daily budget): Meta stops the send"
    )


def test_a_started_send_is_immutable():
    want = Desired("send.s", Kind.SEND, MappingProxyType(VALUES), frozenset())
    started = {**VALUES, "recipients": 10, "started": "2027-01-15T08:00:00Z"}
    assert SPEC.state_plan(want, started)[:2] == (Op.SEND, "resuming")
    other = Desired("send.s", Kind.SEND, MappingProxyType({**VALUES, "audiences": ("audience.b",)}), frozenset())
    with pytest.raises(PlanError, match="has started .10 recipients, since 2027-01-15T08:00:00Z. and a send cannot"):
        SPEC.state_plan(other, started)
    edited = Desired("send.s", Kind.SEND, MappingProxyType({**VALUES, "digest": "d2"}), frozenset())
    with pytest.raises(PlanError, match=r"template \(its message changed\) differ"):
        SPEC.state_plan(edited, started)


SENDS = """
templates:
  t: {message: {text: hi}}
audiences:
  a: {name: A}
  b: {name: B}
campaigns:
  c: {name: C, template: t, audience: a}
  bare: {name: Bare}
sends:
"""


@pytest.mark.parametrize(
    ("sends", "errors"),
    [
        ("  s: {campaign: c}\n", []),
        ("  s: {campaign: cc}\n", ['sends.s.campaign: no campaign named "cc" (did you mean "c"?)']),
        (
            "  s: {campaign: bare}\n  s2: {campaign: c}\n",
            [
                'sends.s: no audience: write audience: on the send, or give campaign "bare"',
                'sends.s: no template: write template: on the send, or give campaign "bare"',
            ],
        ),
        (
            "  s: {campaign: c, audience: [a, zz]}\n  s2: {campaign: c}\n",
            ['sends.s.audience[1]: no audience named "zz"'],
        ),
        ("  s: {campaign: c, exclude: a}\n", ['sends.s.exclude: audience "a" is both sent to and excluded']),
        ("  s: {campaign: c, not_before: yesterday}\n", ["sends.s.not_before: "]),
        (
            "  s: {campaign: c, template: t, audience: b}\n",
            [
                "campaigns.c.audience: audience is the default for this campaign's sends, and every send of it sets "
                "its own audience, so it does nothing",
                "campaigns.c.template: template is the default",
            ],
        ),
    ],
)
def test_send_references_and_campaign_defaults_are_checked(with_provider, sends, errors):
    with_provider.write("m.yaml", SENDS + sends)
    if not errors:
        project = with_provider.load()
        assert project.sends["s"].audiences == ("a",) and project.sends["s"].template == "t"
        return
    with pytest.raises(ManifestErrors) as caught:
        with_provider.load()
    found = [str(e).partition(": ")[2] for e in caught.value.errors]
    assert len(found) == len(errors), found
    for wanted, got in zip(sorted(errors), sorted(found)):
        assert got.startswith(wanted), (wanted, got)


def test_a_send_with_no_subscriber_yet_waits_instead_of_finishing():
    nobody = planned(recipients=Recipients(frozenset(), {}))
    assert nobody.action == Op.WAIT
    assert nobody.reason.startswith("cannot start: no subscriber of its audiences yet: Meta matches an upload")
    paused = planned(recipients=Recipients(frozenset(), {}), campaign=CampaignFacts("campaign.c", "120", "PAUSED"))
    assert paused.reason == "cannot start: campaign.c is PAUSED; set status: ACTIVE and apply"
