"""Markdown plans keep what matters at any size: header, summary, money totals, every warning; only
the per-resource table and details are cut, with "and N more"."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from reconciler.core.plan import Action, Plan, Spend, SpendLine
from reconciler.render.plan import MARKDOWN_LIMIT, error_markdown, plan_markdown
from reconciler.resources import Change, Kind, Op


def big_plan(n: int, graph: str = "https://graph.facebook.com") -> Plan:
    actions = tuple(
        Action(
            f"campaign.c{i}",
            Kind.CAMPAIGN,
            Op.CREATE,
            "not in the account yet",
            changes=(
                Change("name", None, f"Campaign {i} with a long enough name"),
                Change("daily_budget", None, 500 + i),
            ),
            after=MappingProxyType({"name": f"Campaign {i}", "daily_budget": 500 + i}),
        )
        for i in range(n)
    )
    lines = tuple(SpendLine(f"campaign.c{i}", None, 500 + i, new=True) for i in range(n))
    total = sum(500 + i for i in range(n))
    spend = Spend(lines, 0, total, daily_budgets_after=total)
    warnings = tuple(f"campaign.c{i}: daily_budget is close to the guardrail" for i in range(0, n, max(1, n // 5)))
    return Plan("act_1", graph, "USD", actions, spend=spend, warnings=warnings, state_backend="postgres", state_key="k")


@pytest.mark.parametrize("n", [10, 1_000, 10_000])
def test_the_essentials_always_fit_and_only_details_are_cut(n):
    made = big_plan(n)
    text = plan_markdown(made)
    assert len(text) < MARKDOWN_LIMIT
    assert text.startswith(f"### mmctl plan for `act_1`\n\n**Plan: {n} to create, 0 to update")
    assert "<sub>via production: https://graph.facebook.com · postgres state k, serial 0</sub>" in text
    total = sum(500 + i for i in range(n))
    assert f"  Total: 0.00 USD → {total // 100:,}.{total % 100:02d} USD a day" in text
    assert "weekly cap" in text
    for warning in made.warnings:
        assert f"> ⚠️ {warning}" in text
    if n == 10:
        assert "… and" not in text and text.count("<details>") == 10
    else:
        assert "… and " in text and "more resources: `mmctl plan --format json`" in text
        assert f"  … and {n - 25:,} more (`mmctl plan` shows each)" in text


def test_the_endpoint_is_said_in_words():
    assert "via the built-in sandbox (no real account)" in plan_markdown(big_plan(1, "sandbox"))
    assert "via a Graph API at http://127.0.0.1:8765" in plan_markdown(big_plan(1, "http://127.0.0.1:8765"))


def test_a_failed_plan_has_a_comment_body_too():
    body = error_markdown("Error: c.yaml:4:19: campaigns.broken.daily_budget: expected an amount greater than 0")
    assert body.startswith("### mmctl plan failed\n\nNothing was planned or changed.\n\n```\nError: c.yaml:4:19:")
    assert len(error_markdown("x" * 200_000)) < MARKDOWN_LIMIT
