"""Finding the manifest files under the paths given, as an attacker's pull request may lay them out.

Manifests come from anyone who can open a pull request, so a file is read only when it is a
regular file inside the folder being read: a symlink that leads outside it (to ``~/.aws``,
``/etc``), a FIFO, socket or device (which would block the reader or never end) and a symlink
loop are refused with a clear error, before anything opens them. Other tools' YAML is left out by
a ``.mmctlignore`` file (gitignore syntax, at the top of a folder given) and by ``--exclude``
patterns; ``--include`` patterns, when given, keep only the files they match.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pathspec

from reconciler.errors import ManifestError, SourceLocation
from reconciler.planfile import looks_like_plan

MANIFEST_SUFFIXES = (".yaml", ".yml")
IGNORE_FILE = ".mmctlignore"
# A top-level ``provider:`` key, in block or flow style: found without parsing a file.
_PROVIDER_KEY = re.compile(rb"(?m)^(?:\xef\xbb\xbf)?(?:---\s*)?(?:\{\s*)?[\"']?provider[\"']?\s*:")
_SNIFF_LIMIT = 8 * 1024 * 1024


@dataclass(frozen=True)
class Found:
    root: Path
    files: tuple[Path, ...]
    errors: tuple[ManifestError, ...]


@dataclass(frozen=True)
class Filters:
    """Which files to leave out (``exclude``) or keep only (``include``), as gitignore patterns."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


def display_path(path: Path, cwd: Path | None = None) -> str:
    """How a file is named in messages: relative to the working directory when inside it."""
    base = cwd or Path.cwd()
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)


def _link_name(path: Path) -> str:
    """A file's name as written in the folder (a symlink's own name, not its target's)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _error(where: str, message: str) -> ManifestError:
    return ManifestError(SourceLocation(where), (), message)


def check_regular(path: Path, shown: str) -> ManifestError | None:
    """Why ``path`` must not be opened as a manifest or member file (None when it may be)."""
    try:
        mode = path.stat().st_mode  # follows links: what would be opened
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return _error(shown, "a symlink loop (the link leads back to itself); remove or fix the link")
        if exc.errno == errno.ENOENT and path.is_symlink():
            return _error(shown, "a symlink to nothing (its target does not exist)")
        return _error(shown, f"cannot read it ({exc.strerror or exc})")
    if stat.S_ISREG(mode):
        return None
    what = (
        "a named pipe (FIFO)"
        if stat.S_ISFIFO(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "a device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "a folder"
        if stat.S_ISDIR(mode)
        else "not a regular file"
    )
    return _error(shown, f"{what}, not a regular file; refused without reading it")


def _outside(path: Path, top: Path, shown: str) -> ManifestError | None:
    if not path.is_symlink():
        return None
    target = path.resolve()
    if target.is_relative_to(top):
        return None
    return _error(
        shown,
        f"a symlink that leads outside {top}; manifests must live inside the folder "
        "being read (copy the file in instead of linking it)",
    )


def _spec(lines: Iterable[str]) -> pathspec.PathSpec[Any]:
    return pathspec.GitIgnoreSpec.from_lines(list(lines))


def _ignore_lines(top: Path, shown_top: str) -> tuple[list[str], list[ManifestError]]:
    ignore = top / IGNORE_FILE
    if not ignore.exists() and not ignore.is_symlink():
        return [], []
    problem = check_regular(ignore, f"{shown_top}/{IGNORE_FILE}")
    if problem is not None:
        return [], [problem]
    try:
        return ignore.read_text(encoding="utf-8-sig").splitlines(), []
    except (OSError, UnicodeDecodeError) as exc:
        return [], [_error(f"{shown_top}/{IGNORE_FILE}", f"cannot read it ({exc})")]


def _walk(top: Path, filters: Filters, errors: list[ManifestError]) -> list[Path]:
    lines, problems = _ignore_lines(top, display_path(top))
    errors.extend(problems)
    ignored = _spec([*lines, *filters.exclude])
    wanted = _spec(filters.include) if filters.include else None
    found: list[Path] = []
    for folder, subfolders, names in os.walk(top):
        here = Path(folder)
        relative_folder = here.relative_to(top)
        # Hidden folders (.git, .github, .mmctl, .venv) hold other tools' YAML; os.walk does not
        # follow symlinked folders, so a link cannot lead the walk outside ``top`` or round in a loop.
        subfolders[:] = sorted(
            d for d in subfolders if not d.startswith(".") and not ignored.match_file(f"{relative_folder / d}/")
        )
        for name in sorted(names):
            if not name.endswith(MANIFEST_SUFFIXES) or name.startswith("."):
                continue
            relative = str(relative_folder / name)
            if ignored.match_file(relative) or (wanted is not None and not wanted.match_file(relative)):
                continue
            path = here / name
            shown = _link_name(path)
            problem = check_regular(path, shown) or _outside(path, top, shown)
            if problem is not None:
                errors.append(problem)
            elif not looks_like_plan(path):  # a plan saved as plan.yaml beside the manifests is a plan
                found.append(path)
    return sorted(found)


def discover(paths: Sequence[str | os.PathLike[str]], filters: Filters = Filters()) -> Found:
    """The manifests root and the manifest files under ``paths``, in a stable order."""
    errors: list[ManifestError] = []
    files: dict[Path, None] = {}
    roots: list[Path] = []
    for given in paths or ["."]:
        path = Path(given)
        shown = str(given)
        if path.is_dir():
            top = path.resolve()
            roots.append(top)
            before = len(errors)
            found = _walk(top, filters, errors)
            if not found and len(errors) == before:
                errors.append(_error(shown, "no *.yaml or *.yml files in this folder"))
            files.update(dict.fromkeys(found))
            continue
        problem = check_regular(path, shown) if (path.exists() or path.is_symlink()) else None
        if problem is not None:
            errors.append(problem)
        elif path.is_file():
            roots.append(path.resolve().parent)
            if looks_like_plan(path):
                errors.append(
                    _error(shown, "this is a saved mmctl plan, not a manifest; carry it out with `mmctl apply FILE`")
                )
                continue
            files[path] = None
        else:
            errors.append(_error(shown, "no such file or folder"))
    root = Path(os.path.commonpath(roots)) if roots else Path.cwd()
    return Found(root, tuple(files), tuple(errors))


def has_provider_key(path: Path) -> bool:
    """Whether a file seems to hold a top-level ``provider:`` key (read as bytes, not parsed)."""
    try:
        with path.open("rb") as handle:
            return _PROVIDER_KEY.search(handle.read(_SNIFF_LIMIT)) is not None
    except OSError:
        return True  # the parser reports why it cannot be read
