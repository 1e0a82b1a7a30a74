"""The beacon collector: where mux-embed and Mux Player send beacons (`beaconCollectionDomain`).

Answers every POST with 2xx and `Access-Control-Allow-Origin: *` unless the body is
malformed: without a readable 2xx the SDK re-sends the batch.
"""

from __future__ import annotations

import logging
import time

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from moments.api import bodies
from moments.api.errors import ApiError, error_response
from moments.api.routes.imports import read_capped_body
from moments.ingestion.beacons import InvalidBeacon, decode_body
from moments.ingestion.collector import collect
from moments.ingestion.useragent import client_from_headers

log = logging.getLogger("moments.collector")
CORS = {"Access-Control-Allow-Origin": "*"}
PREFLIGHT = {**CORS, "Access-Control-Allow-Methods": "POST, OPTIONS",
             "Access-Control-Allow-Headers": "Content-Type", "Access-Control-Max-Age": "86400"}
MAX_BEACON_BYTES = 1024 * 1024  # the SDK keeps bodies under ~500 KB


async def receive_beacons(request: Request) -> Response:
    metrics = request.app.state.metrics
    metrics.beacon_requests.inc()
    try:
        body = await read_capped_body(request, MAX_BEACON_BYTES)
        envelope = decode_body(body)
    except (ApiError, InvalidBeacon) as error:
        metrics.beacon_rejected_bodies.inc()
        message = error.message if isinstance(error, ApiError) else str(error)
        status = error.status if isinstance(error, ApiError) else 400
        log.warning("rejected beacon body from %s: %s", request.headers.get("origin", "-"), message)
        return error_response(status, message, "bad_request", headers=CORS)
    client = client_from_headers(request.headers.get("user-agent", ""), request.headers.get("sec-ch-ua-mobile", ""))
    outcome = await run_in_threadpool(collect, request.app.state.store, envelope, client, int(time.time() * 1000))
    metrics.beacon_events.inc(outcome.events)
    metrics.beacon_duplicates.inc(outcome.duplicates)
    metrics.beacon_unknown_env.inc(outcome.unknown_env_key)
    metrics.beacon_unusable.inc(outcome.unusable)
    metrics.views_opened.inc(outcome.views_opened)
    metrics.views_completed.inc(outcome.views_completed)
    return JSONResponse({}, headers=CORS)


async def preflight(request: Request) -> Response:
    return Response(status_code=204, headers=PREFLIGHT)


def mount(app: FastAPI, path: str) -> None:
    """Serve the collector at `/` and, when given, at `path` (beaconCollectionDomain may carry one)."""
    router = APIRouter(tags=["beacon collector (mux-embed)"])
    paths = ["/"] + ([path.rstrip("/")] if path and path.strip("/") else [])
    for p in paths:
        router.add_api_route(p, receive_beacons, methods=["POST"], summary="Receive mux-embed beacons",
                             include_in_schema=p == "/", openapi_extra=bodies.BEACONS)
        router.add_api_route(p, preflight, methods=["OPTIONS"], include_in_schema=False)
    app.include_router(router)
