"""The six Mux-compatible engagement endpoints: /data/v1/engagement/{kind}/{ID}/{heatmap|hotspots}."""

# No "from __future__ import annotations": FastAPI reads these annotations at runtime.


import time
from typing import Annotated, Callable, Literal

import orjson
from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel

from moments import stats
from moments.api.auth import Caller, authorize
from moments.api.errors import bad_request, not_found
from moments.api.validation import only_parameters, parsed_filters, path_id, query_limit, request_window
from moments.model import Scope

router = APIRouter(prefix="/data/v1/engagement", tags=["engagement (Mux-compatible)"])

# path segment, scope, the id's name in messages, whether '/' may occur in the id
KINDS = (
    ("assets", Scope.ASSET, "asset", False),
    ("videos", Scope.VIDEO, "video", True),
    ("playback-ids", Scope.PLAYBACK_ID, "playback ID", False),
)
HEATMAP_PARAMS = {"timeframe[]", "filters[]"}
HOTSPOT_PARAMS = {"timeframe[]", "filters[]", "limit", "order_direction", "order_by"}


class Heatmap(BaseModel):
    total_views: int
    value: list[float]


class HeatmapResponse(BaseModel):
    total_row_count: int
    timeframe: list[int]
    data: Heatmap


class HotspotItem(BaseModel):
    start_ms: int
    end_ms: int
    score: float


class Hotspots(BaseModel):
    total_views: int
    hotspots: list[HotspotItem]


class HotspotsResponse(BaseModel):
    total_row_count: int
    timeframe: list[int]
    data: Hotspots


Timeframe = Annotated[
    list[str] | None,
    Query(alias="timeframe[]", description="One duration `N:unit` (`7:days`) or two epoch seconds. Default 7:days."),
]


FiltersParam = Annotated[
    list[str] | None,
    Query(alias="filters[]", description="Only matching views, Mux syntax: `country:US`, `!device_type:tv`, "
                                         "`custom_1:premium` (repeat; one dimension's values are ORed, dimensions ANDed)."),
]


def _direction(text: str | None) -> str:
    if text is None:
        return "desc"
    if text not in ("asc", "desc"):
        raise bad_request("order_direction must be 'asc' or 'desc'")
    return text


def _order_by(text: str | None) -> None:
    if text is not None and text != "score":
        raise bad_request("order_by must be 'score' (the only ordering)")


def checked_caller(request: Request, allowed: set[str], label: str, scope_id: str, allow_slash: bool) -> Caller:
    """Authenticate first (nothing is revealed to strangers), then check the request's shape."""
    caller = authorize(request, "read")
    only_parameters(request, allowed)
    path_id(f"{label} id", scope_id, allow_slash=allow_slash)
    return caller


async def _respond(request: Request, caller: Caller, scope: Scope, label: str, scope_id: str,
                   timeframe: list[str] | None, filter_texts: list[str] | None,
                   render: Callable[[stats.Engagement], dict], variant: tuple = ()) -> Response:
    """The JSON body for one query: from the response cache, or computed and cached."""
    settings = request.app.state.settings
    now_s = int(time.time())  # whole seconds: results are a function of the second asked in
    window = request_window(request, caller.environment, timeframe, now_s)
    filters = parsed_filters(filter_texts)
    store = request.app.state.store

    async def compute() -> bytes:
        try:
            result = await run_in_threadpool(
                stats.engagement, store, caller.environment, scope, scope_id, window, now_s * 1000,
                settings.idle_timeout_s, bool(variant), filters,
            )
        except stats.UnknownScopeId:
            raise not_found(label, scope_id) from None
        return orjson.dumps(render(result))

    version = store.data_version(caller.environment.environment_id)
    if version is None:
        body = await compute()
    else:
        key = (caller.environment.environment_id, scope, scope_id, window, filters, now_s, version, variant)
        body = await request.app.state.response_cache.get_or_compute(key, compute)
    return Response(body, media_type="application/json", headers=caller.headers)


def _add_routes(segment: str, scope: Scope, label: str, allow_slash: bool) -> None:
    id_doc = f"The {label} id, percent-encoded."

    @router.get(f"/{segment}/{{scope_id:path}}/heatmap", response_model=HeatmapResponse,
                name=f"{segment}_heatmap", summary=f"Engagement heatmap of a{'n' if label[0] == 'a' else ''} {label}")
    async def heatmap(request: Request, scope_id: Annotated[str, Path(description=id_doc)],
                      timeframe: Timeframe = None, filters: FiltersParam = None) -> Response:
        caller = checked_caller(request, HEATMAP_PARAMS, label, scope_id, allow_slash)
        return await _respond(request, caller, scope, label, scope_id, timeframe, filters, stats.heatmap_json)

    @router.get(f"/{segment}/{{scope_id:path}}/hotspots", response_model=HotspotsResponse,
                name=f"{segment}_hotspots", summary=f"Engagement hotspots and cold spots of a {label}")
    async def hotspots(request: Request, scope_id: Annotated[str, Path(description=id_doc)],
                       timeframe: Timeframe = None, filters: FiltersParam = None, limit: str | None = None,
                       order_direction: Literal["asc", "desc"] | str | None = None,
                       order_by: str | None = None) -> Response:
        caller = checked_caller(request, HOTSPOT_PARAMS, label, scope_id, allow_slash)
        count, direction = query_limit(limit, None), _direction(order_direction)
        _order_by(order_by)
        return await _respond(request, caller, scope, label, scope_id, timeframe, filters,
                              lambda result: stats.hotspots_json(result, count, direction), ("hotspots", count, direction))


for _segment, _scope, _label, _allow_slash in KINDS:
    _add_routes(_segment, _scope, _label, _allow_slash)
