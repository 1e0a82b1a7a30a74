"""What an environment holds: its ids of each kind, most viewed first, and its registered
assets, in the shapes the API answers (the CLI prints the same)."""

from __future__ import annotations

from moments.model import Asset, Chapter, Scope
from moments.store.base import Store

# total_row_count is exact up to here; counting further would read every id for a number
# nobody pages through.
COUNT_CAP = 10_000


def list_ids(store: Store, environment_id: str, scope: Scope, search: str | None, limit: int) -> dict:
    """The response body: the first `limit` matches and how many match (up to COUNT_CAP).

    Assets and playback IDs also say whether they are `registered` (PUT /v1/assets), so a
    client asks GET /v1/assets/ID or /v1/playback-ids/ID only where the answer is not a 404."""
    rows = store.list_scope_ids(environment_id, scope, search, limit)
    total = len(rows)
    if total == limit:  # there may be more: count them (one query, capped)
        total = len(store.list_scope_ids(environment_id, scope, search, COUNT_CAP))
    items = [{"id": scope_id, "views": views} for scope_id, views in rows]
    if scope is not Scope.VIDEO:
        registered = store.registered_durations(environment_id, scope, [item["id"] for item in items])
        for item in items:
            item["registered"] = item["id"] in registered
    return {"data": items, "total_row_count": total}


def asset_json(asset: Asset) -> dict:
    return {"data": {"asset_id": asset.asset_id, "duration_ms": asset.duration_ms,
                     "playback_ids": list(asset.playback_ids), "playback_url": asset.playback_url,
                     "chapters": [chapter_json(chapter) for chapter in asset.chapters]}}


def chapter_json(chapter: Chapter) -> dict:
    """Mux Player's addChapters shape, which PUT /v1/assets takes: seconds, the title as `value`."""
    return {"startTime": chapter.start_ms / 1000,
            "endTime": None if chapter.end_ms is None else chapter.end_ms / 1000, "value": chapter.title}
