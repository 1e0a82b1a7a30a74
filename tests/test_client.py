"""moments.client against the live server: sync and async, every endpoint, Mux's error classes."""

from __future__ import annotations

import asyncio
import time

import pytest

from moments.client import (AsyncClient, AuthenticationError, BadRequestError, Client, NotFoundError,
                            buckets_to_timeline)
from moments.lab.simulate import Audience, Moment, Scenario, simulate_views

from conftest import run_async

NOW_MS = int(time.time() * 1000)


def records(n: int = 600) -> list[dict]:
    audience = Audience(duration_ms=120_000, n_views=n, seed=3, hazard_per_minute=0.5,
                        moments=(Moment(50_000, 65_000, "peak", 0.4),))
    views = simulate_views(audience, Scenario(view_id_prefix="c", playback_ids=("pbc1",), video_id="video / one",
                                              start_ms=NOW_MS - 86_400_000, span_ms=3_600_000))
    return [{"view_id": v.view_id, "playback_id": v.playback_id, "video_id": v.video_id, "view_start": v.view_start_ms,
             "view_end": v.view_end_ms, "duration_ms": v.duration_ms, "ranges": [list(r) for r in v.ranges]}
            for v in views]


@pytest.fixture
def loaded(server):
    tenant = server.tenant()
    with Client(tenant.token_id, tenant.token_secret, server.base_url) as client:
        result = client.import_views(records() + [{"view_id": "bad"}])
        asset = client.put_asset("movie", 120_000, ["pbc1"])
    assert result.accepted == 600 and [r.index for r in result.rejected] == [600]
    assert asset.asset_id == "movie" and asset.playback_ids == ["pbc1"]
    return server, tenant


def test_sync_client_matches_the_raw_api(loaded, monkeypatch):
    server, tenant = loaded
    monkeypatch.setenv("MUX_TOKEN_ID", tenant.token_id)
    monkeypatch.setenv("MUX_TOKEN_SECRET", tenant.token_secret)
    monkeypatch.setenv("MUX_BASE_URL", server.base_url)
    with Client() as client, server.client(tenant) as raw:  # settings from the environment, like Mux's SDKs
        for kind, scope_id in (("assets", "movie"), ("videos", "video / one"), ("playback-ids", "pbc1")):
            heatmap = client.heatmap(kind, scope_id, timeframe=["7:days"])
            path = f"/data/v1/engagement/{kind}/{scope_id.replace('/', '%2F')}"
            expected = raw.get(f"{path}/heatmap", params={"timeframe[]": "7:days"}).json()
            assert heatmap.value == expected["data"]["value"] and heatmap.total_views == 600
            assert heatmap.duration_ms == 120_000 and heatmap.total_row_count == 1
            spots = client.hotspots(kind, scope_id, limit=1, order_direction="desc")
            assert spots.total_row_count >= 1 and len(spots.hotspots) == 1 and spots.hotspots[0].score > 0.5
        assert client.get_asset("movie").duration_ms == 120_000
        assert [(item.id, item.registered) for item in client.list_ids("videos").data] == [("video / one", None)]
        movie = client.list_ids("assets", search="mov").data[0]
        assert (movie.id, movie.registered) == ("movie", True)


def test_errors_are_mux_sdk_classes(loaded):
    server, tenant = loaded
    with Client(tenant.token_id, "wrong", server.base_url) as client:
        with pytest.raises(AuthenticationError) as error:
            client.heatmap("assets", "movie")
        assert error.value.status == 401 and error.value.type == "unauthorized"
    with Client(tenant.token_id, tenant.token_secret, server.base_url) as client:
        with pytest.raises(NotFoundError):
            client.heatmap("assets", "nope")
        with pytest.raises(BadRequestError) as error:
            client.hotspots("assets", "movie", timeframe=["banana"])
        assert "timeframe" in error.value.messages[0]
    with pytest.raises(ValueError):
        Client(None, None, None)


