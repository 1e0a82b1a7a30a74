"""A least-recently-used cache with a bound, so lookups of made-up keys cannot grow memory
without end (a cached "not found" is an entry like any other)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Generic, Hashable, Iterable, Mapping, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_ABSENT = object()  # what get gives for a key that is not cached
LOOKUP_CACHE_ENTRIES = 10_000  # a store's bound per lookup cache (tokens, environments, assets, known ids)


class LRUCache(Generic[K, V]):
    """At most `budget` of values, each weighing `size(value)` (1 by default: a count of
    entries); the least recently used go first. Thread-safe: readers run on many threads."""

    def __init__(self, budget: int, size: Callable[[V], int] = lambda _: 1) -> None:
        self.budget, self.used = budget, 0
        self._size = size
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: K, default: V | None = None) -> V | None:
        """The cached value (which may be None: a cached miss), or `default` if there is none."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return default
            self._items.move_to_end(key)
            return item[0]

    def get_or_load(self, key: K, load: Callable[[], V], keep: Callable[[V], bool] = lambda _: True) -> V:
        """The cached value, else `load()`, remembered when `keep` says so (e.g. only what exists)."""
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
                return item[0]
        value = load()  # outside the lock: a slow load must not hold up other keys
        if keep(value):
            self.put(key, value)
        return value

    def get_or_load_many(self, keys: Iterable[K], load: Callable[[list[K]], Mapping[K, V]]) -> dict[K, V | None]:
        """The cached value of each key; those not cached come from one `load(missing)` call,
        and a key it does not answer is None. Everything is remembered (misses too)."""
        missing, found = [], {}
        for key in keys:
            found[key] = self.get(key, _ABSENT)
            if found[key] is _ABSENT:
                missing.append(key)
        if missing:
            loaded = load(missing)
            for key in missing:
                found[key] = loaded.get(key)
                self.put(key, found[key])
        return found

    def put(self, key: K, value: V) -> None:
        size = self._size(value)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.used -= old[1]
            self._items[key] = (value, size)
            self.used += size
            while self.used > self.budget and len(self._items) > 1:
                _, (_, freed) = self._items.popitem(last=False)
                self.used -= freed

    def discard(self, key: K) -> None:
        with self._lock:
            item = self._items.pop(key, None)
            if item is not None:
                self.used -= item[1]

    def items_where(self, predicate: Callable[[K, V], bool]) -> list[tuple[K, V]]:
        with self._lock:
            return [(k, value) for k, (value, _) in self._items.items() if predicate(k, value)]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.used = 0
