"""A command's working parts: the loaded project, its state store, a Graph client and a clock.

``open_session`` builds them from the manifests and the options; each part can be passed in
instead (a client over a fake transport, another state backend, a fixed clock), and the
defaults come from the factories here, so no command builds its own.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.clock import Clock, Sleep, system_clock, system_sleep
from reconciler.errors import UsageError
from reconciler.graph.client import GraphClient, RetryPolicy, connect
from reconciler.manifest.discovery import Filters, display_path
from reconciler.manifest.project import load_project
from reconciler.members import memberfile, optouts
from reconciler.model import Members, Project, StateConfig
from reconciler.state.legacy import import_json
from reconciler.state.model import State
from reconciler.state.sqlite import SQLiteStateStore
from reconciler.state.store import StateStore

Progress = Callable[[str], None]


def print_notice(line: str) -> None:
    sys.stderr.write(line + "\n")


@dataclass(frozen=True)
class Options:
    graph_url: str | None = None  # --graph-url / MMCTL_GRAPH_URL: overrides provider.graph
    token_file: str | None = None
    parallelism: int = 4
    max_wait: float = 0.0  # --max-wait: seconds a throttled call may wait for Meta past its deadline
    request_timeout: float = RetryPolicy.timeout  # --request-timeout: per connect and per read of an answer
    proxy: str | None = None  # --proxy / MMCTL_PROXY: the only proxy used (environment proxies are ignored)
    filters: Filters = Filters()  # --include / --exclude

    @property
    def retry(self) -> RetryPolicy:
        return RetryPolicy(max_wait=self.max_wait, timeout=self.request_timeout)


ClientFactory = Callable[[Project, str], GraphClient]  # (project, Graph root) -> client
StoreFactory = Callable[[Project], StateStore]


def client_factory(options: Options, env: Mapping[str, str]) -> ClientFactory:
    """The default client: the Graph root of the options (or the provider block), its token from
    the environment or ``--token-file``."""

    def make(project: Project, graph: str) -> GraphClient:
        return connect(
            graph,
            project.provider.api_version,
            root=project.root,
            env=env,
            token_file=options.token_file,
            retry=options.retry,
            concurrency=options.parallelism,
            proxy=options.proxy,
        )

    return make


def open_backend(config: StateConfig, env: Mapping[str, str]) -> StateStore:
    """The store a ``state:`` block names (SQLite at ``.mmctl/state.db`` unless it says PostgreSQL)."""
    if config.backend == "postgres":
        from reconciler.state.postgres import PostgresStateStore

        return PostgresStateStore(config.url or env.get("MMCTL_STATE_URL", ""), config.key, config.schema, env)
    return SQLiteStateStore(config.path, display_path(config.path), config.key)


def store_factory(env: Mapping[str, str], notice: Progress = print_notice) -> StoreFactory:
    """The default store: where the project's ``state:`` block says. A state file of an earlier
    mmctl beside an SQLite database is imported on first use, with ``notice`` told so."""

    def make(project: Project) -> StateStore:
        store = open_backend(project.state, env)
        if project.state.backend == "sqlite":
            legacy = project.state.path.with_suffix(".json")
            import_json(store, legacy, display_path(legacy), notice)
        return store

    return make


@dataclass
class Session:
    """A loaded project with its state store, a client for its Graph API and a clock."""

    project: Project
    store: StateStore
    client: GraphClient
    graph: str
    clock: Clock = system_clock
    sleep: Sleep = system_sleep
    # Member files hashed for this run (temporary files, removed on close).
    members: dict[str, memberfile.Prepared] = field(default_factory=dict)
    # The recipients each send's plan counted: what apply freezes in the journal.
    recipients: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # The people of the unsubscribe file not yet unsubscribed, and the tokens mmctl keeps unsubscribed.
    optouts: list[optouts.OptOut] = field(default_factory=list)
    unsubscribed: frozenset[str] = frozenset()
    listed: dict[tuple[str, ...], Any] = field(default_factory=dict)  # listings read once per run
    workdir: tempfile.TemporaryDirectory[str] | None = None

    def now(self) -> int:
        return int(self.clock())

    def meta_now(self) -> float:
        """Meta's time: this clock moved by the offset of the server's own (its Date header), for
        comparing with times Meta keeps (a warm-up, a cooldown)."""
        return self.clock() + self.client.server_offset

    def read_state(self) -> State:
        """The state, refused when it belongs to another ad account than the manifests manage."""
        state = self.store.read()
        ad_account = self.project.provider.ad_account
        if state.account is not None and state.account != ad_account:
            raise UsageError(
                f"the state {self.store.location} belongs to {state.account}, but the manifests manage {ad_account}; "
                "give each ad account its own state (state.key, or another state.path)"
            )
        return state

    def close(self) -> None:
        self.client.close()
        self.store.close()
        if self.workdir is not None:
            self.workdir.cleanup()

    def prepared(self, address: str, members: Members) -> memberfile.Prepared:
        """The member file of ``address``, normalised, hashed and sorted (once per run)."""
        if address not in self.members:
            if self.workdir is None:
                self.workdir = tempfile.TemporaryDirectory(prefix="mmctl-members-")
            try:
                self.members[address] = memberfile.prepare(
                    members.file,
                    hashed=members.hashed,
                    default_country=members.default_country,
                    workdir=Path(self.workdir.name),
                )
            except (memberfile.MemberFileError, OSError, UnicodeDecodeError) as exc:
                raise UsageError(f"{address}: member file {display_path(members.file)}: {exc}") from exc
        return self.members[address]


def open_session(
    paths: Sequence[str],
    env: Mapping[str, str],
    options: Options = Options(),
    *,
    client: ClientFactory | None = None,
    store: StoreFactory | None = None,
    clock: Clock = system_clock,
    sleep: Sleep = system_sleep,
) -> Session:
    """Load the manifests under ``paths`` and build the parts (or take those given)."""
    project = load_project(paths or (".",), env=env, filters=options.filters)
    graph = options.graph_url or project.provider.graph
    made = (client or client_factory(options, env))(project, graph)
    return Session(project, (store or store_factory(env))(project), made, graph, clock, sleep)


def open_store(paths: Sequence[str], env: Mapping[str, str], store: StoreFactory | None = None) -> StateStore:
    """Only the state store of the project under ``paths`` (state commands need no client)."""
    return (store or store_factory(env))(load_project(paths or (".",), env=env))
