"""``mmctl preview``: a template rendered by Meta's ``generatepreviews``."""

from __future__ import annotations

from reconciler.commands.session import Session
from reconciler.errors import UsageError
from reconciler.kinds import template as template_kind
from reconciler.model import thaw


def preview(session: Session, template: str | None, campaign: str | None) -> tuple[str, str]:
    """The template (named, or the campaign's) rendered by ``generatepreviews``: (template key, iframe HTML)."""
    project = session.project
    if campaign is not None:
        key = campaign.removeprefix("campaign.")
        if key not in project.campaigns:
            raise UsageError(f"no campaign {key!r} in the manifests")
        template = project.campaigns[key].template
        if template is None:
            raise UsageError(f"campaign.{key} names no template to preview")
    if template is None:
        raise UsageError("name a template (mmctl preview TEMPLATE) or a campaign (--campaign NAME)")
    key = template.removeprefix("template.")
    if key not in project.templates:
        known = ", ".join(sorted(project.templates)) or "none"
        raise UsageError(f"no template {key!r} in the manifests (templates: {known})")
    provider = project.provider
    path, params = template_kind.preview_read(
        provider.ad_account, provider.page_id, thaw(project.templates[key].message)
    )
    return key, template_kind.parse_preview(session.client.get(path, params))
