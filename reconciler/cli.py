"""The ``mmctl`` command line: parse, call the library, render, return an exit code.

Exit codes: 0 success; 1 any error (bad manifests, bad flags, API failures); 2 reserved for
``--detailed-exitcode`` ("changes present"), so that a usage error can never be mistaken
for pending changes; 3 a bug in mmctl; 130 interrupted.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # the commands load on use: `mmctl --help` stays fast
    from reconciler.commands.session import Session
    from reconciler.core.plan import Plan
    from reconciler.executor import Report
    from reconciler.state.store import StateStore

from reconciler import __version__
from reconciler.errors import ManifestErrors, ReconcilerError, UsageError
from reconciler.operation import DEFAULT_PARALLELISM
from reconciler.sandbox.config import FAULT_KINDS
from reconciler.timeparse import TimeError, parse_duration

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_BUG = 3
EXIT_INTERRUPTED = 130


_NO_COLOR = False  # --no-color, given before the command


def _color() -> bool | None:
    # None lets click decide (colour only on a TTY); --no-color and NO_COLOR (no-color.org) always win.
    return False if _NO_COLOR or os.environ.get("NO_COLOR") else None


def echo(text: str, err: bool = False) -> None:
    click.echo(text, err=err, color=_color())


def echo_error(text: str) -> None:
    echo(click.style(text, fg="red"), err=True)


def file_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--exclude and --include: which *.yaml files under the paths are manifests."""
    command = click.option(
        "--include",
        "include",
        multiple=True,
        metavar="PATTERN",
        help="Read only the files matching this gitignore-style pattern (relative to each folder given); repeatable.",
    )(command)
    command = click.option(
        "--exclude",
        "exclude",
        multiple=True,
        metavar="PATTERN",
        help="Leave out files matching this gitignore-style pattern (e.g. docker-compose.yml, "
        "ci/), as .mmctlignore lines do; repeatable.",
    )(command)
    return command


class MmctlGroup(click.Group):
    """Maps every failure to one line on stderr and a documented exit code."""

    def main(self, args: Sequence[str] | None = None, *a: Any, **kw: Any) -> Any:
        from reconciler.render import validation as render

        argv = list(sys.argv[1:] if args is None else args)
        # --debug works anywhere on the line (before "--", which ends the options): taken out here.
        options_end = argv.index("--") if "--" in argv else len(argv)
        debug = "--debug" in argv[:options_end] or os.environ.get("MMCTL_DEBUG", "") not in ("", "0")
        argv = [arg for i, arg in enumerate(argv) if not (arg == "--debug" and i < options_end)]
        kw["standalone_mode"] = False
        _warnings_logging()
        try:
            code = super().main(argv, *a, **kw)
        except click.exceptions.Abort:
            echo_error("Interrupted.")
            code = EXIT_INTERRUPTED
        except click.ClickException as exc:
            # click exits 2 on usage errors; 2 means "changes present" for mmctl.
            exc.show()
            code = EXIT_ERROR
        except ManifestErrors as exc:
            echo_error(render.validation_errors_text(exc.errors))
            code = EXIT_ERROR
        except ReconcilerError as exc:
            if debug:
                traceback.print_exc()
            echo_error(f"Error: {exc}")
            code = EXIT_ERROR
        except KeyboardInterrupt:
            echo_error("Interrupted.")
            code = EXIT_INTERRUPTED
        except OSError as exc:
            # The machine, not mmctl: a full disk, a read-only folder, a file that vanished.
            if debug:
                traceback.print_exc()
            where = f" ({exc.filename})" if exc.filename else ""
            echo_error(
                f"Error: {exc.strerror or type(exc).__name__}{where}; nothing more was changed. Fix the "
                "file or folder and run again."
            )
            code = EXIT_ERROR
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
@click.option(
    "--debug",
    is_flag=True,
    help="Print a traceback with errors (for bug reports); works anywhere on the command line, as does MMCTL_DEBUG=1.",
)
@click.option("--no-color", is_flag=True, help="No colour in the output, even on a terminal (as NO_COLOR=1 does).")
def cli(debug: bool, no_color: bool) -> None:
    """Marketing messages on Messenger, managed as code.

    YAML manifests describe an ad account's campaigns, custom audiences, message templates
    and sends. Run `mmctl COMMAND --help` for each command. Shell completion: add
    `eval "$(_MMCTL_COMPLETE=bash_source mmctl)"` to ~/.bashrc (zsh_source, fish_source for
    the other shells).

    Exit codes: 0 done (or no changes), 1 an error (bad input, an API refusal, the
    environment), 2 changes pending (plan --detailed-exitcode), 3 a bug in mmctl (run
    again with --debug or MMCTL_DEBUG=1 and report the traceback), 130 interrupted.
    """
    global _NO_COLOR
    _NO_COLOR = no_color


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="text for people (errors on stderr); json for tools (on stdout); github: errors and warnings as "
    "GitHub Actions annotations on their lines (on stdout), the text on stderr.",
)
@click.option("--strict", is_flag=True, help="Treat warnings (e.g. an http:// image URL Meta accepts) as errors.")
@file_options
def validate(paths: tuple[str, ...], fmt: str, strict: bool, include: tuple[str, ...], exclude: tuple[str, ...]) -> int:
    """Check manifests offline: schemas, references and semantic rules.

    PATHS are manifest files or folders (default: the current folder); every *.yaml and
    *.yml file under a folder is read. Makes no network calls. Exits 0 when valid, 1 when not.
    Warnings go to stderr and do not fail validation unless --strict is given.
    """
    from reconciler.manifest import project as manifest
    from reconciler.manifest.discovery import Filters
    from reconciler.render import github
    from reconciler.render import validation as render

    try:
        project = manifest.load_project(paths or (".",), strict=strict, filters=Filters(include, exclude))
    except ManifestErrors as exc:
        if fmt == "json":
            echo(render.validation_json(None, exc.errors))
        else:
            if fmt == "github":
                echo("\n".join(github.manifest_annotations(exc.errors, "error", "mmctl validate")))
            echo_error(render.validation_errors_text(exc.errors))
        return EXIT_ERROR
    if fmt == "github" and project.warnings:
        echo("\n".join(github.manifest_annotations(project.warnings, "warning", "mmctl validate")))
    if project.warnings and fmt != "json":
        echo(click.style(render.warnings_text(project), fg="yellow"), err=True)
    echo(render.validation_json(project, ()) if fmt == "json" else render.validation_ok_text(project))
    return EXIT_OK


