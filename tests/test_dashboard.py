"""The dashboard (/dashboard/) in Debian's Chromium against a live server on the demo data.

Everything the page shows is checked against the API's own answers: the curve has one vertex
per heatmap bucket, the hotspot list is the API's hotspots, clicking seeks the player (an
ffmpeg-made mp4 registered as the demo trailer's playback_url; an HLS copy of it stands in for
stream.mux.com), and the downloads are the API's numbers. Error and empty states are driven by
real tokens and real servers. No request may leave the machine.

Screenshots go to artifacts/dashboard/ (printed at the end of the run).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from moments import accounts
from moments.lab.demo import load_demo
from moments.engagement.hotspots import DetectorSettings
from moments.store.duckdb import DuckDBStore

from chromium import StaticSite, artifact_dir, make_test_hls, make_test_video
from conftest import Server, start_app
from npm import ensure_node_modules

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "src" / "moments" / "web"
BROWSER_DIR = Path(__file__).parent / "browser"
HLS_JS_VERSION = "1.7.4"
TRAILER_S = 90  # the demo trailer's registered duration
SHOTS = "dashboard"
DAY_S = 86_400


# ---------------------------------------------------------------------------------------
# Fixtures: test media, the demo server, a page


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("dashboard-media")
    make_test_video(folder / "trailer.mp4", TRAILER_S, size="256x144")
    make_test_hls(folder / "trailer.mp4", folder / "hls")
    return folder


@pytest.fixture(scope="module")
def media_site(media) -> Iterator[StaticSite]:
    site = StaticSite({"/media": media})
    site.check_range_requests("/media/trailer.mp4")
    yield site
    site.stop()


@dataclass
class Demo:
    server: Server
    token_id: str
    secret: str
    environment_id: str

    def api(self, path: str, params=None) -> dict:
        response = httpx.get(f"{self.server.base_url}{path}", params=params, auth=(self.token_id, self.secret))
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module")
def demo(tmp_path_factory, media_site) -> Iterator[Demo]:
    """`moments serve --demo`'s data, with the trailer playable from the local media site."""
    store = DuckDBStore(str(tmp_path_factory.mktemp("dashboard-db") / "moments.duckdb"))
    environment, issued = load_demo(store)
    server = start_app(store)
    demo = Demo(server, issued.token.token_id, issued.secret, environment.environment_id)
    chapters = demo.api("/v1/assets/demo-trailer")["data"]["chapters"]  # kept: the demo's trailer has chapters
    response = httpx.put(f"{server.base_url}/v1/assets/demo-trailer", auth=(demo.token_id, demo.secret),
                         json={"duration_ms": TRAILER_S * 1000, "playback_ids": ["demotrailerpb01"],
                               "playback_url": f"{media_site.base_url}/media/trailer.mp4", "chapters": chapters})
    assert response.status_code == 200, response.text
    yield demo
    server.stop()
    store.close()


@dataclass
class Browsing:
    """One fresh browser context (its own session storage) and what it did."""

    page: object
    requests: list
    external: list
    problems: list  # console errors and page errors

    def shot(self, name: str) -> Path:
        path = artifact_dir(SHOTS) / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def browsing(browser) -> Iterator[Browsing]:
    context = browser.new_context(viewport={"width": 1360, "height": 960}, accept_downloads=True)
    record = Browsing(None, [], [], [])

    def route(r):
        host = urlsplit(r.request.url).hostname
        if r.request.url.startswith(("http://", "https://")) and host not in ("127.0.0.1", "localhost"):
            record.external.append(r.request.url)
            r.abort()
        else:
            r.continue_()

    context.route("**/*", route)
    page = context.new_page()
    page.on("request", lambda request: record.requests.append(request))
    page.on("console", lambda m: record.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: record.problems.append(f"pageerror: {e}"))
    page.on("response", lambda r: record.problems.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None)
    record.page = page
    print(f"\ndashboard screenshots: {artifact_dir(SHOTS)}")
    yield record
    context.close()


# ---------------------------------------------------------------------------------------
# Helpers


def open_dashboard(page, base_url: str, fragment: str = "") -> None:
    page.goto(f"{base_url}/dashboard{fragment}")


