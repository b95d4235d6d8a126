"""The dependency direction of the package, checked (DESIGN.md: layered, effects at the edges)."""

from __future__ import annotations

import ast
from pathlib import Path

import reconciler

PACKAGE = Path(reconciler.__file__).parent

# A module may import only modules of a lower rank. A new module must be placed here.
RANK = {
    "errors": 0,
    "model": 1,
    "timeparse": 1,
    "interpolate": 1,
    "yamlio": 2,
    "schema": 2,
    "normalize": 1,
    "memberfile": 2,
    "checks": 3,
    "money": 1,
    "atomic": 0,
    "state": 2,
    "planfile": 1,
    "discovery": 2,
    "urls": 1,
    "render": 3,
    "manifest": 4,
    "sandbox": 1,  # the subpackage: imports nothing from the engine (checked below)
    "client": 4,
    "graphmap": 5,
    "live": 6,
    "desired": 6,
    "diff": 3,
    "plan": 7,
    "costs": 8,
    "render_plan": 8,
    "executor": 8,
    "engine": 9,
    "cli": 10,
    "__main__": 11,
    "__init__": 0,
}

# Third-party packages and the only modules allowed to use them.
CONFINED = {
    "yaml": {"yamlio"},
    "click": {"cli"},
    "jsonschema": {"schema"},
    "referencing": {"schema"},
    "httpx": {"client"},
    "deepdiff": {"diff"},
    "pathspec": {"discovery"},
}


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            if node.module == "reconciler":
                names.update(f"reconciler.{alias.name}" for alias in node.names)
    return names


def top_modules() -> dict[str, Path]:
    return {path.stem: path for path in PACKAGE.glob("*.py")}


def test_every_module_has_a_place_in_the_layers():
    assert sorted(set(top_modules()) - set(RANK)) == []


def test_modules_import_only_lower_layers():
    wrong = []
    for name, path in top_modules().items():
        for imported in imports_of(path):
            if imported.startswith("reconciler."):
                target = imported.split(".")[1]
                if target in RANK and RANK[target] >= RANK[name] and target != "__init__":
                    wrong.append(f"{name} imports {target}")
    assert wrong == []


def test_third_party_packages_stay_in_their_module():
    wrong = []
    for name, path in top_modules().items():
        for imported in imports_of(path):
            root = imported.split(".")[0]
            if root in CONFINED and name not in CONFINED[root]:
                wrong.append(f"{name} imports {root}")
    assert wrong == []


# Inside the sandbox: httpx only for the in-process transport, and none of the engine's libraries.
SANDBOX_CONFINED = {
    "httpx": {"transport"},
    "yaml": set(),
    "click": set(),
    "jsonschema": set(),
    "referencing": set(),
    "deepdiff": set(),
}


def test_the_sandbox_uses_third_party_packages_only_where_allowed():
    wrong = [
        f"sandbox/{path.name} imports {imported}"
        for path in (PACKAGE / "sandbox").glob("*.py")
        for imported in imports_of(path)
        if imported.split(".")[0] in SANDBOX_CONFINED and path.stem not in SANDBOX_CONFINED[imported.split(".")[0]]
    ]
    assert wrong == []


def test_the_sandbox_imports_nothing_from_the_engine():
    sandbox = PACKAGE / "sandbox"
    wrong = [
        f"{path.name} imports {imported}"
        for path in sandbox.rglob("*.py")
        for imported in imports_of(path)
        if imported.startswith("reconciler") and not imported.startswith("reconciler.sandbox")
    ]
    assert wrong == []
