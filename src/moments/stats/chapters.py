"""GET /v1/engagement/{kind}/{ID}/chapters: each chapter's figures (engagement/chapters.py).

Chapters belong to assets (PUT /v1/assets/{ID}). A playback ID uses the chapters of the asset
it is registered to; a video id those of the one asset its views play (Store.assets_of_video),
and none when they play several. The figures read every counted view, as /layers does.
"""

from __future__ import annotations

from dataclasses import dataclass

from moments import stats
from moments.engagement.chapters import ChapterFigures, chapter_figures, spans
from moments.model import Asset, Scope
from moments.stats.query import EngagementQuery
from moments.store.base import Store


@dataclass(frozen=True)
class ChapterReport:
    timeframe: tuple[int, int]
    total_views: int
    duration_ms: int | None
    asset_id: str | None  # the asset whose chapters these are
    note: str | None  # why there are no chapters
    chapters: list[ChapterFigures]


def chapter_asset(store: Store, query: EngagementQuery) -> tuple[Asset | None, str | None]:
    """The asset whose chapters the query's content has, or None and why."""
    env, scope_id = query.environment.environment_id, query.scope_id
    if query.scope is not Scope.VIDEO:
        asset = stats.registered_asset(store, env, query.scope, scope_id)
        missing = (f"asset {scope_id!r} is not registered: PUT /v1/assets/{scope_id} with its chapters"
                   if query.scope is Scope.ASSET else f"playback ID {scope_id!r} belongs to no registered asset")
    else:
        played = store.assets_of_video(env, scope_id, 2)
        if len(played) != 1:
            return None, (f"video id {scope_id!r} plays several assets ({', '.join(played)}, ...): chapters are "
                          "an asset's" if played else f"video id {scope_id!r} plays no known asset")
        asset = store.get_asset(env, played[0])
        missing = f"asset {played[0]!r}, which video id {scope_id!r} plays, is not registered"
    if asset is None:
        return None, missing
    if not asset.chapters:
        return asset, f"asset {asset.asset_id!r} has no chapters: PUT /v1/assets/{asset.asset_id} with them"
    return asset, None


def chapters(store: Store, query: EngagementQuery) -> ChapterReport:
    """stats.UnknownScopeId if the id is not in the environment."""
    views = stats.counted_views(store, query)
    asset, note = chapter_asset(store, query)
    if asset is None or not asset.chapters:
        return ChapterReport(query.window_s, 0, None, asset.asset_id if asset else None, note, [])
    ranges = store.view_ranges(views)
    # Without views a video id has no duration of its own: the chapters are laid on the asset's.
    duration = stats.duration_of(store, query, ranges) or asset.duration_ms or 0
    laid = spans(asset.chapters, duration)
    return ChapterReport(query.window_s, ranges.n_views, duration, asset.asset_id, None,
                         chapter_figures(ranges, duration, laid))


def chapters_json(report: ChapterReport) -> dict:
    return {
        "timeframe": list(report.timeframe),
        "data": {"total_views": report.total_views, "duration_ms": report.duration_ms, "asset_id": report.asset_id,
                 "note": report.note, "chapters": [_chapter_json(figures) for figures in report.chapters]},
    }


def _chapter_json(figures: ChapterFigures) -> dict:
    names = ("reached", "finished", "average_watched", "leave_median_ms")
    return {"title": figures.span.title, "start_ms": figures.span.start_ms, "end_ms": figures.span.end_ms,
            "reached": figures.reached, "finished": figures.finished, "average_watched": figures.average_watched,
            "leave_median_ms": figures.leave_median_ms, "leaves_by_tenth": figures.leaves_by_tenth,
            "intervals": {name: stats.interval_json(figures.intervals.get(name)) for name in names}}
