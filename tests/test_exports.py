"""Exports and layers, through the real server and the real `moments` command, read back.

Every export is decoded with its own reader (csv, json, pyarrow.parquet) and compared with
the JSON endpoints' values for the same timeframe and filters. The views export is imported
again with `moments import` into an empty file and must give the same heatmap.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from moments import accounts
from moments.ingestion.imports import import_records
from moments.lab.simulate import Audience, Moment, Scenario, simulate_views
from moments.store.duckdb import DuckDBStore

from conftest import Server, start_app
from test_cli import moments, ok, ok_json

NOW_S = int(time.time())
WINDOW = (NOW_S - 2 * 86_400, NOW_S)
TIMEFRAME = [("timeframe[]", WINDOW[0]), ("timeframe[]", WINDOW[1])]
DURATION_MS = 120_000
N_VIEWS = 600


def records() -> list[dict]:
    """600 completed views of asset 'movie' with a peak at 50..65 s and a dip at 90..100 s; even
    views from the US, odd ones from France; plus one view still open (never exported)."""
    audience = Audience(duration_ms=DURATION_MS, n_views=N_VIEWS, seed=5, hazard_per_minute=0.4,
                        moments=(Moment(50_000, 65_000, "peak", 0.4), Moment(90_000, 100_000, "valley", 0.5)))
    views = simulate_views(audience, Scenario(view_id_prefix="e", asset_id="movie", playback_ids=("pbm1",),
                                              video_id="video / one", start_ms=(NOW_S - 86_400) * 1000,
                                              span_ms=3_600_000))
    out = [{"view_id": v.view_id, "asset_id": v.asset_id, "playback_id": v.playback_id, "video_id": v.video_id,
            "view_start": v.view_start_ms, "view_end": v.view_end_ms, "duration_ms": v.duration_ms,
            "ranges": [list(r) for r in v.ranges], "country": "US" if i % 2 == 0 else "FR",
            "sdk_name": "my-player", "sdk_version": "1.0", **({"custom_7": "premium"} if i % 3 == 0 else {})}
           for i, v in enumerate(views)]
    out.append({"view_id": "open-1", "asset_id": "movie", "view_start": (NOW_S - 600) * 1000, "duration_ms": DURATION_MS,
                "ranges": [[0, 5000]], "country": "US"})
    return out


@dataclass
class Loaded:
    server: Server
    auth: tuple[str, str]
    environment_id: str
    db: Path  # a copy of the server's data for the command (DuckDB lets one process open a file)
    folder: Path

    def get(self, path: str, params=None, auth=None):
        import httpx

        return httpx.get(f"{self.server.base_url}{path}", params=params, auth=auth or self.auth, timeout=30)

    def json(self, path: str, params=None) -> dict:
        response = self.get(path, params)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> Loaded:
    folder = tmp_path_factory.mktemp("exports")
    source = folder / "source.duckdb"
    store = DuckDBStore(str(source))
    environment, issued = accounts.create_environment(store, "exports", rate_limit_per_s=1000, rate_limit_burst=1000)
    other, _ = accounts.create_environment(store, "other")
    assert import_records(store, environment.environment_id, records()).accepted == N_VIEWS + 1
    # Another environment's views of an asset with the same id must never show up.
    assert import_records(store, other.environment_id, [
        {"view_id": "x1", "asset_id": "movie", "view_start": (NOW_S - 3600) * 1000, "view_end": NOW_S * 1000 - 1,
         "duration_ms": DURATION_MS, "ranges": [[0, 120_000]]}]).accepted == 1
    store.close()
    cli_db = folder / "cli.duckdb"
    shutil.copyfile(source, cli_db)
    served = DuckDBStore(str(source))
    server = start_app(served)
    yield Loaded(server, (issued.token.token_id, issued.secret), environment.environment_id, cli_db, folder)
    server.stop()
    served.close()


# --- the API's exports -------------------------------------------------------------------

def read_export(fmt: str, body: bytes) -> tuple[list[str], list[dict], dict | None]:
    """(columns, rows, context) from any format; CSV values come back as text."""
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(body.decode()))
        return list(reader.fieldnames), list(reader), None
    if fmt == "json":
        value = json.loads(body)
        return value["columns"], value["data"], {k: value[k] for k in ("timeframe", "total_views", "duration_ms")}
    table = pq.read_table(io.BytesIO(body))
    context = json.loads(table.schema.metadata[b"moments"])
    return table.column_names, table.to_pylist(), {k: context[k] for k in ("timeframe", "total_views", "duration_ms")}


def bucket_rows(columns: dict[str, list[float]], duration_ms: int) -> list[dict]:
    """The expected tidy rows of per-bucket values: bucket i spans [i*D//B, (i+1)*D//B)."""
    n = len(next(iter(columns.values())))
    return [{"bucket": i, "start_ms": i * duration_ms // n, "end_ms": (i + 1) * duration_ms // n,
             **{name: values[i] for name, values in columns.items()}} for i in range(n)]


def typed(rows: list[dict], like: list[dict]) -> list[dict]:
    """CSV rows with each value read as the type the expected rows hold (float text reads back exactly)."""
    return [{k: type(expected[k])(row[k]) for k in row} for row, expected in zip(rows, like)]


def expected_rows(loaded: Loaded, kind: str, scope_id: str, what: str, params: list) -> tuple[list[dict], dict]:
    """What the JSON endpoints say, as export rows, and the context."""
    path = f"/{kind}/{scope_id.replace('/', '%2F').replace(' ', '%20')}"
    if what == "layers":
        body = loaded.json(f"/v1/engagement{path}/layers", params)
        data = body["data"]
        rows = bucket_rows({k: data[k] for k in ("unique", "rewatch", "arrivals", "departures")}, data["duration_ms"])
        return rows, {"timeframe": body["timeframe"], "total_views": data["total_views"], "duration_ms": data["duration_ms"]}
    heatmap = loaded.json(f"/data/v1/engagement{path}/heatmap", params)
    context = {"timeframe": heatmap["timeframe"], "total_views": heatmap["data"]["total_views"],
               "duration_ms": heatmap["data"]["duration_ms"]}
    if what == "heatmap":
        return bucket_rows({"value": heatmap["data"]["value"]}, heatmap["data"]["duration_ms"]), context
    spots = loaded.json(f"/data/v1/engagement{path}/hotspots", params)["data"]["hotspots"]
    return [{**h, "kind": "peak" if h["score"] >= 0.5 else "cold"} for h in spots], context


@pytest.mark.parametrize("what", ["heatmap", "layers", "hotspots"])
@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_exports_hold_the_json_endpoints_values(loaded, what, fmt):
    response = loaded.get(f"/v1/engagement/assets/movie/export/{what}.{fmt}", TIMEFRAME)
    assert response.status_code == 200, response.text
    media = {"csv": "text/csv; charset=utf-8", "json": "application/json", "parquet": "application/vnd.apache.parquet"}
    assert response.headers["content-type"] == media[fmt]
    assert response.headers["content-disposition"] == (
        f'attachment; filename="moments_asset_movie_{WINDOW[0]}-{WINDOW[1]}_{what}.{fmt}"')
    columns, rows, context = read_export(fmt, response.content)
    expected, expected_context = expected_rows(loaded, "assets", "movie", what, TIMEFRAME)
    assert expected_context["total_views"] == N_VIEWS
    assert columns == list(expected[0])
    assert (typed(rows, expected) if fmt == "csv" else rows) == expected
    if context is not None:
        assert context == expected_context
    if what == "hotspots":  # the planted peak and dip are there, and both kinds are named
        assert {r["kind"] for r in expected} == {"peak", "cold"}
    if what == "layers":  # rewatches make plays per view exceed the share that watched
        assert any(r["rewatch"] > r["unique"] for r in expected)


def test_exports_take_filters_and_every_kind_of_id(loaded):
    us = TIMEFRAME + [("filters[]", "country:US")]
    for kind, scope_id in (("videos", "video / one"), ("playback-ids", "pbm1")):
        response = loaded.get(f"/v1/engagement/{kind}/{scope_id.replace('/', '%2F')}/export/heatmap.json", us)
        assert response.status_code == 200, response.text
        _, rows, context = read_export("json", response.content)
        expected, expected_context = expected_rows(loaded, kind, scope_id, "heatmap", us)
        assert rows == expected and context == expected_context
        assert context["total_views"] == N_VIEWS // 2  # the US half
    everyone = read_export("json", loaded.get("/v1/engagement/assets/movie/export/layers.json", TIMEFRAME).content)
    only_us = read_export("json", loaded.get("/v1/engagement/assets/movie/export/layers.json", us).content)
    assert everyone[2]["total_views"] == N_VIEWS and only_us[2]["total_views"] == N_VIEWS // 2
    assert only_us[1] != everyone[1]


@pytest.mark.parametrize("path, params, status, words", [
    ("/v1/engagement/assets/movie/export/heatmap.xlsx", None, 404, "heatmap|layers|hotspots"),
    ("/v1/engagement/assets/movie/export/views.csv", None, 404, "heatmap|layers|hotspots"),
    ("/v1/engagement/assets/nope/export/heatmap.csv", None, 404, "asset was not found"),
    ("/v1/engagement/assets/movie/export/heatmap.csv", {"filters[]": "planet:mars"}, 400, "unknown dimension"),
    ("/v1/engagement/assets/movie/export/heatmap.csv", {"timeframe[]": "soon"}, 400, "timeframe"),
    ("/v1/engagement/assets/movie/export/heatmap.csv", {"limit": "3"}, 400, "unknown query parameter"),
    ("/v1/engagement/assets/movie/layers", {"filters[]": "!"}, 400, "dimension:value"),
    ("/v1/exports/views.parquet", {"asset_id": "movie", "video_id": "video / one"}, 400, "at most one"),
    ("/v1/exports/views.parquet", {"playback_id": "nope"}, 404, "playback ID was not found"),
    ("/v1/exports/views.parquet", {"filters[]": "country"}, 400, "dimension:value"),
    ("/v1/exports/views.parquet", {"timeframe[]": "1:fortnights"}, 400, "timeframe"),
    ("/v1/exports/views.parquet", {"format": "csv"}, 400, "unknown query parameter"),
])
def test_bad_requests_get_mux_shaped_errors(loaded, path, params, status, words):
    response = loaded.get(path, params)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["type"] == {400: "invalid_parameters", 404: "not_found"}[status]
    assert words in body["error"]["messages"][0]


def test_exports_need_a_read_token_of_the_environment(loaded):
    for path in ("/v1/engagement/assets/movie/export/heatmap.csv", "/v1/exports/views.parquet"):
        assert loaded.get(path, auth=(loaded.auth[0], "wrong")).status_code == 401


# --- the views export ------------------------------------------------------------------------

def test_views_export_is_the_environments_completed_views_in_the_import_format(loaded):
    response = loaded.get("/v1/exports/views.parquet", TIMEFRAME)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.apache.parquet"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="moments_views_{WINDOW[0]}-{WINDOW[1]}.parquet"')
    table = pq.read_table(io.BytesIO(response.content))
    assert table.column_names == ["view_id", "asset_id", "playback_id", "video_id", "view_start", "view_end",
                                  "duration_ms", "ranges", "sdk_name", "sdk_version", "country", "browser", "os",
                                  "device_type", "player_name"] + [f"custom_{i}" for i in range(1, 21)]
    rows = table.to_pylist()
    # Completed views of this environment only: not the open one, not the other environment's.
    assert sorted(r["view_id"] for r in rows) == sorted(r["view_id"] for r in records() if r.get("view_end"))
    sent = {r["view_id"]: r for r in records()}
    for row in rows:
        original = sent[row["view_id"]]
        assert row["ranges"] == original["ranges"] and row["view_start"] == original["view_start"]
        assert (row["country"], row["sdk_name"], row["duration_ms"]) == (original["country"], "my-player", DURATION_MS)
        assert row["custom_7"] == original.get("custom_7") and row["custom_1"] is None
    assert [(r["view_start"], r["view_id"]) for r in rows] == sorted((r["view_start"], r["view_id"]) for r in rows)

    scoped = pq.read_table(io.BytesIO(loaded.get("/v1/exports/views.parquet", TIMEFRAME + [
        ("video_id", "video / one"), ("filters[]", "country:FR")]).content))
    assert scoped.num_rows == N_VIEWS // 2 and set(scoped["country"].to_pylist()) == {"FR"}
    # A window before every view: a valid Parquet file with the schema and no rows.
    empty = pq.read_table(io.BytesIO(loaded.get("/v1/exports/views.parquet", [
        ("timeframe[]", WINDOW[0] - 86_400), ("timeframe[]", WINDOW[0])]).content))
    assert empty.num_rows == 0 and empty.column_names == table.column_names


def test_views_export_imports_back_to_the_same_heatmap(loaded, tmp_path):
    exported = tmp_path / "views.parquet"
    exported.write_bytes(loaded.get("/v1/exports/views.parquet", TIMEFRAME).content)
    db = tmp_path / "again.duckdb"
    environment_id = ok_json("env", "create", "again", "--db", db, cwd=tmp_path)["environment_id"]
    imported = ok_json("import", exported, "--env", environment_id, "--db", db, cwd=tmp_path)
    assert imported["data"] == {"accepted": N_VIEWS, "rejected_total": 0, "rejected": []}
    window = ["--timeframe", WINDOW[0], "--timeframe", WINDOW[1]]
    for kind, option, scope_id in (("assets", "--asset", "movie"), ("videos", "--video", "video / one")):
        again = ok_json("heatmap", "--env", environment_id, option, scope_id, *window, "--db", db, cwd=tmp_path)
        original = loaded.json(f"/data/v1/engagement/{kind}/{scope_id.replace('/', '%2F')}/heatmap", TIMEFRAME)
        assert again == original
    # Custom dimensions come back too: the same filtered answer.
    again = ok_json("heatmap", "--env", environment_id, "--asset", "movie", *window, "--filter", "custom_7:premium",
                    "--db", db, cwd=tmp_path)
    original = loaded.json("/data/v1/engagement/assets/movie/heatmap", TIMEFRAME + [("filters[]", "custom_7:premium")])
    assert again == original and 0 < again["data"]["total_views"] < N_VIEWS


# --- the command ---------------------------------------------------------------------------

def test_export_command_writes_the_same_tables_as_the_api(loaded, tmp_path):
    window = ["--timeframe", WINDOW[0], "--timeframe", WINDOW[1]]
    db = tmp_path / "m.duckdb"
    for what in ("heatmap", "layers", "hotspots"):
        for fmt in ("csv", "json", "parquet"):
            shutil.copyfile(loaded.db, db)
            out = tmp_path / f"{what}.{fmt}"
            summary = ok_json("export", what, "--env", loaded.environment_id, "--asset", "movie", *window,
                              "--format", fmt, "--output", out, "--db", db, cwd=tmp_path)
            assert summary["path"] == str(out) and summary["total_views"] == N_VIEWS
            api = loaded.get(f"/v1/engagement/assets/movie/export/{what}.{fmt}", TIMEFRAME).content
            assert read_export(fmt, out.read_bytes()) == read_export(fmt, api)
            assert summary["rows"] == len(read_export(fmt, api)[1])
    # Without --output: the API's file name, in the working folder.
    shutil.copyfile(loaded.db, db)
    text = ok("export", "heatmap", "--env", loaded.environment_id, "--asset", "movie", *window, "--db", db, cwd=tmp_path)
    name = f"moments_asset_movie_{WINDOW[0]}-{WINDOW[1]}_heatmap.csv"
    assert text.strip() == f"wrote 120 rows to {name}" and (tmp_path / name).is_file()


def test_export_views_command_matches_the_api(loaded, tmp_path):
    db = tmp_path / "m.duckdb"
    shutil.copyfile(loaded.db, db)
    out = tmp_path / "views.parquet"
    summary = ok_json("export", "views", "--env", loaded.environment_id, "--timeframe", WINDOW[0],
                      "--timeframe", WINDOW[1], "--asset", "movie", "--filter", "country:US", "--output", out,
                      "--db", db, cwd=tmp_path)
    assert summary == {"path": str(out), "views": N_VIEWS // 2, "timeframe": list(WINDOW)}
    api = loaded.get("/v1/exports/views.parquet", TIMEFRAME + [("asset_id", "movie"), ("filters[]", "country:US")])
    assert pq.read_table(out).equals(pq.read_table(io.BytesIO(api.content)))
    done = moments("export", "views", "--env", loaded.environment_id, "--asset", "nope", "--output", out,
                   "--db", db, cwd=tmp_path)
    assert done.returncode != 0 and "asset 'nope' not found" in done.stderr and "Traceback" not in done.stderr
    done = moments("export", "views", "--env", loaded.environment_id, "--asset", "movie", "--video", "v",
                   "--output", out, "--db", db, cwd=tmp_path)
    assert done.returncode != 0 and "at most one of" in done.stderr


def test_layers_command(loaded, tmp_path):
    window = ["--timeframe", WINDOW[0], "--timeframe", WINDOW[1]]
    db = tmp_path / "m.duckdb"
    shutil.copyfile(loaded.db, db)
    body = ok_json("layers", "--env", loaded.environment_id, "--asset", "movie", *window, "--db", db, cwd=tmp_path)
    assert body == loaded.json("/v1/engagement/assets/movie/layers", TIMEFRAME)
    filtered = ok_json("layers", "--env", loaded.environment_id, "--asset", "movie", *window, "--filter",
                       "country:FR", "--db", db, cwd=tmp_path)
    assert filtered == loaded.json("/v1/engagement/assets/movie/layers", TIMEFRAME + [("filters[]", "country:FR")])
    assert filtered["data"]["total_views"] == N_VIEWS // 2

    lines = ok("layers", "--env", loaded.environment_id, "--asset", "movie", *window, "--db", db,
               cwd=tmp_path).splitlines()
    assert lines[0].startswith(f"views: {N_VIEWS}   timeframe: ")
    assert lines[1].split() == ["time", "unique", "rewatch", "arrivals", "departures"]
    data = body["data"]
    assert len(lines) == 2 + len(data["unique"])
    for i, line in enumerate(lines[2:]):
        time_text, *numbers = line.split()
        assert time_text == f"{i // 60}:{i % 60:02d}"
        expected = [data[k][i] for k in ("unique", "rewatch", "arrivals", "departures")]
        assert [float(x) for x in numbers] == pytest.approx(expected, abs=0.0006)
