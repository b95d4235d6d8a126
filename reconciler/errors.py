"""The one exception hierarchy of mmctl.

Everything the library raises on purpose is a ``ReconcilerError``; the CLI catches that base
class once, prints it and exits 1. Anything else reaching the CLI is a bug (exit 3).

    ReconcilerError
    ├── ManifestError          one problem in a manifest, at file:line:col and a field path
    ├── ManifestErrors         all problems of one load, sorted by file and line
    └── UsageError             bad command-line input (a path that does not exist, ...)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

NodePath = tuple[object, ...]


def format_path(path: Iterable[object]) -> str:
    """``("campaigns", "a", "buttons", 0)`` -> ``campaigns.a.buttons[0]``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass(frozen=True, order=True)
class SourceLocation:
    """Where something is written: a file, and a 1-based line and column when known."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"


class ReconcilerError(Exception):
    """Base of every error mmctl raises for a user to read."""


class UsageError(ReconcilerError):
    """The command line asks for something that cannot be done."""


class ManifestError(ReconcilerError):
    """One problem in the manifests, pointing at the offending node.

    ``str()`` gives ``file:line:col: field.path: message``.
    """

    def __init__(self, location: SourceLocation, node_path: NodePath, message: str) -> None:
        self.location = location
        # Keys and indices, for code that needs to know which field is broken.
        self.node_path = node_path
        self.message = message
        super().__init__(str(self))

    @property
    def path(self) -> str:
        return format_path(self.node_path)

    def __str__(self) -> str:
        where = str(self.location)
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"

    def sort_key(self) -> tuple[str, int, int, str, str]:
        loc = self.location
        return (loc.file, loc.line, loc.column, self.path, self.message)

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.location.file,
            "line": self.location.line or None,
            "column": self.location.column or None,
            "path": self.path,
            "message": self.message,
        }


class ManifestErrors(ReconcilerError):
    """Every problem found in one load, reported together, sorted by file and line."""

    def __init__(self, errors: Iterable[ManifestError]) -> None:
        unique = {e.sort_key(): e for e in errors}
        self.errors: tuple[ManifestError, ...] = tuple(unique[k] for k in sorted(unique))
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)
