"""A noisy neighbour within its rate limit (issue 16, item 5): environment B's heatmap latency
with environment A silent, then while A sends /relative at its rate limit, in one run.

    python bench/neighbours.py [--db bench-neighbours.duckdb] [--peers 200] [--views 1500] [--seconds 20]
                               [--a-rate 5] [--log bench/last-neighbours-run.log] [--out docs/benchmarks.md]
    python bench/neighbours.py --from-log bench/last-neighbours-run.log   # render only, measure nothing

The store is built once into --db (A: peers + 1 registered assets of 5 minutes, `--views` views
each over 7 days; B: one asset with 20,000 views; credentials beside it in --db.json) and copied
for each run, which starts `python -m moments serve` on the copy (2 threads of DuckDB). Both
phases last --seconds: B asks for heatmaps at 4/s (within its limit of 5/s), each over a window
of its own so none is cached; in the second, A also sends /relative at --a-rate per second (default
5/s: its default rate limit) without waiting for answers, each over a window of its own. Printed: B's heatmap p50, p99
and max in both phases, A's answers by status, and a digest of /relative answers over fixed
windows (the same digest: the same answers). To compare two commits, run each on the same --db:
PYTHONPATH=<checkout>/src python bench/neighbours.py (the server inherits PYTHONPATH).

Each run appends to --log a header line `== <revision>, A at <rate>/s: <command>` (the revision
of the checkout the server runs) and the printed JSON, then writes the section "neighbours" of
--out from every run in the log, one column per revision; --from-log LOG only renders.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import os
import re
import shlex
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

import moments  # noqa: E402
from moments import accounts  # noqa: E402
from moments.api.routes.compare import PEERS_PER_REQUEST  # noqa: E402
from moments.model import Asset, Environment  # noqa: E402
from moments.store.duckdb import DuckDBStore  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DURATION_MS = 300_000
DAYS = 7  # A's views lie in the last DAYS days
B_VIEWS = 20_000
B_RATE = 4.0  # requests per second
TIMEOUT_S = 120.0


def build(db: Path, peers: int, views: int) -> dict:
    """The store and what the run needs of it (credentials, the window the views lie in)."""
    store = DuckDBStore(str(db))
    now_ms = int(time.time() * 1000)
    start_ms = now_ms - DAYS * DAY_MS
    tenants = {}
    for name in ("a", "b"):
        environment, issued = accounts.create_environment(store, name)
        tenants[name] = {"environment_id": environment.environment_id, "token": [issued.token.token_id, issued.secret]}
    a_env, b_env = tenants["a"]["environment_id"], tenants["b"]["environment_id"]
    first = 0
    for i in range(peers + 1):
        asset_id = f"asset-{i}"
        store.put_asset(a_env, Asset(asset_id, DURATION_MS, (f"pb-{i}",)))
        n = peer_views(i, views)
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


def peer_views(i: int, views: int) -> int:
    """Views of A's asset i: peers of unequal audiences, `views` on average."""
    return int(views * (0.5 + (i % 7) / 6))


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


# --- the log and the report: every figure from the log, or computed from it and this code's constants ----------------

# Names for the revisions of the committed log (words, no figures); any other shows as its hash.
REVISION_NAMES = {"273d048": "before", "46a44ce": "peers read in rounds", "a86957f": "peers charged to the rate limit",
                  "c43f308": "later"}
HEADER = re.compile(r"^== (?P<rev>[^,]+), A at (?P<rate>[0-9.]+)/s: (?P<command>.*)$")


def revision() -> str:
    """The checkout whose src/ the server runs (PYTHONPATH may name another one than this script's)."""
    folder = Path(moments.__file__).resolve().parent

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True).stdout.strip()
    rev = git("rev-parse", "--short", "HEAD") or "unknown"
    return rev + (" + uncommitted src" if git("status", "--porcelain", "--", ".") else "")


def command_line() -> str:
    python_path = os.environ.get("PYTHONPATH")
    return (f"PYTHONPATH={python_path} " if python_path else "") + "python " + shlex.join(sys.argv)


def append_log(log: Path, rev: str, command: str, result: dict, summary: str) -> None:
    """One run's block, as the log's older blocks are: header, JSON, summary line, blank line."""
    old = log.read_text() if log.exists() else ""
    with log.open("a") as f:
        f.write(("\n" if old and not old.endswith("\n\n") else "")
                + f"== {rev}, A at {result['a_rate']:g}/s: {command}\n{json.dumps(result, indent=1)}\n{summary}\n\n")


def read_log(log: Path) -> list[dict]:
    """The runs of a log: each its JSON with "rev" and "command" from its header (and "a_rate", which
    the oldest runs' JSON lacks, from the header too)."""
    runs, decoder = [], json.JSONDecoder()
    for block in re.split(r"^(?===)", log.read_text(), flags=re.M):
        if not block.startswith("=="):
            continue
        header, _, rest = block.partition("\n")
        match = HEADER.match(header)
        if not match:
            raise SystemExit(f"{log}: not a run's header: {header!r}")
        run, _ = decoder.raw_decode(rest, rest.index("{"))
        runs.append({**run, "rev": match["rev"], "command": match["command"],
                     "a_rate": run.get("a_rate", float(match["rate"]))})
    return runs


