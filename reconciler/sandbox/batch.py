"""The Graph batch API: ``POST / batch=[{method, relative_url, body, name, depends_on}, …]``.

Answers come back in request order as ``{"code", "headers", "body": "<json text>"}``, or ``null``
for an operation that did not run. ``{result=NAME:$.path}`` in a later operation's URL or body is
replaced by values from the named operation's answer (https://developers.facebook.com/docs/graph-api/batch-requests).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .errors import invalid_parameter

MAX_OPERATIONS = 50
METHODS = ("GET", "POST", "DELETE")
_RESULT = re.compile(r"\{result=([^:}]+):\$((?:\.[^}.]+)*)\}")


@dataclass(frozen=True)
class Operation:
    method: str
    relative_url: str
    body: str
    name: str | None
    depends_on: str | None
    omit_response_on_success: bool


def parse_operations(raw: Any) -> list[Operation]:
    if not isinstance(raw, list) or not raw:
        raise invalid_parameter("Param batch must be a non-empty JSON array of requests")
    if len(raw) > MAX_OPERATIONS:
        raise invalid_parameter(f"Too many requests in batch message. Maximum batch size is {MAX_OPERATIONS}")
    operations = []
    for number, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("relative_url"), str):
            raise invalid_parameter(f"Batch request {number} needs a relative_url")
        method = str(item.get("method", "GET")).upper()
        if method not in METHODS:
            raise invalid_parameter(f"Batch request {number} has an unsupported method {method}")
        body = item.get("body", "")
        if isinstance(body, dict):
            body = "&".join(
                f"{quote(str(k))}={quote(v if isinstance(v, str) else json.dumps(v))}" for k, v in body.items()
            )
        operations.append(
            Operation(
                method=method,
                relative_url=item["relative_url"],
                body=str(body),
                name=str(item["name"]) if item.get("name") else None,
                depends_on=str(item["depends_on"]) if item.get("depends_on") else None,
                omit_response_on_success=item.get("omit_response_on_success") in (True, "true"),
            )
        )
    return operations


def substitute(text: str, results: dict[str, Any]) -> str:
    """Replace ``{result=name:$.a.b}`` (``*`` walks a list; several values are joined with commas)."""

    def value(match: re.Match[str]) -> str:
        name, path = match.group(1), match.group(2)
        if name not in results:
            raise invalid_parameter(f"Batch reference to {name!r}, which has no successful result")
        found = [results[name]]
        for part in [p for p in path.split(".") if p]:
            nxt = []
            for item in found:
                if part == "*" and isinstance(item, list):
                    nxt.extend(item)
                elif isinstance(item, dict) and part in item:
                    nxt.append(item[part])
            found = nxt
        return ",".join(str(v) for v in found)

    return _RESULT.sub(value, text)


def answer(status: int, headers: dict[str, str], body: Any, include_headers: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"code": status}
    if include_headers:
        out["headers"] = [{"name": k, "value": v} for k, v in headers.items()]
    out["body"] = json.dumps(body, separators=(",", ":"))
    return out
