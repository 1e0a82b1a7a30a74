"""/docs: Swagger UI from files the server ships (npm swagger-ui-dist, vendored), so the page
runs no script from another origin and works offline."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from npm import ensure_node_modules

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT / "src" / "moments" / "web" / "vendor"
BROWSER_DIR = Path(__file__).parent / "browser"
SWAGGER_UI_VERSION = "5.35.0"
SHIPPED = ("swagger-ui-bundle.js", "swagger-ui.css")


# What the page loads: src= and href= attributes, and the url: Swagger UI reads the document from.
REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*["']([^"']+)["']""")


def referenced_urls(html: str) -> list[str]:
    return [a or b for a, b in REFERENCE.findall(html)]


def test_docs_reference_only_this_server_and_its_assets_are_served(server):
    page = httpx.get(f"{server.base_url}/docs")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    urls = referenced_urls(page.text)
    assert urls and all(urlsplit(urljoin(server.base_url + "/docs", u)).netloc == urlsplit(server.base_url).netloc
                        for u in urls), urls
    for name in SHIPPED:
        (url,) = [u for u in urls if u.endswith("/" + name)]
        asset = httpx.get(urljoin(server.base_url, url))
        assert asset.status_code == 200 and asset.content == (VENDOR / name).read_bytes()
        assert asset.headers["content-type"].startswith("text/javascript" if name.endswith(".js") else "text/css")
    missing = httpx.get(f"{server.base_url}/docs/assets/hls.min.js")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found"


def test_vendored_swagger_ui_is_the_npm_package_files():
    ensure_node_modules(BROWSER_DIR, {"swagger-ui-dist": SWAGGER_UI_VERSION})
    package = BROWSER_DIR / "node_modules" / "swagger-ui-dist"
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    for name in SHIPPED + ("swagger-ui-bundle.js.LICENSE.txt",):
        assert digest(VENDOR / name) == digest(package / name), name
    assert (VENDOR / "swagger-ui-LICENSE").read_text() == (package / "LICENSE").read_text()
    assert f"`swagger-ui-dist` {SWAGGER_UI_VERSION}" in (VENDOR / "README.md").read_text()


def test_docs_render_in_chromium_with_no_network_but_the_server(browser, server):
    context = browser.new_context()
    external: list[str] = []
    problems: list[str] = []

    def route(r):
        if urlsplit(r.request.url).hostname not in ("127.0.0.1", "localhost"):
            external.append(r.request.url)
            r.abort()
        else:
            r.continue_()

    context.route("**/*", route)
    page = context.new_page()
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    try:
        page.goto(f"{server.base_url}/docs")
        page.wait_for_selector(".swagger-ui .info .title")
        assert page.text_content(".swagger-ui .info .title").startswith("moments")
        page.wait_for_selector(".opblock")
        paths = page.eval_on_selector_all(".opblock-summary-path", "els => els.map(e => e.textContent)")
        assert any("/heatmap" in p for p in paths), paths
        assert external == [] and problems == [], (external, problems)
    finally:
        context.close()
