"""/dashboard/: the web dashboard's static files (src/moments/web), served by the API's process.

The page holds no data of its own: it signs in with a token kept in sessionStorage and reads
everything from the API with an Authorization header, so it needs no server-side session.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

WEB_DIR = Path(__file__).resolve().parents[2] / "web"
PATH = "/dashboard"

# Only the page's own scripts and styles run. Media and the HLS playlists and segments that
# hls.js fetches may come from wherever an asset's playback_url points; MSE plays from blob:.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data: blob:",
    "media-src * blob: data:", "connect-src *", "worker-src 'self' blob:", "object-src 'none'",
    "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
))
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidate every load (cheap: ETag), so an upgraded server never runs yesterday's script.
    "Cache-Control": "no-cache",
}


class DashboardFiles(StaticFiles):
    def file_response(self, full_path: str | os.PathLike, stat_result: os.stat_result, scope: Scope,
                      status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(HEADERS)
        return response


async def home(request: Request) -> RedirectResponse:
    """A browser opening the server's address lands on the dashboard (POST / stays the beacon
    collector's)."""
    return RedirectResponse(f"{PATH}/", status_code=307)


def mount(app: FastAPI) -> None:
    """/dashboard redirects to /dashboard/, which serves index.html; so does GET /."""
    app.add_api_route("/", home, methods=["GET"], include_in_schema=False)
    app.mount(PATH, DashboardFiles(directory=WEB_DIR, html=True), name="dashboard")
