"""Each environment's share of the worker threads, for the expensive queries.

Every request's blocking work runs on one pool of threads that all environments share
(anyio's default limiter, 40 threads). /relative and /compare hold a thread for as long as
they run, so one environment sending them within its rate limit could fill the pool and make
every other environment's requests queue behind it. A share bounds how many of one
environment's expensive queries run at once; past it the request is refused at once (429 with
Retry-After) instead of queued, so the environment's own later requests do not pile up either.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

from moments.api.errors import RateLimited

EXPENSIVE_PER_ENVIRONMENT = 2  # of one environment's /relative and /compare computations at once


class WorkerShares:
    """Counts of running expensive queries per environment (touched on the event loop only)."""

    def __init__(self, per_environment: int = EXPENSIVE_PER_ENVIRONMENT) -> None:
        self.per_environment = per_environment
        self._running: dict[str, int] = {}

    def running(self, environment_id: str) -> int:
        return self._running.get(environment_id, 0)

    @contextlib.contextmanager
    def slot(self, environment_id: str, headers: dict[str, str]) -> Iterator[None]:
        """Hold one of the environment's slots, or raise RateLimited (with `headers`) when all are taken."""
        running = self.running(environment_id)
        if running >= self.per_environment:
            raise RateLimited({**headers, "Retry-After": "1"})
        self._running[environment_id] = running + 1
        try:
            yield
        finally:
            self._running[environment_id] -= 1
            if not self._running[environment_id]:
                del self._running[environment_id]