@cli.group()
def sandbox() -> None:
    """The built-in Graph API emulator, for trying mmctl, tests and benchmarks."""


@sandbox.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8765,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on; 0 picks a free one (printed on start).",
)
@click.option(
    "--data",
    "data",
    default=None,
    type=click.Path(dir_okay=False),
    help="JSON file the sandbox keeps its objects in; it survives restarts. Default: the file `graph: "
    "sandbox` uses for the project in PATHS (or the current folder): ROOT/.mmctl/sandbox.json.",
)
@click.option("--ephemeral", is_flag=True, help="Keep everything in memory; --data is not read or written.")
@click.option("--latency-ms", default=0, show_default=True, type=click.IntRange(0), help="Delay every request.")
@click.option(
    "--fault-rate",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Share of requests (and batch operations) that fail.",
)
@click.option(
    "--faults",
    "fault_kinds",
    default=",".join(FAULT_KINDS),
    show_default=True,
    help="Fault kinds to draw from: 500 (HTML error page), 1 and 2 (Graph transient codes), slow, drop "
    "(connection closed), null (a batch operation not run).",
)
@click.option(
    "--fault-phase",
    type=click.Choice(["before", "after", "any"]),
    default="any",
    show_default=True,
    help="Whether a faulted call was carried out before failing (after = outcome unknown to the client).",
)
@click.option("--slow-ms", default=2000, show_default=True, type=click.IntRange(0), help="Extra delay of a slow fault.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the fault generator (replayable runs).")
@click.option(
    "--now",
    "now",
    default=None,
    metavar="ISO",
    help="Set the sandbox clock (ISO 8601 or Unix seconds); it runs on from there.",
)
@click.option("--freeze-clock", is_flag=True, help="Stop the clock; advance it with POST /__sandbox/clock.")
@click.option(
    "--token",
    default=None,
    help="Accept only this access token (default: any non-empty token). "
    "Prefer MMCTL_SANDBOX_TOKEN: arguments are visible to other users of the machine.",
)
@click.option(
    "--quota",
    default=0,
    show_default=True,
    type=click.IntRange(0),
    help="Calls per ad account and use case per window before codes 80004/80003 (0: unlimited).",
)
@click.option(
    "--user-quota",
    default=0,
    show_default=True,
    type=click.IntRange(0),
    help="Calls per token per window before code 17 (0: unlimited).",
)
@click.option(
    "--quota-window",
    default=60.0,
    show_default=True,
    type=click.FloatRange(0.1),
    help="Length of a quota window in seconds.",
)
@click.option(
    "--match-rate",
    default=0.6,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Share of uploaded people who match a Messenger user and get a subscription token.",
)
@click.option(
    "--match-delay",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0),
    metavar="SECONDS",
    help="How long matching an upload takes: its subscription tokens are listed only after this (Meta: up to 24 hours).",
)
@click.option("--currency", default="USD", show_default=True, help="Currency of ad accounts created on first use.")
@click.option(
    "--timezone",
    "timezone_name",
    default="America/Los_Angeles",
    show_default=True,
    help="Time zone of ad accounts created on first use.",
)
@click.option("--access-log", is_flag=True, help="Print a line per request on stderr.")
def serve(
    paths: tuple[str, ...],
    host: str,
    port: int,
    data: str | None,
    ephemeral: bool,
    latency_ms: int,
    fault_rate: float,
    fault_kinds: str,
    fault_phase: str,
    slow_ms: int,
    seed: int,
    now: str | None,
    freeze_clock: bool,
    token: str | None,
    quota: int,
    user_quota: int,
    quota_window: float,
    match_rate: float,
    match_delay: float,
    currency: str,
    timezone_name: str,
    access_log: bool,
) -> int:
    """Serve the Graph API emulator over HTTP until interrupted (Ctrl-C or SIGTERM).

    Prints `listening on http://HOST:PORT`; point mmctl at it with --graph-url or
    MMCTL_GRAPH_URL (and any token in META_ACCESS_TOKEN: a served sandbox, like the real API,
    needs one). It serves the objects that `graph: sandbox` made for the project in PATHS
    (default: the current folder). The API is under /v{version}/, controls and counters under
    /__sandbox/ (see the README).
    """
    from reconciler.commands import sandbox as sandbox_command

    settings = {
        "latency_ms": latency_ms,
        "fault_rate": fault_rate,
        "fault_kinds": tuple(k.strip() for k in fault_kinds.split(",") if k.strip()),
        "fault_phase": fault_phase,
        "slow_ms": slow_ms,
        "seed": seed,
        "token": token,
        "quota": quota,
        "user_quota": user_quota,
        "quota_window_s": quota_window,
        "match_rate": match_rate,
        "match_delay_s": match_delay,
        "default_currency": currency,
        "default_timezone": timezone_name,
    }
    return sandbox_command.serve(
        paths,
        host,
        port,
        data=data,
        ephemeral=ephemeral,
        settings=settings,
        now=now,
        freeze_clock=freeze_clock,
        access_log=access_log,
        env=os.environ,
        say=echo,
        note=lambda line: echo(line, err=True),
    )


