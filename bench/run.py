"""The benchmark suite: one command, writes docs/benchmarks.md.

    python bench/run.py                       # 1e3 .. 1e7 views (about 30 min on 2 cores)
    python bench/run.py --sizes 1e3,1e4,1e5   # a quick look
    python bench/run.py --store chdb --sizes 1e6   # the ClickHouse store on chdb (its own section)

For each audience size it builds one asset's views over 30 days through the store's bulk
path, then measures, in the same run: in-process heatmap and hotspots query time (ours,
from rollups) against the naive baseline (one SQL query over the raw ranges in the same engine);
the same endpoints over HTTP under `wrk`; bulk import throughput through POST /v1/views
and through `moments import`; and the server's peak RSS. Times are reported as medians and
p99 with ratios against the baseline measured in the same run, since absolute times drift.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
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
from report import write_report  # noqa: E402

from moments import accounts, stats  # noqa: E402
from moments.config import Settings  # noqa: E402
from moments.model import Asset, Scope  # noqa: E402
from moments.store import open_store  # noqa: E402
from moments.store.base import ViewQuery  # noqa: E402
from moments.store.duckdb import DuckDBStore, _filter_sql  # noqa: E402
from moments.filters import parse_filters  # noqa: E402
from moments.store.rollups import SLICE_PARTITION_MS, plan  # noqa: E402

DURATION_MS = 600_000
ASSET, PLAYBACK_IDS, VIDEO = "bench-asset", ["benchpb1", "benchpb2"], "bench-video"
CHUNK = 250_000
NAIVE_TIMEOUT_S = 900

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


# The same baseline in ClickHouse SQL (the ClickHouse store's rows: one per view and scope).
NAIVE_SQL_CLICKHOUSE = """
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
)
SELECT b, sum(greatest(0., least(toFloat64(m.2), (b + 1) * D / B) - greatest(toFloat64(m.1), b * D / B))) / (D / B)
          / (SELECT count() FROM counted) AS value
