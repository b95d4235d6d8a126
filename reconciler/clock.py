"""Time as mmctl sees it: a clock that can be passed in (tests, replays), and two ways to write an
instant: UTC to the second (``2027-01-01T00:00:00Z``), and in a named zone with its offset
(``2026-12-31T19:00:00-05:00``), the way manifests write times."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Clock = Callable[[], float]  # Unix seconds, like time.time
Sleep = Callable[[float], None]

system_clock: Clock = time.time
system_sleep: Sleep = time.sleep
FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utc_text(moment: float | datetime | None = None) -> str:
    """``moment`` (Unix seconds or an aware datetime; default now) as ``YYYY-MM-DDTHH:MM:SSZ``."""
    if moment is None:
        moment = system_clock()
    when = moment.astimezone(UTC) if isinstance(moment, datetime) else datetime.fromtimestamp(moment, tz=UTC)
    return when.strftime(FORMAT)


def from_utc_text(text: str) -> float:
    """Unix seconds of a ``utc_text`` instant (ValueError for anything else)."""
    return datetime.strptime(text, FORMAT).replace(tzinfo=UTC).timestamp()


def zoned_text(moment: float, zone: str) -> str:
    """``moment`` in the IANA ``zone`` with its UTC offset (``2026-12-01T09:00:00-05:00``); UTC, or a
    zone this machine does not know, as ``utc_text``."""
    try:
        where = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return utc_text(moment)
    when = datetime.fromtimestamp(moment, tz=where)
    return utc_text(moment) if zone in ("UTC", "Etc/UTC") else when.isoformat()
