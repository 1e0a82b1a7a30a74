"""Compared with what, end to end: /relative and /compare on the real server over a real DuckDB file."""

from __future__ import annotations

import time

import httpx
import pytest

from test_api import post_views, view

NOW_MS = int(time.time() * 1000)
DAY_MS = 86_400_000


def watched_to(prefix: str, n: int, end_ms: int, **ids) -> list[dict]:
    """n views that each watch [0, end_ms) from the start."""
    return [view(f"{prefix}-{i}", [[0, end_ms]], **ids) for i in range(n)]


def steps(n: int, ones: int) -> list[float]:
    return [1.0] * ones + [0.0] * (n - ones)


def load_peers(client: httpx.Client, full_peers: bool = False) -> None:
    """`mine` (60 s) watched to 45 s; peers of 60 s watched to 30, 15 and 60 s, one of 120 s to 60 s;
    a peer with too few views and one far longer are not peers. `full_peers`: every peer watched whole."""
    for asset_id, duration in (("mine", 60_000), ("p1", 60_000), ("p2", 60_000), ("p3", 60_000), ("p4", 120_000),
                               ("few", 60_000), ("far", 600_000)):
        assert client.put(f"/v1/assets/{asset_id}", json={"duration_ms": duration}).status_code == 200
    ends = {"p1": 30_000, "p2": 15_000, "p3": 60_000, "p4": 60_000, "far": 600_000}
    views = watched_to("mine", 5, 45_000, asset_id="mine") + watched_to("few", 4, 60_000, asset_id="few")
    for asset_id, end in ends.items():
        views += watched_to(asset_id, 5, 120_000 if full_peers else end, asset_id=asset_id)
    post_views(client, views)


def get(client: httpx.Client, path: str, **params) -> httpx.Response:
    return client.get(f"/v1/engagement/{path}", params=params)


def test_relative_against_the_typical_curve_of_similar_length(server):
    tenant, other = server.tenant("mine"), server.tenant("other")
    with server.client(tenant) as c, server.client(other) as o:
        load_peers(c)
        # Another environment with the same ids, all watched whole: must not move this typical curve.
        load_peers(o, full_peers=True)
        response = get(c, "assets/mine/relative", **{"timeframe[]": "7:days"})
        other_body = get(o, "assets/mine/relative").json()
    assert response.status_code == 200, response.text
    body = response.json()
    data = body["data"]
    assert body["timeframe"][1] - body["timeframe"][0] == 7 * 86_400
    assert data["total_views"] == 5 and data["duration_ms"] == 60_000 and data["value"] == steps(60, 45)
    # Peers on 60 buckets: p1 to 30 s, p2 to 15 s, p3 whole, p4 (120 s, resampled) to 50 %.
    # Median per bucket: 1 up to 15 s (1,1,1,1), 1 up to 30 s (0,1,1,1), 0 after (0,0,1,0).
    assert data["typical"] == pytest.approx(steps(60, 30))
    assert data["relative"] == pytest.approx([0.0] * 30 + [1.0] * 15 + [0.0] * 15)
    assert data["overall"] == pytest.approx({"average": 0.75, "typical_average": 0.5, "ratio": 1.5, "better_than": 0.75})
    assert data["peers"] == 4 and data["candidates"] == 5  # `few` (4 views) is looked at, not used
    assert data["band"] == {"min_ms": 30_000, "max_ms": 120_000} and data["note"] is None
    # In the other environment every peer is watched whole: typical 1 everywhere.
    assert other_body["data"]["typical"] == pytest.approx([1.0] * 60) and other_body["data"]["overall"]["better_than"] == 0.0


def test_relative_without_enough_peers_says_so(server):
    tenant = server.tenant()
    with server.client(tenant) as c:
        assert c.put("/v1/assets/alone", json={"duration_ms": 60_000}).status_code == 200
        assert c.put("/v1/assets/pal", json={"duration_ms": 50_000}).status_code == 200
        post_views(c, watched_to("alone", 5, 30_000, asset_id="alone") + watched_to("pal", 5, 30_000, asset_id="pal"))
        data = get(c, "assets/alone/relative").json()["data"]
        video = get(c, "videos/none-such/relative")
        filtered = get(c, "assets/alone/relative", **{"filters[]": "country:ZZ"}).json()["data"]
    assert data["value"] == steps(60, 30) and data["typical"] == [] and data["relative"] == []
    assert data["overall"] is None and data["peers"] == 1
    assert data["note"].startswith("not enough similar content: 1 other assets 0:30 to 2:00 long")
    assert video.status_code == 404 and video.json()["error"]["type"] == "not_found"
    assert filtered["total_views"] == 0 and filtered["value"] == [] and filtered["note"] == "no views in the timeframe"


