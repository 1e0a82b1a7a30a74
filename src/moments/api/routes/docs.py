"""/docs (Swagger UI) and /redoc (ReDoc) on the OpenAPI document, from the files vendored in
web/vendor (npm swagger-ui-dist and redoc; README there), so the pages work offline and run no
script from another origin (FastAPI's defaults load them from a CDN, on this server's origin,
without SRI, and ReDoc's fonts from Google)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from moments.api.errors import ApiError

VENDOR_DIR = Path(__file__).resolve().parents[2] / "web" / "vendor"
ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
          "redoc.standalone.js": "text/javascript"}
ASSETS_PATH = "/docs/assets"


def mount(app: FastAPI) -> None:
    """Call with FastAPI(docs_url=None, redoc_url=None): this replaces its /docs and /redoc."""

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} API",
                                   swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
                                   swagger_favicon_url="/dashboard/icon.svg")

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        page = get_redoc_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} API",
                              redoc_js_url=f"{ASSETS_PATH}/redoc.standalone.js",
                              redoc_favicon_url="/dashboard/icon.svg", with_google_fonts=False)
        # ReDoc's sidebar loads Redocly's logo from their CDN (telling them of every visit): images
        # from this server only; the logo then hides itself, its "API docs by Redocly" link stays.
        page.headers["Content-Security-Policy"] = "img-src 'self' data:"
        return page

    @app.get(ASSETS_PATH + "/{name}", include_in_schema=False)
    async def asset(name: str) -> FileResponse:
        if name not in ASSETS:  # only these files: the name never reaches the file system
            raise ApiError(404, "Not found")
        # Revalidated on every load (cheap: ETag), so an upgraded server never serves yesterday's UI.
        return FileResponse(VENDOR_DIR / name, media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})
