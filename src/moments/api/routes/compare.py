"""GET /v1/engagement/{assets|videos|playback-ids}/{ID}/relative and /compare: compared with what (ours).

`relative`: the curve against the typical curve of the environment's content of similar
length; `compare`: two timeframes, or two ids of one kind (two playback IDs of one asset),
side by side. Definitions: docs/engagement.md ("Compared with what").
"""

# No "from __future__ import annotations": FastAPI reads these annotations at runtime.

import asyncio
import math
import threading
from typing import Annotated, Callable

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from moments import params, stats
from moments.stats import comparison
from moments.api.auth import Caller
from moments.api.errors import RateLimited, bad_request, not_found
from moments.api.query import KINDS, QUERY_PARAMS, Asked, cached_json, engagement_query
from moments.api.responses import ComparisonResponse, RelativeResponse
from moments.model import Scope

router = APIRouter(prefix="/v1/engagement", tags=["moments: compared with what"])

COMPARE_PARAMS = QUERY_PARAMS | {"against_timeframe[]", "against"}

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


async def _answer(request: Request, asked: Asked, variant: tuple, compute: Callable[[comparison.Guard], dict],
                  charge: Callable[[int], None]) -> Response:
    """compute(guard) within the environment's share of worker threads, through the response
    cache (api/query.py). A cached answer costs no more than its one request."""
    async def body() -> bytes:
        with request.app.state.worker_shares.slot(asked.query.environment.environment_id, asked.caller.headers):
            try:
                value = await _run_watched(request, compute, charge)
            except stats.UnknownScopeId as error:  # either side's id
                raise not_found(asked.label, str(error)) from None
            except comparison.NotComparable as error:
                raise bad_request(str(error)) from None
        return orjson.dumps(value)

    while True:
        try:
            return await cached_json(request, asked, variant, body)
        except comparison.Cancelled:
            if await request.is_disconnected():
                return Response(status_code=CLIENT_GONE)
            # Another request's computation, which this one waited for, was given up: compute again.


def _add_routes(segment: str, scope: Scope, label: str, allow_slash: bool) -> None:
    @router.get(f"/{segment}/{{scope_id:path}}/relative", name=f"{segment}_relative", response_model=RelativeResponse,
                summary=f"A {label}'s curve against the typical curve of similar-length content")
    async def relative(request: Request,
                       asked: Annotated[Asked, Depends(engagement_query(scope, label, allow_slash))]) -> Response:
        store = request.app.state.store
        return await _answer(request, asked, ("relative",),
                             lambda guard: comparison.relative_json(comparison.relative(store, asked.query, guard)),
                             lambda peers: _charge(request, asked.caller, math.ceil(peers / PEERS_PER_REQUEST)))

    @router.get(f"/{segment}/{{scope_id:path}}/compare", name=f"{segment}_compare", response_model=ComparisonResponse,
                summary=f"A {label} over two timeframes, or against another {label}, side by side")
    async def compare(request: Request,
                      asked: Annotated[Asked, Depends(engagement_query(scope, label, allow_slash, COMPARE_PARAMS))],
                      against_timeframe: Annotated[list[str] | None, Query(
                          alias="against_timeframe[]", description="The other side's timeframe (default: timeframe[])")] = None,
                      against: Annotated[str | None, Query(description=f"The other side's {label} id (default: this one)")] = None,
                      ) -> Response:
        if against is None and not against_timeframe:
            raise bad_request("give against_timeframe[] (the same id over another timeframe) or against (another id)")
        query = asked.query
        other_id = query.scope_id if against is None else params.scope_id(f"against ({label} id)", against,
                                                                          allow_slash=allow_slash)
        a_values = asked.timeframe
        b_values = tuple(against_timeframe) if against_timeframe else a_values
        b_window = params.window(b_values, query.environment, query.now_s,
                                 request.app.state.settings.default_timeframe_s, "against_timeframe[]")
        a, b = comparison.SideSpec(query, a_values), comparison.SideSpec(query.about(other_id, b_window), b_values)
        store = request.app.state.store
        return await _answer(request, asked, ("compare", a, b),
                             lambda guard: comparison.compare_json(comparison.compare(store, a, b, guard)),
                             lambda curves: _charge(request, asked.caller, curves - 1))  # authorize took one


for _segment, _scope, _label, _allow_slash in KINDS:
    _add_routes(_segment, _scope, _label, _allow_slash)
