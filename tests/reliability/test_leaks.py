"""Nothing secret leaks: a sentinel token and app secret, and recognisable customers, through every
command and error path; none of them may appear in output, logs, state, plan files or the sandbox's
request log. The second test plants a leak to show that the check catches one."""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.graph import client as client_module

pytestmark = pytest.mark.slow

TOKEN = "EAAGsentinelTOKENx9Qz7LeakCheck0001"
SECRET = "sentinel-app-secret-5be1c0de"
PROOF = hmac.new(SECRET.encode(), TOKEN.encode(), hashlib.sha256).hexdigest()
PEOPLE = ["carol.sentinel@leak-check.example", "+1 555 0199 321", "15550199321", "Carol", "Sentinelsdottir"]


def find_leaks(texts: dict[str, str]) -> list[str]:
    secrets = [TOKEN, SECRET, PROOF] + PEOPLE + [p.lower() for p in PEOPLE]
    return [f"{where}: {secret}" for where, text in texts.items() for secret in secrets if secret in text]


def write_project(root: Path) -> None:
    (root / "data").mkdir(parents=True)
    (root / "mmctl.yaml").write_text(
        'provider:\n  graph: sandbox\n  ad_account: act_100000000000001\n  page_id: "200000000000001"\n'
    )
    (root / "audiences.yaml").write_text(
        "audiences:\n  vip:\n    name: VIP\n    members:\n      file: data/vip.csv\n      default_country: US\n"
    )
    (root / "campaigns.yaml").write_text("campaigns:\n  c:\n    name: Campaign\n    daily_budget: 500\n")
    (root / "data" / "vip.csv").write_text(
        "email,phone,fn,ln\n"
        + f"{PEOPLE[0]},{PEOPLE[1]},{PEOPLE[3]},{PEOPLE[4]}\n"
        + "".join(f"f{n}@example.com,,,\n" for n in range(120))
    )


def test_no_secret_or_customer_data_anywhere(serve, tmp_path):
    sandbox = serve(token=TOKEN, app_secret=SECRET)
    root = tmp_path / "project"
    write_project(root)
    (tmp_path / "token").write_text(TOKEN + "\n")
    env = {**os.environ, "MMCTL_GRAPH_URL": sandbox.url, "META_ACCESS_TOKEN": TOKEN, "META_APP_SECRET": SECRET}
    texts: dict[str, str] = {}

    def mmctl(name: str, *args: str, environment: dict[str, str] = env) -> int:
        done = subprocess.run(
            [sys.executable, "-m", "reconciler", *args],
            cwd=root,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        texts[name] = done.stdout + done.stderr
        assert "Traceback" not in done.stderr, done.stderr
        return done.returncode

    assert mmctl("validate", "validate", ".") == 0
    assert mmctl("plan", "plan", ".", "--verbose", "--out", "plan.json") == 0
    assert mmctl("plan-json", "plan", ".", "--format", "json") == 0
    assert mmctl("plan-md", "plan", ".", "--format", "markdown") == 0
    assert mmctl("apply", "apply", "plan.json", "--verbose") == 0
    assert mmctl("apply-again", "apply", ".", "--auto-approve", "--verbose") == 0
    assert mmctl("state-list", "state", "list") == 0
    assert mmctl("state-show", "state", "show", "audience.vip") == 0
    assert mmctl("import-missing", "import", "campaign.c", "999999", "--verbose") == 1
    assert mmctl("preview-missing", "preview", "nothing", "--verbose") == 1
    wrong = {**env, "META_ACCESS_TOKEN": TOKEN + "x"}
    assert mmctl("wrong-token", "plan", ".", "--verbose", environment=wrong) == 1
    assert "Invalid OAuth access token" in texts["wrong-token"]
    no_secret = {k: v for k, v in env.items() if k != "META_APP_SECRET"}
    assert mmctl("no-proof", "plan", ".", environment=no_secret) == 1
    assert "appsecret_proof" in texts["no-proof"]
    file_env = {k: v for k, v in env.items() if k != "META_ACCESS_TOKEN"}
    assert mmctl("token-file", "plan", ".", "--token-file", str(tmp_path / "token"), environment=file_env) == 0
    assert mmctl("state-rm", "state", "rm", "campaign.c") == 0
    for path in list((root / ".mmctl").rglob("*")) + [root / "plan.json"]:
        if path.is_file():
            # The state database is binary: its bytes are searched as Latin-1 text.
            texts[str(path.relative_to(root))] = path.read_bytes().decode("latin-1")
    texts["sandbox request log"] = str(sandbox.control("GET", "requests"))
    assert len(texts) > 15
    assert find_leaks(texts) == []
    assert hashlib.sha256(PEOPLE[0].encode()).hexdigest() in texts["sandbox request log"]
    assert hashlib.sha256(PEOPLE[0].encode()).hexdigest() in texts[".mmctl/state.db"]  # the check reads it


def test_the_leak_check_catches_a_planted_leak(serve, tmp_path, monkeypatch):
    """A client that logs its request URL (appsecret_proof included) is caught."""
    sandbox = serve(token=TOKEN, app_secret=SECRET)
    root = tmp_path / "project"
    write_project(root)
    monkeypatch.chdir(root)
    original = client_module.GraphClient._once

    def leaky(self, method, path, params, kind, **kw):
        client_module.log.info("request %s %s?appsecret_proof=%s", method, path, self.credentials.proof())
        return original(self, method, path, params, kind, **kw)

    monkeypatch.setattr(client_module.GraphClient, "_once", leaky)
    env = {"MMCTL_GRAPH_URL": sandbox.url, "META_ACCESS_TOKEN": TOKEN, "META_APP_SECRET": SECRET}
    result = CliRunner(env=env).invoke(cli, ["plan", ".", "--verbose"])
    assert result.exit_code == 0, result.output
    assert find_leaks({"plan": result.output}) == [f"plan: {PROOF}"]
