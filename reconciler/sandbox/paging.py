"""Cursor paging as Graph does it: ``{"data": [...], "paging": {"cursors": {...}, "next": ...}}``.

Cursors are opaque to callers and name the last (or first) object seen, not an offset, so a page
stays right when objects are created or deleted between two requests.
"""

from __future__ import annotations

import base64
import binascii
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from itertools import islice
from typing import Any, TypeVar
from urllib.parse import urlencode

from .errors import GraphError, invalid_parameter

T = TypeVar("T")

DEFAULT_LIMIT = 25
MAX_LIMIT = 1000


def encode_cursor(key: int) -> str:
    return base64.urlsafe_b64encode(f"sbx:{key}".encode()).decode().rstrip("=")


def invalid_cursor() -> GraphError:
    """What Graph answers for a cursor it did not make (or one that no longer means anything)."""
    return GraphError(2642, "(#2642) Invalid cursors values")


def decode_cursor(cursor: str, name: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid_cursor() from None
    if not text.startswith("sbx:") or not text[4:].isdigit():
        raise invalid_cursor()
    return int(text[4:])


def read_limit(
    value: int | None, *, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT, strict: bool = False
) -> int:
    """The page size; over the maximum is clamped, or an error where the docs state the cap."""
    if value is None:
        return default
    if value < 1:
        raise invalid_parameter("Param limit must be a positive integer")
    if value > maximum:
        if strict:
            raise invalid_parameter(f"Param limit must be at most {maximum}")
        return maximum
    return value


def page(
    items: Sequence[T],
    key: Callable[[T], int],
    render: Callable[[T], dict[str, Any]],
    *,
    limit: int,
    after: str | None,
    before: str | None,
    link: Callable[[dict[str, str]], str],
) -> dict[str, Any]:
    """One page of ``items`` (sorted by ``key``), with cursors and next/previous links."""
    keys = [key(item) for item in items]
    if after:
        start = bisect_right(keys, decode_cursor(after, "after"))
        stop = min(start + limit, len(items))
    elif before:
        stop = bisect_left(keys, decode_cursor(before, "before"))
        start = max(0, stop - limit)
    else:
        start, stop = 0, min(limit, len(items))
    chosen = items[start:stop]
    if not chosen:
        return {"data": []}
    first, last = encode_cursor(keys[start]), encode_cursor(keys[stop - 1])
    paging: dict[str, Any] = {"cursors": {"before": first, "after": last}}
    if start > 0:
        paging["previous"] = link({"limit": str(limit), "before": first})
    if stop < len(items):
        paging["next"] = link({"limit": str(limit), "after": last})
    return {"data": [render(item) for item in chosen], "paging": paging}


def page_from(
    stream: Callable[[int | None], Iterable[T]],
    key: Callable[[T], int],
    render: Callable[[T], dict[str, Any]],
    *,
    limit: int,
    after: str | None,
    link: Callable[[dict[str, str]], str],
) -> dict[str, Any]:
    """One page taken from ``stream(after_key)``, which yields the matching items after a key in
    key order: only one item past the page is looked at (to know whether there is a next page)."""
    start = decode_cursor(after, "after") if after else None
    chosen = list(islice(stream(start), limit + 1))
    more = len(chosen) > limit
    chosen = chosen[:limit]
    if not chosen:
        return {"data": []}
    first, last = encode_cursor(key(chosen[0])), encode_cursor(key(chosen[-1]))
    paging: dict[str, Any] = {"cursors": {"before": first, "after": last}}
    if start is not None:
        paging["previous"] = link({"limit": str(limit), "before": first})
    if more:
        paging["next"] = link({"limit": str(limit), "after": last})
    return {"data": [render(item) for item in chosen], "paging": paging}


def link_builder(base_url: str, query: dict[str, str]) -> Callable[[dict[str, str]], str]:
    """Links that repeat the request's own query with new paging keys, as Graph's do."""
    kept = {k: v for k, v in query.items() if k not in ("after", "before", "limit")}

    def link(extra: dict[str, str]) -> str:
        return f"{base_url}?{urlencode({**kept, **extra})}"

    return link
