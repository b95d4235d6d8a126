"""Offline semantic checks: the rules a JSON Schema cannot express.

Pure functions over the declared (already schema-valid) resources. Each returns the errors
it finds; none stops at the first.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from reconciler import money, urls
from reconciler.clock import utc_text
from reconciler.errors import ManifestError, SourceLocation
from reconciler.manifest.discovery import check_regular
from reconciler.members import memberfile
from reconciler.timeparse import TimeError, load_zone, parse_instant

NodePath = tuple[Any, ...]


@dataclass(frozen=True)
class Declared:
    """One block as written: its data, where it is, and the file that holds it."""

    kind: str  # "provider", "state", "template", "audience", "campaign" or "send"
    key: str
    data: Mapping[str, Any]
    file: Path
    path: NodePath  # e.g. ("campaigns", "winter-sale")
    locate_value: Callable[[NodePath], SourceLocation]
    locate_key: Callable[[NodePath], SourceLocation]
    # Every field written, including those left out of ``data`` for failing the schema (None: the
    # fields of ``data``, as nothing was left out).
    written: frozenset[str] | None = None
    # Fields (paths below the block) whose values came from ${env:...}.
    from_env: frozenset[NodePath] = frozenset()

    @property
    def address(self) -> str:
        return f"{self.kind}.{self.key}"

    @property
    def fields_written(self) -> frozenset[str]:
        return self.written if self.written is not None else frozenset(self.data)

    def error(self, field: str | tuple[str, ...] | None, message: str, key: bool = False) -> ManifestError:
        """An error at this block, or at ``field`` (a name, or names for a nested field)."""
        fields = (field,) if isinstance(field, str) else (field or ())
        path = self.path + fields
        return ManifestError((self.locate_key if key else self.locate_value)(path), path, message)


def check_provider(provider: Declared) -> tuple[list[ManifestError], tzinfo | None]:
    """Check the provider block; also return its time zone for reading times."""
    errors: list[ManifestError] = []
    graph = provider.data.get("graph")
    if isinstance(graph, str) and graph != "sandbox":
        url = urls.split(graph) or urlsplit("invalid:")
        if "@" in url.netloc:
            errors.append(
                provider.error(
                    "graph",
                    "the URL has a user name or password in it (not shown); mmctl "
                    "authenticates with META_ACCESS_TOKEN, never with credentials in "
                    "the URL",
                )
            )
        elif url.scheme not in ("http", "https") or not url.hostname:
            errors.append(provider.error("graph", f'expected "sandbox" or an http(s) URL; found {json.dumps(graph)}'))
        elif url.scheme == "http" and not urls.is_loopback(url.hostname):
            errors.append(
                provider.error(
                    "graph",
                    f"plain http is allowed only for loopback addresses; use https://{url.netloc} "
                    "(access tokens must never cross a network unencrypted)",
                )
            )
    errors += check_amounts(provider, ("max_daily_budget", "max_lifetime_budget", "max_total_daily_budget"))
    zone: tzinfo | None = None
    name = provider.data.get("timezone")
    if isinstance(name, str):
        try:
            zone = load_zone(name)
        except TimeError as exc:
            errors.append(provider.error("timezone", str(exc)))
    return errors, zone


def check_state(state: Declared) -> list[ManifestError]:
    """A field that only one backend reads is an error with the other, never silently unused."""
    backend = state.data.get("backend", "sqlite")
    only = {"url": "postgres", "schema": "postgres", "path": "sqlite"}
    return [
        state.error(
            name, f"{name} is read only with backend: {wanted}; this state block has backend: {backend}", key=True
        )
        for name, wanted in only.items()
        if name in state.data and wanted != backend
    ]


def check_amounts(block: Declared, fields: tuple[str, ...]) -> list[ManifestError]:
    """Amounts written as text ("50.00 USD"): positive, a real currency, no more decimals than it has.

    Whether the currency is the ad account's is known only at plan time.
    """
    errors = []
    for field in fields:
        value = block.data.get(field)
        if isinstance(value, str):
            try:
                money.parse(value)
            except money.MoneyError as exc:
                errors.append(block.error(field, str(exc)))
    return errors


def check_campaign(
    campaign: Declared, zone: tzinfo | None, zone_known: bool, now: datetime | None = None
) -> list[ManifestError]:
    """Budgets and schedule of one campaign.

    ``zone_known`` is False when the provider block itself is broken; times without an
    offset are then not judged (the provider error is reported instead).
    """
    errors: list[ManifestError] = []
    data = campaign.data
    if {"daily_budget", "lifetime_budget"} <= campaign.fields_written:
        errors.append(
            campaign.error(
                "lifetime_budget",
                "both daily_budget and lifetime_budget are set; a campaign has at most one of them",
            )
        )
    errors += check_amounts(campaign, ("daily_budget", "lifetime_budget"))

    instants: dict[str, datetime] = {}
    for field in ("start_time", "end_time"):
        value = data.get(field)
        if value is None:
            continue
        try:
            instants[field] = parse_instant(value, zone)
        except TimeError as exc:
            if zone_known or "provider.timezone" not in str(exc):
                errors.append(campaign.error(field, str(exc)))
    start, end = instants.get("start_time"), instants.get("end_time")
    if end is not None and now is not None and end <= now:
        # Known offline: Meta refuses it at apply, halfway through; say it before anything is changed.
        errors.append(
            campaign.error(
                "end_time",
                f"end_time ({utc_text(end)}) has passed (it is {utc_text(now)}); a campaign cannot be created or "
                "changed to end in the past. Move end_time into the future, or remove the campaign from "
                "the manifests once it has finished",
            )
        )
    elif start is not None and end is not None and end <= start:
        errors.append(
            campaign.error(
                "end_time",
                f"end_time ({utc_text(end)}) must be after start_time ({utc_text(start)})",
            )
        )
    return errors


def check_unique_names(blocks: Iterable[Declared], what: str) -> list[ManifestError]:
    """Meta matches objects by name when adopting them, so names must be unique."""
    errors = []
    seen: dict[str, Declared] = {}
    for block in blocks:
        name = block.data.get("name")
        if not isinstance(name, str):
            continue
        first = seen.setdefault(name, block)
        if first is not block:
            errors.append(
                block.error(
                    "name",
                    f"{what} name {json.dumps(name)} is already used by {first.address} "
                    f"({first.locate_value(first.path + ('name',))}); names must be unique, "
                    "because mmctl finds existing objects by name",
                )
            )
    return errors


def _reference(
    block: Declared, field: str | tuple[Any, ...], ref: str, known: Mapping[str, Any], kind: str
) -> ManifestError:
    """``no template named "x" (did you mean "y"?)`` at ``field`` of ``block``."""
    message = f"no {kind} named {json.dumps(ref)}"
    close = difflib.get_close_matches(ref, list(known), n=1)
    if close:
        message += f" (did you mean {json.dumps(close[0])}?)"
    elif known:
        shown = sorted(known)
        more = f" and {len(shown) - 10:,} more" if len(shown) > 10 else ""
        message += f"; declared {kind}s: {', '.join(shown[:10])}{more}"
    else:
        message += f"; no {kind}s are declared"
    return block.error(field, message)


def check_references(
    campaign: Declared, templates: Mapping[str, Any], audiences: Mapping[str, Any]
) -> list[ManifestError]:
    errors = []
    for field, known, kind in (("template", templates, "template"), ("audience", audiences, "audience")):
        ref = campaign.data.get(field)
        if isinstance(ref, str) and ref not in known:
            errors.append(_reference(campaign, field, ref, known, kind))
    return errors


def names(value: Any) -> tuple[str, ...]:
    """A send's ``audience``/``exclude``: one name or a list of them."""
    if isinstance(value, str):
        return (value,)
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def check_send(
    send: Declared,
    campaigns: Mapping[str, Declared],
    templates: Mapping[str, Any],
    audiences: Mapping[str, Any],
    zone: tzinfo | None,
    zone_known: bool,
) -> list[ManifestError]:
    """A send's references resolve (its own, or its campaign's defaults) and its time reads."""
    data = send.data
    errors: list[ManifestError] = []
    key = data.get("campaign")
    campaign = campaigns.get(key) if isinstance(key, str) else None
    if isinstance(key, str) and campaign is None:
        errors.append(_reference(send, "campaign", key, campaigns, "campaign"))
    defaults = campaign.data if campaign is not None else {}
    if "template" in data:
        if data["template"] not in templates:
            errors.append(_reference(send, "template", data["template"], templates, "template"))
    elif campaign is not None and not defaults.get("template"):
        errors.append(
            send.error(
                None,
                f"no template: write template: on the send, or give campaign {json.dumps(key)} a default template",
                key=True,
            )
        )
    for field in ("audience", "exclude"):
        if field not in data:
            continue
        for index, ref in enumerate(names(data[field])):
            if ref not in audiences:
                at: tuple[Any, ...] = (field, index) if isinstance(data[field], list) else (field,)
                errors.append(_reference(send, at, ref, audiences, "audience"))
    if "audience" not in data and campaign is not None and not defaults.get("audience"):
        errors.append(
            send.error(
                None,
                f"no audience: write audience: on the send, or give campaign {json.dumps(key)} a default audience",
                key=True,
            )
        )
    chosen = set(names(data["audience"])) if "audience" in data else set(names(defaults.get("audience")))
    both = sorted(chosen & set(names(data.get("exclude"))))
    if both:
        errors.append(send.error("exclude", f"audience {json.dumps(both[0])} is both sent to and excluded"))
    if data.get("not_before") is not None:
        try:
            parse_instant(data["not_before"], zone)
        except TimeError as exc:
            if zone_known or "provider.timezone" not in str(exc):
                errors.append(send.error("not_before", str(exc)))
    return errors


