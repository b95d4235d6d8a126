"""The Graph API client: the only module that speaks HTTP (the sandbox's in-process transport aside).

It owns the wire format: bearer authentication and ``appsecret_proof``, form-encoded
parameters, cursor paging, the batch API, the error envelope (mapped onto ``errors``), and
retries that honour Meta's throttling hints. Nothing it raises or logs contains the access
token, the app secret or ``appsecret_proof``.

Retry rules, because a duplicated campaign costs money:

- reads, updates and deletes are retried on throttling and transient failures;
- a create is retried only when it provably did not run (the connection was never made, or the
  API throttled it before looking at it); if it was sent and no clear answer came back (timeout,
  dropped connection, HTTP 5xx, codes 1/2, a ``null`` batch result) it raises ``OutcomeUnknown``
  and the executor looks the object up instead, once ``RetryPolicy.settle`` has passed (an
  abandoned request may still be carried out).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import re
import stat
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from functools import cached_property, partial
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit, urlunsplit

import httpx

from reconciler.background import Ahead
from reconciler.errors import (
    AuthenticationError,
    GraphApiError,
    InvalidParameter,
    MarketingMessagesError,
    NotFound,
    OutcomeUnknown,
    PermissionDenied,
    PolicyRefused,
    RecipientError,
    Throttled,
    TransientError,
    UnexpectedAnswer,
    UsageError,
)
from reconciler.graph import form
from reconciler.model import SANDBOX_DATA
from reconciler.operation import DEFAULT_PARALLELISM, CallKind, Operation, Result
from reconciler.urls import is_loopback, split

log = logging.getLogger("mmctl.graph")
_FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}
# httpx logs every URL at INFO, appsecret_proof included; our own log line replaces it.
logging.getLogger("httpx").setLevel(logging.WARNING)

SANDBOX_TOKEN = "mmctl-in-process-sandbox"  # the sandbox takes any token; this one is not a secret
MAX_BATCH = 50
BODY_LIMIT = 500  # characters of a response body kept in an error

THROTTLE_CODES = frozenset({4, 17, 32, 341, 613, 2300080}) | frozenset(range(80000, 80015))
TRANSIENT_CODES = frozenset({1, 2})

# graph-api.md §5 "API Errors" (namespace MARKETING_MESSAGES_DIRECT) and the changelog's later codes.
MARKETING_MESSAGES_CODES: Mapping[int, str] = {
    2300000: "INACTIVE_CAMPAIGN",
    2300001: "INVALID_MESSAGE_ID",
    2300002: "INACTIVE_MESSAGE_SET",
    2300003: "INACTIVE_MESSAGE",
    2300004: "INVALID_MESSENGER_SUBSCRIPTION_TOKEN",
    2300005: "PAGE_ID_MISMATCH",
    2300006: "MESSAGE_CAMPAIGN_IS_NOT_DIRECT_SEND",
    2300007: "LIFETIME_BUDGET_AND_DAILY_BUDGET_MISSING",
    2300008: "FAIL_TO_GET_DEFAULT_BID_AMOUNT",
    2300009: "MISSING_CAMPAIGN_METADATA",
    2300010: "INVALID_MESSAGE_CREATIVE",
    2300011: "MISSING_PAYMENT_METHOD",
    2300012: "CAMPAIGN_POPULATING_IN_PROGRESS",
    2300013: "TERM_OF_SERVICE_NOT_ACCEPTED",
    2300014: "AD_ACCOUNT_NOT_MATCH",
    2300015: "BUDGET_REACHED",
    2300016: "BID_TOO_LOW",
    2300017: "AD_ACCOUNT_SPEND_LIMITATION_REACHED",
    2300018: "REGION_NOT_SUPPORTED",
    2300019: "PARTNER_TOS_NOT_ACCEPTED",
    2300020: "INVALID_PACING_TYPE",
    2300028: "PACING_INFO_UNAVAILABLE",
    2300030: "AD_ACCOUNT_REGION_NOT_SUPPORTED",
    2300031: "PAGE_REGION_NOT_SUPPORTED",
    2300032: "SUBSCRIPTION_TOKEN_REGION_NOT_SUPPORTED",
    2300052: "RECIPIENT_UNAVAILABLE",
    2300068: "PACING_LIMIT_FALLBACK",
    2300069: "CAMPAIGN_LIFETIME_BUDGET_REACHED",
    2300070: "CAMPAIGN_DAILY_BUDGET_REACHED",
    2300071: "PACING_LIMIT_REACHED",
    2300072: "ACCOUNT_SPEND_CAP_REACHED",
    2300073: "ACCOUNT_DAILY_SPENDING_LIMIT_REACHED",
    2300074: "PREPAY_BALANCE_DEPLETED",
    2300075: "BUSINESS_STORED_BALANCE_DEPLETED",
    2300076: "DAILY_SPENDING_LIMIT_REACHED",
    2300077: "FLEX_BILLING_LIMIT_REACHED",
    2300078: "BRAND_EXTENDED_CREDIT_LIMIT_REACHED",
    2300079: "DAILY_SPENDING_LIMIT_REACHED",
    2300080: "SUBSCRIPTION_TOKENS_RATE_LIMIT",
    1893047: "RECIPIENT_NOT_AVAILABLE",
}


# --- credentials and addresses -------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    """The access token and app secret; their repr shows neither."""

    token: str = field(repr=False)
    app_secret: str | None = field(default=None, repr=False)

    @classmethod
    def load(cls, env: Mapping[str, str], token_file: str | None = None) -> Credentials:
        """From ``--token-file`` or ``META_ACCESS_TOKEN``; the secret from ``META_APP_SECRET``."""
        if token_file is not None:
            token = _token_text(_read_token_file(token_file), f"--token-file {token_file}")
        else:
            token = _token_text(env.get("META_ACCESS_TOKEN", ""), "META_ACCESS_TOKEN")
            if not token:
                raise UsageError(
                    "no access token: set META_ACCESS_TOKEN or pass --token-file (tokens never go in manifests)"
                )
        secret = _token_text(env.get("META_APP_SECRET", ""), "META_APP_SECRET") or None
        return cls(token, secret)

    def proof(self) -> str | None:
        """``appsecret_proof``: HMAC-SHA256 of the token keyed with the app secret."""
        if self.app_secret is None:
            return None
        return hmac.new(self.app_secret.encode(), self.token.encode(), hashlib.sha256).hexdigest()

    @cached_property
    def secrets(self) -> tuple[str, ...]:
        """Every form in which the token, the app secret or the proof could show up in a text
        (worked out once: every answer of every batch operation is redacted with them)."""
        found: set[str] = set()
        for secret in (self.token, self.app_secret, self.proof()):
            if not secret:
                continue
            # An app token is "app_id|app_secret": its second half is a secret on its own.
            parts = [secret] + ([secret.partition("|")[2]] if "|" in secret else [])
            for part in parts:
                if part:
                    found.update({part, quote(part), quote(part, safe=""), quote_plus(part), json.dumps(part)[1:-1]})
        return tuple(sorted(found, key=len, reverse=True))  # the longest first: a part never splits a whole

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "[REDACTED]")
        return text


def _read_token_file(name: str) -> str:
    path = Path(name)
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise UsageError(f"--token-file {name}: not a regular file (a pipe, socket or device is not read)")
        raw = path.read_bytes()[:65_536]
    except OSError as exc:
        raise UsageError(f"--token-file {name}: {exc.strerror or exc}") from exc
    if raw.startswith(b"\xef\xbb\xbf"):
        raise UsageError(
            f"--token-file {name}: the file starts with a byte-order mark (BOM); save it as plain "
            "UTF-8 text without one, holding the token alone"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        # Not chained: the decoding error carries the file's bytes, which may be a token.
        raise UsageError(f"--token-file {name}: not UTF-8 text; it must hold the access token alone") from None
    if not text.strip():
        raise UsageError(f"--token-file {name}: the file is empty")
    return text


def _token_text(raw: str, source: str) -> str:
    """The token or secret as given, checked: one line of printable ASCII (never shown in the error)."""
    text = raw.strip()
    if "\n" in text or "\r" in text:
        raise UsageError(f"{source}: several lines; it must hold the access token (or secret) alone, on one line")
    bad = next((ch for ch in text if not (ch.isascii() and ch.isprintable()) or ch.isspace()), None)
    if bad is not None:
        what = (
            "a byte-order mark"
            if bad == "\ufeff"
            else "a space"
            if bad.isspace()
            else "a non-ASCII or control character"
        )
        raise UsageError(
            f"{source}: has {what} (U+{ord(bad):04X}), which no access token or secret has; check how it was copied"
        )
    return text


def shown_url(url: str) -> str:
    """A URL for messages: scheme, host and port only (no credentials, path or query)."""
    parts = split(url)
    if parts is None:
        return "(a URL that cannot be parsed)"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or '?'}{port}" if parts.scheme else "(not a URL)"


def check_base_url(url: str) -> str:
    """The Graph root URL without a trailing slash; plain HTTP only on loopback; no credentials."""
    parts = split(url)
    if parts is None:
        raise UsageError(f"graph URL {shown_url(url)} cannot be parsed (a bad port or host)")
    if "@" in parts.netloc:
        raise UsageError(
            f"graph URL {shown_url(url)} has a user name or password in it (not shown); mmctl "
            "authenticates with META_ACCESS_TOKEN, never with credentials in the URL"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"graph URL {shown_url(url)} is not an http(s) URL")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise UsageError(
            f"graph URL {shown_url(url)} must use https: tokens are only sent in clear to loopback addresses"
        )
    if parts.query or parts.fragment:
        raise UsageError(f"graph URL {shown_url(url)} must not have a query or fragment")
    return url.rstrip("/")


def check_proxy(proxy: str, base_url: str) -> str | None:
    """The proxy to use for ``base_url`` (None: go direct). A loopback Graph URL is never proxied; an
    https Graph URL goes through the proxy in a CONNECT tunnel, so the token stays encrypted."""
    parts = split(proxy)
    if parts is None:
        raise UsageError(f"--proxy {shown_url(proxy)} cannot be parsed")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--proxy {shown_url(proxy)}: expected an http:// or https:// proxy URL")
    target = urlsplit(base_url)
    if is_loopback(target.hostname or ""):
        return None
    if target.scheme != "https":
        raise UsageError("a token is never sent over plain http through a proxy")
    return proxy


# --- retry policy and counters -------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8  # tries per request or batch operation when it fails
    throttled_attempts: int = 50  # when throttled: Meta says when to come back, so waiting is worth more tries
    base_delay: float = 0.5
    max_delay: float = 30.0
    deadline: float = 300.0  # seconds for one call, its retries and every read of its answers included
    timeout: float = 30.0  # per connect, and per read of a part of an answer
    connect_attempts: int = 2  # until the first answer: a refused connection is a wrong URL, not a blip
    max_answer_bytes: int = 48 * 1024 * 1024  # one answer; a listing page of 500 campaigns is ~0.5 MB
    max_pages: int = 20_000  # one listing: 10 million objects at 500 a page
    max_wait: float = 0.0  # --max-wait: how long a throttled call may wait for Meta, past its deadline

    # How long after sending it an abandoned request may still be carried out, as far as mmctl waits
    # for it; None: twice ``timeout`` (a call given up after ``timeout`` seconds gets as long again
    # before a lost create is looked up, and before the next run may create it again).
    settle_after: float | None = None

    @property
    def settle(self) -> float:
        return 2 * self.timeout if self.settle_after is None else self.settle_after

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Exponential with full jitter between half and all of the step."""
        step: float = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return step * (0.5 + rng.random() / 2)


