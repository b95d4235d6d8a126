"""Reading the times written in manifests as instants.

Manifests accept ISO 8601 (``2026-12-01T09:00:00-05:00``, ``...Z``, ``...-0500``) and Unix
seconds. A time written without a UTC offset is read in ``provider.timezone``. Instants are
compared in UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class TimeError(ValueError):
    """A time that cannot be read; the message says why, in a user's words."""


def load_zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ``TimeError`` when there is no such zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TimeError(f"unknown time zone {name!r}; expected an IANA name such as America/New_York") from exc


def parse_instant(value: str | int, zone: tzinfo | None) -> datetime:
    """The instant a written time means, as an aware UTC datetime."""
    if isinstance(value, bool):
        raise TimeError("expected a time, found a boolean")
    if isinstance(value, int) or value.strip().isdigit():
        seconds = int(value)
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise TimeError(f"{seconds} is not a usable Unix time") from exc
    moment = _parse_iso(value)
    if moment.tzinfo is None:
        if zone is None:
            raise TimeError(
                f"{value!r} has no UTC offset and provider.timezone is not set; write an offset "
                "(e.g. 2026-12-01T09:00:00-05:00) or set provider.timezone"
            )
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def _parse_iso(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise TimeError(f"{value!r} is not an ISO 8601 time; expected e.g. 2026-12-01T09:00:00-05:00") from exc


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([hms])")


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``2h``, ``1h30m`` -> seconds; TimeError otherwise."""
    value = text.strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        return float(value)
    parts = _DURATION_PART.findall(value)
    if not value or "".join(n + u for n, u in parts) != value:
        raise TimeError(f"{text!r} is not a duration; expected e.g. 90s, 15m, 2h or 1h30m")
    return sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)