def sign_in(page, base_url: str, token_id: str, secret: str, fragment: str = "") -> None:
    open_dashboard(page, base_url, fragment)
    page.fill("#token-id", token_id)
    page.fill("#token-secret", secret)
    page.click("#sign-in-button")


def show(page, kind: str, scope_id: str) -> None:
    """Pick the kind and the id in the sidebar, then wait for its content."""
    page.click(f"label[for='kind-{kind}']")
    page.click(f".id-item[data-id='{scope_id}']")
    page.wait_for_function("id => document.querySelector('#content-title')?.textContent === id "
                           "&& !document.querySelector('#content').hidden "
                           "&& !document.querySelector('#content').hasAttribute('aria-busy')", arg=scope_id)


def mmss(ms: int) -> str:
    tenths = round(ms / 100)
    whole, fraction = divmod(tenths, 10)
    return f"{whole // 60:02d}:{whole % 60:02d}" + (f".{fraction}" if fraction else "")


def kind_of(score: float) -> str:
    return "peak" if score >= 0.5 else "cold"


def shown_hotspots(page) -> list[tuple[int, int, float, str]]:
    return page.eval_on_selector_all(
        ".hotspot-list li",
        "items => items.map(li => [Number(li.dataset.startMs), Number(li.dataset.endMs), Number(li.dataset.score), li.dataset.kind])",
    )


def wait_for_media_time(page, seconds: float, tolerance: float = 1.0) -> float:
    """Wait until the player sits at `seconds` (it plays on from there, so allow a little after)."""
    page.wait_for_function(
        "([t, tol]) => { const v = document.querySelector('#player'); return v.readyState >= 1 && !v.seeking "
        "&& v.currentTime >= t - 0.25 && v.currentTime <= t + tol; }", arg=[seconds, tolerance], timeout=10_000)
    return page.eval_on_selector("#player", "v => v.currentTime")


def no_trouble(browsing: Browsing) -> None:
    """Nothing left the machine; no script error, no failed request (each of which Chromium also
    logs as a console error)."""
    assert browsing.external == [], browsing.external
    assert browsing.problems == [], browsing.problems


# ---------------------------------------------------------------------------------------
# Signing in


def test_sign_in_lists_the_environment_and_keeps_the_token_out_of_urls(browsing, demo):
    page = browsing.page
    open_dashboard(page, demo.server.base_url)
    assert page.url.endswith("/dashboard/")  # /dashboard redirects, so relative module URLs resolve
    page.wait_for_selector("#sign-in-form")
    browsing.shot("sign-in")
    sign_in(page, demo.server.base_url, demo.token_id, demo.secret)
    page.wait_for_selector(".id-item")
    # The list is the API's list, most viewed first, and the most viewed opens by itself.
    listed = demo.api("/v1/assets", {"limit": 100})["data"]
    items = page.eval_on_selector_all(".id-item", "els => els.map(e => [e.dataset.id, e.querySelector('.id-views').textContent])")
    assert items == [[item["id"], f"{item['views']:,} views"] for item in listed]
    page.wait_for_function(f"() => document.querySelector('#content-title')?.textContent === {json.dumps(listed[0]['id'])}")
    # Searching asks the API and narrows the list.
    page.fill("#search", "TRAIL")
    page.wait_for_function("() => document.querySelectorAll('.id-item').length === 1")
    assert page.text_content(".id-item .id-name") == "demo-trailer"
    assert page.text_content("#list-status") == "1 asset"

    # The secret lives in this tab's session storage only, and travels only in the Authorization header.
    saved = page.evaluate("JSON.parse(sessionStorage.getItem('moments.token'))")
    assert saved == {"id": demo.token_id, "secret": demo.secret}
    assert page.evaluate("localStorage.length") == 0 and page.evaluate("document.cookie") == ""
    api_requests = [r for r in browsing.requests if urlsplit(r.url).path.startswith(("/v1/", "/data/"))]
    assert api_requests and all(demo.secret not in r.url and demo.token_id not in r.url for r in browsing.requests)
    assert all(r.headers.get("authorization", "").startswith("Basic ") for r in api_requests)
    assert demo.secret not in page.url and demo.token_id not in page.url
    # Reload: still signed in (same tab); sign out: gone.
    page.reload()
    page.wait_for_selector(".id-item")
    page.click("#sign-out")
    page.wait_for_selector("#sign-in-form")
    assert page.evaluate("sessionStorage.getItem('moments.token')") is None
    no_trouble(browsing)