# --- plan and apply -----------------------------------------------------------------------------

EXIT_CHANGES = 2


def _duration_or_none(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    return None if value is None else _duration(ctx, param, value)


@sandbox.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--advance",
    metavar="DURATION",
    callback=_duration_or_none,
    help="Move the sandbox clock forward (e.g. 1h, 90m, 13h): a new campaign's warm-up or the 12-hour cooldown passes.",
)
@click.option("--set", "at", metavar="TIME", help="Set the sandbox clock (ISO 8601 or Unix seconds).")
@click.option("--data", metavar="FILE", help="The sandbox data file (default: the project's .mmctl/sandbox.json).")
def clock(paths: tuple[str, ...], advance: float | None, at: str | None, data: str | None) -> int:
    """Show, set or advance the clock of the project's sandbox (`graph: sandbox`).

    Times Meta enforces (the warm-up after a campaign is created, one message per subscriber every
    12 hours, schedules) follow this clock, so a send can be tried without waiting an hour."""
    from reconciler.commands import sandbox as sandbox_command

    echo(sandbox_command.clock(paths, data=data, advance=advance or 0.0, at=at))
    return EXIT_OK


def _lock_timeout(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--lock-timeout",
        default=0.0,
        show_default=True,
        type=click.FloatRange(0),
        metavar="SECONDS",
        help="Seconds to wait for the state lock before giving up.",
    )(command)


