"""What a resource kind is: the one interface the planner, the executor and the live reader use.

A kind holds everything mmctl knows that is particular to one sort of resource: how its desired
values come from the manifest, which Graph calls list, create, change and delete it, how an
answer is read, which changes force a replace, and what the server fills in. Code that plans,
applies or reads goes through this interface, looked up with ``kinds.spec(kind)``, so a new kind
is one new module plus its registration in ``kinds/__init__.py``, and an unknown kind is an
error instead of another kind's code. Everything here is pure: Graph calls are built as
``Operation`` values for the client to carry out.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar

from reconciler.errors import ManifestError, ReconcilerError, SourceLocation, UnexpectedAnswer
from reconciler.model import Project, freeze
from reconciler.operation import Operation
from reconciler.resources import Change, Desired, Kind, LiveObject, Op

F = TypeVar("F", bound=Callable[..., Any])


class UnknownKind(ReconcilerError):
    """A kind no module is registered for (a state file from a newer mmctl, or a bug)."""


class NotInAccount(ReconcilerError):
    """A Graph operation asked of a kind that lives only in state (templates)."""


def reads(what: str) -> Callable[[F], F]:
    """Make a parser of Graph answers raise ``UnexpectedAnswer`` (exit 1, with what was read) for an
    answer of the wrong shape or with values that cannot be read, instead of a bug's traceback."""

    def wrap(parse: F) -> F:
        @functools.wraps(parse)
        def parsed(*args: Any, **kwargs: Any) -> Any:
            try:
                return parse(*args, **kwargs)
            except (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError) as exc:
                detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)[:200] or type(exc).__name__
                raise UnexpectedAnswer(detail, method="", path=what) from exc

        return parsed  # type: ignore[return-value]

    return wrap


@dataclass(frozen=True)
class DesiredContext:
    """The facts desired values depend on beyond the manifest: the Page, the zone for times
    written without an offset, and the account's currency for money."""

    page_id: str
    zone: tzinfo
    currency: str
    where: SourceLocation  # for a problem in a block that has no location of its own
    messages: Mapping[str, Any] = field(
        default_factory=lambda: MappingProxyType({})
    )  # template key -> message: what a send delivers


@dataclass(frozen=True)
class FollowUp:
    """Changes a create cannot carry, made right after it, and the words to report them."""

    changes: Mapping[str, Any]
    verb: str  # "pause": the next apply pauses it
    gerund: str  # "pausing": pausing it failed
    done: str  # "paused"
    meanwhile: str  # "it is ACTIVE": what holds until it is done


class ResourceKind(abc.ABC):
    """The interface; the defaults suit a kind that lives in the account as one Graph object."""

    kind: ClassVar[Kind]
    section: ClassVar[str]  # the manifest section: "campaigns"
    in_account: ClassVar[bool] = True  # False: kept in state only (templates)
    # The values state keeps as last applied (None values are left out), written once per kind.
    applied_fields: ClassVar[frozenset[str]]
    # Read-only facts the server keeps moving on its own (spend, matching): shown and used for
    # money and warnings, never compared, never drift, never a reason to refuse a saved plan.
    live_only: ClassVar[frozenset[str]] = frozenset()
    has_members: ClassVar[bool] = False  # a member file is uploaded after the object is made

    # -- desired values

    def declared(self, project: Project) -> Mapping[str, Any]:
        """The project's resources of this kind, by key."""
        found: Mapping[str, Any] = getattr(project, self.section)
        return found

    @abc.abstractmethod
    def desired(self, item: Any, context: DesiredContext, problems: list[ManifestError]) -> Desired:
        """The desired values of one declared resource; a value that cannot be read is added to
        ``problems`` (all of a project's problems are reported together)."""

    def applied(self, values: Mapping[str, Any]) -> Mapping[str, Any]:
        """What state remembers as applied of ``values``."""
        kept: Mapping[str, Any] = freeze(
            {k: v for k, v in values.items() if k in self.applied_fields and v is not None}
        )
        return kept

    # -- reading the account

    def listing(self, ad_account: str) -> tuple[str, dict[str, Any]]:
        """The listing of every object of this kind in the account: (path, parameters)."""
        raise NotInAccount(f"{self.kind}s live only in state")

    def object_read(self) -> dict[str, Any]:
        """The parameters of ``GET /<id>`` that read one object as a listing row."""
        raise NotInAccount(f"{self.kind}s live only in state")

    def parse(self, row: Mapping[str, Any]) -> LiveObject | None:
        """A listing row as a live object; None for a row that is not of this kind."""
        raise NotInAccount(f"{self.kind}s live only in state")

    def related_reads(self, ad_account: str, object_id: str) -> tuple[tuple[str, dict[str, Any]], ...]:
        """Listing reads that find the object by the id of another object behind it (a campaign's
        ad set), for ``mmctl import``; each is (path, parameters) of a listing like ``listing``'s."""
        return ()

    # -- changing the account

    def create(self, ad_account: str, values: Mapping[str, Any]) -> Operation:
        raise NotInAccount(f"{self.kind}s live only in state")

    def updates(self, ids: Mapping[str, str], changes: Mapping[str, Any]) -> list[Operation]:
        """The calls that make ``changes`` (field -> new value) to the object."""
        raise NotInAccount(f"{self.kind}s live only in state")

    def delete(self, ids: Mapping[str, str]) -> Operation:
        if not self.in_account:
            raise NotInAccount(f"{self.kind}s live only in state")
        return Operation("DELETE", ids["id"], kind="delete")

    def as_created(self, applied: Mapping[str, Any]) -> tuple[Mapping[str, Any], FollowUp | None]:
        """What a confirmed create leaves in the account, and what is still to be done right after
        it (a create that cannot carry every field)."""
        return applied, None

    def ids_read(self, object_id: str) -> Operation:
        """After a create: the ids of every object behind the new one (here: the object alone)."""
        return Operation("GET", object_id, {"fields": "id"})

    def ids_listings(self, ad_account: str, object_ids: Sequence[str]) -> list[Operation]:
        """Reads of the ids behind many new objects at once (listings filtered by id), each answer
        a listing page of rows ``parse_ids`` reads; empty: each is read with ``ids_read``."""
        return []

    @reads("the id of a new object")
    def parse_ids(self, body: Mapping[str, Any]) -> dict[str, str]:
        return {"id": str(body["id"])}

    # -- plan rules

    def replace_reason(self, want: Desired, live: LiveObject, changed: set[str]) -> tuple[str, str] | None:
        """The field whose change forces a replace, and why; None when every change is in place."""
        if "page_id" in changed:
            return "page_id", "page_id cannot change in place: the object is deleted and created again for the new Page"
        return None

    def check_update(self, want: Desired, live: LiveObject, changes: Sequence[Change], now: int) -> None:
        """Raise PlanError for an in-place change the API would refuse (by default: none)."""
        return None

    def create_notes(self, want: Desired, now: int) -> tuple[str, ...]:
        """What the server fills in for a new object, and what to expect after apply."""
        return ()

    def update_notes(self, changes: Sequence[Change]) -> tuple[str, ...]:
        return ()

    def state_plan(
        self, want: Desired, applied: Mapping[str, Any] | None
    ) -> tuple[Op, str, tuple[Change, ...], tuple[str, ...]]:
        """For a kind kept in state only: (action, reason, changes, notes) against what state last
        kept (None: never applied)."""
        raise NotInAccount(f"{self.kind}s live in the account")