@dataclass
class Counters:
    requests: int = 0
    retries: int = 0
    throttled_waits: int = 0
    waited_seconds: float = 0.0
    batches: int = 0
    operations: int = 0
    outcome_unknown: int = 0

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in self.__dict__.items()}


# --- the envelope --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One HTTP (or batch-operation) answer, parsed."""

    status: int
    body: Any
    headers: Mapping[str, str]
    text: str


def _json_header(headers: Mapping[str, str], name: str) -> Any:
    raw = headers.get(name)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _usage_wait(headers: Mapping[str, str]) -> float | None:
    """``x-business-use-case-usage``: the longest ``estimated_time_to_regain_access`` (minutes)."""
    usage = _json_header(headers, "x-business-use-case-usage")
    try:
        minutes = max(
            (
                float(entry.get("estimated_time_to_regain_access") or 0)
                for entries in usage.values()
                for entry in entries
            ),
            default=0.0,
        )
    except (AttributeError, TypeError, ValueError):
        return None
    return minutes * 60.0 if minutes > 0 else None


def _ad_account_wait(headers: Mapping[str, str]) -> float | None:
    """``x-ad-account-usage``: ``reset_time_duration`` (seconds) once the account is at 100 %."""
    usage = _json_header(headers, "x-ad-account-usage")
    if not isinstance(usage, Mapping):
        return None
    try:
        full = float(usage.get("acc_id_util_pct") or 0) >= 100
        seconds = float(usage.get("reset_time_duration") or 0)
    except (TypeError, ValueError):
        return None
    return seconds if full and seconds > 0 else None


