"""Ad accounts and Pages: provisioned on first use, read, and their budget facts."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from .config import SandboxConfig
from .errors import (
    AD_ACCOUNT_REGION_NOT_SUPPORTED,
    TERM_OF_SERVICE_NOT_ACCEPTED,
    GraphError,
    invalid_parameter,
    marketing_messages,
)
from .fields import NodeType
from .store import World
from .timefmt import zone

# Sandbox figures per currency: Meta's minor-unit digits, min_daily_budget_imp, and the price of
# one delivered message, all in minor units. Invented but plausible (about 1 USD minimum a day).
CURRENCIES: dict[str, tuple[int, int, int]] = {
    "USD": (2, 100, 2),
    "EUR": (2, 100, 2),
    "GBP": (2, 100, 2),
    "AUD": (2, 150, 3),
    "BRL": (2, 500, 10),
    "MXN": (2, 2000, 40),
    "INR": (2, 4000, 100),
    "CLP": (0, 900, 20),
    "COP": (0, 4000, 80),
    "JPY": (0, 150, 3),
    "KRW": (0, 1400, 30),
    "KWD": (3, 300, 6),
    "IDR": (0, 16000, 300),
    "SGD": (2, 130, 3),
    "THB": (2, 3500, 70),
    "AED": (2, 370, 7),
}
_FALLBACK = (2, 100, 2)


def currency_facts(code: str) -> tuple[int, int, int]:
    return CURRENCIES.get(code, _FALLBACK)


def account(world: World, digits: str, config: SandboxConfig) -> dict[str, Any]:
    """The account ``act_<digits>``, created with the defaults on first use."""
    found = world.accounts.get(digits)
    if found is None:
        found = {
            "id": digits,
            "name": f"Sandbox account {digits}",
            "currency": config.default_currency,
            "timezone_name": config.default_timezone,
            "tos_accepted": True,
            "payment_method": True,
            "region_supported": True,
            "page_region_supported": True,
            "pacing_ready": True,  # False: sends get 2300028 (pacing information not ready)
            "spend_cap": 0,  # the account's spend cap in minor units; 0: none
            "default_budget_mode": True,
            "pixels": [],
        }
        world.accounts[digits] = found
        world.touch()
    return found


def page(world: World, page_id: str) -> dict[str, Any]:
    """The Page ``page_id``, created on first use."""
    if not re.fullmatch(r"\d{1,20}", page_id):
        raise invalid_parameter(f"Invalid Page ID {page_id}")
    found = world.pages.get(page_id)
    if found is None:
        found = {"id": page_id, "name": f"Sandbox Page {page_id}", "activity": {}}
        world.pages[page_id] = found
        world.touch()
    return found


ACCOUNT_SETTINGS = {
    "name": str,
    "currency": str,
    "timezone_name": str,
    "tos_accepted": bool,
    "payment_method": bool,
    "region_supported": bool,
    "page_region_supported": bool,
    "pacing_ready": bool,
    "spend_cap": int,
    "default_budget_mode": bool,
    "pixels": list,
}


def configure(acct: dict[str, Any], settings: dict[str, Any]) -> None:
    """Apply the control endpoint's settings to an account (sandbox-only, not Graph)."""
    for key, raw in settings.items():
        value: Any = raw
        kind = ACCOUNT_SETTINGS.get(key)
        if kind is None or not isinstance(value, kind):
            raise invalid_parameter(f"Unknown or mistyped account setting {key!r}")
        if key == "currency" and not re.fullmatch(r"[A-Z]{3}", str(value)):
            raise invalid_parameter("currency must be an ISO 4217 code such as USD")
        if key == "timezone_name":
            zone(str(value))
        acct[key] = [str(p) for p in raw] if key == "pixels" else value


def _offset_hours(acct: dict[str, Any]) -> float:
    delta = datetime.now(zone(acct["timezone_name"])).utcoffset()
    return delta.total_seconds() / 3600 if delta else 0.0


ACCOUNT = NodeType(
    "AdAccount",
    {
        "id": lambda a: f"act_{a['id']}",
        "account_id": lambda a: a["id"],
        "name": lambda a: a["name"],
        "currency": lambda a: a["currency"],
        "timezone_name": lambda a: a["timezone_name"],
        "timezone_offset_hours_utc": _offset_hours,
        "account_status": lambda a: 1,
        "min_daily_budget": lambda a: currency_facts(a["currency"])[1],
        "amount_spent": lambda a: str(a.get("amount_spent", 0)),
    },
    default=("id", "account_id"),
)

PAGE = NodeType("Page", {"id": lambda p: p["id"], "name": lambda p: p["name"]}, default=("id", "name"))


def minimum_budgets(acct: dict[str, Any]) -> dict[str, Any]:
    """``GET act_X/minimum_budgets``: a row per currency; callers pick their account's."""
    codes = sorted(set(CURRENCIES) | {acct["currency"]})
    rows = []
    for code in codes:
        minimum = currency_facts(code)[1]
        rows.append(
            {
                "currency": code,
                "min_daily_budget_imp": minimum,
                "min_daily_budget_video_views": minimum,
                "min_daily_budget_high_freq": minimum * 5,
                "min_daily_budget_low_freq": minimum * 25,
            }
        )
    return {"data": rows}


def check_can_create(acct: dict[str, Any]) -> None:
    """The account-level deny rules for campaign creation (changelog 2025-08-25, 2026-03-26)."""
    if not acct["tos_accepted"]:
        raise marketing_messages(
            TERM_OF_SERVICE_NOT_ACCEPTED,
            "TERM_OF_SERVICE_NOT_ACCEPTED",
            "The business has not accepted the terms of service for marketing messages.",
        )
    if not acct["region_supported"]:
        raise marketing_messages(
            AD_ACCOUNT_REGION_NOT_SUPPORTED,
            "AD_ACCOUNT_REGION_NOT_SUPPORTED",
            "The ad account is not in a supported region.",
        )


def format_money(amount: int, currency: str) -> str:
    digits = currency_facts(currency)[0]
    if digits == 0:
        return f"{amount} {currency}"
    return f"{amount / 10**digits:.{digits}f} {currency}"


# What happened to an access token -> Graph's code 190 subcode and wording (access-token error handling).
TOKEN_STATES = {"expired": 463, "invalidated": 460, "deauthorized": 458, "logged_out": 467}


def token_error(state: str, since: float, now: float) -> GraphError:
    subcode = TOKEN_STATES[state]
    stamp = "%A, %d-%b-%y %H:%M:%S UTC"
    messages = {
        463: f"Error validating access token: Session has expired on {datetime.fromtimestamp(since, tz=UTC).strftime(stamp)}"
        f". The current time is {datetime.fromtimestamp(now, tz=UTC).strftime(stamp)}.",
        460: "Error validating access token: The session has been invalidated because the user changed their password "
        "or Facebook has changed the session for security reasons.",
        458: "Error validating access token: The user has not authorized application.",
        467: "Error validating access token: The session is invalid because the user logged out.",
    }
    return GraphError(
        190,
        messages[subcode],
        subcode=subcode,
        status=400,
        headers={"WWW-Authenticate": f'OAuth "Facebook Platform" "invalid_token" "{messages[subcode]}"'},
    )
