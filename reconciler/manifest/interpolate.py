"""``${env:NAME}`` interpolation in manifest strings.

``$${`` writes a literal ``${``. Any other ``${...}`` is an error rather than text, so that a
typo such as ``${ENV:X}`` cannot reach Meta as a campaign name. Access tokens and app
secrets are refused outright: they never belong in manifests.

Manifests arrive in pull requests, and CI machines hold secrets in their environment: a
campaign named ``${env:DEPLOY_KEY}`` would carry that key into a plan and a PR comment. So a
variable whose name looks like a secret (``*TOKEN*``, ``*SECRET*``, ``*KEY*``, ``*PASSWORD*``,
``*CREDENTIAL*``) is refused unless the provider block lists it in ``allow_env``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

_TOKEN = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_ENV = re.compile(r"env:([A-Za-z_][A-Za-z0-9_]*)")
SECRET_VARIABLES = frozenset({"META_ACCESS_TOKEN", "META_APP_SECRET"})
SECRET_LOOKING = ("TOKEN", "SECRET", "KEY", "PASSWORD", "CREDENTIAL")

NodePath = tuple[Any, ...]


class Interpolated:
    """The result of interpolating one document."""

    def __init__(self) -> None:
        self.problems: list[tuple[NodePath, str]] = []
        # (path, variable, value) of every substitution, so that errors can hide the values.
        self.values: list[tuple[NodePath, str, str]] = []

    @property
    def from_env(self) -> set[NodePath]:
        """Paths whose value came (partly) from the environment: never echo them in errors."""
        return {path for path, _, _ in self.values}


def looks_secret(name: str) -> bool:
    upper = name.upper()
    return any(word in upper for word in SECRET_LOOKING)


def allowed_names(documents: Iterable[Any]) -> frozenset[str]:
    """The variables ``provider.allow_env`` lists (read as written, before any interpolation)."""
    names: set[str] = set()
    for data in documents:
        provider = data.get("provider") if isinstance(data, dict) else None
        listed = provider.get("allow_env") if isinstance(provider, dict) else None
        if isinstance(listed, list):
            names.update(n for n in listed if isinstance(n, str))
    return frozenset(names)


def interpolate(data: Any, env: Mapping[str, str], allowed: frozenset[str] = frozenset()) -> tuple[Any, Interpolated]:
    """Replace ``${env:NAME}`` in every string value of ``data`` (keys are left alone).

    ``allowed`` are the secret-looking names the provider block lets manifests read."""
    result = Interpolated()
    return _walk(data, (), env, allowed, result), result


def _walk(value: Any, path: NodePath, env: Mapping[str, str], allowed: frozenset[str], result: Interpolated) -> Any:
    """``value`` with its strings interpolated; a mapping or list with nothing to replace is
    returned as it is, not copied (a 100,000-campaign file was held twice)."""
    if isinstance(value, dict):
        changed: dict[Any, Any] | None = None
        for k, v in value.items():
            new = _walk(v, path + (k,), env, allowed, result)
            if new is not v:
                changed = changed if changed is not None else dict(value)
                changed[k] = new
        return value if changed is None else changed
    if isinstance(value, list):
        items = [_walk(v, path + (i,), env, allowed, result) for i, v in enumerate(value)]
        return value if all(new is old for new, old in zip(items, value)) else items
    if isinstance(value, str) and "${" in value:
        return _substitute(value, path, env, allowed, result)
    return value


def _substitute(
    text: str, path: NodePath, env: Mapping[str, str], allowed: frozenset[str], result: Interpolated
) -> str:
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
                (
                    path,
                    f"${{env:{name}}}: access tokens and app secrets never go in manifests; "
                    "mmctl reads them from the environment itself",
                )
            )
            return ""
        if looks_secret(name) and name not in allowed:
            result.problems.append(
                (
                    path,
                    f"${{env:{name}}}: the name looks like a secret (it has "
                    f"{next(w for w in SECRET_LOOKING if w in name.upper())} in it), and a manifest value ends "
                    "up in plans and PR comments; list it in provider.allow_env if it really is not one",
                )
            )
            return ""
        if name not in env:
            result.problems.append(
                (path, f"environment variable {name} is not set (set it, or change ${{env:{name}}})")
            )
            return ""
        result.values.append((path, name, env[name]))
        return env[name]

    return _TOKEN.sub(replace, text)