FROM merged ARRAY JOIN range(toUInt64(intDiv(m.1 * B, D)), toUInt64(least(B, intDiv(m.2 * B + D - 1, D)))) AS b
GROUP BY b ORDER BY b
"""


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


def build(url: str, n_views: int, now_ms: int) -> tuple[str, accounts.IssuedToken, float]:
    store = open_store(url)
    environment, issued = accounts.create_environment(store, "bench", rate_limit_per_s=1e6, rate_limit_burst=10**6)
    store.put_asset(environment.environment_id, Asset(ASSET, DURATION_MS, tuple(PLAYBACK_IDS)))
    started = time.perf_counter()
    chunks = max(1, -(-n_views // CHUNK))
    span = 30 * DAY_MS
    for k in range(chunks):  # consecutive slices of the 30 days, in time order
        first, count = k * CHUNK, min(CHUNK, n_views - k * CHUNK)
        begin = now_ms - span + span * k // chunks
        store.bulk_upsert_views(views_table(environment.environment_id, ASSET, PLAYBACK_IDS, VIDEO, DURATION_MS, count,
                                            begin, now_ms - span + span * (k + 1) // chunks, seed=k, first_index=first))
    elapsed = time.perf_counter() - started
    store.close()
    return environment.environment_id, issued, elapsed


def in_process(url: str, environment_id: str, n_views: int, now_ms: int) -> dict:
    store = open_store(url)
    environment = store.get_environment(environment_id)
    window = stats.effective_timeframe(["30:days"], environment, now_ms // 1000, 7 * 86_400)
    settings = Settings()

    def ours(hotspots: bool):
        return stats.engagement(store, environment, Scope.ASSET, ASSET, window, now_ms, settings.idle_timeout_s,
                                hotspots)

    result = ours(False)
    repeats = 30
    heat = timed(lambda: ours(False), repeats)
    spots = timed(lambda: ours(True), repeats)
    params = {"env": environment_id, "asset": ASSET, "start": window[0] * 1000, "end": window[1] * 1000,
              "D": DURATION_MS, "B": len(result.values)}
    naive_repeats = 5 if n_views <= 100_000 else (2 if n_views <= 1_000_000 else 1)

    def naive():
        if isinstance(store, DuckDBStore):
            with store._lock:
                return store._conn.sql(NAIVE_SQL.replace("FILTERS", ""), params=params).fetchall()
        from moments.store.clickhouse import _counted_sql

        query = ViewQuery(environment_id, Scope.ASSET, ASSET, params["start"], params["end"], 0)
        sql = NAIVE_SQL_CLICKHOUSE.replace("COUNTED", _counted_sql(query))
        rows = store._x.query(sql, {"env": environment_id, "scope_id": ASSET, "pids": PLAYBACK_IDS,
                                    "start": params["start"], "end": params["end"], "idle_before": 0,
                                    "D": DURATION_MS, "B": params["B"]})
        return list(zip(rows["b"].to_pylist(), rows["value"].to_pylist()))

    naive_values = np.zeros(len(result.values))
    for bucket, value in naive():
        naive_values[bucket] = value
    # Same numbers both ways (float SQL vs exact integers): the comparison is fair.
    assert np.allclose(naive_values, result.values, atol=1e-9), "naive and ours disagree"
    naive_times = timed(naive, naive_repeats) if n_views < 10_000_000 else [_once(naive)]
    store.close()
    return {"views": result.total_views, "heatmap": percentiles(heat), "hotspots": percentiles(spots),
            "naive": percentiles(naive_times), "naive_runs": len(naive_times)}


# Filter sets of the filtered-query benchmark: one value of a dimension, a negation, two
# dimensions, and a rare value (bench/generate.py's audience shares).
FILTER_SETS = (["country:US"], ["!device_type:tv"], ["country:US", "device_type:phone"], ["country:JP"])


def filtered(url: str, environment_id: str, n_views: int, now_ms: int) -> dict:
    """Filtered heatmaps (read raw, filters pushed into SQL) against the unfiltered one (rollups)
    and against the naive query with the same filter, all in this run."""
    store = open_store(url)
    environment = store.get_environment(environment_id)
    window = stats.effective_timeframe(["30:days"], environment, now_ms // 1000, 7 * 86_400)

    def ours(filters):
        return stats.engagement(store, environment, Scope.ASSET, ASSET, window, now_ms, 3600, False, filters)

    repeats = 10 if n_views <= 1_000_000 else 3
    result = {"unfiltered": percentiles(timed(lambda: ours(()), 30)), "sets": []}
    for texts in FILTER_SETS:
        filters = parse_filters(texts)
        answer = ours(filters)
        row = {"filters": texts, "views": answer.total_views, "ours": percentiles(timed(lambda: ours(filters), repeats))}
        if isinstance(store, DuckDBStore) and n_views <= 1_000_000:  # the naive query at 1e7 takes minutes per set
            conditions, filter_params = _filter_sql(filters)
            sql = NAIVE_SQL.replace("FILTERS", "".join(f" AND {c}" for c in conditions))
            params = {"env": environment_id, "asset": ASSET, "start": window[0] * 1000, "end": window[1] * 1000,
                      "D": DURATION_MS, "B": len(answer.values), **filter_params}

            def naive():
                with store._lock:
                    return store._conn.sql(sql, params=params).fetchall()

            naive_values = np.zeros(len(answer.values))
            for bucket, value in naive():
                naive_values[bucket] = value
            assert np.allclose(naive_values, answer.values, atol=1e-9), f"naive and ours disagree on {texts}"
            row["naive"] = percentiles(timed(naive, 2))
        result["sets"].append(row)
    store.close()
    return result


def _once(fn) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def serve(url: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "moments", "serve", "--store", url, "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
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


def wrk(url: str, token: accounts.IssuedToken, seconds: int = 10, connections: int = 16) -> dict:
    auth = base64.b64encode(f"{token.token.token_id}:{token.secret}".encode()).decode()
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency",
                          "-H", f"Authorization: Basic {auth}", url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p99_ms": float(p99.group(1)) * scale, "errors": int(non2xx.group(1)) if non2xx else 0}


def over_http(url: str, token: accounts.IssuedToken) -> dict:
    server, base = serve(url)
    try:
        query = "timeframe%5B%5D=30:days"
        for kind in ("heatmap", "hotspots"):  # warm up: first loads of the file and caches are not steady state
            wrk(f"{base}/data/v1/engagement/assets/{ASSET}/{kind}?{query}", token, seconds=2)
        heat = wrk(f"{base}/data/v1/engagement/assets/{ASSET}/heatmap?{query}", token)
        spots = wrk(f"{base}/data/v1/engagement/assets/{ASSET}/hotspots?{query}", token)
        return {"heatmap": heat, "hotspots": spots, "rss_mb": rss_peak_mb(server.pid)}
    finally:
        server.terminate()
        server.wait(30)


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


def fmt(ms: float) -> str:
    return f"{ms / 1000:.1f} s" if ms >= 10_000 else (f"{ms:.0f} ms" if ms >= 100 else f"{ms:.2f} ms")


def report(rows: list[dict], command: str, elapsed_s: float) -> str:
    out = ["# Benchmarks", "", f"Command: `{command}` (one run, {elapsed_s / 60:.0f} min, on this 2-core machine; "
           "absolute times drift between runs, ratios within a run are what to compare).", "",
           "One asset (10 min content, 600 buckets, two playback IDs) with views spread over 30 days; queries ask "
           "for `timeframe[]=30:days`, so both ends cut an hour and are read raw.", "",
           "## Query time, in process (median / p99)", "",
           "| views | build (bulk path) | heatmap, ours | hotspots, ours | naive SQL over raw ranges | "
           "naive / ours (median) |", "|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        q = r["query"]
        out.append(f"| {r['n']:,} | {r['build_s']:.0f} s ({r['n'] / r['build_s']:,.0f}/s) | {fmt(q['heatmap'][0])} / "
                   f"{fmt(q['heatmap'][1])} | {fmt(q['hotspots'][0])} / {fmt(q['hotspots'][1])} | "
                   f"{fmt(q['naive'][0])} / {fmt(q['naive'][1])} ({q['naive_runs']} runs) | "
                   f"{q['naive'][0] / q['heatmap'][0]:,.0f}x |")
    base = next((r for r in rows if r["n"] == 10_000), rows[0])
    out += ["", "Growth of our heatmap query time with views (median, relative to "
            f"{base['n']:,} views): " + ", ".join(
                f"{r['n']:,}: {r['query']['heatmap'][0] / base['query']['heatmap'][0]:.2f}x" for r in rows), ""]
    out += ["## Over HTTP (`wrk -t2 -c16 -d10s` after a 2 s warm-up, one server process)", "",
            "Responses come from the exact response cache when the same query was already answered in the same "
            "second with no write since (`api/cache.py`); the first request of each second computes it.", "",
            "| views | heatmap req/s | heatmap p99 | hotspots req/s | hotspots p99 | non-2xx | server peak RSS |",
            "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        h = r["http"]
        out.append(f"| {r['n']:,} | {h['heatmap']['rps']:,.0f} | {h['heatmap']['p99_ms']:.1f} ms | "
                   f"{h['hotspots']['rps']:,.0f} | {h['hotspots']['p99_ms']:.1f} ms | "
                   f"{h['heatmap']['errors'] + h['hotspots']['errors']} | {h['rss_mb']:.0f} MiB |")
    return "\n".join(out + [""] + targets(rows))


def targets(rows: list[dict]) -> list[str]:
    """The issue's targets, each with the measured figure and whether it is met."""
    by_n = {r["n"]: r for r in rows}
    top, base = by_n.get(10_000_000), by_n.get(10_000)
    lines = ["## Targets (2-core machine)", "", "| target | measured | met |", "|---|---|:-:|"]

    def line(target: str, measured: str, met: bool) -> None:
        lines.append(f"| {target} | {measured} | {'yes' if met else 'no'} |")

    if top:
        ratio = top["query"]["naive"][0] / top["query"]["heatmap"][0]
        line("1e7 views: ours >= 1,000x faster than the naive query", f"{ratio:,.0f}x", ratio >= 1000)
        rss = top["http"]["rss_mb"]
        line("server RSS under 1 GiB while serving 1e7 views", f"{rss:.0f} MiB", rss < 1024)
    if top and base:
        growth = top["query"]["heatmap"][0] / base["query"]["heatmap"][0]
        line("ours at 1e7 within 1.5x of ours at 1e4 (heatmap, median)", f"{growth:.2f}x", growth <= 1.5)
    for r in rows:
        h = r["http"]["heatmap"]
        line(f">= 2,000 heatmap req/s, p99 < 20 ms ({r['n']:,} views)", f"{h['rps']:,.0f} req/s, p99 {h['p99_ms']:.1f} ms",
             h["rps"] >= 2000 and h["p99_ms"] < 20)
    return lines + [""]


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


