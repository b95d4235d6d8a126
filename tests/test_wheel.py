"""The install path users take (`pip install` / `pipx install` of the package): a wheel built from
this tree carries the schemas, the scaffold files and the `mmctl` script, and that installed copy,
not the source tree, validates, applies and converges a project `mmctl init` writes.

Offline: the wheel is built by hatchling in this environment (no build isolation) and installed
without its dependencies into a folder of its own, which goes first on PYTHONPATH; the
dependencies are this environment's."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from helpers import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from hatchling.build import build_wheel; print(build_wheel(sys.argv[1]))",
            out,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    wheel = out / built.stdout.strip().splitlines()[-1]
    names = set(zipfile.ZipFile(wheel).namelist())
    for inside in (
        "reconciler/schemas/manifest.schema.json",
        "reconciler/schemas/plan.schema.json",
        "reconciler/schemas/template.schema.json",
        "reconciler/scaffold/mmctl.yaml",
        "reconciler/scaffold/github/mmctl-plan.yml",
        "reconciler/py.typed",
    ):
        assert inside in names, inside
    assert not any(n.startswith(("tests/", "examples/")) for n in names)
    target = out / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", target, wheel],
        check=True,
        capture_output=True,
    )
    return target


def mmctl(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("META_ACCESS_TOKEN", None)
    return subprocess.run(
        [sys.executable, site / "bin" / "mmctl", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_installed_wheel_runs_from_itself(installed, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(installed)}
    where = subprocess.run(
        [sys.executable, "-c", "import reconciler.manifest.schema as s; print(s.__file__); print(s.schema_dir())"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert all(Path(line).is_relative_to(installed) for line in where), where
    assert mmctl(installed, tmp_path, "--version").stdout.startswith("mmctl, version ")


def test_the_installed_wheel_inits_validates_applies_and_converges(installed, tmp_path):
    made = mmctl(installed, tmp_path, "init", "ads", "--ci", "github")
    assert made.returncode == 0, made.stderr
    valid = mmctl(installed, tmp_path, "validate", "ads")
    assert valid.returncode == 0 and valid.stdout.startswith("Valid: 2 files"), valid.stdout + valid.stderr
    applied = mmctl(installed, tmp_path, "apply", "--auto-approve", "ads")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    again = mmctl(installed, tmp_path, "plan", "--detailed-exitcode", "ads")
    assert again.returncode == 0, again.stdout + again.stderr
    resources = tmp_path / "ads" / "resources.yaml"
    resources.write_text(resources.read_text().replace('daily_budget: "20.00 USD"', "daily_budget: -5"))
    invalid = mmctl(installed, tmp_path, "validate", "ads")
    assert invalid.returncode == 1 and "ads/resources.yaml:17:" in invalid.stderr, invalid.stderr
