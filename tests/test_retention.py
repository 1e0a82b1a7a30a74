"""Retention: views older than their environment keeps leave the results at once (queries
are clamped to the retention window) and the store at the next housekeeping round of the
real server (MOMENTS_FINALIZE_INTERVAL_S), with their rollup rows, their beacon folds and
their in-progress markers; another environment's longer retention keeps its views."""

from __future__ import annotations

import time

import duckdb
import httpx

from moments.ingestion.imports import import_records
from moments.store.duckdb import DuckDBStore

import reliability
from captures import ingest
from conftest import make_tenant
from reliability import ServerProcess, capture

DAY_MS = 86_400_000
INTERVAL_S = 0.5


def views(prefix: str, start_ms: int, n: int, ended: bool = True) -> list[dict]:
    out = []
    for i in range(n):
        view = {"view_id": f"{prefix}-{i}", "asset_id": "kept-or-not", "video_id": "ret-video", "view_start": start_ms + i,
                "duration_ms": 60_000, "ranges": [[0, 1000 * (i + 1)]]}
        if ended:
            view["view_end"] = start_ms + i + 60_000
        out.append(view)
    return out


def rows(store: DuckDBStore, environment_id: str, table: str, where: str = "true") -> int:
    with store._lock:
        return store._exec(f"SELECT count(*) FROM {table} WHERE environment_id = ? AND {where}", [environment_id])[0][0]


def test_views_past_retention_leave_results_and_store_on_schedule(tmp_path):
    now = int(time.time() * 1000)
    db_path = tmp_path / "retention.duckdb"
    store = DuckDBStore(str(db_path))
    short = make_tenant(store, "short", retention_days=1, env_key="shortkey")
    long = make_tenant(store, "long", retention_days=30, env_key="longkey")
    for tenant, old in ((short, "expired"), (long, "longkept")):
        import_records(store, tenant.environment_id, views(f"{old}view", now - 3 * DAY_MS, 40)
                       + views(f"{old}open", now - 3 * DAY_MS, 5, ended=False) + views("kept", now - 3_600_000, 25))
        # A beacon view from three days ago: received then, so the clock-skew correction puts it there.
        for request in capture("seek-rewatch-destroy", tenant.env_key, tenant.env_key).requests:
            ingest(store, request.body, now - 3 * DAY_MS)
    cutoff = now - 2 * DAY_MS
    assert rows(store, short.environment_id, "views", f"view_start_ms < {cutoff}") == 46
    assert rows(store, short.environment_id, "rollups", f"partition_ms < {cutoff}") > 0
    assert rows(store, short.environment_id, "view_folds") > 0
    assert rows(store, short.environment_id, "unrolled_views") == 5
    store.close()

    server = ServerProcess(db_path, tmp_path / "server.log", env={"MOMENTS_FINALIZE_INTERVAL_S": str(INTERVAL_S)})
    server.start()
    try:
        with httpx.Client(base_url=server.base_url, auth=short.auth) as client:
            # Out of the results at once: any window is clamped to the last day.
            body = client.get("/data/v1/engagement/assets/kept-or-not/heatmap", params={"timeframe[]": "30:days"}).json()
            assert body["data"]["total_views"] == 25 and body["timeframe"][0] >= now // 1000 - 86_400 - 5
            old_window = {"timeframe[]": [str((now - 4 * DAY_MS) // 1000), str((now - 2 * DAY_MS) // 1000)]}
            assert client.get("/data/v1/engagement/assets/kept-or-not/heatmap",
                              params=old_window).json()["data"]["total_views"] == 0
        time.sleep(5 * INTERVAL_S + 1)  # a few housekeeping rounds
        server.kill()  # what the rounds did is committed, not only in the server's memory
    finally:
        server.stop()
    assert "Traceback" not in server.log(), server.log()[-3000:]

    store = DuckDBStore(str(db_path))
    try:
        gone = f"view_start_ms < {cutoff}"
        assert rows(store, short.environment_id, "views", gone) == 0
        assert rows(store, short.environment_id, "views") == 25
        assert rows(store, short.environment_id, "rollups", f"partition_ms < {cutoff}") == 0
        assert rows(store, short.environment_id, "view_folds") == 0
        assert rows(store, short.environment_id, "unrolled_views") == 0
        # The other environment keeps 30 days: nothing of it went.
        assert rows(store, long.environment_id, "views") == 71
        assert rows(store, long.environment_id, "view_folds") > 0
        assert rows(store, long.environment_id, "unrolled_views") == 5
    finally:
        store.close()
    reliability.count("retention: expired views removed by the housekeeping loop", 46)

    # DuckDB does not zero freed blocks; the documented copy leaves no byte of expired views.
    clean = tmp_path / "clean.duckdb"
    connection = duckdb.connect()
    connection.execute(f"ATTACH '{db_path}' AS moments; ATTACH '{clean}' AS clean; COPY FROM DATABASE moments TO clean")
    connection.close()
    assert b"expiredview" not in clean.read_bytes() and b"expiredopen" not in clean.read_bytes()
    store = DuckDBStore(str(clean))
    try:
        assert rows(store, short.environment_id, "views") == 25 and store.get_token(short.token_id) is not None
    finally:
        store.close()
