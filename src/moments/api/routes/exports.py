"""Exports (ours, on /v1; the Mux-compatible endpoints keep their one JSON shape):

- GET /v1/engagement/{assets|videos|playback-ids}/{ID}/export/{heatmap|layers|hotspots|summary|chapters}.{csv|json|parquet}
  with `timeframe[]` and `filters[]`: the tidy tables of moments/stats/exports.py, as an attachment;
- GET /v1/exports/views.parquet with `timeframe[]`, `filters[]` and at most one of `asset_id`,
  `video_id`, `playback_id`: the environment's completed views in the import format
  (`moments import` reads the file back), streamed one batch of rows at a time.
"""

# No "from __future__ import annotations": FastAPI reads these annotations at runtime.

import time
from typing import Annotated, Iterator

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse

from moments import params
from moments.stats import exports
from moments.api.auth import Caller, authorize
from moments.api.errors import ApiError, bad_request, not_found
from moments.api.query import KINDS, QUERY_PARAMS, Asked, FiltersParam, Timeframe, engagement_query, in_worker
from moments.api.validation import only_parameters
from moments.model import Scope

router = APIRouter(tags=["moments: exports"])

VIEW_SCOPES = {"asset_id": (Scope.ASSET, "asset", False), "video_id": (Scope.VIDEO, "video", True),
               "playback_id": (Scope.PLAYBACK_ID, "playback ID", False)}


def attachment(name: str) -> dict[str, str]:
    # Names are ASCII by construction (exports.slug), so no filename* form is needed.
    return {"Content-Disposition": f'attachment; filename="{name}"', "X-Content-Type-Options": "nosniff"}


def _add_route(segment: str, scope: Scope, label: str, allow_slash: bool) -> None:
    @router.get(f"/v1/engagement/{segment}/{{scope_id:path}}/export/{{file}}", name=f"{segment}_export",
                summary=f"Heatmap, layers, hotspots, summary or chapters of a {label} as CSV, JSON or Parquet",
                response_class=Response,
                responses={200: {"content": {media: {} for media in exports.MEDIA_TYPES.values()},
                                 "description": "The table as an attachment"}})
    async def export(request: Request, asked: Annotated[Asked, Depends(engagement_query(scope, label, allow_slash))],
                     file: Annotated[str, Path(description=f"{'|'.join(exports.WHATS)} . "
                                                           f"{'|'.join(exports.FORMATS)}")]) -> Response:
        chosen = exports.parse_file(file)
        if chosen is None:
            raise ApiError(404, f"No export {file[:40]!r}: exports are {'|'.join(exports.WHATS)} . "
                                f"{'|'.join(exports.FORMATS)}, e.g. heatmap.csv")
        what, fmt = chosen
        store = request.app.state.store
        body = await in_worker(asked, lambda: exports.render(exports.compute(what, store, asked.query), fmt))
        name = exports.file_name(scope, asked.query.scope_id, asked.query.window_s, what, fmt)
        return Response(body, media_type=exports.MEDIA_TYPES[fmt], headers={**asked.caller.headers, **attachment(name)})


for _segment, _scope, _label, _allow_slash in KINDS:
    _add_route(_segment, _scope, _label, _allow_slash)


def _view_scope(request: Request, caller: Caller) -> tuple[Scope | None, str | None]:
    """The one scope parameter given, checked and known in the environment; (None, None) for all views."""
    given = [name for name in VIEW_SCOPES if name in request.query_params]
    if len(given) > 1:
        raise bad_request(f"give at most one of {', '.join(VIEW_SCOPES)}")
    if not given:
        return None, None
    scope, label, allow_slash = VIEW_SCOPES[given[0]]
    values = request.query_params.getlist(given[0])
    if len(values) != 1:
        raise bad_request(f"{given[0]} must be given once")
    scope_id = params.scope_id(f"{label} id", values[0], allow_slash=allow_slash)
    if not request.app.state.store.scope_exists(caller.environment.environment_id, scope, scope_id):
        raise not_found(label, scope_id)
    return scope, scope_id


@router.get("/v1/exports/views.parquet", name="export_views", response_class=Response,
            summary="Completed views of a timeframe as Parquet, in the import format",
            responses={200: {"content": {exports.MEDIA_TYPES["parquet"]: {}}, "description": "views.parquet"}})
async def export_views(request: Request, timeframe: Timeframe = None, filters: FiltersParam = None,
                       asset_id: str | None = None,
                       video_id: str | None = None, playback_id: str | None = None) -> StreamingResponse:
    caller = authorize(request, "read")  # this environment's views only: the store query is keyed by it
    only_parameters(request, QUERY_PARAMS | set(VIEW_SCOPES))
    parsed = params.filters(filters)
    window = params.window(timeframe or [], caller.environment, int(time.time()),
                           request.app.state.settings.default_timeframe_s)
    scope, scope_id = await run_in_threadpool(_view_scope, request, caller)
    batches = request.app.state.store.export_views(caller.environment.environment_id, window[0] * 1000,
                                                   window[1] * 1000, scope, scope_id, parsed)
    name = f"moments_views_{window[0]}-{window[1]}.parquet"

    def body() -> Iterator[bytes]:  # a sync generator: Starlette runs each step in a worker thread
        yield from exports.views_parquet_chunks(batches)

    return StreamingResponse(body(), media_type=exports.MEDIA_TYPES["parquet"],
                             headers={**caller.headers, **attachment(name)})
