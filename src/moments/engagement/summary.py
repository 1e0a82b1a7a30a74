"""The figures people quote, from the curve and from the views (docs/engagement.md, "Summary").

From the heatmap alone, exactly (so from rollups, at any number of views): with N counted
views, content duration D, W_v the union of view v's ranges clipped to [0, D], and B equal
buckets,

    average viewed       = (1/N) Σ_v |W_v| / D    = mean(value)   (each bucket is D/B wide)
    average view         = (1/N) Σ_v |W_v|        = mean(value) · D
    completion rate      = value[B-1]             (the share of viewers who watched the last moment)
    retention at t       = value[⌊t·B/D⌋]         (t = D/10, and t = 30 s when D > 30 s)

From the views themselves (a read of every counted view, like /layers):

    median view          = median over v of |W_v|
    rewatch rate         = Σ_v Σ_r |r ∩ [0, D]| / Σ_v |W_v| - 1   (plays beyond the first, per watched ms)
    seek rate            = mean over v of its path's seeks (engagement/paths.py: a jump between
                           stretches of play, as GET /v1/views/{ID} counts them)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from moments.engagement.heatmap import merged_coverage
from moments.engagement.paths import CONTINUOUS_MS
from moments.engagement.uncertainty import (Interval, count_rate_interval, mean_interval, median_interval, ratio_interval,
                                           share_interval)
from moments.model import RangeSet

INTRO_PARTS = 10  # "intro retention": still watching a tenth of the way in
INTRO_MS = 30_000  # ... and 30 seconds in


@dataclass(frozen=True)
class CurveFigures:
    average_viewed: float
    average_view_ms: float
    completion_rate: float
    retention_at_10_percent: float
    retention_at_30_s: float | None  # None when the content is 30 s long or shorter


@dataclass(frozen=True)
class ViewFigures:
    median_view_ms: float
    rewatch_rate: float
    seek_rate: float


@dataclass(frozen=True)
class ViewAmounts:
    """Each counted view's unique watched ms (|W_v|), played ms (ranges clipped to [0, D], with
    rewatches) and seeks."""

    unique_ms: np.ndarray
    played_ms: np.ndarray
    seeks: np.ndarray


# The 95% interval of each figure (engagement/uncertainty.py); None where the figure is None.
Intervals = dict[str, Interval | None]


def curve_figures(values: np.ndarray, duration_ms: int) -> CurveFigures:
    """The figures of a heatmap (`values` non-empty) of content `duration_ms` long."""
    average = float(values.mean())
    return CurveFigures(
        average_viewed=average,
        average_view_ms=average * duration_ms,
        completion_rate=float(values[-1]),
        # Bucket i holds [i·D/B, (i+1)·D/B): D/10 is in bucket ⌊B/10⌋ (integer arithmetic, exactly).
        retention_at_10_percent=float(values[values.size // INTRO_PARTS]),
        retention_at_30_s=float(values[INTRO_MS * values.size // duration_ms]) if duration_ms > INTRO_MS else None,
    )


def curve_intervals(figures: CurveFigures, n_views: int, duration_ms: int) -> Intervals:
    """Each curve figure is a share of N views (or D times one), whose values lie in [0, 1]."""
    average = share_interval(figures.average_viewed, n_views)
    return {
        "average_viewed": average,
        "average_view_ms": (average[0] * duration_ms, average[1] * duration_ms),
        "completion_rate": share_interval(figures.completion_rate, n_views),
        "retention_at_10_percent": share_interval(figures.retention_at_10_percent, n_views),
        "retention_at_30_s": None if figures.retention_at_30_s is None
        else share_interval(figures.retention_at_30_s, n_views),
    }


def view_amounts(ranges: RangeSet, duration_ms: int) -> ViewAmounts:
    """The per-view amounts of `ranges` (at least one view)."""
    views, starts, ends = merged_coverage(ranges, duration_ms)
    unique = np.bincount(views, weights=(ends - starts).astype(np.float64), minlength=ranges.n_views)
    clipped = np.maximum(np.clip(ranges.ends, 0, duration_ms) - np.clip(ranges.starts, 0, duration_ms), 0)
    played = np.bincount(ranges.view_index, weights=clipped.astype(np.float64), minlength=ranges.n_views)
    return ViewAmounts(unique, played, _seeks(ranges))


def view_figures(views: ViewAmounts) -> ViewFigures:
    watched = float(views.unique_ms.sum())
    return ViewFigures(
        median_view_ms=float(np.median(views.unique_ms)),
        rewatch_rate=float(views.played_ms.sum()) / watched - 1 if watched else 0.0,
        seek_rate=float(views.seeks.mean()),
    )


def view_intervals(views: ViewAmounts, duration_ms: int) -> Intervals:
    """The per-view figures' intervals, and the average's from the views' own spread (narrower
    than the curve's bound when view lengths vary less than yes-or-no outcomes would)."""
    average = mean_interval(views.unique_ms / duration_ms)
    # played / unique, minus the first play (nothing watched: no rewatching either)
    plays = ratio_interval(views.played_ms, views.unique_ms) if views.unique_ms.sum() else (1.0, 1.0)
    return {
        "average_viewed": average,
        "average_view_ms": (average[0] * duration_ms, average[1] * duration_ms),
        "median_view_ms": median_interval(views.unique_ms, (0.0, float(duration_ms))),
        "rewatch_rate": (plays[0] - 1, plays[1] - 1),
        "seek_rate": count_rate_interval(views.seeks),
    }


def _seeks(ranges: RangeSet) -> np.ndarray:
    """Each view's path's seeks: consecutive non-empty ranges of the view, in reported order,
    that do not touch (within CONTINUOUS_MS) start a new stretch of play."""
    keep = ranges.ends > ranges.starts
    views, starts, ends = ranges.view_index[keep], ranges.starts[keep], ranges.ends[keep]
    order = np.argsort(views, kind="stable")  # each view's ranges together, in their order
    views, starts, ends = views[order], starts[order], ends[order]
    same_view = views[1:] == views[:-1]
    jumps = np.abs(starts[1:].astype(np.int64) - ends[:-1].astype(np.int64)) > CONTINUOUS_MS
    return np.bincount(views[1:][same_view & jumps], minlength=ranges.n_views)
