"""The desired state: a project's resources as the normalised values the planner compares.

Each kind builds its own values (``kinds/<kind>.py``): money becomes minor units of the ad
account's currency, times become Unix seconds (a time written without an offset is read in
``provider.timezone``, else the account's zone), and the Page comes from the provider block.
Pure: the account facts are passed in.
"""

from __future__ import annotations

from reconciler import kinds
from reconciler.errors import ManifestError, ManifestErrors, SourceLocation
from reconciler.kinds.base import DesiredContext
from reconciler.model import Project
from reconciler.resources import Account, Desired
from reconciler.timeparse import load_zone


def desired_state(project: Project, account: Account) -> dict[str, Desired]:
    """Every resource of ``project``, in creation order; ManifestErrors when an amount or time
    cannot be read."""
    problems: list[ManifestError] = []
    context = DesiredContext(
        page_id=project.provider.page_id,
        zone=load_zone(project.provider.timezone or account.timezone_name),
        currency=account.currency,
        where=SourceLocation(project.root.name),
        messages={key: template.message for key, template in project.templates.items()},
    )
    out: dict[str, Desired] = {}
    for spec in kinds.ordered():
        for _, item in sorted(spec.declared(project).items()):
            made = spec.desired(item, context, problems)
            out[made.address] = made
    if problems:
        raise ManifestErrors(problems)
    return out
