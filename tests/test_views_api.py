"""GET /v1/engagement/{kind}/{ID}/views and GET /v1/views/{ID} on the live server and a real DuckDB file."""

from __future__ import annotations

import base64
import time
from urllib.parse import quote

import pytest

NOW_MS = int(time.time() * 1000)
HOUR_MS = 3_600_000
# The README's import example: 0-1:35, seek to 5:00, 5:00-7:00, back to 1:00-1:30 of 30 minutes.
README_RANGES = [[0, 95_000], [300_000, 420_000], [60_000, 90_000]]


def view(view_id: str, start_ms: int, **fields) -> dict:
    fields.setdefault("asset_id", "movie")
    return {"view_id": view_id, "view_start": start_ms, "view_end": start_ms + 600_000, "duration_ms": 1_800_000,
            "ranges": README_RANGES, **fields}


@pytest.fixture
def loaded(server):
    """Seven counted views of "movie" an hour apart (v0 newest), two of them from Germany, plus
    views that do not count (an hour idle, other content, too old for the default 7 days)."""
    tenant = server.tenant("a")
    views = [view(f"v{i}", NOW_MS - (i + 1) * HOUR_MS, country="DE" if i in (1, 4) else "US") for i in range(7)]
    views += [view("no-ranges-elsewhere", NOW_MS - HOUR_MS, asset_id="other"),
              view("too-old", NOW_MS - 8 * 24 * HOUR_MS),
              {**view("playing", NOW_MS - HOUR_MS), "view_end": None}]
    with server.client(tenant) as c:
        assert c.post("/v1/views", json=views).json()["data"]["accepted"] == len(views)
        assert c.put("/v1/assets/movie", json={"duration_ms": 1_800_000, "playback_ids": ["pb1"]}).status_code == 200
    return server, tenant


def pages(client, path: str, **params) -> list[dict]:
    bodies, cursor = [], None
    while True:
        body = client.get(path, params={**params, **({"cursor": cursor} if cursor else {})}).json()
        bodies.append(body)
        cursor = body["next_cursor"]
        if cursor is None:
            return bodies


def test_views_are_listed_newest_first_in_pages(loaded):
    server, tenant = loaded
    started_s = int(time.time())
    with server.client(tenant) as c:
        bodies = pages(c, "/v1/engagement/assets/movie/views", limit="3")
        heatmap = c.get("/data/v1/engagement/assets/movie/heatmap").json()
        one_page = c.get("/v1/engagement/assets/movie/views").json()
    ended_s = int(time.time())
    assert [[v["view_id"] for v in b["data"]] for b in bodies] == [["v0", "v1", "v2"], ["v3", "v4", "v5"], ["v6"]]
    assert {b["total_row_count"] for b in bodies} == {7} == {heatmap["data"]["total_views"]}
    # Both default to the heatmap's window, the 7 days up to the request (which may fall in the next second).
    for start, end in (bodies[0]["timeframe"], heatmap["timeframe"]):
        assert started_s <= end <= ended_s and end - start == 7 * 86_400
    assert one_page["next_cursor"] is None and len(one_page["data"]) == 7  # default limit 25
    first = bodies[0]["data"][0]
    assert first == {
        "view_id": "v0", "view_start": NOW_MS - HOUR_MS, "view_end": NOW_MS - HOUR_MS + 600_000,
        "duration_ms": 1_800_000, "asset_id": "movie", "playback_id": None, "video_id": None,
        "watched_ms": 245_000, "unique_watched_ms": 215_000, "seeks": 2, "ended": {"kind": "left", "at_ms": 90_000},
        "country": "US", "browser": None, "os": None, "device_type": None, "player_name": None,
        "sdk_name": None, "sdk_version": None}


