from __future__ import annotations

import shutil
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from backends import backend, postgres_schema  # noqa: F401 - fixtures for every test
from helpers import EXAMPLES, PROVIDER
from sandbox_helpers import Served

from reconciler.errors import ManifestErrors
from reconciler.manifest import project as manifest
from reconciler.sandbox import Sandbox, SandboxConfig
from reconciler.sandbox.server import make_server


class Project:
    """A temporary manifests folder; errors are named relative to it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def load(self, env: dict[str, str] | None = None):
        return manifest.load_project([str(self.root)], env=env or {})

    def errors(self, env: dict[str, str] | None = None) -> list[str]:
        with pytest.raises(ManifestErrors) as info:
            self.load(env)
        return [str(e) for e in info.value.errors]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    root = tmp_path / "m"
    root.mkdir()
    monkeypatch.chdir(root)
    return Project(root)


@pytest.fixture
def with_provider(project: Project) -> Project:
    project.write("provider.yaml", PROVIDER)
    return project


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    """``serve(**config)`` starts a sandbox (data in a temporary file) and returns a ``Served``."""
    running: list[tuple[Any, threading.Thread, Served]] = []

    def start(data: Path | None = None, *, ephemeral: bool = False, **config: Any) -> Served:
        where = None if ephemeral else data if data is not None else tmp_path / f"sandbox{len(running)}.json"
        app = Sandbox(SandboxConfig(**config), where)
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


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of examples/ (without any .mmctl data) as the working directory."""
    root = tmp_path / "project"
    shutil.copytree(EXAMPLES, root, ignore=shutil.ignore_patterns(".mmctl"))
    monkeypatch.chdir(root)
    return root
