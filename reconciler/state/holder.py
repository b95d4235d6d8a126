"""Who holds a state lock: the record every backend keeps beside its lock, and the message a
blocked run prints. Terraform's pg backend names *you* as the holder (#32075); this names the
process that really holds it, with where it runs and, in CI, the run's URL."""

from __future__ import annotations

import getpass
import json
import os
import socket
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from reconciler.clock import utc_text


def ci_run_url(env: Mapping[str, str]) -> str | None:
    """The URL of the CI run this process belongs to, when the environment names one."""
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    for name in ("CI_JOB_URL", "BUILD_URL", "CIRCLE_BUILD_URL"):  # GitLab, Jenkins, CircleCI
        if env.get(name):
            return env[name]
    return None


def user_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no USER: a container's anonymous uid
        return f"uid {os.getuid()}"


@dataclass(frozen=True)
class Holder:
    command: str
    user: str
    host: str
    pid: int
    since: str
    ci_url: str | None = None

    @classmethod
    def me(cls, command: str, env: Mapping[str, str] | None = None) -> Holder:
        return cls(command, user_name(), socket.gethostname(), os.getpid(), utc_text(), ci_run_url(env or os.environ))

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> Holder | None:
        """The record as stored, or None when there is none or it cannot be read (a lock taken by
        an older mmctl, a torn write): the message then says "another process"."""
        try:
            data = json.loads(text or "null")
            if not isinstance(data, dict):
                return None
            return cls(
                str(data["command"]),
                str(data.get("user", "?")),
                str(data["host"]),
                int(data["pid"]),
                str(data["since"]),
                str(data["ci_url"]) if data.get("ci_url") else None,
            )
        except (ValueError, KeyError, TypeError):
            return None

    def describe(self) -> str:
        where = f"{self.command} (pid {self.pid} on {self.host}, user {self.user}, since {self.since}"
        return where + (f", run {self.ci_url})" if self.ci_url else ")")


def locked_message(shown: str, holder: Holder | None, detail: str = "") -> str:
    who = holder.describe() if holder else "another process"
    return (
        f"the state {shown} is locked by {who}; wait for it to finish, or retry with "
        f"--lock-timeout SECONDS{f' ({detail})' if detail else ''}"
    )
