"""Slow clients cannot hold the server's connections: deadlines for headers and bodies, and a bound.

uvicorn has neither a header nor a body timeout (its keep-alive timer runs only between
requests, and any byte cancels it): 300 clients trickling a byte at a time held their
connections for as long as they liked. Here:
- `bounded_protocol`: uvicorn's HTTP protocol, whose clients must send a request's headers
  within the header timeout of connecting or of starting the request; else 408 and closed;
- `BodyDeadline`: ASGI middleware, a request's body must arrive within the body timeout of its
  headers; else 408 (the route's own answer is dropped) and the connection is closed;
- `uvicorn_options`: those, with `limit_concurrency` (uvicorn answers 503 past it).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

from moments.config import Settings

_MESSAGE = "The request took too long to arrive; send it again at a normal pace."
_BODY = json.dumps({"error": {"type": "request_timeout", "messages": [_MESSAGE]}}).encode()
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(_BODY)).encode()),
            (b"connection", b"close")]
_RAW_408 = (b"HTTP/1.1 408 Request Timeout\r\n" + b"".join(k + b": " + v + b"\r\n" for k, v in _HEADERS)
            + b"\r\n" + _BODY)


def bounded_protocol(header_timeout_s: float) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol (httptools, else h11) with a deadline on each request's headers."""

    class HeaderDeadline(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
        deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            cycle = self.cycle
            if self.deadline is None and (cycle is None or cycle.response_complete):  # a next request starts
                self._arm()
            super().data_received(data)
            if self.cycle is not cycle:  # its headers are in: the app has the request
                self._disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self.deadline = self.loop.call_later(header_timeout_s, self._expire)

        def _disarm(self) -> None:
            if self.deadline is not None:
                self.deadline.cancel()
                self.deadline = None

        def _expire(self) -> None:
            self.deadline = None
            if not self.transport.is_closing():
                self.transport.write(_RAW_408)
                self.transport.close()

    return HeaderDeadline


class BodyDeadline:
    """ASGI middleware: the body must be in within `timeout_s` of the headers, else 408."""

    def __init__(self, app: Any, timeout_s: float) -> None:
        self.app, self.timeout_s = app, timeout_s

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        body_in = started = timed_out = False

        async def timed_receive() -> dict:
            nonlocal body_in, timed_out
            if body_in or started or timed_out:  # e.g. a streaming response listening for a disconnect
                return {"type": "http.disconnect"} if timed_out else await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                timed_out = True
                await send({"type": "http.response.start", "status": 408, "headers": _HEADERS})
                await send({"type": "http.response.body", "body": _BODY})
                return {"type": "http.disconnect"}
            body_in = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        async def tracked_send(message: dict) -> None:
            nonlocal started
            if timed_out:  # the app's answer to the disconnect it was told of
                return
            started = True
            await send(message)

        try:
            await self.app(scope, timed_receive, tracked_send)
        except Exception:
            if not timed_out:  # a route failing on the disconnect it was told of is expected
                raise


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn.Config keywords that bound what slow or many clients can hold."""
    return {"http": bounded_protocol(settings.header_timeout_s), "limit_concurrency": settings.max_connections}


def bounded(app: Any, settings: Settings) -> BodyDeadline:
    return BodyDeadline(app, settings.body_timeout_s)
