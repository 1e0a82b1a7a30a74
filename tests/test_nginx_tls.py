"""deploy/nginx/moments.conf in front of a real `moments serve`, with TLS, as docs/deploy.md has it.

Debian's nginx runs unprivileged on the very site file of deploy/ (its ports, upstream and
certificate paths substituted, nothing else), with a self-signed certificate for 127.0.0.1
made here by openssl. Real mux-embed 5.19.0 in Chromium, told to beacon to `127.0.0.1:PORT`,
posts over HTTPS (mux-embed uses plain http only for localhost) through nginx to the
collector; the view is then read back through the same proxy. Plain http is redirected.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import urlencode, urlsplit

import httpx
import pytest

from conftest import Tenant, free_port, make_tenant
from moments.store.duckdb import DuckDBStore
from npm import require_tool
from test_browser import BROWSER_DIR, MUX_EMBED_VERSION, PLAN, VIDEO_SECONDS
from chromium import StaticSite, make_test_video
from npm import ensure_node_modules

SITE = Path(__file__).resolve().parents[1] / "deploy" / "nginx" / "moments.conf"
CERTIFICATE = "/etc/letsencrypt/live/moments.example.com/fullchain.pem"
PRIVATE_KEY = "/etc/letsencrypt/live/moments.example.com/privkey.pem"
FAST_PLAN = PLAN | {"rate": 4}  # the watch pattern of tests/test_browser.py, at 4x: beacons are the point here


def render_site(app_port: int, http_port: int, tls_port: int, certificate: Path, key: Path) -> str:
    """The committed site file with this test's ports and certificate; the IPv6 listens go (a CI
    container may have no IPv6). Every other line is as committed."""
    text = SITE.read_text()
    for committed, here in {"server 127.0.0.1:8000;": f"server 127.0.0.1:{app_port};",
                            "listen 80;": f"listen 127.0.0.1:{http_port};",
                            "listen 443 ssl http2;": f"listen 127.0.0.1:{tls_port} ssl http2;",
                            CERTIFICATE: str(certificate), PRIVATE_KEY: str(key)}.items():
        assert text.count(committed) == 1, committed
        text = text.replace(committed, here)
    lines = text.splitlines(keepends=True)
    kept = [line for line in lines if not line.strip().startswith("listen [::]:")]
    assert len(lines) - len(kept) == 2
    return "".join(kept)


def self_signed(folder: Path) -> tuple[Path, Path]:
    openssl = require_tool("openssl", "the TLS test makes its certificate with openssl (apt-get install openssl)")
    certificate, key = folder / "cert.pem", folder / "key.pem"
    made = subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                           "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(certificate)],
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    return certificate, key


def wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        assert process.poll() is None, log.read_text() if log.exists() else "exited"
        assert time.monotonic() < deadline, f"nothing listens on {port}"
        time.sleep(0.05)


def access_lines(log: Path, method: str, path: str) -> list[dict]:
    """`moments serve --log-format json`'s access lines for one method and path, in order."""
    lines = [json.loads(text) for text in log.read_text().splitlines() if text.startswith("{")]
    return [line for line in lines if line.get("method") == method and line.get("path") == path]