def session_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options every command that talks to the Graph API takes."""
    command = click.option(
        "--verbose",
        "-v",
        is_flag=True,
        help="Log every Graph request (method, path, status, time; never the token) and the "
        "request counters, on stderr.",
    )(command)
    command = click.option(
        "--token-file",
        type=click.Path(dir_okay=False),
        help="Read the access token from this file instead of META_ACCESS_TOKEN.",
    )(command)
    command = click.option(
        "--max-wait",
        envvar="MMCTL_MAX_WAIT",
        metavar="DURATION",
        callback=_duration,
        help="When Meta throttles and says access returns later than a call may wait, wait up to "
        "this long instead of stopping (e.g. 30m, 2h; env MMCTL_MAX_WAIT). Default: stop "
        "and say when access returns.",
    )(command)
    command = click.option(
        "--request-timeout",
        envvar="MMCTL_REQUEST_TIMEOUT",
        default=30.0,
        show_default=True,
        type=click.FloatRange(0.1, 600),
        metavar="SECONDS",
        help="Give up on a connection attempt, or on an answer that stops arriving, after this many seconds; the "
        "call is then retried (env MMCTL_REQUEST_TIMEOUT).",
    )(command)
    command = click.option(
        "--proxy",
        envvar="MMCTL_PROXY",
        metavar="URL",
        help="Send Graph requests through this http(s) proxy (env MMCTL_PROXY). HTTP(S)_PROXY "
        "variables are ignored, and a loopback Graph URL is never proxied.",
    )(command)
    command = file_options(command)
    command = click.option(
        "--graph-url",
        envvar="MMCTL_GRAPH_URL",
        metavar="URL",
        help="Use this Graph API root instead of provider.graph, e.g. a served sandbox (env MMCTL_GRAPH_URL).",
    )(command)
    return command


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> float:
    if value is None:
        return 0.0
    try:
        return parse_duration(value)
    except TimeError as exc:
        raise click.BadParameter(str(exc)) from None


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time (click's runner swaps it in tests)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _warnings_logging() -> None:
    """Warnings (a retry, a wait for Meta's rate limit) reach stderr without --verbose."""
    handler = _Stderr(sys.stderr)
    handler.setFormatter(logging.Formatter("mmctl: %(message)s"))
    logger = logging.getLogger("mmctl")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.WARNING)
    logger.propagate = False


def _logging(verbose: bool) -> None:
    if verbose:
        logging.getLogger("mmctl").setLevel(logging.INFO)


def _open(
    paths: tuple[str, ...], session: dict[str, Any], parallelism: int = DEFAULT_PARALLELISM, read_ahead: bool = False
) -> Session:
    """The session for a command given the options of ``session_options`` (as click passed them)."""
    from reconciler.commands import session as sessions
    from reconciler.manifest.discovery import Filters

    _logging(session["verbose"])
    options = sessions.Options(
        graph_url=session["graph_url"],
        token_file=session["token_file"],
        parallelism=parallelism,
        max_wait=session["max_wait"],
        request_timeout=session["request_timeout"],
        proxy=session["proxy"],
        filters=Filters(tuple(session["include"]), tuple(session["exclude"])),
    )
    return sessions.open_session(paths, os.environ, options, read_ahead=read_ahead)


def _counters(session: Session, verbose: bool) -> None:
    if verbose:
        c = session.client.counters
        echo(
            f"mmctl: {c.requests} Graph requests ({c.batches} batches of {c.operations} operations), "
            f"{c.retries} retries, {c.throttled_waits} throttled waits",
            err=True,
        )


def _echo_plan(made: Plan) -> None:
    """The text plan, printed 1,000 lines at a time (never the whole of a 100,000-action plan at once)."""
    from itertools import islice

    from reconciler.render import plan as render_plan

    lines = render_plan.plan_lines(made, style=None if _color() is False else click.style)
    while chunk := list(islice(lines, 1000)):
        echo("\n".join(chunk))


def _format_error(exc: ReconcilerError, fmt: str, title: str) -> None:
    """A failure in the form asked for, on stdout, besides the error on stderr: annotations (at their
    lines, for manifest errors) with --format github, a comment body with --format markdown (a PR
    comment step never posts an empty comment)."""
    if fmt == "markdown":
        from reconciler.render.plan import error_markdown
        from reconciler.render.validation import validation_errors_text

        shown = validation_errors_text(exc.errors) if isinstance(exc, ManifestErrors) else str(exc)
        echo(error_markdown(shown))
        return
    if fmt != "github":
        return
    from reconciler.render import github

    if isinstance(exc, ManifestErrors):
        echo("\n".join(github.manifest_annotations(exc.errors, "error", title)))
    else:
        echo(github.error_annotation(str(exc), title))


