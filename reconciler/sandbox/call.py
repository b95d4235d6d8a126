"""One API call as a handler sees it: the world, the parameters, and helpers for answering."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from .config import SandboxConfig
from .errors import invalid_parameter
from .fields import Field, NodeType, parse_fields, select
from .paging import DEFAULT_LIMIT, MAX_LIMIT, link_builder, page, page_from, read_limit
from .params import Params
from .store import World


@dataclass
class Call:
    world: World
    config: SandboxConfig
    method: str
    params: Params
    base_url: str  # scheme://host/version/path, for paging links
    query: dict[str, str]
    seed: int  # drawn per call from the sandbox's seeded generator, so a run is reproducible

    @cached_property
    def rng(self) -> random.Random:
        # Built on first use: few calls draw anything, and seeding a generator costs more than most calls.
        return random.Random(self.seed)

    @property
    def now(self) -> float:
        return self.world.now()

    def fields(self) -> tuple[Field, ...] | None:
        return parse_fields(self.params.text("fields"))

    def only(self, allowed: set[str]) -> None:
        """Refuse parameters an endpoint does not take, as the Marketing API does."""
        extra = sorted(self.params.endpoint_keys() - allowed)
        if extra:
            raise invalid_parameter(f"Param {extra[0]} is not a valid parameter for this endpoint")

    def listing_from(
        self,
        stream: Callable[[int | None], Iterable[dict[str, Any]]],
        node_type: NodeType,
        *,
        key: Callable[[dict[str, Any]], int] = lambda obj: int(obj["id"]),
    ) -> dict[str, Any]:
        """A page of ``stream(after_id)`` (the matching objects after an id, ascending), read only
        as far as the page needs; a ``before`` cursor reads the whole listing."""
        if self.params.text("before"):
            return self.listing(list(stream(None)), node_type, key=key)
        fields = self.fields()
        return page_from(
            stream,
            key,
            lambda obj: select(node_type, obj, fields),
            limit=read_limit(self.params.integer("limit"), default=DEFAULT_LIMIT, maximum=MAX_LIMIT),
            after=self.params.text("after"),
            link=link_builder(self.base_url, self.query),
        )

    def listing(
        self,
        items: Sequence[dict[str, Any]],
        node_type: NodeType,
        *,
        default_limit: int = DEFAULT_LIMIT,
        max_limit: int = MAX_LIMIT,
        strict_limit: bool = False,
        key: Callable[[dict[str, Any]], int] = lambda obj: int(obj["id"]),
        render: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        fields = self.fields()
        limit = read_limit(self.params.integer("limit"), default=default_limit, maximum=max_limit, strict=strict_limit)
        return page(
            items,
            key,
            render or (lambda obj: select(node_type, obj, fields)),
            limit=limit,
            after=self.params.text("after"),
            before=self.params.text("before"),
            link=link_builder(self.base_url, self.query),
        )