def wait_hint(error: GraphApiError, headers: Mapping[str, str]) -> tuple[float, str] | None:
    """How long Meta asked us to wait, and which hint said so. Several hints: the longest wins."""
    hints: list[tuple[float, str]] = []
    retry_after = headers.get("retry-after")
    if retry_after:
        try:
            hints.append((max(0.0, float(retry_after)), f"Retry-After: {retry_after}"))
        except ValueError:
            pass
    remaining = error.error_data.get("remaining_seconds")
    if isinstance(remaining, (int, float)) and not isinstance(remaining, bool):
        hints.append((max(0.0, float(remaining)), f"error_data.remaining_seconds: {remaining}"))
    usage = _usage_wait(headers)
    if usage is not None:
        hints.append((usage, f"x-business-use-case-usage estimated_time_to_regain_access: {usage / 60:g} minutes"))
    account = _ad_account_wait(headers)
    if account is not None:
        hints.append((account, f"x-ad-account-usage reset_time_duration: {account:g} seconds"))
    return max(hints, key=lambda hint: hint[0]) if hints else None


# Families of Graph and Messenger codes, for the advice a user reads (errors.py says what each means).
MESSENGER_TEMPORARY_CODES = frozenset({1200})  # "Temporary send message failure"
TOKEN_CODES = frozenset({102, 104, 190})
RECIPIENT_CODES = frozenset({551, 2300004, 2300052, 1893047})
RECIPIENT_SUBCODES = frozenset({1545041, 2018001, 2018108})  # Messenger: unavailable, no matching user
POLICY_CODES = frozenset({368, 2300013, 2300018, 2300019, 2300030, 2300031, 2300032})
POLICY_SUBCODES = frozenset({2018065, 2018278})  # Messenger: outside the allowed messaging window
MISSING_TOKEN_ADVICE = "No access token was sent: set META_ACCESS_TOKEN or pass --token-file."


