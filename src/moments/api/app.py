"""The ASGI application: one process serves the API, the beacon collector and the dashboard."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import AsyncIterator

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from moments import __version__
from moments.api import door, errors
from moments.api.cache import ResponseCache
from moments.api.observe import Observed
from moments.api.ratelimit import RateLimiter
from moments.api.shares import WorkerShares
from moments.api.routes import (assets, backup, chapters, collector, dashboard, engagement, environment, exports, health,
                                heatmap, imports, layers, lists, summary, tokens)
from moments.api.routes import demo_video
from moments.api.routes import dimensions as dimension_routes
from moments.api.routes import docs as docs_routes
from moments.api.routes import views as view_routes
from moments.api.routes import compare as compare_routes
from moments.config import Settings
from moments.ingestion.pipeline import BeaconPipeline
from moments.metrics import Metrics
from moments.store.base import Store

log = logging.getLogger("moments")
PUBLISH_INTERVAL_S = 2.0


def housekeep(app: FastAPI) -> None:
    """Close views idle for longer than the idle timeout, drop data past retention (blocking)."""
    now = time.time()
    closed = app.state.store.finalize_idle_views(int((now - app.state.settings.idle_timeout_s) * 1000))
    app.state.metrics.views_completed.inc(closed)
    app.state.store.expire(int(now * 1000))


async def housekeeping(app: FastAPI) -> None:
    """Forever, where the beacon pipeline does not run it (stores one process holds)."""
    while True:
        await asyncio.sleep(app.state.settings.finalize_interval_s)
        try:
            await run_in_threadpool(housekeep, app)
        except Exception:  # keep the loop alive; the next round retries
            log.exception("housekeeping failed")


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    metrics: Metrics = app.state.metrics
    pipeline = BeaconPipeline(app.state.store, journal_root(app.state.store, settings), settings.journal_name,
                              settings.max_ingest_backlog_bytes, on_applied=metrics.count_applied,
                              housekeeping=lambda: housekeep(app), housekeeping_interval_s=settings.finalize_interval_s)
    app.state.beacons = pipeline
    metrics.watch_ingest(lambda: pipeline.ingest_lag_s(int(time.time() * 1000)), pipeline.ingest_backlog_bytes)
    tasks = [asyncio.create_task(publish_environments(app, pipeline))]
    if not pipeline.runs_housekeeping:
        tasks.append(asyncio.create_task(housekeeping(app)))
    log.info("ready: beacons are journaled in %s and applied to the store as they come", pipeline.root)
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await run_in_threadpool(pipeline.close)


async def publish_environments(app: FastAPI, pipeline: BeaconPipeline) -> None:
    """Forever: tell door processes (api/door.py) and this process's pipeline which env keys
    to take from which origins, every few seconds (environments made or changed by another
    process or with the store's own tools show up too)."""
    published = None
    while True:
        try:
            environments = await run_in_threadpool(app.state.store.environments)
            pipeline.know(environments)
            if environments != published:
                door.publish_environments(pipeline.root, environments)
                published = environments
        except Exception:  # keep the loop alive; the next round retries
            log.exception("publishing environments failed")
        await asyncio.sleep(PUBLISH_INTERVAL_S)


def journal_root(store: Store, settings: Settings) -> Path:
    """Where the beacon journal lives: the configured folder, else beside the store's own files."""
    if settings.journal_dir:
        return Path(settings.journal_dir)
    local = getattr(store, "local_path", None)
    if local is None:
        raise ValueError("this store keeps no local files: set a beacon journal folder "
                         "(--journal-dir or MOMENTS_JOURNAL_DIR)")
    return Path(f"{local}.journal")


def create_app(store: Store, settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(
        title="moments",
        version=__version__,
        description="Per-moment video engagement analytics. The /data/v1/engagement endpoints are "
        "compatible with the Mux Data Engagement API; /v1 endpoints are moments' own; POST / is the "
        "beacon collector for mux-embed and Mux Player.",
        docs_url=None,  # routes/docs.py serves it from the package's own files
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.settings = settings
    app.state.rate_limiter = RateLimiter()
    app.state.beacon_budget = RateLimiter()
    app.state.address_budget = RateLimiter()
    app.state.response_cache = ResponseCache()
    app.state.worker_shares = WorkerShares()
    app.state.metrics = Metrics()
    errors.install(app)
    app.add_middleware(Observed, metrics=app.state.metrics)
    for module in (engagement, heatmap, layers, summary, chapters, exports, imports, lists, assets, environment, tokens,
                   backup, health, view_routes):
        app.include_router(module.router)
    app.include_router(compare_routes.router)
    app.include_router(dimension_routes.router)
    app.include_router(demo_video.router)
    collector.mount(app, settings.beacon_path)
    dashboard.mount(app)
    docs_routes.mount(app)
    return app
