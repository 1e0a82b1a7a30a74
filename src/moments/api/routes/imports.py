"""POST /v1/views: import views (JSON array or NDJSON); idempotent by view_id."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from moments.api import bodies
from moments.api.auth import authorize
from moments.api.errors import ApiError, bad_request
from moments.api.responses import ImportResponse
from moments.api.validation import only_parameters
from moments.ingestion.importer import UnreadableBody, import_body
from moments.ingestion.imports import loads

router = APIRouter(tags=["moments: import"])


async def read_capped_body(request: Request, limit: int) -> bytes:
    """The request body, or 413 as soon as it grows past `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"Body larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"Body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json_body(request: Request, limit: int) -> object:
    """The request body parsed as JSON: 413 past `limit` bytes, 400 when it is not JSON."""
    body = await read_capped_body(request, limit)
    try:
        return loads(body)
    except (ValueError, RecursionError) as error:
        raise bad_request(f"body is not valid JSON: {str(error)[:200]}") from None


@router.post("/v1/views", summary="Import views (JSON array or NDJSON)", response_model=ImportResponse,
             openapi_extra=bodies.IMPORT)
async def import_views(request: Request) -> JSONResponse:
    caller = authorize(request, "write")
    only_parameters(request, set())
    body = await read_capped_body(request, request.app.state.settings.max_import_bytes)

    def answer() -> JSONResponse:  # rendered here too: nothing proportional to the body runs on the event loop
        try:
            result = import_body(request.app.state.store, caller.environment.environment_id, body,
                                 request.headers.get("content-type", ""))
        except UnreadableBody as error:
            raise bad_request(str(error)) from None
        return JSONResponse(result.to_json(), headers=caller.headers)

    return await run_in_threadpool(answer)
