"""Loading a project's manifests: discover, parse, interpolate, validate, merge, check.

``load_project(paths)`` reads every ``*.yaml``/``*.yml`` under the paths (hidden folders such
as ``.git`` and ``.mmctl`` are skipped), validates each file against the manifest schema,
merges them, runs the semantic checks and returns an immutable ``Project``. Every problem of
the run is collected and raised together as ``ManifestErrors``, sorted by file and line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from reconciler.errors import ManifestError, ManifestErrors, SourceLocation
from reconciler.manifest import checks, discovery, schema
from reconciler.manifest.checks import Declared
from reconciler.manifest.discovery import Filters, display_path
from reconciler.manifest.interpolate import Interpolated, allowed_names, interpolate
from reconciler.manifest.yamlio import YamlDocument, read_file
from reconciler.model import (
    DEFAULT_API_VERSION,
    DEFAULT_GRAPH,
    DEFAULT_STATE_PATH,
    DEFAULT_STATE_SCHEMA,
    SANDBOX_DATA,
    Audience,
    Campaign,
    Members,
    Project,
    Provider,
    Send,
    StateConfig,
    Template,
    Unsubscribes,
    freeze,
)

SINGLE_BLOCKS = ("provider", "state", "unsubscribes")  # one of each in a project, in any one file
SECTIONS = {"templates": "template", "audiences": "audience", "campaigns": "campaign", "sends": "send"}


def discover(
    paths: Sequence[str | os.PathLike[str]], filters: Filters = Filters()
) -> tuple[Path, list[Path], list[ManifestError]]:
    """The manifests root and the manifest files under ``paths``, in a stable order."""
    found = discovery.discover(paths, filters)
    return found.root, list(found.files), list(found.errors)


def sandbox_data_path(paths: Sequence[str | os.PathLike[str]], filters: Filters = Filters()) -> Path:
    """Where ``graph: sandbox`` keeps its objects for the project under ``paths``: beside the
    manifests root (the current folder when there are no manifests)."""
    root, files, _ = discover(paths, filters)
    return (root if files else Path.cwd()) / SANDBOX_DATA


_NONE: frozenset[Any] = frozenset()


def load_project(
    paths: Sequence[str | os.PathLike[str]] = (".",),
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
    strict: bool = False,
    filters: Filters = Filters(),
) -> Project:
    """Load, validate and merge the manifests under ``paths``; raise ``ManifestErrors``.

    ``now`` (default: the clock) is what "in the past" means for times such as ``end_time``.
    Warnings (things Meta accepts that a reviewer should see) are kept in ``Project.warnings``;
    with ``strict`` they are errors. No error ever shows a value that came from ``${env:...}``."""
    environ = os.environ if env is None else env
    moment = now or datetime.now(UTC)
    root, files, errors = discover(paths, filters)
    if files and not errors and not any(discovery.has_provider_key(f) for f in files):
        # A folder of other tools' YAML (docker-compose, CI files): one line, not an error per file.
        raise ManifestErrors(
            [
                ManifestError(
                    SourceLocation(display_path(root)),
                    ("provider",),
                    f"no provider block in any of the {len(files)} *.yaml/*.yml file(s) here (nothing else was read); add "
                    'one, e.g. provider: {ad_account: act_100000000000001, page_id: "200000000000001"}, or, if this is '
                    f"not an mmctl project, run mmctl in the project's folder or leave other tools' YAML out with "
                    f"{discovery.IGNORE_FILE} or --exclude",
                )
            ]
        )
    parsed: list[tuple[Path, YamlDocument]] = []
    broken_files = bool(errors)
    for path in files:
        shown = display_path(path)
        try:
            document = read_file(path, shown)
        except ManifestErrors as exc:
            errors.extend(exc.errors)
            broken_files = True
            continue
        if not isinstance(document.data, dict):
            errors.append(ManifestError(SourceLocation(shown, 1, 1), (), _not_a_mapping(document.data)))
            broken_files = broken_files or document.data is not None
            continue
        parsed.append((path, document))

    allowed = allowed_names(doc.data for _, doc in parsed)
    documents: list[Document] = []
    from_env: list[tuple[str, Interpolated]] = []
    for path, document in parsed:
        data, result = interpolate(document.data, environ, allowed)
        from_env.append((document.file, result))
        file_errors = [
            ManifestError(document.source_map.value(where), where, message) for where, message in result.problems
        ]
        unset = {e.node_path for e in file_errors}
        file_errors.extend(
            e
            for e in schema.validate(
                data,
                "manifest.schema.json",
                document.source_map.value,
                document.source_map.key,
                hidden=frozenset(result.from_env),
            )
            if e.node_path not in unset  # "must not be empty" after "X is not set" is noise
        )
        errors.extend(file_errors)
        documents.append(
            (path, document, data, {_field_of(e.node_path) for e in file_errors}, frozenset(result.from_env))
        )

    merged = _merge(documents, errors)
    provider = merged["provider"]
    zone = None
    if provider is not None:
        provider_errors, zone = checks.check_provider(provider)
        errors.extend(provider_errors)
    elif not broken_files:
        errors.append(
            ManifestError(
                SourceLocation(display_path(root)),
                ("provider",),
                "no provider block in any manifest file; add one, e.g. "
                'provider: {ad_account: act_100000000000001, page_id: "200000000000001"}',
            )
        )
    if merged["state"] is not None:
        errors.extend(checks.check_state(merged["state"]))
    optout_file = None
    if merged["unsubscribes"] is not None:
        optout_errors, optout_file = checks.check_unsubscribes_file(merged["unsubscribes"], root)
        errors.extend(optout_errors)
    # Times without an offset are judged only when the time zone situation is known.
    zone_known = provider is not None and not any(e.node_path[:2] == ("provider", "timezone") for e in errors)

    templates, audiences, campaigns = merged["template"], merged["audience"], merged["campaign"]
    sends = merged["send"]
    errors.extend(checks.check_unique_names(campaigns.values(), "campaign"))
    errors.extend(checks.check_unique_names(audiences.values(), "audience"))
    member_files: dict[str, Path] = {}
    for audience in audiences.values():
        member_errors, member_file = checks.check_members_file(audience, root)
        errors.extend(member_errors)
        if member_file is not None:
            member_files[audience.key] = member_file
    for campaign in campaigns.values():
        errors.extend(checks.check_campaign(campaign, zone, zone_known, moment))
        if not broken_files:  # a reference into a file that failed to parse is not dangling
            dangling = checks.check_references(campaign, templates, audiences)
            # A send naming a campaign that does not exist may have meant this one: say that alone.
            lost = any(s.data.get("campaign") not in campaigns for s in sends.values())
            errors.extend(dangling or ([] if lost else checks.check_defaults_used(campaign, sends.values())))
    if not broken_files:
        for send in sends.values():
            errors.extend(checks.check_send(send, campaigns, templates, audiences, zone, zone_known))

    warnings = []
    for template in templates.values():
        url_errors, url_warnings = checks.check_template_urls(template)
        errors.extend(url_errors)
        warnings.extend(url_warnings)
    if strict:
        errors.extend(warnings)
    errors, warnings = _scrub(errors, from_env), _scrub(warnings, from_env)
    if errors:
        raise ManifestErrors(errors)
    assert provider is not None
    built = _build(root, files, provider, merged["state"], templates, audiences, campaigns, sends, member_files)
    optouts = merged["unsubscribes"]
    unsubscribes = (
        Unsubscribes(
            file=optout_file,
            hashed=bool(optouts.data.get("hashed", False)),
            default_country=optouts.data.get("default_country"),
            location=optouts.locate_key(optouts.path),
        )
        if optouts is not None and optout_file is not None
        else None
    )
    return replace(built, unsubscribes=unsubscribes, warnings=tuple(sorted(warnings, key=ManifestError.sort_key)))


# A parsed file: its path, document, interpolated data, the fields that failed the schema, and
# the paths whose values came from the environment.
Document = tuple[Path, YamlDocument, Any, set[tuple[Any, ...]], frozenset[tuple[Any, ...]]]


def _not_a_mapping(data: Any) -> str:
    """A file that is not a mapping, described without quoting it (it may be anything at all)."""
    if data is None:
        return "file is empty; a manifest holds at least one of provider, state, templates, audiences, campaigns, sends"
    what = (
        "a list"
        if isinstance(data, list)
        else "text"
        if isinstance(data, str)
        else "a number"
        if isinstance(data, (int, float))
        else "a single value"
    )
    return (
        f"file holds {what}, not a mapping; a manifest is a mapping of provider, state, templates, "
        "audiences, campaigns and sends (its content is not shown)"
    )


def _scrub(problems: list[ManifestError], sources: list[tuple[str, Interpolated]]) -> list[ManifestError]:
    """The problems with every value that came from the environment replaced by ``${env:NAME}``.

    A value is hidden in any problem of its own file at or around its field, and, when it is long
    enough not to be an ordinary word, in every problem."""
    out = []
    for problem in problems:
        message = problem.message
        for file, result in sources:
            for where, name, value in result.values:
                related = file == problem.location.file and (
                    problem.node_path[: len(where)] == where or where[: len(problem.node_path)] == problem.node_path
                )
                if value and (related or len(value) >= 6):
                    for form in {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}:
                        message = message.replace(form, f"${{env:{name}}}")
        out.append(
            problem if message == problem.message else ManifestError(problem.location, problem.node_path, message)
        )
    return out


def _field_of(node_path: tuple[Any, ...]) -> tuple[Any, ...]:
    """The top-level field of a block that an error is about: (section, key, field) or
    (provider, field)."""
    depth = 3 if node_path[:1] and node_path[0] in SECTIONS else 2
    return node_path[:depth]


def _merge(documents: list[Document], errors: list[ManifestError]) -> dict[str, Any]:
    """Merge files into one set of blocks; a second provider or address is an error.

    Fields that already failed the schema are left out of the merged blocks, so that the
    semantic checks judge only well-formed values and do not pile on.
    """
    merged: dict[str, Any] = {
        **dict.fromkeys(SINGLE_BLOCKS),
        **{kind: {} for kind in SECTIONS.values()},
    }
    for path, document, data, bad_fields, env_paths in documents:
        if not isinstance(data, dict):
            continue
        smap = document.source_map

        def declare(kind: str, key: str, block: Any, at: tuple[Any, ...]) -> Declared | None:
            if not isinstance(block, dict):
                return None
            # Shared, not copied, when nothing is left out or came from the environment (the usual
            # case): 100,000 campaigns made 300,000 such objects.
            clean = block if not bad_fields else {k: v for k, v in block.items() if at + (k,) not in bad_fields}
            below = frozenset(p[len(at) :] for p in env_paths if p[: len(at)] == at) if env_paths else _NONE
            written = frozenset(block) if clean is not block else None
            return Declared(kind, key, clean, path, at, smap.value, smap.key, written, below)

        for single in SINGLE_BLOCKS:
            block = declare(single, single, data.get(single), (single,))
            if block is None:
                continue
            first = merged[single]
            if first is None:
                merged[single] = block
            else:
                errors.append(
                    block.error(
                        None,
                        f"a second {single} block; the first is at {first.locate_key(first.path)} "
                        f"(exactly one file holds the {single} block)",
                        key=True,
                    )
                )
        for section, kind in SECTIONS.items():
            entries = data.get(section)
            if not isinstance(entries, dict):
                continue
            for key, value in entries.items():
                block = declare(kind, key, value, (section, key))
                if block is None:
                    continue
                first = merged[kind].get(key)
                if first is None:
                    merged[kind][key] = block
                else:
                    errors.append(
                        block.error(
                            None,
                            f"{kind}.{key} is already declared at {first.locate_key(first.path)}; "
                            "each address may be declared once",
                            key=True,
                        )
                    )
    return merged


def _build(
    root: Path,
    files: list[Path],
    provider: Declared,
    state: Declared | None,
    templates: dict[str, Declared],
    audiences: dict[str, Declared],
    campaigns: dict[str, Declared],
    sends: dict[str, Declared],
    member_files: dict[str, Path],
) -> Project:
    p = provider.data
    s = state.data if state else {}
    state_path = root / s.get("path", DEFAULT_STATE_PATH)
    if state_path.suffix == ".json":
        # A path written before SQLite was the default: its database sits beside it, and the
        # JSON file is imported from there on first use.
        state_path = state_path.with_suffix(".db")

    def where(block: Declared) -> SourceLocation:
        return block.locate_key(block.path)

    built_audiences = {}
    for key, block in audiences.items():
        members = block.data.get("members")
        built_audiences[key] = Audience(
            key=key,
            name=block.data["name"],
            description=block.data.get("description"),
            members=Members(
                file=member_files[key],
                hashed=bool(members.get("hashed", False)),
                default_country=members.get("default_country"),
            )
            if members
            else None,
            protect=bool(block.data.get("protect", False)),
            location=where(block),
        )
    built_campaigns = {}
    shared: dict[frozenset[str], frozenset[str]] = {}  # campaigns mostly set the same fields: one set for them
    for key, block in campaigns.items():
        d = block.data
        written = frozenset(d)
        built_campaigns[key] = Campaign(
            key=key,
            name=d["name"],
            daily_budget=d.get("daily_budget"),
            lifetime_budget=d.get("lifetime_budget"),
            start_time=d.get("start_time"),
            end_time=d.get("end_time"),
            pixel_id=d.get("pixel_id"),
            status=d.get("status"),
            template=d.get("template"),
            audience=d.get("audience"),
            protect=bool(d.get("protect", False)),
            location=where(block),
            fields_set=shared.setdefault(written, written),
        )
    return Project(
        root=root,
        provider=Provider(
            ad_account=p["ad_account"],
            page_id=p["page_id"],
            graph=p.get("graph", DEFAULT_GRAPH),
            api_version=p.get("api_version", DEFAULT_API_VERSION),
            timezone=p.get("timezone"),
            location=where(provider),
            max_daily_budget=p.get("max_daily_budget"),
            max_lifetime_budget=p.get("max_lifetime_budget"),
            max_total_daily_budget=p.get("max_total_daily_budget"),
            max_send_recipients=p.get("max_send_recipients"),
        ),
        state=StateConfig(
            path=state_path,
            backend=s.get("backend", "sqlite"),
            url=s.get("url"),
            schema=s.get("schema", DEFAULT_STATE_SCHEMA),
            key=s.get("key", p["ad_account"]),
        ),
        files=tuple(display_path(f) for f in files),
        templates=MappingProxyType(
            {
                key: Template(
                    key=key,
                    message=freeze(block.data["message"]),
                    description=block.data.get("description"),
                    location=where(block),
                )
                for key, block in templates.items()
            }
        ),
        audiences=MappingProxyType(built_audiences),
        campaigns=MappingProxyType(built_campaigns),
        sends=MappingProxyType(
            {key: _send(key, block, campaigns[block.data["campaign"]], where(block)) for key, block in sends.items()}
        ),
    )


def _send(key: str, block: Declared, campaign: Declared, where: SourceLocation) -> Send:
    """A send with its campaign's defaults filled in (the checks made sure there are some)."""
    d = block.data
    return Send(
        key=key,
        campaign=d["campaign"],
        template=d.get("template") or campaign.data["template"],
        audiences=checks.names(d["audience"] if "audience" in d else campaign.data["audience"]),
        exclude=checks.names(d.get("exclude")),
        not_before=d.get("not_before"),
        min_conversation_gap_seconds=d.get("min_conversation_gap_seconds"),
        location=where,
    )