def from_log(log: Path) -> tuple[list[dict], list[dict]]:
    """Rows and imports as printed by a run (to re-render its report)."""
    rows, imports, current = [], [], None
    for text in log.read_text().splitlines():
        built = re.match(r"([\d,]+) views built in ([\d.]+) s", text)
        if built:
            current = {"n": int(built.group(1).replace(",", "")), "build_s": float(built.group(2))}
            rows.append(current)
        elif text.startswith("  in process: "):
            current["query"] = json.loads(text.split(": ", 1)[1])
        elif text.startswith("  filters: "):
            current["filters"] = json.loads(text.split(": ", 1)[1])
        elif text.startswith("  http: "):
            current["http"] = json.loads(text.split(": ", 1)[1])
        elif text.startswith("imports: ") and '"floor"' in text:  # logs from before the floor have no section
            imports.append(json.loads(text.split(": ", 1)[1]))
    return rows, imports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1e3,1e4,1e5,1e6,1e7")
    parser.add_argument("--store", choices=("duckdb", "chdb"), default="duckdb",
                        help="duckdb (the default store) or chdb (the ClickHouse store on the in-process engine); "
                        "a chdb run writes its own section of the report and keeps the DuckDB one.")
    parser.add_argument("--filters", action="store_true",
                        help="Only the filtered-query benchmark (its own section of the report).")
    parser.add_argument("--import-views", default="2e5,1e6",
                        help="Views per import measurement, comma-separated: one row of the import table each.")
    parser.add_argument("--only-imports", action="store_true",
                        help="Only the bulk import measurements (their own section of the report).")
    parser.add_argument("--out", default=str(Path(__file__).parents[1] / "docs" / "benchmarks.md"))
    parser.add_argument("--from-log", type=Path, help="Re-render the report of a run from its printed output.")
    parser.add_argument("--elapsed-min", type=float, default=0, help="With --from-log: how long that run took.")
    args = parser.parse_args()
    if args.from_log:
        rows, imports = from_log(args.from_log)
        command = "python bench/run.py" + (f" --store {args.store}" if args.store != "duckdb" else "")
        if args.filters:
            command += " --filters" + ("" if args.sizes == parser.get_default("sizes") else f" --sizes {args.sizes}")
            print(write_report(Path(args.out), "filters", report_filters(rows, command, args.elapsed_min * 60)))
        else:
            if rows:
                print(write_report(Path(args.out), args.store, render(args.store, rows, command, args.elapsed_min * 60)))
            if imports:
                command += " --only-imports" if not rows else ""
                print(write_report(Path(args.out), imports_section(args.store),
                                   report_imports(imports, command, args.elapsed_min * 60)))
        return
    sizes = [] if args.only_imports else [int(float(s)) for s in args.sizes.split(",")]
    command = "python bench/run.py" + (f" --store {args.store}" if args.store != "duckdb" else "") + \
        (" --filters" if args.filters else "") + (" --only-imports" if args.only_imports else "") + \
        ("" if args.sizes == parser.get_default("sizes") or args.only_imports else f" --sizes {args.sizes}") + \
        ("" if args.import_views == parser.get_default("import_views") else f" --import-views {args.import_views}")
    started = time.perf_counter()
    now_ms = int(time.time() * 1000)
    rows = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("MOMENTS_BENCH_DIR")) as folder:
        for n in sizes:
            path = Path(folder) / f"views-{n}.{args.store}"
            url = store_url(args.store, path)
            environment_id, token, build_s = build(url, n, now_ms)
            print(f"{n:,} views built in {build_s:.1f} s", flush=True)
            if args.filters:
                rows.append({"n": n, "filters": filtered(url, environment_id, n, now_ms)})
                print(f"  filters: {json.dumps(rows[-1]['filters'])}", flush=True)
                path.unlink(missing_ok=True)
                continue
            query = in_process(url, environment_id, n, now_ms)
            print(f"  in process: {json.dumps(query)}", flush=True)
            http = over_http(url, token)
            print(f"  http: {json.dumps(http)}", flush=True)
            rows.append({"n": n, "build_s": build_s, "query": query, "http": http})
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        if args.filters:
            print(write_report(Path(args.out), "filters", report_filters(rows, command, time.perf_counter() - started)))
            return
        if rows:
            print(write_report(Path(args.out), args.store,
                               render(args.store, rows, command, time.perf_counter() - started)))
        imports = []
        for n in [int(float(v)) for v in args.import_views.split(",")]:
            imports.append(import_throughput(Path(folder), now_ms, n, args.store))
            print(f"imports: {json.dumps(imports[-1])}", flush=True)
    print(write_report(Path(args.out), imports_section(args.store),
                       report_imports(imports, command, time.perf_counter() - started)))


