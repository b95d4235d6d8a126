"""Reading the live account: one batch request for the account, the first page of every listing
and the minimum budgets, then the further pages of listings that have them. Never one GET per
object: a plan with nothing to do costs about one request per 500 campaigns."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.errors import UnexpectedAnswer
from reconciler.graph import graphmap
from reconciler.graph.client import GraphClient, Operation
from reconciler.graph.graphmap import Account, LiveObject

PAGE_SIZE = 500


@dataclass(frozen=True)
class Live:
    account: Account
    objects: list[LiveObject]
    min_daily: int | None  # Meta's min_daily_budget_imp in the account's currency


def _first_page(path: str, params: Mapping[str, Any]) -> Operation:
    return Operation("GET", path, {**params, "limit": PAGE_SIZE})


def read_live(client: GraphClient, ad_account: str) -> Live:
    """The account's facts and every marketing-message campaign and audience in it."""
    try:
        return _read_live(client, ad_account)
    except UnexpectedAnswer as exc:
        # Rows are parsed as their page arrives: the latest answer is the one that held the bad row.
        exc.fbtrace_id = exc.fbtrace_id or client.last_trace
        raise


def _read_live(client: GraphClient, ad_account: str) -> Live:
    account_path, account_params = graphmap.account_read(ad_account)
    ads_path, ads_params = graphmap.campaign_listing(ad_account)
    audiences_path, audiences_params = graphmap.audience_listing(ad_account)
    minimum_path, minimum_params = graphmap.minimum_budgets_read(ad_account)
    results = client.batch(
        [
            Operation("GET", account_path, account_params),
            _first_page(ads_path, ads_params),
            _first_page(audiences_path, audiences_params),
            Operation("GET", minimum_path, minimum_params),
        ]
    )
    for result in results[:3]:
        if result.error is not None:
            raise result.error
    account = graphmap.parse_account(ad_account, results[0].body)
    ads = client.pages(ads_path, ads_params, limit=PAGE_SIZE, first=results[1].body)
    audiences = client.pages(audiences_path, audiences_params, limit=PAGE_SIZE, first=results[2].body)
    objects = _audiences(audiences) + _campaigns(ads)
    min_daily = graphmap.parse_min_daily(results[3].body, account.currency) if results[3].ok else None
    return Live(account, objects, min_daily)


def read_kind(client: GraphClient, ad_account: str, kind: str) -> list[LiveObject]:
    """One kind of object only (to find a create whose answer was lost)."""
    if kind == "campaign":
        path, params = graphmap.campaign_listing(ad_account)
        return _campaigns(client.pages(path, params, limit=PAGE_SIZE))
    path, audience_params = graphmap.audience_listing(ad_account)
    return _audiences(client.pages(path, audience_params, limit=PAGE_SIZE))


def _campaigns(rows: Iterable[Any]) -> list[LiveObject]:
    """Marketing-message campaigns among ads rows (other ads are left out)."""
    return [obj for obj in (graphmap.parse_campaign(row) for row in rows) if obj is not None]


def _audiences(rows: Iterable[Any]) -> list[LiveObject]:
    return [graphmap.parse_audience(row) for row in rows]