def test_bad_token_shows_the_error_state(browsing, demo):
    page = browsing.page
    sign_in(page, demo.server.base_url, demo.token_id, "not-the-secret")
    page.wait_for_selector("#sign-in-error:not([hidden])")
    message = page.text_content("#sign-in-error")
    assert "did not accept this token (401" in message and "token ID and secret" in message
    assert page.is_hidden("#app")
    assert page.evaluate("sessionStorage.length") == 0
    browsing.shot("error-bad-token")
    # A stored token that stopped working (e.g. revoked) lands on the same form with the same message.
    page.evaluate("t => sessionStorage.setItem('moments.token', JSON.stringify({id: t, secret: 'stale'}))", demo.token_id)
    page.reload()
    page.wait_for_selector("#sign-in-error:not([hidden])")
    assert "401" in page.text_content("#sign-in-error")
    assert browsing.external == []


def test_token_without_read_permission_says_so(browsing, demo):
    page = browsing.page
    no_read = accounts.issue_token(demo.server.store, demo.environment_id, ())
    sign_in(page, demo.server.base_url, no_read.token.token_id, no_read.secret)
    page.wait_for_selector("#sign-in-error:not([hidden])")
    message = page.text_content("#sign-in-error")
    assert "lacks the read permission (403)" in message and "--permissions read" in message
    browsing.shot("error-no-read-permission")
    assert browsing.external == []


def test_server_unreachable(browsing, server):
    tenant = server.tenant("gone")
    page = browsing.page
    sign_in(page, server.base_url, tenant.token_id, tenant.token_secret)
    page.wait_for_selector("#placeholder:not([hidden])")
    server.stop()
    deadline = time.time() + 10
    while True:
        try:
            httpx.get(f"{server.base_url}/healthz", timeout=1)
        except httpx.TransportError:
            break
        assert time.time() < deadline, "the server did not stop"
        time.sleep(0.05)
    page.click("label[for='kind-videos']")
    page.wait_for_selector("#banner:not([hidden])")
    text = page.text_content("#banner-text")
    assert "Cannot reach the moments server" in text and "moments serve" in text
    assert page.is_visible("#banner-retry")
    browsing.shot("error-unreachable")
    assert browsing.external == []


# ---------------------------------------------------------------------------------------
# One piece of content


