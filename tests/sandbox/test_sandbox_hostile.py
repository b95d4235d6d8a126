"""The served sandbox against hostile clients: controls are guarded, bodies bounded, logs clean."""

from __future__ import annotations

import socket
import threading
import time

import httpx
from sandbox_helpers import ACCOUNT

from reconciler.sandbox import Sandbox, SandboxConfig
from reconciler.sandbox.server import make_server

TOKEN = "sandbox-control-token-1"


def test_with_a_token_controls_need_it_too(serve):
    served = serve(token=TOKEN)
    bare = httpx.Client(base_url=served.url, timeout=10)
    assert bare.get("/__sandbox/stats").status_code == 401
    assert bare.post("/__sandbox/reset", json={}).status_code == 401
    assert bare.get("/__sandbox/stats", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert served.raw.get("/__sandbox/stats").status_code == 200  # carries the token


def test_controls_take_only_json_and_only_for_this_host(sandbox):
    form = sandbox.raw.post(
        "/__sandbox/reset", content=b"x=1", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert form.status_code == 415 and "JSON body" in form.json()["error"]["message"]
    plain = sandbox.raw.post("/__sandbox/reset", content=b"{}", headers={"Content-Type": "text/plain"})
    assert plain.status_code == 415
    rebound = sandbox.raw.get("/__sandbox/stats", headers={"Host": "evil.example:8765"})
    assert rebound.status_code == 403
    assert sandbox.raw.get("/__sandbox/stats", headers={"Host": "localhost:1"}).status_code == 200


def test_control_values_are_checked_and_bounded(sandbox):
    for path, body in [
        ("pages/200000000000001/subscribers", {"count": 10**9}),
        ("pages/200000000000001/subscribers", {"count": "many"}),
        ("pages/200000000000001/subscribers", {"recipient_ids": "1,2"}),
        ("faults", {"rate": 5}),
        ("faults", {"latency_ms": "slow"}),
        ("faults", {"seed": True}),
        ("clock", {"advance_seconds": 10**12}),
        ("clock", {"advance_seconds": "x"}),
    ]:
        answer = sandbox.raw.post(f"/__sandbox/{path}", json=body)
        assert answer.status_code == 400, (path, body, answer.text)
    assert sandbox.control("GET", "faults")["rate"] == 0


def test_a_control_that_fails_leaves_the_world_unchanged(sandbox):
    before = sandbox.control("GET", f"accounts/{ACCOUNT}")
    failed = sandbox.raw.post(f"/__sandbox/accounts/{ACCOUNT}", json={"currency": "EUR", "timezone_name": "No/Zone"})
    assert failed.status_code == 400
    assert sandbox.control("GET", f"accounts/{ACCOUNT}") == before
    assert sandbox.app.store.world.accounts  # the world itself is still there
    reread = Sandbox(SandboxConfig(), sandbox.app.store.path)
    with reread.store.transaction() as world:
        assert world.accounts[ACCOUNT[4:]]["currency"] == before["currency"]


def _raw_exchange(url: str, data: bytes, wait: float = 5.0) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait) as conn:
        conn.sendall(data)
        chunks = []
        try:
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
    return b"".join(chunks)


def test_a_negative_content_length_is_refused_at_once(sandbox):
    started = time.monotonic()
    answer = _raw_exchange(sandbox.url, b"POST /v24.0/ HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.0 400") and time.monotonic() - started < 3


def test_an_idle_connection_is_closed_by_the_server(tmp_path):
    server = make_server(Sandbox(SandboxConfig(), tmp_path / "s.json"), "127.0.0.1", 0, timeout=0.5)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        # Half a request line, then silence: the server gives up on it instead of holding a thread.
        _raw_exchange(f"http://127.0.0.1:{server.server_address[1]}", b"GET /v24.0/act_1", wait=10)
        assert time.monotonic() - started < 5
    finally:
        server.shutdown()
        server.server_close()


def test_the_access_log_never_prints_tokens(tmp_path, capfd):
    server = make_server(Sandbox(SandboxConfig(), tmp_path / "s.json"), "127.0.0.1", 0, access_log=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        httpx.get(f"{url}/v24.0/{ACCOUNT}", params={"access_token": TOKEN, "appsecret_proof": "proof-sentinel-99"})
    finally:
        server.shutdown()
        server.server_close()
    err = capfd.readouterr().err
    assert "access_token=[REDACTED]" in err and TOKEN not in err and "proof-sentinel-99" not in err
