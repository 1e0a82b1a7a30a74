"""Overload: one environment floods the real server (its own process, on 127.0.0.1) at many
times its rate limit, while another environment queries at its own limit.

The flooder gets 200s up to its bucket and 429s with Mux's body and the rate-limit headers
after that, never another error; the other environment is served every request, in time;
the server's memory stays bounded; and it is healthy afterwards. The flood is bounded in
time and in requests.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from moments.ingestion.imports import import_records
from moments.store.duckdb import DuckDBStore

import reliability
from conftest import make_tenant, run_async
from reliability import ServerProcess

FLOOD_SECONDS = 4.0
MAX_FLOOD_REQUESTS = 20_000
CONNECTIONS = 32
RATE, BURST = 5.0, 20  # both environments' limits (the defaults, like Mux Data's)
OTHER_RATE = 4.0  # requests/s the other environment sends: within its limit


async def flood(base_url: str, auth, deadline: float) -> list[httpx.Response | Exception]:
    results: list = []
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=base_url, auth=auth, timeout=30, limits=limits) as client:
        async def worker() -> None:
            while time.monotonic() < deadline and len(results) < MAX_FLOOD_REQUESTS:
                try:
                    results.append(await client.get("/data/v1/engagement/assets/load/heatmap"))
                except httpx.HTTPError as error:
                    results.append(error)
        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
    return results


async def steady(base_url: str, auth, deadline: float) -> list[tuple[float, httpx.Response | Exception]]:
    """One request every 1/OTHER_RATE s, each timed."""
    results = []
    async with httpx.AsyncClient(base_url=base_url, auth=auth, timeout=30) as client:
        next_at = time.monotonic()
        while next_at < deadline:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            started = time.monotonic()
            try:
                response = await client.get("/data/v1/engagement/assets/load/heatmap")
            except httpx.HTTPError as error:
                response = error
            results.append((time.monotonic() - started, response))
            next_at += 1 / OTHER_RATE
    return results


async def both(base_url: str, flooder, other):
    deadline = time.monotonic() + FLOOD_SECONDS
    return await asyncio.gather(flood(base_url, flooder, deadline), steady(base_url, other, deadline))


def test_flood_at_many_times_the_rate_limit(tmp_path):
    db_path = tmp_path / "load.duckdb"
    store = DuckDBStore(str(db_path))
    flooder = make_tenant(store, "flooder", rate_limit_per_s=RATE, rate_limit_burst=BURST)
    other = make_tenant(store, "other", rate_limit_per_s=RATE, rate_limit_burst=BURST)
    now = int(time.time() * 1000)
    for tenant in (flooder, other):
        views = [{"view_id": f"v{i}", "asset_id": "load", "view_start": now - 3_600_000 + i, "view_end": now - 60_000,
                  "duration_ms": 600_000, "ranges": [[0, 10_000 * (1 + i % 50)]]} for i in range(2000)]
        import_records(store, tenant.environment_id, views)
    store.close()

    server = ServerProcess(db_path, tmp_path / "server.log").start()
    try:
        with httpx.Client(base_url=server.base_url, auth=other.auth) as client:  # warm: first query, caches
            assert client.get("/data/v1/engagement/assets/load/heatmap").status_code == 200
        rss_before = server.rss_bytes()
        started = time.monotonic()
        flooded, steady_results = run_async(both(server.base_url, flooder.auth, other.auth))
        elapsed = time.monotonic() - started
        rss_after = server.rss_bytes()

        errors = [r for r in flooded if isinstance(r, Exception)]
        assert not errors, errors[:3]
        statuses = [r.status_code for r in flooded]
        assert set(statuses) <= {200, 429}, sorted(set(statuses))
        offered_rate = len(flooded) / elapsed
        assert offered_rate >= 5 * RATE, f"the flood reached only {offered_rate:.0f} requests/s"
        assert statuses.count(200) <= BURST + RATE * elapsed + 2
        assert statuses.count(429) >= len(flooded) - (BURST + RATE * elapsed + 2)
        limited = next(r for r in flooded if r.status_code == 429)
        assert limited.json() == {"errors": ["Too many requests, retry later."]}
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.headers["x-ratelimit-limit"] == str(BURST) and limited.headers["x-ratelimit-remaining"] == "0"

        # The other environment: every request served, in time, at its own pace.
        assert all(not isinstance(r, Exception) and r.status_code == 200 for _, r in steady_results)
        assert len(steady_results) >= OTHER_RATE * FLOOD_SECONDS - 1
        latencies = sorted(t for t, _ in steady_results)
        assert latencies[int(0.95 * (len(latencies) - 1))] < 1.0, latencies

        assert rss_after - rss_before < 150 * 1024 * 1024, (rss_before, rss_after)

        # Healthy afterwards: answers, and the flooder is served again once its bucket refills.
        with httpx.Client(base_url=server.base_url) as client:
            assert client.get("/healthz").json()["status"] == "ok"
            time.sleep(int(limited.headers["retry-after"]))
            assert client.get("/data/v1/engagement/assets/load/heatmap", auth=flooder.auth).status_code == 200
    finally:
        server.stop()
    assert "Traceback" not in server.log(), server.log()[-3000:]
    reliability.count("overload: requests sent by the flooding environment", len(flooded))
    reliability.count("overload: of which answered 429", statuses.count(429))
    reliability.count("overload: flood rate (requests/s)", int(offered_rate))
    reliability.count("overload: other environment's requests served during the flood", len(steady_results))
    reliability.count("overload: server memory growth during the flood (MiB)", (rss_after - rss_before) // 2**20)
