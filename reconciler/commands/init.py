"""``mmctl init``: a new project that validates and plans on the sandbox, with its .gitignore, and
(``--ci github``) the two GitHub workflows. Never overwrites a file."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from reconciler.errors import UsageError

FILES = {"mmctl.yaml": "mmctl.yaml", "resources.yaml": "resources.yaml", ".gitignore": "gitignore"}
WORKFLOWS = ("mmctl-plan.yml", "mmctl-apply.yml")


def _read(name: str) -> str:
    return resources.files("reconciler.scaffold").joinpath(name).read_text(encoding="utf-8")


def workflow(name: str, project_dir: str) -> str:
    """A workflow of ``reconciler/scaffold/github`` for manifests in ``project_dir`` (repository-relative)."""
    text = resources.files("reconciler.scaffold").joinpath("github", name).read_text(encoding="utf-8")
    watched = f"{project_dir}/**" if project_dir != "." else "**"
    return text.replace("  MMCTL_DIR: mmctl", f"  MMCTL_DIR: {project_dir}").replace(
        'paths: ["mmctl/**"]', f'paths: ["{watched}"]'
    )


def repository_root(directory: Path) -> Path:
    """The git repository around ``directory`` (where .github/ goes), else ``directory`` itself."""
    here = directory.resolve()
    for candidate in (here, *here.parents):
        if (candidate / ".git").exists():
            return candidate
    return here


def init(directory: Path, *, ci: str | None, repo_root: Path | None = None) -> list[Path]:
    """Write the project (and the workflows at the repository root) and return what was written."""
    plan: dict[Path, str] = {directory / name: _read(source) for name, source in FILES.items()}
    if ci == "github":
        root = repo_root or repository_root(directory)
        try:
            relative = directory.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            raise UsageError(f"{directory} is not inside the repository {root}; give --repo-root") from None
        for name in WORKFLOWS:
            plan[root / ".github" / "workflows" / name] = workflow(name, relative if relative != "." else ".")
    existing = [str(p) for p in plan if p.exists()]
    if existing:
        raise UsageError(
            f"not overwriting {', '.join(existing)}; nothing was written (move them away, or init elsewhere)"
        )
    for path, text in plan.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(plan)