@pytest.mark.parametrize("kind, scope_id, api_kind", [
    ("assets", "demo-keynote", "assets"),  # artifacts/dashboard/assets-demo-keynote.png is docs/dashboard.png
    ("videos", "trailer-2026", "videos"),
    ("playback-ids", "demotutorialpb1", "playback-ids"),
])
def test_curve_strip_and_hotspots_match_the_api(browsing, demo, kind, scope_id, api_kind):
    page = browsing.page
    sign_in(page, demo.server.base_url, demo.token_id, demo.secret)
    page.wait_for_selector(".id-item")
    show(page, kind, scope_id)
    heatmap = demo.api(f"/data/v1/engagement/{api_kind}/{scope_id}/heatmap")
    hotspots = demo.api(f"/data/v1/engagement/{api_kind}/{scope_id}/hotspots")
    values, duration = heatmap["data"]["value"], heatmap["data"]["duration_ms"]

    # The curve: one vertex per bucket; the strip: one cell per bucket.
    path = page.get_attribute(".curve-line", "d")
    assert len(re.findall(r"[ML]", path)) == len(values) == int(page.get_attribute(".curve-line", "data-points"))
    assert page.eval_on_selector_all(".strip rect", "cells => cells.length") == len(values)
    # The curve's heights follow the values: the highest vertex is the highest bucket.
    ys = [float(point.split(",")[1]) for point in re.findall(r"[ML]([\d.]+,[\d.]+)", path)]
    assert ys.index(min(ys)) == values.index(max(values))
    # The 95% band (the /v1 heatmap's value_low and value_high) brackets the curve at every vertex.
    ours = demo.api(f"/v1/engagement/{api_kind}/{scope_id}/heatmap", [("intervals", "true")])["data"]
    assert ours["value"] == values and all(lo <= v <= hi for lo, v, hi in zip(ours["value_low"], values, ours["value_high"]))
    band = [tuple(map(float, p.split(","))) for p in re.findall(r"[ML]([\d.]+,[\d.]+)", page.get_attribute(".curve-band", "d"))]
    upper, lower = band[:len(values)], band[len(values):][::-1]
    xs = [float(point.split(",")[0]) for point in re.findall(r"[ML]([\d.]+,[\d.]+)", path)]
    assert [x for x, _ in upper] == [x for x, _ in lower] == xs
    assert all(hi <= y + 0.01 and y <= lo + 0.01 for (_, hi), y, (_, lo) in zip(upper, ys, lower))
    assert any(lo - hi > 1 for (_, hi), (_, lo) in zip(upper, lower))  # a band of some height

    # Hotspots: the API's, each listed once with its range and score, and drawn with its marker.
    expected = [(h["start_ms"], h["end_ms"], h["score"], kind_of(h["score"])) for h in hotspots["data"]["hotspots"]]
    assert expected, "the demo content has planted moments"
    assert sorted(map(tuple, shown_hotspots(page))) == sorted(expected)
    ranges = page.eval_on_selector_all(".hotspot .hs-range", "els => els.map(e => e.textContent)")
    assert sorted(ranges) == sorted(f"{mmss(s)}–{mmss(e)}" for s, e, _, _ in expected)
    assert page.eval_on_selector_all(".band", "bands => bands.length") == len(expected)
    markers = page.eval_on_selector_all(".marker text", "els => els.map(e => e.textContent)")
    assert sorted(m[0] for m in markers) == sorted("▲" if k == "peak" else "▼" for *_, k in expected)

    # The numbers around it.
    assert page.text_content("#stat-views") == f"{heatmap['data']['total_views']:,}"
    assert page.text_content("#stat-duration") == mmss(duration)
    shown_window = [int(page.get_attribute("#stat-timeframe", f"data-{edge}")) for edge in ("start", "end")]
    assert all(abs(a - b) <= 5 for a, b in zip(shown_window, heatmap["timeframe"])), (shown_window, heatmap["timeframe"])

    # Hovering shows the moment's time and value.
    box = page.locator(".hit").bounding_box()
    i = len(values) // 3
    page.mouse.move(box["x"] + box["width"] * (i + 0.5) / len(values), box["y"] + box["height"] / 2)
    page.wait_for_selector(".chart-tooltip:not([hidden])")
    start, end = i * duration // len(values), (i + 1) * duration // len(values)
    assert page.text_content(".tooltip-time") == f"{mmss(start)}–{mmss(end)}"
    assert page.text_content(".tooltip-value") == f"{values[i] * 100:.1f}% of viewers"
    browsing.shot(f"{kind}-{scope_id}")
    no_trouble(browsing)


def test_clicking_a_hotspot_or_the_chart_seeks_the_player(browsing, demo):
    page = browsing.page
    sign_in(page, demo.server.base_url, demo.token_id, demo.secret)
    page.wait_for_selector(".id-item")
    show(page, "assets", "demo-trailer")
    page.wait_for_function("() => document.querySelector('#player').readyState >= 1")
    (peak,) = [h for h in demo.api("/data/v1/engagement/assets/demo-trailer/hotspots")["data"]["hotspots"]
               if h["score"] >= 0.5]
    page.click(".hotspot.peak")
    wait_for_media_time(page, peak["start_ms"] / 1000)
    page.eval_on_selector("#player", "v => v.pause()")
    page.wait_for_timeout(300)  # let the playhead catch up with the pause for the screenshot
    browsing.shot("assets-demo-trailer-playing")

    # A click anywhere else on the chart seeks to that bucket's start.
    values = demo.api("/data/v1/engagement/assets/demo-trailer/heatmap")["data"]["value"]
    box = page.locator(".hit").bounding_box()
    i = 20  # 00:20, outside the peak
    page.mouse.click(box["x"] + box["width"] * (i + 0.5) / len(values), box["y"] + box["height"] - 5)
    wait_for_media_time(page, i * TRAILER_S / len(values))
    # The keyboard does the same: End, then Enter, plays the last bucket.
    page.focus("#chart")
    page.keyboard.press("End")
    assert page.text_content("#chart-announce").startswith(f"{mmss((len(values) - 1) * TRAILER_S * 1000 // len(values))}–")
    page.keyboard.press("Enter")
    wait_for_media_time(page, (len(values) - 1) * TRAILER_S / len(values), tolerance=1.1)
    no_trouble(browsing)