def _github_plan(session: Session, made: Plan) -> str:
    from reconciler.render import github

    project = session.project
    declared: list[Any] = [*project.templates.values(), *project.audiences.values(), *project.campaigns.values()]
    declared += [*project.sends.values(), *([project.unsubscribes] if project.unsubscribes else [])]
    locations = {item.address: item.location for item in declared if item.location is not None}
    own = github.manifest_annotations(project.warnings, "warning", "mmctl plan")
    rest = github.plan_annotations(made, locations, skip=[str(w) for w in project.warnings])
    return "\n".join(own + rest)


def _show_plan(made: Plan, fmt: str) -> None:
    from reconciler.render import plan as render_plan

    if fmt == "json":
        echo(render_plan.plan_json_text(made).rstrip("\n"))
    elif fmt == "markdown":
        echo(render_plan.plan_markdown(made))
    else:
        _echo_plan(made)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="Save the plan for `mmctl apply FILE` (any file name; "
    "sealed with a digest, and signed when MMCTL_PLAN_KEY is set).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown", "github"]),
    default="text",
    show_default=True,
    help="text for people, json for tools (schemas/plan.schema.json), markdown for a PR comment, github: "
    "warnings and errors as GitHub Actions annotations on their manifest lines, then the text plan.",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there is nothing to do, 2 when changes are pending, 1 on errors.",
)
@click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="ADDR",
    help="Plan only this resource (e.g. campaign.winter-sale); repeatable.",
)
@click.option(
    "--refresh-only",
    is_flag=True,
    help="Only report changes made outside mmctl (drift); applying such "
    "a plan records the live values in state and changes nothing in the account.",
)
@click.option(
    "--no-estimate",
    is_flag=True,
    help="Skip Meta's delivery and cost estimates (one request per 50 campaigns whose budget is new or changed).",
)
@session_options
def plan(
    paths: tuple[str, ...],
    out: str | None,
    fmt: str,
    detailed_exitcode: bool,
    targets: tuple[str, ...],
    refresh_only: bool,
    no_estimate: bool,
    **options: Any,
) -> int:
    """Show what apply would change, reading the live account. Changes nothing.

    PATHS are manifest files or folders (default: the current folder).
    """
    try:
        # plan takes no lock: the live account can be read while the manifests load (and while
        # the modules below are imported).
        session = _open(paths, options, read_ahead=True)
    except ReconcilerError as exc:
        _format_error(exc, fmt, "mmctl plan")
        raise
    from reconciler.commands import plan as plan_command

    try:
        try:
            made, _ = plan_command.plan(session, targets=targets, refresh_only=refresh_only, estimate=not no_estimate)
        except ReconcilerError as exc:
            _format_error(exc, fmt, "mmctl plan")
            raise
        if fmt == "github":
            echo(_github_plan(session, made))
        _show_plan(made, fmt)
        if out:
            from reconciler.commands import apply as apply_command  # the executor is not needed to plan

            signed = apply_command.save_plan(made, Path(out), os.environ)
            echo(
                f"Saved the plan to {out}{' (signed with MMCTL_PLAN_KEY)' if signed else ''}; apply exactly this "
                f"plan with `mmctl apply {out}`.",
                err=True,
            )
        _counters(session, options["verbose"])
    finally:
        session.close()
    return EXIT_CHANGES if detailed_exitcode and made.changes_pending else EXIT_OK


def _confirm(made: Plan, auto_approve: bool) -> bool:
    if auto_approve:
        return True
    if not sys.stdin.isatty():
        raise UsageError("apply needs --auto-approve when it cannot ask (no terminal); nothing was changed")
    answer = click.prompt(
        f"Apply these changes to {made.account}? Only 'yes' is accepted", default="", show_default=False
    )
    return bool(answer.strip() == "yes")


