"""What a sender holding an env key (public in every page) cannot do through the beacon door:
change an imported view, or outrank a view's genuine events with one forged event. Real
captured mux-embed payloads against a real server and DuckDB file."""

from __future__ import annotations

import json
import time

from captures import captured_requests, expected_views, replay, wait_for_ingest
from test_collector import metric

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
