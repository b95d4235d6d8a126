"""Member files: read, normalise and hash in a stream; diff with the last upload in bounded memory.

A member file is CSV with a header naming its columns (``normalize.COLUMNS``). It is read row by
row; each row is normalised and hashed at once, so no raw value is kept. Rows are identified by
a key (a digest of the hashed row) and sorted by it with an external merge sort (chunks of
``CHUNK`` rows), which keeps memory bounded for a million rows. A big file is cut into one part
per core at record boundaries, each part hashed into its own sorted chunks by a worker process
(``reconciler.members.worker``), and all the chunks merged. The state store keeps the last
confirmed upload as sorted ``(key, email hash, phone hash)`` entries: enough to diff and to remove.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import hashlib
import heapq
import io
import json
import os
import subprocess
import sys
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
PARALLEL_BYTES = 8 << 20  # a smaller file is hashed in one process: starting workers costs more
MAX_WORKERS = 8
_WORKER = "import json, sys; sys.path[:] = json.loads(sys.argv[1]); from reconciler.members.worker import main; main()"


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
    except UnicodeDecodeError:
        # The text is read in blocks: the line at fault may come after the header.
        raise MemberFileError(f"line {_undecodable_line(path, 0, 0)} is not UTF-8 text") from None
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


def _rows(reader: Any, problems: list[Problem], lines_before: int = 0) -> Iterator[list[str] | None]:
    """The rows of ``reader``; None for a line the CSV reader refuses (described, never quoted).

    ``lines_before`` is how many lines of the file come before the first the reader reads."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error:
            if len(problems) < MAX_PROBLEMS:
                problems.append(
                    Problem(
                        lines_before + reader.line_num,
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


@dataclass(frozen=True)
class Job:
    """How a file's rows are read: the same for each part of it."""

    path: Path
    columns: tuple[str, ...]
    upload_columns: tuple[str, ...]
    hashed: bool
    default_country: str | None
    workdir: Path


@dataclass
class Part:
    """What hashing one byte range of a file gave: sorted chunk files, counts, the first problems."""

    chunks: list[Path]
    bad: int = 0
    bad_cells: int = 0
    partial: int = 0
    problems: list[Problem] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """What a worker hands back: file names, counts, lines and columns (never a value)."""
        return {
            "chunks": [str(chunk) for chunk in self.chunks],
            "bad": self.bad,
            "bad_cells": self.bad_cells,
            "partial": self.partial,
            "problems": [[p.line, p.column, p.reason] for p in self.problems],
        }

    @classmethod
    def from_json(cls, got: dict[str, Any]) -> Part:
        return cls(
            [Path(chunk) for chunk in got["chunks"]],
            got["bad"],
            got["bad_cells"],
            got["partial"],
            [Problem(*problem) for problem in got["problems"]],
        )

    def remove(self) -> None:
        for chunk in self.chunks:
            chunk.unlink(missing_ok=True)


class _Range(io.RawIOBase):
    """The bytes ``[start, end)`` of a file, so that a text reader stops where its part ends."""

    def __init__(self, handle: io.BufferedReader, start: int, end: int) -> None:
        handle.seek(start)
        self._handle, self._left = handle, end - start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)[: self._left]
        got = self._handle.readinto(view) or 0
        self._left -= got
        return got


def hash_part(job: Job, start: int, end: int, lines_before: int) -> Part:
    """Normalise, hash and sort the rows in bytes ``[start, end)`` (whole records) into chunk files.

    Runs in a worker process for all parts but the first: it reads the customers' values itself
    and hands back only file names of hashed rows and counts, so no raw value crosses processes."""
    columns, upload_columns, hashed, default_country = job.columns, job.upload_columns, job.hashed, job.default_country
    part = Part([])
    buffer: list[str] = []

    def flush() -> None:
        buffer.sort()
        fd, name = tempfile.mkstemp(dir=job.workdir, suffix=".chunk")
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.writelines(buffer)
        part.chunks.append(Path(name))
        buffer.clear()

    def problem(line: int, column: str, reason: str) -> None:
        if len(part.problems) < MAX_PROBLEMS:
            part.problems.append(Problem(line, column, reason))

    try:
        with open(job.path, "rb") as raw_handle:
            text = io.TextIOWrapper(io.BufferedReader(_Range(raw_handle, start, end)), encoding="utf-8", newline="")
            reader = csv.reader(text)
            try:
                for cells in _rows(reader, part.problems, lines_before):
                    line = lines_before + reader.line_num
                    if cells is None:
                        part.bad += 1
                        continue
                    if not any(c.strip() for c in cells):
                        continue
                    if len(cells) != len(columns):
                        part.bad += 1
                        problem(line, "-", f"{len(cells)} values for {len(columns)} columns")
                        continue
                    raw = dict(zip(columns, cells))
                    dropped: list[CellError] = []
                    row: dict[str, str] | None
                    try:
                        row = check_hashed(raw, dropped) if hashed else normalise_row(raw, default_country, dropped)
                    except CellError as exc:
                        part.bad += 1
                        if not dropped:  # else the dropped cells already say why nothing is left
                            dropped.append(exc)
                        row = None
                    for error in dropped:
                        problem(line, error.args[1] if len(error.args) > 1 else "-", str(error.args[0]))
                    if row is None:
                        continue
                    if dropped:
                        part.bad_cells += len(dropped)
                        part.partial += 1
                    values = [row.get(c, "") for c in upload_columns] if hashed else hashed_row(row, upload_columns)
                    named = dict(zip(upload_columns, values))
                    key = row_key(named.get("email", ""), named.get("phone", ""))
                    buffer.append(key + "\t" + "\t".join(values) + "\n")
                    if len(buffer) >= CHUNK:
                        flush()
            except UnicodeDecodeError:
                line = _undecodable_line(job.path, start, lines_before)
                raise MemberFileError(f"line {line} is not UTF-8 text") from None
        flush()
    except BaseException:
        part.remove()
        raise
    return part


def _record_starts(path: Path, targets: list[int]) -> list[tuple[int, int]]:
    """(byte offset, lines before it) of the first record after the header row and of the first
    record at or after each of ``targets``, without repeats.

    The CSV reader itself finds the records, as a value in quotes may hold line breaks; a line is
    what the reader counts as one (ended by \\n, \\r\\n or \\r)."""
    with open(path, "rb") as probe:
        position = len(codecs.BOM_UTF8) if probe.read(3) == codecs.BOM_UTF8 else 0
    lines = 0

    def counted(handle: Iterator[str]) -> Iterator[str]:
        nonlocal position, lines
        for line in handle:
            position += len(line) if line.isascii() else len(line.encode("utf-8"))
            lines += 1
            yield line

    starts: list[tuple[int, int]] = []
    pending = [0, *targets]
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(counted(handle))
            while pending:
                try:
                    if next(reader, None) is None:
                        break
                except csv.Error:
                    pass  # the reader goes on at the next line, as the part's reader will
                while pending and position >= pending[0]:
                    pending.pop(0)
                    if not starts or starts[-1][0] != position:
                        starts.append((position, lines))
    except UnicodeDecodeError:
        raise MemberFileError(f"line {_undecodable_line(path, 0, 0)} is not UTF-8 text") from None
    return starts


def _undecodable_line(path: Path, start: int, lines_before: int) -> int:
    """The number of the first line from byte ``start`` on that is not UTF-8 (its value unread).

    The decoder's own position counts from a buffer, so the file is read again line by line."""
    lines = lines_before
    with open(path, "rb") as handle:
        handle.seek(start)
        for raw in handle:
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return lines + raw[: exc.start].count(b"\r") + 1
            lines += raw.count(b"\n") + raw.count(b"\r") - raw.count(b"\r\n")
    return lines


def _workers() -> int:
    return min(os.cpu_count() or 1, MAX_WORKERS)


def prepare(path: Path, *, hashed: bool, default_country: str | None, workdir: Path) -> Prepared:
    """Hash and sort a member file; bad rows are counted and described (never with their values).

    A big file is cut into parts at record boundaries, one per core, each hashed in its own
    process: the work is all CPU, and each row is independent of the others."""
    columns = read_header(path)
    # A default country is uploaded too (hashed), as Meta matches better with it.
    upload_columns = columns if hashed or "country" in columns or not default_country else (*columns, "country")
    size = path.stat().st_size
    workers = _workers() if size >= PARALLEL_BYTES else 1
    starts = _record_starts(path, [size * n // workers for n in range(1, workers)])
    ends = [begin for begin, _ in starts[1:]] + [size]
    bounds = [(begin, end, lines) for (begin, lines), end in zip(starts, ends) if begin < end]
    job = Job(path, columns, upload_columns, hashed, default_country, workdir)
    parts: list[Part] = []
    try:
        if len(bounds) <= 1:
            parts = [hash_part(job, *bounds[0])] if bounds else []
        else:
            parts = _hash_parallel(job, bounds)
        return _merge_parts(parts, upload_columns, workdir)
    finally:
        for part in parts:
            part.remove()


def _hash_parallel(job: Job, bounds: list[tuple[int, int, int]]) -> list[Part]:
    """The parts hashed at once: the first in this process, the others each in a worker process
    (``reconciler.members.worker``, started afresh: this process may have threads reading the
    Graph API, which a fork would copy mid-request)."""
    # The worker imports from this process's own path: the same mmctl, however it was installed or
    # run (PYTHONPATH with the package's folder would put site-packages before the standard library).
    command = [sys.executable, "-c", _WORKER, json.dumps(sys.path)]
    workers = []
    parts: list[Part] = []
    try:
        for start, end, lines_before in bounds[1:]:
            worker = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            workers.append(worker)
            request = {**dataclasses.asdict(job), "start": start, "end": end, "lines_before": lines_before}
            assert worker.stdin is not None
            try:
                worker.stdin.write(json.dumps(request, default=str).encode())
                worker.stdin.close()
            except BrokenPipeError:
                pass  # it stopped at once: its exit status says so below
        parts.append(hash_part(job, *bounds[0]))
        for worker in workers:
            assert worker.stdout is not None
            answer = worker.stdout.read()
            if worker.wait() != 0 or not answer:
                raise MemberFileError(f"a worker process hashing part of it stopped (exit status {worker.returncode})")
            got = json.loads(answer)
            if "error" in got:
                raise MemberFileError(got["error"])
            parts.append(Part.from_json(got))
    except BaseException:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
            worker.wait()
        for part in parts:
            part.remove()
        for leftover in job.workdir.glob("*.chunk"):
            leftover.unlink(missing_ok=True)  # a killed worker's, which it could not report
        raise
    return parts


def _merge_parts(parts: list[Part], upload_columns: tuple[str, ...], workdir: Path) -> Prepared:
    """The parts' sorted chunks merged into one file without repeated people, and their counts."""
    out_fd, out_name = tempfile.mkstemp(dir=workdir, suffix=".members")
    digest = hashlib.sha256()
    count = 0
    with ExitStack() as stack, os.fdopen(out_fd, "w", encoding="ascii") as out:
        streams = [stack.enter_context(open(chunk, encoding="ascii")) for part in parts for chunk in part.chunks]
        previous = None
        for entry in heapq.merge(*streams):
            key = entry[:32]
            if key == previous:
                continue  # the same person twice in the file
            previous = key
            out.write(entry)
            digest.update(key.encode())
            count += 1
    problems = [problem for part in parts for problem in part.problems][:MAX_PROBLEMS]
    return Prepared(
        Path(out_name),
        upload_columns,
        count,
        digest.hexdigest(),
        sum(part.bad for part in parts),
        problems,
        sum(part.bad_cells for part in parts),
        sum(part.partial for part in parts),
    )


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
