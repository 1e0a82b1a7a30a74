"""The reads a store caches when its process sees every commit (a DuckDB file; chdb, whose
folder one process opens): rollup running sums and raw pieces, kept across commits that do
not reach them (store/following.py says when an entry may be used).

The store supplies the engine's part: its reads of rollup rows and of views, and its commits,
which it reports here (`committed`) with what they changed (`Pending`). What a query on
registered grids needs is then put together here, with no SQL when everything is cached
(another window over content read before: the common case).
"""

from __future__ import annotations

import contextlib
import functools
import threading
from typing import Callable, ContextManager, Iterable, Iterator, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from moments.engagement.heatmap import bucket_count
from moments.model import Asset, RangeSet, Scope
from moments.store import rollups
from moments.store.base import Coverage, Grid, ViewQuery
from moments.store.following import EVERYTHING, Change, FollowingCache, Rows, Views, content_ids
from moments.store.pieces import Piece, ranges_by_id
from moments.store.prefix import RollupPrefix

PREFIX_CACHE_BYTES = 512 * 1024 * 1024
RAW_CACHE_BYTES = 128 * 1024 * 1024
PATCHED_KEYS_MAX = 512  # rollup rows a commit may add into cached running sums (more: they are read again)
ALWAYS_IDLE = 2**62  # an idle_before that every view passes
SCOPE_COLUMN = {Scope.ASSET: "asset_id", Scope.VIDEO: "video_id", Scope.PLAYBACK_ID: "playback_id"}

SumsKey = tuple[str, str, int]  # (rollup scope, scope id, duration)
Sums = dict[SumsKey, tuple[int, np.ndarray]]  # (views, (layers, B) coverage) of each key
# The engine's read of the running sums it misses: {key: layers} -> (key, layer, prefix) for each.
ReadPrefixes = Callable[[dict[SumsKey, list[str]]], Iterable[tuple[SumsKey, str, RollupPrefix]]]
# The engine's read of one raw piece: the candidate views of the ids (Piece.of's columns) that
# start in [depends.lo, depends.hi) and are in progress if depends.open_only, idle or not.
ReadPiece = Callable[[Views], Piece]


class Pending:
    """What an open write changes, per environment (`Change`), and the rollup deltas it applies."""

    def __init__(self) -> None:
        self.changes: dict[str, Change] = {}
        self.deltas: dict[str, list[rollups.RollupSteps]] = {}

    def note(self, environment_id: str, change: Change) -> None:
        self.changes[environment_id] = self.changes.get(environment_id, Change()).joined(change)

    def note_views(self, environment_id: str, views: pa.Table, were_open: bool = False) -> None:
        """Views written or removed (view_start_ms, view_end_ms and the content ids): their starts,
        content, and whether any is in progress (or `were_open`: it was, and is closed now)."""
        if views.num_rows:
            low, high = pc.min_max(views["view_start_ms"]).values()
            content = set().union(*(content_ids(kind, pc.unique(views[kind]).to_pylist())
                                    for kind in ("asset_id", "playback_id", "video_id")))
            open_views = were_open or views["view_end_ms"].null_count > 0
            self.note(environment_id, Change(starts=(low.as_py(), high.as_py()), content=frozenset(content),
                                             open_views=open_views))

    def note_deltas(self, environment_id: str, deltas: rollups.RollupSteps) -> None:
        """Rollup deltas (nonzero, of the partitions running sums are kept over) applied."""
        if deltas.keys:
            self.note(environment_id, Change(rows=frozenset((key[0], key[1]) for key in deltas.keys)))
            self.deltas.setdefault(environment_id, []).append(deltas)