def _family(
    code: int | None, subcode: int | None, message: str, status: int, transient: bool | None
) -> type[GraphApiError]:
    """The error class of an envelope: Meta's ``is_transient`` first, then the code's family."""
    if code in THROTTLE_CODES and transient is not False:
        return Throttled
    if transient is True:
        return TransientError
    if code in TOKEN_CODES:
        return AuthenticationError
    if code in RECIPIENT_CODES or subcode in RECIPIENT_SUBCODES:
        return RecipientError
    if code in POLICY_CODES or subcode in POLICY_SUBCODES:
        return PolicyRefused
    if code is not None and code in MARKETING_MESSAGES_CODES:
        return MarketingMessagesError
    if code == 10 or (code is not None and 200 <= code <= 299):
        return PermissionDenied
    if transient is not False and (code in TRANSIENT_CODES or code in MESSENGER_TEMPORARY_CODES or status >= 500):
        return TransientError
    if (code == 100 and (subcode == 33 or "does not exist" in message)) or code == 803:
        return NotFound
    return InvalidParameter


def _said(envelope: Mapping[str, Any]) -> str:
    """What Meta said, for people: ``error_user_msg`` and the developer ``message`` when they differ."""
    user = str(envelope.get("error_user_msg") or "").strip()
    developer = str(envelope.get("message") or "").strip()
    if user and developer and developer not in user and user not in developer:
        return f"{user} [{developer}]"
    return user or developer or "unknown error"


def _bodiless(answer: Answer, method: str, path: str, text: str, credentials: Credentials) -> GraphApiError:
    """A failure without a Graph error body: what ``WWW-Authenticate`` and ``x-fb-trace-id`` say."""
    trace = answer.headers.get("x-fb-trace-id") or None
    challenge = answer.headers.get("www-authenticate", "")
    if challenge:
        said = [part for part in re.findall(r'"([^"]*)"', challenge) if part and part != "Facebook Platform"]
        message = credentials.redact(": ".join(said) or challenge)
        cls: type[GraphApiError] = (
            AuthenticationError if answer.status == 401 or "token" in challenge else PermissionDenied
        )
        return cls(message, method=method, path=path, status=answer.status, fbtrace_id=trace, body=text)
    cls = TransientError if answer.status >= 500 or answer.status == 429 else InvalidParameter
    return cls(
        f"HTTP {answer.status} without a Graph error body",
        method=method,
        path=path,
        status=answer.status,
        fbtrace_id=trace,
        body=text,
    )


def error_from(answer: Answer, method: str, path: str, credentials: Credentials) -> GraphApiError:
    """The typed error for a failed answer (an error envelope, or something that is not one)."""
    text = credentials.redact(answer.text)[:BODY_LIMIT]
    envelope = answer.body.get("error") if isinstance(answer.body, dict) else None
    if not isinstance(envelope, dict):
        return _bodiless(answer, method, path, text, credentials)
    code, subcode = _number(envelope.get("code")), _number(envelope.get("error_subcode"))
    if code is _NOT_A_NUMBER or subcode is _NOT_A_NUMBER:
        trace = str(envelope.get("fbtrace_id") or answer.headers.get("x-fb-trace-id") or "") or None
        return UnexpectedAnswer(
            "an error whose code is not a number",
            method=method,
            path=path,
            status=answer.status,
            fbtrace_id=credentials.redact(trace or "") or None,
            body=text,
        )
    transient = envelope.get("is_transient") if isinstance(envelope.get("is_transient"), bool) else None
    message = credentials.redact(_said(envelope))
    title = envelope.get("error_user_title")
    data = envelope.get("error_data") if isinstance(envelope.get("error_data"), dict) else None
    cls = _family(code, subcode, str(envelope.get("message") or ""), answer.status, transient)
    trace = str(envelope.get("fbtrace_id") or answer.headers.get("x-fb-trace-id") or "") or None
    return cls(
        message,
        method=method,
        path=path,
        status=answer.status,
        code=code,
        subcode=subcode,
        fbtrace_id=trace,
        body=text,
        error_data=data,
        name=MARKETING_MESSAGES_CODES.get(code or 0),
        title=credentials.redact(str(title)) if isinstance(title, str) and title else None,
        is_transient=transient,
        advice=MISSING_TOKEN_ADVICE if code == 104 else None,
    )


_NOT_A_NUMBER = object()


def _number(value: Any) -> Any:
    """An error code as an int; None when absent; ``_NOT_A_NUMBER`` when it is not a number at all."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12:
        return int(value)
    return _NOT_A_NUMBER


def _is_error(body: Any) -> bool:
    """Graph sometimes answers HTTP 200 with an error envelope: an error all the same."""
    return isinstance(body, dict) and isinstance(body.get("error"), dict)


def _encode(params: Mapping[str, Any]) -> dict[str, str]:
    """Graph's form encoding: structured values as JSON text, booleans as true/false."""
    out = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, (dict, list, tuple)):
            out[key] = json.dumps(value, separators=(",", ":"))
        else:
            out[key] = str(value)
    return out


