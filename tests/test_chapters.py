"""Chapters (docs/engagement.md, "Chapters"): registered with an asset in Mux Player's shape or
from a WebVTT file, and each chapter's figures against an independent computation on random
views, on chapters laid out every way (gaps, open ends, shorter than a second, past the content's
end, hundreds of them), for assets, playback IDs and video ids, through a live server on a real
DuckDB file, the client, the CLI on the store and through the server, and the exports.
"""

from __future__ import annotations

import io
import statistics
import time
from pathlib import Path
from typing import Iterator

import httpx
import pyarrow.parquet as pq
import pytest
import numpy as np

from moments import accounts
from moments.client import Client, NotFoundError
from moments.engagement.chapters import chapter_figures, spans
from moments.model import Asset, Chapter, View
from moments.store.duckdb import DuckDBStore

from conftest import Server, serving
from test_cli import failing, ok, ok_json, snapshot
from test_heatmap import merged_ranges, range_set
from test_summary import covered, random_views

NOW_S = int(time.time())
WINDOW = [str(NOW_S - 7 * 86_400), str(NOW_S + 3_600)]  # one window for every request of a test
FILM_CHAPTERS = (
    Chapter(0, 10_000, "Cold open"),  # a given end, then a gap until the next
    Chapter(12_000, None, "Act one"),  # until the next one starts
    Chapter(30_000, 30_600, "Blink"),  # shorter than a second: its final second is all of it
    Chapter(31_000, None, "Act two"),
    Chapter(60_000, None, "Tail"),  # past the film's views' reported 59 s: laid on a video id, it has no figures
)
DENSE_CHAPTERS = tuple(Chapter(i * 100, None, f"tick {i}") for i in range(200))  # 20 s in 200 chapters


