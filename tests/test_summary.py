"""Summary figures (docs/engagement.md, "Summary figures") against an independent computation
on random views (rewatches, seeks, touching ranges, empty ranges, ranges past the end, views
seeking in), over every kind of id, through a live server on a real DuckDB file (the curve's
figures from rollups), the client, and the CLI on the store and through the server.
"""

from __future__ import annotations

import io
import math
import statistics
import time
from pathlib import Path
from typing import Iterator

import httpx
import numpy as np
import pyarrow.parquet as pq
import pytest

from moments import accounts
from moments.client import Client
from moments.engagement.heatmap import heatmap
from moments.engagement.summary import curve_figures, view_amounts, view_figures
from moments.model import Asset, View
from moments.store.duckdb import DuckDBStore

from conftest import Server, serving
from test_cli import failing, ok, ok_json, snapshot
from test_heatmap import merged_ranges, range_set

NOW_MS = int(time.time() * 1000)
PER_VIEW = ("median_view_ms", "rewatch_rate", "seek_rate")
# id kind and id -> (content duration, the views' reported duration, views)
CONTENT = {
    ("assets", "film"): (61_500, 61_000, 150),  # B = 62: bucket edges fall between milliseconds
    ("assets", "short"): (25_000, 25_000, 40),  # 30 s or shorter: no retention at 30 s
    ("videos", "episode"): (90_000, 90_000, 120),  # no registration: the views' median duration
}


