"""The ``filtering`` parameter of Marketing API edges: ``[{"field", "operator", "value"}]``."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from .errors import invalid_parameter

OPERATORS = frozenset(
    {
        "EQUAL",
        "NOT_EQUAL",
        "GREATER_THAN",
        "GREATER_THAN_OR_EQUAL",
        "LESS_THAN",
        "LESS_THAN_OR_EQUAL",
        "IN",
        "NOT_IN",
        "CONTAIN",
        "NOT_CONTAIN",
    }
)

Predicate = Callable[[Callable[[str], Any]], bool]


def parse_filtering(raw: Any, allowed_fields: Collection[str]) -> list[Predicate]:
    """Predicates over a field reader; an unknown field or operator is Graph's code 100."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise invalid_parameter("Param filtering must be an array of filter objects")
    predicates = []
    for item in raw:
        if not isinstance(item, dict) or not {"field", "operator"} <= set(item):
            raise invalid_parameter("Each filter needs field, operator and value")
        field, operator, value = item["field"], str(item["operator"]).upper(), item.get("value")
        if field not in allowed_fields:
            raise invalid_parameter(f"Filtering field {field} is invalid")
        if operator not in OPERATORS:
            raise invalid_parameter(f"Filtering operator {operator} is invalid")
        if operator in ("IN", "NOT_IN") and not isinstance(value, list):
            raise invalid_parameter(f"Filter on {field} with operator {operator} needs an array value")
        predicates.append(_predicate(field, operator, value))
    return predicates


def _norm(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def ids_wanted(raw: Any) -> set[int] | None:
    """The ids an ``id`` EQUAL or IN filter allows (already checked by ``parse_filtering``): a
    listing can read just those instead of testing every object; None when no filter names ids."""
    wanted: set[int] | None = None
    for item in raw if isinstance(raw, list) else ():
        if item.get("field") != "id" or str(item.get("operator")).upper() not in ("EQUAL", "IN"):
            continue
        values = item.get("value") if isinstance(item.get("value"), list) else [item.get("value")]
        ids = {int(v) for v in map(_norm, values) if v.isdigit()}
        wanted = ids if wanted is None else wanted & ids
    return wanted


def _predicate(field: str, operator: str, value: Any) -> Predicate:
    among = {_norm(v) for v in value} if isinstance(value, list) else set()

    def test(read: Callable[[str], Any]) -> bool:
        actual = read(field)
        if operator == "EQUAL":
            return _norm(actual) == _norm(value)
        if operator == "NOT_EQUAL":
            return _norm(actual) != _norm(value)
        if operator in ("IN", "NOT_IN"):
            found = _norm(actual) in among
            return found if operator == "IN" else not found
        if operator in ("CONTAIN", "NOT_CONTAIN"):
            found = _norm(value).lower() in _norm(actual).lower()
            return found if operator == "CONTAIN" else not found
        left, right = _number(actual), _number(value)
        if left is None or right is None:
            return False
        return {
            "GREATER_THAN": left > right,
            "GREATER_THAN_OR_EQUAL": left >= right,
            "LESS_THAN": left < right,
            "LESS_THAN_OR_EQUAL": left <= right,
        }[operator]

    return test
