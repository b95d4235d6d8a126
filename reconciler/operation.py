"""A Graph call as data: what the kinds and the reader build, and the client carries out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from reconciler.errors import GraphApiError

# Batch requests in flight at once unless --parallelism says otherwise. A request carries 50
# operations; Meta counts each operation against the rate limits, not the requests in flight, so
# this bounds the burst, not the load (Terraform's -parallelism is 10, Pulumi's 4 per core).
DEFAULT_PARALLELISM = 8

# Whether a call may be retried after an unclear failure: a create may have happened.
CallKind = Literal["read", "create", "update", "delete"]


def fields(*names: str, **nested: Sequence[str] | str) -> str:
    """``fields("id", adset=("name", "daily_budget"))`` -> ``id,adset{name,daily_budget}``."""
    parts = list(names)
    for name, inner in nested.items():
        parts.append(f"{name}{{{inner if isinstance(inner, str) else ','.join(inner)}}}")
    return ",".join(parts)


@dataclass(frozen=True)
class Operation:
    """One call in a batch; ``kind`` decides whether it may be retried after an unclear failure."""

    method: Literal["GET", "POST", "DELETE"]
    path: str  # relative, without version: "act_1/message_campaign", "120.../"
    params: Mapping[str, Any] = field(default_factory=dict)
    kind: CallKind = "read"


@dataclass(frozen=True)
class Result:
    operation: Operation
    body: Any = None
    error: GraphApiError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None
