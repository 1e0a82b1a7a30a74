"""Duplicates and disorder: every beacon POST delivered twice (at once, from two connections),
POSTs of all sessions shuffled, import batches sent twice in any order over both import
paths, and the stream split across server restarts (a clean stop and a SIGKILL). The
final heatmaps and hotspots must equal those of a clean, in-order, once-only run."""

from __future__ import annotations

import json
import random
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from moments.model import Asset
from moments.store.duckdb import DuckDBStore

import reliability
from captures import wait_for_ingest
from conftest import make_tenant, start_app
from reliability import ServerProcess, capture, scenarios

INSTANCES = 3  # sessions per captured scenario
SCOPES = ["assets/dup-asset", "videos/vid-1", "videos/vid-2", "videos/imported"]


def import_batches(rng: random.Random) -> list[list[dict]]:
    now = int(time.time() * 1000)
    views = []
    for i in range(240):
        start = now - rng.randint(60_000, 6 * 3_600_000)
        ranges = [[s, s + rng.randint(1, 30_000)] for s in (rng.randrange(0, 90_000) for _ in range(rng.randint(1, 5)))]
        views.append({"view_id": f"dup-{i}", "asset_id": "dup-asset", "video_id": "imported", "view_start": start,
                      "view_end": start + 100_000, "duration_ms": 120_000, "ranges": ranges})
    return [views[i:i + 20] for i in range(0, len(views), 20)]


def post_import(client: httpx.Client, batch: list[dict], ndjson: bool) -> None:
    if ndjson:  # the bulk (Arrow) path
        body = "\n".join(json.dumps(v) for v in batch)
        response = client.post("/v1/views", content=body, headers={"content-type": "application/x-ndjson"})
    else:
        response = client.post("/v1/views", json=batch)
    assert response.status_code == 200 and response.json()["data"]["accepted"] == len(batch), response.text


def post_beacon(client: httpx.Client, request) -> None:
    assert client.post("/", content=request.body, headers=request.headers).status_code == 200


def window() -> dict:
    """The last day and the next hour: beacon views start at their receive time (clock skew
    correction), which a window ending at the current second could still leave out."""
    now = int(time.time())
    return {"timeframe[]": [str(now - 86_400), str(now + 3600)]}


def results(base_url: str, auth) -> dict:
    with httpx.Client(base_url=base_url, auth=auth, timeout=30) as client:
        out = {}
        for scope in SCOPES:
            for kind in ("heatmap", "hotspots"):
                response = client.get(f"/data/v1/engagement/{scope}/{kind}", params=window())
                assert response.status_code == 200, response.text
                out[f"{scope}/{kind}"] = response.json()["data"]
        return out


def metric(text: str, name: str) -> int:
    return int(next(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " ")))


def test_duplicated_reordered_and_restarted_streams_give_the_clean_result(tmp_path):
    rng = random.Random(8)
    captures = [capture(s, f"i{k}") for s in scenarios() for k in range(INSTANCES)]
    batches = import_batches(rng)

    # The clean run: every POST once, each session in order.
    store = DuckDBStore(str(tmp_path / "clean.duckdb"))
    tenant = make_tenant(store, env_key="testenv")
    store.put_asset(tenant.environment_id, Asset("dup-asset", 120_000))
    server = start_app(store)
    with httpx.Client(base_url=server.base_url, auth=tenant.auth, timeout=30) as client:
        for batch in batches:
            post_import(client, batch, ndjson=False)
        for request in (r for c in captures for r in c.requests):
            post_beacon(client, request)
    clean = results(server.base_url, tenant.auth)
    server.stop()
    store.close()
    assert clean["videos/vid-1/heatmap"]["total_views"] == len(captures)
    assert clean["assets/dup-asset/heatmap"]["total_views"] == 240

    # The messy run: everything twice, at once, shuffled, over two restarts.
    db_path = tmp_path / "messy.duckdb"
    store = DuckDBStore(str(db_path))
    tenant = make_tenant(store, env_key="testenv")
    store.put_asset(tenant.environment_id, Asset("dup-asset", 120_000))
    store.close()
    work = [("beacon", r) for c in captures for r in c.requests] + \
           [("import", (b, i % 2 == 0)) for i, b in enumerate(batches)]
    rng.shuffle(work)
    segments = [work[:len(work) // 3], work[len(work) // 3: 2 * len(work) // 3], work[2 * len(work) // 3:]]
    server = ServerProcess(db_path, tmp_path / "server.log")
    duplicates = 0
    try:
        for number, segment in enumerate(segments):
            server.start()
            clients = [httpx.Client(base_url=server.base_url, auth=tenant.auth, timeout=30) for _ in range(2)]

            def deliver(item, client_index: int) -> None:
                kind, payload = item
                client = clients[client_index]
                if kind == "beacon":
                    post_beacon(client, payload)
                else:
                    post_import(client, *payload)

            # Each item twice, from two connections at once.
            with ThreadPoolExecutor(max_workers=4) as pool:
                for future in [pool.submit(deliver, item, copy) for item in segment for copy in (0, 1)]:
                    future.result()
            wait_for_ingest(clients[0])  # duplicates are dropped when the assembler applies them
            duplicates += metric(clients[0].get("/metrics").text, "moments_beacon_duplicate_events_total")
            for client in clients:
                client.close()
            if number == 0:
                server.stop()  # a clean restart
            elif number == 1:
                server.kill()  # and a crash
        messy = results(server.base_url, tenant.auth)
    finally:
        server.stop()
    assert "Traceback" not in server.log(), server.log()[-3000:]
    assert messy == clean
    events = sum(len(r.events) for c in captures for r in c.requests)
    assert duplicates >= events  # every event arrived at least twice
    reliability.count("duplicates: beacon events dropped as duplicates", duplicates)
    reliability.count("duplicates: import views sent twice", 240)
    reliability.count("duplicates: restarts mid-stream", 2)
