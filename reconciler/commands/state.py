"""``mmctl state``: list, show and forget what mmctl manages, read its history, free a lock and
move a state to another backend, all without touching the ad account."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reconciler.errors import UsageError
from reconciler.model import Project, StateConfig
from reconciler.state.holder import Holder
from reconciler.state.model import State, Version
from reconciler.state.store import StateStore


def state_summary(state: State) -> list[dict[str, Any]]:
    return [
        {"address": a, "kind": r.kind, "id": r.ids.get("id"), "protect": r.protect} for a, r in state.resources.items()
    ]


def forget(store: StateStore, address: str) -> None:
    state = store.read()
    if address not in state.resources:
        raise UsageError(f"{address} is not in the state {store.location}")
    store.write(state.with_resource(address, None))
    store.record_version("mmctl state rm", {"forget": 1})


# -- history


def version_line(version: Version) -> str:
    """One version as ``state history`` lists it."""
    did = ", ".join(f"{n} {what}" for what, n in version.summary.items()) or "no changes"
    where = f"{version.user}@{version.host}"
    extra = [f"commit {version.git_commit[:12]}" if version.git_commit else "", version.ci_url or ""]
    return "  ".join(
        [f"{version.number:>4}", version.at, f"serial {version.serial}", version.command, where, did]
        + [e for e in extra if e]
    )


def shown_version(store: StateStore, number: int, address: str | None) -> dict[str, Any]:
    """Version ``number`` with the resources it left (or the one resource ``address``)."""
    found = store.version(number)
    if found is None:
        known = store.versions()
        raise UsageError(
            f"the state {store.location} has no version {number}"
            + (f"; its versions are 1 to {known[-1].number} (mmctl state history)" if known else "; it has none yet")
        )
    version, state = found
    if address is not None:
        if address not in state.resources:
            raise UsageError(f"{address} was not in the state at version {number}")
        return {"version": version.to_dict(), "address": address, **state.resources[address].to_dict()}
    return {
        "version": version.to_dict(),
        "resources": {a: state.resources[a].to_dict() for a in sorted(state.resources)},
    }


# -- the lock


def unlock(store: StateStore, force: bool) -> str:
    """Free the state lock when its holder cannot (``--force`` ends a PostgreSQL holder's session)."""
    held, who = store.holder()
    if not held:
        return f"The state {store.location} is not locked; nothing to do."
    described = who.describe() if who else "another process"
    if not force:
        raise UsageError(
            f"the state {store.location} is locked by {described}. If that run is really gone (a vanished "
            "CI machine whose connection lingers), `mmctl state unlock --force` ends its session; a run still "
            "working would lose its connection mid-apply, and its next run resolves what it left pending"
        )
    ended: Holder | None = store.break_lock()
    return f"Unlocked the state {store.location}: ended the session of {ended.describe() if ended else described}."


# -- moving a state


def target_config(project: Project, backend: str, path: str | None, schema: str | None) -> StateConfig:
    """Where ``state migrate --to BACKEND`` puts the project's state (the same state key)."""
    current = project.state
    if backend == current.backend and not (path or schema):
        raise UsageError(f"the state already is in {backend}; give --path or --schema to move it within {backend}")
    return StateConfig(
        path=project.root / path if path else project.root / ".mmctl" / "state.db",
        backend=backend,
        url=None,  # MMCTL_STATE_URL or libpq's PG* variables: a secret is never a command-line argument
        schema=schema or current.schema,
        key=current.key,
    )


def migrate(source: StateStore, target: StateStore, lock_timeout: float) -> State:
    """Copy the whole state (resources, pending operations, member records, history) into an empty
    target, holding both locks; the source is left as it was, as a backup."""
    with source.lock("mmctl state migrate", lock_timeout), target.lock("mmctl state migrate", lock_timeout):
        if not target.is_empty():
            raise UsageError(
                f"the state {target.location} already exists; nothing was copied. Move to an empty place "
                "(another --schema or --path), or remove that state first"
            )
        state = source.copy_to(target)
    target.record_version("mmctl state migrate", {"resources": len(state.resources)})
    return state


def migrate_hint(config: StateConfig, root: Path) -> str:
    """What to write in the manifests once a state has moved."""
    if config.backend == "postgres":
        schema = "" if config.schema == "mmctl" else f", schema: {config.schema}"
        return f"state: {{backend: postgres, url: ${{env:MMCTL_STATE_URL}}{schema}}}"
    try:
        shown = config.path.relative_to(root)
    except ValueError:
        shown = config.path
    return f"state: {{backend: sqlite, path: {shown}}}"


def history_json(versions: list[Version]) -> list[Mapping[str, Any]]:
    return [v.to_dict() for v in versions]
