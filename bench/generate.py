"""Synthetic audiences for the benchmarks, built straight as Arrow for the store's bulk path."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from moments.store.rows import VIEW_COLUMNS

DAY_MS = 86_400_000
# Who watches (share of views); None: the player did not say.
COUNTRIES = {"US": 0.38, "GB": 0.12, "DE": 0.1, "IN": 0.1, "BR": 0.08, "JP": 0.06, "FR": 0.06, "CA": 0.05, None: 0.05}
DEVICE_TYPES = {"desktop": 0.45, "phone": 0.35, "tv": 0.12, "tablet": 0.08}
BROWSERS = {"Chrome": 0.6, "Safari": 0.25, "Firefox": 0.1, "Edge": 0.05}


def _dimension(rng: np.random.Generator, shares: dict, n: int) -> pa.Array:
    values = list(shares)
    codes = rng.choice(len(values), size=n, p=np.array(list(shares.values())) / sum(shares.values()))
    present = [v for v in values if v is not None]
    lookup = np.array([present.index(v) if v is not None else -1 for v in values])[codes]
    indices = pa.array(lookup.astype(np.int32), mask=lookup < 0)
    return pa.DictionaryArray.from_arrays(indices, pa.array(present, pa.string())).dictionary_decode()


def views_table(environment_id: str, asset_id: str, playback_ids: list[str], video_id: str, duration_ms: int,
                n_views: int, start_ms: int, end_ms: int, seed: int, first_index: int = 0) -> pa.Table:
    """n views of one piece of content, starting uniformly in [start_ms, end_ms), in start order
    (as views arrive in real life: that keeps the store's time zone maps useful).

    Each watches from 0 (or a random point for 10%) until it leaves (exponential, mean a
    third of the content); 20% also rewatch or skip ahead, adding a second range.
    """
    rng = np.random.default_rng(seed)
    start_at = np.where(rng.random(n_views) < 0.1, rng.integers(0, duration_ms, n_views), 0)
    leave = np.minimum(duration_ms, start_at + rng.exponential(duration_ms / 3, n_views).astype(np.int64) + 1000)
    second = rng.random(n_views) < 0.2
    second_start = rng.integers(0, duration_ms - 1000, n_views)
    second_end = np.minimum(duration_ms, second_start + rng.integers(1000, duration_ms // 4, n_views))
    counts = 1 + second
    offsets = np.concatenate(([0], np.cumsum(counts)))
    starts = np.empty(offsets[-1], dtype=np.int64)
    ends = np.empty(offsets[-1], dtype=np.int64)
    starts[offsets[:-1]], ends[offsets[:-1]] = start_at, leave
    starts[offsets[:-1][second] + 1], ends[offsets[:-1][second] + 1] = second_start[second], second_end[second]
    view_start = np.sort(rng.integers(start_ms, end_ms, n_views))
    offsets_arr = pa.array(offsets.astype(np.int32))
    columns = {
        "environment_id": pa.array(np.full(n_views, environment_id)),
        "view_id": pa.array([f"bench-{i}" for i in range(first_index, first_index + n_views)]),
        "asset_id": pa.nulls(n_views, pa.string()),
        "playback_id": pa.array(np.array(playback_ids)[rng.integers(0, len(playback_ids), n_views)]),
        "video_id": pa.array(np.full(n_views, video_id)),
        "view_start_ms": pa.array(view_start),
        "view_end_ms": pa.array(view_start + (ends[offsets[:-1]] - starts[offsets[:-1]]) + 5000),
        "duration_ms": pa.array(np.full(n_views, duration_ms, dtype=np.int64)),
        "range_starts": pa.ListArray.from_arrays(offsets_arr, pa.array(starts)),
        "range_ends": pa.ListArray.from_arrays(offsets_arr, pa.array(ends)),
        "sdk_name": pa.nulls(n_views, pa.string()),
        "sdk_version": pa.nulls(n_views, pa.string()),
        "reports_ranges": pa.array(np.ones(n_views, dtype=bool)),
        "country": _dimension(rng, COUNTRIES, n_views),
        "browser": _dimension(rng, BROWSERS, n_views),
        "os": pa.nulls(n_views, pa.string()),
        "device_type": _dimension(rng, DEVICE_TYPES, n_views),
        "player_name": pa.nulls(n_views, pa.string()),
        "dimensions": pa.nulls(n_views, pa.map_(pa.string(), pa.string())),
        "received_at_ms": pa.array(np.full(n_views, end_ms, dtype=np.int64)),
        "last_event_ms": pa.nulls(n_views, pa.int64()),
    }
    assert tuple(columns) == VIEW_COLUMNS
    return pa.table(columns)
