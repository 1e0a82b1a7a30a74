"""Each request timed once: its access log line and its /metrics series.

The line is written when the answer is complete, with the client's address as uvicorn's proxy
headers middleware left it (the forwarded one from a trusted proxy, `--forwarded-allow-ips`).
Series are labelled by route template, never by path: ids in paths would grow the metrics
without bound.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from moments.metrics import Metrics

log = logging.getLogger("moments.access")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # no route answered (a 404 or 405 from the router)


class Observed:
    """ASGI middleware: count and time every HTTP request into `metrics`, and log it."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500  # what the client gets when the app fails before answering

        async def observed_send(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            duration_s = time.perf_counter() - started
            method = scope["method"] if scope["method"] in METHODS else "other"
            self.metrics.count_request(route_template(scope), method, status, duration_s)
            if scope.get("client") is not None and not passed_on(scope) and log.isEnabledFor(logging.INFO):
                log_access(scope, status, duration_s)


def passed_on(scope: dict) -> bool:
    """Passed on by a door process (`serve --workers`), which logged it already: it arrived over
    the owner's Unix socket, a server address without a port."""
    server = scope.get("server")
    return server is not None and server[1] is None


def route_template(scope: dict) -> str:
    """The path template of the route that answered (set by the router in the shared scope)."""
    return getattr(scope.get("route"), "path", None) or UNMATCHED


def log_access(scope: dict, status: int, duration_s: float) -> None:
    host, port = scope["client"]
    address = f"[{host}]" if ":" in host else host
    client = f"{address}:{port}" if port else address  # a forwarded address comes without its port
    query = scope.get("query_string", b"").decode("latin-1")
    target = scope["path"] + (f"?{query}" if query else "")
    duration_ms = round(duration_s * 1000, 2)
    log.info('%s "%s %s HTTP/%s" %d %.2f ms', client, scope["method"], target, scope.get("http_version", "1.1"),
             status, duration_ms, extra={"method": scope["method"], "path": scope["path"], "query": query,
                                         "status": status, "duration_ms": duration_ms, "client": host})