# --- the client ----------------------------------------------------------------------------------


class GraphClient:
    """Talks to one Graph root (Meta, or a sandbox) with one set of credentials."""

    def __init__(
        self,
        base_url: str,
        api_version: str,
        credentials: Credentials,
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        concurrency: int = DEFAULT_PARALLELISM,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        wall: Callable[[], float] = time.time,
        proxy: str | None = None,
    ) -> None:
        self.base_url = check_base_url(base_url)
        self.api_version = api_version
        self.credentials = credentials
        self.retry = retry or RetryPolicy()
        self.concurrency = max(1, concurrency)
        self.counters = Counters()
        self._sleep = sleep
        self._clock = clock
        self._wall = wall
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        # Batch requests in flight, whichever call sent them: an apply's follow-up calls and its next
        # creates share ``concurrency``.
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self._connected = False  # until a first answer, a refused connection fails fast
        self.server_offset = 0.0  # the server's clock minus ours (its Date header)
        self.last_trace: str | None = None  # x-fb-trace-id of the latest answer, for errors found reading it
        self.page_trace: str | None = None  # that of the listing page whose rows pages() is yielding
        # Proxy variables in the environment are ignored (trust_env=False): a CI machine's HTTP(S)_PROXY
        # must not see Graph traffic unless asked for with --proxy / MMCTL_PROXY.
        self._http = httpx.Client(
            transport=transport,
            timeout=self.retry.timeout,
            trust_env=False,
            proxy=check_proxy(proxy, self.base_url) if proxy and transport is None else None,
            headers={"Authorization": f"Bearer {credentials.token}", "User-Agent": "mmctl"},
        )

    def __repr__(self) -> str:
        return f"GraphClient({self.base_url!r}, {self.api_version!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- single calls

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.call("GET", path, params or {}, kind="read")

    def call(self, method: str, path: str, params: Mapping[str, Any], *, kind: CallKind, url: str | None = None) -> Any:
        """One request, retried as its kind allows; returns the decoded body or raises.

        ``url``, when given, is a full URL on our host requested as it is (a paging link)."""
        started = self._clock()
        tries: dict[bool, int] = {True: 0, False: 0}  # failures counted apart from throttling
        while True:
            try:
                return self._once(method, path, params, kind, url=url, deadline=started + self.retry.deadline)
            except GraphApiError as error:
                tries[isinstance(error, Throttled)] += 1
                wait = self._retry_wait(error, kind, tries[isinstance(error, Throttled)], started)
                if wait is None:
                    raise
                self._pause(wait, throttled=isinstance(error, Throttled), error=error)

    def pages(
        self, path: str, params: Mapping[str, Any] | None = None, *, limit: int = 500, first: Any = None
    ) -> Iterator[Any]:
        """Every object of a listing, following ``paging.next`` until it is absent.

        ``first`` is the first page when it was already fetched (say, inside a batch). The next page
        is read while the rows of this one are used (cursors make pages sequential, but the wait for
        one need not add to the work on the last); ``page_trace`` is the trace id of the page whose
        rows are being yielded.
        """
        query: dict[str, Any] = {**(params or {}), "limit": limit}
        seen: set[str] = set()
        ahead: Ahead[tuple[Any, str | None]] | None = None
        for _ in range(self.retry.max_pages):
            if first is not None:
                body, first = first, None
                trace = self.last_trace
            elif ahead is not None:
                body, trace = ahead.result()
            else:
                body = self.get(path, query)
                trace = self.last_trace
            self.page_trace = trace
            if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise UnexpectedAnswer(
                    "a listing page without a data list", method="GET", path=_bare(path), fbtrace_id=trace
                )
            paging: dict[str, Any] = body["paging"] if isinstance(body.get("paging"), dict) else {}
            link = paging.get("next")
            url = link if isinstance(link, str) else None
            if url is not None:
                if url in seen:
                    raise UnexpectedAnswer(
                        "the listing's next link leads back to a page already read (a paging "
                        "cycle); stopped instead of reading forever",
                        method="GET",
                        path=_bare(path),
                        fbtrace_id=trace,
                    )
                seen.add(url)
                ahead = Ahead(partial(self._follow_traced, url), name="mmctl-page-ahead")
            yield from body["data"]
            self.page_trace = None
            if url is None:
                return  # an empty page may still have a next; only its absence ends the listing
        raise UnexpectedAnswer(
            f"the listing has more than {self.retry.max_pages:,} pages; stopped",
            method="GET",
            path=_bare(path),
            fbtrace_id=self.last_trace,
        )

    def _follow_traced(self, url: str) -> tuple[Any, str | None]:
        body = self._follow(url)
        return body, self.last_trace

    def _follow(self, url: str) -> Any:
        """A ``next`` link, followed as given (whatever API version it names) when it stays on our
        Graph host: it would carry our token anywhere else."""
        parts, ours = urlsplit(url), urlsplit(self.base_url)
        if (parts.scheme, parts.netloc) != (ours.scheme, ours.netloc):
            raise UnexpectedAnswer(
                "a paging link points to another host; not following it (it would carry the token there)",
                method="GET",
                path=_bare(parts.path),
                fbtrace_id=self.last_trace,
            )
        query = {
            k: v
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if k not in ("access_token", "appsecret_proof")
        }
        link = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        return self.call("GET", parts.path, query, kind="read", url=link)

    # -- batches

    def batch(self, operations: Sequence[Operation]) -> list[Result]:
        """Carry out ``operations`` through the batch API, 50 per request, several requests at once.

        Results come back in the order of ``operations``. Operations that fail in a retryable way
        are retried in later rounds; a create whose outcome is unclear gets ``OutcomeUnknown``.
        """
        results: dict[int, Result] = {}
        pending = list(range(len(operations)))
        # Per operation, failures and throttled rounds are counted apart: each has its own budget.
        tries = {(index, throttled): 0 for index in pending for throttled in (True, False)}
        started = self._clock()
        while pending:
            chunks = [pending[i : i + MAX_BATCH] for i in range(0, len(pending), MAX_BATCH)]
            retry: list[int] = []
            wait, throttled = 0.0, False
            reason: GraphApiError | None = None
            deadline = started + self.retry.deadline
            if len(chunks) == 1:
                # In this thread: nothing to overlap, and Ctrl-C is not held up by a worker's read timeout.
                rounds = [self._batch_once([operations[i] for i in chunks[0]], deadline)]
            else:
                with ThreadPoolExecutor(max_workers=min(self.concurrency, len(chunks))) as pool:
                    rounds = list(
                        pool.map(lambda chunk: self._batch_once([operations[i] for i in chunk], deadline), chunks)
                    )
            for chunk, outcomes in zip(chunks, rounds):
                for index, result in zip(chunk, outcomes):
                    error = result.error
                    delay = None
                    if error is not None:
                        key = (index, isinstance(error, Throttled))
                        tries[key] += 1
                        delay = self._retry_wait(error, operations[index].kind, tries[key], started)
                    if delay is None:
                        if isinstance(error, OutcomeUnknown):
                            with self._lock:
                                self.counters.outcome_unknown += 1
                        results[index] = result
                    else:
                        retry.append(index)
                        reason = reason or error
                        wait, throttled = max(wait, delay), throttled or isinstance(error, Throttled)
            if retry:
                self._pause(wait, throttled=throttled, retries=len(retry), error=reason)
            pending = retry
        return [results[i] for i in range(len(operations))]

    def _batch_once(self, operations: Sequence[Operation], deadline: float) -> list[Result]:
        """One batch request; every operation gets a result."""
        items = []
        for op in operations:
            item: dict[str, Any] = {"method": op.method, "relative_url": op.path.lstrip("/")}
            encoded = _encode(op.params)
            if op.method == "POST":
                item["body"] = form.encode(encoded)
            elif encoded:
                item["relative_url"] += "?" + form.encode(encoded)
            items.append(item)
        with self._lock:
            self.counters.batches += 1
            self.counters.operations += len(operations)
        try:
            with self._slots:
                answers = self._once("POST", "", {"batch": items, "include_headers": True}, "batch", deadline=deadline)
            if not isinstance(answers, list) or len(answers) != len(operations):
                raise UnexpectedAnswer(
                    f"the batch answer is not a list of {len(operations)} results",
                    method="POST",
                    path="/",
                    status=200,
                    fbtrace_id=self.last_trace,
                )
        except GraphApiError as error:
            # The whole request failed: no operation has an answer of its own.
            return [Result(op, error=self._whole_batch_error(op, error)) for op in operations]
        out = []
        for op, raw in zip(operations, answers):
            path = _bare(op.path)
            if raw is None:
                # Graph's "did not complete": it may have run, which matters only for a create.
                lost: type[GraphApiError] = OutcomeUnknown if op.kind == "create" else TransientError
                out.append(
                    Result(
                        op,
                        error=lost("the batch operation did not complete (null result)", method=op.method, path=path),
                    )
                )
                continue
            status = raw.get("code") if isinstance(raw, dict) else None
            text = raw.get("body") if isinstance(raw, dict) else None
            if not isinstance(status, int) or isinstance(status, bool) or not isinstance(text, (str, type(None))):
                out.append(
                    Result(
                        op,
                        error=_unclear(
                            UnexpectedAnswer(
                                "a batch result that is not {code, headers, body}",
                                method=op.method,
                                path=path,
                                status=200,
                                fbtrace_id=self.last_trace,
                            ),
                            op.kind,
                        ),
                    )
                )
                continue
            listed = raw.get("headers")
            headers = {
                str(h.get("name", "")).lower(): str(h.get("value", ""))
                for h in (listed if isinstance(listed, list) else [])
                if isinstance(h, dict)
            }
            text = self.credentials.redact(text or "")
            body = _decode(text)
            answer = Answer(status, body, headers, text)
            if 200 <= answer.status < 300 and body is _NOT_JSON:
                out.append(
                    Result(
                        op,
                        error=_unclear(
                            UnexpectedAnswer(
                                "a batch result whose body is not JSON (or is nested absurdly deep)",
                                method=op.method,
                                path=path,
                                status=answer.status,
                                fbtrace_id=headers.get("x-fb-trace-id") or self.last_trace,
                            ),
                            op.kind,
                        ),
                    )
                )
            elif 200 <= answer.status < 300 and not _is_error(body):
                out.append(Result(op, body=body))
            else:
                failed = _hinted(error_from(answer, op.method, path, self.credentials), headers)
                if op.kind == "create" and type(failed) is TransientError:
                    failed = _unknown(failed)
                out.append(Result(op, error=failed))
        return out

    def _whole_batch_error(self, op: Operation, error: GraphApiError) -> GraphApiError:
        """What a failure of the whole batch request means for one of its operations."""
        if op.kind == "create" and (
            isinstance(error, UnexpectedAnswer) or isinstance(error, TransientError) and error.sent
        ):
            cls: type[GraphApiError] = OutcomeUnknown  # it was sent: it may have run
        elif isinstance(error, TransientError):
            cls = TransientError  # a read, update or delete may safely run again
        else:
            cls = type(error)
        made = cls(error.message, **{**error.details(), "method": op.method, "path": _bare(op.path)})
        made.hint_source = error.hint_source
        return made

    # -- the wire

    def _once(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any],
        kind: str,
        *,
        url: str | None = None,
        deadline: float | None = None,
    ) -> Any:
        """One HTTP request: the decoded body, or a typed error (OutcomeUnknown for a create sent blind).

        ``url``, when given, is a full URL on our host (a paging link) requested as it is. The answer
        is read in parts, each within the read timeout, all of it by ``deadline`` and within
        ``max_answer_bytes``: a server that drips or floods cannot hold mmctl."""
        path = _bare(path)
        if url is None:
            url = f"{self.base_url}/{self.api_version}/{path}"
        data = _encode(params)
        proof = self.credentials.proof()
        if proof:
            data["appsecret_proof"] = proof
        with self._lock:
            self.counters.requests += 1
        began = time.monotonic()
        ends = deadline if deadline is not None else self._clock() + self.retry.deadline
        try:
            request = (
                self._http.build_request(method, url, content=form.encode(data).encode("ascii"), headers=_FORM_HEADERS)
                if method == "POST"
                else self._http.build_request(method, url, params=data)
            )
            response = self._http.send(request, stream=True)
            try:
                content = self._read_answer(response, ends, method, path)
            finally:
                response.close()
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            self._log(method, path, None, began, type(exc).__name__)
            raise TransientError(
                f"could not connect to {shown_url(self.base_url)} ({_connect_reason(exc)})",
                method=method,
                path=path,
                sent=False,
            ) from exc
        except (httpx.HTTPError, _Overdue) as exc:
            # Timeouts, dropped connections, an answer that never ends: the request may have reached Meta.
            self._log(method, path, None, began, type(exc).__name__)
            lost = TransientError(
                f"no (complete) answer ({exc if isinstance(exc, _Overdue) else type(exc).__name__})",
                method=method,
                path=path,
            )
            raise _unclear(lost, kind) from exc
        self._connected = True
        self._log(method, path, response.status_code, began, None)
        headers = {k.lower(): v for k, v in response.headers.items()}
        with self._lock:
            self.last_trace = headers.get("x-fb-trace-id") or None
            self._note_server_time(headers.get("date"))
        # Graph echoes an access_token given in a query into paging links; never hand one onwards.
        text = self.credentials.redact(content.decode(response.encoding or "utf-8", errors="replace"))
        body = _decode(text)
        ok = 200 <= response.status_code < 300
        if ok and body is _NOT_JSON:
            error: GraphApiError = UnexpectedAnswer(
                "the answer is not JSON (or is nested absurdly deep)",
                method=method,
                path=path,
                status=response.status_code,
                fbtrace_id=self.last_trace,
                body=text[:BODY_LIMIT],
            )
        elif ok and not _is_error(body):
            return body
        else:
            answer = Answer(response.status_code, None if body is _NOT_JSON else body, headers, text)
            error = _hinted(error_from(answer, method, path, self.credentials), answer.headers)
        raise _unclear(error, kind)

    def _note_server_time(self, date: str | None) -> None:
        """Keep how far the server's clock is from ours: a send's warm-up and cooldowns are Meta's
        times, and a CI runner's clock may be off."""
        if not date:
            return
        try:
            self.server_offset = parsedate_to_datetime(date).timestamp() - self._wall()
        except (TypeError, ValueError, OverflowError):
            return

    def server_now(self) -> float:
        """The server's time, as its last answer told it (our clock until one has)."""
        return self._wall() + self.server_offset

    def _read_answer(self, response: httpx.Response, ends: float, method: str, path: str) -> bytes:
        parts: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.retry.max_answer_bytes:
                raise UnexpectedAnswer(
                    f"the answer is larger than {self.retry.max_answer_bytes // 2**20} MiB; not read further",
                    method=method,
                    path=path,
                    status=response.status_code,
                    fbtrace_id=response.headers.get("x-fb-trace-id"),
                )
            if self._clock() > ends:
                raise _Overdue(f"the answer was still arriving after the call's deadline of {self.retry.deadline:g}s")
            parts.append(chunk)
        return b"".join(parts)

    def _retry_wait(self, error: GraphApiError, kind: str, attempt: int, started: float) -> float | None:
        """Seconds to wait before trying again, or None when this error is final.

        A throttle whose regain time is longer than the call may still wait (its deadline, or
        ``--max-wait`` when longer) is final at once, and says when access returns."""
        if isinstance(error, OutcomeUnknown) or not isinstance(error, (Throttled, TransientError)):
            return None
        limit = self.retry.throttled_attempts if isinstance(error, Throttled) else self.retry.attempts
        if not error.sent and not self._connected:
            limit = min(limit, self.retry.connect_attempts)  # never answered yet: most likely a wrong URL
        if attempt >= limit:
            return None
        wait = max(error.retry_after or 0.0, self.retry.backoff(attempt, self._rng))
        allowed = max(self.retry.deadline - (self._clock() - started), self.retry.max_wait)
        if wait > allowed:
            if error.retry_after and error.hint_source and error.retry_after > allowed:
                error.regain_at = self._wall() + error.retry_after
            return None
        return wait

    def _pause(self, seconds: float, *, throttled: bool, retries: int = 1, error: GraphApiError | None = None) -> None:
        with self._lock:
            self.counters.retries += retries
            self.counters.waited_seconds += seconds
            self.counters.throttled_waits += 1 if throttled else 0
        # A warning, shown without --verbose: a user should see that mmctl is waiting, and why.
        why = f"{error.method} {error.path or '/'}: {error.message}" if error is not None else "a call failed"
        log.warning(
            "%s; %s %d call(s) in %.1fs", why, "throttled, retrying" if throttled else "retrying", retries, seconds
        )
        self._sleep(seconds)

    def _log(self, method: str, path: str, status: int | None, began: float, failure: str | None) -> None:
        elapsed = (time.monotonic() - began) * 1000
        log.info("%s %s %s %.0fms", method, path or "/", status if status is not None else failure, elapsed)


