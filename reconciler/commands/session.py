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

from reconciler.background import Ahead
from reconciler.clock import Clock, Sleep, system_clock, system_sleep
from reconciler.errors import ReconcilerError, UsageError
from reconciler.graph import live
from reconciler.graph.client import GraphClient, RetryPolicy, connect
from reconciler.manifest.discovery import Filters, discover, display_path, has_provider_key
from reconciler.manifest.project import load_project
from reconciler.members import memberfile, optouts
from reconciler.model import Members, Project, StateConfig
from reconciler.operation import DEFAULT_PARALLELISM
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
    parallelism: int = DEFAULT_PARALLELISM
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
    live_ahead: Ahead[live.Live] | None = None  # the live account, read while the manifests loaded
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
    read_ahead: bool = False,
) -> Session:
    """Load the manifests under ``paths`` and build the parts (or take those given).

    ``read_ahead`` (``mmctl plan``, which takes no lock): the live account is read while the
    manifests load, from the provider block alone; the plan uses that reading only if the whole
    project names the same Graph API, version, root and ad account (``Session.live_ahead``)."""
    factory = client or client_factory(options, env)
    ahead = _read_ahead(paths or (".",), env, options, factory) if read_ahead else None
    project = load_project(paths or (".",), env=env, filters=options.filters)
    graph = options.graph_url or project.provider.graph
    if ahead is not None and ahead.serves(project, graph):
        made, live_ahead = ahead.client, ahead.reading
    else:
        if ahead is not None:
            ahead.drop()
        made, live_ahead = factory(project, graph), None
    session = Session(project, (store or store_factory(env))(project), made, graph, clock, sleep)
    session.live_ahead = live_ahead
    return session


@dataclass(frozen=True)
class _ReadAhead:
    client: GraphClient
    reading: Ahead[live.Live]
    graph: str
    api_version: str
    root: Path
    ad_account: str

    def drop(self) -> None:
        """Not used: its client is closed once the reading is over."""
        Ahead(lambda: _closed_after(self), name="mmctl-live-dropped")

    def serves(self, project: Project, graph: str) -> bool:
        provider = project.provider
        return (graph, provider.api_version, project.root, provider.ad_account) == (
            self.graph,
            self.api_version,
            self.root,
            self.ad_account,
        )


def _closed_after(ahead: _ReadAhead) -> None:
    try:
        ahead.reading.result()
    except BaseException:  # nobody wants this reading, nor why it failed
        pass
    ahead.client.close()


def _read_ahead(
    paths: Sequence[str], env: Mapping[str, str], options: Options, factory: ClientFactory
) -> _ReadAhead | None:
    """The live account's reading started from the one file with the provider block, when there is
    one and it loads; None otherwise (the full load then reports whatever is wrong). Not for the
    built-in sandbox: it answers at once, and lives beside the manifests' root."""
    try:
        found = discover(paths, options.filters)
        holding = [f for f in found.files if has_provider_key(f)]
        if found.errors or len(holding) != 1:
            return None
        peek = load_project([holding[0]], env=env)
        graph = options.graph_url or peek.provider.graph
        if graph == "sandbox":
            return None
        made = factory(peek, graph)
    except ReconcilerError:
        return None
    ad_account = peek.provider.ad_account
    reading = Ahead(lambda: live.read_live(made, ad_account), name="mmctl-live-ahead")
    return _ReadAhead(made, reading, graph, peek.provider.api_version, peek.root, ad_account)


def open_store(paths: Sequence[str], env: Mapping[str, str], store: StoreFactory | None = None) -> StateStore:
    """Only the state store of the project under ``paths`` (state commands need no client)."""
    return (store or store_factory(env))(load_project(paths or (".",), env=env))
