"""What one request or client may cost the server: imports echo a bounded number of rejections,
a page of views reads a bounded number of ranges, slow clients lose their connections."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from moments.ingestion.imports import MAX_ECHOED_REJECTIONS, MAX_RANGES_PER_VIEW, ImportResult, Rejected
from moments.stats.view_paths import MAX_PAGE_RANGES
from moments.store.duckdb import DuckDBStore

import reliability
from conftest import make_tenant

VIEW_START = (int(time.time()) - 7200) * 1000  # within any retention and the last day


def view(view_id: str) -> dict:
    return {"view_id": view_id, "asset_id": "a", "view_start": VIEW_START, "duration_ms": 60_000,
            "ranges": [[0, 30_000]]}


def junk_with_views(junk_lines: int) -> bytes:
    """`junk_lines` empty objects (each a rejected view) with a valid view first and last."""
    lines = [json.dumps(view("first"))] + ["{}"] * junk_lines + [json.dumps(view("last"))]
    return ("\n".join(lines) + "\n").encode()


def check_bounded(data: dict, junk_lines: int) -> None:
    assert data["accepted"] == 2
    assert data["rejected_total"] == junk_lines
    assert [r["index"] for r in data["rejected"]] == list(range(1, MAX_ECHOED_REJECTIONS + 1))
    assert data["rejected"][0] == {"index": 1, "view_id": None, "messages": [
        "view_id is required", "at least one of asset_id, playback_id, video_id is required",
        "view_start is required", "duration_ms is required: an integer in 1..2592000000", "ranges is required"]}


def test_an_import_of_junk_lines_echoes_the_first_rejections_and_counts_them_all(server):
    # 20,000 junk lines answered 1.5 MB of rejections (77 bytes out per 3 in); now ~20 KB.
    tenant = server.tenant()
    with server.client(tenant) as client:
        for content_type in ("application/x-ndjson", "application/json"):  # the Arrow path, the line-by-line one
            response = client.post("/v1/views", content=junk_with_views(20_000), headers={"content-type": content_type})
            assert response.status_code == 200, response.text
            check_bounded(response.json()["data"], 20_000)
            assert len(response.content) < 50_000
        assert client.get("/v1/views/last").status_code == 200


def test_the_cli_reports_an_import_as_the_api_does(tmp_path: Path):
    db = tmp_path / "moments.duckdb"
    store = DuckDBStore(str(db))
    tenant = make_tenant(store)
    store.close()
    path = tmp_path / "junk.ndjson"
    path.write_bytes(junk_with_views(500))
    done = subprocess.run([sys.executable, "-m", "moments", "import", str(path), "--env", tenant.environment_id,
                           "--db", str(db), "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr  # `moments import`'s status when records were rejected
    check_bounded(json.loads(done.stdout)["data"], 500)
    human = subprocess.run([sys.executable, "-m", "moments", "import", str(path), "--env", tenant.environment_id,
                            "--db", str(db)], capture_output=True, text=True, timeout=120)
    assert human.stdout.startswith("accepted 2, rejected 500 in ")
    assert human.stdout.rstrip().endswith("... and 480 more (--json lists the first 100)")


def test_results_of_consecutive_batches_add_up_to_one():
    first, second = ImportResult(accepted=1), ImportResult(accepted=2)
    for index in range(80):
        first.reject(Rejected(index, None, ["bad"]))
    for index in range(80, 200):
        second.reject(Rejected(index, None, ["bad"]))
    first.add(second)
    assert (first.accepted, first.rejected_total) == (3, 200)
    assert [r.index for r in first.rejected] == list(range(MAX_ECHOED_REJECTIONS))


def test_a_page_of_long_views_holds_fewer_of_them_and_the_cursor_reaches_the_rest(server):
    # limit=1000 over views of 10,000 ranges each walked 10 million ranges on the event loop
    # (a static file waited 25 s); a page now reads about MAX_PAGE_RANGES ranges.
    tenant, count = server.tenant(), MAX_PAGE_RANGES // MAX_RANGES_PER_VIEW + 5
    ranges = [[at * 1000, at * 1000 + 50] for at in range(MAX_RANGES_PER_VIEW)]  # each a seek from the last
    views = [{**view(f"long-{n:02d}"), "view_start": VIEW_START + n, "view_end": VIEW_START + 3_600_000,
              "duration_ms": MAX_RANGES_PER_VIEW * 1000, "ranges": ranges} for n in range(count)]
    with server.client(tenant) as client:
        body = "\n".join(json.dumps(v) for v in views).encode()
        imported = client.post("/v1/views", content=body, headers={"content-type": "application/x-ndjson"})
        assert imported.json()["data"]["accepted"] == count
        pages, cursor = [], None
        while True:
            params = [("timeframe[]", "1:days"), ("limit", 1000)] + ([("cursor", cursor)] if cursor else [])
            page = client.get("/v1/engagement/assets/a/views", params=params)
            assert page.status_code == 200, page.text
            pages.append(page.json())
            cursor = pages[-1]["next_cursor"]
            if cursor is None:
                break
        assert len(pages) == 2 and all(p["total_row_count"] == count for p in pages)
        assert len(pages[0]["data"]) * MAX_RANGES_PER_VIEW <= MAX_PAGE_RANGES
        listed = [v for p in pages for v in p["data"]]
        assert [v["view_id"] for v in listed] == [f"long-{n:02d}" for n in reversed(range(count))]
        assert {(v["watched_ms"], v["seeks"]) for v in listed} == {(50 * MAX_RANGES_PER_VIEW, MAX_RANGES_PER_VIEW - 1)}
        one = client.get("/v1/views/long-00").json()["data"]
        assert len(one["path"]) == 2 * MAX_RANGES_PER_VIEW - 1 and one["watched_ms"] == 50 * MAX_RANGES_PER_VIEW


def trickle(port: int, first: bytes) -> socket.socket:
    """A connection that sent only `first` of its request (and will send nothing more)."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=30)
    connection.sendall(first)
    return connection


