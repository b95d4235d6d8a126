"""``--format github``: errors and warnings as GitHub Actions annotations on their manifest lines."""

from __future__ import annotations

from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.errors import SourceLocation
from reconciler.render.github import annotation


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_annotations_escape_what_the_runner_would_read_as_syntax():
    where = SourceLocation("dir,a/x:y.yaml", 4, 19)
    assert annotation("error", "50% off\nline two", where=where, title="mmctl: validate") == (
        "::error file=dir%2Ca/x%3Ay.yaml,line=4,col=19,title=mmctl%3A validate::50%25 off%0Aline two"
    )
    assert annotation("notice", "done") == "::notice title=mmctl::done"


def test_validate_and_plan_annotate_errors_at_their_lines(example):
    (example / "bad.yaml").write_text("campaigns:\n  broken:\n    name: X\n    daily_budget: -5\n")
    validated = run("validate", "--format", "github")
    assert validated.exit_code == 1
    assert validated.stdout.startswith(
        "::error file=bad.yaml,line=4,col=19,title=mmctl validate::campaigns.broken.daily_budget: expected an "
        "amount greater than 0"
    )
    assert "Error: bad.yaml:4:19: campaigns.broken.daily_budget" in validated.stderr  # the text, for the log
    planned = run("plan", "--format", "github")
    assert planned.exit_code == 1 and planned.stdout.startswith(
        "::error file=bad.yaml,line=4,col=19,title=mmctl plan::"
    )


def test_a_plan_annotates_its_warnings_at_the_resource_and_ends_with_the_text(example):
    (example / "data" / "vip.csv").write_text("email\n" + "".join(f"p{n}@example.com\n" for n in range(30)))
    planned = run("plan", "--format", "github")
    assert planned.exit_code == 0, planned.output
    lines = planned.stdout.splitlines()
    assert lines[0].startswith(
        "::warning file=audiences.yaml,line=3,col=3,title=mmctl plan::audience.vip: 30 people in the member file;"
    )
    assert any(line.startswith("::notice title=mmctl plan::Plan: 6 to create") for line in lines)
    assert "Account act_100000000000001 (USD) via sandbox" in lines
