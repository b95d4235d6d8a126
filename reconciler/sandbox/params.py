"""Request parameters, read the way Graph reads them.

Graph takes parameters from the query string, a form body or a JSON body, all at once. In the
query and form, structured values (``payload``, ``filtering``, ``targeting_spec``, ``batch``…) are
JSON text, and Graph is lenient with it: the seeds' own samples write ``{page_id: 123}`` with bare
keys. Values from a JSON body arrive already typed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from .errors import invalid_parameter

# Keys Graph reads itself and never hands to an endpoint.
TRANSPORT_KEYS = frozenset(
    {
        "access_token",
        "appsecret_proof",
        "method",
        "pretty",
        "suppress_http_code",
        "format",
        "include_headers",
        "debug",
        "locale",
        "transport",
    }
)

_BARE_KEY = re.compile(r"([{,]\s*)([A-Za-z_][A-Za-z0-9_]*)(\s*:)")
_ESCAPES = re.compile(r"(?:%[0-9A-Fa-f]{2})+")


def _unescaped(run: re.Match[str]) -> str:
    return bytes.fromhex(run.group().replace("%", "")).decode("utf-8", "replace")


def parse_form(text: str) -> list[tuple[str, str]]:
    """``urllib.parse.parse_qsl(text, keep_blank_values=True)``, with each run of escapes decoded
    at once: urllib decodes them one at a time in Python, and a batch of 50 operations is 51 forms,
    one of them 20 KB of escaped JSON."""
    pairs = []
    for field in text.split("&"):
        if not field:
            continue
        name, _, value = field.partition("=")
        pairs.append((_unquote(name.replace("+", " ")), _unquote(value.replace("+", " "))))
    return pairs


def _unquote(text: str) -> str:
    return _ESCAPES.sub(_unescaped, text) if "%" in text else text


class Params(Mapping[str, Any]):
    """The merged parameters of one request (body over query), with typed readers."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    @classmethod
    def parse(cls, query: str, body: bytes, content_type: str) -> Params:
        values: dict[str, Any] = dict(parse_form(query))
        media = content_type.split(";")[0].strip().lower()
        if body:
            if media == "application/json":
                try:
                    decoded = json.loads(body)
                except (ValueError, UnicodeDecodeError):
                    raise invalid_parameter("The request body is not valid JSON") from None
                if not isinstance(decoded, dict):
                    raise invalid_parameter("The request body must be a JSON object")
                values.update(decoded)
            elif media in ("application/x-www-form-urlencoded", ""):
                try:
                    text = body.decode("utf-8")
                except UnicodeDecodeError:
                    raise invalid_parameter("The request body is not UTF-8") from None
                values.update(parse_form(text))
            else:
                raise invalid_parameter(f"Unsupported content type {media}")
        return cls(values)

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    # The dict's own, not Mapping's (which go through __getitem__ and a KeyError): every operation
    # of a batch asks a dozen times.
    def get(self, key: str, default: Any = None) -> Any:
        return self._values.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def endpoint_keys(self) -> set[str]:
        return set(self._values) - TRANSPORT_KEYS

    def text(self, name: str, *, required: bool = False, default: str | None = None) -> str | None:
        if name not in self._values:
            if required:
                raise invalid_parameter(f"The parameter {name} is required")
            return default
        value = self._values[name]
        if isinstance(value, (bool, dict, list)) or value is None:
            raise invalid_parameter(f"Param {name} must be a string")
        return str(value)

    def name(self, key: str = "name") -> str:
        """A name being changed: present, a string, and not blank."""
        value = self.text(key) or ""
        if not value.strip():
            raise invalid_parameter(f"Param {key} must be a non-empty string")
        return value

    def integer(self, name: str, *, required: bool = False) -> int | None:
        if name not in self._values:
            if required:
                raise invalid_parameter(f"The parameter {name} is required")
            return None
        value = self._values[name]
        if isinstance(value, bool):
            raise invalid_parameter(f"Param {name} must be an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            return int(value)
        raise invalid_parameter(f"Param {name} must be an integer")

    def boolean(self, name: str, default: bool = False) -> bool:
        if name not in self._values:
            return default
        value = self._values[name]
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0", ""):
            return False
        raise invalid_parameter(f"Param {name} must be a boolean")

    def structured(self, name: str, *, required: bool = False) -> Any:
        """A JSON-valued parameter: typed from a JSON body, parsed (leniently) from text."""
        if name not in self._values:
            if required:
                raise invalid_parameter(f"The parameter {name} is required")
            return None
        value = self._values[name]
        if not isinstance(value, str):
            return value
        return lenient_json(value, name)


def lenient_json(text: str, name: str) -> Any:
    """JSON, or the JSON-with-bare-keys that Graph also accepts."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return json.loads(_BARE_KEY.sub(r'\1"\2"\3', text))
    except ValueError:
        raise invalid_parameter(f"Param {name} must be JSON") from None