def check_defaults_used(campaign: Declared, sends: Iterable[Declared]) -> list[ManifestError]:
    """A campaign's template and audience are defaults for its sends; one that no send uses would
    do nothing at all, which a reviewer would take for a message going out."""
    mine = [s for s in sends if s.data.get("campaign") == campaign.key]
    errors = []
    for field in ("template", "audience"):
        if field in campaign.data and not any(field not in s.data for s in mine):
            used = "no send names this campaign" if not mine else f"every send of it sets its own {field}"
            errors.append(
                campaign.error(
                    field,
                    f"{field} is the default for this campaign's sends, and {used}, so it does nothing: a "
                    f"campaign sends nothing by itself. Declare a send (sends: {{NAME: {{campaign: {campaign.key}}}}}) "
                    f"or remove {field}",
                )
            )
    return errors


def check_unsubscribes_file(block: Declared, root: Path) -> tuple[list[ManifestError], Path | None]:
    """The unsubscribe file: a regular file inside the manifests root with a header mmctl reads."""
    from reconciler.members import optouts

    written = block.data.get("file")
    if not isinstance(written, str):
        return [], None
    candidate = block.file.parent / written
    shown = json.dumps(written)
    if not candidate.exists() and not candidate.is_symlink():
        return [block.error("file", f"unsubscribe file {shown} does not exist")], None
    problem = check_regular(candidate, shown)
    if problem is not None:
        return [block.error("file", f"unsubscribe file {problem}")], None
    resolved = candidate.resolve()
    if not resolved.is_relative_to(root.resolve()):
        return [
            block.error("file", f"{shown} is outside the manifests root {root}; keep it beside the manifests")
        ], None
    try:
        optouts.read_header(resolved)
    except memberfile.MemberFileError as exc:
        return [block.error("file", f"unsubscribe file {shown}: {exc}")], None
    return [], resolved


