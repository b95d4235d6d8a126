from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import EXAMPLES

from reconciler.cli import cli

VALID = "Valid: 6 files, 2 templates, 1 audience, 2 campaigns, 2 sends for act_100000000000001 (graph: sandbox).\n"


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_help_lists_the_commands():
    result = run("--help")
    assert result.exit_code == 0
    assert "validate  Check manifests offline" in result.stdout


def test_every_command_and_flag_has_help():
    def walk(group, prefix=""):
        for name, command in group.commands.items():
            yield f"{prefix}{name}", command
            if hasattr(command, "commands"):
                yield from walk(command, f"{prefix}{name} ")

    seen = []
    for name, command in walk(cli):
        seen.append(name)
        assert command.help, name
        for param in command.params:
            if param.param_type_name == "option":
                assert param.help, f"{name} {param.name}"
    assert {"plan", "apply", "import", "state list", "state show", "state rm", "sandbox serve"} <= set(seen)


def test_validate_examples_succeeds(monkeypatch):
    monkeypatch.chdir(EXAMPLES.parent)
    result = run("validate", "examples")
    assert (result.exit_code, result.stdout, result.stderr) == (0, VALID, "")


def test_validate_reports_every_error_on_stderr_with_exit_1(project):
    project.write("p.yaml", "provider: {ad_account: act_1, page_id: '2'}\nprovider: {}\n")
    project.write("c.yaml", "campaigns:\n  a: {name: A, budget: 1}\n")
    result = run("validate", ".")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        'Error: c.yaml:2:16: campaigns.a.budget: unknown field "budget" (did you mean "daily_budget"?); expected one of: audience, daily_budget, '
        "end_time, lifetime_budget, name, pixel_id, protect, start_time, status, template\n"
        "Error: p.yaml:2:1: provider: duplicate key 'provider'; it is already set at line 1 (YAML would silently "
        "keep only the last one)\n"
        "2 errors in 2 files; nothing was changed.\n"
    )


def test_validate_json_lists_errors_with_positions(project):
    project.write("p.yaml", "provider: {ad_account: act_1, page_id: 2}\n")
    result = run("validate", "--format", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "format_version": "1",
        "valid": False,
        "error_count": 1,
        "errors": [
            {
                "file": "p.yaml",
                "line": 1,
                "column": 40,
                "path": "provider.page_id",
                "message": 'expected an id written as a quoted string of digits, e.g. "200000000000001"; '
                "found the number 2",
            }
        ],
    }


def test_validate_json_on_success(monkeypatch):
    monkeypatch.chdir(EXAMPLES)
    document = json.loads(run("validate", "--format", "json").stdout)
    assert document["valid"] is True and document["errors"] == []
    assert document["resources"] == {
        "template": ["spring-preview", "winter-carousel"],
        "audience": ["vip"],
        "campaign": ["spring-launch", "winter-sale"],
    }


def test_usage_errors_exit_1_never_2():
    # 2 means "changes present" under --detailed-exitcode; a typo must not look like that.
    result = run("validate", "--format", "xml")
    assert result.exit_code == 1
    assert "Invalid value for '--format'" in result.stderr


def test_a_bug_exits_3_without_a_traceback_unless_debug(monkeypatch, project):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("reconciler.manifest.project.load_project", broken)
    result = run("validate")
    assert result.exit_code == 3
    assert "Traceback" not in result.stderr
    assert result.stderr == (
        "mmctl: internal error (RuntimeError). This is a bug in mmctl; run again with --debug and report the "
        "traceback.\n"
    )
    assert "Traceback" in run("--debug", "validate").stderr


def _mmctl() -> list[str]:
    script = Path(sys.executable).parent / ("mmctl.exe" if os.name == "nt" else "mmctl")
    assert script.exists(), "the mmctl console script is installed beside the interpreter"
    return [str(script)]


@pytest.mark.parametrize("command", [_mmctl, lambda: [sys.executable, "-m", "reconciler"]])
def test_installed_commands_validate_the_examples(tmp_path, command):
    # Run outside the checkout so the installed package (and its bundled schemas) is used.
    done = subprocess.run(
        [*command(), "validate", str(EXAMPLES)], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("Valid: 6 files, 2 templates, 1 audience, 2 campaigns, 2 sends")


def test_subprocess_bad_input_gives_one_line_per_error_and_no_traceback(tmp_path):
    (tmp_path / "m.yaml").write_text("provider:\n  ad_account: act_1\n  ad_account: act_2\n")
    done = subprocess.run(
        [*_mmctl(), "validate", "m.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert done.returncode == 1
    assert done.stderr == (
        "Error: m.yaml:3:3: provider.ad_account: duplicate key 'ad_account'; it is already set at line 2 (YAML "
        "would silently keep only the last one)\n"
        "1 error in 1 file; nothing was changed.\n"
    )


def test_no_color_takes_the_colour_out_even_where_it_would_show(example):
    coloured = CliRunner().invoke(cli, ["plan"], color=True)
    assert "\x1b[" in coloured.stdout
    plain = CliRunner().invoke(cli, ["--no-color", "plan"], color=True)
    assert plain.exit_code == 0 and "\x1b[" not in plain.stdout
    assert "_MMCTL_COMPLETE=bash_source mmctl" in CliRunner().invoke(cli, ["--help"]).stdout
