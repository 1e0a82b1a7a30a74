"""The beacon collector against real mux-embed 5.19.0 captures (tests/fixtures)."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import numpy as np
import pytest

from moments.engagement.heatmap import heatmap as heatmap_math
from moments.ingestion.beacons import decode_body, expand_key
from moments.ingestion.folds import ViewFold, fold_events
from moments.model import RangeSet
from moments.store.duckdb import DuckDBStore

from captures import FIXTURES, SCENARIOS, captured_requests, expected_views, replay, stored_window, wait_for_ingest
from conftest import start_app

def expected_heatmap(ranges_per_view: list[list[list[int]]], duration_ms: int) -> np.ndarray:
    index = [i for i, ranges in enumerate(ranges_per_view) for _ in ranges]
    flat = [pair for ranges in ranges_per_view for pair in ranges]
    return heatmap_math(RangeSet(len(ranges_per_view), np.array(index), np.array([s for s, _ in flat]),
                                 np.array([e for _, e in flat]), np.zeros(len(ranges_per_view))), duration_ms)


def check_views(server, tenant, scenario: str) -> None:
    expected = expected_views(scenario)
    for view_id, ranges in expected.items():
        view = server.store.get_view(tenant.environment_id, view_id)
        assert view is not None, view_id
        assert [list(r) for r in view.ranges] == ranges
        assert view.view_end_ms is not None and view.duration_ms == 60_000
        assert (view.sdk_name, view.sdk_version) == ("mux-embed", "5.19.0") and view.reports_ranges
        assert view.browser == "HeadlessChrome" and view.os == "Linux" and view.player_name == "test"
    by_video: dict[str, list] = {}
    stored = [server.store.get_view(tenant.environment_id, view_id) for view_id in expected]
    for view, ranges in zip(stored, expected.values()):
        by_video.setdefault(view.video_id, []).append(ranges)
    with server.client(tenant) as c:
        for video_id, ranges in by_video.items():
            body = c.get(f"/data/v1/engagement/videos/{video_id}/heatmap",
                         params={"timeframe[]": stored_window(stored)}).json()
            assert body["data"]["total_views"] == len(ranges)
            np.testing.assert_allclose(body["data"]["value"], expected_heatmap(ranges, 60_000), atol=1e-12)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_replay_in_order(server, scenario):
    tenant = server.tenant(env_key="testenv")
    with server.client() as c:
        replay(c, captured_requests(scenario))
    check_views(server, tenant, scenario)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_replay_shuffled_and_twice_gives_the_same_views(server, scenario):
    tenant = server.tenant(env_key="testenv")
    requests = captured_requests(scenario) * 2
    random.Random(scenario).shuffle(requests)
    with server.client() as c:
        replay(c, requests)
        metrics = c.get("/metrics").text
    check_views(server, tenant, scenario)
    if requests:
        assert metric(metrics, "moments_beacon_duplicate_events_total") >= len(requests) // 2


def stored_rows(store) -> tuple[int, int]:
    """(views, view folds) in the whole file."""
    with store._lock:
        return store._exec("SELECT (SELECT count(*) FROM views), (SELECT count(*) FROM view_folds)")[0]


def metric(text: str, name: str) -> float:
    return next(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))


def test_views_survive_a_restart_mid_view(db_path, start_server, store):
    requests = captured_requests("seek-rewatch-destroy")
    first = start_server()
    tenant = first.tenant(env_key="testenv")
    with first.client() as c:
        replay(c, requests[:2])
    first.stop()
    store.close()
    reopened = DuckDBStore(str(db_path))  # a new process would see exactly this file
    second = start_app(reopened)
    try:
        with second.client() as c:
            replay(c, requests[2:])
        check_views(second, tenant, "seek-rewatch-destroy")
    finally:
        second.stop()
        reopened.close()


def test_configured_path_and_preflight(start_server):
    server = start_server(beacon_path="/mux/collect")
    tenant = server.tenant(env_key="testenv")
    with server.client() as c:
        preflight = c.options("/mux/collect", headers={"Origin": "http://example.com",
                                                       "Access-Control-Request-Method": "POST"})
        assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == "*"
        replay(c, captured_requests("paused-seek-destroy"), path="/mux/collect")
    check_views(server, tenant, "paused-seek-destroy")


def test_unknown_env_key_is_accepted_and_discarded(server):
    server.tenant(env_key="someoneelse")
    with server.client() as c:
        replay(c, captured_requests("seek-rewatch-destroy"))
        metrics = c.get("/metrics").text
    assert metric(metrics, "moments_beacon_unknown_env_key_events_total") == 23
    assert stored_rows(server.store) == (0, 0)


def test_get_root_leads_to_the_dashboard_and_post_root_still_collects(server):
    tenant = server.tenant(env_key="testenv")
    with server.client() as c:
        home = c.get("/")
        assert home.status_code == 307 and home.headers["location"] == "/dashboard/"
        assert "<title>" in c.get("/", follow_redirects=True).text  # the dashboard's page
        replay(c, captured_requests("seek-rewatch-destroy"))
    check_views(server, tenant, "seek-rewatch-destroy")


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b'{"events": 5}', b'{"events": [1, 2]}', b"\xff\xfe",
                                  b'{"events": [{"e": NaN}]}', b'{"events": [{"x": ' + b"[" * 50 + b"]" * 50 + b'}]}'])
def test_malformed_bodies_are_400_with_cors_and_change_nothing(server, body):
    server.tenant(env_key="testenv")
    with server.client() as c:
        response = c.post("/", content=body, headers={"content-type": "text/plain"})
        assert response.status_code == 400 and response.headers["access-control-allow-origin"] == "*"
        assert metric(c.get("/metrics").text, "moments_beacon_rejected_bodies_total") == 1
        wait_for_ingest(c)
    assert stored_rows(server.store) == (0, 0)


def test_sdk_older_than_the_minimum_is_stored_not_counted(server):
    tenant = server.tenant(env_key="testenv")
    requests = captured_requests("seek-rewatch-destroy")
    for request in requests:
        request["body"] = request["body"].replace('"memve":"5.19.0"', '"memve":"5.14.0"').replace(
            '"pmxpive":"5.19.0"', '"pmxpive":"5.14.0"')
    with server.client() as c:
        replay(c, requests)
    (view_id,) = expected_views("seek-rewatch-destroy")
    view = server.store.get_view(tenant.environment_id, view_id)
    assert view is not None and view.sdk_version == "5.14.0" and not view.reports_ranges
    with server.client(tenant) as c:
        assert c.get("/data/v1/engagement/videos/vid-1/heatmap",
                     params={"timeframe[]": stored_window([view])}).json()["data"]["total_views"] == 0


def test_live_and_mux_stream_urls():
    from moments.ingestion.views import assemble, playback_id_from_url
    from moments.model import BeaconEvent

    assert playback_id_from_url("https://stream.mux.com/abc123XYZ.m3u8?token=t") == "abc123XYZ"
    assert playback_id_from_url("https://stream.mux.com/abc123XYZ/high.mp4") == "abc123XYZ"
    assert playback_id_from_url("https://stream.mux.com/abc123XYZ") == "abc123XYZ"
    assert playback_id_from_url("https://example.com/abc.m3u8") is None
    base = {"view_id": "v", "event": "viewstart", "view_start": 1795674926777, "viewer_time": 1795674926777,
            "video_source_url": "https://stream.mux.com/pb42.m3u8", "video_playback_range": '["0:5000"]',
            "mux_embed": "mux-embed", "mux_embed_version": "5.19.0", "video_source_duration": 60000}
    view = assemble([BeaconEvent("v", 1, "viewstart", base)])
    assert view.playback_id == "pb42" and view.reports_ranges and view.ranges == ((0, 5000),)
    live = assemble([BeaconEvent("v", 1, "viewstart", {**base, "video_source_is_live": True})])
    assert not live.reports_ranges


def test_key_expansion_over_the_verified_keys():
    # What the real SDK produced for each long key (fixtures/.../key-check.json), not the
    # package's own dictionary: the expansion is checked against the SDK, not against itself.
    checked = json.loads((FIXTURES / "key-check.json").read_text())["keys"]
    known = {key["short"]: key["long"] for key in checked}
    assert len(known) == 232
    assert {short: expand_key(short) for short in known} == known
    for short, long in [("c1", "custom_1"), ("c20", "custom_20"), ("browser_", "browser"),
                        ("browser_ve", "browser_version"), ("operating__system_ve", "operating_system_version"),
                        ("xnewfieldzz", "xnewfieldzz"), ("vid", "video_id")]:
        assert expand_key(short) == long


def test_expanded_captures_match_the_fixture_expansion():
    for scenario in SCENARIOS:
        raw = captured_requests(scenario)
        expanded = json.loads((FIXTURES / scenario / "requests.expanded.json").read_text())
        for request, reference in zip(raw, expanded):
            assert decode_body(request["body"].encode()).events == reference["body"]["events"]


def test_idle_views_are_closed_by_the_background_task(start_server):
    server = start_server(idle_timeout_s=1.0, finalize_interval_s=0.2)
    tenant = server.tenant(env_key="testenv")
    requests = captured_requests("seek-rewatch-destroy")
    (view_id,) = expected_views("seek-rewatch-destroy")
    without_viewend = [r for r in requests if '"e":"viewend"' not in r["body"]]
    assert len(without_viewend) < len(requests)
    with server.client() as c:
        replay(c, without_viewend)
        assert server.store.get_view(tenant.environment_id, view_id).view_end_ms is None
        deadline = time.time() + 5
        while server.store.get_view(tenant.environment_id, view_id).view_end_ms is None:
            assert time.time() < deadline, "idle view was never closed"
            time.sleep(0.1)
        # The housekeeping thread counts the views it closed once the store has closed them.
        while metric(c.get("/metrics").text, "moments_views_completed_total") == 0:
            assert time.time() < deadline, "the closed view was never counted"
            time.sleep(0.1)
        assert metric(c.get("/metrics").text, "moments_views_completed_total") == 1
    view = server.store.get_view(tenant.environment_id, view_id)
    assert view.view_end_ms == view.last_event_ms and view.view_end_ms > view.view_start_ms


def test_a_file_with_stored_beacon_events_gets_their_folds(db_path):
    """A file of schema version 5 kept every beacon event; opened now, each view's events
    become its fold, and the view goes on from there when the rest of its POSTs arrive."""
    import duckdb

    from moments.ingestion.views import event_key
    from moments.store.duckdb import migrations

    requests = captured_requests("seek-rewatch-destroy")
    events = [e for r in requests[:3] for e in decode_body(r["body"].encode()).events]
    old = duckdb.connect(str(db_path))
    old.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for version, sql in migrations()[:5]:
        old.execute(sql)
        old.execute("INSERT INTO schema_version VALUES (?)", [version])
    old.execute("INSERT INTO environments VALUES ('oldenv', 'old file', 'testenv', 100, 100, 100, 0)")
    old.executemany("INSERT OR IGNORE INTO beacon_events VALUES ('oldenv', ?, ?, ?, ?)",
                    [[e.view_id, e.sequence, e.name, json.dumps(e.fields)] for e in map(event_key, events)])
    old.close()

    store = DuckDBStore(str(db_path))
    (view_id,) = expected_views("seek-rewatch-destroy")
    fold = ViewFold.from_json(store.view_folds("oldenv", [view_id])[view_id])
    assert fold == fold_events(map(event_key, events)) and fold.events == len({e["view_sequence_number"] for e in events})
    with store._lock:
        assert not store._exec("SELECT * FROM duckdb_tables() WHERE table_name = 'beacon_events'")
    server = start_app(store)
    try:
        with server.client() as c:
            replay(c, requests)  # the first three again (duplicates now), then the rest
        view = store.get_view("oldenv", view_id)
        assert [list(r) for r in view.ranges] == expected_views("seek-rewatch-destroy")[view_id]
        assert view.view_end_ms is not None
    finally:
        server.stop()
        store.close()


def test_an_env_key_past_its_byte_budget_gets_429_and_others_go_on(start_server):
    """Bodies past an env key's byte budget are refused before they are decoded, with a
    Retry-After the SDK honours; another environment's beacons are not held up."""
    server = start_server(beacon_bytes_per_s=20_000, beacon_burst_bytes=60_000)
    flooder, other = server.tenant("flooder", env_key="floodkey"), server.tenant("other", env_key="testenv")
    body = captured_requests("seek-rewatch-destroy")[0]["body"].replace('"ake":"testenv"', '"ake":"floodkey"').encode()
    with server.client() as c:
        answers = [c.post("/", content=body, headers={"content-type": "text/plain"}) for _ in range(40)]
        refused = [a for a in answers if a.status_code == 429]
        assert refused and all(a.status_code in (200, 429) for a in answers)
        assert refused[0].headers["access-control-allow-origin"] == "*" and int(refused[0].headers["retry-after"]) >= 1
        assert refused[0].json()["error"]["type"] == "too_many_requests"
        assert metric(c.get("/metrics").text, "moments_beacon_over_budget_requests_total") == len(refused)
        replay(c, captured_requests("seek-rewatch-destroy"))  # the other environment: every POST 200
    check_views(server, other, "seek-rewatch-destroy")
