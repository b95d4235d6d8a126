"""``${env:NAME}`` interpolation in manifest strings.

``$${`` writes a literal ``${``. Any other ``${...}`` is an error rather than text, so that a
typo such as ``${ENV:X}`` cannot reach Meta as a campaign name. Access tokens and app
secrets are refused outright: they never belong in manifests.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

_TOKEN = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_ENV = re.compile(r"env:([A-Za-z_][A-Za-z0-9_]*)")
SECRET_VARIABLES = frozenset({"META_ACCESS_TOKEN", "META_APP_SECRET"})

NodePath = tuple[Any, ...]


class Interpolated:
    """The result of interpolating one document."""

    def __init__(self) -> None:
        self.problems: list[tuple[NodePath, str]] = []
        # Paths whose value came (partly) from the environment: never echo them in errors.
        self.from_env: set[NodePath] = set()


def interpolate(data: Any, env: Mapping[str, str]) -> tuple[Any, Interpolated]:
    """Replace ``${env:NAME}`` in every string value of ``data`` (keys are left alone)."""
    result = Interpolated()
    return _walk(data, (), env, result), result


def _walk(value: Any, path: NodePath, env: Mapping[str, str], result: Interpolated) -> Any:
    if isinstance(value, dict):
        return {k: _walk(v, path + (k,), env, result) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, path + (i,), env, result) for i, v in enumerate(value)]
    if isinstance(value, str) and "${" in value:
        return _substitute(value, path, env, result)
    return value


def _substitute(text: str, path: NodePath, env: Mapping[str, str], result: Interpolated) -> str:
    def replace(match: re.Match[str]) -> str:
        whole = match.group(0)
        if whole == "$${":
            return "${"
        inner = match.group(1)
        if inner is None:
            result.problems.append((path, "'${' is not closed by '}'; write $${ for a literal ${"))
            return whole
        env_match = _ENV.fullmatch(inner)
        if env_match is None:
            result.problems.append(
                (path, f"unknown interpolation '${{{inner}}}'; expected ${{env:NAME}} (write $${{ for a literal ${{)")
            )
            return whole
        name = env_match.group(1)
        if name in SECRET_VARIABLES:
            result.problems.append(
                (path, f"${{env:{name}}}: access tokens and app secrets never go in manifests; "
                       "mmctl reads them from the environment itself")
            )
            return ""
        if name not in env:
            result.problems.append(
                (path, f"environment variable {name} is not set (set it, or change ${{env:{name}}})")
            )
            return ""
        result.from_env.add(path)
        return env[name]

    return _TOKEN.sub(replace, text)
