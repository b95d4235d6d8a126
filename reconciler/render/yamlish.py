"""Message payloads written as block YAML, and their changes as a review diff (``-`` before, ``+`` after).

Pure and dependency-free: the renderers may not import PyYAML (only the manifest loader does).
Strings are written plain where every YAML reader takes them back as the same string, quoted
(JSON style) otherwise, so what a reviewer reads is what the payload holds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

# Words YAML 1.1 readers take for booleans or null. A plain string must also start with a letter,
# "_", "/" or "(": then no reader takes it for a number, a date, a merge key or an indicator.
_RESERVED = frozenset({"true", "false", "yes", "no", "on", "off", "null", "y", "n"})
_PATH_PART = re.compile(r"\.([^.\[]+)$|\[(\d+)\]$")


def scalar(value: Any) -> str:
    """One value as YAML would write it on a line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    text = str(value)
    plain = (
        text != ""
        and (text[0].isalpha() or text[0] in "_/(")
        and text.lower() not in _RESERVED
        and not text[-1].isspace()
        and not text.endswith(":")
        and ": " not in text
        and " #" not in text
        and text.isprintable()
    )
    return text if plain else _quoted(text)


def _quoted(text: str) -> str:
    """Double-quoted, JSON style, with what YAML may not hold raw (DEL, C1 controls) escaped."""
    return "".join(
        c if c.isprintable() or c == " " else f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}"
        for c in json.dumps(text, ensure_ascii=False)
    )


def _nested(value: Any) -> bool:
    return isinstance(value, (Mapping, list, tuple)) and len(value) > 0


def yaml_lines(value: Any, indent: int = 0) -> list[str]:
    """``value`` as block YAML lines, each indented by ``indent`` levels of two spaces."""
    pad = "  " * indent
    if isinstance(value, Mapping):
        if not value:
            return [pad + "{}"]
        out = []
        for key, item in value.items():
            if _nested(item):
                out.append(f"{pad}{scalar(key)}:")
                out += yaml_lines(item, indent + 1)
            else:
                out.append(f"{pad}{scalar(key)}: {yaml_lines(item)[0]}")
        return out
    if isinstance(value, (list, tuple)):
        if not value:
            return [pad + "[]"]
        out = []
        for item in value:
            inner = yaml_lines(item, indent + 1)
            out.append(f"{pad}- {inner[0][len(pad) + 2 :]}")
            out += inner[1:]
        return out
    return [pad + scalar(value)]


def split_path(path: str) -> tuple[str, str | int]:
    """``message.quick_replies[2]`` -> (``message.quick_replies``, 2); ``a.b`` -> (``a``, ``b``)."""
    found = _PATH_PART.search(path)
    if found is None:
        return "", path
    parent = path[: found.start()]
    return parent, found.group(1) if found.group(1) is not None else int(found.group(2))


def change_diff(changes: Sequence[tuple[str, Any, Any]]) -> list[tuple[str, str]]:
    """The changes (path, before, after; None for a side that lacks it) as (marker, line) pairs:
    a header ``(" ", "message.quick_replies:")`` per parent, then the removed lines (``-``) and the
    added ones (``+``), written as they would sit under that parent; a list item says its index in
    a comment."""
    out: list[tuple[str, str]] = []
    parent_shown = None
    for path, before, after in changes:
        parent, last = split_path(path)
        if parent != parent_shown:
            out.append((" ", f"{parent}:" if parent else "(top):"))
            parent_shown = parent
        for marker, value in (("-", before), ("+", after)):
            if value is None:
                continue
            lines = yaml_lines([value] if isinstance(last, int) else {last: value}, 1)
            if isinstance(last, int):  # which item of the list: YAML has no index of its own
                lines[0] += f"  # [{last}]"
            out += [(marker, line) for line in lines]
    return out
