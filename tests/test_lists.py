"""The list endpoints the dashboard picks content from (GET /v1/assets, /v1/videos,
/v1/playback-ids) and GET /v1/playback-ids/{ID}: a real server over a real DuckDB file."""

from __future__ import annotations

import time

import pytest

from moments import accounts

NOW_MS = int(time.time() * 1000)
LISTS = ("/v1/assets", "/v1/videos", "/v1/playback-ids")


def view(view_id: str, **ids) -> dict:
    return {"view_id": view_id, "view_start": NOW_MS - 3_600_000, "view_end": NOW_MS - 3_500_000,
            "duration_ms": 60_000, "ranges": [[0, 30_000]], **ids}


def seed(client) -> None:
    """asset-a: 3 views (2 through pb-a1), asset-b: 1, asset-c: registered only; video ids v-1 (3), v-2 (1)."""
    assert client.put("/v1/assets/asset-a", json={"duration_ms": 60_000, "playback_ids": ["pb-a1", "pb-a2"],
                                                  "playback_url": "https://example.com/a.mp4"}).status_code == 200
    assert client.put("/v1/assets/asset-c", json={"duration_ms": 60_000}).status_code == 200
    response = client.post("/v1/views", json=[
        view("1", asset_id="asset-a", playback_id="pb-a1", video_id="v-1"),
        view("2", asset_id="asset-a", playback_id="pb-a1", video_id="v-1"),
        view("3", asset_id="asset-a", video_id="v-1"),
        view("4", asset_id="asset-b", playback_id="pb-b", video_id="v-2"),
    ])
    assert response.status_code == 200 and response.json()["data"]["accepted"] == 4


def listing(client, path: str, **params) -> dict:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_lists_are_most_viewed_first_with_counts(server):
    tenant = server.tenant()
    with server.client(tenant) as c:
        seed(c)
        assets = listing(c, "/v1/assets")
        videos = listing(c, "/v1/videos")
        playback_ids = listing(c, "/v1/playback-ids")
    # Registered ids without views are listed too (0 views), after the viewed ones.
    # Assets and playback IDs say whether they are registered (the dashboard asks for the
    # registration of those only, so it never requests a 404); pb-b's asset is not registered.
    assert assets == {"data": [{"id": "asset-a", "views": 3, "registered": True},
                               {"id": "asset-b", "views": 1, "registered": False},
                               {"id": "asset-c", "views": 0, "registered": True}], "total_row_count": 3}
    assert videos == {"data": [{"id": "v-1", "views": 3}, {"id": "v-2", "views": 1}], "total_row_count": 2}
    assert playback_ids == {"data": [{"id": "pb-a1", "views": 2, "registered": True},
                                     {"id": "pb-b", "views": 1, "registered": False},
                                     {"id": "pb-a2", "views": 0, "registered": True}], "total_row_count": 3}


def test_search_and_limit(server):
    tenant = server.tenant()
    with server.client(tenant) as c:
        seed(c)
        # search: case-insensitive substring; total_row_count counts every match, limit cuts the list.
        assert listing(c, "/v1/assets", search="SET-A") == {"data": [{"id": "asset-a", "views": 3, "registered": True}],
                                                            "total_row_count": 1}
        assert listing(c, "/v1/playback-ids", search="a") == {
            "data": [{"id": "pb-a1", "views": 2, "registered": True}, {"id": "pb-a2", "views": 0, "registered": True}],
            "total_row_count": 2}
        assert listing(c, "/v1/assets", limit=1) == {"data": [{"id": "asset-a", "views": 3, "registered": True}],
                                                 "total_row_count": 3}
        assert listing(c, "/v1/assets", limit=2)["total_row_count"] == 3
        assert listing(c, "/v1/videos", search="nothing-like-this") == {"data": [], "total_row_count": 0}
        assert listing(c, "/v1/videos", search="")["total_row_count"] == 2  # empty = no filter
        # Characters with a meaning in SQL patterns are plain characters here.
        assert listing(c, "/v1/assets", search="%")["total_row_count"] == 0
        assert listing(c, "/v1/assets", search="_")["total_row_count"] == 0


@pytest.mark.parametrize("params, needle", [
    ({"limit": "0"}, "limit"), ({"limit": "101"}, "limit"), ({"limit": "-1"}, "limit"), ({"limit": "ten"}, "limit"),
    ({"limit": "1" * 5000}, "limit"),  # int() refuses strings this long: must not become a 500
    ({"search": "x" * 129}, "search"), ({"search": "a\x01"}, "search"), ({"page": "2"}, "page"),
])
def test_bad_parameters_are_400_naming_the_parameter(server, params, needle):
    tenant = server.tenant()
    with server.client(tenant) as c:
        for path in LISTS:
            response = c.get(path, params=params)
            assert response.status_code == 400, (path, response.text)
            error = response.json()["error"]
            assert error["type"] == "invalid_parameters" and needle in error["messages"][0], error


