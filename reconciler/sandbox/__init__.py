"""A local emulator of the Graph API endpoints mmctl uses (docs/graph-api.md; the README, "The sandbox").

It imports nothing from the engine: mmctl talks to it over HTTP (``mmctl sandbox serve``) or
in-process through ``SandboxTransport``, exactly as it talks to graph.facebook.com.
"""

from __future__ import annotations

from .app import Sandbox
from .config import SandboxConfig
from .store import SandboxDataError

__all__ = ["Sandbox", "SandboxConfig", "SandboxDataError"]
