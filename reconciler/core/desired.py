"""The desired state: a project's resources as the normalised values the planner compares.

Money becomes minor units of the ad account's currency, times become Unix seconds (a time
written without an offset is read in ``provider.timezone``, else the account's zone), and the
Page comes from the provider block. Pure: the account facts are passed in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from reconciler.errors import ManifestError, ManifestErrors, SourceLocation
from reconciler.graph.graphmap import Account
from reconciler.model import Project, thaw
from reconciler.money import MoneyError, to_minor
from reconciler.timeparse import TimeError, load_zone, parse_instant

ORDER = {"template": 0, "audience": 1, "campaign": 2}  # creation order; deletes run in reverse


@dataclass(frozen=True)
class Desired:
    address: str
    kind: str
    values: Mapping[str, Any]
    compared: frozenset[str]  # only fields written in the manifest are compared with live values
    protect: bool = False
    location: SourceLocation | None = None

    @property
    def name(self) -> str | None:
        value = self.values.get("name")
        return str(value) if value is not None else None


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def desired_state(project: Project, account: Account) -> dict[str, Desired]:
    """Every resource of ``project``; ManifestErrors when an amount or time cannot be read."""
    problems: list[ManifestError] = []
    out: dict[str, Desired] = {}
    page = project.provider.page_id
    zone = load_zone(project.provider.timezone or account.timezone_name)

    for template in project.templates.values():
        message = thaw(template.message)
        out[template.address] = Desired(
            template.address,
            "template",
            MappingProxyType({"message": message, "digest": digest(message)}),
            frozenset({"digest"}),
            location=template.location,
        )
    for audience in project.audiences.values():
        fields = {"name": audience.name, "description": audience.description, "page_id": page}
        compared = {"name", "page_id"} | ({"description"} if audience.description is not None else set())
        out[audience.address] = Desired(
            audience.address,
            "audience",
            MappingProxyType(fields),
            frozenset(compared),
            audience.protect,
            audience.location,
        )
    for campaign in project.campaigns.values():
        where = campaign.location or SourceLocation(project.root.name)
        values: dict[str, Any] = {
            "name": campaign.name,
            "page_id": page,
            "status": campaign.status,
            "pixel_id": campaign.pixel_id,
            "template": campaign.template,
            "audience": campaign.audience,
        }
        for key in ("daily_budget", "lifetime_budget"):
            raw = getattr(campaign, key)
            try:
                values[key] = to_minor(raw, account.currency) if raw is not None else None
            except MoneyError as exc:
                problems.append(ManifestError(where, ("campaigns", campaign.key, key), str(exc)))
        for key in ("start_time", "end_time"):
            raw = getattr(campaign, key)
            try:
                values[key] = int(parse_instant(raw, zone).timestamp()) if raw is not None else None
            except TimeError as exc:
                problems.append(ManifestError(where, ("campaigns", campaign.key, key), str(exc)))
        compared = (
            set(campaign.fields_set)
            & {"name", "status", "daily_budget", "lifetime_budget", "start_time", "end_time", "pixel_id"}
        ) | {"name", "page_id"}
        out[campaign.address] = Desired(
            campaign.address,
            "campaign",
            MappingProxyType(values),
            frozenset(compared),
            campaign.protect,
            campaign.location,
        )
    if problems:
        raise ManifestErrors(problems)
    return dict(sorted(out.items(), key=lambda item: (ORDER[item[1].kind], item[0])))
