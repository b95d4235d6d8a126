"""Audience members end to end on the sandbox: counts in the plan, exact uploads, resumed sessions,
and no raw email or phone anywhere but in the member file itself."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import replace
from types import MappingProxyType

from click.testing import CliRunner
from helpers import stored_state

from reconciler.cli import cli
from reconciler.errors import TransientError
from reconciler.graph.client import GraphClient


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def users_calls(log: list[dict]) -> list[dict]:
    return [e for e in log if e["endpoint"] in ("POST <id>/users", "DELETE <id>/users")]


def test_examples_upload_members_and_converge(example):
    applied = run("apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert "members: +260 / -0 members (0 → 260)" in applied.stdout
    assert "audience.vip: members +260 / -0 (now 260)" in applied.stderr
    assert run("plan", "--detailed-exitcode").exit_code == 0


def test_adding_10_and_removing_3_sends_exactly_those(example, serve):
    sandbox = serve()
    env = {"MMCTL_GRAPH_URL": sandbox.url, "META_ACCESS_TOKEN": "members-test-token-01"}
    runner = CliRunner(env=env)
    assert runner.invoke(cli, ["apply", "--auto-approve"]).exit_code == 0
    csv = example / "data" / "vip.csv"
    lines = csv.read_text().splitlines()
    removed = lines[1:4]
    added = [f"new{n}@example.com,,New,Person,US" for n in range(10)]
    csv.write_text("\n".join([lines[0], *lines[4:], *added]) + "\n")
    planned = runner.invoke(cli, ["plan"])
    assert "members: +10 / -3 members (260 → 267)" in planned.stdout
    sandbox.control("DELETE", "requests")
    assert runner.invoke(cli, ["apply", "--auto-approve"]).exit_code == 0
    calls = users_calls(sandbox.control("GET", "requests")["data"])
    adds = [c for c in calls if c["params"].get("method") != "DELETE"]
    removes = [c for c in calls if c["params"].get("method") == "DELETE"]
    add_rows = json.loads(adds[0]["params"]["payload"])["data"]
    remove_rows = json.loads(removes[0]["params"]["payload"])["data"]
    assert len(adds) == 1 and len(removes) == 1
    assert sorted(r[0] for r in add_rows) == sorted(h(f"new{n}@example.com") for n in range(10))
    assert sorted(r[0] for r in remove_rows) == sorted(h(line.split(",")[0]) for line in removed)
    assert json.loads(removes[0]["params"]["payload"])["schema"] == ["EMAIL", "PHONE"]
    assert runner.invoke(cli, ["plan", "--detailed-exitcode"]).exit_code == 0


def test_an_interrupted_upload_resumes_after_the_last_confirmed_batch(example, serve, monkeypatch):
    rows = [f"person{n}@example.com,,,,US" for n in range(25_000)]
    (example / "data" / "vip.csv").write_text("email,phone,fn,ln,country\n" + "\n".join(rows) + "\n")
    sandbox = serve()
    monkeypatch.setenv("MMCTL_GRAPH_URL", sandbox.url)
    monkeypatch.setenv("META_ACCESS_TOKEN", "members-test-token-02")
    original = GraphClient.call
    seen = {"users": 0}

    def flaky(self, method, path, params, *, kind):
        if path.endswith("/users"):
            seen["users"] += 1
            if seen["users"] == 2:
                raise TransientError("connection lost (test)", method=method, path=path)
        return original(self, method, path, params, kind=kind)

    monkeypatch.setattr(GraphClient, "call", flaky)
    first = run("apply", "--auto-approve")
    assert first.exit_code == 1 and "member add batch 2/3 failed" in first.stderr
    state = stored_state(example)
    [pending] = [p for p in state["pending"] if p["operation"] == "members"]
    assert (pending["phase"], pending["done"]) == ("add", 1)
    monkeypatch.setattr(GraphClient, "call", original)
    sandbox.control("DELETE", "requests")
    second = run("apply", "--auto-approve")
    assert second.exit_code == 0, second.output
    sessions = [json.loads(c["params"]["session"]) for c in users_calls(sandbox.control("GET", "requests")["data"])]
    assert [s["batch_seq"] for s in sessions] == [2, 3]  # batch 1 is not sent again
    assert {s["session_id"] for s in sessions} == {pending["session"]} and sessions[-1]["last_batch_flag"] is True
    assert len(sandbox.members()) == 25_000
    assert run("plan", "--detailed-exitcode").exit_code == 0


def test_warnings_for_small_audiences_and_skipped_rows(example):
    (example / "data" / "vip.csv").write_text(
        "email,phone,fn,ln,country\nok@example.com,,,,US\nbroken,,,,US\n,,,,US\nkept@example.com,12,,,US\n"
    )
    out = run("plan").stdout
    assert (
        "audience.vip: data/vip.csv: 1 bad cell(s) in 1 row(s) are dropped (those people are uploaded with the "
        "identifiers that remain) and 2 row(s) are skipped (no usable email or phone left): line 3, column email: "
        "not an email address (expected name@domain); line 4, column email: the row has neither an email nor a "
        "phone; Meta needs one of them; line 5, column phone: "
    ) in out
    assert (
        "audience.vip: 2 people in the member file; Meta typically matches 20-70% of a list (here about 0-1 "
        "people) and returns no subscription tokens for an audience with fewer than 100 matched people"
    ) in out
    assert "broken" not in out
    # The person whose phone was bad is uploaded with the email alone.
    assert "+2 / -0 members" in out


SECRETS = ["sentinel.alice@leak-check.example", "SENTINEL.BOB@LEAK-CHECK.EXAMPLE", "5550100777", "4479110042"]


def test_no_raw_email_or_phone_leaves_the_member_file(example, serve):
    """The whole flow with recognisable people: only their hashes appear anywhere."""
    (example / "data" / "vip.csv").write_text(
        "email,phone,fn,ln,country\n"
        "sentinel.alice@leak-check.example,+1 555 0100 777,Alice,Sentinel,US\n"
        "SENTINEL.BOB@LEAK-CHECK.EXAMPLE,07911 0042 00,Bob,Sentinel,GB\n"
        + "".join(f"filler{n}@example.com,,,,US\n" for n in range(150))
    )
    sandbox = serve()
    env = {**os.environ, "MMCTL_GRAPH_URL": sandbox.url, "META_ACCESS_TOKEN": "members-test-token-03"}

    def mmctl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "reconciler", *args, "--verbose"],
            cwd=example,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    outputs = [
        mmctl("plan", "--out", "plan.json"),
        mmctl("plan", "--format", "json"),
        mmctl("plan", "--format", "markdown"),
        mmctl("apply", "plan.json"),
        mmctl("plan"),
    ]
    assert outputs[3].returncode == 0, outputs[3].stderr
    texts = [o.stdout + o.stderr for o in outputs]
    # The state database (and its WAL) is binary: its bytes are searched as Latin-1 text.
    stored = [p for p in (example / ".mmctl").rglob("*") if p.is_file() and "sandbox" not in p.name]
    assert any(p.name == "state.db" for p in stored)
    texts += [p.read_bytes().decode("latin-1") for p in stored]
    texts.append((example / "plan.json").read_text())
    log = json.dumps(sandbox.control("GET", "requests"))
    texts.append(log)
    texts.append(json.dumps(sandbox.world()))
    for text in texts:
        for secret in SECRETS + [s.lower() for s in SECRETS]:
            assert secret not in text
    assert h("sentinel.alice@leak-check.example") in log and h("15550100777") in log
    assert h("447911004200") in log  # the UK number, trunk zero dropped, country code added


def test_audience_fields_update_in_place_and_hashed_files(example):
    assert run("apply", "--auto-approve").exit_code == 0
    text = (example / "audiences.yaml").read_text()
    (example / "audiences.yaml").write_text(text.replace("name: VIP customers", "name: VIP customers 2026"))
    out = run("plan").stdout
    assert '~ audience.vip  (update: the manifest changed)\n        name: "VIP customers" → "VIP customers 2026"' in out
    assert run("apply", "--auto-approve").exit_code == 0
    digests = [h(f"hashed{n}@example.com") for n in range(130)]
    (example / "data" / "hashed.csv").write_text("email\n" + "".join(f"{d.upper()}\n" for d in digests))
    text = (example / "audiences.yaml").read_text()
    (example / "audiences.yaml").write_text(
        text.replace("file: data/vip.csv", "file: data/hashed.csv\n      hashed: true")
    )
    out = run("plan").stdout
    assert "members: +130 / -260 members (260 → 130)" in out
    assert run("apply", "--auto-approve").exit_code == 0
    assert run("plan", "--detailed-exitcode").exit_code == 0


def test_an_unchanged_member_file_is_not_read_again_and_any_change_is(example, monkeypatch):
    from reconciler.members import memberfile

    csv = example / "data" / "vip.csv"
    csv.write_text("".join(csv.read_text().splitlines(keepends=True)[:121]))  # 120 people: too few matched
    assert run("apply", "--auto-approve").exit_code == 0
    prepared: list[str] = []
    original = memberfile.prepare

    def counted(path, **options):
        prepared.append(path.name)
        return original(path, **options)

    monkeypatch.setattr(memberfile, "prepare", counted)
    same = run("plan", "--detailed-exitcode")
    assert same.exit_code == 0 and prepared == []
    assert (
        "Notes:\n  audience.vip: data/vip.csv is byte for byte the file of the last upload (120 members): not read again\n"
        in same.stdout
    )
    assert "Meta reports about 63 matched people" in same.stdout  # the live audience's warnings still show
    csv.write_text(csv.read_text() + "new.person@example.com,,New,Person,US\n")
    grown = run("plan", "--detailed-exitcode")
    assert grown.exit_code == 2 and prepared == ["vip.csv"] and "+1 / -0 members (120 → 121)" in grown.stdout
    assert "not read again" not in grown.stdout
    text = (example / "audiences.yaml").read_text()
    (example / "audiences.yaml").write_text(text.replace("default_country: US", "default_country: CA"))
    csv.write_text(csv.read_text().replace("new.person@example.com,,New,Person,US\n", ""))
    reread = run("plan")
    assert prepared == ["vip.csv", "vip.csv"] and "not read again" not in reread.stdout  # how it is read changed


def test_an_upload_recorded_without_the_file_fingerprint_keeps_it_at_the_next_apply(example):
    from helpers import store_of

    assert run("apply", "--auto-approve").exit_code == 0
    store = store_of(example)
    state = store.read()
    vip = state.resources["audience.vip"]
    older = {k: v for k, v in vip.members.items() if k != "source"}  # as mmctl recorded it until now
    store.write(state.with_resource("audience.vip", replace(vip, members=MappingProxyType(older))))
    assert "not read again" not in run("plan").stdout
    campaigns = example / "campaigns.yaml"
    campaigns.write_text(campaigns.read_text().replace('daily_budget: "50.00 USD"', "daily_budget: 6000"))
    assert run("apply", "--auto-approve").exit_code == 0  # another change: the fingerprint is kept then
    assert "not read again" in run("plan").stdout
    assert store_of(example).read().resources["audience.vip"].members["source"].startswith("sha256:")
