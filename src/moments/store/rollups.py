"""Rollups: watched coverage pre-summed per scope, time partition and bucket grid.

A completed, counted view adds, to each scope it belongs to (its asset, by id or through a
registered playback ID; its playback ID; its video ID) and to the partition its view started
in, its exact B-scaled watched time per bucket (`engagement.heatmap.watched_scaled`) on
the bucket grid of the duration that scope's heatmap will use:
- assets and playback IDs of a registered asset: the registered duration;
- anything else: the duration the view reported (a query then sums the rows of the
  median duration, and reads views of other durations raw).
Everything is an integer, so adding, subtracting (a replaced view) and summing partitions
give exactly what computing from the raw views gives. This module is engine-neutral: a
backend feeds it views as Arrow and stores the rows it returns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from moments.engagement.heatmap import bucket_sums, merged_coverage
from moments.filters import Filters, grouped
from moments.model import RangeSet
from moments.store.base import ViewQuery

# Rollup partitions: short enough that the partial partitions at a window's ends, read raw,
# hold few views even at millions of views a month.
PARTITION_MS = 300_000
# Slice rows: a scope's coverage restricted to one value of one standard dimension, so that a
# filter on that dimension (`country:US`, `!device_type:tv`) sums rows instead of reading
# views. Hour partitions: 5-minute ones would multiply the rows by the values seen in every
# partition. Custom dimensions may have any number of values (user ids): they get none.
SLICE_DIMENSIONS = ("country", "browser", "os", "device_type", "player_name")
SLICE_PARTITION_MS = 3_600_000


@dataclass(frozen=True)
class AssetIndex:
    """Registered durations, by asset id and by playback ID (with the playback ID's asset)."""

    asset_duration: dict[str, int]
    playback_asset: dict[str, tuple[str, int]]


RollupKey = tuple[str, str, int, int]  # scope, scope_id, partition_ms, duration_ms


def partition_of(ms: np.ndarray | int, grain: int = PARTITION_MS):
    return (ms // grain) * grain


def slice_scope(scope: str, dimension: str, value: str) -> str:
    """The rollup scope of a scope's views with one value of a dimension ("asset|country|US")."""
    return f"{scope}|{dimension}|{value}"


def base_scope(rollup_scope: str) -> str:
    return rollup_scope.split("|", 1)[0]


def _encoded(column: pa.ChunkedArray) -> tuple[np.ndarray, list]:
    """(codes, values): dictionary codes per row (-1 for null) and the distinct values."""
    encoded = pc.dictionary_encode(column).combine_chunks()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    codes = np.where(encoded.is_valid().to_numpy(zero_copy_only=False), codes, -1).astype(np.int64)
    return codes, encoded.dictionary.to_pylist()


def _scope_pairs(views: pa.Table, index: AssetIndex) -> list[tuple[str, np.ndarray, list[str], np.ndarray, np.ndarray]]:
    """Per scope: (scope, view indices, ids, id codes, grid durations) of the (view, scope id) pairs."""
    durations = views["duration_ms"].to_numpy()
    asset_codes, asset_ids = _encoded(views["asset_id"])
    playback_codes, playback_ids = _encoded(views["playback_id"])
    video_codes, video_ids = _encoded(views["video_id"])
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


def _groups(*columns: np.ndarray) -> tuple[list[tuple[int, ...]], np.ndarray]:
    """Distinct rows of the columns and each row's group number (one 1-D sort, not a row sort)."""
    key = np.zeros(columns[0].size, dtype=np.int64)
    values = []
    for column in columns:
        distinct, codes = np.unique(column, return_inverse=True)
        key = key * distinct.size + codes.reshape(-1)
        values.append(distinct)
    groups, group_of_row = np.unique(key, return_inverse=True)
    rows = []
    for g in groups.tolist():  # decode the mixed-radix key back into column values
        row = []
        for distinct in reversed(values):
            g, code = divmod(g, distinct.size)
            row.append(int(distinct[code]))
        rows.append(tuple(reversed(row)))
    return rows, group_of_row.reshape(-1)


def rollup_rows(views: pa.Table, index: AssetIndex,
                slice_partition_ms: int | None = SLICE_PARTITION_MS) -> dict[RollupKey, tuple[int, np.ndarray]]:
    """(n_views, watched) per rollup key for the views that rollups hold.

    `views` has columns asset_id, playback_id, video_id, view_start_ms, view_end_ms,
    duration_ms, range_starts, range_ends, reports_ranges, and the SLICE_DIMENSIONS for slice
    rows (at `slice_partition_ms`; None: no slice rows). Vectorised: the bulk path feeds it
    hundreds of thousands of views at once.
    """
    held = pc.and_(pc.and_(pc.is_valid(views["view_end_ms"]), views["reports_ranges"]),
                   pc.greater(pc.list_value_length(views["range_starts"]), 0))
    views = views.filter(pc.fill_null(held, False))
    if views.num_rows == 0:
        return {}
    starts_col = views["range_starts"].combine_chunks()
    offsets = starts_col.offsets.to_numpy()
    offsets = offsets - offsets[0]  # list_flatten below starts at the first referenced value
    range_starts = pc.list_flatten(starts_col).to_numpy()
    range_ends = pc.list_flatten(views["range_ends"].combine_chunks()).to_numpy()
    view_starts = views["view_start_ms"].to_numpy()
    partitions = partition_of(view_starts)
    slices = [] if slice_partition_ms is None else \
        [(dimension, *_encoded(views[dimension])) for dimension in SLICE_DIMENSIONS if dimension in views.column_names]
    rows: dict[RollupKey, tuple[int, np.ndarray]] = {}
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
            coverage = merged_coverage(ranges, duration)
            grid_pairs = np.flatnonzero(pair_duration == duration)
            for (id_code, partition), n, watched in _group_sums(coverage, duration, grid_pairs,
                                                                pair_id, partitions[pair_view]):
                rows[(scope, ids[id_code], partition, duration)] = (n, watched)
            for dimension, codes, values in slices:
                pair_value = codes[pair_view]
                with_value = grid_pairs[pair_value[grid_pairs] >= 0]
                for (id_code, partition, value), n, watched in _group_sums(
                        coverage, duration, with_value, pair_id, partition_of(view_starts[pair_view], slice_partition_ms),
                        pair_value):
                    rows[(slice_scope(scope, dimension, values[value]), ids[id_code], partition, duration)] = (n, watched)
    return rows


def _group_sums(coverage: tuple[np.ndarray, np.ndarray, np.ndarray], duration: int, pairs: np.ndarray,
                *keys: np.ndarray) -> list[tuple[tuple[int, ...], int, np.ndarray]]:
    """(key, views, watched) per distinct key of `pairs` (indices into the key columns), summed
    from the merged coverage of all pairs on this grid (`coverage` slots are pair indices).
    Groups whose ranges all fall past the end are there too, with nothing watched."""
    if pairs.size == 0:
        return []
    distinct, group = _groups(*(key[pairs] for key in keys))
    group_of_pair = np.full(keys[0].size, -1, dtype=np.int64)
    group_of_pair[pairs] = group
    slots, starts, ends = coverage
    slot_group = group_of_pair[slots]
    kept = slot_group >= 0
    sums = bucket_sums(slot_group[kept], starts[kept], ends[kept], duration, len(distinct))
    members = np.bincount(group, minlength=len(distinct))
    return [(key, int(members[i]), sums[i]) for i, key in enumerate(distinct)]


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
    if slice_partition_ms is None or len(groups) != 1 or groups[0][0] not in SLICE_DIMENSIONS:
        return RollupPlan(PARTITION_MS, ())
    dimension, negated, values = groups[0]
    slices = tuple((slice_scope(scope, dimension, value), -1 if negated else 1) for value in values)
    return RollupPlan(slice_partition_ms, ((scope, 1),) + slices if negated else slices)


def query_plan(query: ViewQuery, slice_partition_ms: int | None) -> tuple[RollupPlan, tuple[int, int]]:
    """The rollup rows that hold the query's views, and the partitions [p0, p1) they are summed over."""
    held = plan(query.scope.value, query.filters, slice_partition_ms)
    return held, held.partitions(query.start_ms, query.end_ms)


def combine(into: dict[RollupKey, tuple[int, np.ndarray]], rows: dict[RollupKey, tuple[int, np.ndarray]],
            sign: int) -> None:
    for key, (n, watched) in rows.items():
        if key in into:
            old_n, old_watched = into[key]
            into[key] = (old_n + sign * n, old_watched + sign * watched)
        else:
            into[key] = (sign * n, sign * watched)
