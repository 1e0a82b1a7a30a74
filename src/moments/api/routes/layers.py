"""GET /v1/engagement/{assets|videos|playback-ids}/{ID}/layers: why the curve moves (ours).

The heatmap beside its rewatch, arrival and departure layers (`engagement/layers.py`).
"""

# No "from __future__ import annotations": FastAPI reads these annotations at runtime.

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from moments import stats
from moments.api.query import KINDS, Asked, engagement_query, in_worker
from moments.api.responses import LayersResponse
from moments.model import Scope

router = APIRouter(prefix="/v1/engagement", tags=["moments: engagement layers"])


def _add_route(segment: str, scope: Scope, label: str, allow_slash: bool) -> None:
    @router.get(f"/{segment}/{{scope_id:path}}/layers", name=f"{segment}_layers", response_model=LayersResponse,
                summary=f"Heatmap with rewatch, arrival and departure layers of a {label}")
    async def layers(request: Request,
                     asked: Annotated[Asked, Depends(engagement_query(scope, label, allow_slash))]) -> JSONResponse:
        result = await in_worker(asked, stats.layers, request.app.state.store, asked.query)
        return JSONResponse(stats.layers_json(result), headers=asked.caller.headers)


for _segment, _scope, _label, _allow_slash in KINDS:
    _add_route(_segment, _scope, _label, _allow_slash)
