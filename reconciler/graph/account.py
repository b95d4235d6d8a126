"""Graph answers that belong to no resource kind: the ad account's facts, its minimum budgets,
and what every create or update answer may carry (the new id, Meta's info and warnings)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.kinds.base import reads
from reconciler.operation import Operation
from reconciler.resources import Account


def account_read(ad_account: str) -> Operation:
    return Operation("GET", ad_account, {"fields": "currency,timezone_name,name"})


@reads("the ad account")
def parse_account(ad_account: str, body: Mapping[str, Any]) -> Account:
    currency = body.get("currency")
    if not isinstance(currency, str) or not currency.strip():
        # Money is planned in the account's currency: guessing USD could misread a budget 100-fold.
        raise ValueError(
            "the account has no currency, so no budget can be read or checked; check the token's "
            "access to the ad account (ads_read)"
        )
    return Account(
        ad_account,
        currency.strip().upper(),
        str(body.get("timezone_name") or "UTC"),
        str(body.get("name") or ad_account),
    )


def minimum_budgets_read(ad_account: str) -> Operation:
    return Operation("GET", f"{ad_account}/minimum_budgets", {})


@reads("the minimum budgets")
def parse_min_daily(body: Mapping[str, Any], currency: str) -> int | None:
    """``min_daily_budget_imp`` of the account's currency (the listing covers every currency)."""
    for row in body.get("data", []):
        if isinstance(row, Mapping) and row.get("currency") == currency and row.get("min_daily_budget_imp"):
            return int(row["min_daily_budget_imp"])
    return None


def account_of(row: Mapping[str, Any]) -> str | None:
    """The ad account (``act_…``) an object read with ``account_id`` belongs to."""
    found = row.get("account_id")
    return f"act_{found}" if found not in (None, "") and not str(found).startswith("act_") else found


def server_notices(body: Any) -> tuple[str, ...]:
    """The ``info`` and ``warning`` Meta adds to a create or update answer (an estimated budget cap it
    set, a budget below its reference), as ``info: …`` / ``warning: …`` lines."""
    out = []
    if isinstance(body, Mapping):
        for key in ("warning", "info"):
            value = body.get(key)
            items = value if isinstance(value, list) else [value]
            for item in items:
                text = item.get("message") if isinstance(item, Mapping) else item
                if isinstance(text, str) and text.strip():
                    out.append(f"{key}: {text.strip()}")
    return tuple(out)


@reads("the id of a created object")
def parse_created_id(body: Any) -> str:
    """``{"id"}``, or ``{"data": [{"id"}]}`` as graph-api.md §3 shows for audiences."""
    if isinstance(body, Mapping) and "id" in body:
        return str(body["id"])
    return str(body["data"][0]["id"])
