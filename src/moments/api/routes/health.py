"""Operations: /healthz (the process is up and its store answers) and /metrics (Prometheus)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from moments.accounts import hash_secret, secret_matches
from moments.api.errors import ApiError
from moments.api.responses import Health

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness, store check and beacon ingest lag", response_model=Health)
async def healthz(request: Request) -> JSONResponse:
    await run_in_threadpool(request.app.state.store.get_environment, "")  # a real round trip to the store
    pipeline = request.app.state.beacons

    def ingest() -> dict:  # on a shared store, journals and the shared inbox (BeaconPipeline.ingest_*)
        return {"lag_s": round(pipeline.ingest_lag_s(int(time.time() * 1000)), 3),
                "backlog_bytes": pipeline.ingest_backlog_bytes()}

    return JSONResponse({"status": "ok", "ingest": await run_in_threadpool(ingest)})


@router.get("/metrics", summary="Counters in Prometheus text format (a bearer token when the operator set one)",
            response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}})
async def metrics(request: Request) -> Response:
    expected = request.app.state.settings.metrics_token
    if expected is not None and not _bearer_is(request, expected):
        raise ApiError(401, "This server's /metrics needs Authorization: Bearer with its metrics token",
                       headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


def _bearer_is(request: Request, token: str) -> bool:
    """Exactly one Authorization header, "Bearer <token>", compared in constant time (as hashes,
    which hides the token's length too)."""
    headers = request.headers.getlist("authorization")
    scheme, _, given = (headers[0] if len(headers) == 1 else "").partition(" ")
    return scheme.lower() == "bearer" and secret_matches(given.strip(), hash_secret(token))