def render(kind: str, rows: list[dict], command: str, elapsed_s: float) -> str:
    return (report_chdb if kind == "chdb" else report)(rows, command, elapsed_s)


def imports_section(kind: str) -> str:
    """The report section a store's import figures go to."""
    return "imports" if kind == "duckdb" else f"imports-{kind}"


CHDB_NOTE = ("Reading these figures: a heatmap is five statements on this store (scope check, asset, the asset's playback IDs, the rollup sums, the raw reads at the window's ends), each a few milliseconds to tens of milliseconds on chdb, where every statement opens every part its key range touches (views are partitioned by day: about 30 parts for 30 days). chdb runs one statement at a time per connection (`ChdbExecutor` holds a lock), and there is no response cache on this store, so over HTTP the throughput is about one over the query time and the p99 is queueing behind 16 connections. The figures are for the in-process engine on 2 cores shared with the load generator, not for a ClickHouse server, which runs statements concurrently and would be measured with `--store clickhouse://...` (not available here).")


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


def report_chdb(rows: list[dict], command: str, elapsed_s: float) -> str:
    """The ClickHouse store's figures (chdb: the ClickHouse engine in this process), one section."""
    from moments.store.executor import ChdbExecutor  # noqa: F401  (chdb is installed if this ran)
    import chdb

    out = ["## The ClickHouse store on chdb", "",
           f"Command: `{command}` (one run, {elapsed_s / 60:.0f} min, same machine; chdb {chdb.__version__}, "
           f"ClickHouse engine {chdb.engine_version if hasattr(chdb, 'engine_version') else '?'}). Same data and "
           "queries as above; the store is `--store chdb:///dir` (store/clickhouse.py, docs/clickhouse.md). The "
           "ClickHouse store reports no data version (several processes may write), so the HTTP figures are "
           "computed on every request: there is no response cache on this store.", "",
           "| views | build (bulk path) | heatmap, ours | hotspots, ours | naive SQL over raw ranges (ClickHouse) | "
           "naive / ours (median) | HTTP heatmap req/s, p99 | HTTP hotspots req/s, p99 | server peak RSS |",
           "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        q, h = r["query"], r["http"]
        out.append(f"| {r['n']:,} | {r['build_s']:.0f} s ({r['n'] / r['build_s']:,.0f}/s) | {fmt(q['heatmap'][0])} / "
                   f"{fmt(q['heatmap'][1])} | {fmt(q['hotspots'][0])} / {fmt(q['hotspots'][1])} | "
                   f"{fmt(q['naive'][0])} / {fmt(q['naive'][1])} ({q['naive_runs']} runs) | "
                   f"{q['naive'][0] / q['heatmap'][0]:,.0f}x | {h['heatmap']['rps']:,.0f}, {h['heatmap']['p99_ms']:.1f} ms | "
                   f"{h['hotspots']['rps']:,.0f}, {h['hotspots']['p99_ms']:.1f} ms | {h['rss_mb']:.0f} MiB |")
    out += ["", CHDB_NOTE]
    return "\n".join(out)


if __name__ == "__main__":
    main()
