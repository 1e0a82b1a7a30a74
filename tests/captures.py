"""The captured mux-embed 5.19.0 sessions in tests/fixtures (see its README), replayed
against a live server, and the query window that holds what a replay stored.

The collector moves a view's times by `received_at - transmission_timestamp` (the client's
clock skew), so a replayed view lands at the replay's own time, not at the capture's: every
window here is derived from the stored views, never written as epoch literals.
"""

from __future__ import annotations

import json
from pathlib import Path

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
    for request in requests:
        headers = {k: v for k, v in request["headers"] if k.lower() in FORWARDED_HEADERS}
        response = client.post(path, content=request["body"].encode(), headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["access-control-allow-origin"] == "*"


def stored_window(views: list[View]) -> list[str]:
    """`timeframe[]` epoch seconds around the stored views (a second of margin each side)."""
    start = min(v.view_start_ms for v in views) // 1000 - 1
    end = max(v.view_end_ms or v.last_event_ms for v in views) // 1000 + 2
    return [str(start), str(end)]
