"""The captured mux-embed 5.19.0 sessions in tests/fixtures (see its README), replayed
against a live server, and the query window that holds what a replay stored.

The collector moves a view's times by `received_at - transmission_timestamp` (the client's
clock skew), so a replayed view lands at the replay's own time, not at the capture's: every
window here is derived from the stored views, never written as epoch literals.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from moments.ingestion.assembler import apply_records
from moments.ingestion.beacons import decode_body
from moments.ingestion.collector import env_keys_of, route
from moments.ingestion.journal import Record
from moments.ingestion.useragent import client_from_headers
from moments.model import View

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "mux-embed-5.19.0"
SCENARIOS = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())
FORWARDED_HEADERS = {"content-type", "user-agent", "origin", "referer", "sec-ch-ua-mobile", "sec-fetch-mode"}


def captured_requests(scenario: str) -> list[dict]:
    return json.loads((FIXTURES / scenario / "requests.raw.json").read_text())


def expected_views(scenario: str) -> dict[str, list[list[int]]]:
    views = json.loads((FIXTURES / scenario / "views.json").read_text())
    return {v["view_id"]: v["final_video_playback_ranges_ms"] for v in views}


def replay(client, requests: list[dict], path: str = "/") -> None:
    """POST each captured request in turn (each must be acknowledged), then wait until the
    server has built views from all of them."""
    for request in requests:
        headers = {k: v for k, v in request["headers"] if k.lower() in FORWARDED_HEADERS}
        response = client.post(path, content=request["body"].encode(), headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["access-control-allow-origin"] == "*"
    wait_for_ingest(client)


def wait_for_ingest(client, timeout_s: float = 30) -> None:
    """Until every acknowledged beacon is applied to the store (/healthz's ingest backlog is 0)."""
    deadline = time.monotonic() + timeout_s
    while (ingest := client.get("/healthz").json()["ingest"])["backlog_bytes"] > 0:
        assert time.monotonic() < deadline, f"beacons not applied after {timeout_s} s: {ingest}"
        time.sleep(0.01)


def stored_window(views: list[View]) -> list[str]:
    """`timeframe[]` epoch seconds around the stored views (a second of margin each side)."""
    start = min(v.view_start_ms for v in views) // 1000 - 1
    end = max(v.view_end_ms or v.last_event_ms for v in views) // 1000 + 2
    return [str(start), str(end)]


def ingest(store, body: bytes, received_at_ms: int) -> None:
    """One beacon POST taken in and applied at once, with no server: the door's routing and
    the assembler's apply step, at a receive time the test chooses."""
    envelope = decode_body(body)
    environments = {key: store.environment_by_env_key(key) for key in env_keys_of(envelope)}
    routed = route(envelope, environments, client_from_headers("", ""), received_at_ms)
    apply_records(store, [Record(received_at_ms, routed.payload())])
