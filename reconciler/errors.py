"""The one exception hierarchy of mmctl.

Everything the library raises on purpose is a ``ReconcilerError``; the CLI catches that base
class once, prints it and exits 1. Anything else reaching the CLI is a bug (exit 3).

    ReconcilerError
    ├── ManifestError          one problem in a manifest, at file:line:col and a field path
    ├── ManifestErrors         all problems of one load, sorted by file and line
    ├── UsageError             bad command-line input (a path that does not exist, ...)
    └── GraphApiError          the Graph API refused or failed a call (client.py maps the envelope)
        ├── AuthenticationError      104, 190, 102: the token is missing, invalid or expired
        ├── PermissionDenied         10, 200-299: the token may not do this
        ├── PolicyRefused            368, terms of service, regions, Messenger's messaging rules
        ├── RecipientError           this recipient cannot be messaged (unavailable, bad token)
        ├── InvalidParameter         100 and other refusals of the request itself
        │   └── NotFound             100/33, "does not exist", 803: no such object (or not visible)
        ├── MarketingMessagesError   another MARKETING_MESSAGES_DIRECT code, with its name
        ├── UnexpectedAnswer         an answer mmctl cannot read (not JSON, wrong shape, absurd values)
        ├── Throttled                4, 17, 32, 341, 613, 80000-80014, 2300080: too many calls
        └── TransientError           1, 2, 1200, is_transient, HTTP 5xx, timeouts, dropped connections
            └── OutcomeUnknown       a create was sent but its result is unknown

The family decides the advice a user reads; ``is_transient`` in Meta's envelope, when present,
decides whether a call is retried.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from reconciler.clock import utc_text

NodePath = tuple[object, ...]


def format_path(path: Iterable[object]) -> str:
    """``("campaigns", "a", "buttons", 0)`` -> ``campaigns.a.buttons[0]``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass(frozen=True, order=True)
class SourceLocation:
    """Where something is written: a file, and a 1-based line and column when known."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"


class ReconcilerError(Exception):
    """Base of every error mmctl raises for a user to read."""


class UsageError(ReconcilerError):
    """The command line asks for something that cannot be done."""


class PlanError(ReconcilerError):
    """The plan cannot be made as asked (a protected delete, a start time that has passed…)."""


class ManifestError(ReconcilerError):
    """One problem in the manifests, pointing at the offending node.

    ``str()`` gives ``file:line:col: field.path: message``.
    """

    def __init__(self, location: SourceLocation, node_path: NodePath, message: str) -> None:
        self.location = location
        # Keys and indices, for code that needs to know which field is broken.
        self.node_path = node_path
        self.message = message
        super().__init__(str(self))

    @property
    def path(self) -> str:
        return format_path(self.node_path)

    def __str__(self) -> str:
        where = str(self.location)
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"

    def sort_key(self) -> tuple[str, int, int, str, str]:
        loc = self.location
        return (loc.file, loc.line, loc.column, self.path, self.message)

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.location.file,
            "line": self.location.line or None,
            "column": self.location.column or None,
            "path": self.path,
            "message": self.message,
        }


class ManifestErrors(ReconcilerError):
    """Every problem found in one load, reported together, sorted by file and line."""

    def __init__(self, errors: Iterable[ManifestError]) -> None:
        unique = {e.sort_key(): e for e in errors}
        self.errors: tuple[ManifestError, ...] = tuple(unique[k] for k in sorted(unique))
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


class GraphApiError(ReconcilerError):
    """A Graph API call that failed, with everything needed to report it (and nothing secret).

    ``path`` never has a query string, so no token can ride along; the client redacts the token
    and ``appsecret_proof`` from ``message`` and ``body`` before the error is made.
    """

    advice = "See the message; the fbtrace_id identifies the call to Meta support."

    def __init__(
        self,
        message: str,
        *,
        method: str,
        path: str,
        status: int | None = None,
        code: int | None = None,
        subcode: int | None = None,
        fbtrace_id: str | None = None,
        body: str = "",
        error_data: dict[str, object] | None = None,
        name: str | None = None,
        retry_after: float | None = None,
        sent: bool = True,
        title: str | None = None,
        is_transient: bool | None = None,
        advice: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.path = path
        self.status = status
        self.code = code
        self.subcode = subcode
        self.fbtrace_id = fbtrace_id
        self.body = body
        self.error_data = error_data or {}
        self.name = name
        # How long the API asked us to wait, when it said; and whether the request may have reached it.
        self.retry_after = retry_after
        self.sent = sent
        self.title = title  # error_user_title: Meta's short, user-facing name of the problem
        self.is_transient = is_transient  # Meta's own word on retrying, when it gave one
        if advice is not None:
            self.advice = advice
        # Set when throttling outlasted what mmctl may wait: which hint said so, and when access returns.
        self.hint_source: str | None = None
        self.regain_at: float | None = None

    def details(self) -> dict[str, Any]:
        """The constructor's keywords, to make an error of another class from this one."""
        return {
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "code": self.code,
            "subcode": self.subcode,
            "fbtrace_id": self.fbtrace_id,
            "body": self.body,
            "error_data": self.error_data,
            "name": self.name,
            "retry_after": self.retry_after,
            "sent": self.sent,
            "title": self.title,
            "is_transient": self.is_transient,
        }

    def __str__(self) -> str:
        facts = [f"HTTP {self.status}" if self.status is not None else "no response"]
        if self.code is not None:
            facts.append(
                f"code {self.code}"
                + (f"/{self.subcode}" if self.subcode is not None else "")
                + (f" {self.name}" if self.name else "")
            )
        if self.fbtrace_id:
            facts.append(f"fbtrace_id {self.fbtrace_id}")
        said = f"{self.title}: {self.message}" if self.title and self.title not in self.message else self.message
        text = f"{self.method} {self.path}: {said} ({', '.join(facts)}). {self.advice}"
        if self.regain_at is not None:
            when = utc_text(self.regain_at)
            text += (
                f" Access returns at about {when} ({self.hint_source}); run again then, or give --max-wait "
                "to wait for it"
            )
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(method={self.method!r}, path={self.path!r}, status={self.status!r}, "
            f"code={self.code!r}, subcode={self.subcode!r}, fbtrace_id={self.fbtrace_id!r}, "
            f"message={self.message!r})"
        )


