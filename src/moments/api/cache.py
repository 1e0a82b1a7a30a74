"""A response cache for engagement queries, exact by construction.

A query's result is a function of the request, the second it is asked in (windows and the
idle rule are computed at whole seconds) and the data; the key holds all three, the data
as the store's version counter, which every write moves. A store that cannot tell (several
processes writing) reports no version, and nothing is cached.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Hashable


class ResponseCache:
    def __init__(self, max_entries: int = 2048) -> None:
        self.max_entries = max_entries
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            body = self._items.get(key)
            if body is not None:
                self._items.move_to_end(key)
            return body

    def put(self, key: Hashable, body: bytes) -> None:
        with self._lock:
            self._items[key] = body
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)
