"""The six Mux-compatible engagement endpoints: /data/v1/engagement/{kind}/{ID}/{heatmap|hotspots}."""

# No "from __future__ import annotations": FastAPI reads these annotations at runtime.


from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from moments import params, stats
from moments.api.errors import bad_request
from moments.api.query import KINDS, QUERY_PARAMS, Asked, cached_json, engagement_query, in_worker
from moments.api.responses import HeatmapResponse, HotspotsResponse
from moments.model import Scope

router = APIRouter(prefix="/data/v1/engagement", tags=["engagement (Mux-compatible)"])

HOTSPOT_PARAMS = QUERY_PARAMS | {"limit", "order_direction", "order_by"}


def _direction(text: str | None) -> str:
    if text is None:
        return "desc"
    if text not in ("asc", "desc"):
        raise bad_request("order_direction must be 'asc' or 'desc'")
    return text


def _order_by(text: str | None) -> None:
    if text is not None and text != "score":
        raise bad_request("order_by must be 'score' (the only ordering)")


def _add_routes(segment: str, scope: Scope, label: str, allow_slash: bool) -> None:
    a = "an" if label[0] == "a" else "a"

    @router.get(f"/{segment}/{{scope_id:path}}/heatmap", response_model=HeatmapResponse,
                name=f"{segment}_heatmap", summary=f"Engagement heatmap of {a} {label}")
    async def heatmap(request: Request,
                      asked: Annotated[Asked, Depends(engagement_query(scope, label, allow_slash))]) -> Response:
        async def body() -> bytes:
            return orjson.dumps(stats.heatmap_json(await in_worker(asked, stats.engagement, request.app.state.store,
                                                                   asked.query)))

        return await cached_json(request, asked, ("heatmap",), body)

    @router.get(f"/{segment}/{{scope_id:path}}/hotspots", response_model=HotspotsResponse,
                name=f"{segment}_hotspots", summary=f"Engagement hotspots and cold spots of a {label}")
    async def hotspots(request: Request,
                       asked: Annotated[Asked, Depends(engagement_query(scope, label, allow_slash, HOTSPOT_PARAMS))],
                       limit: str | None = None, order_direction: Literal["asc", "desc"] | str | None = None,
                       order_by: str | None = None) -> Response:
        count, direction = params.limit(limit, None), _direction(order_direction)
        _order_by(order_by)

        async def body() -> bytes:
            result = await in_worker(asked, stats.engagement, request.app.state.store, asked.query, True)
            return orjson.dumps(stats.hotspots_json(result, count, direction))

        return await cached_json(request, asked, ("hotspots", count, direction), body)


for _segment, _scope, _label, _allow_slash in KINDS:
    _add_routes(_segment, _scope, _label, _allow_slash)
