"""Injected faults and rate limits: what makes the sandbox as unreliable as the real network.

Faults are drawn from a seeded generator, so a failing run can be replayed with the same seed.
Quotas count calls per ad account and use case (Meta's Business Use Case limits, codes 80003 and
80004) and per token (code 17) in fixed windows of real time, so a throttled client that waits
really gets through.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from .config import SandboxConfig
from .errors import SUBSCRIPTION_TOKENS_RATE_LIMIT, GraphError

THROTTLE_CODES = {"ads_management": 80004, "custom_audience": 80003}
THROTTLE_SUBCODE = 2446079


@dataclass(frozen=True)
class Fault:
    kind: str  # one of config.FAULT_KINDS
    after: bool  # the call was carried out before the failure (outcome unknown to the caller)
    code: int = 0  # for "throttle": which throttling code


class FaultInjector:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self._rng = random.Random(config.seed)
        self._lock = threading.Lock()

    def draw(self, kinds: tuple[str, ...]) -> Fault | None:
        """A fault for one request or batch operation, among ``kinds``, or None."""
        allowed = [k for k in self.config.fault_kinds if k in kinds]
        with self._lock:
            if not allowed or self._rng.random() >= self.config.fault_rate:
                return None
            kind = self._rng.choice(allowed)
            phase = self.config.fault_phase
            after = phase == "after" or (phase == "any" and self._rng.random() < 0.5)
            code = self._rng.choice(THROTTLE_FAULT_CODES) if kind == "throttle" else 0
        # Throttling refuses a call before looking at it: it is never "carried out, then failed".
        return Fault(kind, after and kind != "throttle", code)


# The throttling codes of the Graph and Marketing APIs (graph-api.md §5), drawn by the "throttle" fault.
THROTTLE_FAULT_CODES = (4, 17, 32, 341, 613, 80000, 80003, 80004, 80014)


def transient_error(kind: str, code: int = 80004) -> GraphError:
    if kind == "throttle":
        # Meta sends no Retry-After; a throttle without usage headers leaves the client to its backoff.
        return GraphError(
            code,
            f"(#{code}) {THROTTLE_WORDING.get(code, THROTTLE_WORDING[4])}",
            is_transient=True,
            subcode=THROTTLE_SUBCODE if code in (17, 80000, 80003, 80004, 80014) else None,
        )
    if kind == "2":
        return GraphError(2, "An unexpected error has occurred. Please retry your request later.", status=503)
    return GraphError(1, "An unknown error occurred", status=500)


# Each throttling code's own wording (Graph error handling; Marketing API rate limiting).
THROTTLE_WORDING = {
    4: "Application request limit reached",
    17: "User request limit reached",
    32: "Page request limit reached",
    341: "Application limit reached",
    613: "Calls to this api have exceeded the rate limit.",
    80000: "There have been too many calls from this ad-account. Wait a bit and try again.",
    80003: "There have been too many calls to this ad-account. Wait a bit and try again. For more info, please refer "
    "to https://developers.facebook.com/docs/graph-api/overview/rate-limiting#custom-audience.",
    80004: "There have been too many calls to this ad-account. Wait a bit and try again. For more info, please refer "
    "to https://developers.facebook.com/docs/graph-api/overview/rate-limiting#ads-management.",
    80014: "There have been too many calls for the batch uploads to this ad-account. Wait a bit and try again.",
}


class Quotas:
    """Call quotas per window, on the sandbox's clock: a frozen clock holds a window open, and
    advancing the clock (``POST /__sandbox/clock``) ends it, so no test waits for wall time."""

    def __init__(self, config: SandboxConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], tuple[float, int]] = {}

    def _count(self, key: tuple[str, str], limit: int) -> tuple[int, float]:
        """Count one call; returns (calls in this window, seconds until the window ends)."""
        now = self.clock()
        with self._lock:
            start, calls = self._windows.get(key, (now, 0))
            if now - start >= self.config.quota_window_s:
                start, calls = now, 0
            calls += 1
            self._windows[key] = (start, calls)
        return calls, max(0.0, start + self.config.quota_window_s - now)

    def check_token_queries(self, page_id: str) -> None:
        """The Subscription Tokens API's own limit: code 2300080 (changelog 2026-03-16)."""
        limit = self.config.token_query_quota
        if not limit:
            return
        now = self.clock()
        with self._lock:
            start, calls = self._windows.get(("tokens", page_id), (now, 0))
            if now - start >= 3600:
                start, calls = now, 0
            self._windows[("tokens", page_id)] = (start, calls + 1)
        if calls + 1 > limit:
            raise GraphError(
                SUBSCRIPTION_TOKENS_RATE_LIMIT,
                "Subscription Tokens API rate limit reached.",
                user_title="SUBSCRIPTION_TOKENS_RATE_LIMIT",
                is_transient=True,
                user_msg=f"At most {limit} requests an hour per Page.",
                error_data={"remaining_seconds": math.ceil(start + 3600 - now)},
            )

    def check(self, account: str | None, use_case: str, token_key: str) -> dict[str, str]:
        """Count a call; raise the throttling error when over a quota, else return usage headers."""
        config = self.config
        if config.user_quota:
            calls, left = self._count(("token", token_key), config.user_quota)
            if calls > config.user_quota:
                raise GraphError(
                    17,
                    f"(#17) {THROTTLE_WORDING[17]}",
                    subcode=THROTTLE_SUBCODE,
                    is_transient=True,
                    headers={"X-App-Usage": json.dumps({"call_count": 100, "total_cputime": 100, "total_time": 100})},
                )
        headers: dict[str, str] = {}
        if account is None:
            return headers
        pct, left, over = 0, 0.0, False
        if config.quota:
            calls, left = self._count((account, use_case), config.quota)
            pct = min(100, calls * 100 // config.quota)
            over = calls > config.quota
        eta = math.ceil(left / 60) if over and left >= 60 else 0
        headers = dict(_usage_headers(account, use_case, pct, eta, math.ceil(left)))
        if over:
            code = THROTTLE_CODES.get(use_case, 80004)
            raise GraphError(
                code,
                f"(#{code}) {THROTTLE_WORDING[code]}",
                subcode=THROTTLE_SUBCODE,
                is_transient=True,
                headers=headers,
            )
        return headers


# Every call answers with these headers, and within a window they change only when the
# percentage or the whole seconds left do: most calls of a batch share one encoding.
@lru_cache(maxsize=1024)
def _usage_headers(account: str, use_case: str, pct: int, eta: int, reset: int) -> tuple[tuple[str, str], ...]:
    usage = {
        account: [
            {
                "type": use_case,
                "call_count": pct,
                "total_cputime": pct // 2,
                "total_time": pct // 2,
                # Whole minutes, as Meta reports it; a wait under a minute is in x-ad-account-usage's seconds.
                "estimated_time_to_regain_access": eta,
                "ads_api_access_tier": "standard_access",
            }
        ]
    }
    account_usage = {"acc_id_util_pct": pct, "reset_time_duration": reset, "ads_api_access_tier": "standard_access"}
    return (
        ("X-Business-Use-Case-Usage", json.dumps(usage, separators=(",", ":"))),
        ("X-Ad-Account-Usage", json.dumps(account_usage, separators=(",", ":"))),
    )


def sleep(seconds: float) -> None:
    if seconds > 0:
        time.sleep(seconds)