class AuthenticationError(GraphApiError):
    advice = "Check META_ACCESS_TOKEN (or --token-file): it is missing, invalid or expired."


class PolicyRefused(GraphApiError):
    advice = (
        "A Meta policy refused the call (terms of service, a region the API does not serve, Messenger's "
        "messaging rules, or a block): no retry helps; the message says what the business must do."
    )


class RecipientError(GraphApiError):
    advice = (
        "Meta will not deliver to this recipient (unavailable, unsubscribed, or an invalid or expired "
        "subscription token); nothing in the manifests or the token is wrong."
    )


class PermissionDenied(GraphApiError):
    advice = (
        "The token lacks a permission for this object: ads_management, pages_messaging and "
        "paid_marketing_messages are needed, on this ad account and Page."
    )


class InvalidParameter(GraphApiError):
    advice = "The API refused the request as written; the message says which parameter."


class NotFound(InvalidParameter):
    advice = "The object does not exist or this token cannot see it (deleted outside mmctl?)."


class MarketingMessagesError(GraphApiError):
    advice = "A Marketing Message API rule refused the call; see its name in Meta's error table."


class UnexpectedAnswer(GraphApiError):
    """The Graph API (or something in its place) answered with what mmctl cannot read."""

    advice = (
        "mmctl did not act on this answer. Check that the Graph URL is Meta's (or a sandbox), and give the "
        "fbtrace_id to Meta support if it is."
    )

    def __str__(self) -> str:
        trace = f"fbtrace_id {self.fbtrace_id}" if self.fbtrace_id else "no fbtrace_id"
        where = f"{self.method} {self.path}".strip()
        return f"unexpected answer from the Graph API to {where or 'a read'}: {self.message} ({trace}). {self.advice}"


class Throttled(GraphApiError):
    advice = "Meta's rate limit for this account or app was reached."


class TransientError(GraphApiError):
    advice = "A temporary failure at Meta or on the network; running the command again is safe."


class OutcomeUnknown(TransientError):
    advice = (
        "The request was sent but no answer came back, so it may or may not have been carried out; "
        "mmctl looks the object up before trying again rather than risk a duplicate."
    )
