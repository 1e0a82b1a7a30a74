"""Rollups: coverage pre-summed per scope, time partition and bucket grid.

A completed, counted view adds, to each scope it belongs to (its asset, by id or through a
registered playback ID; its playback ID; its video ID) and to the partition its view started
in, its exact B-scaled coverage per bucket of each layer of `engagement.heatmap.coverage_layers`
(LAYERS: what it watched, what it watched after arriving mid-way, where it was present) on
the bucket grid of the duration that scope's heatmap will use:
- assets and playback IDs of a registered asset: the registered duration;
- anything else: the duration the view reported (a query then sums the rows of the
  median duration, and reads views of other durations raw).
Everything is an integer, so adding, subtracting (a replaced view) and summing partitions
give exactly what computing from the raw views gives. This module is engine-neutral: a
backend feeds it views as Arrow and stores the rows it returns.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, fields
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from moments.engagement.heatmap import MAX_BUCKETS, CoverageLayers, bucket_count, layer_coverages, merged_coverage
from moments.filters import Filters, grouped
from moments.model import DIMENSIONS, RangeSet
from moments.store.base import Coverage, ViewQuery

# Rollup partitions: short enough that the partial partitions at a window's ends, read raw,
# hold few views even at millions of views a month.
PARTITION_MS = 300_000
# Slice rows: a scope's coverage restricted to one value of one of the view row's DIMENSIONS,
# so that a filter on that dimension (`country:US`, `!device_type:tv`) sums rows instead of reading
# views. Hour partitions: 5-minute ones would multiply the rows by the values seen in every
# partition. Custom dimensions may have any number of values (user ids): they get none.
SLICE_PARTITION_MS = 3_600_000
# The coverage layers a rollup row holds, by name; a step's layer is its index here. All are
# sums of per-view interval coverages, so rows of every layer add and subtract alike.
LAYERS = tuple(field.name for field in fields(CoverageLayers))  # watched, landed, present
N_LAYERS = len(LAYERS)


@dataclass(frozen=True)
class AssetIndex:
    """Registered durations, by asset id and by playback ID (with the playback ID's asset)."""

    asset_duration: dict[str, int]
    playback_asset: dict[str, tuple[str, int]]


RollupKey = tuple[str, str, int, int]  # scope, scope_id, partition_ms, duration_ms


def partition_of(ms: np.ndarray | int, grain: int = PARTITION_MS):
    return (ms // grain) * grain


def step_columns(layer: str) -> tuple[str, str]:
    """The columns of RollupSteps.to_arrow (DuckDB's rollups table) that hold a layer's steps."""
    return f"{layer}_buckets", f"{layer}_steps"


def slice_scope(scope: str, dimension: str, value: str) -> str:
    """The rollup scope of a scope's views with one value of a dimension ("asset|country|US")."""
    return f"{scope}|{dimension}|{value}"


def base_scope(rollup_scope: str) -> str:
    return rollup_scope.split("|", 1)[0]


def dictionary_codes(column: pa.ChunkedArray) -> tuple[np.ndarray, list]:
    """(codes, values): dictionary codes per row (-1 for null) and the distinct values."""
    dictionary = pc.dictionary_encode(column).combine_chunks()
    codes = dictionary.indices.to_numpy(zero_copy_only=False)
    codes = np.where(dictionary.is_valid().to_numpy(zero_copy_only=False), codes, -1).astype(np.int64)
    return codes, dictionary.dictionary.to_pylist()


def _scope_pairs(views: pa.Table, index: AssetIndex) -> list[tuple[str, np.ndarray, list[str], np.ndarray, np.ndarray]]:
    """Per scope: (scope, view indices, ids, id codes, grid durations) of the (view, scope id) pairs."""
    durations = views["duration_ms"].to_numpy()
    asset_codes, asset_ids = dictionary_codes(views["asset_id"])
    playback_codes, playback_ids = dictionary_codes(views["playback_id"])
    video_codes, video_ids = dictionary_codes(views["video_id"])
    asset_registered = np.array([index.asset_duration.get(a, 0) for a in asset_ids] + [0], dtype=np.int64)
    owners = [index.playback_asset.get(p) for p in playback_ids]
    owner_registered = np.array([o[1] if o else 0 for o in owners] + [0], dtype=np.int64)
    # Assets reached through a playback ID, coded after the views' own asset ids.
    owner_ids = sorted({o[0] for o in owners if o} - set(asset_ids))
    all_assets = asset_ids + owner_ids
    position = {a: i for i, a in enumerate(all_assets)}
    owner_codes = np.array([position[o[0]] if o else -1 for o in owners] + [-1], dtype=np.int64)

    def registered_or_reported(registered: np.ndarray) -> np.ndarray:
        return np.where(registered > 0, registered, durations)

    own = np.flatnonzero(asset_codes >= 0)
    with_playback = np.flatnonzero(playback_codes >= 0)
    via = with_playback[(owner_codes[playback_codes[with_playback]] >= 0)
                        & (owner_codes[playback_codes[with_playback]] != asset_codes[with_playback])]
    via_codes = owner_codes[playback_codes[via]]
    via_registered = np.array([index.asset_duration.get(a, 0) for a in all_assets] + [0], dtype=np.int64)
    videos = np.flatnonzero(video_codes >= 0)
    return [
        ("asset", np.concatenate((own, via)), all_assets, np.concatenate((asset_codes[own], via_codes)),
         np.concatenate((registered_or_reported(asset_registered[asset_codes])[own],
                         np.where(via_registered[via_codes] > 0, via_registered[via_codes], durations[via])))),
        ("playback_id", with_playback, playback_ids, playback_codes[with_playback],
         registered_or_reported(owner_registered[playback_codes])[with_playback]),
        ("video", videos, video_ids, video_codes[videos], durations[videos]),
    ]


def _groups(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Distinct rows of the columns (one array per column) and each row's group number
    (one 1-D sort, not a row sort)."""
    key = np.zeros(columns[0].size, dtype=np.int64)
    values = []
    for column in columns:
        distinct, codes = np.unique(column, return_inverse=True)
        key = key * distinct.size + codes.reshape(-1)
        values.append(distinct)
    groups, group_of_row = np.unique(key, return_inverse=True)
    # Decode the mixed-radix key back into column values.
    codes = np.unravel_index(groups, [distinct.size for distinct in values])
    return [distinct[code] for distinct, code in zip(values, codes)], group_of_row.reshape(-1)


@dataclass(frozen=True)
class RollupSteps:
    """Rollup rows, columnar. Key i holds n_views[i] views; each of its coverage layers is kept
    as the nonzero steps of its first difference (coverage = running sum of the steps over the
    buckets): the few views of a partition change the coverage at few buckets, so a row costs
    what its views add (at most B steps a layer) instead of B values. Exact integers, so rows
    add and subtract like the coverage they stand for. Steps are ordered by key, then layer
    (index in LAYERS), then bucket."""

    keys: list[RollupKey]
    n_views: np.ndarray  # (K,) int64
    row: np.ndarray  # (S,) int64: the key of each step, ascending
    layer: np.ndarray  # (S,) int64: its layer, ascending within a key
    bucket: np.ndarray  # (S,) int64
    step: np.ndarray  # (S,) int64

    @classmethod
    def empty(cls) -> "RollupSteps":
        nothing = np.zeros(0, dtype=np.int64)
        return cls([], nothing, nothing, nothing, nothing, nothing)

    @classmethod
    def summed(cls, parts: list[tuple["RollupSteps", int]]) -> "RollupSteps":
        """The sum of parts, each times its sign: one key per distinct key, steps that cancel
        dropped. Parts are sums themselves (distinct keys, summed steps), so only the keys in
        more than one part are added up; the others are taken as they are."""
        parts = [(part, sign) for part, sign in parts if part.keys]
        if len(parts) == 1 and parts[0][1] == 1:
            return parts[0][0]
        seen = Counter(key for part, _ in parts for key in part.keys)
        alone = [np.array([seen[key] == 1 for key in part.keys], dtype=bool) for part, _ in parts]
        return cls.concatenated([part.where(keep).times(sign) for (part, sign), keep in zip(parts, alone)]
                                + [cls._added([(part.where(~keep), sign) for (part, sign), keep in zip(parts, alone)])])

    @classmethod
    def _added(cls, parts: list[tuple["RollupSteps", int]]) -> "RollupSteps":
        """The sum of parts, each times its sign, by sorting all their steps."""
        position: dict[RollupKey, int] = {}
        n_parts, rows, layers, buckets, steps = [], [], [], [], []
        for part, sign in parts:
            codes = np.array([position.setdefault(key, len(position)) for key in part.keys], dtype=np.int64)
            n_parts.append((codes, sign * part.n_views))
            rows.append(codes[part.row])
            layers.append(part.layer)
            buckets.append(part.bucket)
            steps.append(sign * part.step)
        n_views = np.zeros(len(position), dtype=np.int64)
        for codes, n in n_parts:
            np.add.at(n_views, codes, n)
        nothing = n_views[:0]
        return cls(list(position), n_views, *_summed_steps(*(np.concatenate(columns or [nothing])
                                                             for columns in (rows, layers, buckets, steps))))

    @classmethod
    def concatenated(cls, blocks: list["RollupSteps"]) -> "RollupSteps":
        """Blocks of distinct keys, one after the other."""
        first = np.cumsum([0] + [len(block.keys) for block in blocks])
        return cls([key for block in blocks for key in block.keys],
                   np.concatenate([block.n_views for block in blocks]),
                   np.concatenate([block.row + start for block, start in zip(blocks, first.tolist())]),
                   np.concatenate([block.layer for block in blocks]),
                   np.concatenate([block.bucket for block in blocks]),
                   np.concatenate([block.step for block in blocks]))

    def times(self, sign: int) -> "RollupSteps":
        return self if sign == 1 else RollupSteps(self.keys, sign * self.n_views, self.row, self.layer, self.bucket,
                                                  sign * self.step)

    def where(self, keep: np.ndarray) -> "RollupSteps":
        """The rows of the keys where `keep` (a boolean per key) is true."""
        number = np.cumsum(keep) - 1
        kept = keep[self.row]
        return RollupSteps([key for key, k in zip(self.keys, keep.tolist()) if k], self.n_views[keep],
                           number[self.row[kept]], self.layer[kept], self.bucket[kept], self.step[kept])

    def chunks(self, keys_per_chunk: int) -> Iterator["RollupSteps"]:
        """The rows in runs of at most `keys_per_chunk` keys (steps are ordered by key: each run
        is a slice), so a writer's memory is bounded by a run, not by the whole."""
        for lo in range(0, len(self.keys), keys_per_chunk):
            hi = min(lo + keys_per_chunk, len(self.keys))
            a, b = np.searchsorted(self.row, [lo, hi])
            yield RollupSteps(self.keys[lo:hi], self.n_views[lo:hi], self.row[a:b] - lo, self.layer[a:b],
                              self.bucket[a:b], self.step[a:b])

    @classmethod
    def from_dense(cls, rows: dict[RollupKey, tuple[int, np.ndarray]]) -> "RollupSteps":
        """The rows of (n_views, coverage) per key (as `dense` gives them)."""
        parts = _Parts()
        for key, (n, coverage) in rows.items():
            steps = np.diff(coverage, axis=1, prepend=0)
            layers, buckets = np.nonzero(steps)  # in (layer, bucket) order
            parts.add([key], np.array([n], dtype=np.int64),
                      (np.zeros(buckets.size, dtype=np.int64), layers, buckets, steps[layers, buckets]))
        return parts.gathered()

    def regrained(self, grain: int) -> "RollupSteps":
        """The rows summed into partitions of `grain` (a multiple of theirs)."""
        keys = [(scope, scope_id, partition // grain * grain, duration)
                for scope, scope_id, partition, duration in self.keys]
        if keys == self.keys:
            return self
        return RollupSteps._added([(RollupSteps(keys, self.n_views, self.row, self.layer, self.bucket, self.step), 1)])

    def changes(self) -> "RollupSteps":
        """Without the keys that change nothing (no views and no steps)."""
        has_steps = np.zeros(len(self.keys), dtype=bool)
        has_steps[self.row] = True
        return self.where((self.n_views != 0) | has_steps)

    def dense(self) -> dict[RollupKey, tuple[int, np.ndarray]]:
        """(n_views, coverage) per key, coverage as (N_LAYERS, B) exact int64 values (the grid of
        its duration), a row per layer."""
        out: dict[RollupKey, tuple[int, np.ndarray]] = {}
        grid = np.array([bucket_count(key[3]) for key in self.keys], dtype=np.int64)
        for n_buckets in np.unique(grid).tolist():
            on_grid = np.flatnonzero(grid == n_buckets)
            local = np.full(len(self.keys), -1, dtype=np.int64)
            local[on_grid] = np.arange(on_grid.size)
            mine = local[self.row] >= 0
            coverage = np.zeros((on_grid.size, N_LAYERS, n_buckets), dtype=np.int64)
            coverage[local[self.row[mine]], self.layer[mine], self.bucket[mine]] = self.step[mine]
            coverage = np.cumsum(coverage, axis=2)
            for i, k in enumerate(on_grid.tolist()):
                out[self.keys[k]] = (int(self.n_views[k]), coverage[i])
        return out

    def to_arrow(self) -> pa.Table:
        """One row per key: scope, scope_id, partition_ms, duration_ms, n_views, and the
        step_columns of each layer (its steps' buckets and sizes, as lists)."""
        scope, scope_id, partition, duration = zip(*self.keys) if self.keys else ((), (), (), ())
        columns = {
            "scope": pa.array(scope, pa.string()), "scope_id": pa.array(scope_id, pa.string()),
            "partition_ms": pa.array(partition, pa.int64()), "duration_ms": pa.array(duration, pa.int64()),
            "n_views": pa.array(self.n_views, pa.int64()),
        }
        for layer, name in enumerate(LAYERS):
            mine = self.layer == layer
            offsets = pa.array(np.searchsorted(self.row[mine], np.arange(len(self.keys) + 1)).astype(np.int32))
            buckets, steps = step_columns(name)
            columns[buckets] = pa.ListArray.from_arrays(offsets, pa.array(self.bucket[mine], pa.uint16()))
            columns[steps] = pa.ListArray.from_arrays(offsets, pa.array(self.step[mine], pa.int64()))
        return pa.table(columns)

    @classmethod
    def from_arrow(cls, rows: pa.Table) -> "RollupSteps":
        """The rows of a table shaped like to_arrow's."""
        keys = list(zip(*(rows[name].to_pylist() for name in ("scope", "scope_id", "partition_ms", "duration_ms"))))
        row, layer, bucket, step = [], [], [], []
        for index, name in enumerate(LAYERS):
            buckets, steps = (rows[column].combine_chunks() for column in step_columns(name))
            row.append(pc.list_parent_indices(buckets).to_numpy().astype(np.int64))
            layer.append(np.full(row[-1].size, index, dtype=np.int64))
            bucket.append(pc.list_flatten(buckets).to_numpy().astype(np.int64))
            step.append(pc.list_flatten(steps).to_numpy().astype(np.int64))
        row, layer, bucket, step = (np.concatenate(column) for column in (row, layer, bucket, step))
        order = np.argsort(row * N_LAYERS + layer, kind="stable")  # each layer's steps are in (row, bucket) order
        return cls(keys, rows["n_views"].to_numpy().astype(np.int64), row[order], layer[order], bucket[order],
                   step[order])


Steps = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # (row, layer, bucket, step), as in RollupSteps


def _summed_steps(row: np.ndarray, layer: np.ndarray, bucket: np.ndarray, step: np.ndarray) -> Steps:
    """Steps of one (row, layer, bucket) added up, ordered by row, layer, bucket; zeros dropped."""
    if row.size == 0:
        return row, layer, bucket, step
    key = (row * N_LAYERS + layer) * (MAX_BUCKETS + 1) + bucket
    order = np.argsort(key, kind="stable")
    key, step = key[order], step[order]
    first = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
    key, step = key[first], np.add.reduceat(step, first)
    nonzero = step != 0
    series, bucket = np.divmod(key[nonzero], MAX_BUCKETS + 1)
    return series // N_LAYERS, series % N_LAYERS, bucket, step[nonzero]


def rollup_rows(views: pa.Table, index: AssetIndex,
                slice_partition_ms: int | None = SLICE_PARTITION_MS) -> dict[RollupKey, tuple[int, np.ndarray]]:
    """(n_views, coverage of each layer) per rollup key for the views that rollups hold (rollup_steps, dense)."""
    return rollup_steps(views, index, slice_partition_ms).dense()


def rollup_steps(views: pa.Table, index: AssetIndex, slice_partition_ms: int | None = SLICE_PARTITION_MS) -> RollupSteps:
    """The rollup rows of the views that rollups hold.

    `views` has columns asset_id, playback_id, video_id, view_start_ms, view_end_ms,
    duration_ms, range_starts, range_ends, reports_ranges, and the DIMENSIONS for slice
    rows (at `slice_partition_ms`; None: no slice rows). Vectorised: the bulk path feeds it
    hundreds of thousands of views at once.
    """
    held = pc.and_(pc.and_(pc.is_valid(views["view_end_ms"]), views["reports_ranges"]),
                   pc.greater(pc.list_value_length(views["range_starts"]), 0))
    views = views.filter(pc.fill_null(held, False))
    if views.num_rows == 0:
        return RollupSteps.empty()
    starts_col = views["range_starts"].combine_chunks()
    offsets = starts_col.offsets.to_numpy()
    offsets = offsets - offsets[0]  # list_flatten below starts at the first referenced value
    range_starts = pc.list_flatten(starts_col).to_numpy()
    range_ends = pc.list_flatten(views["range_ends"].combine_chunks()).to_numpy()
    view_starts = views["view_start_ms"].to_numpy()
    partitions = partition_of(view_starts)
    slices = [] if slice_partition_ms is None else \
        [(dimension, *dictionary_codes(views[dimension])) for dimension in DIMENSIONS if dimension in views.column_names]
    parts = _Parts()
    for scope, pair_view, ids, pair_id, pair_duration in _scope_pairs(views, index):
        keep = pair_duration > 0  # no grid without a duration: such views are read raw
        pair_view, pair_id, pair_duration = pair_view[keep], pair_id[keep], pair_duration[keep]
        if pair_view.size == 0:
            continue
        # Every (view, scope id) pair brings all of the view's ranges, in a slot of its own.
        lengths = offsets[pair_view + 1] - offsets[pair_view]
        first = np.repeat(offsets[pair_view] - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
        range_index = first + np.arange(lengths.sum())
        pair_of_range = np.repeat(np.arange(pair_view.size), lengths)
        # One grid per duration: every group of one duration is summed from one merged coverage.
        for duration in np.unique(pair_duration).tolist():
            on_grid = pair_duration[pair_of_range] == duration
            ranges = RangeSet(pair_view.size, pair_of_range[on_grid], range_starts[range_index[on_grid]],
                              range_ends[range_index[on_grid]], np.zeros(0, dtype=np.int64))
            events = _layer_steps(merged_coverage(ranges, duration), duration)
            grid_pairs = np.flatnonzero(pair_duration == duration)
            (id_codes, partition), n, steps = _group_steps(events, duration, grid_pairs, pair_id, partitions[pair_view])
            parts.add([(scope, ids[c], p, duration) for c, p in zip(id_codes.tolist(), partition.tolist())], n, steps)
            for dimension, codes, values in slices:
                pair_value = codes[pair_view]
                with_value = grid_pairs[pair_value[grid_pairs] >= 0]
                (id_codes, partition, value), n, steps = _group_steps(
                    events, duration, with_value, pair_id, partition_of(view_starts[pair_view], slice_partition_ms),
                    pair_value)
                parts.add([(slice_scope(scope, dimension, values[v]), ids[c], p, duration)
                           for c, p, v in zip(id_codes.tolist(), partition.tolist(), value.tolist())], n, steps)
    return parts.gathered()


class _Parts:
    """Groups of rollup rows as they are computed, gathered into one RollupSteps."""

    def __init__(self) -> None:
        self.keys: list[RollupKey] = []
        self.n: list[np.ndarray] = []
        self.rows: list[np.ndarray] = []
        self.layers: list[np.ndarray] = []
        self.buckets: list[np.ndarray] = []
        self.steps: list[np.ndarray] = []

    def add(self, keys: list[RollupKey], n: np.ndarray, steps: Steps) -> None:
        """Rows of `keys` with `n` views and `steps` (row into keys, layer, bucket, step; ordered
        by row, then layer, then bucket)."""
        row, layer, bucket, step = steps
        self.rows.append(row + len(self.keys))
        self.layers.append(layer)
        self.buckets.append(bucket)
        self.steps.append(step)
        self.keys += keys
        self.n.append(n)

    def gathered(self) -> RollupSteps:
        if not self.keys:
            return RollupSteps.empty()
        return RollupSteps(self.keys, np.concatenate(self.n), np.concatenate(self.rows), np.concatenate(self.layers),
                           np.concatenate(self.buckets), np.concatenate(self.steps))


# Most cells (groups x buckets) _group_steps sums in one dense array; past that it sorts.
DENSE_CELLS = 1 << 24
# Float sums of integers are exact below this (np.bincount sums in float64).
EXACT_FLOAT = 1 << 53


def _layer_steps(merged: tuple[np.ndarray, np.ndarray, np.ndarray], duration: int) -> Steps:
    """(slot, layer, bucket, step) of every coverage layer of merged intervals on the grid of
    `duration` (engagement.heatmap.layer_coverages): each layer's intervals go through
    _coverage_steps alike, tagged with the layer's index."""
    per_layer = [_coverage_steps(coverage, duration) for coverage in layer_coverages(merged, duration)]
    layers = np.repeat(np.arange(N_LAYERS), [layer_slots.size for layer_slots, _, _ in per_layer])
    slots, buckets, steps = (np.concatenate(column) for column in zip(*per_layer))
    return slots, layers, buckets, steps


def _coverage_steps(coverage: tuple[np.ndarray, np.ndarray, np.ndarray],
                    duration: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(slot, bucket, step) of disjoint intervals on the grid of `duration`: each interval's
    share of the first difference of B * covered ms per bucket. It is what
    engagement.heatmap.bucket_sums adds up (its partial first and last buckets, D in every
    full bucket between) in difference form: at most four steps, at its first and last
    buckets and at the buckets after them, whatever its length."""
    n_buckets = bucket_count(duration)
    slots, starts, ends = coverage
    s, e = starts * n_buckets, ends * n_buckets
    first, last = s // duration, (e - 1) // duration
    same = first == last
    head = np.where(same, e - s, (first + 1) * duration - s)
    tail = np.where(same, 0, e - last * duration)
    full = np.where(same, 0, duration)
    buckets = np.concatenate((first, first + 1, last, last + 1))
    steps = np.concatenate((head, full - head, tail - full, -tail))
    inside = (buckets < n_buckets) & (steps != 0)
    return np.tile(slots, 4)[inside], buckets[inside], steps[inside]


def _group_steps(events: Steps, duration: int, pairs: np.ndarray,
                 *keys: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, Steps]:
    """(key columns, views, steps) of the distinct keys of `pairs` (indices into the key columns),
    summed from the layers' coverage steps of all pairs on this grid (`events`: (slot, layer,
    bucket, step), slots are pair indices); steps as (group, layer, bucket, step), in that
    order. Groups whose ranges all fall past the end are there too, with no steps."""
    nothing = np.zeros(0, dtype=np.int64)
    if pairs.size == 0:
        return [nothing for _ in keys], nothing, (nothing, nothing, nothing, nothing)
    distinct, group = _groups(*(key[pairs] for key in keys))
    n_groups, n_buckets = distinct[0].size, bucket_count(duration)
    group_of_pair = np.full(keys[0].size, -1, dtype=np.int64)
    group_of_pair[pairs] = group
    slots, layers, buckets, steps = events
    event_group = group_of_pair[slots]
    kept = event_group >= 0
    event_group, layers, buckets, steps = event_group[kept], layers[kept], buckets[kept], steps[kept]
    exact = steps.size == 0 or int(np.abs(steps).max()) * steps.size < EXACT_FLOAT
    if n_groups * N_LAYERS * n_buckets > DENSE_CELLS or not exact:
        summed = _summed_steps(event_group, layers, buckets, steps)
    else:  # one pass over a dense (group, layer, bucket) array: much cheaper than a sort
        cells = np.bincount((event_group * N_LAYERS + layers) * n_buckets + buckets, steps.astype(np.float64))
        nonzero = np.flatnonzero(cells)
        series, bucket = np.divmod(nonzero, n_buckets)
        summed = (series // N_LAYERS, series % N_LAYERS, bucket, cells[nonzero].astype(np.int64))
    return distinct, np.bincount(group, minlength=n_groups).astype(np.int64), summed


@dataclass(frozen=True)
class RollupPlan:
    """Which rollup rows hold a query's views: the rows of `terms` (rollup scope, +1 or -1),
    summed over whole partitions of `grain`; no terms: none, every view is read raw."""

    grain: int
    terms: tuple[tuple[str, int], ...]

    def partitions(self, start_ms: int, end_ms: int) -> tuple[int, int]:
        """[p0, p1): the whole partitions of `grain` inside the window [start_ms, end_ms), empty when
        it spans none or no rows hold the views (then the whole window is read raw)."""
        if not self.terms:
            return start_ms, start_ms
        p0, p1 = -(-start_ms // self.grain) * self.grain, int(partition_of(end_ms, self.grain))
        return (p0, p1) if p0 < p1 else (p0, p0)

    def params(self) -> dict[str, list[str]]:
        """The rollup scopes to sum ("scopes") and, among them, those to subtract ("minus")."""
        return {"scopes": [scope for scope, _ in self.terms], "minus": [scope for scope, sign in self.terms if sign < 0]}


def plan(scope: str, filters: Filters, slice_partition_ms: int | None) -> RollupPlan:
    """Unfiltered: the scope's rows. Filters on one standard dimension: its slice rows, stored at
    `slice_partition_ms` (for `!dim:x`, the scope's rows minus the slices of x). Anything else,
    or a store without slices (None), is read raw."""
    if not filters:
        return RollupPlan(PARTITION_MS, ((scope, 1),))
    groups = grouped(filters)
    if slice_partition_ms is None or len(groups) != 1 or groups[0][0] not in DIMENSIONS:
        return RollupPlan(PARTITION_MS, ())
    dimension, negated, values = groups[0]
    slices = tuple((slice_scope(scope, dimension, value), -1 if negated else 1) for value in values)
    return RollupPlan(slice_partition_ms, ((scope, 1),) + slices if negated else slices)


def query_plan(query: ViewQuery, slice_partition_ms: int | None) -> tuple[RollupPlan, tuple[int, int]]:
    """The rollup rows that hold the query's views, and the partitions [p0, p1) they are summed over."""
    held = plan(query.scope.value, query.filters, slice_partition_ms)
    return held, held.partitions(query.start_ms, query.end_ms)


def layers_read(layers: bool) -> tuple[str, ...]:
    """The layers a coverage query reads: all of them, or only the watched one (the heatmap)."""
    return LAYERS if layers else LAYERS[:1]


def coverage(n_views: int, sums: np.ndarray, raw: RangeSet) -> Coverage:
    """The Coverage of rollup sums of the layers_read (a (layers, B) array) and of views read raw."""
    layers = dict(zip(LAYERS, sums))
    return Coverage(n_views, layers["watched"], raw, layers.get("landed"), layers.get("present"))


def combine(into: dict[RollupKey, tuple[int, np.ndarray]], rows: dict[RollupKey, tuple[int, np.ndarray]],
            sign: int) -> None:
    """Add `rows` (n_views, coverage of each layer, as `dense` gives them), times `sign`, into `into`."""
    for key, (n, coverage) in rows.items():
        if key in into:
            old_n, old_coverage = into[key]
            into[key] = (old_n + sign * n, old_coverage + sign * coverage)
        else:
            into[key] = (sign * n, sign * coverage)
