"""A noisy neighbour within its rate limit (issue 16, item 5): environment B's heatmap latency
with environment A silent, then while A sends /relative at its rate limit, in one run.

    python bench/neighbours.py [--db bench-neighbours.duckdb] [--peers 200] [--views 1500] [--seconds 20]
                               [--a-rate 5]

The store is built once into --db (A: peers + 1 registered assets of 5 minutes, `--views` views
each over 7 days; B: one asset with 20,000 views; credentials beside it in --db.json) and copied
for each run, which starts `python -m moments serve` on the copy (2 threads of DuckDB). Both
phases last --seconds: B asks for heatmaps at 4/s (within its limit of 5/s), each over a window
of its own so none is cached; in the second, A also sends /relative at --a-rate per second (default
5/s: its default rate limit) without waiting for answers, each over a window of its own. Printed: B's heatmap p50, p99
and max in both phases, A's answers by status, and a digest of /relative answers over fixed
windows (the same digest: the same answers). To compare two commits, run each on the same --db:
PYTHONPATH=<checkout>/src python bench/neighbours.py (the server inherits PYTHONPATH).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from generate import DAY_MS, views_table  # noqa: E402

from moments import accounts  # noqa: E402
from moments.model import Asset  # noqa: E402
from moments.store.duckdb import DuckDBStore  # noqa: E402

DURATION_MS = 300_000
B_VIEWS = 20_000
B_RATE = 4.0  # requests per second
TIMEOUT_S = 120.0


def build(db: Path, peers: int, views: int) -> dict:
    """The store and what the run needs of it (credentials, the window the views lie in)."""
    store = DuckDBStore(str(db))
    now_ms = int(time.time() * 1000)
    start_ms = now_ms - 7 * DAY_MS
    tenants = {}
    for name in ("a", "b"):
        environment, issued = accounts.create_environment(store, name)
        tenants[name] = {"environment_id": environment.environment_id, "token": [issued.token.token_id, issued.secret]}
    a_env, b_env = tenants["a"]["environment_id"], tenants["b"]["environment_id"]
    first = 0
    for i in range(peers + 1):
        asset_id = f"asset-{i}"
        store.put_asset(a_env, Asset(asset_id, DURATION_MS, (f"pb-{i}",)))
        n = int(views * (0.5 + (i % 7) / 6))  # peers of unequal audiences
        store.bulk_upsert_views(views_table(a_env, asset_id, [f"pb-{i}"], f"video-{i}", DURATION_MS, n,
                                            start_ms, now_ms, seed=i, first_index=first))
        first += n
    store.put_asset(b_env, Asset("b-asset", DURATION_MS, ("b-pb",)))
    store.bulk_upsert_views(views_table(b_env, "b-asset", ["b-pb"], "b-video", DURATION_MS, B_VIEWS, start_ms,
                                        now_ms, seed=10_000))
    store.close()
    meta = {"tenants": tenants, "window_ms": [start_ms, now_ms], "peers": peers, "views": views}
    Path(f"{db}.json").write_text(json.dumps(meta))
    return meta


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def window(meta: dict, i: int, days: int = 6) -> list[str]:
    """A window of `days` days starting i minutes into the data: a window of its own per request."""
    start = meta["window_ms"][0] // 1000 + 60 * (i % 1440)
    return [str(start), str(start + days * 86_400)]


async def paced(rate: float, seconds: float, request) -> list:
    """Send request(i) at `rate` per second for `seconds` without waiting for answers; their results."""
    tasks, t0 = [], time.monotonic()
    for i in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, t0 + i / rate - time.monotonic()))
        tasks.append(asyncio.ensure_future(request(i)))
    return await asyncio.gather(*tasks)


async def timed(client: httpx.AsyncClient, path: str, params: dict) -> tuple[float, int]:
    t0 = time.perf_counter()
    try:
        response = await client.get(path, params=params)
        status = response.status_code
    except httpx.TimeoutException:
        status = 0  # no answer within TIMEOUT_S
    return time.perf_counter() - t0, status


async def phase(base: str, meta: dict, seconds: float, a_rate: float = 0.0) -> dict:
    auth = {name: tuple(t["token"]) for name, t in meta["tenants"].items()}
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
    async with httpx.AsyncClient(base_url=base, auth=auth["b"], timeout=TIMEOUT_S, limits=limits) as b, \
            httpx.AsyncClient(base_url=base, auth=auth["a"], timeout=TIMEOUT_S, limits=limits) as a:
        heatmaps = paced(B_RATE, seconds, lambda i: timed(
            b, "/data/v1/engagement/assets/b-asset/heatmap", {"timeframe[]": window(meta, i, 5)}))
        relatives = paced(a_rate, seconds, lambda i: timed(
            a, f"/v1/engagement/assets/asset-{i % 20}/relative", {"timeframe[]": window(meta, i)})) if a_rate else None
        b_results, a_results = await asyncio.gather(heatmaps, relatives or asyncio.sleep(0, []))
    latencies = np.array([t for t, status in b_results if status == 200]) * 1000
    return {"b_ms": {"p50": float(np.percentile(latencies, 50)), "p99": float(np.percentile(latencies, 99)),
                     "max": float(latencies.max())} if latencies.size else None,
            "b_status": _counts(b_results), "a_status": _counts(a_results),
            "a_ok_p50_ms": float(np.median([t for t, s in a_results if s == 200]) * 1000)
            if any(s == 200 for _, s in a_results) else None}


def _counts(results: list) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, status in results:
        counts[str(status)] = counts.get(str(status), 0) + 1
    return counts


def digest(base: str, meta: dict) -> str:
    """sha256 of /relative answers over the whole data window for a few assets (429: wait, ask again)."""
    start, end = (ms // 1000 for ms in meta["window_ms"])
    h = hashlib.sha256()
    with httpx.Client(base_url=base, auth=tuple(meta["tenants"]["a"]["token"]), timeout=TIMEOUT_S) as client:
        for asset in ("asset-0", "asset-1", "asset-5"):
            while (response := client.get(f"/v1/engagement/assets/{asset}/relative",
                                           params={"timeframe[]": [str(start), str(end + 1)]})).status_code == 429:
                time.sleep(float(response.headers["Retry-After"]))
            assert response.status_code == 200, response.text
            h.update(response.content)
    return h.hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, default=Path("bench-neighbours.duckdb"))
    parser.add_argument("--peers", type=int, default=200)
    parser.add_argument("--views", type=int, default=1500, help="views per peer (on average)")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--a-rate", type=float, default=5.0, help="A's /relative requests per second")
    args = parser.parse_args()
    if not args.db.exists():
        t0 = time.monotonic()
        build(args.db, args.peers, args.views)
        print(f"built {args.db} in {time.monotonic() - t0:.0f} s", flush=True)
    meta = json.loads(Path(f"{args.db}.json").read_text())
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "moments.duckdb"
        shutil.copy(args.db, db)
        port = free_port()
        log = (Path(folder) / "server.log").open("wb")
        server = subprocess.Popen([sys.executable, "-m", "moments", "serve", "--db", str(db), "--port", str(port)],
                                  stdout=log, stderr=log, env={**os.environ})
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit((Path(folder) / "server.log").read_text()[-3000:])
                time.sleep(0.2)
            answers = digest(base, meta)
            asyncio.run(phase(base, meta, 2))  # warm-up: B's rollup sums read once
            idle = asyncio.run(phase(base, meta, args.seconds))
            flood = asyncio.run(phase(base, meta, args.seconds, args.a_rate))
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:  # still working for clients long gone
                server.kill()
                server.wait()
    print(json.dumps({"peers": meta["peers"], "views_per_peer": meta["views"], "seconds": args.seconds,
                      "a_rate": args.a_rate,
                      "idle": idle, "flood": flood, "relative_digest": answers}, indent=1))
    ratio = flood["b_ms"]["p99"] / idle["b_ms"]["p99"] if flood["b_ms"] and idle["b_ms"] else float("nan")
    print(f"B heatmap p99: idle {idle['b_ms']['p99']:.0f} ms, under A's /relative flood "
          f"{flood['b_ms']['p99'] if flood['b_ms'] else float('nan'):.0f} ms ({ratio:.1f}x); "
          f"B answered {flood['b_status']}; A answered {flood['a_status']}")


if __name__ == "__main__":
    main()
