"""GET /v1/engagement/{assets|videos|playback-ids}/{ID}/relative and /compare: compared with what (ours).

`relative`: the curve against the typical curve of the environment's content of similar
length; `compare`: two timeframes, or two ids of one kind (two playback IDs of one asset),
side by side. Definitions: docs/engagement.md ("Compared with what").
"""

# No "from __future__ import annotations": FastAPI reads these annotations at runtime.

import asyncio
import math
import threading
import time
from typing import Annotated, Callable

import orjson
from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from moments import stats
from moments.stats import comparison
from moments.api.auth import Caller
from moments.api.errors import RateLimited, bad_request, not_found
from moments.api.routes.engagement import KINDS, FiltersParam, checked_caller
from moments.api.validation import parsed_filters, path_id, request_window
from moments.model import Scope

router = APIRouter(prefix="/v1/engagement", tags=["moments: compared with what"])

RELATIVE_PARAMS = {"timeframe[]", "filters[]"}
COMPARE_PARAMS = {"timeframe[]", "filters[]", "against_timeframe[]", "against"}

TimeframeParam = Annotated[list[str] | None, Query(alias="timeframe[]", description="As for the heatmap. Default 7:days.")]

# Requests charged to the rate limit beyond the one every request takes: a /relative one more
# per PEERS_PER_REQUEST peers it reads, a /compare one more for its second curve.
PEERS_PER_REQUEST = 20
DISCONNECT_POLL_S = 0.1  # how often a running computation asks whether its client is still there
CLIENT_GONE = 499  # the answer nobody reads (nginx's code for a request its client closed)


def _charge(request: Request, caller: Caller, cost: int) -> None:
    """Take `cost` more requests from the environment's bucket (from any thread), or raise RateLimited."""
    environment = caller.environment
    decision = request.app.state.rate_limiter.take(environment.environment_id, environment.rate_limit_per_s,
                                                   environment.rate_limit_burst, cost)
    if not decision.allowed:
        raise RateLimited(decision.headers())
    caller.headers.update(decision.headers())


async def _run_watched(request: Request, compute: Callable[[comparison.Guard], dict],
                       charge: Callable[[int], None]) -> dict:
    """compute(guard) in a worker thread; when the client disconnects meanwhile, the guard tells the
    computation to stop at its next step (a thread cannot be killed) and this waits for it to."""
    gone = threading.Event()
    work = asyncio.ensure_future(run_in_threadpool(compute, comparison.Guard(charge, gone.is_set)))
    try:
        while not (await asyncio.wait({work}, timeout=DISCONNECT_POLL_S))[0]:
            if not gone.is_set() and await request.is_disconnected():
                gone.set()
    except asyncio.CancelledError:
        gone.set()
        raise
    return work.result()


async def _cached(request: Request, caller: Caller, key: tuple, label: str,
                  compute: Callable[[comparison.Guard], dict], charge: Callable[[int], None]) -> Response:
    """Compute in a worker thread, within the environment's share of them, through the response
    cache when the store has a version (the key holds the second asked in and the version: exact,
    like the heatmap's). A cached answer costs no more than its one request."""
    async def body() -> bytes:
        with request.app.state.worker_shares.slot(caller.environment.environment_id, caller.headers):
            try:
                value = await _run_watched(request, compute, charge)
            except stats.UnknownScopeId as error:
                raise not_found(label, str(error)) from None
            except comparison.NotComparable as error:
                raise bad_request(str(error)) from None
        return orjson.dumps(value)

    store = request.app.state.store
    version = store.data_version(caller.environment.environment_id)
    while True:
        try:
            if version is None:
                content = await body()
            else:
                full_key = (caller.environment.environment_id, *key, version)
                content = await request.app.state.response_cache.get_or_compute(full_key, body)
            return Response(content, media_type="application/json", headers=caller.headers)
        except comparison.Cancelled:
            if await request.is_disconnected():
                return Response(status_code=CLIENT_GONE)
            # Another request's computation, which this one waited for, was given up: compute again.


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
                             lambda guard: comparison.relative_json(comparison.relative(
                                 store, caller.environment, scope, scope_id, window, now_s * 1000,
                                 settings.idle_timeout_s, parsed, guard)),
                             lambda peers: _charge(request, caller, math.ceil(peers / PEERS_PER_REQUEST)))

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
                             lambda guard: comparison.compare_json(comparison.compare(
                                 store, caller.environment, scope, a, b, now_s * 1000, settings.idle_timeout_s,
                                 parsed, guard)),
                             lambda curves: _charge(request, caller, curves - 1))  # authorize took one


for _segment, _scope, _label, _allow_slash in KINDS:
    _add_routes(_segment, _scope, _label, _allow_slash)
