"""How a sandbox behaves: faults, latency, quotas and the defaults of new accounts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

FAULT_KINDS = ("500", "1", "2", "slow", "drop", "null", "throttle")
DEFAULT_FAULT_KINDS = FAULT_KINDS
SUPPORTED_VERSIONS = ("v22.0", "v23.0", "v24.0", "v25.0")


@dataclass(frozen=True)
class SandboxConfig:
    latency_ms: int = 0
    fault_rate: float = 0.0
    fault_kinds: tuple[str, ...] = DEFAULT_FAULT_KINDS
    fault_phase: str = "any"  # before | after | any: whether a faulted write was carried out
    slow_ms: int = 2000
    seed: int = 0
    token: str | None = None  # None: any non-empty token is accepted
    app_secret: str | None = None  # set: appsecret_proof is required and checked
    quota: int = 0  # calls per account and use case per window; 0 = unlimited
    user_quota: int = 0  # calls per token per window (code 17); 0 = unlimited
    quota_window_s: float = 60.0
    token_query_quota: int = 1000  # subscription-token queries per Page per hour (changelog 2025-09-08)
    match_rate: float = 0.6  # the share of uploaded people who match a Messenger user
    match_delay_s: float = 0.0  # how long matching takes: tokens of an upload are listed after this (Meta: up to 24 h)
    default_currency: str = "USD"
    default_timezone: str = "America/Los_Angeles"
    versions: tuple[str, ...] = field(default=SUPPORTED_VERSIONS)
    default_version: str = "v24.0"
    request_log_size: int = 10_000

    def __post_init__(self) -> None:
        if not 0 <= self.fault_rate <= 1 or not 0 <= self.match_rate <= 1:
            raise ValueError("fault_rate and match_rate are shares between 0 and 1")
        if self.fault_phase not in ("before", "after", "any"):
            raise ValueError("fault_phase must be before, after or any")
        unknown = set(self.fault_kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {list(FAULT_KINDS)}")
        if not re.fullmatch(r"[A-Z]{3}", self.default_currency):
            raise ValueError(f"currency {self.default_currency!r} is not an ISO 4217 code such as USD")
        try:
            ZoneInfo(self.default_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.default_timezone!r}") from None
        if self.match_delay_s < 0:
            raise ValueError("match_delay_s cannot be negative")
        if self.quota_window_s <= 0:
            raise ValueError("quota_window_s must be positive")
