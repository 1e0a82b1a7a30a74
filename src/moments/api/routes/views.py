"""A content's views and one view's watch path (ours):

- GET /v1/engagement/{assets|videos|playback-ids}/{ID}/views with `timeframe[]`, `filters[]`,
  `limit` (1..1000, default 25) and `cursor`: the views the heatmap counts, newest first;
- GET /v1/views/{VIEW_ID}: one view of the caller's environment with its ranges and path.
"""

# No "from __future__ import annotations": FastAPI reads these annotations at runtime.

import time
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from moments import stats
from moments.stats import view_paths
from moments.api.auth import authorize
from moments.api.errors import bad_request, not_found
from moments.api.routes.engagement import KINDS, FiltersParam, Timeframe, checked_caller
from moments.api.validation import only_parameters, parsed_filters, path_id, query_limit, request_window
from moments.model import Scope

router = APIRouter(tags=["moments: views"])

PARAMS = {"timeframe[]", "filters[]", "limit", "cursor"}


def _after(cursor: str | None) -> tuple[int, str] | None:
    if cursor is None:
        return None
    try:
        return view_paths.decode_cursor(cursor)
    except view_paths.BadCursor as error:
        raise bad_request(str(error)) from None


def _add_route(segment: str, scope: Scope, label: str, allow_slash: bool) -> None:
    @router.get(f"/v1/engagement/{segment}/{{scope_id:path}}/views", name=f"{segment}_views",
                summary=f"The counted views of a{'n' if label[0] == 'a' else ''} {label}, newest first (paged)")
    async def views(request: Request, scope_id: Annotated[str, Path(description=f"The {label} id.")],
                    timeframe: Timeframe = None,
                    filters: FiltersParam = None,
                    limit: str | None = None, cursor: str | None = None) -> JSONResponse:
        caller = checked_caller(request, PARAMS, label, scope_id, allow_slash)
        parsed = parsed_filters(filters)
        count, after = query_limit(limit, view_paths.DEFAULT_LIMIT, view_paths.MAX_LIMIT), _after(cursor)
        settings = request.app.state.settings
        now_s = int(time.time())
        window = request_window(request, caller.environment, timeframe, now_s)

        def answer() -> JSONResponse:  # the paths are walked off the event loop, as the page is read
            page = view_paths.list_views(request.app.state.store, caller.environment, scope, scope_id, window,
                                         now_s * 1000, settings.idle_timeout_s, parsed, count, after)
            return JSONResponse(view_paths.page_json(page), headers=caller.headers)

        try:
            return await run_in_threadpool(answer)
        except stats.UnknownScopeId:
            raise not_found(label, scope_id) from None


for _segment, _scope, _label, _allow_slash in KINDS:
    _add_route(_segment, _scope, _label, _allow_slash)


@router.get("/v1/views/{view_id:path}", name="get_view", summary="One view with its ranges and watch path")
async def get_view(request: Request, view_id: Annotated[str, Path(description="The view id, percent-encoded.")]
                   ) -> JSONResponse:
    caller = authorize(request, "read")
    only_parameters(request, set())
    path_id("view id", view_id, allow_slash=True)

    def answer() -> JSONResponse | None:  # the path (up to 10,000 ranges) is walked off the event loop
        view = request.app.state.store.get_view(caller.environment.environment_id, view_id)
        return None if view is None else JSONResponse(view_paths.view_json(view), headers=caller.headers)

    response = await run_in_threadpool(answer)
    if response is None:  # the same answer for another environment's view as for none at all
        raise not_found("view", view_id)
    return response
