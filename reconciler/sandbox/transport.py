"""The sandbox in-process, as an httpx transport (``provider.graph: sandbox``).

Faults look as they do over a socket: a dropped connection raises ``httpx.RemoteProtocolError``,
and a response slower than the request's read timeout raises ``httpx.ReadTimeout`` once the
timeout has passed (after the call was carried out, when the fault says so).
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from .app import DroppedConnection, Sandbox


class SandboxTransport(httpx.BaseTransport):
    def __init__(self, app: Sandbox) -> None:
        self.app = app

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        read_timeout = timeouts.get("read")

        def sleep(seconds: float) -> None:
            if read_timeout is not None and seconds > read_timeout:
                time.sleep(read_timeout)
                raise httpx.ReadTimeout("sandbox: the response took longer than the read timeout", request=request)
            if seconds > 0:
                time.sleep(seconds)

        def app(environ: dict[str, Any], start_response: Any) -> Any:
            environ["mmctl.sandbox.sleep"] = sleep
            environ["mmctl.sandbox.in_process"] = True  # no browser can reach this transport: no Host check
            return self.app(environ, start_response)

        try:
            return httpx.WSGITransport(app=app).handle_request(request)
        except DroppedConnection:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from None
