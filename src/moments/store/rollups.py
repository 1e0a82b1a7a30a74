"""Rollups: watched coverage pre-summed per scope, hour and bucket grid.

A completed, counted view adds, to each scope it belongs to (its asset, by id or through a
registered playback ID; its playback ID; its video ID) and to the hour its view started
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

from moments.engagement.heatmap import watched_scaled
from moments.model import RangeSet, Scope

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class AssetIndex:
    """Registered durations, by asset id and by playback ID (with the playback ID's asset)."""

    asset_duration: dict[str, int]
    playback_asset: dict[str, tuple[str, int]]


RollupKey = tuple[str, str, int, int]  # scope, scope_id, hour_ms, duration_ms


def hour_of(ms: np.ndarray | int):
    return (ms // HOUR_MS) * HOUR_MS


def _keys_for_view(asset_id, playback_id, video_id, duration, index: AssetIndex) -> list[tuple[str, str, int]]:
    keys = []
    owners = set()
    if asset_id is not None:
        owners.add(asset_id)
    if playback_id is not None:
        owner = index.playback_asset.get(playback_id)
        if owner is not None:
            owners.add(owner[0])
        keys.append((Scope.PLAYBACK_ID.value, playback_id, owner[1] if owner else duration))
    for asset in owners:
        keys.append((Scope.ASSET.value, asset, index.asset_duration.get(asset, duration)))
    if video_id is not None:
        keys.append((Scope.VIDEO.value, video_id, duration))
    return [k for k in keys if k[2] > 0]  # no grid without a duration: such views are read raw


def rollup_rows(views: pa.Table, index: AssetIndex) -> dict[RollupKey, tuple[int, np.ndarray]]:
    """(n_views, watched) per rollup key for the views that rollups hold.

    `views` has columns asset_id, playback_id, video_id, view_start_ms, view_end_ms,
    duration_ms, range_starts, range_ends, reports_ranges.
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
    hours = hour_of(views["view_start_ms"].to_numpy())
    durations = views["duration_ms"].to_numpy()
    columns = [views[c].to_pylist() for c in ("asset_id", "playback_id", "video_id")]
    group_ids: dict[RollupKey, int] = {}
    pair_view, pair_group = [], []
    for i, (asset_id, playback_id, video_id) in enumerate(zip(*columns)):
        for scope, scope_id, duration in _keys_for_view(asset_id, playback_id, video_id, int(durations[i]), index):
            pair_view.append(i)
            pair_group.append(group_ids.setdefault((scope, scope_id, int(hours[i]), duration), len(group_ids)))
    views_of_pair, groups_of_pair = np.array(pair_view, dtype=np.int64), np.array(pair_group, dtype=np.int64)
    # Every (view, group) pair brings all of the view's ranges; sort them by group.
    lengths = offsets[views_of_pair + 1] - offsets[views_of_pair]
    range_group = np.repeat(groups_of_pair, lengths)
    range_view = np.repeat(views_of_pair, lengths)
    first = np.repeat(offsets[views_of_pair] - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    range_index = first + np.arange(lengths.sum())
    order = np.argsort(range_group, kind="stable")
    bounds = np.searchsorted(range_group[order], np.arange(len(group_ids) + 1))
    members = np.bincount(groups_of_pair, minlength=len(group_ids))
    rows = {}
    for key, g in group_ids.items():
        picked = order[bounds[g]:bounds[g + 1]]
        ranges = RangeSet(int(members[g]), range_view[picked], range_starts[range_index[picked]],
                          range_ends[range_index[picked]], np.zeros(0, dtype=np.int64))
        rows[key] = (int(members[g]), watched_scaled(ranges, key[3]))
    return rows


def combine(into: dict[RollupKey, tuple[int, np.ndarray]], rows: dict[RollupKey, tuple[int, np.ndarray]],
            sign: int) -> None:
    for key, (n, watched) in rows.items():
        if key in into:
            old_n, old_watched = into[key]
            into[key] = (old_n + sign * n, old_watched + sign * watched)
        else:
            into[key] = (sign * n, sign * watched)
