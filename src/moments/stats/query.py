"""One engagement question: whose views, about which content, over which window, of which
viewers, asked when. The edge builds it once (the API's `api/query.py` dependency, the CLI's
query options) from parameters moments.params parsed; every stats function takes it, and the
response cache is keyed on it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from moments.filters import Filters
from moments.model import Environment, Scope
from moments.store.base import ViewQuery


@dataclass(frozen=True)
class EngagementQuery:
    environment: Environment
    scope: Scope | None  # None, with scope_id None: every view of the environment (the views export)
    scope_id: str | None
    window_s: tuple[int, int]  # the effective window, epoch seconds
    filters: Filters
    now_ms: int  # when it was asked (the API and CLI ask at whole seconds, so answers are cached per second)
    idle_timeout_s: float  # a view without an end counts once it has been quiet this long

    @property
    def now_s(self) -> int:
        return self.now_ms // 1000

    @property
    def key(self) -> tuple:
        """What the answer depends on, for caches (the environment by id: its other fields do not count)."""
        return (self.environment.environment_id, self.scope, self.scope_id, self.window_s, self.filters, self.now_ms,
                self.idle_timeout_s)

    def about(self, scope_id: str, window_s: tuple[int, int] | None = None) -> EngagementQuery:
        """The same question about another id of the same kind (and, given, over another window)."""
        return replace(self, scope_id=scope_id, window_s=window_s or self.window_s)

    def views(self) -> ViewQuery:
        """The store's selection of the views that count (a scope_id "" before a batch names its ids)."""
        assert self.scope is not None, "a scoped question"
        return ViewQuery(
            environment_id=self.environment.environment_id,
            scope=self.scope,
            scope_id=self.scope_id or "",
            start_ms=self.window_s[0] * 1000,
            end_ms=self.window_s[1] * 1000,
            idle_before_ms=self.now_ms - int(self.idle_timeout_s * 1000),
            filters=self.filters,
        )