def check_members_file(audience: Declared, root: Path) -> tuple[list[ManifestError], Path | None]:
    """The member file must be a regular file inside the manifests root, or, with
    ``outside_root: true``, at an absolute path or one that came from the environment."""
    members = audience.data.get("members")
    if not isinstance(members, Mapping) or not isinstance(members.get("file"), str):
        return [], None
    written = members["file"]
    field = ("members", "file")
    from_env = field in audience.from_env
    explicit = from_env or Path(written).is_absolute()
    shown = "the path from the environment" if from_env else json.dumps(written)
    candidate = audience.file.parent / written
    if not candidate.exists() and not candidate.is_symlink():
        return [audience.error(field, f"member file {shown} does not exist")], None
    problem = check_regular(candidate, shown)  # before resolving: a symlink loop is reported, not followed
    if problem is not None:
        return [audience.error(field, f"member file {problem}")], None
    resolved = candidate.resolve()
    if not resolved.is_relative_to(root.resolve()):
        if not members.get("outside_root"):
            message = (
                f"{shown} is outside the manifests root {root}; member files live beside the manifests, "
                "or, for a customer list kept out of git, set members.outside_root: true and give an "
                "absolute path or one from the environment (file: ${env:VIP_MEMBERS})"
            )
            return [audience.error(field, message)], None
        if not explicit:
            message = (
                f"{shown} leads outside the manifests root with a relative path; with outside_root: true "
                "write an absolute path or take it from the environment (file: ${env:VIP_MEMBERS}), so "
                "that it never points outside by accident"
            )
            return [audience.error(field, message)], None
    try:
        memberfile.read_header(resolved)
    except memberfile.MemberFileError as exc:
        return [audience.error(field, f"member file {shown}: {exc}")], None
    return [], resolved


def check_template_urls(template: Declared) -> tuple[list[ManifestError], list[ManifestError]]:
    """(errors, warnings) for the links of a template (``urls.judge``), and warnings for http://
    URLs Meta accepts (images, a receipt's order page): fetched or opened without encryption.
    The schema already refuses http:// where Meta does (buttons)."""
    errors: list[ManifestError] = []
    warnings: list[ManifestError] = []
    for path, url, button in urls.message_urls(template.data.get("message"), ("message",)):
        refused, warning = urls.judge(url, button)
        key = path[-1]
        if refused is not None:
            errors.append(template.error(path, f"{key} {refused}"))
            continue
        if warning is not None:
            warnings.append(template.error(path, f"{key}: {warning}"))
        if url.lower().startswith("http://"):
            warnings.append(
                template.error(
                    path,
                    f"{key} uses plain http://; Meta accepts it here, but it is "
                    "fetched or opened without encryption; use https://",
                )
            )
    return errors, warnings
