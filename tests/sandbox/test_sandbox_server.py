"""``mmctl sandbox serve`` as a process, persistence across restarts and processes, and in-process use."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from helpers import EXAMPLES
from sandbox_helpers import ACCOUNT, PAGE

from reconciler.sandbox import Sandbox, SandboxConfig, SandboxDataError
from reconciler.sandbox.transport import SandboxTransport

AUTH = {"Authorization": "Bearer t"}


class Process:
    """``mmctl sandbox serve`` in a subprocess, stopped by signal."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "sandbox", "serve", "--port", "0", *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith("listening on http://127.0.0.1:"):
            self.proc.kill()
            raise AssertionError(
                f"unexpected first line {line!r}: {self.proc.stderr.read() if self.proc.stderr else ''}"
            )
        self.url = line.split()[-1]

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=10)


def test_serve_stops_cleanly_and_keeps_its_data(tmp_path):
    server = Process("--data", "box.json", "--now", "2026-11-22T12:00:00Z", cwd=tmp_path)
    try:
        created = httpx.post(
            f"{server.url}/v24.0/{ACCOUNT}/message_campaign",
            headers=AUTH,
            json={"name": "Kept", "page_id": PAGE, "lifetime_budget": 30000},
        )
        assert created.status_code == 200
        clock = httpx.get(f"{server.url}/__sandbox/clock").json()
        assert clock["now"].startswith("2026-11-22T12:00")
    finally:
        assert server.stop(signal.SIGTERM) == 0
    assert json.loads((tmp_path / "box.json").read_text())["version"] == 1
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []

    again = Process("--data", "box.json", cwd=tmp_path)
    try:
        names = httpx.get(f"{again.url}/v24.0/{ACCOUNT}/ads", headers=AUTH, params={"fields": "campaign{name}"}).json()
        assert [row["campaign"]["name"] for row in names["data"]] == ["Kept"]
        # The clock that --now set survived the restart too.
        assert httpx.get(f"{again.url}/__sandbox/clock").json()["now"].startswith("2026-11-22T12:0")
    finally:
        assert again.stop(signal.SIGINT) == 0


