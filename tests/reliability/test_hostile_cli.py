"""Hostile input through the real command line: exit codes are only ever 0, 1, 2 or 130, no traceback,
and a sentinel token, app secret and customer email never appear in any output or file."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from reconciler.state.model import Resource, State, StateError
from reconciler.state.sqlite import SQLiteStateStore

pytestmark = pytest.mark.slow

TOKEN = "EAAGsentinelHOSTILEtoken0042"
SECRET = "sentinel-hostile-secret-77"
EMAIL = "carol.sentinel@leak-check.example"
PROVIDER = 'provider:\n  ad_account: act_100000000000001\n  page_id: "200000000000001"\n'
SECRETS = (TOKEN, SECRET, EMAIL)


def run(root: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, str, float]:
    environment = {
        **os.environ,
        "META_ACCESS_TOKEN": TOKEN,
        "META_APP_SECRET": SECRET,
        "CUSTOMER": EMAIL,
        **(env or {}),
    }
    environment.pop("MMCTL_GRAPH_URL", None)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    output = done.stdout + done.stderr
    assert done.returncode in (0, 1, 2, 130), (done.returncode, output)
    assert "Traceback" not in output and "internal error" not in output, output
    leaked = [s for s in SECRETS if s in output]
    assert not leaked, (leaked, output)
    return done.returncode, output, time.monotonic() - started


def project(tmp_path: Path, extra: str = "", graph: str = "sandbox") -> Path:
    root = tmp_path / "p"
    root.mkdir(exist_ok=True)
    (root / "mmctl.yaml").write_text(PROVIDER + f"  graph: {graph}\n" + extra)
    return root


class Garbage(BaseHTTPRequestHandler):
    """A 'Graph API' that answers with what a broken proxy or an attacker might send."""

    mode = "html"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("x-fb-trace-id", "GarbageTrace")
        self.end_headers()
        bodies = {
            "html": b"<html>not the graph api</html>",
            "deep": b"[" * 200_000 + b"]" * 200_000,
            "items": json.dumps(["x", 5, None, {"code": "two"}]).encode(),
            "fields": json.dumps([{"code": 200, "body": json.dumps({"currency": None})}] * 4).encode(),
        }
        self.wfile.write(bodies[self.mode])

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("mode", ["html", "deep", "items", "fields"])
def test_garbage_from_the_graph_url_is_exit_1_with_its_trace(tmp_path, mode):
    handler = type("Handler", (Garbage,), {"mode": mode})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        root = project(tmp_path, graph=f"http://127.0.0.1:{server.server_address[1]}")
        code, output, seconds = run(root, "plan", ".")
    finally:
        server.shutdown()
        server.server_close()
    assert code == 1 and seconds < 30, output
    assert "unexpected answer from the Graph API" in output and "GarbageTrace" in output


def test_an_unreachable_graph_url_is_reported_within_seconds(tmp_path):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, output, seconds = run(project(tmp_path, graph=f"http://127.0.0.1:{port}"), "plan", ".")
    assert code == 1 and seconds < 10, (seconds, output)
    assert "connection refused" in output and "retrying" in output


def test_a_graph_url_with_credentials_is_refused_unechoed(tmp_path):
    code, output, _ = run(project(tmp_path), "plan", ".", "--graph-url", f"https://me:{SECRET}x@graph.example.com")
    assert code == 1 and "user name or password" in output and f"{SECRET}x" not in output


@pytest.mark.parametrize(
    ("content", "words"),
    [(b"\xef\xbb\xbf" + TOKEN.encode(), "byte-order mark"), ((TOKEN + "\nsecond line\n").encode(), "several lines")],
)
def test_a_bad_token_file_names_its_path(tmp_path, content, words):
    (tmp_path / "token.txt").write_bytes(content)
    root = project(tmp_path, graph="https://graph.example.com")
    code, output, _ = run(root, "plan", ".", "--token-file", str(tmp_path / "token.txt"))
    assert code == 1 and str(tmp_path / "token.txt") in output and words in output


def test_a_secret_env_variable_in_a_manifest_is_refused_unechoed(tmp_path):
    root = project(
        tmp_path,
        "campaigns:\n  c: {name: '${env:META_APP_SECRET}', daily_budget: 500}\n"
        "  d: {name: '${env:CI_TOKEN}', daily_budget: 500}\n",
    )
    code, output, _ = run(root, "plan", ".", env={"CI_TOKEN": TOKEN})
    assert code == 1 and "access tokens and app secrets never go in manifests" in output
    assert "the name looks like a secret" in output


def test_customer_data_in_hostile_member_files_is_never_echoed(tmp_path):
    root = project(tmp_path, "audiences:\n  a:\n    name: A\n    members: {file: people.csv}\n")
    (root / "people.csv").write_text(f"{EMAIL},15550199321\n")  # no header row: the first line is a customer
    code, output, _ = run(root, "validate", ".")
    assert code == 1 and "column 1 of the header row" in output
    (root / "people.csv").write_text(f"email,phone,doby\n{EMAIL},+1 555 ٠١٩٩ 321,19²0\n{'x' * 200_000}\n")
    code, output, _ = run(root, "plan", ".")
    assert code in (0, 2), output


def test_a_member_file_outside_the_root_needs_outside_root_and_an_explicit_path(tmp_path):
    outside = tmp_path / "customers.csv"
    outside.write_text("email\n" + "".join(f"p{n}@example.com\n" for n in range(5)))
    relative = "audiences:\n  a:\n    name: A\n    members: {file: ../customers.csv, outside_root: true}\n"
    code, output, _ = run(project(tmp_path, relative), "validate", ".")
    assert code == 1 and "with a relative path" in output
    from_env = "audiences:\n  a:\n    name: A\n    members: {file: '${env:VIP_MEMBERS}', outside_root: true}\n"
    code, output, _ = run(project(tmp_path, from_env), "validate", ".", env={"VIP_MEMBERS": str(outside)})
    assert code == 0, output
    absolute = f"audiences:\n  a:\n    name: A\n    members: {{file: {outside}}}\n"
    code, output, _ = run(project(tmp_path, absolute), "validate", ".")
    assert code == 1 and "set members.outside_root: true" in output


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        ({"protect": "false"}, 'protect is "false"; expected true or false (unquoted)'),
        ({"kind": "rocket"}, 'kind is "rocket"; expected one of template, audience, campaign'),
        ({"ids": {"id": 5}}, "ids must map names to id strings"),
    ],
)
def test_hand_edited_state_is_a_clear_error(tmp_path, edit, words):
    root = project(tmp_path, "campaigns:\n  c: {name: C, daily_budget: 500}\n")
    assert run(root, "apply", ".", "--auto-approve")[0] == 0
    ((column, value),) = edit.items()
    with sqlite3.connect(root / ".mmctl" / "state.db") as connection:  # a hand edit with the sqlite3 shell
        stored = json.dumps(value) if column == "ids" else value
        connection.execute(f"UPDATE resources SET {column} = ? WHERE address = 'campaign.c'", (stored,))
    for command in (["plan", "."], ["state", "list"]):
        code, output, _ = run(root, *command)
        assert code == 1 and words in output and ".mmctl/state.db" in output


def test_a_state_folder_that_cannot_be_written_is_exit_1_naming_it(tmp_path):
    # Root ignores permission bits, so the folder is made unusable another way: a file stands in its place.
    root = project(tmp_path, "state: {path: blocked/state.db}\ncampaigns:\n  c: {name: C, daily_budget: 500}\n")
    (root / "blocked").write_text("a file, not a folder\n")
    code, output, _ = run(root, "apply", ".", "--auto-approve")
    assert code == 1 and "blocked/state.db.act_100000000000001.lock: cannot create the state lock" in output


def test_a_full_disk_while_writing_state_is_a_clear_error(tmp_path, monkeypatch):
    store = SQLiteStateStore(tmp_path / "state.db", "state.db")
    before = store.write(State.empty())
    connect = store._connect

    def full() -> sqlite3.Connection:
        connection = connect()
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        connection.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own "disk full"
        return connection

    monkeypatch.setattr(store, "_connect", full)
    store.close()  # the store keeps its connection: the next write opens one through full()
    many = State.empty().with_resources({f"campaign.c{i}": Resource("campaign") for i in range(2000)})
    with pytest.raises(
        StateError,
        match="state.db: cannot write the state database \\(database or disk is full\\); the previous state is unchanged",
    ):
        store.write(many)
    assert SQLiteStateStore(tmp_path / "state.db").read() == before
    # Once there is room again, the same store writes: the connection that failed was dropped.
    monkeypatch.setattr(store, "_connect", connect)
    assert store.write(many).resources.keys() == many.resources.keys()


def test_debug_works_anywhere_and_interrupts_exit_130(tmp_path):
    root = project(tmp_path)
    for args in (["--debug", "validate", "."], ["validate", "--debug", "."], ["validate", ".", "--debug"]):
        code, output, _ = run(root, *args)
        assert code == 0, (args, output)
    # A Graph URL that accepts the connection and never answers; Ctrl-C (SIGINT) ends the wait with 130.
    import signal
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        root = project(tmp_path, graph=f"http://127.0.0.1:{silent.getsockname()[1]}")
        environment = {**os.environ, "META_ACCESS_TOKEN": TOKEN}
        proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "plan", "."],
            cwd=root,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(2.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "Interrupted." in err and "Traceback" not in err, (proc.returncode, err)
