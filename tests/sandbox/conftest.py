"""A sandbox served over real HTTP on 127.0.0.1 for each test that asks for one."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.sandbox import Sandbox, SandboxConfig
from reconciler.sandbox.server import make_server

from sandbox_helpers import Served


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    """``serve(**config)`` starts a sandbox (data in a temporary file) and returns a ``Served``."""
    running: list[tuple[Any, threading.Thread, Served]] = []

    def start(data: Path | None = None, **config: Any) -> Served:
        app = Sandbox(SandboxConfig(**config), data if data is not None else tmp_path / f"sandbox{len(running)}.json")
        server = make_server(app, "127.0.0.1", 0)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        served = Served(app, f"http://127.0.0.1:{server.server_address[1]}")
        running.append((server, thread, served))
        return served

    yield start
    for server, thread, served in running:
        served.close()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        assert served.app.stats.internal_errors == 0, "the sandbox hit a bug (traceback on stderr)"


@pytest.fixture
def sandbox(serve: Any) -> Served:
    return serve()  # type: ignore[no-any-return]
