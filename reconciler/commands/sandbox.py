"""``mmctl sandbox serve``: the Graph API emulator over HTTP, with the project's data file."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from reconciler.errors import UsageError
from reconciler.manifest.project import sandbox_data_path
from reconciler.sandbox import Sandbox, SandboxConfig, SandboxDataError
from reconciler.sandbox.server import serve as serve_sandbox
from reconciler.urls import is_loopback


def serve(
    paths: Sequence[str],
    host: str,
    port: int,
    *,
    data: str | None,
    ephemeral: bool,
    settings: Mapping[str, Any],
    now: str | None,
    freeze_clock: bool,
    access_log: bool,
    env: Mapping[str, str],
    say: Callable[[str], None],
    note: Callable[[str], None],
) -> int:
    """Serve until interrupted; ``settings`` are SandboxConfig fields (faults, quotas, defaults).
    ``say`` prints the listening line, ``note`` what goes to stderr."""
    if data is None and not ephemeral:
        data = str(sandbox_data_path(paths or (".",)))
    note("data: in memory (--ephemeral)" if ephemeral else f"data: {data}")
    if not is_loopback(host):
        note(f"Warning: listening on {host}; the sandbox accepts any token and has no TLS.")
    try:
        given = {k: v for k, v in settings.items() if k != "token"}
        config = SandboxConfig(
            **given,
            token=settings.get("token") or env.get("MMCTL_SANDBOX_TOKEN") or None,
            app_secret=env.get("MMCTL_SANDBOX_APP_SECRET") or None,
        )
        app = Sandbox(config, None if ephemeral or data is None else Path(data))
        if now is not None or freeze_clock:
            app.set_clock(now, freeze=freeze_clock or None)
        return serve_sandbox(app, host, port, access_log=access_log, announce=say)
    except (ValueError, SandboxDataError) as exc:
        raise UsageError(str(exc)) from exc
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


def clock(paths: Sequence[str], *, data: str | None, advance: float, at: str | None) -> str:
    """Set or advance the clock kept in the sandbox's data file; the line to print."""
    from reconciler.clock import utc_text

    location = Path(data) if data is not None else sandbox_data_path(paths or (".",))
    if not location.exists():
        raise UsageError(f"no sandbox data at {location}: run mmctl plan or apply on a `graph: sandbox` project first")
    try:
        app = Sandbox(SandboxConfig(), location)
        now = app.set_clock(at, advance=advance) if at is not None or advance else app.set_clock(None)
    except (ValueError, SandboxDataError) as exc:
        raise UsageError(str(exc)) from exc
    return f"sandbox clock: {utc_text(now)}"
