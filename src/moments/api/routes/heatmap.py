"""GET /v1/engagement/{assets|videos|playback-ids}/{ID}/heatmap (ours): the Mux heatmap's body,
plus with `intervals=true` each value's 95% interval (docs/engagement.md, "How sure each figure
is"). The Mux-compatible /data/v1 heatmap keeps its shape; this one is what the dashboard draws.
"""

# No "from __future__ import annotations": FastAPI reads these annotations at runtime.

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from moments import params, stats
from moments.api.query import KINDS, QUERY_PARAMS, Asked, cached_json, engagement_query, in_worker
from moments.api.responses import HeatmapIntervalsResponse
from moments.model import Scope

router = APIRouter(prefix="/v1/engagement", tags=["moments: heatmap with intervals"])

PARAMS = QUERY_PARAMS | {"intervals"}
Intervals = Annotated[str | None, Query(description="`true`: each value's 95% interval (value_low, value_high).")]


def _add_route(segment: str, scope: Scope, label: str, allow_slash: bool) -> None:
    @router.get(f"/{segment}/{{scope_id:path}}/heatmap", name=f"{segment}_heatmap_intervals",
                response_model=HeatmapIntervalsResponse,
                summary=f"Engagement heatmap of a{'n' if label[0] == 'a' else ''} {label}, with 95% intervals")
    async def heatmap(request: Request,
                      asked: Annotated[Asked, Depends(engagement_query(scope, label, allow_slash, PARAMS))],
                      intervals: Intervals = None) -> Response:
        wanted = params.flag("intervals", intervals)

        async def body() -> bytes:
            result = await in_worker(asked, stats.engagement, request.app.state.store, asked.query)
            return orjson.dumps(stats.heatmap_intervals_json(result, wanted))

        return await cached_json(request, asked, ("heatmap intervals", wanted), body)


for _segment, _scope, _label, _allow_slash in KINDS:
    _add_route(_segment, _scope, _label, _allow_slash)
