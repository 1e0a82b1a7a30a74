"""A door process of `moments serve --workers N`: beacons in, everything else passed on.

The embedded DuckDB file has one writer process, the owner. The N-1 door processes share
the owner's listening socket (the kernel hands each new connection to one of them), so
beacon POSTs, the bulk of a site's traffic, are decoded and made durable on every core:
each door appends to a journal of its own under the owner's journal folder, which the
owner's assembler drains with its own. Any other request is passed, unchanged, to the
owner over a Unix socket, and its answer streamed back.

A door needs no store: the owner publishes its environments' env keys in the journal
folder (ENVIRONMENTS_FILE), and the owner's assembler writes each journal's applied mark,
from which a door knows its backlog (503 with Retry-After past the bound, as the owner).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from pathlib import Path
from typing import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from moments.api.ratelimit import RateLimiter
from moments.api.routes.collector import beacon_paths, preflight, receive_beacons
from moments.config import Settings
from moments.ingestion.journal import JournalReader, Position
from moments.ingestion.pipeline import Door
from moments.metrics import Metrics
from moments.model import Environment

ENVIRONMENTS_FILE = "environments.json"
OWNER_SOCKET = "owner.sock"
# Hop-by-hop headers (RFC 9110 7.6.1) stay with their connection.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "transfer-encoding", "upgrade", "host"}


def publish_environments(root: Path, environments: list[Environment]) -> None:
    """Write the env keys doors accept (the owner, at start and whenever they may change)."""
    scratch = root / (ENVIRONMENTS_FILE + ".tmp")
    scratch.write_text(json.dumps({e.env_key: dataclasses.asdict(e) for e in environments}))
    os.replace(scratch, root / ENVIRONMENTS_FILE)


class Published:
    """The owner's published environments, read again when the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: float | None = None
        self._by_key: dict[str, Environment] = {}
        self._origins: dict[str, tuple[str, ...]] = {}

    def lookup(self, env_key: str) -> Environment | None:
        return self._current().get(env_key)

    def allowed_origins(self, environment_id: str) -> tuple[str, ...]:
        self._current()
        return self._origins.get(environment_id, ())

    def _current(self) -> dict[str, Environment]:
        try:
            stamp = self.path.stat().st_mtime
        except FileNotFoundError:
            return {}
        if stamp != self._stamp:
            self._by_key = {k: Environment(**{**v, "allowed_origins": tuple(v.get("allowed_origins", ()))})
                            for k, v in json.loads(self.path.read_text()).items()}
            self._origins = {e.environment_id: e.allowed_origins for e in self._by_key.values()}
            self._stamp = stamp
        return self._by_key


class SavedMark:
    """How far the owner's assembler has applied a journal, as it last saved it (re-read at
    most every `every_s`; the owner saves at most every 0.5 s, so a door's backlog estimate
    lags by about that)."""

    def __init__(self, folder: Path, every_s: float = 0.25) -> None:
        self.folder, self.every_s = folder, every_s
        self._read_at, self._applied = 0.0, Position(0, 0)

    def __call__(self) -> Position:
        if time.monotonic() - self._read_at > self.every_s:
            self._applied = JournalReader(self.folder).applied
            self._read_at = time.monotonic()
        return self._applied


def create_door(root: Path, name: str, settings: Settings) -> Starlette:
    owner = httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=str(root / OWNER_SOCKET)),
                              base_url="http://owner", timeout=None)
    published = Published(root / ENVIRONMENTS_FILE)
    door = Door(root, name, published.lookup, SavedMark(root / name), settings.max_ingest_backlog_bytes,
                unknown_ttl_s=1.0, allowed_origins=published.allowed_origins)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            door.close()
            await owner.aclose()

    async def passed_on(request: Request) -> StreamingResponse:
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
        forwarded = owner.build_request(request.method, request.url.path, params=request.url.query,
                                        headers=headers, content=request.stream())
        answer = await owner.send(forwarded, stream=True)
        kept = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
        return StreamingResponse(answer.aiter_raw(), status_code=answer.status_code, headers=kept,
                                 background=BackgroundTask(answer.aclose))

    routes = [route for path in beacon_paths(settings.beacon_path) for route in (
        Route(path, receive_beacons, methods=["POST"]), Route(path, preflight, methods=["OPTIONS"]))]
    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    app = Starlette(routes=[*routes, Route("/{path:path}", passed_on, methods=methods)], lifespan=lifespan)
    app.state.beacons = door
    app.state.settings = settings
    app.state.beacon_budget = RateLimiter()  # per process: N doors let N budgets through
    app.state.address_budget = RateLimiter()
    app.state.metrics = Metrics()  # this process's beacon counters; /metrics is the owner's
    return app
