"""The unsubscribe file: people to keep unsubscribed from the Page's marketing messages.

Each row names a person by email and/or phone (normalised and SHA-256 hashed by Meta's rules, as
member files are; never sent raw), by PSID, or by subscription token (these two alone on their
row, as the Unsubscribe API requires). Each becomes one journal key, so that a person is
unsubscribed once however often the file is applied; a key carries no raw email or phone.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.members import normalize
from reconciler.members.memberfile import MemberFileError

COLUMNS = ("email", "phone", "country", "psid", "subscription_token")
ALONE = {"psid": "psid", "subscription_token": "subscriber_token"}  # column -> the API's field


@dataclass(frozen=True)
class OptOut:
    key: str  # the journal's recipient: person:<digest>, psid:<id> or token:<id>
    row: dict[str, str]  # the API's row: {"email", "phone"} hashes, {"psid"} or {"subscriber_token"}


def read_header(path: Path) -> tuple[str, ...]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle), None)
    except OSError as exc:
        raise MemberFileError(f"cannot read it ({exc.strerror or type(exc).__name__})") from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise MemberFileError("its first line is not a CSV header row of UTF-8 text") from exc
    columns = tuple(h.strip().lower() for h in header or ())
    if not columns or any(c not in COLUMNS for c in columns) or len(set(columns)) != len(columns):
        raise MemberFileError(
            f"the first line must name the columns, each once, from {', '.join(COLUMNS)} (its text is not shown)"
        )
    return columns


def read(path: Path, *, hashed: bool, default_country: str | None) -> tuple[list[OptOut], list[str]]:
    """Every person of the file (once each), and the problems of rows left out (line numbers only)."""
    columns = read_header(path)
    found: dict[str, OptOut] = {}
    problems: list[str] = []
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        for line, cells in enumerate(reader, 2):
            raw = {c: v.strip() for c, v in zip(columns, cells) if v.strip()}
            if not raw:
                continue
            try:
                entry = _entry(raw, hashed=hashed, default_country=default_country)
            except normalize.CellError as exc:
                problems.append(f"line {line}: {exc.args[0]}")
                continue
            found.setdefault(entry.key, entry)
    return list(found.values()), problems


def _entry(raw: dict[str, str], *, hashed: bool, default_country: str | None) -> OptOut:
    alone = [c for c in ALONE if c in raw]
    if alone:
        if len(raw) > 1:
            raise normalize.CellError(f"{alone[0]} cannot be combined with other columns on a row (the API's rule)")
        column = alone[0]
        if len(raw[column]) > normalize.MAX_CELL or not raw[column].isdigit():
            raise normalize.CellError(f"{column} is not an id of digits")
        prefix = "psid" if column == "psid" else "token"
        return OptOut(f"{prefix}:{raw[column]}", {ALONE[column]: raw[column]})
    person: dict[str, Any] = {k: v for k, v in raw.items() if k in ("email", "phone", "country")}
    if hashed:
        row = normalize.check_hashed({k: v for k, v in person.items() if k != "country"})
        hashes = {k: v for k, v in row.items() if v}
    else:
        row = normalize.normalise_row(person, default_country)
        hashes = {k: normalize.sha256(row[k]) for k in ("email", "phone") if row.get(k)}
    digest = hashlib.sha256("|".join(f"{k}={hashes[k]}" for k in sorted(hashes)).encode()).hexdigest()
    return OptOut(f"person:{digest}", hashes)


def batches(entries: list[OptOut], size: int) -> Iterator[list[OptOut]]:
    for start in range(0, len(entries), size):
        yield entries[start : start + size]
