"""GET /v1/engagement/{assets|videos|playback-ids}/{ID}/relative and /compare: compared with what (ours).

`relative`: the curve against the typical curve of the environment's content of similar
length; `compare`: two timeframes, or two ids of one kind (two playback IDs of one asset),
side by side. Definitions: docs/engagement.md ("Compared with what").
"""

# No "from __future__ import annotations": FastAPI reads these annotations at runtime.

import json
import time
from typing import Annotated, Callable

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from moments import stats
from moments.stats import comparison
from moments.api.auth import Caller
from moments.api.errors import bad_request, not_found
from moments.api.routes.engagement import KINDS, FiltersParam, checked_caller
from moments.api.validation import parsed_filters, path_id, request_window
from moments.model import Scope

router = APIRouter(prefix="/v1/engagement", tags=["moments: compared with what"])

RELATIVE_PARAMS = {"timeframe[]", "filters[]"}
COMPARE_PARAMS = {"timeframe[]", "filters[]", "against_timeframe[]", "against"}

TimeframeParam = Annotated[list[str] | None, Query(alias="timeframe[]", description="As for the heatmap. Default 7:days.")]


async def _cached(request: Request, caller: Caller, key: tuple, label: str, compute: Callable[[], dict]) -> Response:
    """Compute in a worker thread, through the response cache when the store has a version
    (the key holds the second asked in and the version: exact, like the heatmap's)."""
    async def body() -> bytes:
        try:
            value = await run_in_threadpool(compute)
        except stats.UnknownScopeId as error:
            raise not_found(label, str(error)) from None
        except comparison.NotComparable as error:
            raise bad_request(str(error)) from None
        return json.dumps(value, separators=(",", ":")).encode()

    store = request.app.state.store
    version = store.data_version(caller.environment.environment_id)
    if version is None:
        content = await body()
    else:
        full_key = (caller.environment.environment_id, *key, version)
        content = await request.app.state.response_cache.get_or_compute(full_key, body)
    return Response(content, media_type="application/json", headers=caller.headers)


def _add_routes(segment: str, scope: Scope, label: str, allow_slash: bool) -> None:
    @router.get(f"/{segment}/{{scope_id:path}}/relative", name=f"{segment}_relative",
                summary=f"A {label}'s curve against the typical curve of similar-length content")
    async def relative(request: Request, scope_id: Annotated[str, Path(description=f"The {label} id.")],
                       timeframe: TimeframeParam = None, filters: FiltersParam = None) -> Response:
        caller = checked_caller(request, RELATIVE_PARAMS, label, scope_id, allow_slash)
        parsed = parsed_filters(filters)
        now_s = int(time.time())
        window = request_window(request, caller.environment, timeframe, now_s)
        settings, store = request.app.state.settings, request.app.state.store
        return await _cached(request, caller, ("relative", scope, scope_id, window, parsed, now_s), label,
                             lambda: comparison.relative_json(comparison.relative(
                                 store, caller.environment, scope, scope_id, window, now_s * 1000,
                                 settings.idle_timeout_s, parsed)))

    @router.get(f"/{segment}/{{scope_id:path}}/compare", name=f"{segment}_compare",
                summary=f"A {label} over two timeframes, or against another {label}, side by side")
    async def compare(request: Request, scope_id: Annotated[str, Path(description=f"The {label} id.")],
                      timeframe: TimeframeParam = None,
                      against_timeframe: Annotated[list[str] | None, Query(
                          alias="against_timeframe[]", description="The other side's timeframe (default: timeframe[])")] = None,
                      against: Annotated[str | None, Query(description=f"The other side's {label} id (default: this one)")] = None,
                      filters: FiltersParam = None) -> Response:
        caller = checked_caller(request, COMPARE_PARAMS, label, scope_id, allow_slash)
        parsed = parsed_filters(filters)
        if against is None and not against_timeframe:
            raise bad_request("give against_timeframe[] (the same id over another timeframe) or against (another id)")
        other_id = scope_id if against is None else path_id(f"against ({label} id)", against, allow_slash=allow_slash)
        now_s = int(time.time())
        a_values = tuple(timeframe or [])
        b_values = tuple(against_timeframe) if against_timeframe else a_values
        a = comparison.SideSpec(scope_id, a_values, request_window(request, caller.environment, list(a_values), now_s))
        b = comparison.SideSpec(other_id, b_values, request_window(request, caller.environment, list(b_values), now_s, "against_timeframe[]"))
        settings, store = request.app.state.settings, request.app.state.store
        return await _cached(request, caller, ("compare", scope, a, b, parsed, now_s), label,
                             lambda: comparison.compare_json(comparison.compare(
                                 store, caller.environment, scope, a, b, now_s * 1000, settings.idle_timeout_s,
                                 parsed)))


for _segment, _scope, _label, _allow_slash in KINDS:
    _add_routes(_segment, _scope, _label, _allow_slash)