def test_filters_and_timeframe_narrow_the_listing(loaded):
    server, tenant = loaded
    with server.client(tenant) as c:
        germany = c.get("/v1/engagement/assets/movie/views", params={"filters[]": "country:DE"}).json()
        recent = c.get("/v1/engagement/assets/movie/views",
                       params={"timeframe[]": [str((NOW_MS - 2 * HOUR_MS - 1000) // 1000), str(NOW_MS // 1000)]}).json()
    assert [v["view_id"] for v in germany["data"]] == ["v1", "v4"] and germany["total_row_count"] == 2
    assert [v["view_id"] for v in recent["data"]] == ["v0", "v1"] and recent["total_row_count"] == 2


@pytest.mark.parametrize("params, needle", [
    ({"limit": "0"}, "limit"), ({"limit": "1001"}, "limit"), ({"limit": "ten"}, "limit"), ({"limit": "¹"}, "limit"),
    ({"cursor": "!!"}, "cursor"), ({"cursor": base64.urlsafe_b64encode(b'{"a":1}').decode()}, "cursor"),
    ({"cursor": base64.urlsafe_b64encode(b'[1.5,"v"]').decode()}, "cursor"), ({"cursor": "x" * 2000}, "cursor"),
    ({"cursor": base64.urlsafe_b64encode(b"\xff\xfe").decode()}, "cursor"),
    ({"filters[]": "planet:mars"}, "planet"), ({"timeframe[]": "banana"}, "timeframe"), ({"order": "asc"}, "order"),
])
def test_bad_parameters_are_400(loaded, params, needle):
    server, tenant = loaded
    with server.client(tenant) as c:
        response = c.get("/v1/engagement/assets/movie/views", params=params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_parameters" and needle in " ".join(error["messages"])


def test_one_view_with_its_path(loaded):
    server, tenant = loaded
    with server.client(tenant) as c:
        body = c.get("/v1/views/v3").json()["data"]
        listed = c.get("/v1/engagement/assets/movie/views", params={"limit": "4"}).json()["data"][3]
        playing = c.get("/v1/views/playing").json()["data"]
    assert body["ranges"] == README_RANGES and body["reports_ranges"] is True and body["dimensions"] == {}
    assert body["path"] == [
        {"type": "play", "start_ms": 0, "end_ms": 95_000},
        {"type": "seek", "from_ms": 95_000, "to_ms": 300_000, "direction": "forward"},
        {"type": "play", "start_ms": 300_000, "end_ms": 420_000},
        {"type": "seek", "from_ms": 420_000, "to_ms": 60_000, "direction": "backward"},
        {"type": "play", "start_ms": 60_000, "end_ms": 90_000}]
    assert {k: v for k, v in body.items() if k in listed} == listed  # the detail extends the listing's row
    assert playing["ended"] == {"kind": "in_progress", "at_ms": 90_000} and playing["view_end"] is None


def test_ids_with_slashes_and_unicode(server):
    tenant = server.tenant()
    with server.client(tenant) as c:
        body = [view("a/b c?é", NOW_MS - HOUR_MS, asset_id=None, video_id="ep/7",
                     ranges=[[0, 1_798_500]])]
        assert c.post("/v1/views", json=body).json()["data"]["accepted"] == 1
        listed = c.get(f"/v1/engagement/videos/{quote('ep/7', safe='')}/views").json()
        detail = c.get(f"/v1/views/{quote('a/b c?é', safe='')}").json()["data"]
    assert [v["view_id"] for v in listed["data"]] == ["a/b c?é"]
    assert detail["ended"] == {"kind": "completed", "at_ms": 1_798_500}  # within one bucket (1.8 s) of the end


def test_unknown_ids_are_404_and_strangers_401(loaded):
    server, tenant = loaded
    with server.client(tenant) as c:
        for path in ("/v1/engagement/assets/nope/views", "/v1/engagement/videos/nope/views",
                     "/v1/engagement/playback-ids/nope/views", "/v1/views/nope"):
            response = c.get(path)
            assert response.status_code == 404 and response.json()["error"]["type"] == "not_found", path
        assert c.get("/v1/views/v1", params={"x": "1"}).status_code == 400
        assert c.get("/v1/engagement/playback-ids/pb1/views").json()["total_row_count"] == 0  # known, no views
    with server.client() as anonymous:
        assert anonymous.get("/v1/views/v1").status_code == 401
        assert anonymous.get("/v1/engagement/assets/movie/views").status_code == 401


def test_an_environment_never_sees_another_ones_views(loaded):
    server, tenant = loaded
    other = server.tenant("b")
    with server.client(other) as c:
        assert c.get("/v1/views/v1").status_code == 404
        assert c.get("/v1/engagement/assets/movie/views").status_code == 404
        # B's own "movie" and "v1": B sees only those, A still sees only its own.
        assert c.post("/v1/views", json=[view("v1", NOW_MS - HOUR_MS, ranges=[[0, 1000]])]).status_code == 200
        mine = c.get("/v1/engagement/assets/movie/views").json()
        assert [v["view_id"] for v in mine["data"]] == ["v1"] and mine["total_row_count"] == 1
        assert c.get("/v1/views/v1").json()["data"]["ranges"] == [[0, 1000]]
        # A cursor from A's listing pages B's own views only.
        with server.client(tenant) as a:
            cursor = a.get("/v1/engagement/assets/movie/views", params={"limit": "1"}).json()["next_cursor"]
            assert a.get("/v1/views/v1").json()["data"]["ranges"] == README_RANGES
        assert c.get("/v1/engagement/assets/movie/views", params={"cursor": cursor}).json()["data"] == [
            v for v in mine["data"] if v["view_start"] < NOW_MS - HOUR_MS]