def ms(value: float) -> str:
    return f"{value / 1000:.1f} s" if value >= 1000 else f"{value:.0f} ms"


def rate(value: float) -> str:
    return f"{value:g}/s"


def times(value: float) -> str:
    return f"{value:,.0f}x" if value >= 100 else f"{value:.1f}x"


def status_text(counts: dict[str, int]) -> str:
    names = {"0": "no answer"}
    ordered = sorted(counts.items(), key=lambda kv: (kv[0] == "0", kv[0]))  # "no answer" last
    return ", ".join(f"{names.get(s, s)}: {n:,}" for s, n in ordered)


def one_of(values: list) -> str:
    distinct = list(dict.fromkeys(values))
    return " or ".join(str(v) for v in distinct)


def again(texts: list[str]) -> str:
    """Several runs of one revision at one rate: the first, then "again: ..." for the others."""
    if not texts:
        return "not run"
    if len(texts) > 1 and len(set(texts)) == 1:
        return f"{texts[0]} (each of {len(texts)} runs)"
    return "; again: ".join(texts)


def relative_cost(peers: int) -> int:
    """Requests a /relative of `peers` peers is charged by the code this script imports."""
    return 1 + math.ceil(peers / PEERS_PER_REQUEST)


def section(runs: list[dict], log: Path) -> str:
    revs = list(dict.fromkeys(r["rev"] for r in runs))
    rates = sorted({r["a_rate"] for r in runs}, reverse=True)
    top = rates[0]
    at = {(rev, a_rate): [r for r in runs if r["rev"] == rev and r["a_rate"] == a_rate]
          for rev in revs for a_rate in rates}
    peers, views = [r["peers"] for r in runs], [r["views_per_peer"] for r in runs]
    total = one_of([f"{sum(peer_views(i, r['views_per_peer']) for i in range(r['peers'] + 1)):,}" for r in runs])
    dbs = {m[1] if (m := re.search(r"--db (\S+)", r["command"])) else None for r in runs}
    same_db = (f", every run on the same generated store (`--db {next(iter(dbs))}`)"
               if len(dbs) == 1 and None not in dbs else "")
    seconds = one_of([f"{r['seconds']:g}" for r in runs])
    loads = [r["load_average_1m"] for r in runs if "load_average_1m" in r]
    load = (f" (1-minute load average before the run{'s' if len(loads) > 1 else ''} that recorded it: "
            f"{min(loads):.1f}{f' to {max(loads):.1f}' if max(loads) > min(loads) else ''})" if loads else "")
    limit = Environment.__dataclass_fields__["rate_limit_per_s"].default
    try:
        shown_log = log.resolve().relative_to(ROOT)
    except ValueError:
        shown_log = log
    lines = [
        "## A noisy neighbour's /relative (`bench/neighbours.py`)",
        "",
        f"Rendered by `python bench/neighbours.py --from-log {shown_log}` from the runs that log holds, each "
        "appended by a run of `bench/neighbours.py` under a header with its revision and command; one column per "
        f"revision{same_db}.",
        "",
        f"Environment A: {one_of([p + 1 for p in peers])} registered assets of {DURATION_MS / 60_000:g} minutes, "
        f"{one_of([f'{v:,}' for v in views])} views each on average over {DAYS} days ({total} views); "
        f"environment B: one asset of {B_VIEWS:,} views. One server process on a machine shared with other "
        f"work{load}. B asks for heatmaps at "
        f"{rate(B_RATE)} (its rate limit: {rate(limit)}), each over a window of its own; idle first, then while A "
        f"sends `/relative` ({one_of(peers)} peers) open-loop, each over a window of its own, without honouring "
        f"Retry-After. {seconds} s each, B's latencies from the client, which gives up on a request "
        f"after {TIMEOUT_S:.0f} s without an answer.",
        "",
        "| | " + " | ".join(f"{REVISION_NAMES[rev]} ({rev})" if rev in REVISION_NAMES else rev for rev in revs) + " |",
        "|---|" + "---:|" * len(revs),
    ]

    def row(label: str, cell) -> None:
        lines.append(f"| {label} | " + " | ".join(cell(rev) for rev in revs) + " |")

    def p99s(run: dict) -> str:
        idle, flood = run["idle"]["b_ms"], run["flood"]["b_ms"]
        if not idle or not flood:
            return f"{ms(idle['p99']) if idle else 'none answered'} / {ms(flood['p99']) if flood else 'none answered'}"
        return f"{ms(idle['p99'])} / {ms(flood['p99'])} ({times(flood['p99'] / idle['p99'])})"

    def unanswered(run: dict) -> str:
        counts = run["flood"]["b_status"]
        other = {s: n for s, n in counts.items() if s != "200"}
        if not other:
            return "none"
        n = f"{sum(other.values()):,} of {sum(counts.values()):,}"
        return f"{n} unanswered" if set(other) == {"0"} else f"{n} ({status_text(other)})"

    for a_rate in rates:
        row(f"B heatmap p99, idle / A at {rate(a_rate)} (ratio)",
            lambda rev: again([p99s(r) for r in at[rev, a_rate]]))
        row(f"B heatmaps not answered 200, A at {rate(a_rate)}",
            lambda rev: again([unanswered(r) for r in at[rev, a_rate]]))
        row(f"A's answers at {rate(a_rate)}",
            lambda rev: again([status_text(r["flood"]["a_status"]) for r in at[rev, a_rate]]))

    def median(rev: str) -> str:
        for a_rate in reversed(rates):  # the lowest rate this revision ran at: the least queueing
            answered = [r for r in at[rev, a_rate] if r["flood"]["a_ok_p50_ms"] is not None]
            if answered:
                return again([f"{ms(r['flood']['a_ok_p50_ms'])} (A at {rate(a_rate)}, "
                              f"{r['flood']['a_status']['200']:,} answered)" for r in answered])
        return "none answered"

    row(f"one `/relative` of {one_of(peers)} peers: A's median answer, at the lowest rate it ran", median)
    first = runs[0]["relative_digest"]
    row("digest of `/relative` answers over fixed windows",
        lambda rev: one_of([d if d != first or rev == revs[0] else "the same"
                            for d in (r["relative_digest"] for r in runs if r["rev"] == rev)]))
    cost = one_of([relative_cost(p) for p in peers])
    lines += ["", f"Where `/relative` is charged by the peers it reads (one request, plus one per {PEERS_PER_REQUEST} "
              f"peers: {cost} for {one_of(peers)} peers) against A's limit of {rate(limit)}, A at {rate(top)} asks for "
              f"{one_of([f'{top * relative_cost(p):g}' for p in peers])} requests' worth a second and refills "
              f"{limit:g}: its first request passes, and every later one spends the token its own 429 costs. "
              f"A client that waits as `Retry-After` says gets about one `/relative` every "
              f"{one_of([f'{relative_cost(p) / limit:g}' for p in peers])} s."]
    if len(rates) > 1:
        low = rates[-1]
        within = all(low * relative_cost(p) <= limit for p in peers)
        lines[-1] += (f" At {rate(low)}, A asks for {one_of([f'{low * relative_cost(p):g}' for p in peers])} requests' "
                      f"worth a second, {'within' if within else 'beyond'} its limit.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, default=Path("bench-neighbours.duckdb"))
    parser.add_argument("--peers", type=int, default=200)
    parser.add_argument("--views", type=int, default=1500, help="views per peer (on average)")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--a-rate", type=float, default=5.0, help="A's /relative requests per second")
    parser.add_argument("--log", type=Path, default=Path(__file__).parent / "last-neighbours-run.log",
                        help="the log each run is appended to (default bench/last-neighbours-run.log)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--from-log", type=Path, metavar="LOG", help="render the section from LOG; measure nothing")
    args = parser.parse_args()
    if args.from_log:
        text = section(read_log(args.from_log), args.from_log)
        write_report(args.out, "neighbours", text)
        print(text)
        return
    rev, command = revision(), command_line()
    if not args.db.exists():
        t0 = time.monotonic()
        build(args.db, args.peers, args.views)
        print(f"built {args.db} in {time.monotonic() - t0:.0f} s", flush=True)
    meta = json.loads(Path(f"{args.db}.json").read_text())
    load_average = os.getloadavg()[0]  # other work on the machine skews every figure
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "moments.duckdb"
        shutil.copy(args.db, db)
        port = free_port()
        log = (Path(folder) / "server.log").open("wb")
        # Warnings only: an access line per request would be timed too (and fill the log).
        server = subprocess.Popen([sys.executable, "-m", "moments", "serve", "--db", str(db), "--port", str(port),
                                   "--log-level", "warning"], stdout=log, stderr=log, env={**os.environ})
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
    result = {"peers": meta["peers"], "views_per_peer": meta["views"], "seconds": args.seconds, "a_rate": args.a_rate,
              "load_average_1m": load_average, "idle": idle, "flood": flood, "relative_digest": answers}
    print(json.dumps(result, indent=1))
    ratio = flood["b_ms"]["p99"] / idle["b_ms"]["p99"] if flood["b_ms"] and idle["b_ms"] else float("nan")
    summary = (f"B heatmap p99: idle {idle['b_ms']['p99'] if idle['b_ms'] else float('nan'):.0f} ms, under A's "
               f"/relative flood {flood['b_ms']['p99'] if flood['b_ms'] else float('nan'):.0f} ms ({ratio:.1f}x); "
               f"B answered {flood['b_status']}; A answered {flood['a_status']}")
    print(summary)
    append_log(args.log, rev, command, result, summary)
    text = section(read_log(args.log), args.log)
    write_report(args.out, "neighbours", text)
    print(f"appended to {args.log}; wrote the neighbours section of {args.out}")


if __name__ == "__main__":
    main()
