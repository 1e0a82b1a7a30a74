"""End to end in a real browser: Debian's Chromium plays a local video, the real Mux Data SDKs
beacon to the live collector, and the Engagement API shows the watched pattern.

- `mux-embed` 5.19.0 monitoring a plain <video> (tests/browser/video.html);
- `<mux-player>` 3.14.0 playing the same local mp4 as a non-Mux `src` (tests/browser/player.html).

Both pages load the SDKs from tests/browser/node_modules (`npm ci` on demand; no CDN) and run
tests/browser/watch.js: play from 0 at 2x, seek forward 6 -> 15 s, play to 20 s, seek back to
3 s, play to 5 s, pause, wait, end the view. The page logs currentTime at every command and the
expected heatmap is derived from that log. The collector is reached as `localhost:PORT`
because mux-embed uses plain http only for localhost.

Needs /usr/bin/chromium, ffmpeg, Node.js/npm and the `playwright` Python package (driving the
system Chromium; no downloaded browsers). A missing tool is a failure, not a skip.
Screenshots and a JSON record of each run go to artifacts/browser/.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from pathlib import Path
from typing import Iterator
from urllib.parse import urlencode, urlsplit

import pytest

from moments.ingestion.beacons import decode_body

from captures import wait_for_ingest
from chromium import ARTIFACTS as ALL_ARTIFACTS
from chromium import StaticSite, artifact_dir, make_test_video
from conftest import Server
from npm import ensure_node_modules

BROWSER_DIR = Path(__file__).parent / "browser"
ARTIFACTS = ALL_ARTIFACTS / "browser"
MUX_EMBED_VERSION = "5.19.0"
MUX_PLAYER_VERSION = "3.14.0"
# @mux/mux-player 3.14.0's self-contained bundle (dist/mux-player.js) carries its own copy of
# mux-embed, built in: 5.18.1, not the 5.19.0 that npm installs next to it.
MUX_PLAYER_BUNDLED_EMBED_VERSION = "5.18.1"
# The one request that tries to leave the machine: in any Chrome, castable-video (inside
# mux-player; there is no attribute to turn it off) injects Google's Cast sender SDK. The test
# aborts it; playback and beacons do not depend on it.
CAST_SENDER = "https://www.gstatic.com/cv/js/sender/v1/cast_sender.js?loadCastFramework=1"

VIDEO_SECONDS = 30
PLAN = {"rate": 2, "seekAt": 6, "seekTo": 15, "seekBackAt": 20, "seekBackTo": 3, "pauseAt": 5,
        "settleMs": 1000, "timeoutMs": 15000}
# Media seconds an SDK range edge may sit away from the commanded position: a 25 ms SDK tick
# is 50 ms of media at 2x, and Chromium reports the playhead late by up to a frame or two.
EDGE_TOLERANCE_S = 0.3
WATCHED_MIN = 0.9


# ---------------------------------------------------------------------------------------
# Session fixtures: npm packages, a test video, a static site, the browser


@pytest.fixture(scope="session")
def node_modules() -> None:
    ensure_node_modules(BROWSER_DIR, {"mux-embed": MUX_EMBED_VERSION, "@mux/mux-player": MUX_PLAYER_VERSION})


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    """A 30 s test mp4 (chromium.make_test_video)."""
    folder = tmp_path_factory.mktemp("media")
    make_test_video(folder / "test.mp4", VIDEO_SECONDS)
    return folder


@pytest.fixture(scope="session")
def site(node_modules, media_dir) -> Iterator[str]:
    """The pages (tests/browser, with its node_modules) and /media, with Range support."""
    static = StaticSite({"/media": media_dir, "/": BROWSER_DIR})
    static.check_range_requests("/media/test.mp4")
    yield static.base_url
    static.stop()


# ---------------------------------------------------------------------------------------
# Running one page


def watch_in_browser(browser, site: str, page_name: str, server: Server, env_key: str, video_id: str,
                     artifact: str) -> dict:
    """Open the page, run the watch pattern, wait until the collector has the viewend.

    Returns the page's command log, the beacons the browser sent (parsed) and any request
    that tried to leave the machine."""
    collector = f"localhost:{urlsplit(server.base_url).port}"
    query = urlencode({"collector": collector, "env_key": env_key, "video_id": video_id,
                       "src": f"{site}/media/test.mp4"})
    context = browser.new_context(viewport={"width": 800, "height": 600})
    beacons, failed, external, console = [], [], [], []

    def route(r):
        host = urlsplit(r.request.url).hostname
        if r.request.url.startswith(("http://", "https://")) and host not in ("127.0.0.1", "localhost"):
            external.append(r.request.url)
            r.abort()
        else:
            r.continue_()

    def on_request(request):
        if request.method == "POST" and request.url.rstrip("/") == f"http://{collector}":
            beacons.append(request.post_data)

    context.route("**/*", route)
    page = context.new_page()
    page.on("request", on_request)
    page.on("requestfailed", lambda r: failed.append(f"{r.url} {r.failure}"))
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    record = {"page": page_name, "video_id": video_id, "log": None, "beacon_bodies": beacons,
              "external_requests": external, "failed_requests": failed, "console": console}
    artifact_dir("browser")
    print(f"\nbrowser artifacts: {ARTIFACTS / artifact}.png, .json")
    try:
        page.goto(f"{site}/{page_name}?{query}")
        run = page.evaluate("plan => window.e2e(plan)", PLAN)
        record["log"] = run["log"]
        assert not run["errors"], run["errors"]
        wait_for_viewend(server, page, console)
    finally:
        page.screenshot(path=str(ARTIFACTS / f"{artifact}.png"))
        context.close()
        save_record(artifact, record)
    record["events"] = [e for body in beacons if body for e in decode_body(body.encode()).events]
    return record


def metric(text: str, name: str) -> float:
    return next(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))


def wait_for_viewend(server: Server, page, console: list[str], timeout_s: float = 15) -> None:
    """Poll /metrics until the view is completed. Waits with page.wait_for_timeout, not
    time.sleep: Playwright runs the route handler (which passes each beacon on) only while the
    test is inside a Playwright call."""
    deadline = time.time() + timeout_s
    with server.client() as c:
        while (completed := metric(c.get("/metrics").text, "moments_views_completed_total")) < 1:
            assert time.time() < deadline, "the collector never got a viewend\n" + "\n".join(console[-30:])
            page.wait_for_timeout(100)
    assert completed == 1


# ---------------------------------------------------------------------------------------
# What the log says should be in the heatmap


def commanded_ranges(log: list[dict]) -> list[tuple[float, float]]:
    """The media-time intervals played, from the currentTime at each command (seconds)."""
    commands = [e["command"] for e in log]
    assert commands == ["play", "seek", "seek", "pause", "end_view"], commands
    play, seek, seek_back, pause = log[:4]
    assert play["current_time"] < 0.1, play
    return [(play["current_time"], seek["current_time"]), (seek["to"], seek_back["current_time"]),
            (seek_back["to"], pause["current_time"])]


def union(ranges: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[list[float]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


def check_heatmap(values: list[float], duration_s: float, played: list[tuple[float, float]]) -> None:
    """Against the commanded stretches: a bucket fully watched is >= 0.9, a bucket fully skipped
    is exactly 0, none is above 1. One bucket of slack at each edge: the bucket holding it."""
    watched = union(played)
    edges = [x for stretch in watched for x in stretch]
    assert len(values) == math.ceil(duration_s) == VIDEO_SECONDS, (len(values), duration_s)
    width = duration_s / len(values)
    slack = {min(int(x // width), len(values) - 1) for x in edges}
    checked_watched = checked_skipped = 0
    for i, value in enumerate(values):
        lo, hi = i * width, (i + 1) * width
        assert 0 <= value <= 1, (i, value)
        if i in slack:
            continue
        expected = sum(max(0.0, min(hi, e) - max(lo, s)) for s, e in watched) / width
        if expected >= 1 - 1e-9:
            assert value >= WATCHED_MIN, f"bucket {i} [{lo:.1f}, {hi:.1f}) s was watched: {value}\n{values}"
            checked_watched += 1
        else:
            assert expected == 0, (i, expected, watched)  # only the bucket holding an edge is partly watched
            assert value == 0, f"bucket {i} [{lo:.1f}, {hi:.1f}) s was skipped: {value}\n{values}"
            checked_skipped += 1
    # [0, 6] + [15, 20] watched, (6, 15) + (20, 30] skipped: most buckets are checked.
    assert checked_watched >= 8 and checked_skipped >= 16, (checked_watched, checked_skipped, watched)
    # The rewatch of 3-5 s counts once: the heatmap's total is the union, not the sum.
    total_watched = sum(e - s for s, e in watched)
    assert abs(sum(values) * width - total_watched) <= len(edges) * EDGE_TOLERANCE_S, (sum(values), watched)


def check_stored_ranges(ranges: tuple[tuple[int, int], ...], played: list[tuple[float, float]]) -> None:
    """The SDK reports one range per commanded stretch (overlapping, unsorted), each within the
    tolerance of the commanded positions."""
    assert len(ranges) == len(played), (ranges, played)
    for (start_ms, end_ms), (start_s, end_s) in zip(ranges, played):
        assert abs(start_ms / 1000 - start_s) <= EDGE_TOLERANCE_S, (ranges, played)
        assert abs(end_ms / 1000 - end_s) <= EDGE_TOLERANCE_S, (ranges, played)


def run_and_check(browser, site: str, server: Server, page_name: str, artifact: str,
                  allowed_external: tuple[str, ...] = ()):
    """One view through the page; returns (tenant, view, folded beacon state, record)."""
    tenant = server.tenant("browser", env_key=f"e2e{uuid.uuid4().hex[:12]}")
    video_id = f"e2e-{artifact}-{uuid.uuid4().hex[:12]}"
    started_s = int(time.time())
    record = watch_in_browser(browser, site, page_name, server, tenant.env_key, video_id, artifact)
    # Everything else came from the machine (the pages, node_modules, the mp4, the collector).
    assert set(record["external_requests"]) <= set(allowed_external), record["external_requests"]
    assert [f for f in record["failed_requests"] if "localhost" in f and "ERR_ABORTED" not in f] == []
    played = commanded_ranges(record["log"])
    duration_s = record["log"][0]["duration"]

    # Every event the browser sent is for our env key and one view, and the store has exactly that view.
    view_ids = {e.get("view_id") for e in record["events"]}
    assert len(view_ids) == 1 and {e.get("env_key") for e in record["events"]} == {tenant.env_key}, view_ids
    (view_id,) = view_ids
    with server.client() as c:
        wait_for_ingest(c)
    with server.store._lock:
        stored = server.store._exec("SELECT view_id FROM view_folds WHERE environment_id = ?", [tenant.environment_id])
    assert [r[0] for r in stored] == [view_id]
    sent_names = [e.get("event") for e in record["events"]]
    assert sent_names.count("viewstart") == 1 and sent_names[-1] == "viewend", sent_names

    with server.client() as c:
        metrics = c.get("/metrics").text
    assert metric(metrics, "moments_views_opened_total") == 1
    assert metric(metrics, "moments_views_completed_total") == 1
    assert metric(metrics, "moments_beacon_unknown_env_key_events_total") == 0
    assert metric(metrics, "moments_beacon_rejected_bodies_total") == 0

    view = server.store.get_view(tenant.environment_id, view_id)
    assert view is not None and view.video_id == video_id and view.view_end_ms is not None
    assert view.duration_ms == math.floor(duration_s * 1000)
    assert view.reports_ranges and view.player_name == "e2e"
    assert view.browser == "HeadlessChrome" and view.os == "Linux"
    check_stored_ranges(view.ranges, played)

    with server.client(tenant) as c:
        response = c.get(f"/data/v1/engagement/videos/{video_id}/heatmap",
                         params={"timeframe[]": [str(started_s - 60), str(int(time.time()) + 60)]})
    assert response.status_code == 200, response.text
    body = response.json()
    # What the SDK said of itself, carried forward over the events it sent (each a delta).
    state = {k: v for e in sorted(record["events"], key=lambda e: e["view_sequence_number"]) for k, v in e.items()}
    save_record(artifact, {**record, "played_s": played, "stored_ranges_ms": view.ranges, "heatmap": body,
                           "sdk": {k: state.get(k) for k in SDK_FIELDS}})
    assert body["data"]["total_views"] == 1 and body["data"]["duration_ms"] == view.duration_ms
    check_heatmap(body["data"]["value"], duration_s, played)
    return tenant, view, state, record


SDK_FIELDS = ("mux_embed", "mux_embed_version", "player_software", "player_software_name",
              "player_software_version", "player_mux_plugin_name", "player_mux_plugin_version", "player_name")


def save_record(artifact: str, record: dict) -> None:
    (ARTIFACTS / f"{artifact}.json").write_text(json.dumps(record, indent=1, default=str))


# ---------------------------------------------------------------------------------------


def test_mux_embed_on_a_video_element(browser, site, server):
    _, view, state, _ = run_and_check(browser, site, server, "video.html", "mux-embed-video")
    assert (view.sdk_name, view.sdk_version) == ("mux-embed", MUX_EMBED_VERSION)
    assert (state["mux_embed"], state["mux_embed_version"]) == ("mux-embed", MUX_EMBED_VERSION)
    assert state["player_mux_plugin_name"] == "VideoElementMonitor"
    assert state["player_software"] == "HTML5 Video Element"


def test_mux_player_element(browser, site, server):
    _, view, state, _ = run_and_check(browser, site, server, "player.html", "mux-player",
                                      allowed_external=(CAST_SENDER,))
    # Mux Player names itself (outermost SDK first); the bundled mux-embed core tracks the ranges.
    assert (view.sdk_name, view.sdk_version) == ("mux-player", MUX_PLAYER_VERSION)
    assert (state["player_software_name"], state["player_software_version"]) == ("mux-player", MUX_PLAYER_VERSION)
    assert (state["mux_embed"], state["mux_embed_version"]) == ("mux-embed", MUX_PLAYER_BUNDLED_EMBED_VERSION)
    assert state["video_source_url"].endswith("/media/test.mp4")
    assert view.playback_id is None  # a non-Mux source has no playback ID
