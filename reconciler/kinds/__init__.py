"""The registry of resource kinds: which module holds each kind, and the order they are made in.

Creation runs in ``ordered()`` order (a campaign's template and audience exist before it, and
the campaign and the unsubscribes before the sends);
deletion in reverse. Every lookup goes through ``spec()``, which refuses a kind that is not
registered: a kind can never run another kind's code.
"""

from __future__ import annotations

from reconciler.kinds import audience, campaign, send, template, unsubscribe
from reconciler.kinds.base import ResourceKind, UnknownKind
from reconciler.resources import Kind

# Creation order. A new kind: its module, its member of ``Kind``, and its place here.
_ORDER: tuple[ResourceKind, ...] = (template.SPEC, audience.SPEC, campaign.SPEC, unsubscribe.SPEC, send.SPEC)
_BY_KIND: dict[str, ResourceKind] = {spec.kind.value: spec for spec in _ORDER}
RANK: dict[str, int] = {spec.kind.value: rank for rank, spec in enumerate(_ORDER)}
LIVE_ONLY = frozenset().union(*(spec.live_only for spec in _ORDER))


def spec(kind: str) -> ResourceKind:
    """The kind's module; UnknownKind for anything else."""
    found = _BY_KIND.get(str(kind))
    if found is None:
        known = ", ".join(_BY_KIND)
        raise UnknownKind(f"unknown resource kind {str(kind)!r} (this mmctl knows {known})")
    return found


def ordered() -> tuple[ResourceKind, ...]:
    return _ORDER


def in_account() -> tuple[ResourceKind, ...]:
    """The kinds that live in the ad account (read from the Graph API), in creation order."""
    return tuple(s for s in _ORDER if s.in_account)


def rank(kind: str) -> int:
    """The kind's place in creation order (UnknownKind for an unregistered kind)."""
    return RANK[spec(kind).kind.value]


assert set(_BY_KIND) == {k.value for k in Kind}, "every Kind has exactly one registered module"