def _report(report: Report, made: Plan) -> int:
    from reconciler.resources import MAKING, Kind

    done = len({address for address, _ in report.done})
    if report.notices:
        echo("Meta said:")
        for address, notice in report.notices:
            echo(f"  {address}: {notice}")
    if report.ok:
        echo(f"Apply complete: {done} resource(s) changed. State: serial {report.state.serial}.")
        if any(a.kind == Kind.CAMPAIGN and a.action in MAKING for a in made.actions):
            echo("Note: new campaigns can send messages after Meta's 1-hour warm-up.")
        return EXIT_OK
    echo_error(f"Apply incomplete: {done} resource(s) changed, {len(report.failed)} failed:")
    for address, why in report.failed:
        echo_error(f"  {address}: {why}")
    echo_error("What succeeded is recorded in state; run `mmctl plan` to see what is left.")
    return EXIT_ERROR


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--auto-approve", is_flag=True, help="Apply without asking (required when there is no terminal).")
@click.option("--target", "targets", multiple=True, metavar="ADDR", help="Apply only this resource; repeatable.")
@click.option(
    "--parallelism",
    default=DEFAULT_PARALLELISM,
    show_default=True,
    type=click.IntRange(1, 16),
    help="Batch requests in flight at once.",
)
@_lock_timeout
@click.option(
    "--no-estimate",
    is_flag=True,
    help="Skip Meta's delivery and cost estimates in the plan shown for "
    "approval (with --auto-approve they are skipped anyway: nobody reads them before the changes run).",
)
@session_options
def apply(
    paths: tuple[str, ...],
    auto_approve: bool,
    targets: tuple[str, ...],
    parallelism: int,
    lock_timeout: float,
    no_estimate: bool,
    **options: Any,
) -> int:
    """Make the account match the manifests, or carry out a saved plan.

    `mmctl apply [PATHS]` plans, shows the plan, asks, and applies. `mmctl apply PLANFILE
    [PATHS]` applies a plan saved by `mmctl plan --out` (recognised by its content, whatever
    its name): it plans again and applies only if every action, id and value equals the saved
    plan, for the same Graph endpoint, ad account, currency and Page. With MMCTL_PLAN_KEY set,
    only a plan signed with that key is applied.
    """
    from reconciler import planfile
    from reconciler.commands import apply as apply_command
    from reconciler.commands import plan as plan_command

    # A saved plan is recognised by its content, whatever it is called (plan.out, tfplan, reviewed.plan).
    plan_files = [p for p in paths if planfile.looks_like_plan(Path(p))]
    manifests = tuple(p for p in paths if p not in plan_files)
    if len(plan_files) > 1:
        raise UsageError("give at most one saved plan file")
    if plan_files and targets:
        raise UsageError("--target cannot be used with a saved plan: it applies exactly what it says")
    saved, digest = apply_command.read_saved_plan(plan_files[0], os.environ) if plan_files else (None, None)
    session = _open(manifests, options, parallelism)
    try:
        with session.store.lock("mmctl apply", lock_timeout):
            if saved is not None:
                # What is shown and carried out is the plan made now, which equals the saved one.
                made, account = apply_command.replan(session, saved)
                _echo_plan(made)
            else:
                made, account = plan_command.plan(session, targets=targets, estimate=not (no_estimate or auto_approve))
                _echo_plan(made)
                if not made.changes_pending and not any(a.resolves for a in made.actions):
                    _counters(session, options["verbose"])
                    return EXIT_OK
                if not _confirm(made, auto_approve):
                    echo("Apply cancelled; nothing was changed.")
                    return EXIT_ERROR
            report = apply_command.apply(session, made, account, lambda line: echo(line, err=True), plan_digest=digest)
        _counters(session, options["verbose"])
        return _report(report, made)
    finally:
        session.close()


@cli.command(name="import")
@click.argument("address")
@click.argument("object_id", metavar="ID")
@click.argument("paths", nargs=-1, type=click.Path())
@_lock_timeout
@session_options
def import_(address: str, object_id: str, paths: tuple[str, ...], lock_timeout: float, **options: Any) -> int:
    """Adopt an existing live object as ADDR (declared in the manifests) without changing it.

    For a campaign, ID may be its message id (the MESSAGE_CAMPAIGN_ID), its campaign id or its ad
    set id, as Ads Manager shows them. Example: mmctl import campaign.winter-sale 120210000000000004
    """
    from reconciler.commands import imports

    session = _open(paths, options)
    try:
        with session.store.lock("mmctl import", lock_timeout):
            resource = imports.import_resource(session, address, object_id)
        through = f", found through {object_id}" if resource.ids["id"] != object_id else ""
        echo(
            f"Imported {address} (id {resource.ids['id']}{through}). Run `mmctl plan` to see how it differs from "
            "the manifest."
        )
    finally:
        session.close()
    return EXIT_OK


