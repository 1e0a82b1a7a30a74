"""The query benchmark: one command, writes its sections of docs/benchmarks.md from the log it prints.

    python bench/run.py                          # DuckDB at 1e5, 1e6, 1e7 views (about 26 min on 2 cores)
    python bench/run.py --sizes 1e5              # a quick look
    python bench/run.py --store chdb             # the ClickHouse store on chdb, same sizes (its own section)
    python bench/run.py --quick --out /tmp/b.md --log /tmp/b.log   # the smoke test (CI): 1e3 views, seconds
    python bench/run.py --from-log bench/last-run.log              # re-render the doc from a log, no measuring
    python bench/run.py --filters                # only the filtered-query benchmark (its own section)
    python bench/run.py --only-imports           # only bulk import throughput (its own section)

For each audience size it builds one asset's views over 30 days through the store's bulk path
(plus 200 peer assets of the same length with a few views each, for /relative), then measures:

- in process: heatmap, hotspots, filtered heatmap, layers, /relative and /summary, on the same window
  every call (the store's caches warm) and on a distinct window every call; beside two SQL
  baselines in the same engine over the same raw ranges, each checked equal to ours every run:
  the competent one (per-view merge of ranges, +/- steps at bucket edges, a window sum) and
  the naive one (the merged ranges joined to the buckets they overlap);
- over HTTP against one `python -m moments serve` process, for each endpoint: *cached* (the
  same URL again and again: the response cache answers all but the first request of each
  second), *uncached* (every request its own window: nothing can be answered from a cache),
  *cold* (the first query after a write to the asset), and *under ingest* (uncached, while
  bench/beacons.py's clients flood captured mux-embed beacons into the same server); latency
  with one connection and throughput with 4 and 16; and the generator's own ceiling.

Every line it prints is one JSON record, also written to --log (bench/last-run.log); the doc's
figures are rendered from those records only, so `--from-log` reproduces the doc exactly.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import duckdb
import httpx
import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).parent))
import httpload  # noqa: E402
from beacons import Connection, percentile  # noqa: E402
from generate import DAY_MS, views_table  # noqa: E402
from report import write_report  # noqa: E402

from moments import accounts, stats  # noqa: E402
from moments.config import Settings  # noqa: E402
from moments.filters import parse_filters  # noqa: E402
from moments.model import Asset, Chapter, Scope  # noqa: E402
from moments.stats import comparison  # noqa: E402
from moments.stats.query import EngagementQuery  # noqa: E402
from moments.stats.summary import summary  # noqa: E402
from moments.store import open_store  # noqa: E402
from moments.store.base import ViewQuery  # noqa: E402
from moments.store.duckdb import _filter_sql  # noqa: E402
from moments.store.rollups import SLICE_PARTITION_MS, plan  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DURATION_MS = 600_000
ASSET, PLAYBACK_IDS, VIDEO = "bench-asset", ["benchpb1", "benchpb2"], "bench-video"
CHAPTERS = tuple(Chapter(i * DURATION_MS // 10, None, f"part {i + 1}") for i in range(10))  # bench/summary.py's
PEERS, PEER_VIEWS = 200, 6  # /relative compares with up to 200 peers of >= 5 views (stats/comparison.py)
CHUNK = 250_000
WINDOW_S = 30 * 86_400
NAIVE_MAX_VIEWS = 10_000_000  # the naive query runs once at 1e7 (about a minute); above, it is skipped
FILTER = "country:US"  # the filtered heatmap's filter: one standard dimension, summed from slice rollup rows

# Endpoints over HTTP: (name, path, extra query string).
ENDPOINTS = (
    ("heatmap", f"/data/v1/engagement/assets/{ASSET}/heatmap", ""),
    # A video id has no registered duration: its grid comes from the durations players reported.
    ("video heatmap", f"/data/v1/engagement/videos/{VIDEO}/heatmap", ""),
    ("hotspots", f"/data/v1/engagement/assets/{ASSET}/hotspots", ""),
    ("filtered heatmap", f"/data/v1/engagement/assets/{ASSET}/heatmap", "&filters%5B%5D=" + FILTER),
    ("layers", f"/v1/engagement/assets/{ASSET}/layers", ""),
    ("relative", f"/v1/engagement/assets/{ASSET}/relative", ""),
    ("summary", f"/v1/engagement/assets/{ASSET}/summary", ""),
    ("summary per view", f"/v1/engagement/assets/{ASSET}/summary", "&per_view=true"),
)
ENDPOINT_NAMES = tuple(e[0] for e in ENDPOINTS)
MODES = ("cached", "uncached", "cold", "under ingest")

# The naive baseline: each view's ranges merged, then joined to every bucket they overlap (cost: ranges x buckets).
NAIVE_SQL = """
WITH r AS (
    SELECT view_id, greatest(0, least(s, $D)) AS s, greatest(0, least(e, $D)) AS e
    FROM (SELECT view_id, unnest(range_starts) AS s, unnest(range_ends) AS e FROM views
          WHERE environment_id = $env AND (asset_id = $asset OR playback_id IN (SELECT playback_id FROM playback_ids
                WHERE environment_id = $env AND asset_id = $asset))
            AND view_start_ms >= $start AND view_start_ms < $end AND reports_ranges AND len(range_starts) > 0
            AND view_end_ms IS NOT NULL FILTERS)
), ordered AS (
    SELECT view_id, s, e, max(e) OVER (PARTITION BY view_id ORDER BY s, e
                                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
    FROM r WHERE e > s
), islands AS (
    SELECT view_id, s, e, sum(CASE WHEN reach IS NULL OR s > reach THEN 1 ELSE 0 END)
        OVER (PARTITION BY view_id ORDER BY s, e) AS island FROM ordered
), merged AS (SELECT view_id, min(s) AS s, max(e) AS e FROM islands GROUP BY view_id, island),
buckets AS (SELECT i, i * $D / $B AS lo, (i + 1) * $D / $B AS hi FROM range($B) t(i))
SELECT i, coalesce(sum(least(m.e, hi) - greatest(m.s, lo)), 0) / (hi - lo)
          / (SELECT count(DISTINCT view_id) FROM r) AS value
FROM buckets LEFT JOIN merged m ON m.s < hi AND m.e > lo GROUP BY i, lo, hi ORDER BY i
"""

# The competent baseline: the same per-view merge, then a difference array at bucket resolution.
# A merged range [s, e) starts in bucket a and ends in bucket b (width W = D/B); with fa the
# part of bucket a it covers and fb the part of bucket b, it adds fa at a, 1 - fa at a + 1,
# fb - 1 at b and -fb at b + 1 (when a = b these sum to (e - s) / W at a alone); a running sum
# over the buckets gives each bucket's covered fraction, summed over views.
COMPETENT_SQL = NAIVE_SQL[:NAIVE_SQL.index("buckets AS")] + """edges AS (
    SELECT (s * $B) // $D AS a, (e * $B) // $D AS b,
           (((s * $B) // $D + 1) * $D / $B - s) / ($D / $B) AS fa, (e - ((e * $B) // $D) * $D / $B) / ($D / $B) AS fb
    FROM merged
), steps AS (
    SELECT i, sum(v) AS v FROM (
        SELECT unnest([a, a + 1, b, b + 1]) AS i, unnest([fa, 1 - fa, fb - 1, -fb]) AS v FROM edges
    ) GROUP BY i
)
SELECT t.i, sum(coalesce(steps.v, 0)) OVER (ORDER BY t.i ROWS UNBOUNDED PRECEDING)
            / (SELECT count(DISTINCT view_id) FROM r) AS value
FROM range($B) t(i) LEFT JOIN steps ON steps.i = t.i ORDER BY t.i
"""

# The naive baseline in ClickHouse SQL (the ClickHouse store's rows: one per view and scope).
_CLICKHOUSE_MERGED = """
WITH {D:Int64} AS D, {B:Int64} AS B,
counted AS (
    SELECT view_id, arraySort(x -> x.1, arrayFilter(x -> x.2 > x.1, arrayMap((s, e) -> (greatest(0, least(s, D)),
           greatest(0, least(e, D))), range_starts, range_ends))) AS r
    FROM views FINAL WHERE COUNTED
),
merged AS (
    SELECT arrayJoin(arrayFold((acc, x) -> if(empty(acc) OR x.1 > acc[-1].2, arrayPushBack(acc, x),
           arrayPushBack(arrayPopBack(acc), (acc[-1].1, greatest(acc[-1].2, x.2)))), r,
           CAST([], 'Array(Tuple(Int64, Int64))'))) AS m FROM counted
)"""
NAIVE_SQL_CLICKHOUSE = _CLICKHOUSE_MERGED + """
SELECT b, sum(greatest(0., least(toFloat64(m.2), (b + 1) * D / B) - greatest(toFloat64(m.1), b * D / B))) / (D / B)
          / (SELECT count() FROM counted) AS value
FROM merged ARRAY JOIN range(toUInt64(intDiv(m.1 * B, D)), toUInt64(least(B, intDiv(m.2 * B + D - 1, D)))) AS b
GROUP BY b ORDER BY b
"""
# The competent baseline in ClickHouse SQL: the same difference array and running sum.
COMPETENT_SQL_CLICKHOUSE = _CLICKHOUSE_MERGED + """,
edges AS (
    SELECT intDiv(m.1 * B, D) AS a, intDiv(m.2 * B, D) AS b,
           ((a + 1) * D / B - m.1) / (D / B) AS fa, (m.2 - b * D / B) / (D / B) AS fb FROM merged
),
steps AS (
    SELECT toInt64(d.1) AS i, sum(d.2) AS v
    FROM (SELECT arrayJoin([(a, fa), (a + 1, 1 - fa), (b, fb - 1), (b + 1, -fb)]) AS d FROM edges) GROUP BY i
)
SELECT toInt64(t.number) AS b, sum(v) OVER (ORDER BY b ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
          / (SELECT count() FROM counted) AS value
FROM numbers(B) AS t LEFT JOIN steps ON steps.i = toInt64(t.number) ORDER BY b
"""


# --- the log: one JSON record a line, printed and written to --log ----------------------------------------------------

class Log:
    def __init__(self, path: Path | None) -> None:
        self.file = path.open("w") if path else None
        self.records: list[dict] = []

    def __call__(self, event: str, **fields) -> dict:
        record = {"event": event, **fields}
        self.records.append(record)
        text = json.dumps(record)
        print(text, flush=True)
        if self.file:
            self.file.write(text + "\n")
            self.file.flush()
        return record

    def close(self) -> None:
        if self.file:
            self.file.close()


def read_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def store_url(kind: str, path: Path) -> str:
    return f"{kind}://{path}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentiles(samples: list[float]) -> tuple[float, float]:
    return float(np.median(samples)), float(np.percentile(samples, 99))


def timed(fn, repeats: int) -> list[float]:
    fn()  # warm
    out = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def timed_for(fn: Callable[[int], object], seconds: float, least: int = 3, most: int = 200) -> list[float]:
    """fn(k) for k = 0, 1, ... until `seconds` have passed (at least `least`, at most `most` calls), in ms."""
    out: list[float] = []
    deadline = time.perf_counter() + seconds
    for k in itertools.count():
        if len(out) >= most or (len(out) >= least and time.perf_counter() > deadline):
            return out
        started = time.perf_counter()
        fn(k)
        out.append((time.perf_counter() - started) * 1000)


def _once(fn) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


# --- the data ---------------------------------------------------------------------------------------------------------

def build(url: str, n_views: int, now_ms: int, peers: int = PEERS) -> tuple[str, str, accounts.IssuedToken, float]:
    store = open_store(url)
    environment, issued = accounts.create_environment(store, "bench", rate_limit_per_s=1e6, rate_limit_burst=10**6)
    env = environment.environment_id
    store.put_asset(env, Asset(ASSET, DURATION_MS, tuple(PLAYBACK_IDS), None, CHAPTERS))
    started = time.perf_counter()
    chunks = max(1, -(-n_views // CHUNK))
    span = 30 * DAY_MS
    for k in range(chunks):  # consecutive slices of the 30 days, in time order
        first, count = k * CHUNK, min(CHUNK, n_views - k * CHUNK)
        begin = now_ms - span + span * k // chunks
        store.bulk_upsert_views(views_table(env, ASSET, PLAYBACK_IDS, VIDEO, DURATION_MS, count,
                                            begin, now_ms - span + span * (k + 1) // chunks, seed=k, first_index=first))
    elapsed = time.perf_counter() - started
    # The peers of /relative: registered assets of the same length, each with PEER_VIEWS views
    # well inside every window the benchmark asks for (days 5 to 25 before now).
    tables = []
    for k in range(peers):
        store.put_asset(env, Asset(f"peer-{k:03d}", DURATION_MS, (f"peerpb{k:03d}",)))
        tables.append(views_table(env, f"peer-{k:03d}", [f"peerpb{k:03d}"], f"peer-video-{k:03d}", DURATION_MS,
                                  PEER_VIEWS, now_ms - 25 * DAY_MS, now_ms - 5 * DAY_MS, seed=10_000 + k,
                                  first_index=10**9 + k * PEER_VIEWS))
    store.bulk_upsert_views(pa.concat_tables(tables))
    store.close()
    return env, environment.env_key, issued, elapsed


def windows(now_s: int) -> Callable[[int], tuple[int, int]]:
    """Request k's window: [now - 30 days - k, now - k] in epoch seconds (k = 0 is the 30 days to now)."""
    return lambda k: (now_s - WINDOW_S - k, now_s - k)


# --- in process -------------------------------------------------------------------------------------------------------

def in_process(url: str, environment_id: str, n_views: int, now_ms: int, seconds: float, log: Log):
    """Each endpoint's computation called directly, on the same window each call and on a distinct one."""
    store = open_store(url)
    environment = store.get_environment(environment_id)
    idle = Settings().idle_timeout_s
    us = parse_filters([FILTER])

    def asset(window, filters=()):
        return EngagementQuery(environment, Scope.ASSET, ASSET, window, filters, now_ms, idle)

    calls = {
        "heatmap": lambda w: stats.engagement(store, asset(w)),
        "video heatmap": lambda w: stats.engagement(store, EngagementQuery(environment, Scope.VIDEO, VIDEO, w, (),
                                                                           now_ms, idle)),
        "hotspots": lambda w: stats.engagement(store, asset(w), with_hotspots=True),
        "filtered heatmap": lambda w: stats.engagement(store, asset(w, us)),
        "layers": lambda w: stats.layers(store, asset(w)),
        "relative": lambda w: comparison.relative(store, asset(w)),
        "summary": lambda w: summary(store, asset(w)),
        "summary per view": lambda w: summary(store, asset(w), per_view=True),
    }
    window_of = windows(now_ms // 1000)
    counter = itertools.count(1)
    peers = calls["relative"](window_of(0)).peers
    for name, call in calls.items():
        call(window_of(0))  # warm
        same = timed_for(lambda k: call(window_of(0)), seconds)
        distinct = timed_for(lambda k: call(window_of(next(counter))), seconds)
        for mode, samples in (("cached", same), ("uncached", distinct)):
            log("in_process", n=n_views, endpoint=name, mode=mode, p50_ms=percentile(samples, 50),
                p99_ms=percentile(samples, 99), runs=len(samples), **({"peers": peers} if name == "relative" else {}))
    result = calls["heatmap"](window_of(0))
    store.close()
    return result


def baselines(kind: str, path: Path, environment_id: str, n_views: int, now_ms: int, ours: np.ndarray,
              quick: bool, log: Log) -> None:
    """The competent and the naive SQL on the 30 days to now, each checked equal to ours, each timed."""
    start_s, end_s = windows(now_ms // 1000)(0)
    params = {"env": environment_id, "asset": ASSET, "start": start_s * 1000, "end": end_s * 1000,
              "D": DURATION_MS, "B": len(ours)}
    if kind == "duckdb":  # a connection of its own on the file (the store is closed): no lock, no cache of ours
        connection = duckdb.connect(str(path), read_only=True)

        def run(sql: str) -> list:
            return connection.sql(sql.replace("FILTERS", ""), params=params).fetchall()
        queries = {"competent": COMPETENT_SQL, "naive": NAIVE_SQL}
    else:
        from moments.store.clickhouse import _counted_sql

        store = open_store(store_url(kind, path))
        counted = _counted_sql(ViewQuery(environment_id, Scope.ASSET, ASSET, params["start"], params["end"], 0))

        def run(sql: str) -> list:
            rows = store._x.query(sql.replace("COUNTED", counted),
                                  {"env": environment_id, "scope_id": ASSET, "pids": PLAYBACK_IDS,
                                   "start": params["start"], "end": params["end"], "idle_before": 0,
                                   "D": DURATION_MS, "B": params["B"]})
            return list(zip(rows["b"].to_pylist(), rows["value"].to_pylist()))
        queries = {"competent": COMPETENT_SQL_CLICKHOUSE, "naive": NAIVE_SQL_CLICKHOUSE}
    try:
        for name, sql in queries.items():
            if name == "naive" and n_views > NAIVE_MAX_VIEWS:
                log("baseline", n=n_views, name=name, skipped=f"not run above {NAIVE_MAX_VIEWS:,} views (minutes)")
                continue
            started = time.perf_counter()
            values = np.zeros(len(ours))
            for bucket, value in run(sql):
                values[bucket] = value
            first_ms = (time.perf_counter() - started) * 1000
            # Same numbers both ways (float SQL vs our exact integers): the comparison is fair.
            equal = bool(np.allclose(values, ours, atol=1e-9))
            assert equal, f"{name} baseline and ours disagree: max difference {np.abs(values - ours).max()}"
            repeats = 3 if quick or first_ms < 2_000 else (2 if first_ms < 20_000 else 0)
            samples = [first_ms] if repeats == 0 else timed(lambda: run(sql), repeats)
            log("baseline", n=n_views, name=name, p50_ms=float(np.median(samples)), p99_ms=float(max(samples)),
                runs=len(samples), equal=equal, max_abs_difference=float(np.abs(values - ours).max()))
    finally:
        if kind == "duckdb":
            connection.close()
        else:
            store.close()


# --- over HTTP --------------------------------------------------------------------------------------------------------

def serve(url: str, log_path: Path | None = None) -> tuple[subprocess.Popen, str]:
    log_path = log_path or Path(tempfile.mkstemp(prefix="moments-bench-server-", suffix=".log")[1])
    port = free_port()
    with log_path.open("wb") as out:
        # Warnings only: an access line per request would be timed too (and fill the log).
        server = subprocess.Popen([sys.executable, "-m", "moments", "serve", "--store", url, "--port", str(port),
                                   "--log-level", "warning"], stdout=out, stderr=out, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited: {log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return server, base
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("server did not start")


def rss_peak_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


def cached_path(path: str, extra: str) -> Callable[[int], str]:
    """The same URL every request: the last 30 days (the response cache's key moves each second)."""
    return lambda k: f"{path}?timeframe%5B%5D=30:days{extra}"


def uncached_path(path: str, extra: str, now_s: int) -> Callable[[int], str]:
    """Request k asks [now - 30 days - k, now - k] (epoch seconds; k from a counter of the whole
    server run): no two requests of the run ask the same window, so no answer can come from the cache."""
    window_of = windows(now_s)
    return lambda k: "{}?timeframe%5B%5D={}&timeframe%5B%5D={}{}".format(path, *window_of(k), extra)


def cold(base: str, token: tuple[str, str], path: str, extra: str, repeats: int, limit_s: float, tag: str,
         now_ms: int, counter: Iterator[int]) -> dict:
    """`repeats` times (at least 3; fewer when they take over limit_s): write one view of the asset (POST /v1/views, applied before its answer),
    then time the next query (the cached URL: the write moved the data version and dropped the
    asset's cached sums, so it computes)."""
    import asyncio

    async def run() -> dict:
        authority = base.removeprefix("http://")
        host, port = authority.split(":")
        connection = Connection(host, int(port))
        writes, queries, seconds, statuses = [], [], [], []
        give_up = time.monotonic() + limit_s
        for k in range(repeats):
            if k >= 3 and time.monotonic() > give_up:
                break
            start = now_ms - DAY_MS + k * 1000
            body = json.dumps({"view_id": f"cold-{tag}-{k}", "playback_id": PLAYBACK_IDS[0], "video_id": VIDEO,
                               "view_start": start, "view_end": start + 70_000, "duration_ms": DURATION_MS,
                               "ranges": [[0, 60_000]]}).encode() + b"\n"
            started = time.perf_counter()
            answer = await connection.exchange(httpload.post_request(authority, "/v1/views", token, body,
                                                                     "application/x-ndjson"))
            writes.append((time.perf_counter() - started) * 1000)
            assert answer.status == 200 and json.loads(answer.body)["data"]["accepted"] == 1, answer.body[:300]
            status, ms = await httpload.timed_get(connection, authority, cached_path(path, extra)(0), token)
            statuses.append(status)
            if status == 200:
                queries.append(ms)
            # The same query again at once (another window, so not the response cache): the store warm again.
            status, ms = await httpload.timed_get(connection, authority, uncached_path(path, extra, now_ms // 1000)(
                next(counter)), token)
            statuses.append(status)
            if status == 200:
                seconds.append(ms)
        connection.close()
        return {"samples": len(queries), "p50_ms": percentile(queries, 50), "p99_ms": percentile(queries, 99),
                "max_ms": max(queries, default=None), "write_p50_ms": percentile(writes, 50),
                "next_p50_ms": percentile(seconds, 50), "next_p99_ms": percentile(seconds, 99),
                "non_200": {str(s): statuses.count(s) for s in set(statuses) if s != 200}}
    return asyncio.run(run())


def over_http(url: str, env_key: str, issued: accounts.IssuedToken, n_views: int, now_ms: int, plan_: dict,
              folder: Path, log: Log, slow: dict[str, float]) -> None:
    """Every endpoint in every mode. `slow` endpoints (one computation takes over plan_["slow_ms"] in
    process) get one connection only: many would queue for minutes behind each other."""
    token = (issued.token.token_id, issued.secret)
    server, base = serve(url, folder / f"server-{n_views}.log")
    now_s = now_ms // 1000
    counter = itertools.count(1)  # the uncached windows' k, over the whole server run
    seconds = plan_["seconds"]

    def measure(name: str, mode: str, path_of: Callable[[int], str], connections: int, **extra) -> None:
        result = httpload.get_load(base, path_of, itertools.count() if mode == "cached" else counter, token,
                                   connections, seconds)
        log("http", n=n_views, endpoint=name, mode=mode, **result.json(), **extra)

    try:
        for name, path, extra in ENDPOINTS:
            if name in slow:
                log("slow", n=n_views, endpoint=name, in_process_ms=slow[name], connections=1)
            httpload.get_load(base, uncached_path(path, extra, now_s), counter, token, 1 if name in slow else 4,
                              plan_["warm_s"])  # warm-up
            for mode, path_of in (("cached", cached_path(path, extra)), ("uncached", uncached_path(path, extra, now_s))):
                for connections in plan_["connections"]:
                    if connections == 1 or name not in slow:
                        measure(name, mode, path_of, connections)
        for name, path, extra in ENDPOINTS:
            log("cold", n=n_views, endpoint=name, **cold(base, token, path, extra, plan_["cold_repeats"], plan_["cold_s"],
                                                         f"{n_views}-{ENDPOINT_NAMES.index(name)}", now_ms, counter))
        flood = httpload.Flood(base, env_key, plan_["flood_clients"])
        time.sleep(0.5)  # the flood under way
        try:
            for name, path, extra in ENDPOINTS:
                for connections in plan_["ingest_connections"]:
                    if connections == 1 or name not in slow:
                        measure(name, "under ingest", uncached_path(path, extra, now_s), connections)
        finally:
            log("ingest", n=n_views, **flood.stop())
        log("rss", n=n_views, peak_mib=rss_peak_mb(server.pid))
    finally:
        server.terminate()
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# --- filtered queries (--filters) -------------------------------------------------------------------------------------

# Filter sets of the filtered-query benchmark: one value of a dimension, a negation, two
# dimensions, and a rare value (bench/generate.py's audience shares).
FILTER_SETS = (["country:US"], ["!device_type:tv"], ["country:US", "device_type:phone"], ["country:JP"])


def filtered(url: str, path: Path, environment_id: str, n_views: int, now_ms: int) -> dict:
    """Filtered heatmaps against the unfiltered one (rollups) and against the naive query with the
    same filter (DuckDB, up to 1e6 views: at 1e7 it takes minutes per set), all in this run."""
    store = open_store(url)
    environment = store.get_environment(environment_id)
    window = windows(now_ms // 1000)(0)

    def ours(filters):
        return stats.engagement(store, EngagementQuery(environment, Scope.ASSET, ASSET, window, filters, now_ms, 3600))

    repeats = 10 if n_views <= 1_000_000 else 3
    result = {"unfiltered": percentiles(timed(lambda: ours(()), 30)), "sets": []}
    answers = []
    for texts in FILTER_SETS:
        filters = parse_filters(texts)
        answers.append(ours(filters))
        result["sets"].append({"filters": texts, "views": answers[-1].total_views,
                               "ours": percentiles(timed(lambda: ours(filters), repeats))})
    store.close()
    if url.startswith("duckdb") and n_views <= 1_000_000:
        connection = duckdb.connect(str(path), read_only=True)
        for row, answer in zip(result["sets"], answers):
            conditions, filter_params = _filter_sql(parse_filters(row["filters"]))
            sql = NAIVE_SQL.replace("FILTERS", "".join(f" AND {c}" for c in conditions))
            params = {"env": environment_id, "asset": ASSET, "start": window[0] * 1000, "end": window[1] * 1000,
                      "D": DURATION_MS, "B": len(answer.values), **filter_params}
            naive = lambda: connection.sql(sql, params=params).fetchall()  # noqa: E731
            naive_values = np.zeros(len(answer.values))
            for bucket, value in naive():
                naive_values[bucket] = value
            assert np.allclose(naive_values, answer.values, atol=1e-9), f"naive and ours disagree on {row['filters']}"
            row["naive"] = percentiles(timed(naive, 2))
        connection.close()
    return result


# --- bulk import (--only-imports) -------------------------------------------------------------------------------------

IMPORT_REPEATS = 3  # runs of each import measurement; the median is reported (the machine is shared)
POST_BATCH = 50_000  # views per POST /v1/views body
# The floor: DuckDB reading the same file into a bare table (no index, no checks, no rollups),
# as a whole command like `moments import`.
FLOOR_SCRIPT = ("import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
                "c.execute(f\"CREATE TABLE t AS SELECT * FROM {sys.argv[2]}('{sys.argv[3]}')\"); c.close()")


def import_files(folder: Path, now_ms: int, n_views: int) -> tuple[Path, Path]:
    """The same views as NDJSON and as Parquet, in the import format, with the audience's dimensions."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = views_table("import", ASSET, PLAYBACK_IDS, VIDEO, DURATION_MS, n_views, now_ms - 30 * DAY_MS, now_ms, 7)
    dimensions = ("country", "browser", "device_type")
    rows = [{"view_id": f"imp-{i}", "playback_id": r["playback_id"], "video_id": r["video_id"],
             "view_start": r["view_start_ms"], "view_end": r["view_end_ms"], "duration_ms": r["duration_ms"],
             "ranges": [[s, e] for s, e in zip(r["range_starts"], r["range_ends"])],
             **{name: r[name] for name in dimensions if r[name] is not None}}
            for i, r in enumerate(table.to_pylist())]
    ndjson, parquet = folder / "views.ndjson", folder / "views.parquet"
    ndjson.write_text("".join(json.dumps(row) + "\n" for row in rows))
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    return ndjson, parquet


def fresh_store(folder: Path, kind: str, name: str) -> tuple[str, accounts.IssuedToken]:
    path = folder / f"{name}.{kind}"
    shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    store = open_store(store_url(kind, path))
    environment, issued = accounts.create_environment(store, "import", rate_limit_per_s=1e6, rate_limit_burst=10**6)
    store.close()
    return store_url(kind, path), issued


def timed_command(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def post_views(url: str, issued: accounts.IssuedToken, bodies: list[str], n_views: int) -> float:
    """Seconds to POST the bodies one after the other to a server on `url` (started beforehand)."""
    server, base = serve(url)
    try:
        with httpx.Client(base_url=base, auth=(issued.token.token_id, issued.secret), timeout=600) as client:
            started = time.perf_counter()
            for body in bodies:
                response = client.post("/v1/views", content=body, headers={"content-type": "application/x-ndjson"})
                assert response.json()["data"]["accepted"] == body.count("\n")
            return time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(30)


def import_throughput(folder: Path, now_ms: int, n_views: int, kind: str = "duckdb") -> dict:
    """Views/s of `moments import` (NDJSON, Parquet) and POST /v1/views into a fresh store, each
    beside its floor measured in the same run (medians of IMPORT_REPEATS runs)."""
    ndjson, parquet = import_files(folder, now_ms, n_views)
    out: dict = {"views": n_views, "repeats": IMPORT_REPEATS, "load": os.getloadavg()[0]}
    for name, path, reader in (("ndjson", ndjson, "read_json"), ("parquet", parquet, "read_parquet")):
        cli, floor = [], []
        for _ in range(IMPORT_REPEATS):
            url, issued = fresh_store(folder, kind, "import")
            cli.append(timed_command([sys.executable, "-m", "moments", "import", str(path), "--env",
                                      issued.token.environment_id, "--store", url, "--json"]))
            floor_db = folder / "floor.duckdb"
            floor_db.unlink(missing_ok=True)
            floor.append(timed_command([sys.executable, "-c", FLOOR_SCRIPT, str(floor_db), reader, str(path)]))
        out[name] = {"cli": n_views / float(np.median(cli)), "floor": n_views / float(np.median(floor))}
        print(f"  {name}: {json.dumps(out[name])}", flush=True)
    lines = ndjson.read_text().splitlines(keepends=True)
    bodies = ["".join(lines[i:i + POST_BATCH]) for i in range(0, n_views, POST_BATCH)]
    posts = []
    for _ in range(IMPORT_REPEATS):
        url, issued = fresh_store(folder, kind, "import")
        posts.append(post_views(url, issued, bodies, n_views))
    out["http"] = n_views / float(np.median(posts))
    return out


def report_imports(imports: list[dict], command: str, elapsed_s: float) -> str:
    """The bulk import section: each path beside its floor, and the import targets."""
    out = ["## Bulk import", "",
           f"Command: `{command}` (one run, {elapsed_s / 60:.0f} min, same machine, shared with other work: load "
           f"average {imports[0]['load']:.1f} when it started; medians of "
           f"{imports[0]['repeats']} runs each, into a fresh store). The views of the query benchmark's audience "
           "(country, browser and device type, so slice rows are maintained too) in the import format; every view "
           "is checked and its rollups are maintained. The floor is DuckDB alone reading the same file into a bare "
           "table (`CREATE TABLE t AS SELECT * FROM read_json/read_parquet(...)`: no checks, no index, no rollups), "
           "also as a whole command; POST bodies are the NDJSON file in parts, so their floor is the NDJSON one.", "",
           "| views | path | views/s | floor (DuckDB read into a bare table) | ours / floor |",
           "|---:|---|---:|---:|---:|"]
    for run in imports:
        n = run["views"]
        for name, label in (("ndjson", "`moments import views.ndjson`"), ("parquet", "`moments import views.parquet`")):
            ours, floor = run[name]["cli"], run[name]["floor"]
            out.append(f"| {n:,} | {label} (whole command, process start included) | {ours:,.0f} | "
                       f"{floor:,.0f} | {ours / floor:.2f} |")
        floor = run["ndjson"]["floor"]
        out.append(f"| {n:,} | `POST /v1/views`, {POST_BATCH:,} views per request | {run['http']:,.0f} | "
                   f"{floor:,.0f} | {run['http'] / floor:.2f} |")
    out += ["", "| target | measured | met |", "|---|---|:-:|"]
    for run in imports:
        for name in ("ndjson", "parquet"):
            ours = run[name]["cli"]
            out.append(f"| >= 200,000 views/s through `moments import` ({name}, {run['views']:,} views) | "
                       f"{ours:,.0f} views/s | {'yes' if ours >= 200_000 else 'no'} |")
        out.append(f"| >= 100,000 views/s through `POST /v1/views` ({run['views']:,} views) | {run['http']:,.0f} views/s "
                   f"| {'yes' if run['http'] >= 100_000 else 'no'} |")
    return "\n".join(out)




# --- rendering: every figure from the log's records -------------------------------------------------------------------

def fmt(ms: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms / 1000:.1f} s" if ms >= 10_000 else (f"{ms:.0f} ms" if ms >= 100 else f"{ms:.2f} ms")


def pair(record: dict | None) -> str:
    if record is None:
        return "-"
    return f"{fmt(record['p50_ms'])} / {fmt(record['p99_ms'])}" + (refused(record) if "non_200" in record else "")


def refused(record: dict) -> str:
    return "".join(f", {count:,} x {status}" for status, count in sorted(record["non_200"].items()))


def per_s(record: dict | None) -> str:
    return "-" if record is None else f"{record['rps']:,.0f} req/s, p99 {fmt(record['p99_ms'])}{refused(record)}"


class Run:
    """A run's records, looked up by kind, size, endpoint, mode and connections."""

    def __init__(self, records: list[dict]) -> None:
        self.records = records
        self.meta = next(r for r in records if r["event"] == "run")
        self.end = next((r for r in records if r["event"] == "end"), None)
        self.sizes = [r["n"] for r in records if r["event"] == "built"]

    def find(self, event: str, **keys) -> dict | None:
        return next((r for r in self.records if r["event"] == event and all(r.get(k) == v for k, v in keys.items())),
                    None)

    def all(self, event: str) -> list[dict]:
        return [r for r in self.records if r["event"] == event]

    def head(self, what: str) -> str:
        m = self.meta
        elapsed = f"{self.end['elapsed_s'] / 60:.0f} min" if self.end else "did not finish"
        commit = m["commit"] + (" with uncommitted changes in src/" if m.get("dirty") else "")
        log = m.get("log", "the log")
        return (f"Command: `{m['command']}` at commit `{commit}` ({what}; one run started {m['started_utc']}, "
                f"{elapsed}, on this {m['cpus']}-core machine shared with other work: load average "
                f"{m['load_1m']:.2f} when it started). Every figure below is rendered from the run's log, "
                f"`{log}`, by `python bench/run.py --from-log {log}`.")


def describe(plan_: dict) -> list[str]:
    conns = " and ".join(str(c) for c in plan_["connections"] if c > 1)
    ingest = " and ".join(str(c) for c in plan_["ingest_connections"] if c > 1) or "none"
    return [
        "One asset (10 min content, 600 buckets, two playback IDs) with views spread over the 30 days before the "
        f"run, built through the store's bulk path; {plan_.get('peers', PEERS)} peer assets of the same length with "
        f"{PEER_VIEWS} views each (days 5 to 25 before the run), so /relative compares with "
        f"{plan_.get('peers', PEERS)} peers. Endpoints: heatmap and hotspots "
        f"(`/data/v1/engagement/assets/{{id}}/...`), the video heatmap (`/data/v1/engagement/videos/{VIDEO}/heatmap`, "
        "the same views: a video id has no registered duration, so its grid comes from the durations players "
        "reported and it is read without the DuckDB store's cached path, docs/engagement.md), "
        f"the heatmap with `filters[]={FILTER}` (one standard dimension: "
        "summed from slice rollup rows), layers (`/v1/engagement/assets/{id}/layers`: reads the window's views raw) "
        "and `/v1/engagement/assets/{id}/relative` (the asset's curve against its peers').", "",
        "Modes, for every endpoint:", "",
        "- **cached**: the same URL (`timeframe[]=30:days`) on every request. The response cache (`api/cache.py`) "
        "keys on the request, the current second and the store's data version, so all but the first request of "
        "each second are answered from it (layers has no response cache: it computes every time). What a "
        "dashboard refreshing one view sees, not what computing costs.",
        "- **uncached**: request *k* asks `timeframe[]=T-2592000-k&timeframe[]=T-k` (epoch seconds, T the run's "
        "start, k from one counter over the server run's uncached, under-ingest and after-cold requests): no two requests ask the same window, so none can be "
        "answered from the response cache. Each row's `distinct paths` equals its requests (checked in the log). "
        "The windows' ends are not on hour boundaries, so both ends are read raw, as for a real request.",
        f"- **cold**: {plan_['cold_repeats']} times (fewer if they take over {plan_['cold_s']:.0f} s), one view of "
        "the asset written through `POST /v1/views` (applied before its answer), then the cached URL asked once on "
        "the same connection: the write moved the data version and dropped the asset's cached sums, so it computes "
        "from the store; then one more query at once (a window of its own), for what follows the first.",
        f"- **under ingest**: uncached, while {plan_['flood_clients']} clients of bench/beacons.py send captured "
        "mux-embed beacons back to back (fresh view ids, the bench environment's env key) into the same server: "
        "views of the captured video (`vid-1`), not of the bench asset, in the same environment (so every beacon "
        "also moves the environment's data version). The flood starts before the first under-ingest "
        "measurement and stops after the last.", "",
        f"Over HTTP: one `python -m moments serve` process; {plan_['seconds']:g} s per measurement after a "
        f"{plan_['warm_s']:g} s warm-up per endpoint; latency with 1 connection, throughput with {conns} "
        f"connections (under ingest: {ingest}), each sending its next request as soon as the previous one is "
        "answered (bench/httpload.py, on bench/beacons.py's keep-alive HTTP/1.1 client); a refusal (429 or 503 "
        "with Retry-After) is counted beside the figure and the connection waits as told. Throughput counts 200 "
        "answers only. /relative runs at most 2 computations per environment at once (`api/shares.py`): more "
        "concurrent ones are refused with 429 and `Retry-After: 1`. An endpoint whose computation takes over "
        f"{plan_['slow_ms']:.0f} ms in process is measured with one connection only (many would queue for minutes); "
        "its throughput cells say so. In process: the same "
        f"computations called directly, {plan_['in_process_s']:g} s each (at least 3 calls), on the same window "
        "every call and on a distinct window every call (the same k scheme).",
    ]


def render_queries(records: list[dict], kind: str, other: list[dict] | None = None) -> str:
    """The head of docs/benchmarks.md (DuckDB) or the chdb section, from one run's records."""
    run = Run(records)
    plan_ = run.meta["plan"]
    if kind == "chdb":
        import chdb

        out = ["## The ClickHouse store on chdb", "",
               run.head(f"chdb {chdb.__version__}; the store is `--store chdb:///dir`, store/clickhouse.py"), "",
               "A chdb folder is one process's, so the store owns it and caches as the DuckDB store does "
               "(docs/clickhouse.md): a response cache, and reads that follow its writes. On a ClickHouse "
               "server, which several processes may write, it caches neither and every request computes "
               "(not measured here: no ClickHouse server can be installed on this machine)."]
    else:
        out = ["# Benchmarks", "", run.head("the DuckDB store")]
    out += [""] + describe(plan_)
    out += ["", "## Heatmap against the SQL baselines (in process, median / p99)", "",
            "Baselines run in the same engine over the same raw ranges on the 30 days to the run's start, each "
            "checked equal to ours (`np.allclose(atol=1e-9)`) in every run: **competent**: each view's ranges "
            "merged (window functions), then +/- steps at the merged ranges' bucket edges (a difference array with "
            "the partial first and last buckets' fractions) and a running sum; **naive**: the merged ranges joined "
            "to every bucket they overlap (cost: ranges x buckets). The headline ratio is the competent baseline "
            "against ours uncached (a distinct window every call), both in process.", "",
            "| views | build (bulk path) | ours, distinct window (uncached) | ours, same window | competent SQL | "
            "competent / ours uncached | naive SQL | naive / ours uncached |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n in run.sizes:
        built = run.find("built", n=n)
        ours, same = run.find("in_process", n=n, endpoint="heatmap", mode="uncached"), \
            run.find("in_process", n=n, endpoint="heatmap", mode="cached")
        cells = []
        for name in ("competent", "naive"):
            b = run.find("baseline", n=n, name=name)
            if b is None or "skipped" in b:
                cells += [b["skipped"] if b else "-", ""]
            else:
                cells += [f"{pair(b)} ({b['runs']} runs, equal)", f"{b['p50_ms'] / ours['p50_ms']:,.0f}x"]
        out.append(f"| {n:,} | {built['build_s']:.0f} s ({n / max(built['build_s'], 1e-9):,.0f}/s) | {pair(ours)} | "
                   f"{pair(same)} | " + " | ".join(cells) + " |")
    out += ["", "## Every endpoint in process (median / p99)", "",
            "| views | endpoint | same window | distinct window (uncached) |", "|---:|---|---:|---:|"]
    for n in run.sizes:
        for name in ENDPOINT_NAMES:
            out.append(f"| {n:,} | {name} | {pair(run.find('in_process', n=n, endpoint=name, mode='cached'))} | "
                       f"{pair(run.find('in_process', n=n, endpoint=name, mode='uncached'))} |")
    out += ["", "## Over HTTP: latency, one connection (p50 / p99)", "",
            "| views | endpoint | cached | uncached | cold: first query after a write | the query after it (another "
            "window) | under ingest |", "|---:|---|---:|---:|---:|---:|---:|"]
    for n in run.sizes:
        for name in ENDPOINT_NAMES:
            c = run.find("cold", n=n, endpoint=name)
            cells = [pair(run.find("http", n=n, endpoint=name, mode=m, connections=1))
                     for m in ("cached", "uncached")]
            cells.append("-" if c is None else f"{pair(c)} ({c['samples']} writes)")
            cells.append("-" if c is None or c.get("next_p50_ms") is None else
                         f"{fmt(c['next_p50_ms'])} / {fmt(c['next_p99_ms'])}")
            cells.append(pair(run.find("http", n=n, endpoint=name, mode="under ingest", connections=1)))
            out.append(f"| {n:,} | {name} | " + " | ".join(cells) + " |")
    columns = [("cached", c) for c in plan_["connections"] if c > 1] + \
        [("uncached", c) for c in plan_["connections"] if c > 1] + \
        [("under ingest", c) for c in plan_["ingest_connections"] if c > 1]
    out += ["", "## Over HTTP: throughput (200 answers per second, and their p99)", "",
            "| views | endpoint | " + " | ".join(f"{m}, {c} connections" for m, c in columns) + " |",
            "|---:|---|" + "---:|" * len(columns)]
    for n in run.sizes:
        for name in ENDPOINT_NAMES:
            slow = run.find("slow", n=n, endpoint=name)
            if slow:
                out.append(f"| {n:,} | {name} | " + " | ".join(
                    [f"not run: one computation takes {fmt(slow['in_process_ms'])} in process"] * len(columns)) + " |")
                continue
            out.append(f"| {n:,} | {name} | " + " | ".join(
                per_s(run.find("http", n=n, endpoint=name, mode=m, connections=c)) for m, c in columns) + " |")
    ceiling = run.find("ceiling")
    https = run.all("http")
    non_200: dict[str, int] = {}
    for r in https + run.all("cold"):
        for status, count in r["non_200"].items():
            non_200[status] = non_200.get(status, 0) + count
    uncached = [r for r in https if r["mode"] != "cached"]
    all_distinct = all(r["distinct_paths"] == r["requests"] + sum(r["non_200"].values()) for r in uncached)
    out += ["", "Beside the queries, in the same run:", ""]
    if ceiling:
        out.append(f"- The generator's own ceiling: {ceiling['rps']:,.0f} GETs/s with {ceiling['connections']} "
                   "connections against bench/beacons.py's instant local server (distinct paths), measured first; "
                   "no figure above is near it.")
    for r in run.all("ingest"):
        out.append(f"- Under ingest ({r['n']:,} views): the beacon clients had {r['posts']:,} POSTs acknowledged "
                   f"({r['posts_per_s']:,.0f}/s, {r['events_per_s']:,.0f} events/s; acknowledgement p50 "
                   f"{fmt(r['ack_p50_ms'])}, p99 {fmt(r['ack_p99_ms'])}) over {r['seconds']:.0f} s"
                   + (f"; non-2xx {r['non_2xx']}" if r["non_2xx"] else "") + ".")
    out.append("- Answers other than 200: " + (", ".join(f"{k}: {v:,}" for k, v in sorted(non_200.items()))
                                              if non_200 else "none") + ".")
    out.append("- Every uncached and under-ingest request asked a window of its own: "
               + ("yes (distinct paths = requests in every row)." if all_distinct else "**no** (see the log)."))
    rss = run.all("rss")
    if rss:
        out.append("- Server peak RSS: " + ", ".join(f"{r['n']:,} views {r['peak_mib']:.0f} MiB" for r in rss) + ".")
    out += [""] + targets(run, kind, other)
    return "\n".join(out)


def targets(run: Run, kind: str, other: list[dict] | None) -> list[str]:
    """The issue's targets, each with the measured figure and whether it is met."""
    lines = ["## Targets (this 2-core machine)", "", "| target | measured | met |", "|---|---|:-:|"]

    def line(target: str, measured: str, met: bool | None) -> None:
        lines.append(f"| {target} | {measured} | {'-' if met is None else ('yes' if met else 'no')} |")

    top = max(run.sizes, default=None)

    def at(n: int, target: str, measure: Callable[[int], tuple[str, bool]]) -> None:
        if n in run.sizes:
            line(target, *measure(n))
        else:
            line(target, f"not measured in this run (largest size {top:,})", None)

    def http(n, endpoint, mode, connections):
        return run.find("http", n=n, endpoint=endpoint, mode=mode, connections=connections)

    if kind == "duckdb":
        def p50(n):
            r = http(n, "heatmap", "uncached", 1)
            return f"{fmt(r['p50_ms'])} (1 connection)", r["p50_ms"] <= 5

        def busiest(n):  # the throughput row with the most 200 answers per second (its p99 is judged too)
            return max((http(n, "heatmap", "uncached", c) for c in run.meta["plan"]["connections"] if c > 1),
                       key=lambda r: r["rps"])

        def rps(n):
            r = busiest(n)
            return f"{r['rps']:,.0f} req/s ({r['connections']} connections: the better row)", r["rps"] >= 500

        def p99(n):
            r = busiest(n)
            return f"{fmt(r['p99_ms'])} (in that row: {r['connections']} connections)", r["p99_ms"] <= 50

        def ratio(n):
            b, ours = run.find("baseline", n=n, name="competent"), run.find("in_process", n=n, endpoint="heatmap",
                                                                              mode="uncached")
            x = b["p50_ms"] / ours["p50_ms"]
            return f"{x:,.0f}x ({fmt(b['p50_ms'])} vs {fmt(ours['p50_ms'])}, medians in process)", x >= 1000

        at(10_000_000, "Uncached heatmap at 1e7 views over HTTP: p50 <= 5 ms", p50)
        at(10_000_000, "Uncached heatmap at 1e7 views over HTTP: >= 500 req/s", rps)
        at(10_000_000, "Uncached heatmap at 1e7 views over HTTP: p99 <= 50 ms", p99)
        at(10_000_000, ">= 1,000x the competent baseline at 1e7 (heatmap, uncached)", ratio)
    if top is not None:
        def cold(n):
            c, warm = run.find("cold", n=n, endpoint="heatmap"), http(n, "heatmap", "uncached", 1)
            x = c["p50_ms"] / warm["p50_ms"]
            return f"{x:.1f}x ({fmt(c['p50_ms'])} vs {fmt(warm['p50_ms'])}, p50 over HTTP)", x <= 3

        at(top, f"Cold heatmap (first query after a write) <= 3x a warm uncached one ({top:,} views)", cold)

        def relative(n):
            r = http(n, "relative", "uncached", 1)
            peers = run.find("in_process", n=n, endpoint="relative", mode="uncached")["peers"]
            return (f"{fmt(r['p50_ms'])} p50, {fmt(r['p99_ms'])} p99 ({peers} peers, 1 connection)",
                    r["p50_ms"] <= 100 if peers >= PEERS else None)

        at(top, f"/relative with 200 peers <= 100 ms uncached ({top:,} views, p50 over HTTP)", relative)
    if kind == "chdb":
        def versus(n):
            ours = http(n, "heatmap", "uncached", 1)
            duck = Run(other).find("http", n=n, endpoint="heatmap", mode="uncached", connections=1) if other else None
            if duck is None:
                return f"{fmt(ours['p50_ms'])}; no DuckDB figure at {n:,} views in bench/last-run.log", None
            x = ours["p50_ms"] / duck["p50_ms"]
            return (f"{x:.1f}x ({fmt(ours['p50_ms'])} vs DuckDB {fmt(duck['p50_ms'])} in bench/last-run.log, "
                    f"commit {Run(other).meta['commit']}; p50 over HTTP, 1 connection)"), x <= 3

        def chdb_rps(n):
            best = max((http(n, "heatmap", "uncached", c) for c in run.meta["plan"]["connections"]),
                       key=lambda r: r["rps"])
            return f"{best['rps']:,.0f} req/s ({best['connections']} connections)", best["rps"] >= 100

        at(1_000_000, "chdb: uncached heatmap <= 3x DuckDB's at 1e6", versus)
        at(1_000_000, "chdb: uncached heatmap >= 100 req/s over HTTP at 1e6", chdb_rps)
    return lines


def report_filters(rows: list[dict], command: str, elapsed_s: float) -> str:
    out = ["## Filtered queries (`filters[]`)", "",
           f"Command: `{command}` (one run, {elapsed_s / 60:.0f} min, same machine and data as above; audience shares "
           "in bench/generate.py: US 38%, JP 6%, tv 12%, phone 35%). A filter on one standard dimension is summed "
           "from slice rollup rows (hour partitions; the window's partial hours read raw); filters on two dimensions "
           "read the matching views of the window raw, with the filters in the store's SQL (docs/engagement.md, "
           "*Filters*). Baselines in the same run: the unfiltered query (rollups) and the naive SQL with the same "
           "filter.", "",
           "| views | unfiltered (rollups) | filters | served by | matching views | filtered, ours (median / p99) | "
           "filtered / unfiltered | naive with the filter | naive / ours |",
           "|---:|---:|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        f = r["filters"]
        for row in f["sets"]:
            naive = row.get("naive")
            served = "slice rows" if plan("asset", parse_filters(row["filters"]), SLICE_PARTITION_MS).terms else "raw views"
            out.append(f"| {r['n']:,} | {fmt(f['unfiltered'][0])} | `{' & '.join(row['filters'])}` | {served} | "
                       f"{row['views']:,} | {fmt(row['ours'][0])} / {fmt(row['ours'][1])} | "
                       f"{row['ours'][0] / f['unfiltered'][0]:,.1f}x | "
                       + (f"{fmt(naive[0])} | {naive[0] / row['ours'][0]:,.0f}x |" if naive else "not run (minutes) | |"))
    return "\n".join(out)


def legacy_log(log: Path) -> tuple[list[dict], list[dict]]:
    """Filter rows and imports as printed by runs before the JSON log (bench/last-filters-run.log,
    bench/last-imports-run.log), to re-render their sections."""
    rows, imports, current = [], [], None
    for text in log.read_text().splitlines():
        built = re.match(r"([\d,]+) views built in ([\d.]+) s", text)
        if built:
            current = {"n": int(built.group(1).replace(",", "")), "build_s": float(built.group(2))}
            rows.append(current)
        elif text.startswith("  filters: "):
            current["filters"] = json.loads(text.split(": ", 1)[1])
        elif text.startswith("imports: ") and '"floor"' in text:  # logs from before the floor have no section
            imports.append(json.loads(text.split(": ", 1)[1]))
    return [r for r in rows if "filters" in r], imports


def imports_section(kind: str) -> str:
    """The report section a store's import figures go to."""
    return "imports" if kind == "duckdb" else f"imports-{kind}"


def render_log(path: Path, out: Path, kind: str, args) -> None:
    """Write the sections a log holds into `out`."""
    text = path.read_text()
    if not text.lstrip().startswith("{"):  # a log from before the JSON records: filters or imports only
        rows, imports = legacy_log(path)
        command = "python bench/run.py" + (f" --store {kind}" if kind != "duckdb" else "")
        if rows:
            print(write_report(out, "filters", report_filters(rows, command + " --filters", args.elapsed_min * 60)))
        if imports:
            print(write_report(out, imports_section(kind), report_imports(imports, command + " --only-imports",
                                                                           args.elapsed_min * 60)))
        return
    records = read_log(path)
    run = Run(records)
    kind = run.meta["store"]
    elapsed = run.end["elapsed_s"] if run.end else 0.0
    filters = [r for r in records if r["event"] == "filters"]
    imports = [r["result"] for r in records if r["event"] == "imports"]
    if filters:
        print(write_report(out, "filters", report_filters(filters, run.meta["command"], elapsed)))
    elif imports:
        print(write_report(out, imports_section(kind), report_imports(imports, run.meta["command"], elapsed)))
    elif run.sizes:
        other = None
        if kind == "chdb" and (ROOT / "bench" / "last-run.log").exists():
            duck = (ROOT / "bench" / "last-run.log").read_text()
            other = read_log(ROOT / "bench" / "last-run.log") if duck.lstrip().startswith("{") else None
        print(write_report(out, "chdb" if kind == "chdb" else "head", render_queries(records, kind, other)))


# --- the run ----------------------------------------------------------------------------------------------------------

FULL = {"seconds": 4.0, "warm_s": 1.0, "connections": [1, 4, 16], "ingest_connections": [1, 4], "cold_repeats": 20,
        "cold_s": 20.0, "slow_ms": 500.0, "in_process_s": 2.0, "flood_clients": 4, "ceiling_connections": 16,
        "peers": PEERS}
QUICK = {"seconds": 0.5, "warm_s": 0.2, "connections": [1, 4], "ingest_connections": [1], "cold_repeats": 3,
         "cold_s": 5.0, "slow_ms": 500.0, "in_process_s": 0.2, "flood_clients": 2, "ceiling_connections": 4,
         "peers": 20}


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", help="Views per size, comma-separated (default 1e5,1e6,1e7; --quick 1e3).")
    parser.add_argument("--store", choices=("duckdb", "chdb"), default="duckdb",
                        help="duckdb (the default store) or chdb (the ClickHouse store on the in-process engine); "
                        "a chdb run writes its own section of the report and keeps the DuckDB one.")
    parser.add_argument("--quick", action="store_true",
                        help="The smoke test: 1e3 views, fractions of a second per measurement, every mode and "
                        "both baselines (checked equal). Give --out and --log to keep the committed ones.")
    parser.add_argument("--seconds", type=float, help="Seconds per HTTP measurement (default 4; --quick 0.5).")
    parser.add_argument("--filters", action="store_true",
                        help="Only the filtered-query benchmark (its own section of the report).")
    parser.add_argument("--import-views", default="2e5,1e6",
                        help="With --only-imports: views per import measurement, comma-separated.")
    parser.add_argument("--only-imports", action="store_true",
                        help="Only the bulk import measurements (their own section of the report).")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--log", type=Path, help="Where the run's JSON records go (default bench/last-run.log; "
                        "bench/last-chdb-run.log, last-filters-run.log, last-imports-run.log for those runs).")
    parser.add_argument("--from-log", type=Path, help="Re-render the sections a run's log holds; measure nothing.")
    parser.add_argument("--elapsed-min", type=float, default=0, help="With --from-log of an old text log: its length.")
    args = parser.parse_args()
    if args.from_log:
        render_log(args.from_log, args.out, args.store, args)
        return
    plan_ = dict(QUICK if args.quick else FULL)
    if args.seconds:
        plan_["seconds"] = args.seconds
    sizes_text = args.sizes or ("1e3" if args.quick else "1e5,1e6,1e7")
    sizes = [] if args.only_imports else [int(float(s)) for s in sizes_text.split(",")]
    name = "imports" if args.only_imports else ("filters" if args.filters else
                                                 ("chdb" if args.store == "chdb" else ""))
    log_path = args.log or ROOT / "bench" / (f"last-{name}-run.log" if name else "last-run.log")
    log = Log(log_path)
    shown = str(log_path.relative_to(ROOT)) if log_path.resolve().is_relative_to(ROOT) else str(log_path)
    command = " ".join(["python bench/run.py", *sys.argv[1:]])
    started = time.perf_counter()
    now_ms = int(time.time() * 1000)
    log("run", command=command, store=args.store, commit=git("rev-parse", "--short", "HEAD"),
        dirty=bool(git("status", "--porcelain", "--", "src")), started_utc=datetime.now(timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC"), load_1m=os.getloadavg()[0], cpus=os.cpu_count(), plan=plan_, log=shown,
        sizes=sizes, python=sys.version.split()[0], duckdb=duckdb.__version__)
    with tempfile.TemporaryDirectory(dir=os.environ.get("MOMENTS_BENCH_DIR")) as folder:
        if args.only_imports:
            for n in [int(float(v)) for v in args.import_views.split(",")]:
                log("imports", result=import_throughput(Path(folder), now_ms, n, args.store))
        elif not args.filters:
            result = httpload.get_ceiling(plan_["ceiling_connections"], plan_["seconds"])
            log("ceiling", **result.json())
        for n in sizes:
            path = Path(folder) / f"views-{n}.{args.store}"
            url = store_url(args.store, path)
            environment_id, env_key, token, build_s = build(url, n, now_ms, plan_["peers"])
            log("built", n=n, build_s=build_s, peers=plan_["peers"], peer_views=PEER_VIEWS)
            if args.filters:
                log("filters", n=n, build_s=build_s, filters=filtered(url, path, environment_id, n, now_ms))
            else:
                ours = in_process(url, environment_id, n, now_ms, plan_["in_process_s"], log)
                baselines(args.store, path, environment_id, n, now_ms, np.asarray(ours.values), args.quick, log)
                slow = {r["endpoint"]: r["p50_ms"] for r in log.records if r["event"] == "in_process"
                        and r["n"] == n and r["mode"] == "uncached" and r["p50_ms"] > plan_["slow_ms"]}
                over_http(url, env_key, token, n, now_ms, plan_, Path(folder), log, slow)
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    log("end", elapsed_s=time.perf_counter() - started)
    log.close()
    render_log(log_path, args.out, args.store, args)


if __name__ == "__main__":
    main()
