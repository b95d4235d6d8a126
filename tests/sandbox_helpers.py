"""What the sandbox tests share: ids, hashing, a client for a served sandbox (importable as ``sandbox_helpers``)."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from reconciler.sandbox import Sandbox

ACCOUNT = "act_100000000000001"
PAGE = "200000000000001"
OTHER_PAGE = "200000000000002"


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class Served:
    """A running sandbox: its URL, the app (for its counters) and a client with a token."""

    def __init__(self, app: Sandbox, url: str) -> None:
        self.app = app
        self.url = url
        self.http = httpx.Client(base_url=f"{url}/v24.0", headers={"Authorization": "Bearer test-token"}, timeout=10)
        control_token = {"Authorization": f"Bearer {app.config.token}"} if app.config.token else {}
        self.raw = httpx.Client(base_url=url, timeout=10, headers=control_token)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(path, params=params)

    def post(self, path: str, **body: Any) -> httpx.Response:
        return self.http.post(path, json=body)

    def delete(self, path: str, **params: Any) -> httpx.Response:
        return self.http.delete(path, params=params)

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        # Controls take JSON only: a POST always carries a body, if only {}.
        response = self.raw.request(
            method, f"/__sandbox/{path}", json={} if body is None and method == "POST" else body
        )
        assert response.status_code == 200, response.text
        return response.json()

    def stats(self) -> dict[str, Any]:
        return self.control("GET", "stats")

    def advance(self, seconds: float) -> None:
        self.control("POST", "clock", {"advance_seconds": seconds})

    def faults(self, **settings: Any) -> None:
        """Change the fault and quota settings (``rate``, ``kinds``, ``quota``…) as a test would over HTTP."""
        self.control("POST", "faults", settings)

    # The sandbox's world, read directly: the one place tests look inside it.
    def objects(self, kind: str) -> list[dict[str, Any]]:
        """The stored objects of one type (campaign, adset, ad, custom_audience…), deleted ones included."""
        return [dict(o) for o in self.app.store.world.objects.values() if o["type"] == kind]

    def members(self, audience_id: str | None = None) -> Any:
        """The hashed members of one audience (or of the only one)."""
        stored = self.app.store.world.members
        return stored[audience_id if audience_id is not None else next(iter(stored))]

    def world(self) -> dict[str, Any]:
        """Everything the sandbox keeps, as it would write it to its data file."""
        return self.app.store.world.to_dict()

    def campaign(self, **fields: Any) -> str:
        body = {"name": "Winter Sale", "page_id": PAGE, "daily_budget": 5000, **fields}
        response = self.post(f"{ACCOUNT}/message_campaign", **{k: v for k, v in body.items() if v is not None})
        assert response.status_code == 200, response.text
        return str(response.json()["id"])

    def audience(self, name: str = "VIP", page: str = PAGE) -> str:
        response = self.post(
            f"{ACCOUNT}/customaudiences",
            subtype="CUSTOM",
            customer_file_source="USER_PROVIDED_ONLY",
            name=name,
            description="Customers with 3+ orders",
            use_for_products=["MARKETING_MESSAGES"],
            subscription_info=["MESSENGER"],
            marketing_message_channels={"MESSENGER": page},
        )
        assert response.status_code == 200, response.text
        return str(response.json()["data"][0]["id"])

    def upload(self, audience: str, emails: list[str], **extra: Any) -> dict[str, Any]:
        response = self.post(
            f"{audience}/users", payload={"schema": ["EMAIL"], "data": [[sha(e)] for e in emails]}, **extra
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    def close(self) -> None:
        self.http.close()
        self.raw.close()


def error(response: httpx.Response) -> dict[str, Any]:
    """The error envelope's body, after checking the answer is one."""
    assert response.status_code >= 400, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["fbtrace_id"]
    return dict(body["error"])
