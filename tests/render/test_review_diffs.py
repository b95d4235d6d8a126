"""What a reviewer reads in a plan (render/plan.py): template changes as a YAML diff, times in the
manifest's time zone as written, counts with thousands separators; the same in the Markdown comment,
where GitHub colours the diff lines."""

from __future__ import annotations

from reconciler.core.plan import Action, Plan
from reconciler.render.plan import plan_from_json, plan_json, plan_markdown, plan_text
from reconciler.resources import Change, Kind, Op

TEMPLATE = Action(
    "template.winter",
    Kind.TEMPLATE,
    Op.UPDATE,
    "the message changed",
    changes=(
        Change(
            "message.attachment.payload.elements[1].buttons[1]",
            {"type": "postback", "title": "Not now", "payload": "WINTER_NOT_NOW"},
            None,
        ),
        Change("message.attachment.payload.elements[0].title", "Warm coats, 30% off", "Warm coats, 40% off"),
        Change("message.quick_replies[2]", None, {"content_type": "text", "title": "Later"}),
    ),
)
CAMPAIGN = Action(
    "campaign.winter-sale",
    Kind.CAMPAIGN,
    Op.UPDATE,
    "the manifest changed",
    changes=(
        Change("daily_budget", 5000, 500000),
        Change("end_time", 1_829_710_740, 1_829_365_140),  # 2027-12-24T23:59 and 12-20T23:59, New York
    ),
)
AUDIENCE = Action(
    "audience.vip",
    Kind.AUDIENCE,
    Op.UPDATE,
    "the member file changed",
    changes=(Change("members", {"count": 1_204_311}, {"add": 12_001, "remove": 3, "count": 1_216_309}),),
)


def plan(zone: str = "America/New_York") -> Plan:
    return Plan("act_1", "sandbox", "USD", (TEMPLATE, CAMPAIGN, AUDIENCE), timezone=zone)


def test_the_text_plan_shows_the_template_diff_times_in_the_zone_and_grouped_counts():
    assert plan_text(plan()).split("\n")[3:-2] == [
        "mmctl will:",
        "  ~ template.winter  (update: the message changed)",
        "        message.attachment.payload.elements[1].buttons:",
        "      -   - type: postback  # [1]",
        "      -     title: Not now",
        "      -     payload: WINTER_NOT_NOW",
        "        message.attachment.payload.elements[0]:",
        "      -   title: Warm coats, 30% off",
        "      +   title: Warm coats, 40% off",
        "        message.quick_replies:",
        "      +   - content_type: text  # [2]",
        "      +     title: Later",
        "  ~ campaign.winter-sale  (update: the manifest changed)",
        "        daily_budget: 50.00 USD → 5,000.00 USD",
        "        end_time: 2027-12-24T23:59:00-05:00 → 2027-12-20T23:59:00-05:00",
        "  ~ audience.vip  (update: the member file changed)",
        "        members: +12,001 / -3 members (1,204,311 → 1,216,309)",
    ]


def test_times_are_utc_when_the_zone_is():
    assert "end_time: 2027-12-25T04:59:00Z → 2027-12-21T04:59:00Z" in plan_text(plan("UTC"))


def test_the_zone_survives_a_saved_plan():
    again = plan_from_json(plan_json(plan("Europe/Berlin")))
    assert again.timezone == "Europe/Berlin"
    assert "end_time: 2027-12-25T05:59:00+01:00 → 2027-12-21T05:59:00+01:00" in plan_text(again)


def test_the_markdown_diff_puts_each_marker_first_for_github_to_colour():
    text = plan_markdown(plan())
    block = text[text.index("<code>template.winter</code>") :]
    start = block.index("```diff\n") + 8
    block = block[start : block.index("\n```", start)]
    assert block.split("\n") == [
        "~ template.winter  (update: the message changed)",
        "      message.attachment.payload.elements[1].buttons:",
        "-       - type: postback  # [1]",
        "-         title: Not now",
        "-         payload: WINTER_NOT_NOW",
        "      message.attachment.payload.elements[0]:",
        "-       title: Warm coats, 30% off",
        "+       title: Warm coats, 40% off",
        "      message.quick_replies:",
        "+       - content_type: text  # [2]",
        "+         title: Later",
    ]
