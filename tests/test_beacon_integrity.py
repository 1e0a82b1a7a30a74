"""What a sender holding an env key (public in every page) cannot do through the beacon door:
change an imported view, outrank a view's genuine events with one forged event, make many
views in one body, spend more than its address's budget, date a view past retention, or
send from a site its environment does not list.
Real captured mux-embed payloads against a real server and DuckDB file."""

from __future__ import annotations

import dataclasses
import json
import time

import httpx

from moments import accounts
from moments.api.door import ENVIRONMENTS_FILE, Published, publish_environments
from moments.ingestion.beacons import MAX_ENV_KEYS_PER_BODY, MAX_VIEWS_PER_BODY
from moments.model import Environment

from captures import captured_requests, expected_views, replay, wait_for_ingest
from test_collector import metric, stored_rows

SCENARIO = "seek-rewatch-destroy"


def forged_body(template: dict, **fields) -> bytes:
    """A captured request's body whose events all carry `fields` (mux-embed's short keys)."""
    body = json.loads(template["body"])
    for event in body["events"]:
        event.update(fields)
    return json.dumps(body).encode()


def test_a_beacon_cannot_change_an_imported_view(server):
    tenant = server.tenant(env_key="testenv")
    (view_id,) = expected_views(SCENARIO)
    now_ms = int(time.time() * 1000)
    imported = {"view_id": view_id, "asset_id": "asset-1", "playback_id": "pb1", "view_start": now_ms - 60_000,
                "view_end": now_ms, "duration_ms": 60_000, "ranges": [[0, 60_000]], "country": "NZ"}
    with server.client(tenant) as c:
        assert c.post("/v1/views", json=[imported]).status_code == 200
        before = server.store.get_view(tenant.environment_id, view_id)
        replay(c, captured_requests(SCENARIO))  # the same xid as the imported view
        assert server.store.get_view(tenant.environment_id, view_id) == before
        assert metric(c.get("/metrics").text, "moments_beacon_imported_view_events_total") > 0


def test_an_import_cannot_change_a_beacon_view(server):
    tenant = server.tenant(env_key="testenv")
    (view_id,) = expected_views(SCENARIO)
    with server.client(tenant) as c:
        replay(c, captured_requests(SCENARIO))
        before = server.store.get_view(tenant.environment_id, view_id)
        now_ms = int(time.time() * 1000)
        forged = {"view_id": view_id, "asset_id": "asset-1", "view_start": now_ms, "duration_ms": 60_000,
                  "ranges": [[0, 10]]}
        other = {**forged, "view_id": "imported-1"}
        for body, content_type in ((json.dumps([other, forged]), "application/json"),
                                   (f"{json.dumps(other)}\n{json.dumps(forged)}\n", "application/x-ndjson")):
            answer = c.post("/v1/views", content=body, headers={"content-type": content_type}).json()["data"]
            assert answer["accepted"] == 1 and answer["rejected_total"] == 1
            assert answer["rejected"][0]["index"] == 1 and "beacons" in answer["rejected"][0]["messages"][0]
    assert server.store.get_view(tenant.environment_id, view_id) == before


def test_one_event_numbered_far_ahead_cannot_outrank_the_genuine_ones(server):
    tenant = server.tenant(env_key="testenv")
    requests = captured_requests(SCENARIO)
    (view_id,) = expected_views(SCENARIO)
    # A tiny range, "live" (so the view would stop counting), numbered past anything genuine.
    poison = forged_body(requests[0], xsqno=2**31 - 1, vpbrg='["0:10"]', vsoisli=True)
    with server.client() as c:
        assert c.post("/", content=poison, headers={"content-type": "text/plain"}).status_code == 200
        replay(c, requests)
        assert c.post("/", content=poison, headers={"content-type": "text/plain"}).status_code == 200
        wait_for_ingest(c)
        refused = metric(c.get("/metrics").text, "moments_beacon_far_ahead_events_total")
    view = server.store.get_view(tenant.environment_id, view_id)
    assert view.reports_ranges and [list(r) for r in view.ranges] == expected_views(SCENARIO)[view_id]
    assert refused == 2 * len(json.loads(requests[0]["body"])["events"])


def test_a_body_naming_many_views_or_env_keys_is_refused_whole(server):
    server.tenant(env_key="testenv")
    template = json.loads(captured_requests(SCENARIO)[0]["body"])
    event = template["events"][0]
    many_views = {"events": [{**event, "xid": f"fake-{i}"} for i in range(MAX_VIEWS_PER_BODY + 1)]}
    many_keys = {"events": [{**event, "ake": f"key-{i}"} for i in range(MAX_ENV_KEYS_PER_BODY)] + [event]}
    with server.client() as c:
        for body in (many_views, many_keys):
            response = c.post("/", content=json.dumps(body).encode(), headers={"content-type": "text/plain"})
            assert response.status_code == 400 and "in one body" in response.json()["error"]["messages"][0]
        fine = {"events": [{**event, "xid": f"real-{i}"} for i in range(MAX_VIEWS_PER_BODY)]}
        assert c.post("/", content=json.dumps(fine).encode(), headers={"content-type": "text/plain"}).status_code == 200
        wait_for_ingest(c)
    assert stored_rows(server.store)[0] == MAX_VIEWS_PER_BODY


