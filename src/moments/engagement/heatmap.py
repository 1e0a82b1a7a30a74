"""The engagement heatmap: the share of viewers who watched each moment.

See docs/engagement.md for the definition. The computation is exact: a view's watched
time is the union of its ranges clipped to [0, D]; each merged interval adds its exact
(B-scaled, integer) overlap to the buckets it touches, through differences for the full
buckets between its ends, so no per-millisecond arrays are built, whatever the duration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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


def merged_coverage(ranges: RangeSet, duration_ms: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-view union of ranges clipped to [0, D], as disjoint (view, start, end) arrays.

    Each view's ranges are shifted into their own slot of width D+1, so a single
    global sort-and-sweep merges overlaps within a view and never across views.
    """
    starts = np.clip(ranges.starts.astype(np.int64), 0, duration_ms)
    ends = np.clip(ranges.ends.astype(np.int64), 0, duration_ms)
    keep = ends > starts
    starts, ends, views = starts[keep], ends[keep], ranges.view_index[keep].astype(np.int64)
    if starts.size == 0:
        return views, starts, ends
    slot = views * (duration_ms + 1)
    order = np.argsort(starts + slot, kind="stable")
    s, e = (starts + slot)[order], (ends + slot)[order]
    running_end = np.maximum.accumulate(e)
    new_segment = np.empty(s.size, dtype=bool)
    new_segment[0] = True
    new_segment[1:] = s[1:] > running_end[:-1]
    seg_start = s[new_segment]
    seg_end = np.maximum.reduceat(e, np.flatnonzero(new_segment))
    seg_view = seg_start // (duration_ms + 1)
    base = seg_view * (duration_ms + 1)
    return seg_view, seg_start - base, seg_end - base


# Cells (groups x buckets) summed per numpy pass: bounds the memory of bucket_sums.
CELLS_PER_PASS = 1 << 22


def bucket_sums(groups: np.ndarray, starts: np.ndarray, ends: np.ndarray, duration_ms: int,
                n_groups: int) -> np.ndarray:
    """(n_groups, B) int64: B * (ms of the disjoint intervals [start, end) inside bucket i), per group.

    Scaling by B puts every bucket edge i*D/B on an integer (i*D), so everything is exact
    integer arithmetic: an interval adds its partial first and last buckets directly and
    D to each full bucket between them (through a running sum of differences).
    """
    n_buckets = bucket_count(duration_ms)
    out = np.zeros((n_groups, n_buckets), dtype=np.int64)
    per_pass = max(1, CELLS_PER_PASS // (n_buckets + 1))
    order = np.argsort(groups, kind="stable")
    groups, starts, ends = groups[order], starts[order] * n_buckets, ends[order] * n_buckets
    bounds = np.searchsorted(groups, np.arange(0, n_groups + per_pass, per_pass))
    for k, lo in enumerate(range(0, n_groups, per_pass)):
        rows = min(per_pass, n_groups - lo)
        sl = slice(bounds[k], bounds[k + 1])
        g, s, e = groups[sl] - lo, starts[sl], ends[sl]
        first, last = s // duration_ms, (e - 1) // duration_ms
        width = n_buckets + 1
        same = first == last
        direct = np.zeros(rows * width, dtype=np.int64)
        np.add.at(direct, g[same] * width + first[same], e[same] - s[same])
        split = ~same
        gs, fs, ls = g[split] * width, first[split], last[split]
        np.add.at(direct, gs + fs, (fs + 1) * duration_ms - s[split])
        np.add.at(direct, gs + ls, e[split] - ls * duration_ms)
        steps = np.zeros(rows * width, dtype=np.int64)
        np.add.at(steps, gs + fs + 1, duration_ms)
        np.add.at(steps, gs + ls, -duration_ms)
        full = np.cumsum(steps.reshape(rows, width), axis=1)
        out[lo:lo + rows] = (direct.reshape(rows, width) + full)[:, :n_buckets]
    return out


def watched_scaled(ranges: RangeSet, duration_ms: int) -> np.ndarray:
    """B * (watched ms in bucket i, summed over views), as exact int64: rollups of any
    partition add up to exactly what raw views give."""
    if ranges.starts.size == 0:  # the usual raw side of a peer with all its views in rollups
        return np.zeros(bucket_count(duration_ms), dtype=np.int64)
    _, starts, ends = merged_coverage(ranges, duration_ms)
    return bucket_sums(np.zeros(starts.size, dtype=np.int64), starts, ends, duration_ms, 1)[0]


def landed_coverage(coverage: tuple[np.ndarray, np.ndarray, np.ndarray],
                    duration_ms: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The merged intervals (`merged_coverage`) that begin after the first bucket: watching by
    viewers who arrived mid-way (seeked in, came back, or started there)."""
    views, starts, ends = coverage
    late = starts * bucket_count(duration_ms) >= duration_ms
    return views[late], starts[late], ends[late]


def present_coverage(coverage: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per view, one interval from the first moment it watched to the last (merged intervals
    in, sorted by view then start): what it watched and what it skipped over in between."""
    views, starts, ends = coverage
    if views.size == 0:
        return coverage
    first = np.flatnonzero(np.concatenate(([True], views[1:] != views[:-1])))
    return views[first], starts[first], np.maximum.reduceat(ends, first)


def layer_coverages(coverage: tuple[np.ndarray, np.ndarray, np.ndarray],
                    duration_ms: int) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]:
    """The interval sets of CoverageLayers' fields, in their order, from the merged coverage:
    the one place that order is made (coverage_layers and store/rollups.py both use it)."""
    return coverage, landed_coverage(coverage, duration_ms), present_coverage(coverage)


@dataclass(frozen=True)
class CoverageLayers:
    """B-scaled coverage per bucket (exact int64, like `watched_scaled`) of what viewers watched,
    of what they watched after arriving mid-way, and of where they were present (watched, or
    skipped over and came back after)."""

    watched: np.ndarray
    landed: np.ndarray
    present: np.ndarray


def coverage_layers(ranges: RangeSet, duration_ms: int) -> CoverageLayers:
    merged = merged_coverage(ranges, duration_ms)

    def scaled(coverage: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
        _, starts, ends = coverage
        return bucket_sums(np.zeros(starts.size, dtype=np.int64), starts, ends, duration_ms, 1)[0]

    return CoverageLayers(*(scaled(coverage) for coverage in layer_coverages(merged, duration_ms)))


def values_from_watched(watched: np.ndarray, n_views: int, duration_ms: int) -> np.ndarray:
    """value[i] = (1/N) * watched_i / |bucket i| = watched_scaled_i / (D * N)."""
    if n_views == 0:
        return np.zeros(watched.size)
    return np.clip(watched / (duration_ms * n_views), 0.0, 1.0)


def heatmap(ranges: RangeSet, duration_ms: int) -> np.ndarray:
    """value[i] = (1/N) * sum_views |watched ∩ bucket i| / |bucket i|, each in [0, 1]."""
    return values_from_watched(watched_scaled(ranges, duration_ms), ranges.n_views, duration_ms)
