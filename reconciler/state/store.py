"""Where state lives: the interface every backend implements (``sqlite.py``, ``postgres.py``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Protocol

from reconciler.state.holder import Holder
from reconciler.state.model import Entry, JournalRow, State, Version


class StateStore(Protocol):
    """Where state lives: everything mmctl persists goes through this. A backend reads and writes
    state atomically, locks it, keeps each audience's last confirmed member upload and a history
    of versions."""

    key: str  # which state of the database

    @property
    def backend(self) -> str: ...  # "sqlite" or "postgres"

    def read(self) -> State: ...

    def write(self, state: State) -> State: ...

    def load(self, state: State) -> State: ...

    def lock(self, command: str, timeout: float = 0.0) -> AbstractContextManager[None]: ...

    def holder(self) -> tuple[bool, Holder | None]: ...

    def break_lock(self) -> Holder | None: ...

    def close(self) -> None: ...

    @property
    def location(self) -> str: ...

    # -- history
    def record_version(
        self,
        command: str,
        summary: Mapping[str, int],
        *,
        plan_digest: str | None = None,
        git_commit: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Version: ...

    def versions(self) -> list[Version]: ...

    def version(self, number: int) -> tuple[Version, State] | None: ...

    # -- an audience's last confirmed member upload: entries sorted by row key
    def has_members(self, address: str) -> bool: ...

    def member_addresses(self) -> list[str]: ...

    def members_location(self, address: str) -> str: ...

    def member_entries(self, address: str) -> Iterator[Entry]: ...

    def save_members(self, address: str, entries: Iterable[Entry]) -> None: ...

    def drop_members(self, address: str) -> None: ...

    # -- the send journal
    def journal_start(self, send: str, recipients: Iterable[str], at: str) -> None: ...

    def journal_mark(self, send: str, rows: Iterable[JournalRow]) -> None: ...

    def journal(self, send: str) -> Iterator[JournalRow]: ...

    def journal_recent(self, since: str) -> dict[str, str]: ...

    def journal_sends(self) -> list[str]: ...

    def is_empty(self) -> bool: ...

    def copy_to(self, target: StateStore) -> State: ...
