"""Rendering results for people (text) and for machines (JSON). Pure: values in, text out."""

from __future__ import annotations

import json
from collections.abc import Sequence

from reconciler.errors import ManifestError
from reconciler.model import Project

FORMAT_VERSION = "1"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def validation_errors_text(errors: Sequence[ManifestError]) -> str:
    files = {e.location.file for e in errors}
    lines = [f"Error: {e}" for e in errors]
    lines.append(f"{_plural(len(errors), 'error')} in {_plural(len(files), 'file')}; nothing was changed.")
    return "\n".join(lines)


def warnings_text(project: Project) -> str:
    return "\n".join(f"Warning: {w}" for w in project.warnings)


def validation_ok_text(project: Project) -> str:
    return (
        f"Valid: {_plural(len(project.files), 'file')}, {_plural(len(project.templates), 'template')}, "
        f"{_plural(len(project.audiences), 'audience')}, {_plural(len(project.campaigns), 'campaign')}"
        + (f", {_plural(len(project.sends), 'send')}" if project.sends else "")
        + f" for {project.provider.ad_account} (graph: {project.provider.graph})."
    )


def validation_json(project: Project | None, errors: Sequence[ManifestError]) -> str:
    """The documented JSON form of ``mmctl validate --format json``."""
    document: dict[str, object] = {
        "format_version": FORMAT_VERSION,
        "valid": not errors,
        "error_count": len(errors),
        "errors": [e.to_dict() for e in errors],
    }
    if project is not None:
        document["warnings"] = [w.to_dict() for w in project.warnings]
        document["account"] = project.provider.ad_account
        document["files"] = list(project.files)
        document["resources"] = {
            "template": sorted(project.templates),
            "audience": sorted(project.audiences),
            "campaign": sorted(project.campaigns),
        }
    return json.dumps(document, indent=2, ensure_ascii=False)
