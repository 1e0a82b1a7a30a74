"""Operations: /healthz (the process is up and its store answers) and /metrics (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness and store check")
async def healthz(request: Request) -> JSONResponse:
    request.app.state.store.get_environment("")  # a real round trip to the store
    return JSONResponse({"status": "ok"})


@router.get("/metrics", summary="Counters in Prometheus text format")
async def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
