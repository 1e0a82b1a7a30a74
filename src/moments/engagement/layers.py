"""Layers beside the heatmap: how often each moment was played, and where viewing starts and stops.

- rewatch[i]: the mean number of times a view played bucket i: ranges counted with
  multiplicity (a rewatch counts twice), so it can exceed 1;
- arrivals[i]: the share of views that began a stretch of watching in bucket i (started
  there or seeked in);
- departures[i]: the share of views that ended a stretch of watching in bucket i (left or
  seeked away); playing through to the end of the content is not a departure.
A dip where departures are high reads "people leave here"; a dip with low arrivals after a
stretch of departures and a bump of arrivals further on reads "people skip this".
"""

from __future__ import annotations

import numpy as np

from moments.engagement.heatmap import bucket_count, bucket_sums, merged_coverage
from moments.model import RangeSet


def rewatch(ranges: RangeSet, duration_ms: int) -> np.ndarray:
    """Mean plays per view of each bucket (ranges with multiplicity, clipped to [0, D])."""
    n_buckets = bucket_count(duration_ms)
    if ranges.n_views == 0:
        return np.zeros(n_buckets)
    starts = np.clip(ranges.starts, 0, duration_ms)
    ends = np.clip(ranges.ends, 0, duration_ms)
    keep = ends > starts
    played = bucket_sums(np.zeros(int(keep.sum()), dtype=np.int64), starts[keep], ends[keep], duration_ms, 1)[0]
    return played / (duration_ms * ranges.n_views)


def _share_per_bucket(views: np.ndarray, positions: np.ndarray, n_views: int, duration_ms: int) -> np.ndarray:
    """Share of views with at least one of `positions` (ms) in each bucket."""
    n_buckets = bucket_count(duration_ms)
    buckets = np.minimum(positions * n_buckets // duration_ms, n_buckets - 1)
    pairs = np.unique(views * n_buckets + buckets)
    return np.bincount(pairs % n_buckets, minlength=n_buckets) / n_views


def arrivals_and_departures(ranges: RangeSet, duration_ms: int) -> tuple[np.ndarray, np.ndarray]:
    n_buckets = bucket_count(duration_ms)
    if ranges.n_views == 0:
        return np.zeros(n_buckets), np.zeros(n_buckets)
    views, starts, ends = merged_coverage(ranges, duration_ms)
    left = ends < duration_ms  # reaching the end is finishing, not leaving
    arrivals = _share_per_bucket(views, starts, ranges.n_views, duration_ms)
    departures = _share_per_bucket(views[left], ends[left] - 1, ranges.n_views, duration_ms)  # last ms watched
    return arrivals, departures
