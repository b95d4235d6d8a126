"""State through the CLI on each backend: where the plan says it read state from, the history of
versions, unlocking, moving a state between backends, and importing an earlier mmctl's file."""

from __future__ import annotations

import json
import subprocess
import threading

import pytest
from backends import POSTGRES_URL, Backend
from click.testing import CliRunner
from helpers import ACCOUNT

from reconciler.cli import cli
from reconciler.state.local import LocalStateStore
from reconciler.state.model import Pending, Resource, State

PASSWORD = "s3cret-pw-never-shown"


def runner(backend: Backend):
    env = {k: v.replace("postgres@", f"postgres:{PASSWORD}@") for k, v in backend.env.items()}

    def run(*args: str):
        return CliRunner(env=env).invoke(cli, list(args))

    return run


@pytest.fixture
def run(example, backend):
    backend.use_in(example / "mmctl.yaml")
    return runner(backend)


def test_every_plan_format_names_the_backend_and_state_key(run, backend):
    text = run("plan", "--no-estimate")
    assert text.exit_code == 0, text.output
    assert text.stdout.splitlines()[:2] == [
        f"Account {ACCOUNT} (USD) via sandbox",
        f"State: {backend.name} state {ACCOUNT}, serial 0",
    ]
    markdown = run("plan", "--format", "markdown", "--no-estimate").stdout
    assert (
        f"<sub>via the built-in sandbox (no real account) · {backend.name} state {ACCOUNT}, serial 0</sub>"
        in markdown.splitlines()[:6]
    )
    state = json.loads(run("plan", "--format", "json", "--no-estimate").stdout)["state"]
    assert state == {"serial": 0, "lineage": "", "backend": backend.name, "key": ACCOUNT}


def test_apply_import_and_rm_each_add_a_version(run, backend, example):
    assert run("plan", "--out", "reviewed.json", "--no-estimate").exit_code == 0
    digest = json.loads((example / "reviewed.json").read_text())["integrity"]["digest"]
    assert run("apply", "reviewed.json").exit_code == 0
    ident = json.loads(run("state", "show", "campaign.spring-launch").stdout)["ids"]["id"]
    assert run("state", "rm", "campaign.spring-launch").exit_code == 0
    assert run("import", "campaign.spring-launch", ident).exit_code == 0
    history = json.loads(run("state", "history", "--format", "json").stdout)
    assert [(v["number"], v["command"], v["summary"]) for v in history] == [
        (1, "mmctl apply", {"create": 6}),
        (2, "mmctl state rm", {"forget": 1}),
        (3, "mmctl import", {"import": 1}),
    ]
    assert history[0]["plan_digest"] == digest and history[0]["user"] and history[0]["host"]
    lines = run("state", "history").stdout.splitlines()
    assert len(lines) == 3 and lines[0].strip().split("  ")[2:4] == [f"serial {history[0]['serial']}", "mmctl apply"]
    before = json.loads(run("state", "show", "--version", "1").stdout)
    assert "campaign.spring-launch" in before["resources"] and before["version"]["number"] == 1
    between = json.loads(run("state", "show", "--version", "2").stdout)
    assert "campaign.spring-launch" not in between["resources"]
    one = json.loads(run("state", "show", "campaign.spring-launch", "--version", "1").stdout)
    assert one["ids"]["id"] == ident
    missing = run("state", "show", "--version", "9")
    assert missing.exit_code == 1 and "has no version 9; its versions are 1 to 3" in missing.stderr


def test_a_version_names_the_git_commit_of_the_manifests(run, example):
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "."], cwd=example, check=True)
    subprocess.run([*git, "add", "-A"], cwd=example, check=True)
    subprocess.run([*git, "commit", "-qm", "manifests"], cwd=example, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=example, capture_output=True, text=True).stdout.strip()
    assert run("apply", "--auto-approve").exit_code == 0
    (version,) = json.loads(run("state", "history", "--format", "json").stdout)
    assert version["git_commit"] == head
    assert f"commit {head[:12]}" in run("state", "history").stdout