class FollowedReads:
    """One store's data versions and the caches that follow them."""

    def __init__(self, prefix_bytes: int = PREFIX_CACHE_BYTES, raw_bytes: int = RAW_CACHE_BYTES) -> None:
        # A commit and the version it makes, and a reader's version (with, on DuckDB, its
        # snapshot), are taken under this short lock: a reader never sees a version whose
        # changes the caches have not followed yet.
        self.lock = threading.Lock()
        self.versions: dict[str, int] = {}
        self._prefixes: FollowingCache[tuple, RollupPrefix] = FollowingCache(prefix_bytes, lambda p: p.nbytes)
        self._raw: FollowingCache[tuple, Piece] = FollowingCache(raw_bytes, lambda piece: piece.nbytes)

    def version(self, environment_id: str) -> int:
        with self.lock:
            return self.versions.get(environment_id, 0)

    def committed(self, pending: Pending, touched: Iterable[str], noted: bool,
                  commit: Callable[[], None] = lambda: None) -> None:
        """A write's `commit()` (run under the lock) made a new version of each `touched`
        environment: with `noted`, the caches drop what `pending` reached (running sums take
        its deltas when they are few); else everything of those environments."""
        with self.lock:
            commit()
            for environment_id in touched:
                version = self.versions[environment_id] = self.versions.get(environment_id, 0) + 1
                change = pending.changes.get(environment_id, Change()) if noted else EVERYTHING
                self._prefixes.changed(environment_id, version, change,
                                       _prefix_patch(pending.deltas.get(environment_id, [])))
                self._raw.changed(environment_id, version, change)

    def sums(self, environment_id: str, keys: list[SumsKey], layers: tuple[str, ...], version: int,
             parts: tuple[int, int], read: ReadPrefixes | None = None) -> Sums | None:
        """(views, coverage of each of `layers`: a (layers, B) array) of the rollup rows of each
        key over the partitions [parts), from running sums cached (one per layer) for `version`.
        Those missing are read by `read` in the caller's snapshot of that version, and kept;
        without `read`, None if anything is not cached."""
        between: dict[tuple[SumsKey, str], tuple[int, np.ndarray]] = {}
        missing: dict[SumsKey, list[str]] = {}
        for key in keys:
            for layer in layers:
                prefix = self._prefixes.get((environment_id, *key, layer), version)
                if prefix is None:
                    missing.setdefault(key, []).append(layer)
                else:
                    between[key, layer] = prefix.between(*parts)
        if missing and read is None:
            return None
        if missing:
            for key, layer, prefix in read(missing):  # one key at a time: a round of peers never holds all
                self._prefixes.put((environment_id, *key, layer), environment_id, version, Rows(key[0], key[1]), prefix)
                between[key, layer] = prefix.between(*parts)
        return {key: (between[key, layers[0]][0], np.stack([between[key, layer][1] for layer in layers]))
                for key in keys}

    def coverage_parts(self, query: ViewQuery, grids: Mapping[str, Grid], grain: int, parts: tuple[int, int],
                       keys: list[SumsKey], layers: tuple[str, ...], content: frozenset[str],
                       snapshot: Callable[[str], ContextManager[int]], read_prefixes: ReadPrefixes,
                       read_piece: ReadPiece) -> tuple[Sums, dict[str, RangeSet]]:
        """The rollup sums of `keys` and each id's views read raw, for ids with registered
        durations, from running sums and raw pieces (`raw_pieces`) cached and followed across
        commits; the missing ones are read in one `snapshot` (of the environment's version).
        `content`: content_ids of the views the ids count."""
        environment_id = query.environment_id
        pieces = raw_pieces(query, grids, grain, parts, content)
        version = self.version(environment_id)
        sums = self.sums(environment_id, keys, layers, version, parts)
        cached = [self._raw.get(key, version) for key, _ in pieces]
        if sums is None or any(piece is None for piece in cached):
            with snapshot(environment_id) as version:
                sums = self.sums(environment_id, keys, layers, version, parts, read_prefixes)
                cached = [self._piece(environment_id, key, depends, version, read_piece) for key, depends in pieces]
        # The views in progress count in the whole partitions; the edges' views in the window.
        picked = [(piece, piece.counted(*(parts if depends.open_only else (query.start_ms, query.end_ms)),
                                        query.idle_before_ms)) for piece, (_, depends) in zip(cached, pieces)]
        return sums, ranges_by_id(picked, grids)

    def _piece(self, environment_id: str, key: tuple, depends: Views, version: int, read: ReadPiece) -> Piece:
        cached = self._raw.get(key, version)
        if cached is not None:
            return cached
        piece = read(depends)
        self._raw.put(key, environment_id, version, depends, piece)
        return piece

    @contextlib.contextmanager
    def snapshot(self, environment_id: str) -> Iterator[int]:
        """A snapshot for an engine without them (ClickHouse): the version, read as it stands.
        What a write in progress changes is dropped when it commits, so nothing it half made
        is kept."""
        yield self.version(environment_id)