def test_serve_without_data_serves_what_graph_sandbox_made_for_the_project(tmp_path):
    """`graph: sandbox` then `serve` + --graph-url: the same objects, whatever folder the project is in."""
    project = tmp_path / "project"
    shutil.copytree(EXAMPLES, project, ignore=shutil.ignore_patterns(".mmctl"))
    applied = subprocess.run(
        [sys.executable, "-m", "reconciler", "apply", "project", "--auto-approve"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert applied.returncode == 0, applied.stderr
    server = Process("project", cwd=tmp_path)
    try:
        assert server.proc.stderr is not None
        assert server.proc.stderr.readline() == f"data: {project / '.mmctl' / 'sandbox.json'}\n"
        planned = subprocess.run(
            [sys.executable, "-m", "reconciler", "plan", "project", "--graph-url", server.url, "--detailed-exitcode"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "META_ACCESS_TOKEN": "any-token"},
        )
        assert planned.returncode == 0, planned.stdout + planned.stderr
        assert planned.stdout.endswith("No changes. The account matches the manifests.\n")
    finally:
        server.stop()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_seeds_sample_flow_with_curl(tmp_path):
    server = Process("--ephemeral", cwd=tmp_path)

    def curl(*args: str) -> dict:
        done = subprocess.run(
            ["curl", "-s", "-H", "Authorization: Bearer <SYSTEM_USER_ACCESS_TOKEN>", *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return json.loads(done.stdout)

    try:
        base = f"{server.url}/v24.0"
        created = curl(
            "-X",
            "POST",
            f"{base}/{ACCOUNT}/message_campaign",
            "-H",
            "Content-Type: application/json",
            "-d",
            json.dumps({"name": "Seed", "lifetime_budget": 30000, "page_id": int(PAGE), "pixel_id": 300000000000001}),
        )
        ad = created["id"]
        listed = curl(
            "-G",
            f"{base}/{ACCOUNT}/ads",
            "--data-urlencode",
            "fields=id,adset{name,daily_budget,lifetime_budget,start_time,end_time},"
            "campaign{name,is_direct_send_campaign,is_message_campaign}",
        )
        assert listed["data"][0]["id"] == ad and listed["data"][0]["campaign"]["is_message_campaign"] is True
        read = curl(
            "-G",
            f"{base}/{ad}",
            "--data-urlencode",
            "fields=id,campaign{name},creative{actor_id},adset{name,lifetime_budget,daily_budget,start_time,"
            "end_time,promoted_object{pixel_id}}",
        )
        assert read["adset"]["promoted_object"] == {"pixel_id": "300000000000001"}
        assert curl("-X", "DELETE", f"{base}/{ad}") == {"success": True}
        assert curl(f"{base}/{ACCOUNT}/ads") == {"data": []}
    finally:
        assert server.stop() == 0


def test_serve_refuses_bad_settings(tmp_path):
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "reconciler", "sandbox", "serve", *args],
            cwd=tmp_path,
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
        )

    bad = run("--faults", "500,meteor")
    assert bad.returncode == 1 and "unknown fault kinds ['meteor']" in bad.stderr
    (tmp_path / "broken.json").write_text("{not json")
    broken = run("--data", "broken.json")
    assert broken.returncode == 1 and "broken.json: not a sandbox data file" in broken.stderr
    assert "Traceback" not in broken.stderr
    zone = run("--timezone", "Mars/Olympus")
    assert zone.returncode == 1 and "unknown time zone 'Mars/Olympus'" in zone.stderr
    blocker = Process("--ephemeral", cwd=tmp_path)
    try:
        port = blocker.url.rsplit(":", 1)[1]
        taken = run("--ephemeral", "--port", port)
        assert taken.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in taken.stderr
    finally:
        blocker.stop()
    helped = run("--help")
    for option in ("--host", "--port", "--data", "--latency-ms", "--fault-rate", "--seed", "--now", "--token"):
        assert option in helped.stdout


def test_two_processes_share_one_data_file(tmp_path):
    data = tmp_path / "shared.json"
    server = Process("--data", str(data), cwd=tmp_path)
    local = httpx.Client(
        transport=SandboxTransport(Sandbox(SandboxConfig(), data)), base_url="http://sandbox/v24.0", headers=AUTH
    )
    remote = httpx.Client(base_url=f"{server.url}/v24.0", headers=AUTH)
    try:
        ids = []
        for n in range(10):
            client = local if n % 2 else remote
            response = client.post(
                f"/{ACCOUNT}/message_campaign", json={"name": f"C{n}", "page_id": PAGE, "daily_budget": 500}
            )
            ids.append(response.json()["id"])
        assert len(set(ids)) == 10
        for client in (local, remote):
            listed = client.get(f"/{ACCOUNT}/ads", params={"fields": "campaign{name}", "limit": 50}).json()["data"]
            assert [row["campaign"]["name"] for row in listed] == [f"C{n}" for n in range(10)]
    finally:
        local.close()
        remote.close()
        server.stop()


def test_concurrent_writes_over_http(sandbox):
    ids: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        with httpx.Client(base_url=f"{sandbox.url}/v24.0", headers=AUTH) as client:
            for i in range(20):
                body = {"name": f"W{n}-{i}", "page_id": PAGE, "daily_budget": 500}
                created = client.post(f"/{ACCOUNT}/message_campaign", json=body).json()["id"]
                with lock:
                    ids.append(created)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 160
    assert len(sandbox.get(f"{ACCOUNT}/ads", limit=500).json()["data"]) == 160
    reloaded = Sandbox(SandboxConfig(), sandbox.app.store.path)
    assert len(reloaded.store.world.listing(ACCOUNT[4:], "ad")) == 160


def test_a_broken_data_file_is_named(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"version": 99}))
    with pytest.raises(SandboxDataError, match=r"old.json: sandbox data format 99 is not 1; delete the file"):
        Sandbox(SandboxConfig(), path)


def test_in_process_transport(tmp_path):
    app = Sandbox(SandboxConfig(), tmp_path / "inproc.json")
    with httpx.Client(transport=SandboxTransport(app), base_url="http://sandbox/v24.0", headers=AUTH) as client:
        created = client.post(f"/{ACCOUNT}/message_campaign", json={"name": "In", "page_id": PAGE, "daily_budget": 500})
        assert created.status_code == 200
        listed = client.get(f"/{ACCOUNT}/ads").json()
        assert listed["data"] == [{"id": created.json()["id"]}]
        app.reconfigure(fault_rate=1.0, fault_kinds=("drop",), fault_phase="before")
        with pytest.raises(httpx.RemoteProtocolError):
            client.get(f"/{ACCOUNT}")
        app.reconfigure(fault_kinds=("slow",), fault_phase="after", slow_ms=1000)
        with pytest.raises(httpx.ReadTimeout):
            client.post(
                f"/{ACCOUNT}/message_campaign", json={"name": "Late", "page_id": PAGE, "daily_budget": 500}, timeout=0.2
            )
        app.reconfigure(fault_rate=0.0)
        names = client.get(f"/{ACCOUNT}/ads", params={"fields": "campaign{name}"}).json()["data"]
        assert [row["campaign"]["name"] for row in names] == ["In", "Late"]  # the timed-out create happened


def test_the_data_file_is_private(tmp_path):
    if os.name != "posix":
        pytest.skip("POSIX permissions")
    app = Sandbox(SandboxConfig(), tmp_path / "private.json")
    with httpx.Client(transport=SandboxTransport(app), base_url="http://sandbox/v24.0", headers=AUTH) as client:
        client.post(f"/{ACCOUNT}/message_campaign", json={"name": "P", "page_id": PAGE, "daily_budget": 500})
    assert (tmp_path / "private.json").stat().st_mode & 0o077 == 0
