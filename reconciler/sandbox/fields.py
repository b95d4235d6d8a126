"""Graph field expansion: ``fields=id,adset{name,promoted_object{pixel_id}},campaign.limit(1){name}``.

A node type declares its fields as getters; a getter returns a plain value or a ``Node`` that
the selection expands with the nested field list (or reduces to ``{"id"}`` when none is given,
as Graph does).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import invalid_parameter, nonexisting_field


@dataclass(frozen=True)
class Field:
    name: str
    children: tuple[Field, ...] | None = None


@dataclass(frozen=True)
class Node:
    """An object another object points at; expanded by the selection."""

    type: NodeType
    obj: Any


Getter = Callable[[Any], Any]


Step = tuple[str, Getter, "tuple[Field, ...] | None"]
_PLANS_KEPT = 256  # field lists remembered per node type (a client can send any number of them)


@dataclass(frozen=True)
class NodeType:
    name: str
    getters: Mapping[str, Getter]
    default: tuple[str, ...] = ("id",)
    # Each field list's getters, looked up once: a listing page selects the same fields 500 times.
    # Keyed by the list's identity (hashing nested fields cost more than the lookup saved); the
    # entry holds the list, so that its id is not reused while it is kept.
    _plans: dict[int, tuple[tuple[Field, ...] | None, tuple[Step, ...]]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def value(self, obj: Mapping[str, Any], name: str) -> Any:
        getter = self.getters.get(name)
        if getter is None:
            raise nonexisting_field(name, self.name)
        return getter(obj)

    def plan(self, fields: tuple[Field, ...] | None) -> tuple[Step, ...]:
        """(name, getter, children) of each field answered for ``fields`` (``id`` always)."""
        kept = self._plans.get(id(fields))
        if kept is not None and kept[0] is fields:
            return kept[1]
        wanted = fields if fields is not None else tuple(Field(name) for name in self.default)
        if "id" in self.getters and not any(f.name == "id" for f in wanted):
            wanted = (*wanted, Field("id"))  # Graph names every object it returns, asked or not
        for f in wanted:
            if f.name not in self.getters:
                raise nonexisting_field(f.name, self.name)
        steps = tuple((f.name, self.getters[f.name], f.children) for f in wanted)
        if len(self._plans) >= _PLANS_KEPT:
            self._plans.clear()
        self._plans[id(fields)] = (fields, steps)
        return steps


def parse_fields(text: str | None) -> tuple[Field, ...] | None:
    """The field tree of a ``fields`` parameter; None when the parameter is absent or empty."""
    if text is None or not text.strip():
        return None
    parser = _Parser(text)
    fields = parser.fields()
    if parser.pos != len(text):
        raise invalid_parameter(f"Syntax error in fields at character {parser.pos}: {text!r}")
    return fields


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fields(self) -> tuple[Field, ...]:
        out = [self.field()]
        while self._peek() == ",":
            self.pos += 1
            out.append(self.field())
        return tuple(out)

    def field(self) -> Field:
        self._skip_space()
        start = self.pos
        while self.pos < len(self.text) and (self.text[self.pos].isalnum() or self.text[self.pos] == "_"):
            self.pos += 1
        name = self.text[start : self.pos]
        if not name:
            raise invalid_parameter(f"Syntax error in fields at character {self.pos}: {self.text!r}")
        # Modifiers such as .limit(3) and .as(x) change paging and naming, not which fields exist.
        while self._peek() == ".":
            close = self.text.find(")", self.pos)
            if close < 0:
                raise invalid_parameter(f"Syntax error in fields: unclosed modifier in {self.text!r}")
            self.pos = close + 1
        children = None
        if self._peek() == "{":
            self.pos += 1
            children = self.fields()
            if self._peek() != "}":
                raise invalid_parameter(f"Syntax error in fields: expected '}}' at character {self.pos}")
            self.pos += 1
        self._skip_space()
        return Field(name, children)

    def _peek(self) -> str:
        self._skip_space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \n\t\r":
            self.pos += 1


def select(node_type: NodeType, obj: Mapping[str, Any], fields: tuple[Field, ...] | None) -> dict[str, Any]:
    """The JSON a GET of ``obj`` answers with for the requested fields."""
    out: dict[str, Any] = {}
    for name, getter, children in node_type.plan(fields):
        value = getter(obj)
        if value is None:
            continue  # Graph leaves unset fields out rather than writing null
        out[name] = _render(value, children) if isinstance(value, (Node, list, dict)) else value
    return out


_ID_ONLY = (Field("id"),)  # a node asked for without fields: one tuple, so that its plan is kept


def _render(value: Any, children: tuple[Field, ...] | None) -> Any:
    if isinstance(value, Node):
        return select(value.type, value.obj, children if children is not None else _ID_ONLY)
    if isinstance(value, list):
        return [_render(item, children) for item in value]
    if children is not None and isinstance(value, dict):
        return {field.name: value[field.name] for field in children if field.name in value}
    return value


def resolve_path(node_type: NodeType, obj: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path such as ``campaign.is_message_campaign`` (for filtering)."""
    current: Any = Node(node_type, obj)
    for part in path.split("."):
        if isinstance(current, Node):
            current = current.type.value(current.obj, part)
        elif isinstance(current, dict):
            current = current.get(part)
        else:
            return None
    if isinstance(current, Node):
        return current.obj.get("id")
    return current