def test_a_mux_playback_id_plays_its_public_hls_stream_through_hls_js(browsing, demo, media):
    """The public stream.mux.com URL is answered here, from an HLS copy of the test video."""
    page = browsing.page
    served = []

    def stream_mux_com(route):
        name = urlsplit(route.request.url).path.rsplit("/", 1)[-1]
        served.append(name)
        local = media / "hls" / ("index.m3u8" if name.endswith(".m3u8") else name)
        content_type = "application/vnd.apple.mpegurl" if name.endswith(".m3u8") else "video/mp2t"
        route.fulfill(status=200, body=local.read_bytes(), headers={"Content-Type": content_type,
                                                                     "Access-Control-Allow-Origin": "*"})

    page.context.route("https://stream.mux.com/**", stream_mux_com)  # before the catch-all: wins
    sign_in(page, demo.server.base_url, demo.token_id, demo.secret)
    page.wait_for_selector(".id-item")
    show(page, "playback-ids", "demokeynotepb01")
    # Not registered with a playable URL: nothing is fetched from Mux until asked.
    assert page.is_hidden("#player") and served == []
    assert page.text_content("#mux-stream") == "Play Mux stream of demokeynotepb01"
    page.click("#mux-stream")
    page.wait_for_function("() => document.querySelector('#player').readyState >= 1")
    assert page.evaluate("typeof window.Hls") == "function"  # the vendored hls.js, not native HLS
    assert served[0] == "demokeynotepb01.m3u8"
    page.click(".hotspot >> nth=0")
    first = shown_hotspots(page)[0]
    if first[0] / 1000 < TRAILER_S - 2:  # the test stream is shorter than the keynote
        wait_for_media_time(page, first[0] / 1000, tolerance=1.5)
    else:
        wait_for_media_time(page, TRAILER_S - 0.05, tolerance=0.5)
    assert browsing.problems == [], browsing.problems


