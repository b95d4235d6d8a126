"""Where state lives: the interface every backend implements."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from reconciler.state.model import Entry, State


class StateStore(Protocol):
    """Where state lives: everything mmctl persists goes through this. A backend reads and writes
    state atomically, locks it, and keeps each audience's last confirmed member upload."""

    def read(self) -> State: ...

    def write(self, state: State) -> State: ...

    def lock(self, command: str, timeout: float = 0.0) -> Any: ...

    @property
    def location(self) -> str: ...

    # An audience's last confirmed member upload: entries sorted by row key.
    def has_members(self, address: str) -> bool: ...

    def members_location(self, address: str) -> str: ...

    def member_entries(self, address: str) -> Iterator[Entry]: ...

    def save_members(self, address: str, entries: Iterable[Entry]) -> None: ...

    def drop_members(self, address: str) -> None: ...
