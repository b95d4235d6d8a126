"""The dependency direction of the package (docs/architecture.md), checked by import-linter with the
contracts in pyproject.toml, and the lint and format rules, checked by ruff."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    found = BIN / name
    if not found.exists():
        pytest.fail(f"{name} is not installed beside this Python: pip install '.[test]'")
    return str(found)


def test_the_import_contracts_hold():
    done = subprocess.run([tool("lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def loaded(imports: str, unwanted: str) -> str:
    """The modules matching ``unwanted`` (a Python expression over ``m``) that ``imports`` loads, in a
    fresh interpreter."""
    probe = f"import sys, {imports}; print(sorted(m for m in sys.modules if {unwanted}))"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()


def test_the_pure_core_loads_no_io_library_at_run_time():
    found = loaded(
        "reconciler.core.planner, reconciler.core.costs, reconciler.core.desired, reconciler.kinds",
        "m.split('.')[0] in ('httpx', 'click', 'yaml', 'jsonschema') or m.startswith('reconciler.sandbox') "
        "or m.startswith('reconciler.graph')",
    )
    assert found == "[]"


def test_the_tree_passes_ruff():
    checked = subprocess.run([tool("ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout[-4000:]
    formatted = subprocess.run([tool("ruff"), "format", "--check", "."], cwd=ROOT, capture_output=True, text=True)
    assert formatted.returncode == 0, formatted.stdout[-4000:]


def test_the_cli_loads_the_commands_only_when_they_run():
    # `mmctl --help` and shell completion start in about a tenth of a second (benchmarks: issue 21).
    found = loaded(
        "reconciler.cli",
        "m.split('.')[0] in ('httpx', 'yaml', 'jsonschema', 'deepdiff') "
        "or m in ('reconciler.sandbox.app', 'reconciler.commands.plan', 'reconciler.graph.client')",
    )
    assert found == "[]"
