"""The caller's environment's access tokens (admin): list them, issue one, rotate or revoke one.

What `moments token ... --url` asks while a server holds the store. A secret is shown once, in
the answer that issues it; a listing never carries a secret nor its hash. Another
environment's token is answered 404, as one that does not exist.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from moments import accounts, params
from moments.api.auth import Caller, authorize
from moments.api.errors import bad_request, not_found
from moments.api.responses import IssuedTokenResponse, RevokedTokenResponse, TokensResponse
from moments.api.routes.imports import read_json_body
from moments.api.validation import only_parameters
from moments.model import PERMISSIONS, Token

router = APIRouter(tags=["moments: tokens"])
MAX_TOKEN_BODY = 4 * 1024
NEW_TOKEN = {"requestBody": {
    "required": True,
    "description": "The new token's permissions (admin implies write, write implies read).",
    "content": {"application/json": {"schema": {
        "type": "object", "required": ["permissions"], "additionalProperties": False,
        "properties": {"permissions": {"type": "array", "minItems": 1, "maxItems": len(PERMISSIONS),
                                       "items": {"type": "string", "enum": list(PERMISSIONS)}}},
    }}},
}}


@router.get("/v1/tokens", summary="The environment's access tokens, oldest first, without secrets (admin)",
            response_model=TokensResponse)
async def list_tokens(request: Request) -> JSONResponse:
    caller = authorize(request, "admin")
    only_parameters(request, set())
    rows = await run_in_threadpool(request.app.state.store.tokens, caller.environment.environment_id)
    return JSONResponse({"data": [accounts.token_fields(token, created) for token, created in rows]},
                        headers=caller.headers)


@router.post("/v1/tokens", summary="Issue an access token in the environment; its secret is shown once (admin)",
             status_code=201, response_model=IssuedTokenResponse, openapi_extra=NEW_TOKEN)
async def create_token(request: Request) -> JSONResponse:
    caller = authorize(request, "admin")
    only_parameters(request, set())
    data = await read_json_body(request, MAX_TOKEN_BODY)
    wanted = data.get("permissions") if isinstance(data, dict) and set(data) == {"permissions"} else None
    if not (isinstance(wanted, list) and all(isinstance(p, str) for p in wanted)):
        raise bad_request('body must be {"permissions": ["read", ...]}')
    try:
        permissions = accounts.parse_permissions(",".join(wanted))
    except ValueError as error:
        raise bad_request(str(error)) from None
    issued = await run_in_threadpool(accounts.issue_token, request.app.state.store,
                                     caller.environment.environment_id, permissions)
    return JSONResponse({"data": accounts.issued_fields(issued)}, status_code=201, headers=caller.headers)


def _own_token(request: Request, caller: Caller, token_id: str) -> Token:
    params.scope_id("token id", token_id)
    token = request.app.state.store.get_token(token_id)
    if token is None or token.environment_id != caller.environment.environment_id:
        raise not_found("token", token_id)
    return token


@router.post("/v1/tokens/{token_id}/rotate", response_model=IssuedTokenResponse,
             summary="Give a token a new secret, shown once; the old one stops working (admin)")
async def rotate_token(request: Request, token_id: str) -> JSONResponse:
    caller = authorize(request, "admin")
    only_parameters(request, set())

    def rotate() -> accounts.IssuedToken:
        _own_token(request, caller, token_id)
        try:
            return accounts.rotate_token(request.app.state.store, token_id)
        except LookupError:  # revoked meanwhile
            raise not_found("token", token_id) from None

    return JSONResponse({"data": accounts.issued_fields(await run_in_threadpool(rotate))}, headers=caller.headers)


@router.delete("/v1/tokens/{token_id}", summary="Revoke a token: requests with it get 401 from then on (admin)",
               response_model=RevokedTokenResponse)
async def revoke_token(request: Request, token_id: str) -> JSONResponse:
    caller = authorize(request, "admin")
    only_parameters(request, set())

    def revoke() -> Token:
        _own_token(request, caller, token_id)
        try:
            return accounts.revoke_token(request.app.state.store, token_id)
        except LookupError:  # revoked meanwhile
            raise not_found("token", token_id) from None

    revoked = await run_in_threadpool(revoke)
    return JSONResponse({"data": {"token_id": revoked.token_id, "environment_id": revoked.environment_id,
                                  "revoked": True}}, headers=caller.headers)
