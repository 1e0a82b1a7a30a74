"""A read cache that follows commits: what a read returned stays usable across writes that
do not change it (the DuckDB store, whose process owns the file and sees every commit).

An entry is what a read returned in the snapshot of data version v, with what it depends on:
the rollup rows of one scope id, or the views that start in a span of time. Each commit, as
it moves the version (under the store's commit lock), drops the entries its change reaches.
So an entry that is still present, read at v, is the answer at every version from v to now:
a reader that took version w >= v may use it; a reader of an older snapshot may not. A read
that began before a commit may finish after it: its entry is kept only if no commit since its
snapshot reached it, which a short log of recent changes tells; otherwise it is not kept, and
nothing stale is ever put back.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Callable, Generic, Hashable, Iterable, TypeVar

from moments.store.lru import LRUCache

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

LOG_LENGTH = 256  # recent changes kept per environment (a read slower than this many commits is not kept)


@dataclass(frozen=True)
class Rows:
    """Depends on the rollup rows of (rollup scope, scope id)."""

    scope: str
    scope_id: str


@dataclass(frozen=True)
class Views:
    """Depends on the views of `content` (content_ids) that start in [lo, hi) ms; with
    `open_only`, only on those in progress."""

    lo: int
    hi: int
    content: frozenset[str]
    open_only: bool = False


Depends = Rows | Views


def content_ids(kind: str, ids: Iterable[str | None]) -> set[str]:
    """Tags of content ids (kind: asset_id, playback_id, video_id), comparable across kinds."""
    return {f"{kind}:{i}" for i in ids if i is not None}


@dataclass(frozen=True)
class Change:
    """What one commit changed in one environment: the rollup rows of `rows`; views of
    `content` that start in [lo, hi] of `starts` (None: no view), some of them in progress
    (before or after) if `open_views`; `everything` for the rest (assets, expiry, rebuilt
    rollups)."""

    rows: frozenset[tuple[str, str]] = frozenset()
    starts: tuple[int, int] | None = None
    content: frozenset[str] = frozenset()
    open_views: bool = False
    everything: bool = False

    def reaches(self, depends: Depends) -> bool:
        if self.everything:
            return True
        if isinstance(depends, Rows):
            return (depends.scope, depends.scope_id) in self.rows
        return (self.starts is not None and self.starts[0] < depends.hi and self.starts[1] >= depends.lo
                and not self.content.isdisjoint(depends.content) and (self.open_views or not depends.open_only))

    def joined(self, other: "Change") -> "Change":
        spans = [span for span in (self.starts, other.starts) if span is not None]
        starts = (min(lo for lo, _ in spans), max(hi for _, hi in spans)) if spans else None
        return Change(self.rows | other.rows, starts, self.content | other.content,
                      self.open_views or other.open_views, self.everything or other.everything)


EVERYTHING = Change(everything=True)


@dataclass(frozen=True)
class Entry(Generic[V]):
    environment_id: str
    version: int  # the data version it was read at
    depends: Depends
    value: V


class FollowingCache(Generic[K, V]):
    """Entries of (key -> value read at a version), bounded like LRUCache by `budget` of `size`."""

    def __init__(self, budget: int, size: Callable[[V], int] = lambda _: 1) -> None:
        self._entries: LRUCache[K, Entry[V]] = LRUCache(budget, lambda entry: size(entry.value))
        self._log: dict[str, deque[tuple[int, Change]]] = {}
        self._lock = threading.Lock()  # `changed` and `put` one at a time: a put never misses a drop

    def get(self, key: K, version: int) -> V | None:
        """The value for a reader at `version` (of the key's environment), if cached for it."""
        entry = self._entries.get(key)
        return entry.value if entry is not None and entry.version <= version else None

    def put(self, key: K, environment_id: str, version: int, depends: Depends, value: V) -> None:
        """Keep what was read at `version`, unless a commit since then changed what it depends on."""
        with self._lock:
            log = self._log.get(environment_id, ())
            later = [change for at, change in log if at > version]
            if log and log[0][0] > version + 1 and len(log) == LOG_LENGTH:
                return  # commits since then fell off the log: unknown, so not kept
            if any(change.reaches(depends) for change in later):
                return
            self._entries.put(key, Entry(environment_id, version, depends, value))

    def changed(self, environment_id: str, version: int, change: Change,
                patch: Callable[[K, V], V | None] | None = None) -> None:
        """A commit made `version` of the environment with `change`: what it reached is dropped,
        or replaced by `patch(key, value)` (the value at `version`) unless that gives None or
        the change is `everything`. Called under the store's commit lock, before any reader can
        take that version."""
        with self._lock:
            self._log.setdefault(environment_id, deque(maxlen=LOG_LENGTH)).append((version, change))
            reached = self._entries.items_where(lambda _, entry: entry.environment_id == environment_id
                                                and change.reaches(entry.depends))
            for key, entry in reached:
                value = None if patch is None or change.everything else patch(key, entry.value)
                if value is None:
                    self._entries.discard(key)
                else:
                    self._entries.put(key, Entry(environment_id, version, entry.depends, value))