def expected_chapters(views: list[View], duration: int, chapters: tuple[Chapter, ...]) -> list[dict]:
    """The definitions, computed directly (no code of moments)."""
    n = len(views)
    unions = [merged_ranges(v.ranges, duration) for v in views]
    rows = []
    for index, chapter in enumerate(chapters):
        following = chapters[index + 1].start_ms if index + 1 < len(chapters) else duration
        start, end = chapter.start_ms, min(duration, chapter.end_ms if chapter.end_ms is not None else following)
        row = {"title": chapter.title, "start_ms": start, "end_ms": max(start, end)}
        if end <= start or n == 0:
            rows.append(row | dict.fromkeys(("reached", "finished", "average_watched", "leave_median_ms")) |
                        {"leaves_by_tenth": []})
            continue
        final = max(start, end - 1000)
        watched = [covered(u, start, end) for u in unions]
        reached = [w for w in watched if w > 0]
        finishing = [u for u in unions if covered(u, final, end) > 0]
        leaves = [max(min(e, end) for s, e in u if min(e, end) > max(s, start)) - start
                  for u, w in zip(unions, watched) if w > 0 and covered(u, final, end) == 0]
        tenths = [0] * 10
        for leave in leaves:
            tenths[min(9, leave * 10 // (end - start))] += 1
        rows.append(row | {"reached": len(reached) / n, "finished": len(finishing) / n,
                           "average_watched": sum(reached) / len(reached) / (end - start) if reached else None,
                           "leave_median_ms": statistics.median(leaves) if leaves else None,
                           "leaves_by_tenth": [t / n for t in tenths]})
    return rows


def assert_chapters(got: list[dict], want: list[dict]) -> None:
    assert [row["title"] for row in got] == [row["title"] for row in want]
    for row, wanted in zip(got, want):
        for name, value in wanted.items():
            exact = value is None or isinstance(value, str)
            assert row[name] == (value if exact else pytest.approx(value, rel=1e-9, abs=1e-12)), (row["title"], name)
        for name, interval in row["intervals"].items():
            assert (interval is None) == (row[name] is None), (row["title"], name)
            assert interval is None or interval[0] - 1e-9 <= row[name] <= interval[1] + 1e-9, (row["title"], name)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> Iterator[tuple[Path, str, tuple[str, str], dict]]:
    db = tmp_path_factory.mktemp("chapters") / "moments.duckdb"
    store = DuckDBStore(str(db))
    environment, issued = accounts.create_environment(store, "chapters", rate_limit_per_s=1000.0, rate_limit_burst=1000)
    env = environment.environment_id
    store.put_asset(env, Asset("film", 61_500, ("film-pb",), None, FILM_CHAPTERS))
    store.put_asset(env, Asset("dense", 20_000, (), None, DENSE_CHAPTERS))
    store.put_asset(env, Asset("plain", 30_000))
    store.put_asset(env, Asset("unwatched", 40_000, (), None, (Chapter(0, None, "All"),)))
    rng = np.random.default_rng(20261204)
    film = random_views(rng, "film", 160, 59_000, asset_id="film", playback_id="film-pb", video_id="film-video")
    dense = random_views(rng, "dense", 60, 20_000, asset_id="dense")
    plain = random_views(rng, "plain", 10, 30_000, asset_id="plain", video_id="mixed")
    elsewhere = random_views(rng, "orphan", 5, 30_000, video_id="orphan") + \
        random_views(rng, "mixed-film", 5, 59_000, asset_id="film", video_id="mixed")
    store.upsert_views(env, film + dense + plain + elsewhere, int(time.time() * 1000))
    film_all = film + elsewhere[5:]  # the asset's views: its video's and those of the mixed video
    wanted = {
        ("assets", "film"): expected_chapters(film_all, 61_500, FILM_CHAPTERS),
        ("playback-ids", "film-pb"): expected_chapters(film, 61_500, FILM_CHAPTERS),
        ("videos", "film-video"): expected_chapters(film, 59_000, FILM_CHAPTERS),  # the median reported
        ("assets", "dense"): expected_chapters(dense, 20_000, DENSE_CHAPTERS),
    }
    store.close()
    yield db, env, (issued.token.token_id, issued.secret), wanted


@pytest.fixture(scope="module")
def server(loaded) -> Iterator[Server]:
    yield from serving(snapshot(loaded[0], "served"))  # a copy: the CLI tests open the file itself


def test_each_chapters_figures_are_their_definitions(loaded, server):
    _, _, token, wanted = loaded
    with httpx.Client(base_url=server.base_url, auth=token, timeout=60) as http:
        for (kind, scope_id), want in wanted.items():
            body = http.get(f"/v1/engagement/{kind}/{scope_id}/chapters", params={"timeframe[]": WINDOW}).json()
            assert body["data"]["asset_id"] == ("dense" if scope_id == "dense" else "film")
            assert body["data"]["note"] is None
            assert_chapters(body["data"]["chapters"], want)
    # Laid on the video's 59 s, the Tail chapter starts after the end: it is listed, without figures.
    assert wanted[("videos", "film-video")][-1]["reached"] is None


def test_hand_made_views_give_the_figures_worked_out_by_hand():
    views = [[(0, 60_000)],  # all of it
             [(0, 15_000)],  # leaves chapter a at 15 s
             [(25_000, 40_000)],  # arrives in b, leaves it at 40 s
             [],  # watched nothing
             [(0, 5_000), (0, 8_000), (50_000, 59_500)]]  # rewatches a's start; c from 50 s to 59.5 s
    laid = spans((Chapter(0, None, "a"), Chapter(20_000, 45_000, "b"), Chapter(50_000, None, "c")), 60_000)
    assert [(s.start_ms, s.end_ms) for s in laid] == [(0, 20_000), (20_000, 45_000), (50_000, 60_000)]
    a, b, c = chapter_figures(range_set(views, 60_000), 60_000, laid)
    assert (a.reached, a.finished) == (3 / 5, 1 / 5)
    assert a.average_watched == pytest.approx((20 + 15 + 8) / 20 / 3)
    assert a.leave_median_ms == 11_500  # leaves at 8 s and 15 s
    assert a.leaves_by_tenth == [0, 0, 0, 0, 0.2, 0, 0, 0.2, 0, 0]
    assert (b.reached, b.finished, b.average_watched, b.leave_median_ms) == (2 / 5, 1 / 5, (1 + 15 / 25) / 2, 20_000)
    # 59.5 s is within c's final second: finished, so nobody left c before its end.
    assert (c.reached, c.finished, c.average_watched, c.leave_median_ms) == (2 / 5, 2 / 5, (1 + 0.95) / 2, None)
    assert c.leaves_by_tenth == [0.0] * 10


@pytest.mark.parametrize("pieces_per_part", [1, 7, 1000])
def test_parts_of_any_size_give_the_same_figures(pieces_per_part):
    """The views are summed a part at a time (whole views, about so many pieces): any cut gives
    the definitions' figures, a view of more pieces than a part included."""
    views = random_views(np.random.default_rng(pieces_per_part), "p", 40, 20_000, asset_id="a")
    chapters = DENSE_CHAPTERS[:37] + (Chapter(5_000, 5_600, "after a gap"),)
    laid = spans(chapters, 20_000)
    figures = chapter_figures(range_set([list(v.ranges) for v in views], 20_000), 20_000, laid, pieces_per_part)
    got = [{"title": f.span.title, "start_ms": f.span.start_ms, "end_ms": f.span.end_ms, "reached": f.reached,
            "finished": f.finished, "average_watched": f.average_watched, "leave_median_ms": f.leave_median_ms,
            "leaves_by_tenth": f.leaves_by_tenth, "intervals": {k: v and list(v) for k, v in f.intervals.items()}}
           for f in figures]
    assert_chapters(got, expected_chapters(views, 20_000, chapters))


def test_without_chapters_the_answer_says_why(loaded, server):
    token = loaded[2]
    with httpx.Client(base_url=server.base_url, auth=token, timeout=60) as http:
        def note(kind: str, scope_id: str) -> str:
            body = http.get(f"/v1/engagement/{kind}/{scope_id}/chapters").json()
            assert body["data"]["chapters"] == []
            return body["data"]["note"]

        assert note("assets", "plain") == "asset 'plain' has no chapters: PUT /v1/assets/plain with them"
        assert "plays several assets (film, plain" in note("videos", "mixed")
        assert note("videos", "orphan") == "video id 'orphan' plays no known asset"
        assert http.get("/v1/engagement/assets/nowhere/chapters").status_code == 404
        assert http.get("/v1/engagement/assets/film/chapters", auth=None).status_code == 401
        unwatched = http.get("/v1/engagement/assets/unwatched/chapters").json()["data"]
        assert unwatched["total_views"] == 0 and unwatched["duration_ms"] == 40_000
        assert unwatched["chapters"] == [{"title": "All", "start_ms": 0, "end_ms": 40_000, "reached": None,
                                          "finished": None, "average_watched": None, "leave_median_ms": None,
                                          "leaves_by_tenth": [], "intervals": dict.fromkeys(
                                              ("reached", "finished", "average_watched", "leave_median_ms"))}]


def test_filters_choose_the_views_the_figures_count(loaded, server):
    """A filter that keeps no view leaves the chapters listed, without figures."""
    with httpx.Client(base_url=server.base_url, auth=loaded[2], timeout=60) as http:
        body = http.get("/v1/engagement/assets/film/chapters", params={"filters[]": "country:ZZ"}).json()["data"]
    assert body["total_views"] == 0 and [row["reached"] for row in body["chapters"]] == [None] * 5


BAD_CHAPTERS = [
    ({"chapters": "intro"}, "chapters must be an array of at most 500 objects"),
    ({"chapters": [{"startTime": 0}]}, "chapters[0].value must be the chapter's title: a string of 1..200 characters"),
    ({"chapters": [{"startTime": "0", "value": "a"}]}, "chapters[0].startTime: expected a number of seconds, got '0'"),
    ({"chapters": [{"startTime": -1, "value": "a"}]}, "chapters[0].startTime must be in 0..2592000 seconds, got -1"),
    ({"chapters": [{"startTime": 5, "endTime": 5, "value": "a"}]}, "chapters[0].endTime must be after its startTime"),
    ({"chapters": [{"startTime": 60, "value": "a"}]}, "chapters[0].startTime (60 s) must be before the asset's end (60 s)"),
    ({"chapters": [{"startTime": 0, "endTime": 61, "value": "a"}]},
     "chapters[0].endTime (61 s) must not be after the asset's end (60 s)"),
    ({"chapters": [{"startTime": 10, "value": "b"}, {"startTime": 10, "value": "c"}]},
     "chapters[0] and chapters[1] both start at 10 s"),
    ({"chapters": [{"startTime": 20, "value": "b"}, {"startTime": 0, "endTime": 25, "value": "a"}]},
     "chapters[1] ends at 25 s, after chapters[0] starts (20 s): chapters must not overlap"),
    ({"chapters": [{"startTime": 0, "value": "a", "title": "x"}]}, "chapters[0]: unknown field(s): title"),
    ({"chapters": [{"startTime": 0, "value": "a\nb"}]}, "chapters[0].value must not contain control characters"),
    ({"chapters": [{"startTime": i, "value": "a"} for i in range(501)]},
     "chapters must be an array of at most 500 objects"),
]


@pytest.mark.parametrize("body, message", BAD_CHAPTERS, ids=[m[:40] for _, m in BAD_CHAPTERS])
def test_bad_chapters_are_refused_and_change_nothing(loaded, server, body, message):
    with httpx.Client(base_url=server.base_url, auth=loaded[2], timeout=60) as http:
        before = http.get("/v1/assets/film").json()
        refused = http.put("/v1/assets/film", json={"duration_ms": 60_000, **body})
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["messages"] == [message]
        assert http.get("/v1/assets/film").json() == before


def test_chapters_go_in_and_come_back_in_mux_players_shape(loaded, server):
    given = [{"startTime": 42.5, "value": "Später"}, {"startTime": 0, "endTime": 12.25, "value": "Intro"}]
    with Client(*loaded[2], server.base_url) as client:
        asset = client.put_asset("shaped", 90_000, ["shaped-pb"], chapters=given)
        assert asset.chapters == [{"startTime": 0.0, "endTime": 12.25, "value": "Intro"},
                                  {"startTime": 42.5, "endTime": None, "value": "Später"}]  # by start
        assert client.get_asset("shaped") == asset
        with pytest.raises(NotFoundError):
            client.chapters("assets", "no-such-asset")
        # Registered again without chapters, it has none.
        assert client.put_asset("shaped", 90_000).chapters == []


def test_the_client_reads_the_chapters(loaded, server):
    with Client(*loaded[2], server.base_url) as client:
        report = client.chapters("playback-ids", "film-pb", timeframe=WINDOW)
    assert report.asset_id == "film" and report.total_views == 160 and len(report.timeframe) == 2
    assert_chapters([{**vars(row), "intervals": {k: v and list(v) for k, v in row.intervals.items()}}
                     for row in report.chapters], loaded[3][("playback-ids", "film-pb")])


WEBVTT = """WEBVTT

NOTE chapters of the film

intro
00:00.000 --> 00:10.000
Cold &amp; <b>open</b>

00:12.000 --> 00:30.000
Act
one

00:30.000 --> 00:59.000 align:start
Act two
"""


def test_the_cli_registers_a_webvtt_chapters_file_and_prints_the_figures(loaded, server, tmp_path):
    db, env, (token_id, secret), wanted = loaded
    remote = ("--url", server.base_url, "--token-id", token_id, "--token-secret", secret)
    vtt = tmp_path / "film.vtt"
    vtt.write_text(WEBVTT, encoding="utf-8")
    local_db = snapshot(db, "cli")
    registered = ok_json("assets", "put", "vtt-film", "--duration-ms", "59000", "--chapters", vtt, "--env", env,
                         "--db", local_db, cwd=tmp_path)
    assert registered["chapters"] == [{"startTime": 0.0, "endTime": 10.0, "value": "Cold & open"},
                                      {"startTime": 12.0, "endTime": 30.0, "value": "Act one"},
                                      {"startTime": 30.0, "endTime": 59.0, "value": "Act two"}]
    assert ok_json("assets", "put", "vtt-film", "--duration-ms", "59000", "--chapters", vtt, *remote,
                   cwd=tmp_path) == registered
    text = ok("assets", "get", "vtt-film", "--env", env, "--db", local_db, cwd=tmp_path)
    assert "chapters: 3\n  0:00-0:10         Cold & open\n" in text
    # A JSON array in Mux Player's shape does as well; what is wrong is said, naming the line.
    as_json = tmp_path / "film.json"
    as_json.write_text('[{"startTime": 0, "value": "All"}]')
    assert ok_json("assets", "put", "vtt-film", "--duration-ms", "59000", "--chapters", as_json, "--env", env,
                   "--db", local_db, cwd=tmp_path)["chapters"] == [{"startTime": 0, "endTime": None, "value": "All"}]
    broken = tmp_path / "broken.vtt"
    broken.write_text("WEBVTT\n\n00:00.000 --> 00:10.000\nA\n\n00:10.000 -> 00:20.000\nB\n\n1:2:3 --> 00:30.000\nC\n")
    said = failing("assets", "put", "x", "--duration-ms", "59000", "--chapters", broken, "--env", env, "--db",
                   local_db, cwd=tmp_path).stderr
    assert "broken.vtt: line 9: a cue timing that is not HH:MM:SS.mmm --> HH:MM:SS.mmm" in said
    late = tmp_path / "late.vtt"
    late.write_text("WEBVTT\n\n00:00.000 --> 01:10.000\nToo long\n")
    assert "chapters[0].endTime (70 s) must not be after the asset's end (59 s)" in failing(
        "assets", "put", "x", "--duration-ms", "59000", "--chapters", late, *remote, cwd=tmp_path).stderr

    window = [arg for t in WINDOW for arg in ("--timeframe", t)]
    local = ok_json("chapters", "--env", env, "--video", "film-video", *window, "--db", db, cwd=tmp_path)
    assert_chapters(local["data"]["chapters"], wanted[("videos", "film-video")])
    assert ok_json("chapters", *remote, "--video", "film-video", *window, cwd=tmp_path) == local
    table = ok("chapters", "--env", env, "--asset", "film", *window, "--db", db, cwd=tmp_path).splitlines()
    assert table[0].startswith("views: 165   timeframe: ") and "chapters of asset film" in table[0]
    first = wanted[("assets", "film")][0]
    assert table[2].startswith(f"0:00-0:10       {first['reached'] * 100:.1f}% [")
    assert table[2].endswith("Cold open") and table[-2].endswith("Tail")
    said = ok("chapters", "--env", env, "--asset", "plain", "--db", db, cwd=tmp_path)
    assert "no chapters: asset 'plain' has no chapters" in said


def test_the_chapters_export_is_the_chapters_in_each_format(loaded, server):
    db, env, token, wanted = loaded
    with httpx.Client(base_url=server.base_url, auth=token, timeout=60) as http:
        body = http.get("/v1/engagement/assets/dense/chapters", params={"timeframe[]": WINDOW}).json()
        files = {fmt: http.get(f"/v1/engagement/assets/dense/export/chapters.{fmt}", params={"timeframe[]": WINDOW})
                 for fmt in ("csv", "json", "parquet")}
    assert all(f.status_code == 200 for f in files.values())
    rows = []
    for chapter in body["data"]["chapters"]:
        row = {k: v for k, v in chapter.items() if k not in ("intervals", "leaves_by_tenth")}
        row |= {f"leaves_tenth_{i + 1}": share for i, share in enumerate(chapter["leaves_by_tenth"])}
        for name, pair in chapter["intervals"].items():
            row |= {f"{name}_low": pair and pair[0], f"{name}_high": pair and pair[1]}
        rows.append(row)
    assert len(rows) == 200
    exported = files["json"].json()
    assert exported["data"] == rows and exported["timeframe"] == body["timeframe"] and exported["total_views"] == 60
    assert pq.read_table(io.BytesIO(files["parquet"].content)).to_pylist() == rows
    lines = files["csv"].text.splitlines()
    assert dict(zip(lines[0].split(","), lines[1].split(","))) == {k: "" if v is None else str(v)
                                                                   for k, v in rows[0].items()}
    window = [arg for t in WINDOW for arg in ("--timeframe", t)]
    written = ok_json("export", "chapters", "--env", env, "--asset", "dense", *window, "--format", "parquet",
                      "--output", db.parent / "dense.parquet", "--db", db, cwd=db.parent)
    assert written["rows"] == 200
    assert pq.read_table(db.parent / "dense.parquet").to_pylist() == rows