def test_one_client_address_past_its_byte_budget_gets_429_and_another_goes_on(start_server):
    server = start_server(beacon_address_bytes_per_s=1.0, beacon_address_burst_bytes=20_000)
    server.tenant(env_key="testenv")
    body = captured_requests(SCENARIO)[0]["body"].encode()
    headers = {"content-type": "text/plain", "x-forwarded-for": "203.0.113.9"}
    # 127.0.0.2 is no trusted proxy (uvicorn trusts 127.0.0.1): its X-Forwarded-For is ignored.
    with httpx.Client(base_url=server.base_url, transport=httpx.HTTPTransport(local_address="127.0.0.2")) as c:
        codes = [c.post("/", content=body, headers=headers).status_code for _ in range(20_000 // len(body) + 2)]
    assert codes[0] == 200 and codes[-1] == 429
    with server.client() as c:  # 127.0.0.1, a proxy forwarding another client
        assert c.post("/", content=body, headers=headers).status_code == 200


def test_a_view_start_in_the_future_is_clamped_to_its_arrival(server):
    tenant = server.tenant(env_key="testenv")
    requests = captured_requests(SCENARIO)
    for request in requests:
        request["body"] = forged_body(request, xst=4_000_000_000_000).decode()  # in 2096
    (view_id,) = expected_views(SCENARIO)
    before_ms = int(time.time() * 1000)
    with server.client() as c:
        replay(c, requests)
    view = server.store.get_view(tenant.environment_id, view_id)
    assert before_ms <= view.view_start_ms <= int(time.time() * 1000)


def test_an_environment_takes_beacons_only_from_its_allowed_origins(server):
    tenant = server.tenant(env_key="testenv")
    admin = accounts.issue_token(server.store, tenant.environment_id, ("admin",))
    requests = captured_requests(SCENARIO)  # sent from the page http://127.0.0.1:18081
    events = sum(len(json.loads(r["body"])["events"]) for r in requests)
    with server.client() as c:
        assert c.patch("/v1/environment", json={"allowed_origins": ["https://shop.example"]},
                       auth=tenant.auth).status_code == 403  # read+write is not admin
        bad = c.patch("/v1/environment", json={"allowed_origins": ["https://shop.example", "javascript:x"]},
                      auth=(admin.token.token_id, admin.secret))
        assert bad.status_code == 400 and "javascript:x" in bad.json()["error"]["messages"][0]
        changed = c.patch("/v1/environment", json={"allowed_origins": ["https://shop.example", "*.example.org"]},
                          auth=(admin.token.token_id, admin.secret))
        assert changed.status_code == 200
        assert c.get("/v1/environment", auth=tenant.auth).json()["data"]["allowed_origins"] == [
            "https://shop.example", "*.example.org"]
        replay(c, requests)
        assert stored_rows(server.store)[0] == 0
        assert metric(c.get("/metrics").text, "moments_beacon_refused_origin_events_total") == events
        body = requests[0]["body"].encode()
        for headers in ({}, {"origin": "null"}, {"origin": "https://example.org"}, {"referer": "https://evil.example/"}):
            assert c.post("/", content=body, headers=headers).status_code == 200
            wait_for_ingest(c)
            assert stored_rows(server.store)[0] == 0, headers
        for headers in ({"origin": "https://shop.example"}, {"referer": "https://www.example.org/watch?v=1"}):
            assert c.post("/", content=body, headers=headers).status_code == 200
        wait_for_ingest(c)
        assert stored_rows(server.store)[0] == 1


def test_door_processes_read_allowed_origins_fresh_from_the_published_file(tmp_path):
    environment = Environment("e1", "site", "key1", allowed_origins=("https://a.example",))
    publish_environments(tmp_path, [environment])
    published = Published(tmp_path / ENVIRONMENTS_FILE)
    assert published.lookup("key1") == environment and published.allowed_origins("e1") == ("https://a.example",)
    time.sleep(0.01)  # a new modification time
    publish_environments(tmp_path, [dataclasses.replace(environment, allowed_origins=())])
    assert published.allowed_origins("e1") == ()


def test_an_import_cannot_date_a_view_past_retention(server):
    tenant = server.tenant()
    day_ms = 86_400_000
    now_ms = int(time.time() * 1000)
    views = [{"view_id": f"v{i}", "asset_id": "a", "view_start": start, "duration_ms": 60_000, "ranges": [[0, 1000]]}
             for i, start in enumerate((now_ms + 2 * day_ms, 4_000_000_000_000, now_ms + day_ms // 2))]
    with server.client(tenant) as c:
        for body, content_type in ((json.dumps(views), "application/json"),
                                   ("\n".join(map(json.dumps, views)), "application/x-ndjson")):
            answer = c.post("/v1/views", content=body, headers={"content-type": content_type}).json()["data"]
            assert answer["accepted"] == 1 and [r["index"] for r in answer["rejected"]] == [0, 1]
            assert all("in the future" in r["messages"][0] for r in answer["rejected"])
    assert server.store.get_view(tenant.environment_id, "v0") is None
