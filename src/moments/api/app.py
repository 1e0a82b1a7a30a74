"""The ASGI application: one process serves the API (and later the collector and dashboard)."""

from __future__ import annotations

from fastapi import FastAPI

from moments import __version__
from moments.api import errors
from moments.api.ratelimit import RateLimiter
from moments.api.routes import assets, engagement, health, imports
from moments.config import Settings
from moments.store.base import Store


def create_app(store: Store, settings: Settings | None = None) -> FastAPI:
    app = FastAPI(
        title="moments",
        version=__version__,
        description="Per-moment video engagement analytics. The /data/v1/engagement endpoints are "
        "compatible with the Mux Data Engagement API; /v1 endpoints are moments' own.",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.store = store
    app.state.settings = settings or Settings()
    app.state.rate_limiter = RateLimiter()
    errors.install(app)
    for module in (engagement, imports, assets, health):
        app.include_router(module.router)
    return app
