"""/docs (Swagger UI) and /redoc (ReDoc) from files the server ships (npm swagger-ui-dist and
redoc, vendored), so the pages run no script from another origin and work offline."""

from __future__ import annotations

import hashlib
import re
import subprocess
import tarfile
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

import pytest

from npm import ensure_node_modules, require_tool

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT / "src" / "moments" / "web" / "vendor"
BROWSER_DIR = Path(__file__).parent / "browser"
SWAGGER_UI_VERSION = "5.35.0"
REDOC_VERSION = "2.5.4"
SHIPPED = {"/docs": ("swagger-ui-bundle.js", "swagger-ui.css"), "/redoc": ("redoc.standalone.js",)}


# What the page loads: src= and href= attributes, and the url: Swagger UI reads the document from.
REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*["']([^"']+)["']""")


def referenced_urls(html: str) -> list[str]:
    return [a or b for a, b in REFERENCE.findall(html)]


@pytest.mark.parametrize("page_path", SHIPPED)
def test_docs_reference_only_this_server_and_its_assets_are_served(server, page_path):
    page = httpx.get(f"{server.base_url}{page_path}")
    assert page.status_code == 200 and ("SwaggerUIBundle" in page.text or "<redoc spec-url" in page.text)
    urls = referenced_urls(page.text)
    assert urls and all(urlsplit(urljoin(server.base_url + page_path, u)).netloc == urlsplit(server.base_url).netloc
                        for u in urls), urls
    for name in SHIPPED[page_path]:
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
    for name in SHIPPED["/docs"] + ("swagger-ui-bundle.js.LICENSE.txt",):
        assert digest(VENDOR / name) == digest(package / name), name
    assert (VENDOR / "swagger-ui-LICENSE").read_text() == (package / "LICENSE").read_text()
    assert f"`swagger-ui-dist` {SWAGGER_UI_VERSION}" in (VENDOR / "README.md").read_text()


def test_vendored_redoc_is_the_npm_package_files(tmp_path):
    """The package's tarball alone (`npm pack`): installing it would bring React and its peers."""
    npm = require_tool("npm", "the test fetches the redoc package with npm")
    packed = subprocess.run([npm, "pack", f"redoc@{REDOC_VERSION}", "--pack-destination", str(tmp_path)],
                            capture_output=True, text=True, timeout=300)
    assert packed.returncode == 0, packed.stderr
    with tarfile.open(tmp_path / f"redoc-{REDOC_VERSION}.tgz") as package:
        def packaged(name: str) -> bytes:
            return package.extractfile(f"package/{name}").read()

        for name in ("redoc.standalone.js", "redoc.standalone.js.LICENSE.txt"):
            assert (VENDOR / name).read_bytes() == packaged(f"bundles/{name}"), name
        assert (VENDOR / "redoc-LICENSE").read_bytes() == packaged("LICENSE")
    assert f"`redoc` {REDOC_VERSION}" in (VENDOR / "README.md").read_text()


# What shows that each page rendered the API's operations: a selector and how to read a path.
RENDERED = {
    "/docs": (".swagger-ui .opblock", "els => els.map(e => e.querySelector('.opblock-summary-path').textContent)"),
    "/redoc": ("[data-section-id^='operation/']", "els => els.map(e => e.textContent)"),
}


@pytest.mark.parametrize("page_path", SHIPPED)
def test_docs_render_in_chromium_with_no_network_but_the_server(browser, server, page_path):
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
        page.goto(f"{server.base_url}{page_path}")
        selector, read = RENDERED[page_path]
        page.wait_for_selector(selector)
        assert page.title() == "moments API"
        operations = page.eval_on_selector_all(selector, read)
        assert len(operations) > 20 and any("/heatmap" in o for o in operations), operations
        assert external == [] and problems == [], (external, problems)
    finally:
        context.close()
