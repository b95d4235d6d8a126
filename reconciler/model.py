"""The desired resources, as immutable values.

Built by ``manifest.load_project`` once every check has passed, so code that receives a
``Project`` can rely on it: references resolve, names are unique, times and budgets are of
the documented forms. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

from reconciler.errors import ManifestError, SourceLocation

DEFAULT_GRAPH = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v24.0"
DEFAULT_STATE_PATH = ".mmctl/state.db"
DEFAULT_STATE_SCHEMA = "mmctl"
STATE_BACKENDS = ("sqlite", "postgres")
SANDBOX_DATA = Path(".mmctl") / "sandbox.json"  # where `graph: sandbox` keeps its objects, beside the manifests

Money = int | str  # minor units, or "50.00 USD" (converted once the account currency is known)
Time = int | str  # Unix seconds, or ISO 8601 as written


def freeze(value: Any) -> Any:
    """A read-only deep copy of plain YAML data (mappings become MappingProxyType)."""
    if isinstance(value, dict):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    return value


_PLAIN = frozenset({str, int, float, bool, type(None)})


def thaw(value: Any) -> Any:
    """Plain dicts and lists again, e.g. to send a template as JSON."""
    # Exact types first: the ABC check costs more than the copy, and every state write thaws
    # every value it writes (10,000 campaigns are 200,000 values).
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is MappingProxyType or kind is dict or isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


class Addressed:
    """A resource with an address such as ``campaign.winter-sale``."""

    KIND: ClassVar[str]
    key: str

    @property
    def address(self) -> str:
        return f"{self.KIND}.{self.key}"


@dataclass(frozen=True)
class Provider:
    ad_account: str
    page_id: str
    graph: str = DEFAULT_GRAPH
    api_version: str = DEFAULT_API_VERSION
    timezone: str | None = None
    location: SourceLocation | None = None
    # Guardrails, reviewed like everything else: money as written (converted once the currency is known).
    max_daily_budget: Money | None = None
    max_lifetime_budget: Money | None = None
    max_total_daily_budget: Money | None = None
    max_send_recipients: int | None = None


@dataclass(frozen=True)
class Template(Addressed):
    KIND: ClassVar[str] = "template"
    key: str
    message: Mapping[str, Any]
    description: str | None = None
    location: SourceLocation | None = None


@dataclass(frozen=True)
class Members:
    file: Path
    hashed: bool = False
    default_country: str | None = None


@dataclass(frozen=True)
class Audience(Addressed):
    KIND: ClassVar[str] = "audience"
    key: str
    name: str
    description: str | None = None
    members: Members | None = None
    protect: bool = False
    location: SourceLocation | None = None


@dataclass(frozen=True)
class Campaign(Addressed):
    KIND: ClassVar[str] = "campaign"
    key: str
    name: str
    daily_budget: Money | None = None
    lifetime_budget: Money | None = None
    start_time: Time | None = None
    end_time: Time | None = None
    pixel_id: str | None = None
    status: str | None = None
    template: str | None = None
    audience: str | None = None
    protect: bool = False
    location: SourceLocation | None = None
    # The fields written in the manifest: only these are ever compared with live values.
    fields_set: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Send(Addressed):
    """A template delivered through a campaign to the subscribers of audiences, each at most once.

    ``template`` and ``audiences`` are resolved here: written on the send, or the campaign's
    defaults (``Campaign.template`` / ``Campaign.audience``)."""

    KIND: ClassVar[str] = "send"
    key: str
    campaign: str
    template: str
    audiences: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    not_before: Time | None = None
    min_conversation_gap_seconds: int | None = None
    location: SourceLocation | None = None


@dataclass(frozen=True)
class Unsubscribes:
    """People kept unsubscribed from the Page's marketing messages (the ``unsubscribes`` block)."""

    KIND: ClassVar[str] = "unsubscribe"
    file: Path
    hashed: bool = False
    default_country: str | None = None
    location: SourceLocation | None = None
    key: str = "page"  # one list, for the provider's Page

    @property
    def address(self) -> str:
        return f"{self.KIND}.{self.key}"


@dataclass(frozen=True)
class StateConfig:
    """Where state lives (the ``state:`` block): an SQLite file beside the manifests by default, or
    a PostgreSQL database shared by a team and its CI."""

    path: Path  # the SQLite database (absolute)
    backend: str = "sqlite"  # sqlite | postgres
    url: str | None = None  # PostgreSQL connection string: a secret, never printed (else MMCTL_STATE_URL, PG*)
    schema: str = DEFAULT_STATE_SCHEMA  # the PostgreSQL schema that holds mmctl's tables
    key: str = ""  # which state of the database: the ad account unless the manifest names one

    def __repr__(self) -> str:  # the connection string may carry a password
        return (
            f"StateConfig(backend={self.backend!r}, path={str(self.path)!r}, schema={self.schema!r}, key={self.key!r})"
        )


@dataclass(frozen=True)
class Project:
    """Everything the manifests under one root declare."""

    root: Path
    provider: Provider
    state: StateConfig
    files: tuple[str, ...]
    templates: Mapping[str, Template] = field(default_factory=lambda: MappingProxyType({}))
    audiences: Mapping[str, Audience] = field(default_factory=lambda: MappingProxyType({}))
    campaigns: Mapping[str, Campaign] = field(default_factory=lambda: MappingProxyType({}))
    sends: Mapping[str, Send] = field(default_factory=lambda: MappingProxyType({}))
    unsubscribes: Unsubscribes | None = None
    # What Meta accepts but a reviewer should see (an http:// image): ManifestErrors used as warnings.
    warnings: tuple[ManifestError, ...] = ()

    @property
    def state_path(self) -> Path:
        return self.state.path
