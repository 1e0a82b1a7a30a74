"""GET /v1/engagement/{assets|videos|playback-ids}/{ID}/summary (ours): the figures people
quote, defined in docs/engagement.md ("Summary figures"). `per_view=true` adds the figures
that read every counted view (median view, rewatch rate, seek rate); the others come from the
heatmap's rollups.
"""

# No "from __future__ import annotations": FastAPI reads these annotations at runtime.

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from moments import params
from moments.api.query import KINDS, QUERY_PARAMS, Asked, cached_json, engagement_query, in_worker
from moments.api.responses import SummaryResponse
from moments.model import Scope
from moments.stats.summary import summary, summary_json

router = APIRouter(prefix="/v1/engagement", tags=["moments: summary figures"])

PARAMS = QUERY_PARAMS | {"per_view"}
PerView = Annotated[str | None, Query(description="`true`: also the figures that read every counted view "
                                                  "(median view, rewatch rate, seek rate; the cost of /layers).")]


def _add_route(segment: str, scope: Scope, label: str, allow_slash: bool) -> None:
    @router.get(f"/{segment}/{{scope_id:path}}/summary", name=f"{segment}_summary", response_model=SummaryResponse,
                summary=f"Views, average viewed, completion, intro retention (and per-view figures) of a {label}")
    async def summary_route(request: Request,
                            asked: Annotated[Asked, Depends(engagement_query(scope, label, allow_slash, PARAMS))],
                            per_view: PerView = None) -> Response:
        wanted = params.flag("per_view", per_view)

        async def body() -> bytes:
            result = await in_worker(asked, summary, request.app.state.store, asked.query, wanted)
            return orjson.dumps(summary_json(result))

        return await cached_json(request, asked, ("summary", wanted), body)


for _segment, _scope, _label, _allow_slash in KINDS:
    _add_route(_segment, _scope, _label, _allow_slash)
