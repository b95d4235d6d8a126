"""``mmctl init``: a project that validates and plans on the sandbox, a .gitignore for state and
customer files, and (``--ci github``) the workflows of examples/ci/github for its folder."""

from __future__ import annotations

import subprocess
from pathlib import Path

from click.testing import CliRunner
from helpers import REPO

from reconciler.cli import cli
from reconciler.commands.init import workflow


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_init_writes_a_project_that_validates_plans_and_converges(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    subprocess.run(["git", "init", "-q"], check=True)
    made = run("init", "ads", "--ci", "github")
    assert made.exit_code == 0, made.output
    assert made.stdout.splitlines()[:3] == ["wrote ads/mmctl.yaml", "wrote ads/resources.yaml", "wrote ads/.gitignore"]
    assert (tmp_path / ".github" / "workflows" / "mmctl-plan.yml").read_text() == workflow("mmctl-plan.yml", "ads")
    assert "  MMCTL_DIR: ads" in (tmp_path / ".github" / "workflows" / "mmctl-apply.yml").read_text()
    assert ".mmctl/" in (tmp_path / "ads" / ".gitignore").read_text().splitlines()
    assert "# graph: https://graph.facebook.com" in (tmp_path / "ads" / "mmctl.yaml").read_text()
    assert run("validate", "ads").stdout.startswith("Valid: 2 files, 1 template, 1 audience, 1 campaign, 1 send")
    assert run("apply", "ads", "--auto-approve").exit_code == 0
    again = run("plan", "ads", "--detailed-exitcode")
    assert (
        again.exit_code == 0 and "send.welcome-first  (wait: cannot start: campaign.welcome is PAUSED" in again.stdout
    )
    # Nothing is overwritten: a second init changes nothing and says why.
    refused = run("init", "ads")
    assert refused.exit_code == 1 and "not overwriting ads/mmctl.yaml" in refused.stderr


def test_the_example_workflows_are_the_ones_init_writes():
    for name in ("mmctl-plan.yml", "mmctl-apply.yml"):
        assert (REPO / "examples" / "ci" / "github" / name).read_text() == workflow(name, "mmctl"), name
    assert Path(REPO / "reconciler" / "scaffold" / "gitignore").exists()
