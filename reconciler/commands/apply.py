"""``mmctl apply``: carry out a plan just made, or a saved plan if it still says exactly what apply
would do now; and writing and reading saved plans (sealed with a digest, signed with
``MMCTL_PLAN_KEY``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from reconciler import planfile
from reconciler.atomic import replacing
from reconciler.commands.plan import plan
from reconciler.commands.provenance import apply_summary, git_commit
from reconciler.commands.session import Progress, Session
from reconciler.core.plan import Plan
from reconciler.core.review import differences
from reconciler.errors import ReconcilerError, UsageError
from reconciler.executor import Executor, Report
from reconciler.manifest import schema
from reconciler.manifest.discovery import display_path
from reconciler.render.plan import plan_digest as digest_of
from reconciler.render.plan import plan_from_json, plan_json
from reconciler.resources import Account


class StalePlan(ReconcilerError):
    """A saved plan no longer matches the state or the live account."""


def apply(
    session: Session, made: Plan, account: Account, progress: Progress, *, plan_digest: str | None = None
) -> Report:
    """Carry out a plan just made (the caller holds the lock since before planning), and add a
    version to the state's history saying who did what, from which commit and plan."""
    executor = Executor(
        session.client,
        session.store,
        session.store.read(),
        account,
        progress,
        members=session.members,
        recipients=session.recipients,
        optouts=session.optouts,
        unsubscribed=session.unsubscribed,
        sleep=session.sleep,
    )
    # The history names the plan by its digest; worked out while the first batches are in flight
    # (a tenth of a 10,000-create apply's own work), from the immutable plan, one action at a time.
    with ThreadPoolExecutor(max_workers=1) as aside:
        digest = aside.submit(lambda: plan_digest or digest_of(made))
        report = executor.run(made)
        if report.done or report.failed:
            session.store.record_version(
                "mmctl apply",
                apply_summary(made, {address for address, _ in report.done}, len(report.failed)),
                plan_digest=digest.result(),
                git_commit=git_commit(session.project.root),
            )
    return report


def save_plan(made: Plan, path: Path, env: Mapping[str, str]) -> bool:
    """Write the plan sealed with its digest (and signed when ``MMCTL_PLAN_KEY`` is set); True if signed."""
    key = planfile.plan_key(env)
    sealed = planfile.seal(plan_json(made), key)
    try:
        with replacing(path) as handle:
            handle.write(json.dumps(sealed, indent=2, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise UsageError(f"--out {path}: cannot write ({exc.strerror})") from exc
    return key is not None


def read_saved_plan(path: str, env: Mapping[str, str]) -> tuple[Plan, str]:
    """A saved plan whose digest (and, with ``MMCTL_PLAN_KEY``, signature) checks out, and that digest."""
    shown = display_path(Path(path))
    document = planfile.read_document(Path(path), shown)
    problems = schema.document_problems(document, "plan.schema.json")
    if problems:
        raise planfile.PlanFileError(f"{shown}: not a valid mmctl plan: " + "; ".join(problems))
    planfile.verify(document, planfile.plan_key(env), shown)
    return plan_from_json(document), str(document["integrity"]["digest"])


def replan(session: Session, saved: Plan) -> tuple[Plan, Account]:
    """The plan made now from the manifests, the state and the account, if it does exactly what
    ``saved`` says; StalePlan listing every difference otherwise. Apply carries out (and shows) the
    plan made now, never the file's own text."""
    provider = session.project.provider
    here = replace(saved, account=provider.ad_account, graph=session.graph, page_id=provider.page_id)
    elsewhere = differences(saved, here)
    if elsewhere:
        raise StalePlan("the saved plan was made for another target; nothing was changed:\n  " + "\n  ".join(elsewhere))
    fresh, account = plan(session, targets=saved.targets, refresh_only=saved.refresh_only, estimate=False)
    found = differences(saved, fresh)
    if found:
        shown = found[:40] + ([f"... and {len(found) - 40} more"] if len(found) > 40 else [])
        raise StalePlan(
            "the saved plan is stale: apply would now do something else than what was reviewed; nothing "
            "was changed:\n  " + "\n  ".join(shown) + "\nRun `mmctl plan --out FILE` again and review "
            "the new plan"
        )
    return fresh, account
