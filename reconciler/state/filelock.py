"""The state lock as a file beside the state: an exclusive ``flock`` (released by the kernel when
its holder dies, so no lock outlives its process) plus a note of who holds it."""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from reconciler.state.holder import Holder, locked_message
from reconciler.state.model import StateError, StateLocked


@contextmanager
def hold(lock_path: Path, shown: str, command: str, timeout: float = 0.0) -> Iterator[None]:
    """Hold the state lock; fail fast (or after ``timeout`` seconds) naming who holds it."""
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        # 0600 like the state itself: the holder's record names a user and a host.
        handle = os.fdopen(os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600), "a+", encoding="utf-8")
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
                    raise StateLocked(_holder_message(handle, lock_path, shown)) from exc
                time.sleep(min(0.2, max(0.01, deadline - time.monotonic())))
        _write_holder(handle, command)
        yield
    finally:
        if acquired:
            handle.seek(0)
            handle.truncate(0)  # the holder's note goes with the lock
        handle.close()  # closing releases the flock


def read_holder(lock_path: Path) -> Holder | None:
    """The note of whoever holds (or last held) the lock file."""
    try:
        return Holder.from_json(lock_path.read_text(encoding="utf-8"))
    except OSError:
        return None


def is_held(lock_path: Path) -> bool:
    """Whether a process holds the lock file now (taking it for an instant if nobody does)."""
    try:
        with open(lock_path, "a+", encoding="utf-8") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
            return False
    except FileNotFoundError:
        return False


def _holder_message(handle: IO[str], lock_path: Path, shown: str) -> str:
    handle.seek(0)
    return locked_message(shown, Holder.from_json(handle.read()), f"lock file: {lock_path}")


def _write_holder(handle: IO[str], command: str) -> None:
    handle.seek(0)
    handle.truncate(0)
    handle.write(Holder.me(command).to_json())
    handle.flush()
