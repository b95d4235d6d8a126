"""Member files: read, normalise and hash in a stream; diff with the last upload in bounded memory.

A member file is CSV with a header naming its columns (``normalize.COLUMNS``). It is read row by
row; each row is normalised and hashed at once, so no raw value is kept. Rows are identified by
a key (a digest of the hashed row) and sorted by it with an external merge sort (chunks of
``CHUNK`` rows), which keeps memory bounded for a million rows. The state store keeps the last
confirmed upload as sorted ``(key, email hash, phone hash)`` entries: enough to diff and to remove.
"""

from __future__ import annotations

import csv
import hashlib
import heapq
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.members.normalize import (
    COLUMNS,
    META_KEYS,
    RULES_VERSION,
    CellError,
    check_hashed,
    hashed_row,
    normalise_row,
)

CHUNK = 100_000
MAX_PROBLEMS = 20


class MemberFileError(ValueError):
    """The file cannot be used at all (unreadable, no header, unknown columns)."""


@dataclass(frozen=True)
class Problem:
    line: int  # the line in the file (the header is line 1)
    column: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.reason}"


@dataclass
class Prepared:
    """A member file, hashed and sorted by row key into ``path`` (a temporary file)."""

    path: Path
    columns: tuple[str, ...]
    count: int
    digest: str  # of the sorted keys: equal files give equal digests
    bad_rows: int = 0  # rows skipped whole: no usable email or phone left
    problems: list[Problem] = field(default_factory=list)
    bad_cells: int = 0  # cells dropped from rows that were kept
    partial_rows: int = 0  # rows kept without some of their cells

    @property
    def schema(self) -> list[str]:
        return [META_KEYS[c] for c in self.columns]


def read_header(path: Path) -> tuple[str, ...]:
    """The columns a file names, checked; MemberFileError for an unknown or missing one.

    A column is named by its position, never by what is written there: when the header row is
    missing, the first line is a customer."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle), None)
    except OSError as exc:
        raise MemberFileError(f"cannot read it ({exc.strerror or type(exc).__name__})") from exc
    except UnicodeDecodeError as exc:
        raise MemberFileError("cannot read it (not UTF-8 text)") from exc
    except csv.Error as exc:
        raise MemberFileError(
            "its first line is not a CSV header row (a field is too long or a quote is not "
            "closed); the first line must name the columns (e.g. email,phone,country)"
        ) from exc
    if not header:
        raise MemberFileError("it is empty; the first line must name the columns (e.g. email,phone,country)")
    columns = tuple(h.strip().lower() for h in header)
    unknown = [i for i, c in enumerate(columns, 1) if c not in COLUMNS]
    if unknown:
        raise MemberFileError(
            f"column {unknown[0]} of the header row is not a column name mmctl knows (its text is not shown: "
            f"if the header row is missing, it is a customer's); the first line must name the columns, from "
            f"{', '.join(COLUMNS)}"
        )
    if len(set(columns)) != len(columns):
        first = next(i for i, c in enumerate(columns, 1) if columns.count(c) > 1)
        again = next(i for i, c in enumerate(columns, 1) if i > first and c == columns[first - 1])
        raise MemberFileError(f"columns {first} and {again} of the header row have the same name")
    if not {"email", "phone"} & set(columns):
        raise MemberFileError("the header has neither email nor phone; Meta matches people by one of them")
    return columns


def _rows(reader: Any, problems: list[Problem]) -> Iterator[list[str] | None]:
    """The rows of ``reader``; None for a line the CSV reader refuses (described, never quoted)."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error:
            if len(problems) < MAX_PROBLEMS:
                problems.append(
                    Problem(
                        reader.line_num,
                        "-",
                        "not readable as CSV (a value longer than "
                        f"{csv.field_size_limit():,} characters, or a quote that is not closed)",
                    )
                )
            yield None


def fingerprint(path: Path, *, hashed: bool, default_country: str | None) -> str:
    """The SHA-256 of the file's bytes and of how they are read (hashed or not, the default
    country, the normalisation rules): equal fingerprints prepare to equal members, so a file
    whose fingerprint matches the last upload's need not be read row by row again."""
    digest = hashlib.sha256(f"mmctl-members {RULES_VERSION} {hashed} {default_country or ''}\n".encode())
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def row_key(email_hash: str, phone_hash: str) -> str:
    """Who a row is: its identifiers. A changed name does not make a new member; a new email does."""
    return hashlib.sha256(f"{email_hash}\t{phone_hash}".encode()).hexdigest()[:32]


