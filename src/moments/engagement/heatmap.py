"""The engagement heatmap: the share of viewers who watched each moment.

See docs/engagement.md for the definition. The computation is exact: a view's watched
time is the union of its ranges clipped to [0, D]; the integral of the number of views
covering time t is evaluated at the bucket edges in closed form, so no per-millisecond
arrays are built, whatever the duration.
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


def bucket_edges(duration_ms: int) -> np.ndarray:
    """The B+1 edges i*D/B of the buckets, in (fractional) ms."""
    n = bucket_count(duration_ms)
    return np.arange(n + 1, dtype=np.float64) * (duration_ms / n)


def content_duration(registered_ms: int | None, reported_ms: np.ndarray) -> int | None:
    """The asset's registered duration when known, else the median the views reported."""
    if registered_ms:
        return int(registered_ms)
    reported = reported_ms[reported_ms > 0]
    if reported.size == 0:
        return None
    return int(round(float(np.median(reported))))


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
    """F(x) = sum over intervals of |[s, e) ∩ [0, x)|, evaluated at each x in `at`.

    F(x) = sum_{s<x} (x - s) - sum_{e<x} (x - e), computed with sorted prefix sums.
    """
    s = np.sort(starts.astype(np.float64))
    e = np.sort(ends.astype(np.float64))
    s_cum = np.concatenate(([0.0], np.cumsum(s)))
    e_cum = np.concatenate(([0.0], np.cumsum(e)))
    ks = np.searchsorted(s, at, side="left")
    ke = np.searchsorted(e, at, side="left")
    return (ks * at - s_cum[ks]) - (ke * at - e_cum[ke])


def heatmap(ranges: RangeSet, duration_ms: int) -> np.ndarray:
    """value[i] = (1/N) * sum_views |watched ∩ bucket i| / |bucket i|, each in [0, 1]."""
    edges = bucket_edges(duration_ms)
    if ranges.n_views == 0:
        return np.zeros(edges.size - 1)
    starts, ends = merged_coverage(ranges, duration_ms)
    watched = np.diff(coverage_integral(starts, ends, edges))
    values = watched / np.diff(edges) / ranges.n_views
    return np.clip(values, 0.0, 1.0)
