"""The engagement routes' edge: a request becomes one EngagementQuery (a FastAPI dependency),
computed in a worker thread, its JSON answer kept in the response cache.

Every /{kind}/{ID}/... route (the Mux heatmap and hotspots, layers, relative, compare, views,
dimensions, exports) asks through `engagement_query`, so they check the caller, the parameters
and the id the same way, in the same order, and read the clock once.
"""

# No "from __future__ import annotations": FastAPI reads these annotations at runtime.

import time
from dataclasses import dataclass
from typing import Annotated, Awaitable, Callable, TypeVar

from fastapi import Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from moments import params, stats
from moments.api.auth import Caller, authorize
from moments.api.errors import not_found
from moments.api.validation import only_parameters
from moments.model import Scope
from moments.stats.query import EngagementQuery

T = TypeVar("T")

# path segment, scope, the id's name in messages, whether '/' may occur in the id
KINDS = (
    ("assets", Scope.ASSET, "asset", False),
    ("videos", Scope.VIDEO, "video", True),
    ("playback-ids", Scope.PLAYBACK_ID, "playback ID", False),
)
QUERY_PARAMS = {"timeframe[]", "filters[]"}  # what every engagement route accepts

Timeframe = Annotated[
    list[str] | None,
    Query(alias="timeframe[]", description="One duration `N:unit` (`7:days`) or two epoch seconds. Default 7:days."),
]
FiltersParam = Annotated[
    list[str] | None,
    Query(alias="filters[]", description="Only matching views, Mux syntax: `country:US`, `!device_type:tv`, "
                                         "`custom_1:premium` (repeat; one dimension's values are ORed, dimensions ANDed)."),
]


@dataclass(frozen=True)
class Asked:
    """Who asked (their rate-limit headers go on the answer) and what."""

    caller: Caller
    query: EngagementQuery
    label: str  # what the id is called in messages: "asset", "playback ID"
    timeframe: tuple[str, ...]  # timeframe[] as given (a comparison's labels quote it)


def engagement_query(scope: Scope, label: str, allow_slash: bool,
                     accepted: set[str] = QUERY_PARAMS) -> Callable[..., Awaitable[Asked]]:
    """The dependency of one kind's routes: the caller authenticated first (nothing is revealed
    to strangers), then only `accepted` parameters, the id, filters[] and timeframe[] checked
    (moments.params: a 400 names what is wrong)."""
    async def asked(request: Request, scope_id: Annotated[str, Path(description=f"The {label} id, percent-encoded.")],
                    timeframe: Timeframe = None, filters: FiltersParam = None) -> Asked:
        caller = authorize(request, "read")
        only_parameters(request, accepted)
        params.scope_id(f"{label} id", scope_id, allow_slash=allow_slash)
        parsed = params.filters(filters)
        settings = request.app.state.settings
        now_s = int(time.time())
        window = params.window(timeframe or [], caller.environment, now_s, settings.default_timeframe_s)
        query = EngagementQuery(caller.environment, scope, scope_id, window, parsed, now_s * 1000,
                                settings.idle_timeout_s)
        return Asked(caller, query, label, tuple(timeframe or []))

    return asked


async def in_worker(asked: Asked, compute: Callable[..., T], *args: object) -> T:
    """compute(*args) in a worker thread; an id that is not in the environment is a 404."""
    try:
        return await run_in_threadpool(compute, *args)
    except stats.UnknownScopeId as error:
        raise not_found(asked.label, str(error)) from None


async def cached_json(request: Request, asked: Asked, variant: tuple, body: Callable[[], Awaitable[bytes]]) -> Response:
    """The JSON `body()` of a question, through the response cache when the store has a data
    version: the key holds the question (the second it was asked in among it), `variant` (what
    else the answer depends on: the route, its own parameters) and the version, so a cached
    answer is the one computing it again would give."""
    version = request.app.state.store.data_version(asked.query.environment.environment_id)
    if version is None:
        content = await body()
    else:
        content = await request.app.state.response_cache.get_or_compute((asked.query.key, variant, version), body)
    return Response(content, media_type="application/json", headers=asked.caller.headers)