def prepare(path: Path, *, hashed: bool, default_country: str | None, workdir: Path) -> Prepared:
    """Hash and sort a member file; bad rows are counted and described (never with their values)."""
    columns = read_header(path)
    # A default country is uploaded too (hashed), as Meta matches better with it.
    upload_columns = columns if hashed or "country" in columns or not default_country else (*columns, "country")
    problems: list[Problem] = []
    bad = bad_cells = partial = 0
    chunks: list[Path] = []
    buffer: list[str] = []

    def flush() -> None:
        buffer.sort()
        fd, name = tempfile.mkstemp(dir=workdir, suffix=".chunk")
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.writelines(buffer)
        chunks.append(Path(name))
        buffer.clear()

    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for cells in _rows(reader, problems):
            line = reader.line_num
            if cells is None:
                bad += 1
                continue
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(columns):
                bad += 1
                if len(problems) < MAX_PROBLEMS:
                    problems.append(Problem(line, "-", f"{len(cells)} values for {len(columns)} columns"))
                continue
            raw = dict(zip(columns, cells))
            dropped: list[CellError] = []
            row: dict[str, str] | None
            try:
                row = check_hashed(raw, dropped) if hashed else normalise_row(raw, default_country, dropped)
            except CellError as exc:
                bad += 1
                if not dropped:  # else the dropped cells already say why nothing is left
                    dropped.append(exc)
                row = None
            for error in dropped:
                if len(problems) < MAX_PROBLEMS:
                    problems.append(Problem(line, error.args[1] if len(error.args) > 1 else "-", str(error.args[0])))
            if row is None:
                continue
            if dropped:
                bad_cells += len(dropped)
                partial += 1
            values = [row.get(c, "") for c in upload_columns] if hashed else hashed_row(row, upload_columns)
            named = dict(zip(upload_columns, values))
            key = row_key(named.get("email", ""), named.get("phone", ""))
            buffer.append(key + "\t" + "\t".join(values) + "\n")
            if len(buffer) >= CHUNK:
                flush()
    flush()
    out_fd, out_name = tempfile.mkstemp(dir=workdir, suffix=".members")
    digest = hashlib.sha256()
    count = 0
    with ExitStack() as stack, os.fdopen(out_fd, "w", encoding="ascii") as out:
        streams = [stack.enter_context(open(chunk, encoding="ascii")) for chunk in chunks]
        previous = None
        for entry in heapq.merge(*streams):
            key = entry[:32]
            if key == previous:
                continue  # the same person twice in the file
            previous = key
            out.write(entry)
            digest.update(key.encode())
            count += 1
    for chunk in chunks:
        chunk.unlink()
    return Prepared(Path(out_name), upload_columns, count, digest.hexdigest(), bad, problems, bad_cells, partial)


# --- against the last upload --------------------------------------------------------------------

Entry = tuple[str, str, str]  # (row key, email hash, phone hash): what a store keeps of an upload
# The last upload's entries sorted by key, read afresh at each call (a diff reads them more than once).
Entries = Callable[[], Iterator[Entry]]


def NOBODY() -> Iterator[Entry]:
    return iter(())


def _identifiers(prepared: Prepared, line: str) -> tuple[str, str, str]:
    parts = line.rstrip("\n").split("\t")
    values = dict(zip(prepared.columns, parts[1:]))
    return parts[0], values.get("email", ""), values.get("phone", "")


def prepared_entries(prepared: Prepared) -> Iterator[tuple[str, list[str]]]:
    with open(prepared.path, encoding="ascii") as handle:
        for line in handle:
            parts = line.rstrip("\n").split("\t")
            yield parts[0], parts[1:]


@dataclass(frozen=True)
class MemberDiff:
    add: int
    remove: int
    before: int
    after: int


def diff(prepared: Prepared, stored: Entries) -> MemberDiff:
    """Counts of people to add and to remove (a merge of two sorted streams)."""
    add = remove = before = 0
    for side, _ in _merge(prepared, stored):
        if side == "add":
            add += 1
        elif side == "remove":
            remove += 1
        if side in ("remove", "both"):
            before += 1
    return MemberDiff(add, remove, before, prepared.count)


def _merge(prepared: Prepared, stored: Entries) -> Iterator[tuple[str, object]]:
    """("add", hashed row) | ("remove", (email, phone)) | ("both", None), in key order."""
    new = prepared_entries(prepared)
    old = stored()
    a, b = next(new, None), next(old, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a[0] < b[0]):
            assert a is not None
            yield "add", a[1]
            a = next(new, None)
        elif a is None or b[0] < a[0]:
            yield "remove", (b[1], b[2])
            b = next(old, None)
        else:
            yield "both", None
            a, b = next(new, None), next(old, None)


def additions(prepared: Prepared, stored: Entries) -> Iterator[list[str]]:
    for side, value in _merge(prepared, stored):
        if side == "add":
            yield value  # type: ignore[misc]


def removals(prepared: Prepared, stored: Entries) -> Iterator[tuple[str, str]]:
    for side, value in _merge(prepared, stored):
        if side == "remove":
            yield value  # type: ignore[misc]


def entries(prepared: Prepared) -> Iterator[Entry]:
    """What a store keeps of this upload once it is confirmed, sorted by key."""
    with open(prepared.path, encoding="ascii") as source:
        for line in source:
            yield _identifiers(prepared, line)
