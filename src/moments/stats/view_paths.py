"""A content's views, page by page, and one view's watch path: store -> engagement.paths -> JSON.

The API and the CLI share these shapes (the CLI's --json prints exactly what the API answers).
Pages are keyset pages, newest view first: a cursor names the last view of the previous page
by (view_start_ms, view_id), so views arriving meanwhile neither shift nor repeat a page.
"""

from __future__ import annotations

from dataclasses import dataclass

from moments import stats
from moments.engagement.paths import Play, WatchPath, watch_path
from moments.model import DIMENSIONS, View
from moments.params import encode_cursor
from moments.stats.query import EngagementQuery
from moments.store.base import Store

DEFAULT_LIMIT = 25
MAX_LIMIT = 1000
# Ranges one page may read and walk: a page of long views (up to 10,000 ranges each) holds fewer
# views than `limit`, with a cursor to the rest. 1000 views of 10,000 ranges took 30 s of CPU and
# 2.5 GB; a page of this budget takes well under a second.
MAX_PAGE_RANGES = 250_000


@dataclass(frozen=True)
class ViewPage:
    timeframe: tuple[int, int]  # epoch seconds
    total: int  # views counted under the query, on every page
    views: list[View]
    next_cursor: str | None


def list_views(store: Store, query: EngagementQuery, limit: int, after: tuple[int, str] | None) -> ViewPage:
    """One page of the views the heatmap counts (at most `limit`, fewer when they hold more than
    MAX_PAGE_RANGES ranges); stats.UnknownScopeId if the id is not in the environment."""
    counted = stats.counted_views(store, query)
    # One view more than shown says whether a next page exists: the one past `limit`, or the one
    # that reached the ranges budget.
    views = store.list_views(counted, limit + 1, after, MAX_PAGE_RANGES)
    more = len(views) > limit or sum(len(view.ranges) for view in views) >= MAX_PAGE_RANGES
    shown = views[:-1] if more and len(views) > 1 else views
    cursor = encode_cursor(shown[-1].view_start_ms, shown[-1].view_id) if more else None
    return ViewPage(query.window_s, store.count_views(counted), shown, cursor)


def path_of(view: View) -> WatchPath:
    """The path against the duration the view's player reported (0 = unknown: never "completed")."""
    return watch_path(view.ranges, view.duration_ms, in_progress=view.view_end_ms is None)


def summary_json(view: View, path: WatchPath) -> dict:
    return {
        "view_id": view.view_id, "view_start": view.view_start_ms, "view_end": view.view_end_ms,
        "duration_ms": view.duration_ms, "asset_id": view.asset_id, "playback_id": view.playback_id,
        "video_id": view.video_id, "watched_ms": path.watched_ms, "unique_watched_ms": path.unique_watched_ms,
        "seeks": path.seeks, "ended": {"kind": path.ending.kind, "at_ms": path.ending.at_ms},
        **{name: getattr(view, name) for name in DIMENSIONS}, "sdk_name": view.sdk_name,
        "sdk_version": view.sdk_version,
    }


def step_json(step) -> dict:
    if isinstance(step, Play):
        return {"type": "play", "start_ms": step.start_ms, "end_ms": step.end_ms}
    return {"type": "seek", "from_ms": step.from_ms, "to_ms": step.to_ms, "direction": step.direction}


def page_json(page: ViewPage) -> dict:
    return {"total_row_count": page.total, "timeframe": list(page.timeframe),
            "data": [summary_json(view, path_of(view)) for view in page.views], "next_cursor": page.next_cursor}


def view_json(view: View) -> dict:
    """GET /v1/views/{ID}: the view, its ranges as reported, and its path."""
    path = path_of(view)
    return {"data": {**summary_json(view, path), "ranges": [list(r) for r in view.ranges],
                     "reports_ranges": view.reports_ranges, "dimensions": view.dimensions,
                     "path": [step_json(step) for step in path.steps]}}