def raw_pieces(query: ViewQuery, grids: Mapping[str, Grid], grain: int, parts: tuple[int, int],
               content: frozenset[str]) -> list[tuple[tuple, Views]]:
    """(cache key, what it depends on) of each piece the raw side of a query on registered grids
    is picked from: each partition of `grain` the window only partly covers, and, if it spans
    whole partitions, the ids' views in progress."""
    shape = (query.environment_id, query.scope, query.filters, tuple(sorted(grids)))
    first, (p0, p1) = int(rollups.partition_of(query.start_ms, grain)), parts
    edges = sorted(set(range(first, p0, grain)) | set(range(p1, query.end_ms, grain)))
    pieces = [((*shape, "edge", grain, edge), Views(edge, edge + grain, content)) for edge in edges]
    if p0 < p1:
        pieces.append(((*shape, "open"), Views(-ALWAYS_IDLE, ALWAYS_IDLE, content, open_only=True)))
    return pieces


def counted_content(scope: Scope, scope_ids: Iterable[str], assets: Mapping[str, Asset | None]) -> frozenset[str]:
    """content_ids of the views the scope ids count: an asset's own and its playback IDs'
    (`assets`: the ids' assets, for Scope.ASSET)."""
    if scope is not Scope.ASSET:
        return frozenset(content_ids(SCOPE_COLUMN[scope], scope_ids))
    return frozenset(content_ids("asset_id", scope_ids) | content_ids(
        "playback_id", [playback_id for asset in assets.values() if asset for playback_id in asset.playback_ids]))


def summed_coverages(plan: rollups.RollupPlan, grids: Mapping[str, Grid], layers: tuple[str, ...], sums: Sums,
                     raw: Mapping[str, RangeSet]) -> dict[str, Coverage]:
    """Each id's Coverage: its rollup sums of the plan's terms, signed, and its views read raw."""
    coverages = {}
    for scope_id, grid in grids.items():
        n_views, coverage = 0, np.zeros((len(layers), bucket_count(grid.duration_ms)), dtype=np.int64)
        for term, sign in plan.terms:
            n, c = sums[(term, scope_id, grid.duration_ms)]
            n_views, coverage = n_views + sign * n, coverage + sign * c
        coverages[scope_id] = rollups.coverage(n_views, coverage, raw[scope_id])
    return coverages


def _prefix_patch(deltas: list[rollups.RollupSteps]) -> Callable[[tuple, RollupPrefix], RollupPrefix | None]:
    """How a commit's rollup deltas update a cached running sum they reach: added to it when
    they are few (live views completing), else (an import) None: it is read again when asked for."""

    @functools.cache  # under the commit lock: only if a cached sum is reached, and once
    def rows() -> dict[tuple[str, str, int], list[tuple[int, int, np.ndarray]]] | None:
        steps = rollups.RollupSteps.summed([(delta, 1) for delta in deltas])
        if len(steps.keys) > PATCHED_KEYS_MAX:
            return None
        by_key: dict[tuple[str, str, int], list[tuple[int, int, np.ndarray]]] = {}
        for (scope, scope_id, partition, duration), (n, coverage) in steps.dense().items():
            by_key.setdefault((scope, scope_id, duration), []).append((partition, n, coverage))
        return by_key

    def patch(key: tuple, prefix: RollupPrefix) -> RollupPrefix | None:
        if rows() is None:
            return None
        _, scope, scope_id, duration, layer = key
        mine = rows().get((scope, scope_id, duration))
        if not mine:
            return prefix  # the scope's rows on another grid changed, not these
        partitions, n, coverage = zip(*mine)
        layer_rows = np.stack([c[rollups.LAYERS.index(layer)] for c in coverage])
        return prefix.plus(np.array(partitions, dtype=np.int64), np.array(n, dtype=np.int64), layer_rows)

    return patch
