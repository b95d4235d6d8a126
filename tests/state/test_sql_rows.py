"""The rows a resource is written as: the history record is put together from the row's encoded
parts, and must be exactly the JSON of the resource (an old record and a new one compare equal)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from reconciler.model import freeze
from reconciler.state.model import Resource
from reconciler.state.sql import _history_record, _resource_row

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text())
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3), max_leaves=8
)
resources = st.builds(
    Resource,
    kind=st.sampled_from(["campaign", "audience", "template", "send"]),
    ids=st.dictionaries(st.text(), st.text(), max_size=3),
    applied=st.dictionaries(st.text(), values, max_size=5).map(freeze),
    protect=st.booleans(),
    members=st.none() | st.dictionaries(st.text(), values, max_size=3).map(freeze),
    notices=st.lists(st.text(), max_size=2).map(tuple),
)


@given(resources)
def test_the_history_record_is_the_json_of_the_resource(resource: Resource) -> None:
    assert _history_record(_resource_row(resource)) == json.dumps(resource.to_dict(), sort_keys=True)


def test_a_campaign_with_a_notice_and_members_reads_as_before() -> None:
    resource = Resource(
        "audience",
        freeze({"id": "9"}),
        freeze({"name": "Vip ✓", "page_id": "1"}),
        True,
        members=freeze({"count": 2, "digest": "ab"}),
        notices=("info: budget",),
    )
    assert _history_record(_resource_row(resource)) == (
        '{"applied": {"name": "Vip \\u2713", "page_id": "1"}, "ids": {"id": "9"}, "kind": "audience", '
        '"members": {"count": 2, "digest": "ab"}, "notices": ["info: budget"], "protect": true}'
    )
