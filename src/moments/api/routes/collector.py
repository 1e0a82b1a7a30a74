"""The beacon collector: where mux-embed and Mux Player send beacons (`beaconCollectionDomain`).

Answers every POST with 2xx and `Access-Control-Allow-Origin: *` once its events are durable
in the journal (ingestion/pipeline.py), unless the body is malformed (400) or the assembler is
too far behind (503 with Retry-After): without a readable 2xx the SDK re-sends the batch.
"""

from __future__ import annotations

import logging
import re
import time

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from moments.api import bodies
from moments.api.errors import ApiError, error_response
from moments.api.ratelimit import Decision
from moments.api.responses import Acknowledged
from moments.api.routes.imports import read_capped_body
from moments.ingestion.beacons import InvalidBeacon, decode_body
from moments.ingestion.origins import request_origin
from moments.ingestion.useragent import client_from_headers

log = logging.getLogger("moments.collector")
CORS = {"Access-Control-Allow-Origin": "*"}
PREFLIGHT = {**CORS, "Access-Control-Allow-Methods": "POST, OPTIONS",
             "Access-Control-Allow-Headers": "Content-Type", "Access-Control-Max-Age": "86400"}
MAX_BEACON_BYTES = 1024 * 1024  # the SDK keeps bodies under ~500 KB
# Bodies larger than this are decoded off the event loop, so one large body cannot hold up
# every other request for its whole decoding.
DECODE_INLINE_BYTES = 64 * 1024
RETRY_AFTER_S = 5
# The env key as mux-embed writes it ("ake") or spelled out, found without decoding the body.
SNIFFED_ENV_KEY = re.compile(rb'"(?:ake|env_key)"\s*:\s*"([^"\\]{1,128})"')


async def receive_beacons(request: Request) -> Response:
    metrics = request.app.state.metrics
    pipeline = request.app.state.beacons
    metrics.beacon_requests.inc()
    try:
        body = await read_capped_body(request, MAX_BEACON_BYTES)
        refusal = spend_budgets(request, pipeline, body)
        if refusal is not None:
            metrics.beacon_over_budget.inc()
            return refusal
        envelope = decode_body(body) if len(body) <= DECODE_INLINE_BYTES else await run_in_threadpool(decode_body, body)
    except (ApiError, InvalidBeacon) as error:
        metrics.beacon_rejected_bodies.inc()
        message = error.message if isinstance(error, ApiError) else str(error)
        status = error.status if isinstance(error, ApiError) else 400
        # The client's address as the trusted proxy forwarded it (--forwarded-allow-ips), and the page's origin.
        log.warning("rejected beacon body from %s (origin %s): %s", request.client.host if request.client else "-",
                    request.headers.get("origin", "-"), message)
        return error_response(status, message, "bad_request", headers=CORS)
    if pipeline.overloaded():
        metrics.beacon_overloaded.inc()
        return _unavailable("beacon intake is behind; send these events again later")
    client = client_from_headers(request.headers.get("user-agent", ""), request.headers.get("sec-ch-ua-mobile", ""))
    try:
        origin = request_origin(request.headers.get("origin"), request.headers.get("referer"))
        routed = await pipeline.accept(envelope, client, int(time.time() * 1000), origin)
    except OSError as error:  # the journal could not be written: nothing was acknowledged
        log.error("beacon journal write failed: %s", error)
        return _unavailable("beacon events could not be stored; send them again later")
    metrics.beacon_events.inc(routed.total)
    metrics.beacon_unknown_env.inc(routed.unknown_env_key)
    metrics.beacon_refused_origin.inc(routed.refused_origin)
    metrics.beacon_unusable.inc(routed.unusable)
    return JSONResponse({}, headers=CORS)


def spend_budgets(request: Request, pipeline, body: bytes) -> Response | None:
    """Charge the body's bytes to its client address's budget, then to its env key's (a known
    key has a budget of its own; every other body shares one, so made-up keys cannot grow the
    table of budgets); a 429 when either is spent."""
    settings = request.app.state.settings
    address = request.client.host if request.client else ""
    budget = request.app.state.address_budget.take(address, settings.beacon_address_bytes_per_s,
                                                   settings.beacon_address_burst_bytes, len(body))
    if not budget.allowed:
        return _over_budget("this client address sent more beacon bytes than its budget", budget)
    found = SNIFFED_ENV_KEY.search(body, 0, 64 * 1024)
    env_key = found.group(1).decode("utf-8", "replace") if found else ""
    _, environment = pipeline.env_keys.cached(env_key)
    budget = request.app.state.beacon_budget.take(env_key if environment is not None else "",
                                                  settings.beacon_bytes_per_s, settings.beacon_burst_bytes, len(body))
    return None if budget.allowed else _over_budget("this env key sent more beacon bytes than its budget", budget)


def _over_budget(message: str, budget: Decision) -> Response:
    return error_response(429, f"{message}; send them again later", "too_many_requests",
                          headers={**CORS, **budget.headers()})


def _unavailable(message: str) -> Response:
    return error_response(503, message, "service_unavailable",
                          headers={**CORS, "Retry-After": str(RETRY_AFTER_S)})


async def preflight(request: Request) -> Response:
    return Response(status_code=204, headers=PREFLIGHT)


def beacon_paths(path: str) -> list[str]:
    """`/` and, when given, `path` (beaconCollectionDomain may carry one)."""
    return ["/"] + ([path.rstrip("/")] if path and path.strip("/") else [])


def mount(app: FastAPI, path: str) -> None:
    """Serve the collector at beacon_paths(path)."""
    router = APIRouter(tags=["beacon collector (mux-embed)"])
    for p in beacon_paths(path):
        router.add_api_route(p, receive_beacons, methods=["POST"], summary="Receive mux-embed beacons",
                             response_model=Acknowledged, include_in_schema=p == "/", openapi_extra=bodies.BEACONS)
        router.add_api_route(p, preflight, methods=["OPTIONS"], include_in_schema=False)
    app.include_router(router)