@cli.command()
@click.argument("template", required=False)
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--campaign", metavar="NAME", help="Preview the template this campaign uses.")
@session_options
def preview(template: str | None, paths: tuple[str, ...], campaign: str | None, **options: Any) -> int:
    """Render a message template with Meta's generatepreviews and print the preview.

    Prints the preview URL, then the iframe HTML Meta returns. Example:
    mmctl preview winter-carousel examples/
    """
    from reconciler.commands import preview as preview_command

    session = _open(paths, options)
    try:
        key, iframe = preview_command.preview(session, template, campaign)
        found = re.search(r'src="([^"]+)"', iframe)
        echo(f"Preview of template.{key}: {html.unescape(found.group(1)) if found else '(no URL in the answer)'}")
        echo(iframe)
        if session.graph == "sandbox":
            echo(
                "(The in-process sandbox made this preview; `mmctl sandbox serve --data .mmctl/sandbox.json` with "
                "--graph-url serves its URLs.)",
                err=True,
            )
        _counters(session, options["verbose"])
    finally:
        session.close()
    return EXIT_OK


@cli.command()
@click.argument("directory", required=False, default=".", type=click.Path(file_okay=False))
@click.option(
    "--ci",
    type=click.Choice(["github"]),
    help="Also write the GitHub Actions workflows (plan on pull requests, apply on merge) to the "
    "repository's .github/workflows/.",
)
@click.option(
    "--repo-root",
    type=click.Path(file_okay=False),
    help="The repository the workflows go in (default: the git repository around DIRECTORY).",
)
def init(directory: str, ci: str | None, repo_root: str | None) -> int:
    """Start a project in DIRECTORY (default: here): a provider block for the sandbox (the real
    API's lines commented), a template, an audience, a campaign and a send, and a .gitignore that
    keeps .mmctl/ and customer files out of git. Never overwrites a file."""
    from reconciler.commands import init as init_command

    written = init_command.init(Path(directory), ci=ci, repo_root=Path(repo_root) if repo_root else None)
    for path in written:
        echo(f"wrote {path}")
    echo(
        f"Next: mmctl validate {directory} && mmctl plan {directory}  (the sandbox: no account, no token)"
        + ("; set the secrets the workflows name (README: Running in CI)" if ci else "")
    )
    return EXIT_OK


@cli.group(name="send")
def send_group() -> None:
    """Follow sends: who was sent each send, who was skipped and why (read from the state's journal)."""


@send_group.command(name="status")
@click.argument("name", required=False)
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Output format."
)
def send_status(name: str | None, paths: tuple[str, ...], output: str) -> int:
    """Show each send's progress and outcomes by reason (or only NAME's): sent, skipped (with the
    reason), failed (with the code), unknown, in flight and not sent yet. Reads the state only."""
    from reconciler.commands import send_status as status_command

    if name is not None and ("/" in name or Path(name).is_dir()):
        paths, name = (name, *paths), None  # a first argument that is a folder is a path
    store = _store(paths)
    try:
        entries = status_command.send_status(store, store.read(), name)
    finally:
        store.close()
    if output == "json":
        echo(json.dumps({"format_version": "1", "sends": entries}, indent=2, ensure_ascii=False))
    else:
        echo(status_command.status_text(entries))
    return EXIT_OK


@cli.group()
def state() -> None:
    """Inspect, edit or move what mmctl manages (the state), without touching the account.

    State lives where the manifests' state block says: an SQLite database at .mmctl/state.db by
    default, or PostgreSQL (state: {backend: postgres}) shared by a team and its CI."""


def _store(paths: tuple[str, ...]) -> StateStore:
    from reconciler.commands import session as sessions

    return sessions.open_store(paths, os.environ)


def _address_and_paths(address: str | None, paths: tuple[str, ...]) -> tuple[str | None, tuple[str, ...]]:
    """ADDR is optional before PATHS: a first argument that is no KIND.NAME address is a path."""
    from reconciler.state.model import KINDS

    if address is not None and address.partition(".")[0] not in KINDS:
        return None, (address, *paths)
    return address, paths


@state.command(name="list")
@click.argument("paths", nargs=-1, type=click.Path())
def state_list(paths: tuple[str, ...]) -> int:
    """List managed resources: address, kind, id, protect."""
    from reconciler.commands import state as state_command

    store = _store(paths)
    try:
        current = store.read()
    finally:
        store.close()
    rows = state_command.state_summary(current)
    if not rows:
        echo("No resources in state.")
    for row in rows:
        protected = "\tprotected" if row["protect"] else ""
        echo(f"{row['address']}\t{row['id'] or '-'}{protected}")
    if current.pending:
        echo(
            f"{len(current.pending)} pending operation(s) from an interrupted apply; the next plan resolves them.",
            err=True,
        )
    return EXIT_OK


