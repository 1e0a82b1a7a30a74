"""GET /v1/engagement/{assets|videos|playback-ids}/{ID}/chapters (ours): each chapter of the
content's asset with the share of views that reached it and finished it, how much of it they
watched and where in it they left (docs/engagement.md, "Chapters"). Reads every counted view.
"""

# No "from __future__ import annotations": FastAPI reads these annotations at runtime.

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from moments.api.query import KINDS, QUERY_PARAMS, Asked, cached_json, engagement_query, in_worker
from moments.api.responses import ChaptersResponse
from moments.model import Scope
from moments.stats.chapters import chapters, chapters_json

router = APIRouter(prefix="/v1/engagement", tags=["moments: chapters"])


def _add_route(segment: str, scope: Scope, label: str, allow_slash: bool) -> None:
    @router.get(f"/{segment}/{{scope_id:path}}/chapters", name=f"{segment}_chapters", response_model=ChaptersResponse,
                summary=f"Reached, finished, watched and left, per chapter of a {label}")
    async def chapters_route(request: Request,
                             asked: Annotated[Asked, Depends(engagement_query(scope, label, allow_slash,
                                                                              QUERY_PARAMS))]) -> Response:
        async def body() -> bytes:
            result = await in_worker(asked, chapters, request.app.state.store, asked.query)
            return orjson.dumps(chapters_json(result))

        return await cached_json(request, asked, ("chapters",), body)


for _segment, _scope, _label, _allow_slash in KINDS:
    _add_route(_segment, _scope, _label, _allow_slash)
