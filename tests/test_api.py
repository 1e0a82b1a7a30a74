"""The HTTP API end to end: a real server on 127.0.0.1 over a real DuckDB file."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from moments.model import Scope

DAY_MS = 86_400_000
NOW_MS = int(time.time() * 1000)


def view(view_id: str, ranges, *, start_ms: int | None = None, end: bool = True, duration_ms: int = 60_000,
         **ids) -> dict:
    start = NOW_MS - 3_600_000 if start_ms is None else start_ms
    body = {"view_id": view_id, "view_start": start, "duration_ms": duration_ms, "ranges": ranges, **ids}
    if end:
        body["view_end"] = start + 120_000
    return body


def post_views(client: httpx.Client, views: list[dict]) -> dict:
    response = client.post("/v1/views", json=views)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def heatmap(client: httpx.Client, path: str, **params) -> dict:
    response = client.get(f"/data/v1/engagement/{path}/heatmap", params=params)
    assert response.status_code == 200, response.text
    return response.json()


# --- scopes, timeframes, completion ---------------------------------------------------

def test_asset_video_and_playback_id_select_different_views(server):
    tenant = server.tenant()
    with server.client(tenant) as c:
        assert c.put("/v1/assets/asset-1", json={"duration_ms": 60_000, "playback_ids": ["pb1", "pb2"]}).status_code == 200
        post_views(c, [
            view("a", [[0, 60_000]], playback_id="pb1", video_id="vid-1"),
            view("b", [[0, 30_000]], playback_id="pb2", video_id="vid-1"),
            view("c", [[0, 6_000]], asset_id="asset-1"),
            view("d", [[30_000, 60_000]], asset_id="asset-2", video_id="vid-1", duration_ms=120_000),
        ])
        asset = heatmap(c, "assets/asset-1")["data"]
        video = heatmap(c, "videos/vid-1")["data"]
        pb1 = heatmap(c, "playback-ids/pb1")["data"]
        pb2 = heatmap(c, "playback-ids/pb2")["data"]
    assert asset["total_views"] == 3 and len(asset["value"]) == 60
    assert asset["value"][0] == 1.0 and asset["value"][10] == pytest.approx(2 / 3) and asset["value"][59] == pytest.approx(1 / 3)
    # A video id spans assets; its duration is the median the players reported (60 s).
    assert video["total_views"] == 3 and video["value"][45] == pytest.approx(2 / 3)
    assert pb1["total_views"] == 1 and pb1["value"] == [1.0] * 60
    assert pb2["total_views"] == 1 and sum(pb2["value"]) == 30


def test_timeframe_selects_by_view_start_and_reports_the_window(server):
    tenant = server.tenant()
    with server.client(tenant) as c:
        post_views(c, [view("old", [[0, 1000]], asset_id="a", start_ms=NOW_MS - 3 * DAY_MS),
                       view("new", [[0, 1000]], asset_id="a", start_ms=NOW_MS - 3_600_000)])
        assert heatmap(c, "assets/a", **{"timeframe[]": "24:hours"})["data"]["total_views"] == 1
        assert heatmap(c, "assets/a", **{"timeframe[]": "7:days"})["data"]["total_views"] == 2
        assert heatmap(c, "assets/a")["data"]["total_views"] == 2  # default: 7 days
        start, end = (NOW_MS - 4 * DAY_MS) // 1000, (NOW_MS - 2 * DAY_MS) // 1000
        body = c.get("/data/v1/engagement/assets/a/heatmap", params=[("timeframe[]", start), ("timeframe[]", end)]).json()
        assert body["timeframe"] == [start, end] and body["data"]["total_views"] == 1
        # A start that is exactly a view's start includes it; an end that equals it excludes it.
        s = (NOW_MS - 3 * DAY_MS) // 1000
        assert heatmap(c, "assets/a", **{"timeframe[]": [s - 10, s]})["data"]["total_views"] == 0
        assert heatmap(c, "assets/a", **{"timeframe[]": "90:minutes"})["data"]["total_views"] == 1
        assert heatmap(c, "assets/a", **{"timeframe[]": "1:week"})["data"]["total_views"] == 2


def test_window_is_clamped_to_retention(server):
    tenant = server.tenant(retention_days=2)
    with server.client(tenant) as c:
        post_views(c, [view("old", [[0, 1000]], asset_id="a", start_ms=NOW_MS - 3 * DAY_MS),
                       view("new", [[0, 1000]], asset_id="a")])
        body = heatmap(c, "assets/a", **{"timeframe[]": "30:days"})
    now_s = time.time()
    assert body["data"]["total_views"] == 1
    assert body["timeframe"][0] == pytest.approx(now_s - 2 * 86_400, abs=5)
    assert body["timeframe"][1] == pytest.approx(now_s, abs=5)


def test_incomplete_views_wait_for_their_end_or_the_idle_timeout(start_server):
    server = start_server(idle_timeout_s=1.5)
    tenant = server.tenant()
    with server.client(tenant) as c:
        post_views(c, [view("done", [[0, 60_000]], asset_id="a"), view("live", [[0, 30_000]], asset_id="a", end=False)])
        assert heatmap(c, "assets/a")["data"]["total_views"] == 1
        time.sleep(2.7)  # the idle rule is applied at whole seconds (results are cached per second)
        assert heatmap(c, "assets/a")["data"]["total_views"] == 2
        # An update to an in-progress view restarts its idle clock.
        post_views(c, [view("live", [[0, 40_000]], asset_id="a", end=False)])
        assert heatmap(c, "assets/a")["data"]["total_views"] == 1
        post_views(c, [view("live", [[0, 40_000]], asset_id="a")])
        assert heatmap(c, "assets/a")["data"]["total_views"] == 2


def test_old_sdk_views_are_stored_but_left_out(server):
    tenant = server.tenant()
    with server.client(tenant) as c:
        post_views(c, [view("old-sdk", [[0, 60_000]], asset_id="a", sdk_name="mux-embed", sdk_version="5.14.9"),
                       view("new-sdk", [[0, 30_000]], asset_id="a", sdk_name="mux-embed", sdk_version="5.15.0"),
                       view("other", [[0, 30_000]], asset_id="a", sdk_name="my-player", sdk_version="0.1")])
        assert heatmap(c, "assets/a")["data"]["total_views"] == 2
    assert server.store.scope_exists(tenant.environment_id, Scope.ASSET, "a")


def test_idempotent_by_view_id_and_later_version_replaces(server):
    tenant = server.tenant()
    with server.client(tenant) as c:
        first = [view("v1", [[0, 60_000]], asset_id="a")]
        post_views(c, first)
        post_views(c, first)
        assert heatmap(c, "assets/a")["data"]["total_views"] == 1
        post_views(c, [view("v1", [[0, 30_000]], asset_id="a")])
        body = heatmap(c, "assets/a")["data"]
    assert body["total_views"] == 1 and sum(body["value"]) == 30


def test_no_views_in_window_is_empty_not_an_error(server):
    tenant = server.tenant()
    with server.client(tenant) as c:
        c.put("/v1/assets/registered", json={"duration_ms": 10_000})
        body = heatmap(c, "assets/registered")
        spots = c.get("/data/v1/engagement/assets/registered/hotspots").json()
    assert body == {"total_row_count": 0, "timeframe": body["timeframe"],
                    "data": {"total_views": 0, "value": [], "duration_ms": 10_000}}
    assert spots["total_row_count"] == 0 and spots["data"] == {"total_views": 0, "hotspots": []}


def test_hotspot_ordering_and_limit(server):
    from moments.lab.simulate import Audience, Moment, Scenario, simulate_views

    tenant = server.tenant()
    audience = Audience(duration_ms=120_000, n_views=3000, hazard_per_minute=0.3, seed=5,
                        moments=(Moment(30_000, 42_000, "peak", 0.4), Moment(80_000, 95_000, "valley", 0.5)))
    views = simulate_views(audience, Scenario(asset_id="movie", start_ms=NOW_MS - DAY_MS, span_ms=3_600_000))
    server.store.upsert_views(tenant.environment_id, views, NOW_MS)
    with server.client(tenant) as c:
        desc = c.get("/data/v1/engagement/assets/movie/hotspots").json()
        asc = c.get("/data/v1/engagement/assets/movie/hotspots", params={"order_direction": "asc"}).json()
        top = c.get("/data/v1/engagement/assets/movie/hotspots",
                    params={"limit": 1, "order_direction": "desc", "order_by": "score"}).json()
    scores = [h["score"] for h in desc["data"]["hotspots"]]
    assert desc["total_row_count"] == 2 and scores == sorted(scores, reverse=True)
    assert scores[0] > 0.5 > scores[1]
    assert asc["data"]["hotspots"] == desc["data"]["hotspots"][::-1]
    assert top["total_row_count"] == 2 and top["data"]["hotspots"] == desc["data"]["hotspots"][:1]
    assert desc["data"]["total_views"] == 3000


# --- authentication, permissions, tenancy ------------------------------------------------

def test_wrong_secret_and_missing_credentials_are_401(server):
    tenant = server.tenant()
    with server.client() as c:
        for auth in [(tenant.token_id, "wrong"), ("nobody", "x"), None]:
            response = c.get("/data/v1/engagement/assets/a/heatmap", auth=auth)
            assert response.status_code == 401
            assert response.json()["error"]["type"] == "unauthorized"
            assert response.headers["www-authenticate"].startswith("Basic")


def test_bearer_auth_works(server):
    tenant = server.tenant()
    with server.client() as c:
        headers = {"Authorization": f"Bearer {tenant.token_id}:{tenant.token_secret}"}
        assert c.put("/v1/assets/a", json={"duration_ms": 1000}, headers=headers).status_code == 200
        assert c.get("/v1/assets/a", headers=headers).json()["data"]["duration_ms"] == 1000


def test_read_token_cannot_write(server):
    from moments import accounts

    tenant = server.tenant()
    reader = accounts.issue_token(server.store, tenant.environment_id, ("read",))
    with server.client() as c:
        auth = (reader.token.token_id, reader.secret)
        response = c.post("/v1/views", json=[view("v", [[0, 1000]], asset_id="a")], auth=auth)
        assert response.status_code == 403 and response.json()["error"]["type"] == "forbidden"
        assert c.put("/v1/assets/a", json={"duration_ms": 1000}, auth=auth).status_code == 403
    assert not server.store.scope_exists(tenant.environment_id, Scope.ASSET, "a")


def test_other_environment_sees_404_identical_to_missing(server):
    a, b = server.tenant("a"), server.tenant("b")
    with server.client(a) as c:
        c.put("/v1/assets/secret-asset", json={"duration_ms": 60_000, "playback_ids": ["secretpb"]})
        post_views(c, [view("v", [[0, 60_000]], asset_id="secret-asset", video_id="secret-video")])
    with server.client(b) as c:
        for path in ("assets/secret-asset", "videos/secret-video", "playback-ids/secretpb"):
            for kind in ("heatmap", "hotspots"):
                theirs = c.get(f"/data/v1/engagement/{path}/{kind}")
                missing = c.get(f"/data/v1/engagement/{path.split('/')[0]}/does-not-exist/{kind}")
                assert theirs.status_code == missing.status_code == 404
                assert theirs.content == missing.content
                assert theirs.json()["error"]["type"] == "not_found"
        assert c.get("/v1/assets/secret-asset").content == c.get("/v1/assets/nope").content
        # Writing the same ids in B never touches A's data.
        post_views(c, [view("v", [[0, 1000]], asset_id="secret-asset")])
    with server.client(a) as c:
        assert sum(heatmap(c, "assets/secret-asset")["data"]["value"]) == 60


# --- rate limit -------------------------------------------------------------------------

def test_burst_beyond_the_bucket_gets_429_and_server_stays_healthy(server):
    limited = server.tenant("limited", rate_limit_per_s=1.0, rate_limit_burst=5)
    other = server.tenant("other")
    with server.client(limited) as c:
        c.put("/v1/assets/a", json={"duration_ms": 1000})
        responses = [c.get("/data/v1/engagement/assets/a/heatmap") for _ in range(12)]
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) <= 6 and statuses.count(429) >= 6
    assert statuses[:4] == [200] * 4
    ok = next(r for r in responses if r.status_code == 200)
    assert ok.headers["x-ratelimit-limit"] == "5" and "x-ratelimit-remaining" in ok.headers
    rejected = next(r for r in responses if r.status_code == 429)
    assert rejected.json() == {"errors": ["Too many requests, retry later."]}
    assert rejected.headers["x-ratelimit-remaining"] == "0" and int(rejected.headers["retry-after"]) >= 1
    with server.client(other) as c:
        c.put("/v1/assets/a", json={"duration_ms": 1000})
        assert c.get("/data/v1/engagement/assets/a/heatmap").status_code == 200  # other tenants unaffected
        assert c.get("/healthz").json()["status"] == "ok"
    time.sleep(1.1)
    with server.client(limited) as c:
        assert c.get("/data/v1/engagement/assets/a/heatmap").status_code == 200


# --- bad input --------------------------------------------------------------------------

def stored_view_count(server) -> int:
    with server.store._lock:
        return server.store._exec("SELECT count(*) FROM views")[0][0]


BAD_QUERIES = [
    ("assets/a/heatmap", {"timeframe[]": "banana"}, "timeframe"),
    ("assets/a/heatmap", {"timeframe[]": ["2", "1"]}, "timeframe"),
    ("assets/a/heatmap", {"timeframe[]": ["1", "2", "3"]}, "timeframe"),
    ("assets/a/heatmap", {"timeframe[]": "0:days"}, "timeframe"),
    ("assets/a/heatmap", {"timeframe[]": ["1795600000000", "1795700000000"]}, "timeframe"),
    ("assets/a/heatmap", {"timeframe[]": "99999999999999999999:days"}, "timeframe"),
    ("assets/a/hotspots", {"limit": "-1"}, "limit"),
    ("assets/a/hotspots", {"limit": "0"}, "limit"),
    ("assets/a/hotspots", {"limit": "1e3"}, "limit"),
    ("assets/a/hotspots", {"order_direction": "up"}, "order_direction"),
    ("assets/a/hotspots", {"order_by": "views"}, "order_by"),
    ("assets/a/heatmap", {"limit": "3"}, "limit"),
    ("assets/a/heatmap", {"filterz": "x"}, "filterz"),
    ("assets/a%2Fb/heatmap", {}, "asset id"),
    ("playback-ids/a%2Fb/heatmap", {}, "playback ID id"),
    ("assets/" + "x" * 10_000 + "/heatmap", {}, "asset id"),
    ("videos/" + "x" * 129 + "/hotspots", {}, "video id"),
    ("assets/%00/heatmap", {}, "asset id"),
]


@pytest.mark.parametrize("path, params, named", BAD_QUERIES)
def test_malformed_queries_are_400_naming_the_parameter(server, path, params, named):
    tenant = server.tenant()
    with server.client(tenant) as c:
        c.put("/v1/assets/a", json={"duration_ms": 1000})
        response = c.get(f"/data/v1/engagement/{path}", params=params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_parameters" and named in " ".join(error["messages"])


def test_video_ids_may_hold_slashes_and_spaces(server):
    tenant = server.tenant()
    with server.client(tenant) as c:
        post_views(c, [view("v", [[0, 60_000]], video_id="series/1 ep 2")])
        assert heatmap(c, "videos/series%2F1%20ep%202")["data"]["total_views"] == 1


BAD_BODIES = [
    (b'[{"view_id": "x"', "application/json"),
    (b"not json at all", "application/json"),
    (b'{"view_id": NaN}', "application/json"),
    (b"\xff\xfe", "application/json"),
    (b"[" * 100_000 + b"]" * 100_000, "application/json"),
]


@pytest.mark.parametrize("body, content_type", BAD_BODIES)
def test_unreadable_import_bodies_are_400_and_store_nothing(server, body, content_type):
    tenant = server.tenant()
    with server.client(tenant) as c:
        response = c.post("/v1/views", content=body, headers={"content-type": content_type})
        assert response.status_code == 400
        assert response.json()["error"]["type"] == "invalid_parameters"
        assert c.get("/healthz").status_code == 200
    assert stored_view_count(server) == 0


BAD_VIEWS = [
    {"view_id": 5},
    {"view_id": "x" * 10_240},
    {"asset_id": "has/slash"},
    {"asset_id": None, "video_id": None, "playback_id": None},
    {"view_start": "yesterday"},
    {"view_start": 10**30},
    {"view_start": True},
    {"duration_ms": 0},
    {"duration_ms": "60000"},
    {"duration_ms": 1e308},
    {"ranges": [[0, "__HUGE__"]]},  # sent as the JSON number 1e400
    {"ranges": [[0, 10**30]]},
    {"ranges": [[5, 5]]},
    {"ranges": [[9, 3]]},
    {"ranges": [[-5, 3]]},
    {"ranges": [[0, 1000]] * 10_001},
    {"view_end": 0},
    {"country": ["US"]},
    {"surprise": 1},
]


def test_bad_views_are_rejected_one_by_one_and_good_ones_stored(server):
    tenant = server.tenant()
    base = view("good", [[0, 1000]], asset_id="a")
    bad = [{**base, "view_id": f"bad{i}", **change} for i, change in enumerate(BAD_VIEWS)]
    body = json.dumps([base] + bad).replace('"__HUGE__"', "1e400")
    with server.client(tenant) as c:
        response = c.post("/v1/views", content=body, headers={"content-type": "application/json"})
    result = response.json()["data"]
    assert result["accepted"] == 1
    assert [r["index"] for r in result["rejected"]] == list(range(1, len(BAD_VIEWS) + 1))
    assert all(r["messages"] for r in result["rejected"])
    assert stored_view_count(server) == 1


def test_ndjson_with_a_broken_line(server):
    tenant = server.tenant()
    lines = [view("v1", [[0, 1000]], asset_id="a"), view("v2", [[0, 1000]], asset_id="a")]
    body = json.dumps(lines[0]) + "\n{broken\n" + json.dumps(lines[1]) + "\n"
    with server.client(tenant) as c:
        response = c.post("/v1/views", content=body, headers={"content-type": "application/x-ndjson"})
    data = response.json()["data"]
    assert data["accepted"] == 2 and data["rejected"][0]["index"] == 1
    assert "line 2" in data["rejected"][0]["messages"][0]


def test_oversized_body_is_413(start_server):
    server = start_server(max_import_bytes=10_000)
    tenant = server.tenant()
    with server.client(tenant) as c:
        response = c.post("/v1/views", content=b"[" + b" " * 20_000 + b"]", headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.json()["error"]["messages"]
    assert stored_view_count(server) == 0


def test_bad_asset_bodies(server):
    tenant = server.tenant()
    with server.client(tenant) as c:
        for body in [{"duration_ms": -1}, {"duration_ms": "1"}, {"playback_ids": "p"}, {"duration_ms": 1, "x": 1},
                     {"duration_ms": 1, "playback_ids": ["a/b"]}, {"duration_ms": 1, "playback_url": "ftp://x"}]:
            response = c.put("/v1/assets/a", json=body)
            assert response.status_code == 400, body
        c.put("/v1/assets/a", json={"duration_ms": 1, "playback_ids": ["p"]})
        taken = c.put("/v1/assets/b", json={"duration_ms": 1, "playback_ids": ["p"]})
        assert taken.status_code == 400 and "another asset" in taken.json()["error"]["messages"][0]
        assert c.get("/v1/assets/b").status_code == 404


def test_openapi_and_docs_are_served(server):
    with server.client() as c:
        spec = c.get("/openapi.json").json()
        assert "/data/v1/engagement/assets/{scope_id}/heatmap" in spec["paths"]
        assert "/v1/views" in spec["paths"]
        assert c.get("/docs").status_code == 200


def test_unknown_route_is_a_mux_shaped_404(server):
    with server.client() as c:
        response = c.get("/data/v1/nothing")
    assert response.status_code == 404 and response.json()["error"]["type"] == "not_found"