@state.command(name="show")
@click.argument("address", required=False)
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--version", "number", type=click.IntRange(1), metavar="N", help="Show the state as version N left it.")
def state_show(address: str | None, paths: tuple[str, ...], number: int | None) -> int:
    """Print one resource's state (ids, last applied values, protect) as JSON.

    With --version N, print version N of the history (who, when, commit, plan digest, summary)
    with the resources as it left them, or only ADDR's."""
    from reconciler.commands import state as state_command

    address, paths = _address_and_paths(address, paths)
    if address is None and number is None:
        raise UsageError("give an ADDR (e.g. campaign.winter-sale), or --version N (see mmctl state history)")
    store = _store(paths)
    try:
        if number is not None:
            shown = state_command.shown_version(store, number, address)
        else:
            current = store.read()
            if address not in current.resources:
                raise UsageError(f"{address} is not in the state")
            shown = {"address": address, **current.resources[str(address)].to_dict()}
    finally:
        store.close()
    echo(json.dumps(shown, indent=2, ensure_ascii=False))
    return EXIT_OK


@state.command(name="history")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Output format."
)
def state_history(paths: tuple[str, ...], output: str) -> int:
    """List the state's versions: every apply, import, state rm and migrate, with who ran it,
    where, from which git commit and plan, and what it did."""
    from reconciler.commands import state as state_command

    store = _store(paths)
    try:
        versions = store.versions()
        where = store.location
    finally:
        store.close()
    if output == "json":
        echo(json.dumps(state_command.history_json(versions), indent=2, ensure_ascii=False))
        return EXIT_OK
    if not versions:
        echo(f"No versions yet in the state {where}.")
    for version in versions:
        echo(state_command.version_line(version))
    return EXIT_OK


@state.command(name="rm")
@click.argument("address")
@click.argument("paths", nargs=-1, type=click.Path())
@_lock_timeout
def state_rm(address: str, paths: tuple[str, ...], lock_timeout: float) -> int:
    """Stop managing ADDR: remove it from state and leave the live object as it is."""
    from reconciler.commands import state as state_command

    store = _store(paths)
    try:
        with store.lock("mmctl state rm", lock_timeout):
            state_command.forget(store, address)
    finally:
        store.close()
    echo(f"Removed {address} from state; the live object was not touched.")
    return EXIT_OK


@state.command(name="unlock")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--force",
    is_flag=True,
    help="End the holder's session (PostgreSQL); without it, only say who holds the lock.",
)
def state_unlock(paths: tuple[str, ...], force: bool) -> int:
    """Free the state lock of a run that cannot release it (the rare manual case).

    A lock is released by itself when its holder ends: SQLite's when the process exits,
    PostgreSQL's when the server sees the connection close. Only a vanished machine whose
    connection lingers needs this."""
    from reconciler.commands import state as state_command

    store = _store(paths)
    try:
        echo(state_command.unlock(store, force))
    finally:
        store.close()
    return EXIT_OK


@state.command(name="migrate")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--to", "backend", type=click.Choice(["postgres", "sqlite"]), required=True, help="The backend to move to."
)
@click.option("--schema", help="PostgreSQL schema to move to (default: the state block's, else mmctl).")
@click.option("--path", "path", help="SQLite database to move to, relative to the manifests (default .mmctl/state.db).")
@_lock_timeout
def state_migrate(
    paths: tuple[str, ...], backend: str, schema: str | None, path: str | None, lock_timeout: float
) -> int:
    """Copy the state whole (resources, pending operations, member records, history) to another
    backend, then say what to write in the state block.

    The PostgreSQL connection string comes from MMCTL_STATE_URL or libpq's PG* variables, never
    from the command line. The old state is left as it was, as a backup."""
    from reconciler.commands import session as sessions
    from reconciler.commands import state as state_command
    from reconciler.manifest.project import load_project

    project = load_project(paths or (".",), env=os.environ)
    config = state_command.target_config(project, backend, path, schema)
    source = sessions.store_factory(os.environ)(project)
    target = sessions.open_backend(config, os.environ)
    try:
        moved = state_command.migrate(source, target, lock_timeout)
        echo(
            f"Copied the state {source.location} ({len(moved.resources)} resources, serial {moved.serial}) to "
            f"{target.location}."
        )
    finally:
        source.close()
        target.close()
    echo(f"Now set the manifests' state block to: {state_command.migrate_hint(config, project.root)}")
    return EXIT_OK


def main() -> None:
    cli.main(prog_name="mmctl")
