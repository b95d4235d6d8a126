"""Times as Graph reads them (Unix seconds or ISO 8601) and writes them (``…+0000``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import invalid_parameter


def parse_time(value: Any, name: str, zone_name: str) -> float:
    """Unix seconds for a time parameter; a time without an offset is in the account's zone."""
    if isinstance(value, bool):
        raise invalid_parameter(f"Param {name} must be a valid time")
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if re.fullmatch(r"\d+", text):
        return float(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise invalid_parameter(f"Param {name} must be a valid time (Unix seconds or ISO 8601)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone(zone_name))
    return moment.timestamp()


def format_time(seconds: float) -> str:
    """Graph's datetime form: ISO 8601 with a ``+0000`` offset."""
    return _formatted_time(int(seconds))


def format_date(seconds: float, zone_name: str) -> str:
    return _formatted_date(int(seconds), zone_name)


# A listing page formats the same few instants hundreds of times (objects made in the same
# second, today's date for every budget left): most of the page's time before these caches.
@lru_cache(maxsize=4096)
def _formatted_time(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


@lru_cache(maxsize=4096)
def _formatted_date(seconds: int, zone_name: str) -> str:
    return datetime.fromtimestamp(seconds, tz=zone(zone_name)).strftime("%Y-%m-%d")


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise invalid_parameter(f"Unknown time zone {name}") from None