def test_unlock_says_who_holds_the_lock_and_never_breaks_a_live_sqlite_one(run, backend, example):
    assert run("state", "unlock").stdout.endswith("is not locked; nothing to do.\n")
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with backend.store(example).lock("mmctl apply"):
            holding.set()
            release.wait(20)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(20)
        asked = run("state", "unlock")
        assert asked.exit_code == 1 and "is locked by mmctl apply (pid" in asked.stderr and "--force" in asked.stderr
        blocked = run("apply", "--auto-approve")
        assert blocked.exit_code == 1 and "is locked by mmctl apply (pid" in blocked.stderr
        forced = run("state", "unlock", "--force")
        if backend.name == "sqlite":
            assert forced.exit_code == 1 and "it is never stale" in forced.stderr
        else:  # the holder's session is ended: its lock goes with it
            assert forced.exit_code == 0 and forced.stdout.startswith("Unlocked the state postgres")
            assert run("apply", "--auto-approve", "--lock-timeout", "10").exit_code == 0
    finally:
        release.set()
        holder.join(20)


def test_a_state_moves_to_postgres_and_back_and_plans_the_same(example, postgres_schema):
    sqlite = Backend("sqlite")
    run = runner(Backend("postgres"))  # the environment with MMCTL_STATE_URL
    assert run("apply", "--auto-approve").exit_code == 0
    moved = run("state", "migrate", "--to", "postgres", "--schema", postgres_schema)
    assert moved.exit_code == 0, moved.output
    assert f"state: {{backend: postgres, url: ${{env:MMCTL_STATE_URL}}, schema: {postgres_schema}}}" in moved.stdout
    assert PASSWORD not in moved.output
    again = run("state", "migrate", "--to", "postgres", "--schema", postgres_schema)
    assert again.exit_code == 1 and "already exists; nothing was copied" in again.stderr
    shared = Backend("postgres", [postgres_schema])
    shared.use_in(example / "mmctl.yaml")
    plan = run("plan", "--detailed-exitcode", "--no-estimate")
    assert plan.exit_code == 0, plan.output
    assert plan.stdout.startswith(f"Account {ACCOUNT} (USD) via sandbox\nState: postgres state {ACCOUNT}, serial ")
    history = json.loads(run("state", "history", "--format", "json").stdout)
    assert [v["command"] for v in history] == ["mmctl apply", "mmctl state migrate"]
    back = run("state", "migrate", "--to", "sqlite", "--path", ".mmctl/back.db")
    assert back.exit_code == 0, back.output
    assert "state: {backend: sqlite, path: .mmctl/back.db}" in back.stdout
    assert sqlite.store(example).read() == shared.store(example).read()


def test_an_earlier_state_file_is_imported_once_with_a_backup(example):
    """The file of an earlier mmctl, with a pending operation and a member record, as it left them
    (into the default SQLite database; PostgreSQL gets a state by ``state migrate``)."""
    backend = Backend("sqlite")
    run = runner(backend)
    assert run("apply", "--auto-approve").exit_code == 0
    current = backend.store(example).read()
    members = list(backend.store(example).member_entries("audience.vip"))
    legacy = LocalStateStore(example / ".mmctl" / "state.json")
    pending = Pending("p1", "campaign.extra", "create", "2020-01-01T00:00:00Z", "Extra")
    legacy.write(State(current.serial, current.lineage, current.account, current.resources, (pending,)))
    legacy.save_members("audience.vip", iter(members))
    for name in ("state.db", "state.db-wal", "state.db-shm"):
        (example / ".mmctl" / name).unlink(missing_ok=True)
    listed = run("state", "list")
    assert listed.exit_code == 0, listed.output
    assert (
        "Imported .mmctl/state.json (6 resources, 1 member records) into .mmctl/state.db (state "
        f"{ACCOUNT}); the file is kept as state.json.backup."
    ) in listed.stderr
    assert not (example / ".mmctl" / "state.json").exists()
    assert (example / ".mmctl" / "state.json.backup").exists()
    assert (example / ".mmctl" / "state.json.members.backup" / "audience.vip.tsv").exists()
    imported = backend.store(example).read()
    assert imported.resources == current.resources and imported.serial == current.serial + 1
    assert imported.pending == (pending,)
    assert list(backend.store(example).member_entries("audience.vip")) == members
    assert "Imported" not in run("state", "list").stderr  # once
    assert isinstance(imported.resources["audience.vip"], Resource)


def test_the_state_url_and_its_password_never_appear(example):
    Backend("postgres", ["mmctl_never_created"]).use_in(example / "mmctl.yaml")
    url = POSTGRES_URL.replace("postgres@", f"postgres:{PASSWORD}@").replace(":5432", ":9")
    result = CliRunner(env={"MMCTL_STATE_URL": url}).invoke(cli, ["plan"])
    assert result.exit_code == 1 and "cannot connect to the state database" in result.stderr
    assert PASSWORD not in result.output and url not in result.output
