"""A noisy neighbour within its rate limit (issue 16, item 5), on the real server over a real
DuckDB file: /relative is charged by the peers it reads and /compare by its two curves, one
environment's expensive queries get a bounded share of the worker threads, and a /relative
whose client leaves stops reading. Functional only: the latency figures come from
bench/neighbours.py."""

from __future__ import annotations

import base64
import socket
import threading
import time
from urllib.parse import urlsplit

from conftest import Server, Tenant, make_tenant, start_app
from moments.model import Asset, View
from moments.store.duckdb import DuckDBStore

NOW_MS = int(time.time() * 1000)


def load(store: DuckDBStore, tenant: Tenant, n_peers: int) -> None:
    """`mine` and n_peers assets of 60 s, 5 views each (through the store: writes through the API
    would spend the rate limit these tests measure)."""
    ids = ["mine"] + [f"peer-{i}" for i in range(n_peers)]
    for asset_id in ids:
        store.put_asset(tenant.environment_id, Asset(asset_id, 60_000))
    store.upsert_views(tenant.environment_id, [
        View(f"{asset_id}-{k}", NOW_MS - 3_600_000 - k, 60_000, ((0, 1_000 * (10 + i % 50)),), asset_id=asset_id,
             view_end_ms=NOW_MS - 3_000_000) for i, asset_id in enumerate(ids) for k in range(5)], NOW_MS)


def relative_path(days: int) -> str:
    return f"/v1/engagement/assets/mine/relative?timeframe[]={days}:days"  # days: a window of its own, not cached


def test_relative_and_compare_are_charged_by_what_they_read(server):
    # A: 20 requests at once, refilled at 1 per 100 s: the test sees the bucket drain, nothing else.
    a = server.tenant("a", rate_limit_per_s=0.01, rate_limit_burst=20)
    c = server.tenant("c", rate_limit_per_s=0.01, rate_limit_burst=5)
    b = server.tenant("b", rate_limit_per_s=5, rate_limit_burst=20)
    for tenant in (a, b, c):
        load(server.store, tenant, 45)
    with server.client(a) as client_a, server.client(b) as client_b, server.client(c) as client_c:
        statuses, heatmaps = [], []
        for days in range(1, 8):
            response = client_a.get(relative_path(days))
            statuses.append(response.status_code)
            if response.status_code == 200:
                assert response.json()["data"]["candidates"] == 45
            heatmaps.append(client_b.get("/data/v1/engagement/assets/mine/heatmap").status_code)
        # 45 peers: 1 + ceil(45 / 20) = 4 requests each; 20 pay for five.
        assert statuses == [200] * 5 + [429, 429]
        assert response.headers["Retry-After"] and response.json() == {"errors": ["Too many requests, retry later."]}
        assert heatmaps == [200] * 7  # the other environment keeps its own budget
        # /compare reads two curves: 2 requests each; 5 pay for two.
        compares = [client_c.get("/v1/engagement/assets/mine/compare", params={
            "timeframe[]": f"{days}:days", "against_timeframe[]": "7:days"}).status_code for days in (1, 2, 3)]
        assert compares == [200, 200, 429]


class GatedStore(DuckDBStore):
    """A real DuckDB store whose peer listing for the environment `gated` waits for the test's
    `gate` (a /relative is held between its own curve and its peers'), counting the curves read
    after the gate opens."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.gated, self.listing, self.gate = None, threading.Semaphore(0), threading.Event()
        self.curves_after_gate = 0

    def scope_durations(self, environment_id, *args, **kwargs):
        if environment_id == self.gated:
            self.listing.release()
            assert self.gate.wait(30)
        return super().scope_durations(environment_id, *args, **kwargs)

    def coverage(self, *args, **kwargs):
        self.curves_after_gate += self.gate.is_set()
        return super().coverage(*args, **kwargs)

    def coverages(self, query, grids, **options):
        self.curves_after_gate += len(grids) * self.gate.is_set()
        return super().coverages(query, grids, **options)


def open_request(server: Server, tenant: Tenant, path: str) -> socket.socket:
    """A GET sent on a socket of its own, to be closed (the client leaving) without reading the answer."""
    url = urlsplit(server.base_url)
    sock = socket.create_connection((url.hostname, url.port))
    token = base64.b64encode(f"{tenant.token_id}:{tenant.token_secret}".encode()).decode()
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {url.netloc}\r\nAuthorization: Basic {token}\r\n\r\n".encode())
    return sock


def test_a_share_of_the_threads_and_work_that_stops_when_the_client_leaves(tmp_path):
    store = GatedStore(str(tmp_path / "moments.duckdb"))
    server = start_app(store)
    try:
        a, b = make_tenant(store, "a"), make_tenant(store, "b")
        load(store, a, 120)
        load(store, b, 3)
        app = server.uvicorn_server.config.app
        while not hasattr(app, "state"):  # the FastAPI app inside the connection bounds (api/connections.py)
            app = app.app
        shares = app.state.worker_shares
        store.gated = a.environment_id
        held = [open_request(server, a, relative_path(days)) for days in (1, 2)]
        for _ in held:
            assert store.listing.acquire(timeout=10)  # both are past their own curve, before their peers
        assert shares.running(a.environment_id) == shares.per_environment == 2
        with server.client(a) as client_a, server.client(b) as client_b:
            refused = client_a.get(relative_path(3))
            assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
            assert client_a.get("/data/v1/engagement/assets/mine/heatmap").status_code == 200  # cheap ones pass
            assert client_b.get(relative_path(3).replace("mine", "peer-0")).status_code == 200  # B has its own share
            for sock in held:
                sock.close()
            time.sleep(1)  # the server asks every 0.1 s whether the client is still there
            store.gate.set()
            deadline = time.monotonic() + 10
            while shares.running(a.environment_id) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert shares.running(a.environment_id) == 0
            assert store.curves_after_gate == 0  # neither read a peer after its client left
            # A client that stays gets every peer read (the counter counts).
            answered = client_a.get(relative_path(4))
            assert answered.status_code == 200 and answered.json()["data"]["candidates"] == 120
            assert store.curves_after_gate >= 120
    finally:
        server.stop()
        store.close()
