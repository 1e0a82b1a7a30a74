"""The caller's environment: GET /v1/environment, and PATCH it (admin) to set the sites its
beacons may come from (`allowed_origins`, ingestion/origins.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from moments.accounts import environment_fields
from moments.api import bodies
from moments.api.auth import authorize
from moments.api.errors import bad_request
from moments.api.responses import EnvironmentResponse
from moments.api.routes.imports import read_json_body
from moments.api.validation import only_parameters
from moments.ingestion.origins import BadPattern, parse_patterns
from moments.model import Environment

router = APIRouter(tags=["moments: environment"])
MAX_ENVIRONMENT_BODY = 64 * 1024


def environment_json(environment: Environment) -> dict:
    return {"data": environment_fields(environment)}


@router.get("/v1/environment", summary="The environment of the calling token", response_model=EnvironmentResponse)
async def get_environment(request: Request) -> JSONResponse:
    caller = authorize(request, "read")
    only_parameters(request, set())
    return JSONResponse(environment_json(caller.environment), headers=caller.headers)


@router.patch("/v1/environment", summary="Set the sites the environment takes beacons from (admin)",
              response_model=EnvironmentResponse, openapi_extra=bodies.ENVIRONMENT)
async def patch_environment(request: Request) -> JSONResponse:
    caller = authorize(request, "admin")
    only_parameters(request, set())
    data = await read_json_body(request, MAX_ENVIRONMENT_BODY)
    if not isinstance(data, dict) or set(data) != {"allowed_origins"} or not isinstance(data["allowed_origins"], list):
        raise bad_request('body must be {"allowed_origins": [pattern, ...]}')
    try:
        patterns = parse_patterns(data["allowed_origins"])
    except BadPattern as error:
        raise bad_request(str(error)[:500]) from None
    store, environment_id = request.app.state.store, caller.environment.environment_id
    await run_in_threadpool(store.set_allowed_origins, environment_id, patterns)
    environments = await run_in_threadpool(store.environments)
    request.app.state.beacons.know(environments)  # in force from the next beacon
    changed = next(e for e in environments if e.environment_id == environment_id)
    return JSONResponse(environment_json(changed), headers=caller.headers)