class _Overdue(Exception):
    """An answer still arriving when its call's deadline passed."""


_NOT_JSON = object()  # what _decode gives for a body that is not JSON


def _decode(text: str) -> Any:
    if not text:
        return _NOT_JSON
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: "[[[[…" nested beyond the interpreter's stack
        return _NOT_JSON


def _connect_reason(exc: Exception) -> str:
    text = str(exc).lower()
    if "refused" in text:
        return "connection refused: nothing listens there; check the URL, or start the sandbox"
    if "name or service" in text or "nodename" in text or "getaddrinfo" in text or "resolve" in text:
        return "the host name does not resolve"
    return type(exc).__name__


def _bare(path: str) -> str:
    """A path without query (where a token could hide) or leading slash."""
    return path.split("?", 1)[0].lstrip("/")


def _unknown(error: GraphApiError) -> OutcomeUnknown:
    return OutcomeUnknown(error.message, **error.details())


def _unclear(error: GraphApiError, kind: str) -> GraphApiError:
    """For a create, an answer that says nothing clear (lost, or unreadable) means it may have run."""
    return _unknown(error) if kind == "create" and type(error) in (TransientError, UnexpectedAnswer) else error


def _hinted(error: GraphApiError, headers: Mapping[str, str]) -> GraphApiError:
    """The error with Meta's wait hint (the longest one), and which header or field gave it."""
    hint = wait_hint(error, headers)
    if hint is not None:
        error.retry_after, error.hint_source = hint
    return error


