"""The sandbox as a WSGI application: routing, authentication, batch, faults, stats and controls.

``Sandbox(config, data_path)`` is the application. It serves the Graph API under
``/v{version}/`` (and unversioned, as Graph does) and its own controls under ``/__sandbox/``:

- ``GET  /__sandbox/stats``: ``{"requests", "by_endpoint", "operations", "operations_by_endpoint",
  "faults", "throttled", "internal_errors"}``; ``DELETE`` resets the counters;
- ``GET  /__sandbox/requests``: the request log (parameters as sent, tokens removed); ``DELETE`` clears it;
- ``GET|POST /__sandbox/clock``: ``{"now": ISO|Unix, "advance_seconds": N, "freeze": bool}``;
- ``GET|POST /__sandbox/accounts/act_<id>``: currency, timezone_name, name, tos_accepted, payment_method,
  region_supported, page_region_supported, pacing_ready, spend_cap, default_budget_mode, pixels;
- ``POST /__sandbox/pages/<id>/subscribers``: ``{"count", "topic_title", "recipient_ids"}`` opt-in tokens;
- ``POST /__sandbox/pages/<id>/activity``: ``{"subscription_token", "at", "threads", "region",
  "unavailable"}``: organic threads started (the frequency caps' model), a recipient's region,
  a recipient who is not available;
- ``POST /__sandbox/faults``: ``{"rate", "kinds", "phase", "latency_ms", "slow_ms", "seed", "quota",
  "user_quota", "quota_window_s"}``;
- ``POST /__sandbox/access_tokens``: ``{"token", "state"}`` marks a token expired, invalidated,
  deauthorized or logged_out: calls with it get code 190 and Graph's subcode (463, 460, 458, 467);
- ``POST /__sandbox/reset``: forget everything; ``GET /__sandbox/preview?d=…``: a rendered preview.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import hmac
import html
import ipaddress
import json
import random
import re
import sys
import threading
import traceback
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.utils import formatdate
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import accounts, audiences, batch, campaigns, estimates, messages, subscribers
from .call import Call
from .config import FAULT_KINDS, SandboxConfig
from .errors import (
    GraphError,
    invalid_parameter,
    nonexisting_field,
    unknown_path,
    unsupported,
)
from .fields import select
from .limits import FaultInjector, Quotas, transient_error
from .limits import sleep as real_sleep
from .params import Params, parse_form
from .store import SandboxDataError, Store, World
from .timefmt import format_time, parse_time

MAX_BODY = 64 * 1024 * 1024
_VERSION = re.compile(r"v(\d+)\.(\d+)")
_SECRET_KEYS = ("access_token", "appsecret_proof")

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
Environ = dict[str, Any]


class DroppedConnection(ConnectionAbortedError):
    """Raised to make the server close the connection without answering (a fault)."""


@dataclass
class Request:
    method: str
    segments: list[str]
    params: Params
    token: str | None
    query: dict[str, str]
    version: str
    host_url: str  # scheme://host, for links to the sandbox itself
    base_url: str  # scheme://host/version/path, for paging links
    in_batch: bool = False
    proof: str | None = None  # appsecret_proof: the request's own, or its batch's

    @cached_property
    def endpoint(self) -> str:
        return endpoint_key(self.method, self.segments)

    @property
    def token_hash(self) -> str:
        """SHA-256 of the token, hex: how revoked tokens are kept."""
        return _token_hash(self.token or "")


@dataclass
class Outcome:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    error_code: int | None = None


@lru_cache(maxsize=64)
def _token_hash(token: str) -> str:
    # Every operation of a batch carries its batch's token: hashed once, not 50 times.
    return hashlib.sha256(token.encode()).hexdigest()


def endpoint_key(method: str, segments: list[str]) -> str:
    """``POST act_/message_campaign``, ``GET <id>/insights``, ``POST /`` (batch): for counting calls."""
    if not segments:
        return f"{method} /"
    parts = [
        "act_" if s.startswith("act_") and s[4:].isascii() and s[4:].isdigit() else "<id>" if s.isdigit() else s
        for s in segments
    ]
    return f"{method} {'/'.join(parts)}"


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.requests: Counter[str] = Counter()
        self.operations: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.throttled = 0
        self.internal_errors = 0

    def count(self, counter: str, key: str) -> None:
        with self._lock:
            getattr(self, counter)[key] += 1

    def bump(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": sum(self.requests.values()),
                "by_endpoint": dict(sorted(self.requests.items())),
                "operations": sum(self.operations.values()),
                "operations_by_endpoint": dict(sorted(self.operations.items())),
                "faults": dict(sorted(self.faults.items())),
                "throttled": self.throttled,
                "internal_errors": self.internal_errors,
            }


class Sandbox:
    """The WSGI application; thread-safe, one per data file and process."""

    def __init__(self, config: SandboxConfig | None = None, data_path: Path | None = None) -> None:
        self.config = config or SandboxConfig()
        # Host names controls answer to besides loopback ones (the address `serve --host` binds).
        self.allowed_hosts: set[str] = set()
        self.store = Store(data_path)
        self.stats = Stats()
        self.log: deque[dict[str, Any]] = deque(maxlen=self.config.request_log_size)
        self._configure(self.config)

    def _configure(self, config: SandboxConfig) -> None:
        self.config = config
        self.faults = FaultInjector(config)
        self.quotas = Quotas(config, clock=lambda: self.store.world.now())
        self._rng = random.Random(config.seed + 1)
        self._rng_lock = threading.Lock()

    def set_clock(self, now: str | float | None = None, *, freeze: bool | None = None, advance: float = 0.0) -> float:
        """Set, freeze or advance the clock (ValueError for a time that cannot be read)."""
        with self.store.transaction() as world:
            try:
                instant = None if now is None else parse_time(now, "now", "UTC")
            except GraphError:
                raise ValueError(f"cannot read {now!r} as a time; write ISO 8601 or Unix seconds") from None
            world.set_clock(instant, freeze=freeze, advance=advance)
            return world.now()

    def reconfigure(self, **changes: Any) -> SandboxConfig:
        self._configure(dataclasses.replace(self.config, **changes))
        return self.config

    # --- WSGI -------------------------------------------------------------------------------------

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        outcome = self.handle(environ)
        payload = outcome.body if isinstance(outcome.body, bytes) else json.dumps(outcome.body).encode()
        headers = {
            "Content-Type": "application/json; charset=UTF-8",
            # The sandbox's own clock (it can be set and frozen): what mmctl compares Meta's times with.
            "Date": formatdate(self.store.world.now(), usegmt=True),
            **outcome.headers,
            "Content-Length": str(len(payload)),
        }
        start_response(f"{outcome.status} {_REASONS.get(outcome.status, 'Error')}", list(headers.items()))
        return [payload]

    def handle(self, environ: Environ) -> Outcome:
        path = environ.get("PATH_INFO", "/") or "/"
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0:
            # Never "read to the end": a client that never closes would hold this thread for good.
            return self._error(GraphError(100, "(#100) The Content-Length header is not a length"), None)
        if length > MAX_BODY:
            return self._error(GraphError(100, "(#100) The request body is too large"), None)
        body = environ["wsgi.input"].read(length) if length else b""
        scheme = environ.get("wsgi.url_scheme", "http")
        host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "localhost")
        host_url = f"{scheme}://{host}"
        query = environ.get("QUERY_STRING", "")
        content_type = environ.get("CONTENT_TYPE", "")
        if path.startswith("/__sandbox/") or path == "/__sandbox":
            method = environ.get("REQUEST_METHOD", "GET")
            refused = self._control_refusal(
                method,
                path,
                host,
                content_type,
                body,
                _token_from_header(environ.get("HTTP_AUTHORIZATION", "")),
                in_process=bool(environ.get("mmctl.sandbox.in_process")),
            )
            if refused is not None:
                return self._error(refused, None)
            return self._control(method, path, query, body, content_type, host_url)
        sleep = environ.get("mmctl.sandbox.sleep", real_sleep)
        try:
            request = self._request(
                environ.get("REQUEST_METHOD", "GET"),
                path,
                query,
                body,
                content_type,
                _token_from_header(environ.get("HTTP_AUTHORIZATION", "")),
                host_url,
            )
        except GraphError as exc:
            return self._error(exc, None)
        self.stats.count("requests", request.endpoint)
        fault = self.faults.draw(("500", "1", "2", "slow", "drop", "throttle"))
        sleep(self.config.latency_ms / 1000)
        if fault is not None:
            self.stats.count("faults", fault.kind)
            if not fault.after:
                if fault.kind != "slow":
                    return self._fault(fault.kind, environ, fault.code)
                sleep(self.config.slow_ms / 1000)
        outcome = self._execute(request)
        outcome.headers.setdefault("x-fb-trace-id", self._trace_id())
        outcome.headers["facebook-api-version"] = request.version
        self._log(request, outcome)
        if fault is not None and fault.after:
            # The call was carried out; the caller does not learn it (a timeout, a lost answer).
            if fault.kind == "slow":
                sleep(self.config.slow_ms / 1000)
            else:
                return self._fault(fault.kind, environ, fault.code)
        return outcome

    def _fault(self, kind: str, environ: Environ, code: int = 0) -> Outcome:
        if kind == "drop":
            drop = environ.get("mmctl.sandbox.drop")
            if drop is not None:
                drop()
            raise DroppedConnection("sandbox fault: connection dropped")
        if kind == "500":
            return Outcome(
                500, b"<html><body><h1>500 Internal Server Error</h1></body></html>", {"Content-Type": "text/html"}
            )
        return self._error(transient_error(kind, code), None)

    # --- requests ---------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        query: str,
        body: bytes,
        content_type: str,
        header_token: str | None,
        host_url: str,
        *,
        in_batch: bool = False,
        batch_token: str | None = None,
        batch_proof: str | None = None,
    ) -> Request:
        segments = [s for s in path.split("/") if s]
        version = self.config.default_version
        if segments and _VERSION.fullmatch(segments[0]):
            version = segments.pop(0)
            if version not in self.config.versions:
                major, minor = (int(x) for x in _VERSION.fullmatch(version).groups())  # type: ignore[union-attr]
                oldest = _VERSION.fullmatch(self.config.versions[0]).groups()  # type: ignore[union-attr]
                if (major, minor) < (int(oldest[0]), int(oldest[1])):
                    raise GraphError(
                        2635,
                        f"(#2635) You are calling a deprecated version of the Ads API. "
                        f"Please update to the latest version: {self.config.versions[-1]}.",
                    )
                raise unknown_path(f"/{version}/")
        params = Params.parse(query, body, content_type)
        if method == "POST" and "method" in params:
            override = str(params["method"]).upper()
            if override not in ("GET", "POST", "DELETE"):
                raise invalid_parameter(f"Param method must be GET, POST or DELETE, not {override}")
            method = override
        token = header_token or (str(params["access_token"]) if "access_token" in params else None) or batch_token
        raw_query = dict(parse_form(query))
        base_url = f"{host_url}/{version}/{'/'.join(segments)}"
        own_proof = params.get("appsecret_proof")
        proof = str(own_proof) if own_proof else batch_proof
        return Request(method, segments, params, token, raw_query, version, host_url, base_url, in_batch, proof)

    def _authenticate(self, request: Request) -> None:
        if not request.token:
            raise GraphError(
                104,
                "An access token is required to request this resource.",
                status=400,
                headers={
                    "WWW-Authenticate": 'OAuth "Facebook Platform" "invalid_request" '
                    '"An access token is required to request this resource."'
                },
            )
        revoked = self.store.world.access_tokens.get(request.token_hash)
        if revoked is not None:
            raise accounts.token_error(revoked["state"], revoked["since"], self.store.world.now())
        if self.config.token is not None and not hmac.compare_digest(request.token, self.config.token):
            raise GraphError(
                190,
                "Invalid OAuth access token - Cannot parse access token",
                status=400,
                headers={
                    "WWW-Authenticate": 'OAuth "Facebook Platform" "invalid_token" '
                    '"Invalid OAuth access token - Cannot parse access token"'
                },
            )
        if self.config.app_secret is not None:
            proof = request.proof
            if not proof:
                raise invalid_parameter("API calls from the server require an appsecret_proof argument")
            expected = hmac.new(self.config.app_secret.encode(), request.token.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(str(proof), expected):
                raise invalid_parameter("Invalid appsecret_proof provided in the API argument")

    def _execute(self, request: Request) -> Outcome:
        try:
            if not request.segments:
                if request.method == "POST" and "batch" in request.params:
                    self._authenticate(request)
                    return self._batch(request)
                raise invalid_parameter("Unsupported request: the root takes only POST with batch")
            with self.store.transaction() as world:
                body, headers = self._dispatch(world, request)
            return Outcome(200, body, headers)
        except GraphError as exc:
            return self._error(exc, request)
        except SandboxDataError as exc:
            self.stats.bump("internal_errors")
            return self._error(GraphError(1, f"Sandbox data error: {exc}", status=500), request)
        except Exception as exc:
            self.stats.bump("internal_errors")
            traceback.print_exc(file=sys.stderr)
            return self._error(
                GraphError(1, f"Sandbox internal error: {type(exc).__name__}: {exc}", status=500), request
            )

    def _error(self, exc: GraphError, request: Request | None) -> Outcome:
        if exc.code in (4, 17, 32, 613) or 80000 <= exc.code <= 80014:
            self.stats.bump("throttled")
        trace = self._trace_id()
        return Outcome(exc.status, exc.envelope(trace), {**exc.headers, "x-fb-trace-id": trace}, exc.code)

    def _trace_id(self) -> str:
        with self._rng_lock:
            raw = self._rng.randbytes(9)
        return base64.b64encode(raw).decode()[:11].replace("+", "A").replace("/", "B")

    def _call(self, world: World, request: Request) -> Call:
        with self._rng_lock:
            seed = self._rng.getrandbits(64)
        return Call(world, self.config, request.method, request.params, request.base_url, request.query, seed)

    # --- routing ----------------------------------------------------------------------------------

    def _dispatch(self, world: World, request: Request) -> tuple[dict[str, Any], dict[str, str]]:
        self._authenticate(request)
        call = self._call(world, request)
        head, edge, method = request.segments[0], "/".join(request.segments[1:]), request.method
        token_key = request.token_hash[:16]
        if head.startswith("act_"):
            if not head[4:].isdigit():
                raise invalid_parameter(f"Invalid ad account id {head}")
            acct = accounts.account(world, head[4:], self.config)
            use_case = "custom_audience" if edge == "customaudiences" else "ads_management"
            headers = self.quotas.check(acct["id"], use_case, token_key)
            route = ACCOUNT_ROUTES.get((method, edge))
            if route is None:
                if not edge or any(e == edge for _, e in ACCOUNT_ROUTES):
                    raise unsupported(method, head if not edge else f"{head}/{edge}")
                raise nonexisting_field(edge, "AdAccount")
            return route(self, call, acct, request), headers
        if not head.isdigit():
            raise GraphError(803, f"(#803) Some of the aliases you requested do not exist: {head}")
        obj = world.objects.get(head)
        if obj is None:
            if edge in PAGE_EDGES or head in world.pages:  # Pages are provisioned on first use
                page = accounts.page(world, head)
                headers = self.quotas.check(None, "pages", token_key)
                if edge == "notification_message_tokens":
                    self.quotas.check_token_queries(page["id"])
                return self._page(call, page, edge, method), headers
            raise unsupported(method, head)
        use_case = "custom_audience" if obj["type"] == "customaudience" else "ads_management"
        headers = self.quotas.check(obj["account"], use_case, token_key)
        return self._object(call, obj, edge, method), headers

    def _object(self, call: Call, obj: dict[str, Any], edge: str, method: str) -> dict[str, Any]:
        kind = obj["type"]
        if kind == "customaudience":
            if edge == "":
                if method == "GET":
                    call.only({"fields"})
                    return select(audiences.node_type(call), obj, call.fields())
                return audiences.update(call, obj) if method == "POST" else audiences.delete(call, obj)
            if edge == "users" and method in ("POST", "DELETE"):
                return audiences.users(call, obj, remove=method == "DELETE")
            raise nonexisting_field(edge, "CustomAudience")
        if edge == "":
            if method == "GET":
                call.only({"fields"})
                return select(campaigns.node_types(call.world)[kind], obj, call.fields())
            if kind == "creative":
                raise unsupported(method, obj["id"])
            return campaigns.update(call, obj) if method == "POST" else campaigns.delete(call, obj)
        if edge == "insights" and method == "GET" and kind in ("campaign", "adset", "ad"):
            return campaigns.insights(call, obj)
        raise nonexisting_field(edge, campaigns.node_types(call.world)[kind].name)

    def _page(self, call: Call, page: dict[str, Any], edge: str, method: str) -> dict[str, Any]:
        if edge == "" and method == "GET":
            call.only({"fields"})
            return select(accounts.PAGE, page, call.fields())
        if edge == "notification_message_tokens" and method == "GET":
            return subscribers.list_tokens(call, page)
        if edge == "messaging_customer_base/unsubscribe" and method == "POST":
            return subscribers.unsubscribe(call, page)
        raise nonexisting_field(edge or method.lower(), "Page")

    # --- batch ------------------------------------------------------------------------------------

    def _batch(self, request: Request) -> Outcome:
        operations = batch.parse_operations(request.params.structured("batch"))
        include_headers = request.params.boolean("include_headers", True)
        answers: list[dict[str, Any] | None] = []
        results: dict[str, Any] = {}
        failed: set[str] = set()
        with self.store.transaction() as world:
            for op in operations:
                fault = self.faults.draw(("500", "1", "2", "null", "throttle"))
                if fault is not None:
                    self.stats.count("faults", f"batch:{fault.kind}")
                    if not fault.after:
                        answers.append(
                            None if fault.kind == "null" else self._op_error(transient_error(fault.kind, fault.code))
                        )
                        if op.name:
                            failed.add(op.name)
                        continue
                answer: dict[str, Any] | None
                answer, body, ok = self._operation(world, request, op, results, failed, include_headers)
                if fault is not None:
                    answer = None if fault.kind == "null" else self._op_error(transient_error(fault.kind, fault.code))
                    ok = False
                if op.name:
                    if ok:
                        results[op.name] = body
                    else:
                        failed.add(op.name)
                answers.append(None if ok and op.omit_response_on_success else answer)
        return Outcome(200, answers)

    def _op_error(self, exc: GraphError) -> dict[str, Any]:
        return batch.answer(exc.status, dict(exc.headers), exc.envelope(self._trace_id()), True)

    def _operation(
        self,
        world: World,
        outer: Request,
        op: batch.Operation,
        results: dict[str, Any],
        failed: set[str],
        include_headers: bool,
    ) -> tuple[dict[str, Any], Any, bool]:
        try:
            if op.depends_on and op.depends_on in failed:
                raise invalid_parameter(f"The batch request {op.depends_on!r} this one depends on failed")
            url = urlsplit(batch.substitute(op.relative_url, results))
            body = batch.substitute(op.body, results).encode()
            request = self._request(
                op.method,
                url.path,
                url.query,
                body,
                "application/x-www-form-urlencoded",
                None,
                outer.host_url,
                in_batch=True,
                batch_token=outer.token,
                batch_proof=outer.proof,
            )
            if not request.segments:
                raise invalid_parameter("A batch request cannot contain another batch")
            self.stats.count("operations", request.endpoint)
            payload, headers = self._dispatch(world, request)
            self._log(request, Outcome(200, payload))
            return batch.answer(200, headers, payload, include_headers), payload, True
        except GraphError as exc:
            if exc.code in (4, 17, 32, 613) or 80000 <= exc.code <= 80014:
                self.stats.bump("throttled")
            return (
                batch.answer(exc.status, dict(exc.headers), exc.envelope(self._trace_id()), include_headers),
                None,
                False,
            )

    # --- the request log --------------------------------------------------------------------------

    def _log(self, request: Request, outcome: Outcome) -> None:
        params = {k: v for k, v in request.params.items() if k not in _SECRET_KEYS}
        self.log.append(
            {
                "method": request.method,
                "endpoint": request.endpoint,
                "path": "/" + "/".join(request.segments),
                "params": params,
                "status": outcome.status,
                "error_code": outcome.error_code,
                "in_batch": request.in_batch,
            }
        )

    # --- controls ---------------------------------------------------------------------------------

    def _control_refusal(
        self,
        method: str,
        path: str,
        host: str,
        content_type: str,
        body: bytes,
        token: str | None,
        in_process: bool = False,
    ) -> GraphError | None:
        """Why a control request is refused, if it is: controls reset, fault and rewrite the world, so a
        web page the developer has open must not reach them (DNS rebinding: the Host header; a form
        post: JSON only), and with ``--token`` only its holder may use them."""
        hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if not (in_process or _is_loopback_name(hostname) or hostname.strip("[]") in self.allowed_hosts):
            return GraphError(
                100,
                "(#100) Sandbox controls answer only requests addressed to this host "
                "(the Host header names another one)",
                status=403,
            )
        # A browser sends a cross-site POST without asking (a form, or fetch with no body); DELETE it must
        # ask for first (CORS preflight, which the sandbox never grants), so a bare DELETE is fine.
        media = content_type.split(";")[0].strip().lower()
        if (method == "POST" or body) and media != "application/json":
            return GraphError(
                100,
                "(#100) Sandbox controls take a JSON body (Content-Type: application/json); form posts are refused",
                status=415,
            )
        if (
            self.config.token is not None
            and path != "/__sandbox/preview"
            and (not token or not hmac.compare_digest(token, self.config.token))
        ):
            return GraphError(190, "Sandbox controls need the sandbox's access token (--token)", status=401)
        return None

    def _control(self, method: str, path: str, query: str, body: bytes, content_type: str, host_url: str) -> Outcome:
        # A control that fails half way must not leave half of its change behind.
        saved = None
        if method != "GET" and not path.startswith(("/__sandbox/stats", "/__sandbox/requests", "/__sandbox/faults")):
            with self.store.transaction() as world:
                saved = copy.deepcopy(world)
        try:
            params = Params.parse(query, body, content_type or "application/json")
            parts = [p for p in path.split("/") if p][1:]
            answer = self._control_route(method, parts, params)
            return answer if isinstance(answer, Outcome) else Outcome(200, answer)
        except (GraphError, SandboxDataError, ValueError, TypeError, OverflowError) as exc:
            if saved is not None:
                with self.store.transaction():
                    self.store.world = saved
                    saved.touch()
            if isinstance(exc, GraphError):
                return self._error(exc, None)
            if isinstance(exc, SandboxDataError):
                return self._error(GraphError(1, f"Sandbox data error: {exc}", status=500), None)
            return self._error(invalid_parameter(f"Invalid control value: {exc}"), None)

    def _control_route(self, method: str, parts: list[str], params: Params) -> Any:
        route = "/".join(parts[:1])
        if route == "stats":
            if method == "DELETE":
                self.stats.reset()
            return self.stats.snapshot()
        if route == "requests":
            if method == "DELETE":
                self.log.clear()
            return {"data": list(self.log)}
        if route == "faults":
            return self._control_faults(method, params)
        if route == "preview" and method == "GET":
            return self._preview(params)
        with self.store.transaction() as world:
            if route == "clock":
                if method == "POST":
                    now = parse_time(params["now"], "now", "UTC") if params.get("now") is not None else None
                    freeze = params.boolean("freeze") if "freeze" in params else None
                    advance = _bounded(params.get("advance_seconds") or 0, "advance_seconds", -MAX_ADVANCE, MAX_ADVANCE)
                    world.set_clock(now, freeze=freeze, advance=advance)
                return {
                    "now": format_time(world.now()),
                    "unix": world.now(),
                    "frozen": world.clock.get("frozen") is not None,
                }
            if route == "accounts" and len(parts) == 2 and re.fullmatch(r"(act_)?\d+", parts[1]):
                acct = accounts.account(world, parts[1].removeprefix("act_"), self.config)
                if method == "POST":
                    accounts.configure(acct, dict(params))
                    world.touch()
                return {k: v for k, v in acct.items() if k != "amount_spent"}
            if route == "pages" and len(parts) == 3 and parts[1].isdigit() and method == "POST":
                page = accounts.page(world, parts[1])
                if parts[2] == "subscribers":
                    count = int(_bounded(params.get("count") or 0, "count", 0, MAX_OPTINS, whole=True))
                    recipients = params.structured("recipient_ids")
                    if recipients is not None and (
                        not isinstance(recipients, list)
                        or len(recipients) > MAX_OPTINS
                        or not all(isinstance(r, (str, int)) for r in recipients)
                    ):
                        raise invalid_parameter(f"recipient_ids must be a list of at most {MAX_OPTINS:,} ids")
                    created = subscribers.add_optins(
                        world,
                        page["id"],
                        count,
                        params.text("topic_title") or "Deals",
                        [str(r) for r in recipients] if recipients else None,
                        world.now(),
                    )
                    return {"tokens": created}
                if parts[2] == "activity":
                    token = world.tokens.get(params.text("subscription_token", required=True) or "")
                    if token is None:
                        raise invalid_parameter("Unknown subscription_token")
                    at = params.get("at")
                    moment = parse_time(at, "at", "UTC") if at is not None else world.now()
                    threads = int(_bounded(params.get("threads", 1), "threads", 0, 1000, whole=True))
                    token["last_activity"] = moment if threads else token["last_activity"]
                    token["organic"] = sorted([*token.get("organic", []), *[moment] * threads])[-1000:]
                    if "region" in params:
                        token["region"] = params.text("region")
                    if "unavailable" in params:
                        token["unavailable"] = params.boolean("unavailable")
                    world.touch()
                    return {"success": True}
            if route == "access_tokens" and method == "POST":
                state = params.text("state", required=True) or ""
                if state not in accounts.TOKEN_STATES:
                    raise invalid_parameter(f"state must be one of {', '.join(sorted(accounts.TOKEN_STATES))}")
                revoked = params.text("token", required=True) or ""
                world.access_tokens[hashlib.sha256(revoked.encode()).hexdigest()] = {
                    "state": state,
                    "since": world.now(),
                }
                world.touch()
                return {"success": True}
            if route == "reset" and method == "POST":
                keep_clock = world.clock
                fresh = World()
                fresh.clock = keep_clock
                self.store.world = fresh
                fresh.touch()
                return {"success": True}
        raise invalid_parameter(f"Unknown sandbox control {method} /__sandbox/{'/'.join(parts)}")

    def _control_faults(self, method: str, params: Params) -> dict[str, Any]:
        if method == "POST":
            changes: dict[str, Any] = {}
            names = {
                "rate": "fault_rate",
                "phase": "fault_phase",
                "latency_ms": "latency_ms",
                "slow_ms": "slow_ms",
                "seed": "seed",
                "quota": "quota",
                "user_quota": "user_quota",
                "quota_window_s": "quota_window_s",
            }
            for key, value in params.items():
                if key == "kinds":
                    kinds = tuple(value if isinstance(value, list) else str(value).split(","))
                    unknown = set(kinds) - set(FAULT_KINDS)
                    if unknown:
                        raise invalid_parameter(f"Unknown fault kinds {sorted(unknown)}; known: {list(FAULT_KINDS)}")
                    changes["fault_kinds"] = kinds
                elif key in names:
                    low, high, whole = FAULT_BOUNDS[key]
                    changes[names[key]] = _bounded(value, key, low, high, whole=whole)
                else:
                    raise invalid_parameter(f"Unknown fault setting {key!r}")
            if changes.get("fault_phase", "any") not in ("before", "after", "any"):
                raise invalid_parameter("phase must be before, after or any")
            self.reconfigure(**changes)
        c = self.config
        return {
            "rate": c.fault_rate,
            "kinds": list(c.fault_kinds),
            "phase": c.fault_phase,
            "latency_ms": c.latency_ms,
            "slow_ms": c.slow_ms,
            "seed": c.seed,
            "quota": c.quota,
            "user_quota": c.user_quota,
            "quota_window_s": c.quota_window_s,
        }

    def _preview(self, params: Params) -> Outcome:
        raw = params.text("d", required=True) or ""
        try:
            message = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        except ValueError:
            raise invalid_parameter("Invalid preview") from None
        pretty = html.escape(json.dumps(message, indent=2, ensure_ascii=False))
        page = f"<!doctype html><title>Message preview</title><pre>{pretty}</pre>"
        return Outcome(200, page.encode(), {"Content-Type": "text/html; charset=UTF-8"})


MAX_ADVANCE = 10 * 366 * 86_400  # seconds the clock may move in one control call
MAX_OPTINS = 100_000  # subscribers made by one control call
FAULT_BOUNDS: dict[str, tuple[float, float, bool]] = {
    "rate": (0, 1, False),
    "latency_ms": (0, 60_000, True),
    "slow_ms": (0, 600_000, True),
    "seed": (-(2**63), 2**63 - 1, True),
    "quota": (0, 10**9, True),
    "user_quota": (0, 10**9, True),
    "quota_window_s": (0.1, 86_400, False),
}


def _bounded(value: Any, name: str, low: float, high: float, *, whole: bool = False) -> Any:
    """A control's number, checked: its type and its bounds (a control must not wedge the sandbox)."""
    if isinstance(value, str):
        try:
            value = int(value) if whole else float(value)
        except ValueError:
            raise invalid_parameter(f"{name} must be a number") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (whole and not isinstance(value, int)):
        raise invalid_parameter(f"{name} must be {'a whole number' if whole else 'a number'}")
    if not low <= value <= high:
        raise invalid_parameter(f"{name} must be between {low:g} and {high:g}")
    return value