class Deployment:
    """`moments serve` on a DuckDB file and nginx in front of it, each a process of its own."""

    def __init__(self, folder: Path, settings: dict[str, str]) -> None:
        nginx = shutil.which("nginx", path=f"{os.environ.get('PATH', '')}:/usr/sbin")
        if nginx is None:
            pytest.fail("`nginx` is missing: apt-get install nginx (the TLS proxy test runs Debian's)", pytrace=False)
        store = DuckDBStore(str(folder / "moments.duckdb"))
        self.tenant: Tenant = make_tenant(store, env_key=f"tls{uuid.uuid4().hex[:12]}")
        store.close()
        self.app_port, self.http_port, self.tls_port = free_port(), free_port(), free_port()
        self.server_log = folder / "serve.log"
        with self.server_log.open("w") as log:
            self.server = subprocess.Popen([sys.executable, "-m", "moments", "serve", "--db", str(folder / "moments.duckdb"),
                                            "--port", str(self.app_port)], stdout=log, stderr=subprocess.STDOUT,
                                           env={**os.environ, **settings})
        self.certificate, key = self_signed(folder)
        (folder / "site.conf").write_text(render_site(self.app_port, self.http_port, self.tls_port, self.certificate, key))
        self.access_log = folder / "access.log"
        temp = "".join(f"    {kind}_temp_path {folder / kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        (folder / "nginx.conf").write_text(
            ("user root;\n" if os.geteuid() == 0 else "")  # else its workers would be nobody, locked out of the folder
            + f"daemon off;\nworker_processes 1;\npid {folder / 'nginx.pid'};\nerror_log {folder / 'error.log'} info;\n"
            f"events {{ worker_connections 256; }}\nhttp {{\n    access_log {self.access_log};\n{temp}"
            f"    include {folder / 'site.conf'};\n}}\n")
        self.nginx = subprocess.Popen([nginx, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-e", str(folder / "error.log")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.app_port, self.server, self.server_log)
        wait_for_port(self.tls_port, self.nginx, folder / "error.log")
        self.base_url = f"https://127.0.0.1:{self.tls_port}"

    def client(self, **options) -> httpx.Client:
        """Over TLS, trusting this deployment's own certificate (and checking it)."""
        return httpx.Client(base_url=self.base_url, verify=ssl.create_default_context(cafile=str(self.certificate)),
                            timeout=30, **options)

    def stop(self) -> None:
        for process in (self.nginx, self.server):
            process.terminate()
        for process in (self.nginx, self.server):
            process.wait(timeout=60)


@pytest.fixture
def deploy(tmp_path: Path) -> Iterator[Callable[..., Deployment]]:
    """Start a deployment with these MOMENTS_* settings for `moments serve`."""
    started: list[Deployment] = []

    def start(**settings: str) -> Deployment:
        started.append(Deployment(tmp_path, settings))
        return started[-1]

    yield start
    for deployed in started:
        deployed.stop()


def test_plain_http_is_redirected_and_tls_reaches_moments(deploy) -> None:
    # Beacon bytes per client address: one body of 1000 at once, then (nearly) nothing.
    deployment = deploy(MOMENTS_BEACON_ADDRESS_BURST_BYTES="1500", MOMENTS_BEACON_ADDRESS_BYTES_PER_S="1",
                        MOMENTS_LOG_FORMAT="json")
    redirected = httpx.get(f"http://127.0.0.1:{deployment.http_port}/dashboard/?a=1")
    assert redirected.status_code == 301 and redirected.headers["location"] == "https://127.0.0.1/dashboard/?a=1"
    with deployment.client() as http:
        assert http.get("/healthz").status_code == 200
        environment = http.get("/v1/environment", auth=deployment.tenant.auth)
        assert environment.json()["data"]["environment_id"] == deployment.tenant.environment_id
        unauthorized = http.get("/v1/environment")  # the API's own errors come through unchanged
        assert unauthorized.status_code == 401 and unauthorized.json()["error"]["type"] == "unauthorized"
    with pytest.raises(httpx.ConnectError):  # a client that does not trust the certificate stops
        httpx.get(f"{deployment.base_url}/healthz")
    # HTTP/2 is offered (ALPN), over TLS 1.3 when the client has it.
    handshake = subprocess.run([require_tool("openssl", "the TLS test checks the handshake"), "s_client", "-connect",
                                f"127.0.0.1:{deployment.tls_port}", "-alpn", "h2,http/1.1"],
                               input=b"", capture_output=True, timeout=30)
    said = handshake.stdout.decode("utf-8", "replace")  # the server's first HTTP/2 frame is binary
    assert "ALPN protocol: h2" in said and "New, TLSv1.3" in said, said

    # moments believes X-Forwarded-For from 127.0.0.1 (uvicorn's FORWARDED_ALLOW_IPS): a client
    # reaching it directly from there gets the budget of the address it names...
    body = b"x" * 1000  # charged to the address before it is decoded (then refused: not a beacon)
    direct = httpx.post(f"http://127.0.0.1:{deployment.app_port}/", content=body,
                        headers={"X-Forwarded-For": "203.0.113.1"})
    assert direct.status_code == 400
    # ... so nginx must set the header, not pass a client's own on: through it, two requests
    # naming two addresses are charged to the one nginx saw, and the second finds it spent.
    with deployment.client() as http:
        first = http.post("/", content=body, headers={"X-Forwarded-For": "203.0.113.2"})
        second = http.post("/", content=body, headers={"X-Forwarded-For": "203.0.113.3"})
    assert first.status_code == 400
    assert second.status_code == 429 and "client address" in second.json()["error"]["messages"][0]
    # The server's access lines name the same clients: the one a trusted caller names, and nginx's
    # view of each client through the proxy.
    deadline = time.monotonic() + 10
    while len(beacon_posts := access_lines(deployment.server_log, "POST", "/")) < 3:
        assert time.monotonic() < deadline, deployment.server_log.read_text()
        time.sleep(0.05)
    assert [(line["client"], line["status"]) for line in beacon_posts] == [
        ("203.0.113.1", 400), ("127.0.0.1", 400), ("127.0.0.1", 429)]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[str]:
    """tests/browser's pages (with the npm mux-embed) and a test mp4, over plain http."""
    ensure_node_modules(BROWSER_DIR, {"mux-embed": MUX_EMBED_VERSION})
    media = tmp_path_factory.mktemp("media")
    make_test_video(media / "test.mp4", VIDEO_SECONDS)
    static = StaticSite({"/media": media, "/": BROWSER_DIR})
    yield static.base_url
    static.stop()


def test_mux_embed_in_chromium_beacons_over_https_through_nginx(browser, site: str, deploy) -> None:
    deployment = deploy()
    collector = f"127.0.0.1:{deployment.tls_port}"  # not localhost: mux-embed posts to https://
    video_id = f"tls-{uuid.uuid4().hex[:12]}"
    query = urlencode({"collector": collector, "env_key": deployment.tenant.env_key, "video_id": video_id,
                       "src": f"{site}/media/test.mp4"})
    context = browser.new_context(ignore_https_errors=True)  # the test's self-signed certificate
    beacons, hosts = [], set()
    page = context.new_page()
    page.on("request", lambda r: hosts.add(urlsplit(r.url).netloc))
    page.on("requestfinished", lambda r: beacons.append((r.url, r.response().status))
            if r.method == "POST" and urlsplit(r.url).netloc == collector else None)
    started_s = int(time.time())
    try:
        page.goto(f"{site}/video.html?{query}")
        run = page.evaluate("plan => window.e2e(plan)", FAST_PLAN)
        assert not run["errors"], run["errors"]
        with deployment.client() as http:
            deadline = time.monotonic() + 20
            while "moments_views_completed_total 1.0" not in http.get("/metrics").text:
                assert time.monotonic() < deadline, f"no view completed; beacons: {beacons}"
                page.wait_for_timeout(100)
    finally:
        context.close()
    assert beacons and all(url == f"https://{collector}/" and status == 200 for url, status in beacons), beacons
    assert hosts <= {urlsplit(site).netloc, collector}, hosts  # nothing else was asked for
    # nginx passed them on: its access log holds the beacon POSTs.
    posts = [line for line in deployment.access_log.read_text().splitlines() if '"POST / HTTP/' in line]
    assert len(posts) >= len(beacons) and all('" 200 ' in line for line in posts), posts

    with deployment.client(auth=deployment.tenant.auth) as http:
        heatmap = http.get(f"/data/v1/engagement/videos/{video_id}/heatmap",
                           params={"timeframe[]": [str(started_s - 60), str(int(time.time()) + 60)]})
    assert heatmap.status_code == 200, heatmap.text
    data = heatmap.json()["data"]
    assert data["total_views"] == 1 and max(data["value"]) > 0.9 and min(data["value"]) == 0  # played, and skipped parts
