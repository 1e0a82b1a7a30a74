"""GET /v1/{assets,videos,playback-ids}: the environment's ids of one kind, most viewed first.

Ours, not Mux's: the dashboard's searchable pickers. Same auth and errors as the rest of the API.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from moments import params
from moments.api.auth import authorize
from moments.api.errors import bad_request
from moments.api.responses import IdList, RegisteredIdList
from moments.api.validation import only_parameters
from moments.model import Scope
from moments.stats.catalog import list_ids
from moments.store.rows import MAX_ID_LENGTH

router = APIRouter(tags=["moments: lists"])

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
PARAMS = {"search", "limit"}


def _search(text: str | None) -> str | None:
    if text is None or text == "":
        return None
    if len(text) > MAX_ID_LENGTH or not text.isprintable():
        raise bad_request(f"search must be at most {MAX_ID_LENGTH} printable characters")
    return text


def _add_route(segment: str, scope: Scope, label: str) -> None:
    @router.get(f"/v1/{segment}", name=f"list_{segment}",
                response_model=IdList if scope is Scope.VIDEO else RegisteredIdList,
                summary=f"List {label}s, most viewed first (`search`: case-insensitive substring)")
    async def list_route(request: Request, search: str | None = None, limit: str | None = None) -> JSONResponse:
        caller = authorize(request, "read")
        only_parameters(request, PARAMS)
        body = await run_in_threadpool(list_ids, request.app.state.store, caller.environment.environment_id,
                                       scope, _search(search), params.limit(limit, DEFAULT_LIMIT, MAX_LIMIT))
        return JSONResponse(body, headers=caller.headers)


for _segment, _scope, _label in (("assets", Scope.ASSET, "asset ID"), ("videos", Scope.VIDEO, "video ID"),
                                 ("playback-ids", Scope.PLAYBACK_ID, "playback ID")):
    _add_route(_segment, _scope, _label)
