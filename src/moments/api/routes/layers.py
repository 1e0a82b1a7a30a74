"""GET /v1/engagement/{assets|videos|playback-ids}/{ID}/layers: why the curve moves (ours).

The heatmap beside its rewatch, arrival and departure layers (`engagement/layers.py`).
"""

# No "from __future__ import annotations": FastAPI reads these annotations at runtime.

import time
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from moments import stats
from moments.api.errors import not_found
from moments.api.routes.engagement import HEATMAP_PARAMS, KINDS, FiltersParam, Timeframe, checked_caller
from moments.api.validation import parsed_filters, request_window
from moments.model import Scope

router = APIRouter(prefix="/v1/engagement", tags=["moments: engagement layers"])


def _add_route(segment: str, scope: Scope, label: str, allow_slash: bool) -> None:
    @router.get(f"/{segment}/{{scope_id:path}}/layers", name=f"{segment}_layers",
                summary=f"Heatmap with rewatch, arrival and departure layers of a {label}")
    async def layers(request: Request, scope_id: Annotated[str, Path(description=f"The {label} id.")],
                     timeframe: Timeframe = None, filters: FiltersParam = None) -> JSONResponse:
        caller = checked_caller(request, HEATMAP_PARAMS, label, scope_id, allow_slash)
        parsed = parsed_filters(filters)
        settings = request.app.state.settings
        now_s = int(time.time())
        window = request_window(request, caller.environment, timeframe, now_s)
        try:
            result = await run_in_threadpool(stats.layers, request.app.state.store, caller.environment, scope,
                                             scope_id, window, now_s * 1000, settings.idle_timeout_s, parsed)
        except stats.UnknownScopeId:
            raise not_found(label, scope_id) from None
        return JSONResponse(stats.layers_json(result), headers=caller.headers)


for _segment, _scope, _label, _allow_slash in KINDS:
    _add_route(_segment, _scope, _label, _allow_slash)
