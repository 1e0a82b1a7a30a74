"""A response cache for engagement queries, exact by construction.

A query's result is a function of the request, the second it is asked in (windows and the
idle rule are computed at whole seconds) and the data; the key holds all three, the data
as the store's version counter, which every write moves. A store that cannot tell (several
processes writing) reports no version, and nothing is cached. Concurrent misses of one key
wait for a single computation instead of each running it (when the second turns, every
open connection asks at once).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Awaitable, Callable, Hashable


class ResponseCache:
    def __init__(self, max_entries: int = 2048) -> None:
        self.max_entries = max_entries
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()
        self._pending: dict[Hashable, asyncio.Future] = {}

    async def get_or_compute(self, key: Hashable, compute: Callable[[], Awaitable[bytes]]) -> bytes:
        body = self._items.get(key)
        if body is not None:
            self._items.move_to_end(key)
            return body
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            body = await compute()
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # marked retrieved: waiters (if any) re-raise it themselves
            raise
        finally:
            del self._pending[key]
        future.set_result(body)
        self._items[key] = body
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)
        return body
