"""GET /v1/engagement/{assets|videos|playback-ids}/{ID}/dimensions (ours): the values each filter
dimension takes among the content's counted views in the timeframe, most common first.

It feeds the dashboard's filter picker, so it reads the newest views only (at most SAMPLE_VIEWS,
one page of the views endpoint) and says how many it read: a picker needs the values people
have, not an exact census. `filters[]` narrows the views read, as everywhere else.
"""

# No "from __future__ import annotations": FastAPI reads these annotations at runtime.

from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from moments.api.query import KINDS, Asked, engagement_query, in_worker
from moments.api.responses import DimensionsResponse
from moments.model import DIMENSIONS, Scope, View
from moments.stats import view_paths

router = APIRouter(tags=["moments: views"])

SAMPLE_VIEWS = view_paths.MAX_LIMIT
MAX_VALUES = 50  # per dimension: a picker's list, not an export
# Filter names as moments.filters takes them, in the order a picker shows them: these two first.
STANDARD = ("country", "device_type") + tuple(name for name in DIMENSIONS if name not in ("country", "device_type"))


def dimension_values(views: list[View]) -> list[dict]:
    """[{dimension, values: [{value, views}]}] for every dimension some view has, values most
    common first (ties by value), at most MAX_VALUES each."""
    counts: dict[str, Counter] = {}
    for view in views:
        pairs = [(name, getattr(view, name)) for name in STANDARD] + list(view.dimensions.items())
        for name, value in pairs:
            if value:
                counts.setdefault(name, Counter())[value] += 1
    custom = sorted((name for name in counts if name not in STANDARD), key=lambda name: int(name.split("_")[1]))
    return [{"dimension": name,
             "values": [{"value": value, "views": n}
                        for value, n in sorted(counts[name].items(), key=lambda item: (-item[1], item[0]))[:MAX_VALUES]]}
            for name in [*STANDARD, *custom] if name in counts]


def _add_route(segment: str, scope: Scope, label: str, allow_slash: bool) -> None:
    @router.get(f"/v1/engagement/{segment}/{{scope_id:path}}/dimensions", name=f"{segment}_dimensions",
                response_model=DimensionsResponse,
                summary=f"The filter values seen among a{'n' if label[0] == 'a' else ''} {label}'s newest views")
    async def dimensions(request: Request,
                         asked: Annotated[Asked, Depends(engagement_query(scope, label, allow_slash))]) -> JSONResponse:
        def answer() -> JSONResponse:
            page = view_paths.list_views(request.app.state.store, asked.query, SAMPLE_VIEWS, None)
            body = {"data": dimension_values(page.views), "sampled_views": len(page.views),
                    "total_views": page.total, "timeframe": list(page.timeframe)}
            return JSONResponse(body, headers=asked.caller.headers)

        return await in_worker(asked, answer)


for _segment, _scope, _label, _allow_slash in KINDS:
    _add_route(_segment, _scope, _label, _allow_slash)