def test_compare_two_timeframes(server):
    tenant = server.tenant()
    old_start = NOW_MS - 3 * DAY_MS
    with server.client(tenant) as c:
        assert c.put("/v1/assets/show", json={"duration_ms": 60_000}).status_code == 200
        post_views(c, watched_to("new", 4, 45_000, asset_id="show")
                   + [view(f"old-{i}", [[0, 15_000]], start_ms=old_start, asset_id="show") for i in range(2)])
        window = [str(old_start // 1000 - 60), str(old_start // 1000 + 60)]
        response = c.get("/v1/engagement/assets/show/compare",
                         params=[("timeframe[]", "1:days")] + [("against_timeframe[]", t) for t in window])
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["duration_ms"] == 60_000
    assert data["a"]["label"] == "1:days" and data["a"]["total_views"] == 4 and data["a"]["value"] == steps(60, 45)
    assert data["b"]["label"] == "..".join(window) and data["b"]["timeframe"] == [int(t) for t in window]
    assert data["b"]["total_views"] == 2 and data["b"]["value"] == steps(60, 15)
    assert data["difference"] == [0.0] * 15 + [-1.0] * 30 + [0.0] * 15


def test_compare_playback_ids_of_one_asset_and_assets_of_other_lengths(server):
    tenant, other = server.tenant("a"), server.tenant("b")
    with server.client(tenant) as c, server.client(other) as o:
        assert c.put("/v1/assets/movie", json={"duration_ms": 60_000, "playback_ids": ["pbA", "pbB"]}).status_code == 200
        assert c.put("/v1/assets/cut", json={"duration_ms": 120_000, "playback_ids": ["pbX"]}).status_code == 200
        assert o.put("/v1/assets/elsewhere", json={"duration_ms": 60_000, "playback_ids": ["pbO"]}).status_code == 200
        post_views(c, watched_to("a", 3, 45_000, playback_id="pbA") + watched_to("b", 2, 30_000, playback_id="pbB")
                   + watched_to("x", 2, 60_000, asset_id="cut", playback_id="pbX"))
        post_views(o, watched_to("o", 2, 60_000, playback_id="pbO"))
        pair = get(c, "playback-ids/pbA/compare", against="pbB").json()["data"]
        foreign = get(c, "playback-ids/pbA/compare", against="pbX")
        assets = get(c, "assets/movie/compare", against="cut").json()["data"]
        elsewhere = get(c, "playback-ids/pbA/compare", against="pbO")
        missing = get(c, "playback-ids/pbA/compare", against="nope")
    assert (pair["a"]["id"], pair["a"]["label"], pair["b"]["label"]) == ("pbA", "pbA", "pbB")
    assert pair["a"]["value"] == steps(60, 45) and pair["b"]["value"] == steps(60, 30)
    assert pair["difference"] == [0.0] * 30 + [-1.0] * 15 + [0.0] * 15
    assert foreign.status_code == 400
    assert foreign.json()["error"]["messages"] == [
        "playback IDs 'pbA' and 'pbX' do not belong to the same registered asset; "
        "compare two playback IDs of one asset, or compare assets"]
    # movie: pbA + pbB views; cut (120 s, watched to 60 s) resampled onto movie's 60 buckets.
    assert assets["b"]["duration_ms"] == 120_000 and assets["b"]["value"] == pytest.approx(steps(60, 30))
    expected_movie = [1.0] * 30 + [0.6] * 15 + [0.0] * 15  # 5 views: 3 to 45 s, 2 to 30 s
    assert assets["a"]["value"] == pytest.approx(expected_movie)
    assert assets["difference"] == pytest.approx([b - a for a, b in zip(expected_movie, steps(60, 30))])
    # Another environment's playback ID is as unknown as one that does not exist.
    assert elsewhere.status_code == missing.status_code == 404 and elsewhere.json() == missing.json()


@pytest.mark.parametrize("path, params, named", [
    ("assets/mine/compare", {}, "against_timeframe[]"),
    ("assets/mine/compare", {"against_timeframe[]": "banana"}, "against_timeframe[]"),
    ("assets/mine/compare", {"against": "a/b"}, "against"),
    ("assets/mine/relative", {"timeframe[]": "0:days"}, "timeframe[]"),
    ("assets/mine/relative", {"filters[]": "planet:mars"}, "planet"),
    ("assets/mine/relative", {"against": "p1"}, "'against'"),
    ("videos/mine/compare", {"against": "x", "limit": "3"}, "'limit'"),
])
def test_bad_input_is_a_mux_shaped_400(server, path, params, named):
    tenant = server.tenant()
    with server.client(tenant) as c:
        load_peers(c)
        response = get(c, path, **params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_parameters" and named in error["messages"][0]


def test_unauthenticated_reveals_nothing(server):
    with httpx.Client(base_url=server.base_url) as c:
        response = c.get("/v1/engagement/assets/x/relative")
    assert response.status_code == 401 and response.json()["error"]["type"] == "unauthorized"


def test_filters_apply_to_the_content_and_to_every_peer(server):
    """US viewers watch the peers whole, CA viewers leave them at 15 s: filters[] picks the typical curve."""
    tenant = server.tenant()
    with server.client(tenant) as c:
        for asset_id in ("mine", "q1", "q2", "q3"):
            assert c.put(f"/v1/assets/{asset_id}", json={"duration_ms": 60_000}).status_code == 200
        views = []
        for asset_id in ("q1", "q2", "q3"):
            views += [{**v, "country": "US"} for v in watched_to(f"{asset_id}-us", 5, 60_000, asset_id=asset_id)]
            views += [{**v, "country": "CA"} for v in watched_to(f"{asset_id}-ca", 5, 15_000, asset_id=asset_id)]
        views += [{**v, "country": country} for country in ("US", "CA")
                  for v in watched_to(f"mine-{country}", 5, 30_000, asset_id="mine")]
        post_views(c, views)
        us = get(c, "assets/mine/relative", **{"filters[]": "country:US"}).json()["data"]
        ca = get(c, "assets/mine/relative", **{"filters[]": "country:CA"}).json()["data"]
        both = get(c, "assets/mine/relative").json()["data"]
        compared = c.get("/v1/engagement/assets/mine/compare",
                         params={"against": "q1", "filters[]": "!country:CA"}).json()["data"]
    assert us["total_views"] == ca["total_views"] == 5 and both["total_views"] == 10
    assert us["typical"] == pytest.approx([1.0] * 60) and us["overall"]["better_than"] == 0.0
    assert ca["typical"] == pytest.approx(steps(60, 15)) and ca["overall"]["better_than"] == 1.0
    assert both["typical"] == pytest.approx([1.0] * 15 + [0.5] * 45)
    assert compared["b"]["total_views"] == 5 and compared["difference"] == pytest.approx([0.0] * 30 + [1.0] * 30)


def test_video_ids_with_slashes_and_reported_durations(server):
    """Video ids may hold '/'; their duration is the median the players reported (peers too)."""
    tenant = server.tenant()
    with server.client(tenant) as c:
        post_views(c, [v for k, end in enumerate((20_000, 40_000, 62_000, 10_000))
                       for v in watched_to(f"ep{k}", 5, end, video_id=f"show/ep {k}", duration_ms=60_000 + k * 1000)])
        relative = get(c, "videos/show%2Fep 0/relative").json()["data"]
        compared = get(c, "videos/show%2Fep 0/compare", against="show/ep 2").json()["data"]
    assert relative["duration_ms"] == 60_000 and relative["peers"] == 3 and relative["overall"]["better_than"] == 1 / 3
    # ep 2 lasts 62 s (62 buckets), watched whole: on ep 0's 60 buckets it is 1 everywhere.
    assert compared["b"]["duration_ms"] == 62_000 and compared["b"]["value"] == pytest.approx([1.0] * 60)
    assert compared["a"]["label"] == "show/ep 0" and compared["difference"] == pytest.approx([0.0] * 20 + [1.0] * 40)