def _is_loopback_name(host: str) -> bool:
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _token_from_header(value: str) -> str | None:
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() in ("bearer", "oauth") and token.strip():
        return token.strip()
    return None


Route = Callable[[Sandbox, Call, dict[str, Any], Request], dict[str, Any]]


def _read_account(sb: Sandbox, call: Call, acct: dict[str, Any], req: Request) -> dict[str, Any]:
    call.only({"fields"})
    return select(accounts.ACCOUNT, acct, call.fields())


def _minimum_budgets(sb: Sandbox, call: Call, acct: dict[str, Any], req: Request) -> dict[str, Any]:
    call.only({"fields", "bid_amount"})
    return accounts.minimum_budgets(acct)


ACCOUNT_ROUTES: dict[tuple[str, str], Route] = {
    ("GET", ""): _read_account,
    ("POST", "message_campaign"): lambda sb, call, acct, req: campaigns.create(call, acct),
    ("GET", "ads"): lambda sb, call, acct, req: campaigns.list_ads(call, acct),
    ("GET", "minimum_budgets"): _minimum_budgets,
    ("GET", "message_delivery_estimate"): lambda sb, call, acct, req: estimates.delivery_estimate(call, acct),
    ("GET", "generatepreviews"): lambda sb, call, acct, req: estimates.previews(call, acct, req.host_url),
    ("POST", "customaudiences"): lambda sb, call, acct, req: audiences.create(call, acct),
    ("GET", "customaudiences"): lambda sb, call, acct, req: audiences.listing(call, acct),
    ("POST", "messages"): lambda sb, call, acct, req: messages.send(call, acct),
}
PAGE_EDGES = ("notification_message_tokens", "messaging_customer_base/unsubscribe")

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    413: "Payload Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
