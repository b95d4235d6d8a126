"""Reading the live account: one batch request for the account, the first page of every kind's
listing and the minimum budgets, then the further pages of listings that have them. Never one GET
per object: a plan with nothing to do costs about one request per 500 campaigns."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from reconciler import kinds
from reconciler.errors import UnexpectedAnswer
from reconciler.graph import account as graph_account
from reconciler.graph.client import GraphClient
from reconciler.kinds.base import ResourceKind
from reconciler.operation import Operation
from reconciler.resources import Account, LiveObject

PAGE_SIZE = 500


@dataclass(frozen=True)
class Live:
    account: Account
    objects: list[LiveObject]
    min_daily: int | None  # Meta's min_daily_budget_imp in the account's currency


def _trace(client: GraphClient, exc: UnexpectedAnswer) -> None:
    # Rows are parsed as their page arrives: the page being read is the one that held the bad row.
    exc.fbtrace_id = exc.fbtrace_id or client.page_trace or client.last_trace


def read_live(client: GraphClient, ad_account: str) -> Live:
    """The account's facts and every object of every kind that lives in the account."""
    try:
        return _read_live(client, ad_account)
    except UnexpectedAnswer as exc:
        _trace(client, exc)
        raise


def _read_live(client: GraphClient, ad_account: str) -> Live:
    specs = kinds.in_account()
    listings = [spec.listing(ad_account) for spec in specs]
    first = [Operation("GET", path, {**params, "limit": PAGE_SIZE}) for path, params in listings]
    results = client.batch(
        [graph_account.account_read(ad_account), *first, graph_account.minimum_budgets_read(ad_account)]
    )
    for result in results[:-1]:
        if result.error is not None:
            raise result.error
    account = graph_account.parse_account(ad_account, results[0].body)
    objects: list[LiveObject] = []
    for spec, (path, params), result in zip(specs, listings, results[1:-1]):
        objects += _parsed(spec, client.pages(path, params, limit=PAGE_SIZE, first=result.body))
    minimum = results[-1]
    min_daily = graph_account.parse_min_daily(minimum.body, account.currency) if minimum.ok else None
    return Live(account, objects, min_daily)


def read_kind(client: GraphClient, ad_account: str, kind: str) -> list[LiveObject]:
    """One kind of object only (to find a create whose answer was lost)."""
    spec = kinds.spec(kind)
    path, params = spec.listing(ad_account)
    try:
        return _parsed(spec, client.pages(path, params, limit=PAGE_SIZE))
    except UnexpectedAnswer as exc:
        _trace(client, exc)
        raise


def _parsed(spec: ResourceKind, rows: Iterable[Any]) -> list[LiveObject]:
    """The rows that are of this kind (an ads listing also holds ads that are not campaigns)."""
    return [obj for obj in (spec.parse(row) for row in rows) if obj is not None]