def test_async_client(loaded):
    server, tenant = loaded

    async def run():
        async with AsyncClient(tenant.token_id, tenant.token_secret, server.base_url) as client:
            heatmap, spots = await asyncio.gather(client.heatmap("assets", "movie"),
                                                  client.hotspots("assets", "movie", order_direction="asc"))
            with pytest.raises(NotFoundError):
                await client.get_asset("nope")
            return heatmap, spots

    heatmap, spots = run_async(run())
    assert heatmap.total_views == 600 and len(heatmap.value) == 120
    scores = [h.score for h in spots.hotspots]
    assert scores == sorted(scores)


def test_buckets_to_timeline():
    points = buckets_to_timeline([0.5, 0.25, 1.0], 4_500)
    assert [(p.start_s, p.end_s, p.value) for p in points] == [(0.0, 1.5, 0.5), (1.5, 3.0, 0.25), (3.0, 4.5, 1.0)]
    assert buckets_to_timeline([], 1000) == []


def test_layers_filters_and_exports(loaded):
    import io

    import pyarrow.parquet as pq

    server, tenant = loaded
    with Client(tenant.token_id, tenant.token_secret, server.base_url) as client, server.client(tenant) as raw:
        layers = client.layers("videos", "video / one", timeframe=["7:days"])
        expected = raw.get("/v1/engagement/videos/video%20%2F%20one/layers", params={"timeframe[]": "7:days"}).json()
        assert layers.unique == expected["data"]["unique"] and layers.rewatch == expected["data"]["rewatch"]
        assert layers.arrivals == expected["data"]["arrivals"] and layers.departures == expected["data"]["departures"]
        assert layers.total_views == 600 and layers.duration_ms == 120_000 and len(layers.unique) == 120
        # filters[] reach the server: no view has a country, so country:US keeps none and !country:US all.
        assert client.heatmap("assets", "movie", filters=["country:US"]).total_views == 0
        assert client.heatmap("assets", "movie", filters=["!country:US"]).total_views == 600
        assert client.hotspots("assets", "movie", filters=["country:US"]).hotspots == []
        assert client.layers("assets", "movie", filters=["country:US"]).total_views == 0
        with pytest.raises(BadRequestError):
            client.layers("assets", "movie", filters=["planet:mars"])

        csv_bytes = client.export("playback-ids", "pbc1", "heatmap", "csv", timeframe=["7:days"])
        assert csv_bytes == raw.get("/v1/engagement/playback-ids/pbc1/export/heatmap.csv",
                                    params={"timeframe[]": "7:days"}).content
        assert csv_bytes.startswith(b"bucket,start_ms,end_ms,value\r\n") and csv_bytes.count(b"\r\n") == 121
        table = pq.read_table(io.BytesIO(client.export("assets", "movie", "hotspots", "parquet")))
        assert table.column_names == ["start_ms", "end_ms", "score", "kind"] and table.num_rows >= 1
        with pytest.raises(NotFoundError):
            client.export("assets", "movie", "heatmap", "xlsx")

        views = pq.read_table(io.BytesIO(client.export_views(timeframe=["7:days"], playback_id="pbc1")))
        assert views.num_rows == 600 and set(views["playback_id"].to_pylist()) == {"pbc1"}
        assert pq.read_table(io.BytesIO(client.export_views(filters=["country:US"]))).num_rows == 0


def test_async_client_layers_and_exports(loaded):
    server, tenant = loaded

    async def run():
        async with AsyncClient(tenant.token_id, tenant.token_secret, server.base_url) as client:
            return await asyncio.gather(client.layers("assets", "movie", filters=["!country:US"]),
                                        client.export("assets", "movie", "layers", "json"),
                                        client.export_views(asset_id="movie"))

    layers, exported, views = run_async(run())
    import io
    import json

    import pyarrow.parquet as pq

    assert layers.total_views == 600
    assert [row["unique"] for row in json.loads(exported)["data"]] == layers.unique
    assert pq.read_table(io.BytesIO(views)).num_rows == 600
