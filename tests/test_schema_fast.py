"""The compiled validator may only ever skip work: whatever it accepts, jsonschema accepts too (a
document it refuses is validated again by jsonschema, so being stricter costs time, never truth)."""

from __future__ import annotations

import copy
from typing import Any

from helpers import EXAMPLES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.manifest import schema
from reconciler.manifest.yamlio import parse_text

# Read as mmctl reads them (times stay text, as written).
DOCUMENTS = [parse_text(path.read_text(), path.name).data for path in sorted(EXAMPLES.glob("*.yaml"))]
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(
        [
            "123\n",
            "act_1\n",
            "v24.0\n",
            "sandbox\n",
            "50.00 USD",
            "{{first_name}}",
            "https://x.y/\n",
            "ACTIVE",
            "PAUSED",
            "2027-01-01T00:00:00Z",
            "",
            " ",
            "\u00b2",
        ]
    ),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.sampled_from(["name", "text", "x", "type", "url"]), st.text(max_size=5), max_size=3),
)


def paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [at]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += paths(inner, at + (key,))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += paths(inner, at + (index,))
    return found


def mutated(document: Any, where: tuple[Any, ...], leaf: Any, drop: bool) -> Any:
    out = copy.deepcopy(document)
    if not where:
        return leaf
    parent = out
    for step in where[:-1]:
        parent = parent[step]
    if drop and isinstance(parent, dict):
        del parent[where[-1]]
    else:
        parent[where[-1]] = leaf
    return out


def slow_errors(document: Any) -> list[Any]:
    return list(schema._validator("manifest.schema.json").iter_errors(document))


def test_the_examples_are_valid_on_the_fast_path():
    for document in DOCUMENTS:
        assert schema.is_valid_fast(document, "manifest.schema.json")
        assert slow_errors(document) == []


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_what_the_fast_validator_accepts_jsonschema_accepts(data):
    document = data.draw(st.sampled_from(DOCUMENTS))
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.sampled_from(paths(document)))
        document = mutated(document, where, data.draw(LEAVES), data.draw(st.booleans()))
    if schema.is_valid_fast(document, "manifest.schema.json"):
        assert slow_errors(document) == [], document


def test_a_float_budget_takes_the_detailed_path():
    document = copy.deepcopy(next(d for d in DOCUMENTS if d.get("campaigns")))
    key = next(iter(document["campaigns"]))
    document["campaigns"][key]["daily_budget"] = 5000.0
    assert not schema.is_valid_fast(document, "manifest.schema.json")
    assert slow_errors(document)
