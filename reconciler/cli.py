"""The ``mmctl`` command line: parse, call the library, render, return an exit code.

Exit codes: 0 success; 1 any error (bad manifests, bad flags, API failures); 2 reserved for
``--detailed-exitcode`` ("changes present"), so that a usage error can never be mistaken
for pending changes; 3 a bug in mmctl; 130 interrupted.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any, Sequence

import click

from reconciler import __version__, manifest, render
from reconciler.errors import ManifestErrors, ReconcilerError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_BUG = 3
EXIT_INTERRUPTED = 130


def _color() -> bool | None:
    # None lets click decide (colour only on a TTY); NO_COLOR (no-color.org) always wins.
    return False if os.environ.get("NO_COLOR") else None


def echo(text: str, err: bool = False) -> None:
    click.echo(text, err=err, color=_color())


def echo_error(text: str) -> None:
    echo(click.style(text, fg="red"), err=True)


class MmctlGroup(click.Group):
    """Maps every failure to one line on stderr and a documented exit code."""

    def main(self, args: Sequence[str] | None = None, *a: Any, **kw: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        debug = "--debug" in argv or bool(os.environ.get("MMCTL_DEBUG"))
        kw["standalone_mode"] = False
        try:
            code = super().main(argv, *a, **kw)
        except click.exceptions.Abort:
            echo_error("Interrupted.")
            code = EXIT_INTERRUPTED
        except click.ClickException as exc:
            # click exits 2 on usage errors; 2 means "changes present" for mmctl.
            exc.show()
            code = EXIT_ERROR
        except ReconcilerError as exc:
            if debug:
                traceback.print_exc()
            echo_error(f"Error: {exc}")
            code = EXIT_ERROR
        except KeyboardInterrupt:
            echo_error("Interrupted.")
            code = EXIT_INTERRUPTED
        except Exception as exc:  # a bug: say so, and how to report it
            if debug:
                traceback.print_exc()
            echo_error(
                f"mmctl: internal error ({type(exc).__name__}). This is a bug in mmctl; "
                "run again with --debug and report the traceback."
            )
            code = EXIT_BUG
        sys.exit(code if isinstance(code, int) else EXIT_OK)


@click.group(cls=MmctlGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mmctl")
@click.option("--debug", is_flag=True, help="Print a traceback with errors (for bug reports).")
def cli(debug: bool) -> None:
    """Marketing messages on Messenger, managed as code.

    YAML manifests describe an ad account's campaigns, custom audiences and message
    templates. Run `mmctl COMMAND --help` for each command.
    """


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people (errors on stderr); json for tools (on stdout).",
)
def validate(paths: tuple[str, ...], fmt: str) -> int:
    """Check manifests offline: schemas, references and semantic rules.

    PATHS are manifest files or folders (default: the current folder); every *.yaml and
    *.yml file under a folder is read. Makes no network calls. Exits 0 when valid, 1 when not.
    """
    try:
        project = manifest.load_project(paths or (".",))
    except ManifestErrors as exc:
        if fmt == "json":
            echo(render.validation_json(None, exc.errors))
        else:
            echo_error(render.validation_errors_text(exc.errors))
        return EXIT_ERROR
    echo(render.validation_json(project, ()) if fmt == "json" else render.validation_ok_text(project))
    return EXIT_OK


def main() -> None:
    cli.main(prog_name="mmctl")
