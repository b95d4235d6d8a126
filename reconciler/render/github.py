"""GitHub Actions workflow commands: errors and warnings as annotations on the lines they are about.

``::error file=F,line=L,col=C,title=T::message`` shows on the pull request's diff at that line.
Messages escape ``%``, CR and LF; properties also ``:`` and ``,`` (the runner's rules). Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from reconciler.core.plan import Plan
from reconciler.errors import ManifestError, SourceLocation


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(level: str, message: str, *, where: SourceLocation | None = None, title: str = "mmctl") -> str:
    """One workflow command: ``level`` is error, warning or notice."""
    props = []
    if where is not None and where.file:
        props.append(f"file={_property(where.file)}")
        if where.line > 0:
            props.append(f"line={where.line}")
            if where.column > 0:
                props.append(f"col={where.column}")
    props.append(f"title={_property(title)}")
    return f"::{level} {','.join(props)}::{_data(message)}"


def manifest_annotations(problems: Iterable[ManifestError], level: str, title: str) -> list[str]:
    """Each problem at its file, line and column, its message with the field it is about."""
    return [
        annotation(level, f"{p.path}: {p.message}" if p.path else p.message, where=p.location, title=title)
        for p in problems
    ]


def plan_annotations(plan: Plan, locations: Mapping[str, SourceLocation], skip: Iterable[str] = ()) -> list[str]:
    """The plan's warnings (at the resource they name, when it has a place in the manifests) and a
    notice with the summary; ``skip``: warnings already annotated at their own line."""
    from reconciler.render.plan import summary_line

    skipped = set(skip)
    out = []
    for warning in plan.warnings:
        if warning in skipped:
            continue
        address = warning.partition(":")[0]
        out.append(annotation("warning", warning, where=locations.get(address), title="mmctl plan"))
    out.append(annotation("notice", summary_line(plan), title="mmctl plan"))
    return out


def error_annotation(message: str, title: str) -> str:
    return annotation("error", message, title=title)