def test_auth_401_and_403(server):
    tenant = server.tenant()
    nothing = accounts.issue_token(server.store, tenant.environment_id, ())
    reader = accounts.issue_token(server.store, tenant.environment_id, ("read",))
    with server.client() as c:
        for path in (*LISTS, "/v1/playback-ids/pb"):
            assert c.get(path).status_code == 401
            response = c.get(path, auth=(tenant.token_id, "wrong"))
            assert response.status_code == 401 and response.json()["error"]["type"] == "unauthorized"
            assert response.headers["www-authenticate"].startswith("Basic")
            response = c.get(path, auth=(nothing.token.token_id, nothing.secret))
            assert response.status_code == 403 and response.json()["error"]["type"] == "forbidden"
            assert "read" in response.json()["error"]["messages"][0]
        # Rate-limit headers, as on every authenticated answer.
        response = c.get("/v1/assets", auth=(reader.token.token_id, reader.secret))
        assert response.status_code == 200 and "x-ratelimit-limit" in response.headers
        # Authentication comes first: a stranger learns nothing about the parameters either.
        assert c.get("/v1/assets", params={"limit": "0"}).status_code == 401


def test_environments_never_see_each_others_ids(server):
    a, b = server.tenant("a"), server.tenant("b")
    with server.client(a) as ca, server.client(b) as cb:
        seed(ca)
        for path in LISTS:
            assert listing(cb, path) == {"data": [], "total_row_count": 0}
            assert listing(cb, path, search="a") == {"data": [], "total_row_count": 0}
        assert cb.put("/v1/assets/mine", json={"duration_ms": 1000, "playback_ids": ["pb-mine"]}).status_code == 200
        assert listing(cb, "/v1/assets")["data"] == [{"id": "mine", "views": 0, "registered": True}]
        assert listing(cb, "/v1/playback-ids")["data"] == [{"id": "pb-mine", "views": 0, "registered": True}]
        # B's view of an asset named like A's registered one: registered in A, not in B.
        assert cb.post("/v1/views", json=[view("b1", asset_id="asset-c", playback_id="pb-a2")]).status_code == 200
        assert {item["id"]: item["registered"] for item in listing(cb, "/v1/assets")["data"]} == {
            "asset-c": False, "mine": True}
        assert {item["id"]: item["registered"] for item in listing(cb, "/v1/playback-ids")["data"]} == {
            "pb-a2": False, "pb-mine": True}
        assert "mine" not in {item["id"] for item in listing(ca, "/v1/assets")["data"]}
        # A playback ID of A is, for B, exactly like one that never existed.
        foreign, missing = cb.get("/v1/playback-ids/pb-a1"), cb.get("/v1/playback-ids/never-seen")
        assert foreign.status_code == missing.status_code == 404 and foreign.json() == missing.json()


def test_playback_id_lookup(server):
    tenant = server.tenant()
    with server.client(tenant) as c:
        seed(c)
        registered = c.get("/v1/playback-ids/pb-a2")
        seen_only = c.get("/v1/playback-ids/pb-b")  # on a view, never registered to an asset
        assert c.get("/v1/playback-ids/pb-a1", params={"x": "1"}).status_code == 400
    assert registered.status_code == 200 and registered.json() == {"data": {"playback_id": "pb-a2", "asset": {
        "asset_id": "asset-a", "duration_ms": 60_000, "playback_ids": ["pb-a1", "pb-a2"],
        "playback_url": "https://example.com/a.mp4", "chapters": []}}}
    assert seen_only.status_code == 200 and seen_only.json() == {"data": {"playback_id": "pb-b", "asset": None}}


def test_more_ids_than_the_limit(server):
    tenant = server.tenant()
    with server.client(tenant) as c:
        response = c.post("/v1/views", json=[view(f"v{i}", video_id=f"video-{i:03d}") for i in range(130)])
        assert response.json()["data"]["accepted"] == 130
        default, widest = listing(c, "/v1/videos"), listing(c, "/v1/videos", limit=100)
    assert len(default["data"]) == 25 and default["total_row_count"] == 130
    assert len(widest["data"]) == 100 and widest["total_row_count"] == 130
    # Equal view counts: ordered by id, so paging by search is stable.
    assert [item["id"] for item in widest["data"]] == [f"video-{i:03d}" for i in range(100)]
