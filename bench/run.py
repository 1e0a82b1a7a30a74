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


def import_throughput(folder: Path, now_ms: int, n_views: int, kind: str = "duckdb") -> dict:
    url = store_url(kind, folder / f"import.{kind}")
    store = open_store(url)
    environment, issued = accounts.create_environment(store, "import", rate_limit_per_s=1e6, rate_limit_burst=10**6)
    store.close()
    table = views_table(environment.environment_id, ASSET, PLAYBACK_IDS, VIDEO, DURATION_MS, n_views,
                        now_ms - 30 * DAY_MS, now_ms, 7)
    lines = [json.dumps({"view_id": f"imp-{i}", "playback_id": r["playback_id"], "video_id": r["video_id"],
                         "view_start": r["view_start_ms"], "view_end": r["view_end_ms"],
                         "duration_ms": r["duration_ms"],
                         "ranges": [[s, e] for s, e in zip(r["range_starts"], r["range_ends"])]})
             for i, r in enumerate(table.to_pylist())]
    ndjson = folder / "views.ndjson"
    ndjson.write_text("\n".join(lines) + "\n")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "moments", "import", str(ndjson), "--env", environment.environment_id,
                    "--store", url, "--json"], check=True, capture_output=True)
    cli = n_views / (time.perf_counter() - started)
    server, base = serve(url)
    try:
        batch = 50_000
        with httpx.Client(base_url=base, auth=(issued.token.token_id, issued.secret), timeout=600) as client:
            bodies = ["\n".join(line.replace('"imp-', '"http-', 1) for line in lines[i:i + batch])
                      for i in range(0, n_views, batch)]
            started = time.perf_counter()
            for body in bodies:
                response = client.post("/v1/views", content=body, headers={"content-type": "application/x-ndjson"})
                assert response.json()["data"]["accepted"] == len(body.splitlines())
            http = n_views / (time.perf_counter() - started)
    finally:
        server.terminate()
        server.wait(30)
    return {"cli": cli, "http": http, "views": n_views}


def fmt(ms: float) -> str:
    return f"{ms / 1000:.1f} s" if ms >= 10_000 else (f"{ms:.0f} ms" if ms >= 100 else f"{ms:.2f} ms")


def report(rows: list[dict], imports: dict, command: str, elapsed_s: float) -> str:
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
    out += ["", "## Bulk import", "",
            f"{imports['views']:,} views as NDJSON (validated view by view, rollups maintained):", "",
            "| path | views/s |", "|---|---:|",
            f"| `moments import views.ndjson` (whole command, process start included) | {imports['cli']:,.0f} |",
            f"| `POST /v1/views`, 50,000 views per request | {imports['http']:,.0f} |", ""]
    return "\n".join(out + targets(rows, imports))


def targets(rows: list[dict], imports: dict) -> list[str]:
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
    line("bulk import >= 200,000 views/s through the CLI", f"{imports['cli']:,.0f} views/s", imports["cli"] >= 200_000)
    return lines + [""]


def from_log(log: Path) -> tuple[list[dict], dict]:
    """Rows and imports as printed by a run (to re-render its report)."""
    rows, imports, current = [], {}, None
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
        elif text.startswith("imports: "):
            imports = json.loads(text.split(": ", 1)[1])
    return rows, imports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1e3,1e4,1e5,1e6,1e7")
    parser.add_argument("--store", choices=("duckdb", "chdb"), default="duckdb",
                        help="duckdb (the default store) or chdb (the ClickHouse store on the in-process engine); "
                        "a chdb run writes its own section of the report and keeps the DuckDB one.")
    parser.add_argument("--filters", action="store_true",
                        help="Only the filtered-query benchmark (its own section of the report).")
    parser.add_argument("--import-views", type=float, default=2e5)
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
            text = render(args.store, rows, imports, command, args.elapsed_min * 60)
            print(write_report(Path(args.out), args.store, text))
        return
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    command = "python bench/run.py" + (f" --store {args.store}" if args.store != "duckdb" else "") + \
        (" --filters" if args.filters else "") + \
        ("" if args.sizes == parser.get_default("sizes") else f" --sizes {args.sizes}")
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
        imports = import_throughput(Path(folder), now_ms, int(args.import_views), args.store)
        print(f"imports: {json.dumps(imports)}", flush=True)
    text = render(args.store, rows, imports, command, time.perf_counter() - started)
    print(write_report(Path(args.out), args.store, text))


def render(kind: str, rows: list[dict], imports: dict, command: str, elapsed_s: float) -> str:
    return (report_chdb if kind == "chdb" else report)(rows, imports, command, elapsed_s)


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


def report_chdb(rows: list[dict], imports: dict, command: str, elapsed_s: float) -> str:
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
    out += ["", f"Bulk import, {imports['views']:,} views as NDJSON: `moments import --store chdb:///dir` "
            f"{imports['cli']:,.0f} views/s; `POST /v1/views` (50,000 per request) {imports['http']:,.0f} views/s.",
            "", CHDB_NOTE]
    return "\n".join(out)


if __name__ == "__main__":
    main()