def closed_after(connection: socket.socket) -> bytes:
    """What the server sent before it closed the connection (raises on a timeout: still open)."""
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def test_slow_clients_lose_their_connections_and_others_are_served_meanwhile(tmp_path):
    # Without deadlines, 300 connections trickling their headers held on for as long as they liked.
    db = tmp_path / "moments.duckdb"
    store = DuckDBStore(str(db))
    tenant = make_tenant(store)
    store.close()
    env = {"MOMENTS_HEADER_TIMEOUT_S": "2", "MOMENTS_BODY_TIMEOUT_S": "3", "MOMENTS_MAX_CONNECTIONS": "400"}
    server = reliability.ServerProcess(db, tmp_path / "server.log", env).start()
    try:
        started = time.monotonic()
        headers = [trickle(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ") for _ in range(150)]
        silent = [trickle(server.port, b"") for _ in range(100)]
        head = (f"POST /v1/views HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
                f"Content-Length: 100000\r\nAuthorization: Bearer {tenant.token_id}:{tenant.token_secret}\r\n\r\n{{")
        bodies = [trickle(server.port, head.encode()) for _ in range(50)]
        again = [trickle(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n") for _ in range(20)]
        time.sleep(0.5)
        for connection in again:  # answered, then a second request on the same connection trickles
            connection.sendall(b"GET /healthz HTTP/1.1\r\n")
        with httpx.Client(base_url=server.base_url, timeout=5) as client:  # served while they hang on
            assert client.get("/healthz").status_code == 200
            assert client.get("/dashboard/").status_code == 200
        for connection in headers + silent:
            answer = closed_after(connection)
            assert answer.startswith(b"HTTP/1.1 408 ") and b'"type": "request_timeout"' in answer
        for connection in bodies:
            answer = closed_after(connection)
            assert answer.startswith(b"HTTP/1.1 408 ") and b'"type": "request_timeout"' in answer
        for connection in again:
            answer = closed_after(connection)
            assert answer.startswith(b"HTTP/1.1 200 ") and b"HTTP/1.1 408 " in answer
        assert time.monotonic() - started < 20  # closed by their deadlines (2 s and 3 s), not by this test
        with httpx.Client(base_url=server.base_url, timeout=5) as client:
            assert client.get("/healthz").status_code == 200
        assert "Exception" not in server.log()
    finally:
        server.stop()


def test_past_the_connection_bound_requests_get_503_until_the_slow_ones_are_closed(tmp_path):
    db = tmp_path / "moments.duckdb"
    DuckDBStore(str(db)).close()
    env = {"MOMENTS_HEADER_TIMEOUT_S": "2", "MOMENTS_MAX_CONNECTIONS": "20"}
    server = reliability.ServerProcess(db, tmp_path / "server.log", env).start()
    try:
        silent = [trickle(server.port, b"") for _ in range(20)]
        with httpx.Client(base_url=server.base_url, timeout=5) as client:
            assert client.get("/healthz").status_code == 503
            for connection in silent:
                closed_after(connection)
            assert client.get("/healthz").status_code == 200
    finally:
        server.stop()


def test_an_asset_write_waiting_for_the_store_does_not_hold_up_other_requests(server):
    # PUT /v1/assets wrote on the event loop: while an import held the store's write lock,
    # every request (a static file too) waited for it.
    tenant = server.tenant()
    with server.client(tenant) as client, ThreadPoolExecutor(1) as pool:
        with server.store._lock:  # what a long import's transaction holds
            put = pool.submit(client.put, "/v1/assets/held", json={"duration_ms": 60_000})
            time.sleep(0.5)  # the PUT is waiting for the lock
            started = time.monotonic()
            with httpx.Client(base_url=server.base_url, timeout=10) as other:
                assert other.get("/dashboard/").status_code == 200
            assert time.monotonic() - started < 2  # the lock is held for 5 s
            time.sleep(5 - (time.monotonic() - started))
        assert put.result().status_code == 200 and client.get("/v1/assets/held").json()["data"]["duration_ms"] == 60_000
