"""Reading the live account: one request for the account, one paged listing per object type."""

from __future__ import annotations

from reconciler import graphmap
from reconciler.client import GraphClient
from reconciler.graphmap import Account, LiveObject

PAGE_SIZE = 500


def read_account(client: GraphClient, ad_account: str) -> Account:
    path, params = graphmap.account_read(ad_account)
    return graphmap.parse_account(ad_account, client.get(path, params))


def read_campaigns(client: GraphClient, ad_account: str) -> list[LiveObject]:
    path, params = graphmap.campaign_listing(ad_account)
    found = (graphmap.parse_campaign(row) for row in client.pages(path, params, limit=PAGE_SIZE))
    return [obj for obj in found if obj is not None]


def read_audiences(client: GraphClient, ad_account: str) -> list[LiveObject]:
    path, params = graphmap.audience_listing(ad_account)
    return [graphmap.parse_audience(row) for row in client.pages(path, params, limit=PAGE_SIZE)]


def read_live(client: GraphClient, ad_account: str) -> tuple[Account, list[LiveObject]]:
    """The account's facts and every marketing-message campaign and audience in it."""
    account = read_account(client, ad_account)
    return account, read_audiences(client, ad_account) + read_campaigns(client, ad_account)


def read_kind(client: GraphClient, ad_account: str, kind: str) -> list[LiveObject]:
    return read_campaigns(client, ad_account) if kind == "campaign" else read_audiences(client, ad_account)
