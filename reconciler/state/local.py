"""State in a JSON file beside the manifests (``.mmctl/state.json``): atomic writes (temporary
file, fsync, rename) and a lock file that names its holder. An audience's last confirmed member
upload is a sorted TSV file per audience in ``state.json.members/``."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import IO

from reconciler.atomic import replacing
from reconciler.clock import utc_text
from reconciler.state.model import Entry, State, StateError, StateLocked


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

    @contextmanager
    def lock(self, command: str, timeout: float = 0.0) -> Iterator[None]:
        """Hold the state lock; fail fast (or after ``timeout`` seconds) naming who holds it."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(lock_path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the whole block
        except OSError as exc:
            raise StateError(
                f"{lock_path}: cannot create the state lock ({exc.strerror or exc}); mmctl needs to "
                f"write in {lock_path.parent} (a read-only folder? a full disk?)"
            ) from exc
        acquired = False
        try:
            deadline = time.monotonic() + timeout
            while not acquired:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    acquired = True
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise StateError(f"{lock_path}: cannot lock ({exc.strerror})") from exc
                    if time.monotonic() >= deadline:
                        raise StateLocked(self._holder_message(handle, lock_path)) from exc
                    time.sleep(min(0.2, max(0.01, deadline - time.monotonic())))
            _write_holder(handle, command)
            yield
        finally:
            if acquired:
                handle.seek(0)
                handle.truncate(0)  # the holder's note goes with the lock
            handle.close()  # closing releases the flock

    def _holder_message(self, handle: IO[str], lock_path: Path) -> str:
        handle.seek(0)
        try:
            holder = json.loads(handle.read() or "{}")
        except ValueError:
            holder = {}
        who = (
            (
                f"{holder.get('command', 'mmctl')} (pid {holder.get('pid', '?')} on {holder.get('host', '?')}, "
                f"since {holder.get('since', '?')})"
            )
            if holder
            else "another process"
        )
        return (
            f"the state {self._display} is locked by {who}; wait for it to finish, or retry with "
            f"--lock-timeout SECONDS (lock file: {lock_path})"
        )


def _write_holder(handle: IO[str], command: str) -> None:
    handle.seek(0)
    handle.truncate(0)
    handle.write(
        json.dumps(
            {
                "command": command,
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "since": utc_text(),
            }
        )
    )
    handle.flush()
