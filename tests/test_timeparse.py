from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reconciler.timeparse import TimeError, load_zone, parse_duration, parse_instant

NY = load_zone("America/New_York")


@pytest.mark.parametrize(
    ("written", "zone", "utc"),
    [
        ("2026-12-01T09:00:00-05:00", None, "2026-12-01T14:00:00"),
        ("2026-12-01T09:00:00-0500", None, "2026-12-01T14:00:00"),
        ("2026-12-01T14:00:00Z", None, "2026-12-01T14:00:00"),
        ("2026-12-01T09:00:00", NY, "2026-12-01T14:00:00"),
        ("2026-07-01T09:00:00", NY, "2026-07-01T13:00:00"),  # daylight saving time
        ("2026-12-01", NY, "2026-12-01T05:00:00"),
        (1796137200, None, "2026-12-01T15:00:00"),
        ("1796137200", None, "2026-12-01T15:00:00"),
    ],
)
def test_times_are_read_as_utc_instants(written, zone, utc):
    assert parse_instant(written, zone) == datetime.fromisoformat(utc).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("tomorrow", "'tomorrow' is not an ISO 8601 time; expected e.g. 2026-12-01T09:00:00-05:00"),
        (
            "2026-12-01T09:00:00",
            "'2026-12-01T09:00:00' has no UTC offset and provider.timezone is not set; write an "
            "offset (e.g. 2026-12-01T09:00:00-05:00) or set provider.timezone",
        ),
        (10**20, "100000000000000000000 is not a usable Unix time"),
    ],
)
def test_unreadable_times_say_why(written, message):
    with pytest.raises(TimeError) as info:
        parse_instant(written, None)
    assert str(info.value) == message


def test_unknown_zones_are_refused():
    with pytest.raises(TimeError, match="unknown time zone 'Nowhere/Land'"):
        load_zone("Nowhere/Land")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), ("90s", 90.0), ("15m", 900.0), ("2h", 7200.0), ("1h30m", 5400.0), ("1.5h", 5400.0)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "1d", "m5", "5 m", "-3s"])
def test_bad_durations_are_refused(text):
    with pytest.raises(TimeError, match="is not a duration; expected e.g. 90s, 15m, 2h or 1h30m"):
        parse_duration(text)
