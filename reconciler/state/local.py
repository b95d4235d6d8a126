"""The state file of mmctl before SQLite became the default (``.mmctl/state.json``): atomic
writes (temporary file, fsync, rename) and a lock file that names its holder; an audience's last
confirmed member upload is a sorted TSV file per audience in ``state.json.members/``.

mmctl no longer keeps state here: ``legacy.py`` reads such a file once and imports it into the
database. The writer stays the reference of the format, for the tests that make such files and
for the benchmark that compares a whole-file rewrite with the database's row writes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path

from reconciler.atomic import replacing
from reconciler.state.filelock import hold
from reconciler.state.model import Entry, State, StateError


class LocalStateStore:
    """State in a JSON file; ``<file>.lock`` is the lock and says who holds it."""

    def __init__(self, path: Path, display: str | None = None) -> None:
        self.path = path
        self._display = display or str(path)

    @property
    def location(self) -> str:
        return self._display

    def read(self) -> State:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return State.empty()
        except OSError as exc:
            raise StateError(f"{self._display}: cannot read the state file ({exc.strerror})") from exc
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise StateError(
                f"{self._display}: the state file is not valid JSON ({exc}); restore it from a "
                "backup or version control"
            ) from exc
        if not isinstance(data, dict):
            raise StateError(f"{self._display}: not a valid mmctl state file")
        return State.from_dict(data, self._display)

    def write(self, state: State) -> State:
        """Write ``state`` with the next serial; the file is replaced whole or not at all."""
        written = replace(state, serial=state.serial + 1, lineage=state.lineage or str(uuid.uuid4()))
        text = json.dumps(written.to_dict(), indent=2, sort_keys=False) + "\n"
        try:
            with replacing(self.path) as handle:
                handle.write(text)
        except OSError as exc:
            raise StateError(
                f"{self._display}: cannot write the state file ({exc.strerror or exc}); the previous "
                "state is unchanged. Free disk space or make the folder writable, then run again: the "
                "next plan picks up what was done"
            ) from exc
        return written

    # -- member upload records

    def _members_path(self, address: str, state: Path | None = None) -> Path:
        state = state or self.path
        return state.with_name(state.name + ".members") / f"{address}.tsv"

    def members_location(self, address: str) -> str:
        return str(self._members_path(address, Path(self._display)))

    def has_members(self, address: str) -> bool:
        return self._members_path(address).exists()

    def member_entries(self, address: str) -> Iterator[Entry]:
        """(key, email hash, phone hash) of the last upload, sorted by key; nothing if never uploaded."""
        path = self._members_path(address)
        try:
            handle = open(path, encoding="ascii")  # noqa: SIM115 - a missing record yields nothing
        except FileNotFoundError:
            return
        with handle:
            for number, line in enumerate(handle, 1):
                parts = line.rstrip("\n").split("\t")
                if len(parts) != 3:
                    raise StateError(f"{path}:{number}: not a member record line; restore the folder from a backup")
                yield parts[0], parts[1], parts[2]

    def save_members(self, address: str, entries: Iterable[Entry]) -> None:
        """Replace the record of ``address``'s upload (atomically)."""
        path = self._members_path(address)
        try:
            with replacing(path, "ascii") as out:
                for key, email, phone in entries:
                    out.write(f"{key}\t{email}\t{phone}\n")
        except OSError as exc:
            raise StateError(
                f"{path}: cannot write the member record ({exc.strerror or exc}); the previous record "
                "is unchanged, and the next apply uploads again what was not recorded"
            ) from exc

    def drop_members(self, address: str) -> None:
        try:
            self._members_path(address).unlink()
        except FileNotFoundError:
            pass

    def lock(self, command: str, timeout: float = 0.0) -> AbstractContextManager[None]:
        """Hold the state lock; fail fast (or after ``timeout`` seconds) naming who holds it."""
        return hold(self.path.with_name(self.path.name + ".lock"), self._display, command, timeout)