def connect(
    graph: str,
    api_version: str,
    *,
    root: Path,
    env: Mapping[str, str],
    token_file: str | None = None,
    retry: RetryPolicy | None = None,
    concurrency: int = DEFAULT_PARALLELISM,
    proxy: str | None = None,
) -> GraphClient:
    """The client for ``provider.graph``: ``sandbox`` runs the emulator in-process (no token needed,
    data in ``<root>/.mmctl/sandbox.json``); anything else is a Graph URL and needs a token."""
    if graph == "sandbox":
        # The emulator costs a tenth of a second to import; a client of a served Graph never needs it.
        from reconciler.sandbox import Sandbox, SandboxConfig
        from reconciler.sandbox.transport import SandboxTransport

        app = Sandbox(SandboxConfig(), root / SANDBOX_DATA)
        # In-process: a call ends with its process, so nothing is left in flight to wait for.
        retry = replace(retry or RetryPolicy(), settle_after=0.0)
        return GraphClient(
            "http://localhost",
            api_version,
            Credentials(SANDBOX_TOKEN),
            transport=SandboxTransport(app),
            retry=retry,
            concurrency=concurrency,
        )
    return GraphClient(
        graph, api_version, Credentials.load(env, token_file), retry=retry, concurrency=concurrency, proxy=proxy
    )
