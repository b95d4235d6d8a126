"""The state file of an earlier mmctl (``.mmctl/state.json`` and its member records), imported
into the database once, on first use, with the file kept as a backup."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from reconciler.clock import utc_text
from reconciler.state.local import LocalStateStore
from reconciler.state.model import StateError
from reconciler.state.store import StateStore

IMPORT_COMMAND = "import of state.json"


def import_json(store: StateStore, path: Path, shown: str, notice: Callable[[str], None]) -> bool:
    """Import the JSON state at ``path`` into ``store`` if the store holds no state yet; then keep
    the file (and its member folder) as ``….backup``. Returns whether it imported."""
    if not path.exists() or not store.is_empty():
        return False
    with store.lock("mmctl (importing the state file)"):
        if not store.is_empty():  # another process imported it meanwhile
            return False
        legacy = LocalStateStore(path, shown)
        state = legacy.read()
        members = path.with_name(path.name + ".members")
        records = sorted(members.glob("*.tsv")) if members.is_dir() else []
        for record in records:
            store.save_members(record.stem, legacy.member_entries(record.stem))
        store.load(state)  # last: a crash before it leaves the store empty, and the import runs again
        store.record_version(IMPORT_COMMAND, {"resources": len(state.resources), "pending": len(state.pending)})
        backup = _backup_name(path)
        try:
            os.replace(path, backup)
            if members.is_dir():
                os.replace(members, backup.with_name(backup.name.replace(".backup", ".members.backup")))
        except OSError as exc:
            raise StateError(
                f"{shown}: imported into {store.location}, but the file could not be renamed to "
                f"{backup.name} ({exc.strerror or exc}); rename it yourself so that it is not mistaken for the state"
            ) from exc
    notice(
        f"Imported {shown} ({len(state.resources)} resources, {len(records)} member records) into {store.location}; "
        f"the file is kept as {backup.name}."
    )
    return True


def _backup_name(path: Path) -> Path:
    backup = path.with_name(path.name + ".backup")
    if backup.exists() or backup.with_name(path.name + ".members.backup").exists():
        backup = path.with_name(f"{path.name}.{utc_text().replace(':', '')}.backup")
    return backup
