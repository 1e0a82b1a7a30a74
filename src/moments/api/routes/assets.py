"""PUT /v1/assets/{ASSET_ID}: register an asset's duration and playback IDs; read it back, also by playback ID."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from moments import params
from moments.api import bodies
from moments.api.auth import authorize
from moments.api.errors import bad_request, not_found
from moments.api.responses import AssetResponse, PlaybackIdResponse
from moments.api.routes.imports import read_capped_body
from moments.api.validation import only_parameters
from moments.ingestion.assets import InvalidAsset, validate_asset
from moments.ingestion.imports import loads
from moments.model import Scope
from moments.stats.catalog import asset_json

router = APIRouter(tags=["moments: assets"])
MAX_ASSET_BODY = 256 * 1024


@router.put("/v1/assets/{asset_id}", summary="Register or replace an asset", response_model=AssetResponse,
            openapi_extra=bodies.ASSET)
async def put_asset(request: Request, asset_id: str) -> JSONResponse:
    caller = authorize(request, "write")
    only_parameters(request, set())
    params.scope_id("asset id", asset_id)
    body = await read_capped_body(request, MAX_ASSET_BODY)
    try:
        asset = validate_asset(asset_id, loads(body))
    except (ValueError, RecursionError) as error:
        message = "; ".join(error.messages) if isinstance(error, InvalidAsset) else f"body is not valid JSON: {error}"
        raise bad_request(message[:500]) from None
    store = request.app.state.store
    env_id = caller.environment.environment_id

    def save() -> JSONResponse:  # off the event loop: the write waits for the store's lock and rolls views up
        for playback_id in asset.playback_ids:
            owner = store.asset_for_playback_id(env_id, playback_id)
            if owner is not None and owner.asset_id != asset.asset_id:
                raise bad_request(f"playback ID {playback_id!r} already belongs to another asset")
        store.put_asset(env_id, asset)
        return JSONResponse(asset_json(store.get_asset(env_id, asset_id)), headers=caller.headers)

    return await run_in_threadpool(save)


@router.get("/v1/assets/{asset_id}", summary="A registered asset", response_model=AssetResponse)
async def get_asset(request: Request, asset_id: str) -> JSONResponse:
    caller = authorize(request, "read")
    only_parameters(request, set())
    params.scope_id("asset id", asset_id)
    asset = await run_in_threadpool(request.app.state.store.get_asset, caller.environment.environment_id, asset_id)
    if asset is None:
        raise not_found("asset", asset_id)
    return JSONResponse(asset_json(asset), headers=caller.headers)


@router.get("/v1/playback-ids/{playback_id}", summary="A playback ID and the registered asset it plays, if any",
            response_model=PlaybackIdResponse)
async def get_playback_id(request: Request, playback_id: str) -> JSONResponse:
    caller = authorize(request, "read")
    only_parameters(request, set())
    params.scope_id("playback ID", playback_id)
    store = request.app.state.store
    env_id = caller.environment.environment_id

    def lookup() -> dict | None:
        if not store.scope_exists(env_id, Scope.PLAYBACK_ID, playback_id):
            return None
        # Seen on views but never registered: known, with no asset (so no duration or playback URL).
        asset = store.asset_for_playback_id(env_id, playback_id)
        return {"playback_id": playback_id, "asset": asset_json(asset)["data"] if asset else None}

    body = await run_in_threadpool(lookup)
    if body is None:
        raise not_found("playback ID", playback_id)
    return JSONResponse({"data": body}, headers=caller.headers)
