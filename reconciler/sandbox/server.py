"""``mmctl sandbox serve``: the sandbox over real HTTP, with a clean stop on SIGINT and SIGTERM."""

from __future__ import annotations

import re
import signal
import socket
import sys
import threading
from collections.abc import Callable
from socketserver import ThreadingMixIn
from types import FrameType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from .app import Sandbox

_SECRET_QUERY = re.compile(r"((?:access_token|appsecret_proof)=)[^&\s]*", re.IGNORECASE)


class _Handler(WSGIRequestHandler):
    access_log = False
    # Seconds a connection may sit idle mid-request: a slow or silent client cannot pin a thread forever.
    timeout = 30

    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        environ["mmctl.sandbox.drop"] = self._drop
        return environ

    def _drop(self) -> None:
        """Close the connection without an answer (the client sees it reset or closed)."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        if self.access_log:
            # The request line carries the query string, where a client may put its token.
            line = _SECRET_QUERY.sub(r"\1[REDACTED]", format % args)
            sys.stderr.write(f"{self.address_string()} - {line}\n")


class SandboxServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went silent (the timeout) or away is not a sandbox bug worth a traceback.
        if isinstance(sys.exc_info()[1], (TimeoutError, ConnectionError)):
            return
        super().handle_error(request, client_address)


def make_server(
    app: Sandbox, host: str = "127.0.0.1", port: int = 0, *, access_log: bool = False, timeout: float = _Handler.timeout
) -> SandboxServer:
    handler = type("Handler", (_Handler,), {"access_log": access_log, "timeout": timeout})
    server = SandboxServer((host, port), handler)
    app.allowed_hosts.add(host.strip("[]"))
    server.set_app(app)
    return server


def serve(
    app: Sandbox, host: str, port: int, *, access_log: bool = False, announce: Callable[[str], None] = print
) -> int:
    """Serve until SIGINT or SIGTERM; the data file is consistent after every request."""
    server = make_server(app, host, port, access_log=access_log)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    bound_host, bound_port = server.server_address[:2]
    shown = bound_host.decode() if isinstance(bound_host, bytes) else bound_host
    announce(f"listening on http://{shown}:{bound_port}")
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
