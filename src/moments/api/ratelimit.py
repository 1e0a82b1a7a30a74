"""Token buckets by key: `rate` per second sustained, `burst` at once (requests per
environment for the API; bytes per env key for beacons)."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after_s: float

    def headers(self) -> dict[str, str]:
        headers = {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.remaining)}
        if not self.allowed:
            headers["Retry-After"] = str(max(1, math.ceil(self.retry_after_s)))
        return headers


class RateLimiter:
    """Buckets of the `max_keys` keys used most recently: a key forgotten comes back with a full
    bucket, so the bound must exceed the keys active at once (keys are env keys, environments,
    or client addresses: a flood of made-up ones cannot grow the table)."""

    def __init__(self, clock=time.monotonic, max_keys: int = 100_000) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str, rate: float, burst: int, cost: float = 1.0) -> Decision:
        """Take `cost` tokens (at most `burst` are asked for at once: a cost past the burst
        could never be met)."""
        cost = min(cost, float(burst))
        now = self._clock()
        with self._lock:
            bucket = self._buckets.setdefault(key, _Bucket(float(burst), now))
            self._buckets.move_to_end(key)
            if len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
            bucket.tokens = min(float(burst), bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
            if bucket.tokens >= cost:
                bucket.tokens -= cost
                return Decision(True, burst, int(bucket.tokens), 0.0)
            return Decision(False, burst, 0, (cost - bucket.tokens) / rate)
