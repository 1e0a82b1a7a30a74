"""The engagement heatmap: the share of viewers who watched each moment.

See docs/engagement.md for the definition. The computation is exact: a view's watched
time is the union of its ranges clipped to [0, D]; the integral of the number of views
covering time t is evaluated at the bucket edges in closed form, in exact integers, so no
per-millisecond arrays are built, whatever the duration.
"""

from __future__ import annotations

import math

import numpy as np

from moments.model import RangeSet

MIN_BUCKETS = 10
MAX_BUCKETS = 1000


def bucket_count(duration_ms: int) -> int:
    """One bucket per second of content, clamped to Mux's 10..1000."""
    return min(MAX_BUCKETS, max(MIN_BUCKETS, math.ceil(duration_ms / 1000)))


def content_duration(registered_ms: int | None, reported: list[tuple[int, int]]) -> int | None:
    """The asset's registered duration when known, else the median the views reported.

    `reported` is a histogram: (duration_ms, number of views) pairs; zero durations are unknown.
    """
    if registered_ms:
        return int(registered_ms)
    pairs = sorted((d, n) for d, n in reported if d > 0 and n > 0)
    total = sum(n for _, n in pairs)
    if total == 0:
        return None
    values = np.array([d for d, _ in pairs], dtype=np.float64)
    cumulative = np.cumsum([n for _, n in pairs])
    low = values[np.searchsorted(cumulative, (total - 1) // 2, side="right")]
    high = values[np.searchsorted(cumulative, total // 2, side="right")]
    return int(round((low + high) / 2))


def merged_coverage(ranges: RangeSet, duration_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-view union of ranges clipped to [0, D], as disjoint (start, end) arrays.

    Each view's ranges are shifted into their own slot of width D+1, so a single
    global sort-and-sweep merges overlaps within a view and never across views.
    """
    starts = np.clip(ranges.starts.astype(np.int64), 0, duration_ms)
    ends = np.clip(ranges.ends.astype(np.int64), 0, duration_ms)
    keep = ends > starts
    starts, ends, views = starts[keep], ends[keep], ranges.view_index[keep].astype(np.int64)
    if starts.size == 0:
        return starts, ends
    slot = views * (duration_ms + 1)
    order = np.argsort(starts + slot, kind="stable")
    s, e = (starts + slot)[order], (ends + slot)[order]
    running_end = np.maximum.accumulate(e)
    new_segment = np.empty(s.size, dtype=bool)
    new_segment[0] = True
    new_segment[1:] = s[1:] > running_end[:-1]
    seg_start = s[new_segment]
    seg_end = np.maximum.reduceat(e, np.flatnonzero(new_segment))
    base = (seg_start // (duration_ms + 1)) * (duration_ms + 1)
    return seg_start - base, seg_end - base


def coverage_integral(starts: np.ndarray, ends: np.ndarray, at: np.ndarray) -> np.ndarray:
    """F(x) = sum over intervals of |[s, e) ∩ [0, x)|, evaluated at each x in `at` (int64, exact).

    F(x) = sum_{s<x} (x - s) - sum_{e<x} (x - e), computed with sorted prefix sums.
    """
    s = np.sort(starts.astype(np.int64))
    e = np.sort(ends.astype(np.int64))
    s_cum = np.concatenate(([0], np.cumsum(s)))
    e_cum = np.concatenate(([0], np.cumsum(e)))
    ks = np.searchsorted(s, at, side="left")
    ke = np.searchsorted(e, at, side="left")
    return (ks * at - s_cum[ks]) - (ke * at - e_cum[ke])


# Intervals per exact int64 pass: keeps prefix sums of B-scaled positions far from overflow.
CHUNK = 1 << 16


def watched_scaled(ranges: RangeSet, duration_ms: int) -> np.ndarray:
    """B * (watched ms in bucket i, summed over views), as exact int64.

    Scaling by B puts every bucket edge i*D/B on an integer (i*D), so the whole sum is
    integer arithmetic: rollups of any partition add up to exactly what raw views give.
    """
    n_buckets = bucket_count(duration_ms)
    edges = np.arange(n_buckets + 1, dtype=np.int64) * duration_ms
    total = np.zeros(n_buckets, dtype=np.int64)
    starts, ends = merged_coverage(ranges, duration_ms)
    for lo in range(0, starts.size, CHUNK):
        integral = coverage_integral(starts[lo:lo + CHUNK] * n_buckets, ends[lo:lo + CHUNK] * n_buckets, edges)
        total += np.diff(integral)
    return total


def values_from_watched(watched: np.ndarray, n_views: int, duration_ms: int) -> np.ndarray:
    """value[i] = (1/N) * watched_i / |bucket i| = watched_scaled_i / (D * N)."""
    if n_views == 0:
        return np.zeros(watched.size)
    return np.clip(watched / (duration_ms * n_views), 0.0, 1.0)


def heatmap(ranges: RangeSet, duration_ms: int) -> np.ndarray:
    """value[i] = (1/N) * sum_views |watched ∩ bucket i| / |bucket i|, each in [0, 1]."""
    return values_from_watched(watched_scaled(ranges, duration_ms), ranges.n_views, duration_ms)
