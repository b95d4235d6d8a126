from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from reconciler import manifest
from reconciler.errors import ManifestErrors

from helpers import PROVIDER

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

