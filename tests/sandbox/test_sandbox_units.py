"""The sandbox's pure parts: field expansion, filtering, cursors and lenient JSON."""

from __future__ import annotations

import pytest

from reconciler.sandbox.errors import GraphError
from reconciler.sandbox.fields import Field, Node, NodeType, parse_fields, select
from reconciler.sandbox.filtering import parse_filtering
from reconciler.sandbox.paging import decode_cursor, encode_cursor, page
from reconciler.sandbox.params import lenient_json


def test_field_expansion_syntax():
    assert parse_fields("id, adset{name,promoted_object{pixel_id}},campaign.limit(3){name}") == (
        Field("id"),
        Field("adset", (Field("name"), Field("promoted_object", (Field("pixel_id"),)))),
        Field("campaign", (Field("name"),)),
    )
    assert parse_fields("") is None and parse_fields(None) is None
    for broken in ("id,", "adset{name", "adset}", "a{}", "x.limit(3"):
        with pytest.raises(GraphError):
            parse_fields(broken)


def test_selection_expands_nodes_and_names_them():
    child = NodeType("Child", {"id": lambda o: o["id"], "name": lambda o: o["name"]})
    parent = NodeType(
        "Parent", {"id": lambda o: o["id"], "child": lambda o: Node(child, o["child"]), "gone": lambda o: None}
    )
    obj = {"id": "1", "child": {"id": "2", "name": "c"}}
    assert select(parent, obj, parse_fields("child")) == {"child": {"id": "2"}, "id": "1"}
    assert select(parent, obj, parse_fields("child{name},gone")) == {"child": {"name": "c", "id": "2"}, "id": "1"}
    with pytest.raises(GraphError, match=r"nonexisting field \(age\) on node type \(Child\)"):
        select(parent, obj, parse_fields("child{age}"))


def test_filtering_operators():
    row = {"name": "Winter Sale", "budget": "5000", "flag": True}

    def keep(filters):
        return all(test(row.get) for test in parse_filtering(filters, {"name", "budget", "flag"}))

    assert keep([{"field": "name", "operator": "CONTAIN", "value": "winter"}])
    assert not keep([{"field": "name", "operator": "NOT_CONTAIN", "value": "sale"}])
    assert keep([{"field": "budget", "operator": "GREATER_THAN", "value": 4999}])
    assert keep([{"field": "budget", "operator": "IN", "value": [5000, 6000]}])
    assert keep([{"field": "flag", "operator": "EQUAL", "value": "true"}])
    for bad in (
        [{"field": "secret", "operator": "EQUAL", "value": 1}],
        [{"field": "name", "operator": "LIKE", "value": 1}],
        [{"field": "name", "operator": "IN", "value": "x"}],
        {"field": "name"},
    ):
        with pytest.raises(GraphError):
            parse_filtering(bad, {"name"})


def test_cursors_are_opaque_and_checked():
    assert decode_cursor(encode_cursor(120210000000000001), "after") == 120210000000000001
    for bad in ("", "MTIz", "!!!"):
        with pytest.raises(GraphError):
            decode_cursor(bad, "after")
    items = list(range(1, 8))
    first = page(items, int, lambda i: {"id": i}, limit=3, after=None, before=None, link=lambda q: f"?{q}")
    assert [r["id"] for r in first["data"]] == [1, 2, 3] and "previous" not in first["paging"]
    last = page(items, int, lambda i: {"id": i}, limit=3, after=encode_cursor(6), before=None, link=str)
    assert [r["id"] for r in last["data"]] == [7] and "next" not in last["paging"]
    assert page([], int, lambda i: {}, limit=3, after=None, before=None, link=str) == {"data": []}


def test_lenient_json_reads_the_seeds_samples():
    assert lenient_json('{messenger_positions: ["marketing_messages"], publisher_platforms:["messenger"]}', "t") == {
        "messenger_positions": ["marketing_messages"],
        "publisher_platforms": ["messenger"],
    }
    assert lenient_json("{page_id: 200000000000001}", "p") == {"page_id": 200000000000001}
    with pytest.raises(GraphError):
        lenient_json("{page_id: }", "p")
