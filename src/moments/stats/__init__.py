"""Engagement queries: pick the views that count from the store, then compute.

The path is store (which views) -> engagement (pure math) -> api (shapes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from moments.engagement import heatmap as heatmap_math
from moments.engagement import hotspots as hotspot_math
from moments.engagement import layers as layer_math
from moments.engagement.uncertainty import share_intervals
from moments.model import Asset, RangeSet, Scope
from moments.stats.query import EngagementQuery
from moments.store.base import Coverage, Grid, Store, ViewQuery


class UnknownScopeId(LookupError):
    """The id does not exist in this environment (or belongs to another one)."""


@dataclass(frozen=True)
class Engagement:
    timeframe: tuple[int, int]  # effective window, epoch seconds
    total_views: int
    duration_ms: int | None
    values: np.ndarray
    hotspots: list[hotspot_math.Hotspot] = field(default_factory=list)


def registered_asset(store: Store, environment_id: str, scope: Scope, scope_id: str) -> Asset | None:
    """The registered asset an asset id or playback ID plays; a video id has none of its own
    (it may span several assets)."""
    if scope is Scope.ASSET:
        return store.get_asset(environment_id, scope_id)
    if scope is Scope.PLAYBACK_ID:
        return store.asset_for_playback_id(environment_id, scope_id)
    return None


def registered_duration(store: Store, environment_id: str, scope: Scope, scope_id: str) -> int | None:
    asset = registered_asset(store, environment_id, scope, scope_id)  # video ids: what the players reported
    return asset.duration_ms if asset else None


def counted_views(store: Store, query: EngagementQuery) -> ViewQuery:
    """The store's selection of the views that count; UnknownScopeId if the id is not in this environment."""
    if not store.scope_exists(query.environment.environment_id, query.scope, query.scope_id):
        raise UnknownScopeId(query.scope_id)
    return query.views()


def engagement(store: Store, query: EngagementQuery, with_hotspots: bool = False) -> Engagement:
    """The heatmap (and, with_hotspots, the hotspots) of the query's content."""
    views = counted_views(store, query)
    registered = registered_duration(store, query.environment.environment_id, query.scope, query.scope_id)
    duration = heatmap_math.content_duration(registered, [] if registered else store.duration_histogram(views))
    if duration is None:
        return Engagement(query.window_s, 0, None, np.zeros(0))
    # Hotspots weigh per-view seeks beside the curve: the rollups' other layers (only then read).
    coverage = store.coverage(views, duration, registered is not None, layers=with_hotspots)
    return _curve(query.window_s, duration, coverage, with_hotspots)


def _curve(window_s: tuple[int, int], duration: int, coverage: Coverage, with_hotspots: bool = False) -> Engagement:
    n_views = coverage.n_views + coverage.raw.n_views
    if n_views == 0:
        return Engagement(window_s, 0, duration, np.zeros(0))
    if not with_hotspots:
        watched = coverage.watched + heatmap_math.watched_scaled(coverage.raw, duration)
        return Engagement(window_s, n_views, duration, heatmap_math.values_from_watched(watched, n_views, duration))
    layers = _coverage_layers(coverage, duration)
    values = heatmap_math.values_from_watched(layers.watched, n_views, duration)
    spots = hotspot_math.detect(values, n_views, duration,
                                seeks=hotspot_math.Seeks.from_coverage(layers, n_views, duration))
    return Engagement(window_s, n_views, duration, values, spots)


def _coverage_layers(coverage: Coverage, duration: int) -> heatmap_math.CoverageLayers:
    """Every layer of the counted views: the rollup sums (a coverage read with `layers`) plus
    the layers of the views read raw, exact integers like the watched one."""
    raw = heatmap_math.coverage_layers(coverage.raw, duration)
    return heatmap_math.CoverageLayers(coverage.watched + raw.watched, coverage.landed + raw.landed,
                                       coverage.present + raw.present)


