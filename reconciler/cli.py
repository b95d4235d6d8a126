"""The ``mmctl`` command line: parse, call the library, render, return an exit code.

Exit codes: 0 success; 1 any error (bad manifests, bad flags, API failures); 2 reserved for
``--detailed-exitcode`` ("changes present"), so that a usage error can never be mistaken
for pending changes; 3 a bug in mmctl; 130 interrupted.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Any, Sequence

import click

from reconciler import __version__, manifest, render
from reconciler.errors import ManifestErrors, ReconcilerError
from reconciler.sandbox import Sandbox, SandboxConfig, SandboxDataError
from reconciler.sandbox.config import FAULT_KINDS
from reconciler.sandbox.server import serve as serve_sandbox

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


@cli.group()
def sandbox() -> None:
    """The built-in Graph API emulator, for trying mmctl, tests and benchmarks."""


@sandbox.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on; 0 picks a free one (printed on start).")
@click.option("--data", "data", default=".mmctl/sandbox.json", show_default=True, type=click.Path(dir_okay=False),
              help="JSON file the sandbox keeps its objects in; it survives restarts.")
@click.option("--ephemeral", is_flag=True, help="Keep everything in memory; --data is not read or written.")
@click.option("--latency-ms", default=0, show_default=True, type=click.IntRange(0), help="Delay every request.")
@click.option("--fault-rate", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="Share of requests (and batch operations) that fail.")
@click.option("--faults", "fault_kinds", default=",".join(FAULT_KINDS), show_default=True,
              help="Fault kinds to draw from: 500 (HTML error page), 1 and 2 (Graph transient codes), slow, drop "
                   "(connection closed), null (a batch operation not run).")
@click.option("--fault-phase", type=click.Choice(["before", "after", "any"]), default="any", show_default=True,
              help="Whether a faulted call was carried out before failing (after = outcome unknown to the client).")
@click.option("--slow-ms", default=2000, show_default=True, type=click.IntRange(0),
              help="Extra delay of a slow fault.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the fault generator (replayable runs).")
@click.option("--now", "now", default=None, metavar="ISO",
              help="Set the sandbox clock (ISO 8601 or Unix seconds); it runs on from there.")
@click.option("--freeze-clock", is_flag=True, help="Stop the clock; advance it with POST /__sandbox/clock.")
@click.option("--token", default=None, help="Accept only this access token (default: any non-empty token). "
              "Prefer MMCTL_SANDBOX_TOKEN: arguments are visible to other users of the machine.")
@click.option("--quota", default=0, show_default=True, type=click.IntRange(0),
              help="Calls per ad account and use case per window before codes 80004/80003 (0: unlimited).")
@click.option("--user-quota", default=0, show_default=True, type=click.IntRange(0),
              help="Calls per token per window before code 17 (0: unlimited).")
@click.option("--quota-window", default=60.0, show_default=True, type=click.FloatRange(0.1),
              help="Length of a quota window in seconds.")
@click.option("--match-rate", default=0.6, show_default=True, type=click.FloatRange(0, 1),
              help="Share of uploaded people who match a Messenger user and get a subscription token.")
@click.option("--currency", default="USD", show_default=True, help="Currency of ad accounts created on first use.")
@click.option("--timezone", "timezone_name", default="America/Los_Angeles", show_default=True,
              help="Time zone of ad accounts created on first use.")
@click.option("--access-log", is_flag=True, help="Print a line per request on stderr.")
def serve(host: str, port: int, data: str, ephemeral: bool, latency_ms: int, fault_rate: float, fault_kinds: str,
          fault_phase: str, slow_ms: int, seed: int, now: str | None, freeze_clock: bool, token: str | None,
          quota: int, user_quota: int, quota_window: float, match_rate: float, currency: str, timezone_name: str,
          access_log: bool) -> int:
    """Serve the Graph API emulator over HTTP until interrupted (Ctrl-C or SIGTERM).

    Prints `listening on http://HOST:PORT`; point mmctl at it with --graph-url or
    MMCTL_GRAPH_URL. The API is under /v{version}/, controls and counters under /__sandbox/
    (see the README).
    """
    kinds = tuple(k.strip() for k in fault_kinds.split(",") if k.strip())
    if host not in ("127.0.0.1", "localhost", "::1"):
        echo(f"Warning: listening on {host}; the sandbox accepts any token and has no TLS.", err=True)
    try:
        config = SandboxConfig(
            latency_ms=latency_ms, fault_rate=fault_rate, fault_kinds=kinds, fault_phase=fault_phase,
            slow_ms=slow_ms, seed=seed, token=token or os.environ.get("MMCTL_SANDBOX_TOKEN") or None,
            app_secret=os.environ.get("MMCTL_SANDBOX_APP_SECRET") or None, quota=quota, user_quota=user_quota,
            quota_window_s=quota_window, match_rate=match_rate, default_currency=currency,
            default_timezone=timezone_name,
        )
        app = Sandbox(config, None if ephemeral else Path(data))
        if now is not None or freeze_clock:
            app.set_clock(now, freeze=freeze_clock or None)
        return serve_sandbox(app, host, port, access_log=access_log, announce=lambda line: echo(line))
    except (ValueError, SandboxDataError) as exc:
        echo_error(f"Error: {exc}")
    except OSError as exc:
        echo_error(f"Error: cannot listen on {host}:{port}: {exc.strerror or exc}")
    return EXIT_ERROR


def main() -> None:
    cli.main(prog_name="mmctl")
