"""Secrets stay secret: values from the environment, tokens in every encoding, URLs with credentials."""

from __future__ import annotations

import json
import subprocess
import sys
from urllib.parse import quote

import httpx
import pytest

from reconciler.errors import UsageError
from reconciler.graph.client import Credentials, GraphClient, check_base_url, check_proxy

CI_SECRET = "ci-deploy-secret-7f3a9"


def test_a_secret_looking_variable_is_refused_unless_the_provider_allows_it(project):
    project.write("provider.yaml", 'provider: {ad_account: act_1, page_id: "2"}\n')
    project.write("c.yaml", "campaigns: {c: {name: '${env:DEPLOY_KEY}', daily_budget: 500}}\n")
    assert project.errors({"DEPLOY_KEY": CI_SECRET}) == [
        "c.yaml:1:23: campaigns.c.name: ${env:DEPLOY_KEY}: the name looks like a secret (it has KEY in it), and a "
        "manifest value ends up in plans and PR comments; list it in provider.allow_env if it really is not one"
    ]
    project.write("provider.yaml", 'provider: {ad_account: act_1, page_id: "2", allow_env: [DEPLOY_KEY]}\n')
    assert project.load({"DEPLOY_KEY": "Spring"}).campaigns["c"].name == "Spring"


@pytest.mark.parametrize(
    "name", ["GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "DB_PASSWORD", "GCP_CREDENTIALS", "api_key", "META_ACCESS_TOKEN"]
)
def test_every_secret_looking_name_is_refused(project, name):
    project.write("provider.yaml", 'provider: {ad_account: act_1, page_id: "2"}\n')
    project.write("c.yaml", f"campaigns: {{c: {{name: '${{env:{name}}}', daily_budget: 500}}}}\n")
    (error,) = project.errors({name: CI_SECRET})
    assert CI_SECRET not in error and name in error


@pytest.mark.parametrize(
    ("field", "written"),
    [
        ("graph", "graph: '${env:G}'"),
        ("timezone", "timezone: '${env:G}'"),
        ("max_daily_budget", "max_daily_budget: '${env:G}'"),
    ],
)
def test_values_from_the_environment_are_never_echoed_in_provider_errors(project, field, written):
    project.write("provider.yaml", f'provider:\n  ad_account: act_1\n  page_id: "2"\n  {written}\n')
    errors = project.errors({"G": CI_SECRET + " 12.00 XYZ"})
    assert errors and all(CI_SECRET not in e for e in errors), errors
    assert any("${env:G}" in e or "not shown" in e for e in errors), errors


def test_values_from_the_environment_are_never_echoed_in_semantic_errors(project):
    project.write("provider.yaml", 'provider: {ad_account: act_1, page_id: "2"}\n')
    project.write(
        "c.yaml",
        """\
        campaigns:
          a: {name: '${env:N}', daily_budget: 500, template: '${env:T}', start_time: '${env:S}'}
          b: {name: '${env:N}', daily_budget: '${env:B}'}
        """,
    )
    env = {"N": CI_SECRET, "T": CI_SECRET + "-tpl", "S": CI_SECRET + "-time", "B": CI_SECRET + " 5.00 USD"}
    errors = project.errors(env)
    assert len(errors) >= 4, errors
    assert all(CI_SECRET not in e for e in errors), errors
    assert any("${env:N}" in e for e in errors)


TOKEN = 'EAAGsentinel+TOKEN/x9Qz="7\\'


def test_redaction_covers_every_encoding_of_the_token():
    credentials = Credentials(TOKEN, "app-secret-1")
    texts = [
        TOKEN,
        quote(TOKEN, safe=""),
        json.dumps(TOKEN)[1:-1],
        f"?access_token={quote(TOKEN)}&x=1",
        credentials.proof() or "",
    ]
    for text in texts:
        assert "[REDACTED]" in credentials.redact(text)
        assert TOKEN not in credentials.redact(text) and "app-secret-1" not in credentials.redact(text)


def test_the_secret_half_of_an_app_token_and_short_tokens_are_redacted():
    assert Credentials("1234567890|s3cr3tHalf").redact("the secret is s3cr3tHalf") == "the secret is [REDACTED]"
    assert Credentials("abc").redact("token=abc") == "token=[REDACTED]"


def test_graph_urls_with_credentials_are_refused_without_echoing_them():
    with pytest.raises(UsageError) as info:
        check_base_url("https://admin:hunter2-pass@graph.example.com/")
    assert "hunter2-pass" not in str(info.value) and "admin" not in str(info.value)
    assert "user name or password" in str(info.value)


def test_credentials_in_provider_graph_are_refused_without_echoing_them(project):
    project.write(
        "provider.yaml", 'provider: {ad_account: act_1, page_id: "2", graph: "https://u:hunter2-pass@x.test"}\n'
    )
    (error,) = project.errors()
    assert "hunter2-pass" not in error and "user name or password" in error


def test_proxy_variables_are_ignored_and_loopback_is_never_proxied(sandbox, monkeypatch):
    # A proxy that does not exist: a client that used it could not reach the sandbox.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    with GraphClient(sandbox.url, "v24.0", Credentials("test-token"), proxy="http://127.0.0.1:9") as graph:
        assert graph.get("act_100000000000001", {"fields": "currency"})["currency"] == "USD"
    assert check_proxy("http://proxy.internal:3128", "http://127.0.0.1:8765") is None
    assert check_proxy("http://proxy.internal:3128", "https://graph.facebook.com") == "http://proxy.internal:3128"
    with pytest.raises(UsageError, match="expected an http:// or https:// proxy URL"):
        check_proxy("socks9://p", "https://graph.facebook.com")


def test_a_proxy_is_used_when_asked_for():
    seen: list[str] = []

    def proxy(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"currency": "EUR"})

    # An httpx proxy is a transport of its own; here the only one, so every request goes through it.
    graph = GraphClient("https://graph.example.com", "v24.0", Credentials("t0ken-value"), proxy="http://p.test:3128")
    graph._http._mounts = {k: httpx.MockTransport(proxy) for k in graph._http._mounts}
    assert graph.get("act_1")["currency"] == "EUR" and seen == ["https://graph.example.com/v24.0/act_1"]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"\xef\xbb\xbfEAAGtoken\n", "byte-order mark (BOM)"),
        (b"EAAGtoken\nEAAGother\n", "several lines"),
        (b"EAAG tok en\n", "has a space"),
        (b"\xff\xfe\x00", "not UTF-8 text"),
        (b"\n\n", "the file is empty"),
    ],
)
def test_bad_token_files_are_clear_errors_naming_the_file(tmp_path, content, words):
    (tmp_path / "token").write_bytes(content)
    with pytest.raises(UsageError) as info:
        Credentials.load({}, str(tmp_path / "token"))
    assert str(tmp_path / "token") in str(info.value) and words in str(info.value)
    assert b"EAAG" not in str(info.value).encode()


def test_a_token_file_that_is_a_fifo_is_not_read(tmp_path):
    import os

    os.mkfifo(tmp_path / "token")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "reconciler",
            "plan",
            ".",
            "--token-file",
            str(tmp_path / "token"),
            "--graph-url",
            "https://graph.example.com",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        input="",
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr


def test_a_password_in_a_value_that_fails_the_schema_is_not_echoed(project):
    project.write("provider.yaml", 'provider: {ad_account: act_1, page_id: "2", graph: "admin:hunter2-pass@x.test"}\n')
    (error,) = project.errors()
    assert "hunter2-pass" not in error and "(not shown)" in error
