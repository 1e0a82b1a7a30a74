"""GET /healthz: the process is up and its store answers."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness and store check")
async def healthz(request: Request) -> JSONResponse:
    request.app.state.store.get_environment("")  # a real round trip to the store
    return JSONResponse({"status": "ok"})
