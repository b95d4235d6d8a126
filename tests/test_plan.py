"""The planner, pure: desired values, state and live objects in; actions, changes and drift out."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from reconciler.core.planner import make_plan
from reconciler.errors import PlanError
from reconciler.resources import Desired, LiveObject
from reconciler.state.model import Pending, Resource, State

PAGE = "200000000000001"
NOW = 1_795_000_000


def campaign(
    key: str = "winter", compared: tuple[str, ...] = ("name", "page_id", "daily_budget"), protect=False, **values
) -> Desired:
    base = {
        "name": "Winter Sale",
        "page_id": PAGE,
        "daily_budget": 5000,
        "lifetime_budget": None,
        "status": None,
        "start_time": None,
        "end_time": None,
        "pixel_id": None,
    }
    return Desired(f"campaign.{key}", "campaign", MappingProxyType({**base, **values}), frozenset(compared), protect)


def live(object_id: str = "9", **values) -> LiveObject:
    base = {
        "name": "Winter Sale",
        "page_id": PAGE,
        "daily_budget": 5000,
        "lifetime_budget": None,
        "status": "ACTIVE",
        "start_time": NOW - 100,
        "end_time": NOW + 86400 * 30,
        "pixel_id": None,
    }
    return LiveObject(
        "campaign",
        MappingProxyType({"id": object_id, "campaign": "7", "adset": "8"}),
        MappingProxyType({**base, **values}),
    )


def managed(address: str = "campaign.winter", object_id: str = "9", protect=False, **applied) -> State:
    values = {"name": "Winter Sale", "page_id": PAGE, "daily_budget": 5000, **applied}
    resource = Resource("campaign", MappingProxyType({"id": object_id}), MappingProxyType(values), protect)
    return State(serial=3, lineage="L").with_resource(address, resource)


def plan(desired, state, objects, **options):
    return make_plan(
        {d.address: d for d in desired},
        state,
        objects,
        account="act_1",
        graph="sandbox",
        currency="USD",
        now=NOW,
        **options,
    )


def only(made):
    [action] = [a for a in made.actions]
    return action


def test_nothing_to_do_when_live_matches_what_is_written():
    # end_time and status were filled in by the server; they are not written, so never compared.
    made = plan([campaign()], managed(), [live()])
    assert only(made).action == "no-op" and not made.changes_pending
    assert made.summary == {
        "create": 0,
        "update": 0,
        "replace": 0,
        "delete": 0,
        "adopt": 0,
        "forget": 0,
        "send": 0,
        "wait": 0,
        "no-op": 1,
    }


def test_an_intended_change_is_an_update_with_before_and_after():
    action = only(plan([campaign(daily_budget=6000)], managed(), [live()]))
    assert (action.action, action.reason) == ("update", "the manifest changed")
    assert [(c.path, c.before, c.after) for c in action.changes] == [("daily_budget", 5000, 6000)]
    assert action.ids["adset"] == "8"


def test_changes_outside_mmctl_are_drift_apart_from_intended_changes():
    made = plan([campaign(daily_budget=6000)], managed(), [live(daily_budget=7000, name="Renamed")])
    [drift] = made.drift
    assert [(c.path, c.before, c.after) for c in drift.changes] == [
        ("daily_budget", 5000, 7000),
        ("name", "Winter Sale", "Renamed"),
    ]
    action = only(made)
    assert {c.path: (c.before, c.after) for c in action.changes} == {
        "daily_budget": (7000, 6000),
        "name": ("Renamed", "Winter Sale"),
    }
    restoring = only(plan([campaign()], managed(), [live(daily_budget=7000)]))
    assert restoring.reason == "restoring values changed outside mmctl"


@pytest.mark.parametrize(
    ("desired", "current", "words"),
    [
        (campaign(page_id="200000000000002"), live(), "page_id cannot change in place"),
        (
            campaign(compared=("name", "page_id", "pixel_id"), pixel_id="300"),
            live(pixel_id="301"),
            "pixel_id cannot change",
        ),
        (
            campaign(compared=("name", "page_id", "lifetime_budget"), daily_budget=None, lifetime_budget=90000),
            live(),
            "switching between a daily and a lifetime budget",
        ),
    ],
)
def test_fields_that_cannot_change_in_place_replace(desired, current, words):
    action = only(plan([desired], managed(), [current]))
    assert action.action == "replace" and words in action.reason


def test_a_start_time_that_has_passed_cannot_move():
    desired = campaign(compared=("name", "page_id", "start_time"), start_time=NOW + 3600)
    with pytest.raises(PlanError, match="start_time cannot move: the campaign started at"):
        plan([desired], managed(), [live(start_time=NOW - 100)])
    action = only(plan([desired], managed(), [live(start_time=NOW + 60)]))
    assert action.action == "update"


def test_a_live_object_with_the_same_name_and_page_is_adopted_not_duplicated():
    made = plan([campaign()], State(), [live("5", page_id="999"), live("6")])
    action = only(made)
    assert (action.action, action.ids["id"]) == ("adopt", "6")
    assert "already exists" in action.reason


def test_objects_state_does_not_know_are_never_deleted():
    assert plan([], State(), [live("5"), live("6", name="Other")]).actions == ()


def test_a_removed_resource_is_deleted_unless_protected():
    action = only(plan([], managed(), [live()]))
    assert (action.action, action.ids["id"]) == ("delete", "9")
    with pytest.raises(PlanError, match=r"campaign.winter is protected .* `mmctl state rm campaign.winter`"):
        plan([], managed(protect=True), [live()])
    gone = only(plan([], managed(), []))
    assert gone.action == "forget" and "already gone" in gone.reason


def test_a_resource_deleted_outside_mmctl_is_created_again():
    made = plan([campaign()], managed(), [])
    assert only(made).action == "create" and "deleted outside mmctl" in only(made).reason
    assert made.drift[0].changes[0].after == "deleted outside mmctl"


def test_a_pending_create_is_resolved_by_name():
    state = State(serial=1, lineage="L").with_pending(Pending("p1", "campaign.winter", "create", "t", "Winter Sale"))
    found = only(plan([campaign()], state, [live("6")]))
    assert (found.action, found.resolves) == ("adopt", ("p1",)) and "interrupted apply" in found.reason
    missing = only(plan([campaign()], state, []))
    assert (missing.action, missing.resolves) == ("create", ("p1",))


def test_protect_is_kept_in_state_and_its_change_is_shown():
    action = only(plan([campaign(protect=True)], managed(), [live()]))
    assert [(c.path, c.before, c.after) for c in action.changes] == [("protect", False, True)]


def test_targets():
    desired = [campaign(), campaign("spring", name="Spring")]
    made = plan(desired, State(), [], targets=["campaign.spring"])
    assert [a.address for a in made.actions] == ["campaign.spring"]
    with pytest.raises(PlanError, match="--target campaign.nope: no such resource"):
        plan(desired, State(), [], targets=["campaign.nope"])


def test_deletes_come_first_in_reverse_order_then_creates_by_kind():
    audience = Desired(
        "audience.vip", "audience", MappingProxyType({"name": "VIP", "page_id": PAGE}), frozenset({"name", "page_id"})
    )
    template = Desired(
        "template.t", "template", MappingProxyType({"message": {"text": "x"}, "digest": "d"}), frozenset({"digest"})
    )
    state = managed("campaign.old", "9").with_resource(
        "audience.gone", Resource("audience", MappingProxyType({"id": "4"}), MappingProxyType({"name": "Gone"}))
    )
    objects = [live("9"), LiveObject("audience", MappingProxyType({"id": "4"}), MappingProxyType({"name": "Gone"}))]
    made = plan([campaign(), audience, template], state, objects)
    assert [(a.address, a.action) for a in made.actions] == [
        ("campaign.old", "delete"),
        ("audience.gone", "delete"),
        ("template.t", "create"),
        ("audience.vip", "create"),
        ("campaign.winter", "create"),
    ]


def test_template_changes_name_the_fields_of_the_message():
    before = {
        "attachment": {
            "type": "template",
            "payload": {
                "template_type": "generic",
                "elements": [
                    {"title": "Warm coats, 30% off", "buttons": [{"type": "postback", "title": "No", "payload": "N"}]}
                ],
            },
        }
    }
    after = {
        "attachment": {
            "type": "template",
            "payload": {
                "template_type": "generic",
                "text": "Hi {{first_name}}",
                "elements": [{"title": "Warm coats, 40% off"}],
            },
        }
    }
    recorded = Resource("template", MappingProxyType({}), MappingProxyType({"digest": "old", "message": before}))
    state = State(serial=1, lineage="L").with_resource("template.winter", recorded)
    want = Desired(
        "template.winter", "template", MappingProxyType({"message": after, "digest": "new"}), frozenset({"digest"})
    )
    action = only(plan([want], state, []))
    assert [(c.path, c.before, c.after) for c in action.changes] == [
        (
            "message.attachment.payload.elements[0].buttons",
            before["attachment"]["payload"]["elements"][0]["buttons"],
            None,
        ),
        ("message.attachment.payload.elements[0].title", "Warm coats, 30% off", "Warm coats, 40% off"),
        ("message.attachment.payload.text", None, "Hi {{first_name}}"),
    ]
    created = only(plan([want], State(), []))
    assert created.changes[0].after == "generic template, 1 element, a greeting"


def test_pending_operations_of_removed_resources_are_settled():
    state = managed().with_pending(
        Pending("p1", "campaign.winter", "delete", "t"), Pending("p2", "campaign.gone", "create", "t", "Gone Sale")
    )
    made = plan([], state, [live(), live("6", name="Gone Sale")])
    by_address = {a.address: a for a in made.actions}
    assert by_address["campaign.winter"].action == "delete" and by_address["campaign.winter"].resolves == ("p1",)
    gone = by_address["campaign.gone"]
    assert (gone.action, gone.resolves) == ("forget", ("p2",))
    assert "a live campaign named 'Gone Sale' exists (id 6): import it to manage it" in gone.reason
