"""The lock holder's record: what a blocked run prints about the run that holds the state."""

from __future__ import annotations

import os

from reconciler.state.holder import Holder, ci_run_url, locked_message


def test_the_ci_run_is_named_when_the_environment_has_one():
    github = {"GITHUB_RUN_ID": "42", "GITHUB_REPOSITORY": "acme/ads", "GITHUB_SERVER_URL": "https://git.acme"}
    assert ci_run_url(github) == "https://git.acme/acme/ads/actions/runs/42"
    assert ci_run_url({"CI_JOB_URL": "https://gitlab.example/j/7"}) == "https://gitlab.example/j/7"
    assert ci_run_url({"PATH": "/bin"}) is None


def test_the_record_round_trips_and_a_torn_one_is_nobody_in_particular():
    me = Holder.me("mmctl apply", {"GITHUB_RUN_ID": "1", "GITHUB_REPOSITORY": "a/b"})
    assert Holder.from_json(me.to_json()) == me and me.pid == os.getpid()
    assert me.describe().endswith(", run https://github.com/a/b/actions/runs/1)")
    assert Holder.from_json('{"command": "x"') is None and Holder.from_json("") is None
    assert locked_message("st", None) == (
        "the state st is locked by another process; wait for it to finish, or retry with --lock-timeout SECONDS"
    )
