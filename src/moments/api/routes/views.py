"""A content's views and one view's watch path (ours):

- GET /v1/engagement/{assets|videos|playback-ids}/{ID}/views with `timeframe[]`, `filters[]`,
  `limit` (1..1000, default 25) and `cursor`: the views the heatmap counts, newest first;
- GET /v1/views/{VIEW_ID}: one view of the caller's environment with its ranges and path.
"""

# No "from __future__ import annotations": FastAPI reads these annotations at runtime.

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from moments import params
from moments.stats import view_paths
from moments.api.auth import authorize
from moments.api.errors import not_found
from moments.api.query import KINDS, QUERY_PARAMS, Asked, engagement_query, in_worker
from moments.api.responses import ViewPage, ViewResponse
from moments.api.validation import only_parameters
from moments.model import Scope

router = APIRouter(tags=["moments: views"])

PARAMS = QUERY_PARAMS | {"limit", "cursor"}


def _add_route(segment: str, scope: Scope, label: str, allow_slash: bool) -> None:
    @router.get(f"/v1/engagement/{segment}/{{scope_id:path}}/views", name=f"{segment}_views", response_model=ViewPage,
                summary=f"The counted views of a{'n' if label[0] == 'a' else ''} {label}, newest first (paged)")
    async def views(request: Request, asked: Annotated[Asked, Depends(engagement_query(scope, label, allow_slash, PARAMS))],
                    limit: str | None = None, cursor: str | None = None) -> JSONResponse:
        count, after = params.limit(limit, view_paths.DEFAULT_LIMIT, view_paths.MAX_LIMIT), params.cursor(cursor)

        def answer() -> JSONResponse:  # the paths are walked off the event loop, as the page is read
            page = view_paths.list_views(request.app.state.store, asked.query, count, after)
            return JSONResponse(view_paths.page_json(page), headers=asked.caller.headers)

        return await in_worker(asked, answer)


for _segment, _scope, _label, _allow_slash in KINDS:
    _add_route(_segment, _scope, _label, _allow_slash)


@router.get("/v1/views/{view_id:path}", name="get_view", response_model=ViewResponse,
            summary="One view with its ranges and watch path")
async def get_view(request: Request, view_id: Annotated[str, Path(description="The view id, percent-encoded.")]
                   ) -> JSONResponse:
    caller = authorize(request, "read")
    only_parameters(request, set())
    params.scope_id("view id", view_id, allow_slash=True)

    def answer() -> JSONResponse | None:  # the path (up to 10,000 ranges) is walked off the event loop
        view = request.app.state.store.get_view(caller.environment.environment_id, view_id)
        return None if view is None else JSONResponse(view_paths.view_json(view), headers=caller.headers)

    response = await run_in_threadpool(answer)
    if response is None:  # the same answer for another environment's view as for none at all
        raise not_found("view", view_id)
    return response
