"""A local emulator of the Graph API endpoints mmctl uses (docs/graph-api.md; the README, "The sandbox").

It imports nothing from the engine: mmctl talks to it over HTTP (``mmctl sandbox serve``) or
in-process through ``SandboxTransport``, exactly as it talks to graph.facebook.com.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import Sandbox
    from .config import SandboxConfig
    from .store import SandboxDataError

__all__ = ["Sandbox", "SandboxConfig", "SandboxDataError"]
_HOMES = {"Sandbox": "app", "SandboxConfig": "config", "SandboxDataError": "store"}


def __getattr__(name: str) -> Any:
    # Loaded on first use: `mmctl --help` and the sandbox's option list need none of the emulator.
    if name not in _HOMES:
        raise AttributeError(name)
    from importlib import import_module

    return getattr(import_module(f".{_HOMES[name]}", __name__), name)