def engagements(store: Store, query: EngagementQuery, scope_ids: Sequence[str]) -> dict[str, Engagement]:
    """engagement() of each id (the query's own id aside), in a few store queries whatever their
    number (an id that is not in this environment has no views: no duration, no values)."""
    views = query.about("").views()
    registered = store.registered_durations(query.environment.environment_id, query.scope, scope_ids)
    histograms = store.duration_histograms(views, [i for i in scope_ids if not registered.get(i)])
    durations = {i: heatmap_math.content_duration(registered.get(i), histograms.get(i, [])) for i in scope_ids}
    coverages = store.coverages(views, {i: Grid(d, registered.get(i) is not None) for i, d in durations.items()
                                       if d is not None})
    window = query.window_s
    return {i: Engagement(window, 0, None, np.zeros(0)) if d is None else _curve(window, d, coverages[i])
            for i, d in durations.items()}


@dataclass(frozen=True)
class Layers:
    timeframe: tuple[int, int]
    total_views: int
    duration_ms: int | None
    unique: np.ndarray  # the heatmap
    rewatch: np.ndarray
    arrivals: np.ndarray
    departures: np.ndarray


def duration_of(store: Store, query: EngagementQuery, ranges: RangeSet) -> int | None:
    """The content duration of the query's heatmap, from its counted views read raw."""
    durations, counts = np.unique(ranges.reported_durations_ms, return_counts=True)
    registered = registered_duration(store, query.environment.environment_id, query.scope, query.scope_id)
    return heatmap_math.content_duration(registered, list(zip(durations.tolist(), counts.tolist())))


def layers(store: Store, query: EngagementQuery) -> Layers:
    """The heatmap with its rewatch, arrival and departure layers, from the counted views read raw
    (rollups hold none of these, so this reads every counted view in the window)."""
    ranges = store.view_ranges(counted_views(store, query))
    duration = duration_of(store, query, ranges)
    if duration is None or ranges.n_views == 0:
        empty = np.zeros(0)
        return Layers(query.window_s, 0, duration, empty, empty, empty, empty)
    arrivals, departures = layer_math.arrivals_and_departures(ranges, duration)
    return Layers(query.window_s, ranges.n_views, duration, heatmap_math.heatmap(ranges, duration),
                  layer_math.rewatch(ranges, duration), arrivals, departures)


def layers_json(result: Layers) -> dict:
    return {
        "total_row_count": 1 if result.total_views else 0,
        "timeframe": list(result.timeframe),
        "data": {"total_views": result.total_views, "duration_ms": result.duration_ms,
                 "unique": result.unique.tolist(), "rewatch": result.rewatch.tolist(),
                 "arrivals": result.arrivals.tolist(), "departures": result.departures.tolist()},
    }


def interval_json(interval: tuple[float, float] | None) -> list[float] | None:
    """A 95% interval as the API sends it: [low, high], or null."""
    return None if interval is None else [interval[0], interval[1]]


def heatmap_json(result: Engagement) -> dict:
    """The Mux heatmap response body (plus `duration_ms`, ours)."""
    return {
        "total_row_count": 1 if result.total_views else 0,
        "timeframe": list(result.timeframe),
        "data": {"total_views": result.total_views, "value": result.values.tolist(),
                 "duration_ms": result.duration_ms},
    }


def heatmap_intervals_json(result: Engagement, intervals: bool) -> dict:
    """Ours (/v1): the heatmap body with each value's 95% interval (Wilson's, for total_views
    views: engagement/uncertainty.py) when asked for, else nulls; no views, empty lists."""
    body = heatmap_json(result)
    low = high = None
    if intervals:
        low, high = share_intervals(result.values, result.total_views) if result.total_views else ([], [])
    body["data"] |= {"value_low": None if low is None else list(map(float, low)),
                     "value_high": None if high is None else list(map(float, high))}
    return body


def hotspots_json(result: Engagement, limit: int | None = None, direction: str = "desc") -> dict:
    """The Mux hotspots response body; total_row_count counts hotspots before `limit`."""
    ranked = hotspot_math.order(result.hotspots, direction)
    shown = ranked[:limit] if limit else ranked
    return {
        "total_row_count": len(ranked),
        "timeframe": list(result.timeframe),
        "data": {"total_views": result.total_views,
                 "hotspots": [{"start_ms": h.start_ms, "end_ms": h.end_ms, "score": h.score} for h in shown]},
    }
