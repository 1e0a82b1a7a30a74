"""Errors in Mux's shapes: {"error": {"type", "messages"}}; 429 uses {"errors": [...]}."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from moments.params import ParamError

log = logging.getLogger("moments.api")

STATUS_TYPES = {400: "invalid_parameters", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type",
                500: "internal_error"}


class ApiError(Exception):
    def __init__(self, status: int, message: str, error_type: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.error_type = error_type or STATUS_TYPES.get(status, "error")
        self.message = message
        self.headers = headers or {}


class RateLimited(Exception):
    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__("rate limited")
        self.headers = headers


def error_response(status: int, message: str, error_type: str | None = None, headers: dict | None = None) -> JSONResponse:
    body = {"error": {"type": error_type or STATUS_TYPES.get(status, "error"), "messages": [message]}}
    return JSONResponse(body, status_code=status, headers=headers)


def bad_request(message: str) -> ApiError:
    return ApiError(400, message, "invalid_parameters")


def not_found(kind: str, identifier: str) -> ApiError:
    # Same body whether the id never existed or belongs to another environment.
    return ApiError(404, f"The requested {kind} was not found")


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status, error.message, error.error_type, error.headers)

    @app.exception_handler(ParamError)  # a query parameter moments.params could not read
    async def _bad_parameter(request: Request, error: ParamError) -> JSONResponse:
        return error_response(400, str(error), "invalid_parameters")

    @app.exception_handler(RateLimited)
    async def _rate_limited(request: Request, error: RateLimited) -> JSONResponse:
        return JSONResponse({"errors": ["Too many requests, retry later."]}, status_code=429, headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
        messages = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in error.errors()]
        return JSONResponse({"error": {"type": "invalid_parameters", "messages": messages or ["invalid request"]}},
                            status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        message = "Not found" if error.status_code == 404 else str(error.detail)
        return error_response(error.status_code, message, headers=getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "Internal error; nothing was changed by this request")
