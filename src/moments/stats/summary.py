"""GET /v1/engagement/{kind}/{ID}/summary: the figures people quote (engagement/summary.py).

The curve's figures come from the heatmap (rollups: fast at any number of views); the
views' figures (`per_view`) read every counted view's ranges, as /layers does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from moments import stats
from moments.engagement.summary import (CurveFigures, Intervals, ViewFigures, curve_figures, curve_intervals,
                                       view_amounts, view_figures, view_intervals)
from moments.stats.query import EngagementQuery
from moments.store.base import Store


@dataclass(frozen=True)
class Summary:
    timeframe: tuple[int, int]
    total_views: int
    duration_ms: int | None
    curve: CurveFigures | None  # None without views
    views: ViewFigures | None  # None without views, or when not asked for
    intervals: Intervals  # of the figures there are


def summary(store: Store, query: EngagementQuery, per_view: bool = False) -> Summary:
    """stats.UnknownScopeId if the id is not in the environment."""
    heatmap = stats.engagement(store, query)
    if heatmap.total_views == 0 or heatmap.duration_ms is None:
        return Summary(heatmap.timeframe, 0, heatmap.duration_ms, None, None, {})
    curve = curve_figures(heatmap.values, heatmap.duration_ms)
    intervals = curve_intervals(curve, heatmap.total_views, heatmap.duration_ms)
    views = None
    if per_view:
        ranges = store.view_ranges(stats.counted_views(store, query))
        if ranges.n_views:
            amounts = view_amounts(ranges, heatmap.duration_ms)
            views = view_figures(amounts)
            intervals |= view_intervals(amounts, heatmap.duration_ms)
    return Summary(heatmap.timeframe, heatmap.total_views, heatmap.duration_ms, curve, views, intervals)


def summary_json(result: Summary) -> dict:
    figures = {**_figures(result.curve, CurveFigures), **_figures(result.views, ViewFigures)}
    return {
        "timeframe": list(result.timeframe),
        "data": {"total_views": result.total_views, "duration_ms": result.duration_ms, **figures,
                 "intervals": {name: stats.interval_json(result.intervals.get(name)) for name in figures}},
    }


def _figures(figures: CurveFigures | ViewFigures | None, kind: type) -> dict:
    """The figures by name, each null when there are none."""
    return asdict(figures) if figures is not None else {field.name: None for field in fields(kind)}
