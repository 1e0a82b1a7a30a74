"""POST /v1/backup (admin): the server copies its store into a new file while it serves.

A DuckDB file is held by the one process that serves it, so only that process can copy it;
the copy is one snapshot (store/duckdb.py, DuckDBStore.backup) and lands in the server's own
backup folder (Settings.backup_dir, else FILE.backups beside the store), never at a path
the caller names. One backup at a time. It first waits (up to CATCH_UP_S) until the
beacons this process acknowledged before the request are applied, so the copy holds them.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from moments.api.auth import authorize
from moments.api.errors import ApiError
from moments.api.responses import BackupResponse
from moments.api.validation import only_parameters
from moments.config import Settings
from moments.ingestion.pipeline import BeaconPipeline
from moments.store.base import NO_ONLINE_BACKUP, OnlineBackup, Store

router = APIRouter(tags=["moments: backup"])
_running = threading.Lock()  # one backup at a time in this process (one process holds a DuckDB file)
CATCH_UP_S = 30.0


def backup_folder(store: Store, settings: Settings) -> Path | None:
    """Where the server writes backups: the configured folder, else beside the DuckDB file."""
    if settings.backup_dir:
        return Path(settings.backup_dir)
    local = getattr(store, "local_path", None)
    return Path(f"{local}.backups") if local else None


def backup_name(folder: Path, now_s: float) -> Path:
    """moments-YYYYMMDDTHHMMSSZ.duckdb (UTC), with -2, -3... when that second has one already."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now_s))
    path, n = folder / f"moments-{stamp}.duckdb", 1
    while path.exists():
        n += 1
        path = folder / f"moments-{stamp}-{n}.duckdb"
    return path


async def apply_acknowledged(pipeline: BeaconPipeline, timeout_s: float) -> None:
    """Until the beacons this process's journal acknowledged so far are applied to the store
    (or `timeout_s`). An idle journal is caught up when applied == durable (a position from
    an older segment compares lower than a new, empty one's)."""
    acknowledged = pipeline.writer.durable
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        applied = pipeline.journals.own_applied()
        if applied >= acknowledged or applied == pipeline.writer.durable:
            return
        await asyncio.sleep(0.005)


def write_backup(store: OnlineBackup, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = backup_name(folder, time.time())
    store.backup(str(path))
    return path


@router.post("/v1/backup", status_code=201, response_model=BackupResponse,
             summary="Copy the whole store into a new file in the server's backup folder (admin)")
async def post_backup(request: Request) -> JSONResponse:
    caller = authorize(request, "admin")
    only_parameters(request, set())
    store, settings = request.app.state.store, request.app.state.settings
    folder = backup_folder(store, settings)
    if not isinstance(store, OnlineBackup) or folder is None:
        raise ApiError(501, NO_ONLINE_BACKUP, "not_implemented")
    if not _running.acquire(blocking=False):
        raise ApiError(409, "a backup is being written; try again when it is done", "conflict")
    try:
        started = time.monotonic()
        await apply_acknowledged(request.app.state.beacons, CATCH_UP_S)
        path = await run_in_threadpool(write_backup, store, folder)
    except OSError as error:  # the folder or the disk: the operator's to fix, so say what happened
        raise ApiError(500, f"the backup was not written: {error}", "backup_failed") from None
    finally:
        _running.release()
    body = {"path": str(path.resolve()), "bytes": path.stat().st_size,
            "seconds": round(time.monotonic() - started, 3)}
    return JSONResponse({"data": body}, status_code=201, headers=caller.headers)