def test_downloads_match_the_api(browsing, demo):
    page = browsing.page
    now = int(time.time())
    start, end = now - 8 * DAY_S, now - 60
    fragment = f"#kind=assets&id=demo-trailer&timeframe={start},{end}"
    sign_in(page, demo.server.base_url, demo.token_id, demo.secret, fragment)
    page.wait_for_function("() => !document.querySelector('#content').hidden && !document.querySelector('#content').hasAttribute('aria-busy')")
    assert page.is_checked("#tf-custom")
    params = [("timeframe[]", start), ("timeframe[]", end)]
    heatmap = demo.api("/data/v1/engagement/assets/demo-trailer/heatmap", params)
    hotspots = demo.api("/data/v1/engagement/assets/demo-trailer/hotspots", params)

    def download(button: str) -> tuple[str, str]:
        with page.expect_download() as info:
            page.click(button)
        return info.value.suggested_filename, Path(info.value.path()).read_text()

    name, text = download("#download-heatmap-csv")
    assert name == f"moments_asset_demo-trailer_{start}-{end}_heatmap.csv"
    rows = list(csv.reader(io.StringIO(text)))
    values, duration = heatmap["data"]["value"], heatmap["data"]["duration_ms"]
    assert rows[0] == ["bucket", "start_ms", "end_ms", "value"] and len(rows) == len(values) + 1
    for i, row in enumerate(rows[1:]):
        n = len(values)
        assert [int(row[0]), int(row[1]), int(row[2])] == [i, i * duration // n, (i + 1) * duration // n]
        assert float(row[3]) == values[i]  # exactly: JS and Python print the shortest round-trip form

    # The page's heatmap is ours: the Mux body and each value's 95% interval.
    name, text = download("#download-heatmap-json")
    ours = demo.api("/v1/engagement/assets/demo-trailer/heatmap", params + [("intervals", "true")])
    assert name.endswith("_heatmap.json") and json.loads(text) == ours
    assert {**ours, "data": {k: v for k, v in ours["data"].items() if k not in ("value_low", "value_high")}} == heatmap

    name, text = download("#download-hotspots-csv")
    assert name.endswith("_hotspots.csv")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["start_ms", "end_ms", "score", "kind"]
    assert [(int(s), int(e), float(score), kind) for s, e, score, kind in rows[1:]] == [
        (h["start_ms"], h["end_ms"], h["score"], kind_of(h["score"])) for h in hotspots["data"]["hotspots"]]
    no_trouble(browsing)


def test_custom_timeframe(browsing, demo):
    page = browsing.page
    sign_in(page, demo.server.base_url, demo.token_id, demo.secret, "#kind=assets&id=demo-tutorial")
    page.wait_for_selector("#content:not([hidden])")
    page.click("label[for='tf-custom']")
    page.fill("#custom-from", "2030-01-02T00:00")
    page.fill("#custom-to", "2030-01-01T00:00")
    page.click("#custom-range button[type=submit]")
    assert page.text_content("#custom-error") == "The custom range must start before it ends."
    # The last two days only: a custom range becomes two epoch-second timeframe[] values.
    start = time.localtime(time.time() - 2 * DAY_S)
    page.fill("#custom-from", time.strftime("%Y-%m-%dT%H:%M", start))
    page.fill("#custom-to", time.strftime("%Y-%m-%dT%H:%M", time.localtime(time.time() + 3600)))
    with page.expect_response(lambda r: "/heatmap" in r.url) as info:
        page.click("#custom-range button[type=submit]")
    query = parse_qs(urlsplit(info.value.url).query)
    assert len(query["timeframe[]"]) == 2 and all(v.isdigit() for v in query["timeframe[]"])
    page.wait_for_function("() => !document.querySelector('#content').hasAttribute('aria-busy')")
    body = info.value.json()
    assert page.text_content("#stat-views") == f"{body['data']['total_views']:,}"
    assert 0 < body["data"]["total_views"] < 2500  # fewer than the whole week's views
    assert "timeframe=" in page.url and demo.secret not in page.url
    no_trouble(browsing)


def test_empty_states_say_what_to_do(browsing, server):
    tenant = server.tenant("empty")
    page = browsing.page
    sign_in(page, server.base_url, tenant.token_id, tenant.token_secret)
    page.wait_for_selector("#placeholder:not([hidden])")
    assert page.text_content("#placeholder-title") == "No assets with views yet"
    assert "POST /v1/views" in page.text_content("#placeholder-text")
    assert page.text_content("#list-status") == "No assets yet."
    browsing.shot("empty-environment")

    # A handful of views, three days old: a heatmap, but too few views for hotspots.
    views_start = (int(time.time()) - 3 * DAY_S) * 1000
    few = [{"view_id": f"few-{i}", "asset_id": "few", "view_start": views_start, "view_end": views_start + 60_000,
            "duration_ms": 60_000, "ranges": [[0, 20_000 + 5_000 * i]]} for i in range(5)]
    with server.client(tenant) as c:
        assert c.post("/v1/views", json=few).json()["data"]["accepted"] == 5
    page.reload()
    page.wait_for_function("() => document.querySelector('#content-title')?.textContent === 'few'")
    page.wait_for_selector("#hotspots-empty:not([hidden])")
    note = page.text_content("#hotspots-empty")
    assert "Too few views for hotspots: 5 views counted" in note and f"at least {DetectorSettings().min_views}" in note
    assert page.text_content("#stat-views") == "5"
    assert page.is_hidden("#player") and "No playable URL" in page.text_content("#player-note")
    browsing.shot("too-few-views")

    # The last 24 hours hold none of them.
    page.click("label[for='tf-24-hours']")
    page.wait_for_selector("#no-views:not([hidden])")
    assert "Try a longer timeframe" in page.text_content("#no-views-text")
    assert page.is_hidden("#chart-figure") and page.is_disabled("#download-heatmap-csv")
    assert page.text_content("#stat-views") == "0"
    browsing.shot("no-views-in-timeframe")
    page.click("#widest-timeframe")
    page.wait_for_function("() => document.querySelector('#stat-views').textContent === '5'")
    assert page.is_checked("#tf-100-days") and "timeframe=100%3Adays" in page.url
    # "few" is known from its views but was never registered: no player, and the page never
    # asked for its registration (the list says it has none), so no 404 in the console.
    assert not [r for r in browsing.requests if urlsplit(r.url).path == "/v1/assets/few"]
    no_trouble(browsing)


def test_dashboard_is_keyboard_reachable(browsing, demo):
    page = browsing.page
    sign_in(page, demo.server.base_url, demo.token_id, demo.secret, "#kind=assets&id=demo-trailer")
    page.wait_for_selector(".hotspot")
    reached = set()
    for _ in range(40):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.id || document.activeElement.className"))
    for control in ("kind-assets", "search", "id-item selected", "tf-7-days", "download-heatmap-csv", "chart",
                    "hotspot peak", "player"):
        assert control in reached, (control, reached)
    # Every form control has a label.
    unlabelled = page.eval_on_selector_all(
        "input:not([type=hidden])", "els => els.filter(e => !e.labels || !e.labels.length).map(e => e.id)")
    assert unlabelled == []
    # The chart from the keyboard: a visible focus ring, a cursor, the moment read out.
    page.focus("#chart")
    for _ in range(30):
        page.keyboard.press("ArrowRight")
    assert page.is_visible(".chart-tooltip")
    announced = page.text_content("#chart-announce")
    assert announced.startswith(f"{mmss(30_000)}–{mmss(31_000)}: ") and "of viewers" in announced
    assert page.evaluate("document.querySelector('#chart').matches(':focus-visible')")
    browsing.shot("keyboard-chart-focus")
    no_trouble(browsing)


# ---------------------------------------------------------------------------------------
# Without a browser


def test_served_with_a_strict_content_security_policy(demo):
    response = httpx.get(f"{demo.server.base_url}/dashboard/")
    assert response.status_code == 200 and "<title>moments · engagement</title>" in response.text
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["referrer-policy"] == "no-referrer"
    assert httpx.get(f"{demo.server.base_url}/dashboard").status_code in (307, 308)
    missing = httpx.get(f"{demo.server.base_url}/dashboard/nope.js")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found"


def test_the_front_end_loads_nothing_from_elsewhere():
    for path in WEB.rglob("*"):
        if path.suffix in (".html", ".js", ".css") and path.parent.name != "vendor":
            text = path.read_text()
            urls = set(re.findall(r"https?://[^\s'\"`)]+", text)) - {"http://www.w3.org/2000/svg"}
            # The one exception is only requested on a click ("Play Mux stream of ...").
            assert urls <= {"https://stream.mux.com/${encodeURIComponent(playbackId"}, (path, urls)


def test_vendored_hls_js_is_the_npm_package_file():
    ensure_node_modules(BROWSER_DIR, {"hls.js": HLS_JS_VERSION})
    package = BROWSER_DIR / "node_modules" / "hls.js"
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    assert digest(WEB / "vendor" / "hls.min.js") == digest(package / "dist" / "hls.min.js")
    assert (WEB / "vendor" / "hls.js-LICENSE").read_text() == (package / "LICENSE").read_text()
    assert HLS_JS_VERSION in (WEB / "vendor" / "README.md").read_text()


def test_the_page_knows_the_detectors_minimum_views():
    assert f"MIN_HOTSPOT_VIEWS = {DetectorSettings().min_views};" in (WEB / "main.js").read_text()


@pytest.mark.parametrize("kind", ["constructor", "__proto__", "toString"])
def test_a_link_naming_no_kind_shows_the_default_kind(browsing, server, kind):
    """The link's kind is looked up as the page's own key, never one every object inherits."""
    tenant = server.tenant("kinds")
    start = (int(time.time()) - DAY_S) * 1000
    with server.client(tenant) as c:
        assert c.put("/v1/assets/film", json={"duration_ms": 60_000}).status_code == 200
        assert c.post("/v1/views", json=[{"view_id": "v", "asset_id": "film", "view_start": start, "view_end": start + 1,
                                          "duration_ms": 60_000, "ranges": [[0, 30_000]]}]).status_code == 200
    page = browsing.page
    sign_in(page, server.base_url, tenant.token_id, tenant.token_secret, f"#kind={kind}")
    page.wait_for_function("() => document.querySelector('#content-title')?.textContent === 'film'")
    assert page.is_checked("#kind-assets") and "kind=assets" in page.url
    no_trouble(browsing)