def random_views(rng: np.random.Generator, prefix: str, n: int, reported_ms: int, **ids) -> list[View]:
    views = []
    for i in range(n):
        start = NOW_MS - int(rng.integers(3_600_000, 3 * 86_400_000))  # completed, in the last 3 days
        position = int(rng.integers(0, reported_ms // 2)) if rng.random() < 0.3 else 0  # some seek in first
        ranges = []
        for _ in range(int(rng.integers(1, 7))):
            length = int(rng.integers(0, reported_ms // 2))  # 0: an empty range, as players send
            ranges.append((position, position + length))
            move = rng.random()
            if move < 0.3:  # a seek, forward or back, sometimes past the end
                position = int(rng.integers(0, reported_ms + 5_000))
            elif move < 0.5:  # touching the last range (within 250 ms): the same stretch of play
                position = position + length + int(rng.integers(0, 250))
            else:
                position += length
        views.append(View(f"{prefix}-{i}", start, reported_ms, tuple(ranges), view_end_ms=start + 1000, **ids))
    return views


def covered(merged: list[list[int]], a: float, b: float) -> float:
    return sum(max(0.0, min(e, b) - max(s, a)) for s, e in merged)


def expected(views: list[View], d: int) -> dict:
    """The definitions, computed directly (no code of moments)."""
    n, buckets = len(views), min(1000, max(10, math.ceil(d / 1000)))
    unions = [merged_ranges(v.ranges, d) for v in views]
    unique = [covered(u, 0, d) for u in unions]

    def bucket(i: int) -> float:
        a, b = i * d / buckets, (i + 1) * d / buckets
        return sum(covered(u, a, b) for u in unions) / (b - a) / n

    played = sum(max(0, min(d, e) - max(0, s)) for v in views for s, e in v.ranges)
    seeks = 0
    for v in views:
        previous_end = None
        for s, e in v.ranges:
            if e <= s:
                continue
            seeks += previous_end is not None and abs(s - previous_end) > 250
            previous_end = e
    return {"total_views": n, "duration_ms": d, "average_viewed": sum(unique) / n / d,
            "average_view_ms": sum(unique) / n, "completion_rate": bucket(buckets - 1),
            "retention_at_10_percent": bucket(math.floor(buckets * (d / 10) / d)),
            "retention_at_30_s": bucket(math.floor(30_000 * buckets / d)) if d > 30_000 else None,
            "median_view_ms": statistics.median(unique), "rewatch_rate": played / sum(unique) - 1,
            "seek_rate": seeks / n}


def assert_figures(data: dict, want: dict, per_view: bool = True) -> None:
    """The figures are `want`'s; each interval holds its figure (and is null where the figure is)."""
    for name, value in want.items():
        if name in PER_VIEW and not per_view or value is None:
            assert data[name] is None, name
        else:
            assert data[name] == pytest.approx(value, rel=1e-9, abs=1e-9), name
        if "intervals" in data and name not in ("total_views", "duration_ms"):
            interval = data["intervals"][name]
            assert (interval is None) == (data[name] is None), name
            assert interval is None or interval[0] <= data[name] + 1e-9 and data[name] <= interval[1] + 1e-9, name


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> Iterator[tuple[Path, str, str, dict]]:
    db = tmp_path_factory.mktemp("summary") / "moments.duckdb"
    store = DuckDBStore(str(db))
    environment, issued = accounts.create_environment(store, "summary")
    env = environment.environment_id
    store.put_asset(env, Asset("film", 61_500, ("film-pb",)))
    store.put_asset(env, Asset("short", 25_000))
    store.put_asset(env, Asset("nobody-watched", 40_000))
    rng = np.random.default_rng(20261203)
    wanted = {}
    for (kind, scope_id), (duration, reported, n) in CONTENT.items():
        ids = {"asset_id": scope_id} if kind == "assets" else {"video_id": scope_id}
        if scope_id == "film":
            ids["playback_id"] = "film-pb"
        views = random_views(rng, scope_id, n, reported, **ids)
        store.upsert_views(env, views, NOW_MS)
        wanted[(kind, scope_id)] = expected(views, duration)
    wanted[("playback-ids", "film-pb")] = wanted[("assets", "film")]
    store.close()
    yield db, env, f"{issued.token.token_id}:{issued.secret}", wanted


@pytest.fixture(scope="module")
def server(loaded) -> Iterator[Server]:
    yield from serving(snapshot(loaded[0], "served"))  # a copy: the CLI tests open the file itself


def test_the_figures_are_their_definitions_on_every_kind_of_id(loaded, server):
    _, _, token, wanted = loaded
    with httpx.Client(base_url=server.base_url, auth=tuple(token.split(":")), timeout=60) as http:
        for (kind, scope_id), want in wanted.items():
            path = f"/v1/engagement/{kind}/{scope_id}/summary"
            full = http.get(path, params={"per_view": "true", "timeframe[]": "7:days"}).json()
            assert_figures(full["data"], want)
            assert_figures(http.get(path).json()["data"], want, per_view=False)  # the curve's, from rollups only


def test_no_views_gives_no_figures_and_bad_requests_are_refused(loaded, server):
    token = tuple(loaded[2].split(":"))
    with httpx.Client(base_url=server.base_url, auth=token, timeout=60) as http:
        empty = http.get("/v1/engagement/assets/nobody-watched/summary", params={"per_view": "true"}).json()
        names = ("average_viewed", "average_view_ms", "completion_rate", "retention_at_10_percent", "retention_at_30_s",
                 *PER_VIEW)
        assert empty["data"] == {"total_views": 0, "duration_ms": 40_000, **dict.fromkeys(names),
                                 "intervals": dict.fromkeys(names)}
        assert http.get("/v1/engagement/assets/nowhere/summary").status_code == 404
        refused = http.get("/v1/engagement/assets/film/summary", params={"per_view": "yes"})
        assert refused.status_code == 400 and refused.json()["error"]["messages"] == ["per_view must be true or false"]
        assert http.get("/v1/engagement/assets/film/summary", auth=None).status_code == 401


def test_the_seek_rate_is_the_mean_of_the_view_paths_seeks(loaded, server):
    token = tuple(loaded[2].split(":"))
    with httpx.Client(base_url=server.base_url, auth=token, timeout=60) as http:
        seeks, cursor = [], None
        while True:
            page = http.get("/v1/engagement/videos/episode/views",
                            params={"limit": "50", **({"cursor": cursor} if cursor else {})}).json()
            seeks += [row["seeks"] for row in page["data"]]
            if not (cursor := page["next_cursor"]):
                break
        rate = http.get("/v1/engagement/videos/episode/summary", params={"per_view": "true"}).json()["data"]["seek_rate"]
    assert len(seeks) == CONTENT[("videos", "episode")][2] and rate == pytest.approx(sum(seeks) / len(seeks))


def test_the_client_reads_the_summary(loaded, server):
    token_id, secret = loaded[2].split(":")
    with Client(token_id, secret, server.base_url) as client:
        figures = client.summary("assets", "film", per_view=True)
        bare = client.summary("assets", "short", timeframe=["7:days"])
    assert_figures({k: getattr(figures, k) for k in loaded[3][("assets", "film")]}, loaded[3][("assets", "film")])
    assert bare.median_view_ms is None and bare.retention_at_30_s is None and bare.total_views == 40
    assert len(figures.timeframe) == 2


def test_the_cli_prints_the_apis_figures_from_the_store_and_from_the_server(loaded, server):
    db, env, token, wanted = loaded
    token_id, secret = token.split(":")
    local = ok_json("summary", "--env", env, "--asset", "film", "--per-view", "--db", db, cwd=db.parent)
    assert_figures(local["data"], wanted[("assets", "film")])
    remote = ok_json("summary", "--url", server.base_url, "--token-id", token_id, "--token-secret", secret,
                     "--asset", "film", "--per-view", cwd=db.parent)
    assert remote["data"] == local["data"]
    text = ok("summary", "--env", env, "--asset", "short", "--db", db, cwd=db.parent)
    assert text.splitlines()[0].startswith("views: 40   timeframe: ") and "95% intervals" in text.splitlines()[0]
    want = wanted[("assets", "short")]
    assert f"average viewed            {want['average_viewed'] * 100:.1f}%  [" in text  # and its interval
    assert "still watching at 0:30" not in text and "median view" not in text  # not there, not asked for
    assert "Usage" in failing("summary", "--env", env, "--db", db, cwd=db.parent).stderr


def test_the_summary_export_is_the_summary_in_each_format(loaded, server):
    db, env, token, wanted = loaded
    with httpx.Client(base_url=server.base_url, auth=tuple(token.split(":")), timeout=60) as http:
        figures = http.get("/v1/engagement/playback-ids/film-pb/summary", params={"per_view": "true"}).json()
        window = [("timeframe[]", str(t)) for t in figures["timeframe"]]  # the same window, whenever asked
        files = {fmt: http.get(f"/v1/engagement/playback-ids/film-pb/export/summary.{fmt}", params=window)
                 for fmt in ("csv", "json", "parquet")}
    assert all(f.status_code == 200 for f in files.values())
    row = {**figures["data"]}
    for name, pair in row.pop("intervals").items():  # flattened into <figure>_low and <figure>_high
        row |= {f"{name}_low": pair and pair[0], f"{name}_high": pair and pair[1]}
    as_json = files["json"].json()
    assert as_json["data"] == [row] and as_json["timeframe"] == figures["timeframe"]
    assert pq.read_table(io.BytesIO(files["parquet"].content)).to_pylist() == [row]
    header, line = files["csv"].text.splitlines()
    assert dict(zip(header.split(","), line.split(","))) == {k: "" if v is None else str(v) for k, v in row.items()}
    written = ok_json("export", "summary", "--env", env, "--asset", "film", "--format", "parquet",
                      "--output", db.parent / "film.parquet", "--db", db, cwd=db.parent)
    assert written["rows"] == 1
    said = ok("export", "summary", "--env", env, "--asset", "film", "--output", db.parent / "film.csv", "--db", db,
              cwd=db.parent)
    assert said.strip() == f"wrote 1 row to {db.parent / 'film.csv'}"
    assert_figures(pq.read_table(db.parent / "film.parquet").to_pylist()[0], wanted[("assets", "film")])


def test_hand_made_views_give_the_figures_worked_out_by_hand():
    # 100 s of content, 100 buckets of 1 s, four views:
    views = [[(0, 100_000)],  # all of it
             [(0, 20_000), (50_000, 60_000), (0, 10_000)],  # 30 s unique, 40 s played, 2 seeks (20->50, 60->0)
             [(40_000, 45_000), (45_100, 70_000)],  # 100 ms apart: one stretch, no seek; 29.9 s
             [(95_000, 120_000)]]  # past the end: 5 s counted
    ranges = range_set(views, 100_000)
    curve = curve_figures(heatmap(ranges, 100_000), 100_000)
    assert curve.average_view_ms == pytest.approx((100 + 30 + 29.9 + 5) * 1000 / 4)  # 41.225 s
    assert curve.average_viewed == pytest.approx(0.41225)
    assert curve.completion_rate == pytest.approx(0.5)  # views 1 and 4 watched 99..100 s
    assert curve.retention_at_10_percent == pytest.approx(0.5)  # 10..11 s: views 1 and 2
    assert curve.retention_at_30_s == pytest.approx(0.25)  # 30..31 s: view 1
    per_view = view_figures(view_amounts(ranges, 100_000))
    assert per_view.median_view_ms == pytest.approx(29_950)  # between 29.9 s and 30 s
    assert per_view.rewatch_rate == pytest.approx(10 / 164.9)  # 174.9 s played over 164.9 s unique
    assert per_view.seek_rate == 0.5
