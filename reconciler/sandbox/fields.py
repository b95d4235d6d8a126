"""Graph field expansion: ``fields=id,adset{name,promoted_object{pixel_id}},campaign.limit(1){name}``.

A node type declares its fields as getters; a getter returns a plain value or a ``Node`` that
the selection expands with the nested field list (or reduces to ``{"id"}`` when none is given,
as Graph does).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True)
class NodeType:
    name: str
    getters: Mapping[str, Getter]
    default: tuple[str, ...] = ("id",)

    def value(self, obj: Mapping[str, Any], name: str) -> Any:
        getter = self.getters.get(name)
        if getter is None:
            raise nonexisting_field(name, self.name)
        return getter(obj)


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
    wanted = fields if fields is not None else tuple(Field(name) for name in node_type.default)
    out: dict[str, Any] = {}
    if "id" in node_type.getters and not any(f.name == "id" for f in wanted):
        wanted = (*wanted, Field("id"))  # Graph names every object it returns, asked or not
    for field in wanted:
        value = node_type.value(obj, field.name)
        if value is None:
            continue  # Graph leaves unset fields out rather than writing null
        out[field.name] = _render(value, field.children)
    return out


def _render(value: Any, children: tuple[Field, ...] | None) -> Any:
    if isinstance(value, Node):
        return select(value.type, value.obj, children if children is not None else (Field("id"),))
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
