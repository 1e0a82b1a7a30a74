"""The dashboard at phone and desktop widths in Debian's Chromium, on the demo data: nothing
scrolls sideways or sticks out of the page, Sign out stays on screen, rows read on one line, and
every panel (chart, hotspots, comparison, layers, views, a view's path, the filter picker) loads
without one console error or warning or failed request. The headline row is the API's summary (the heatmap's figures).

Screenshots go to artifacts/dashboard-layout/ (docs/dashboard-phone.png is the top of the 390 px one).
"""

from __future__ import annotations

import re
from typing import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from moments.lab.demo import load_demo
from moments.store.duckdb import DuckDBStore

from chromium import artifact_dir
from conftest import Server, start_app
from test_dashboard import sign_in

WIDTHS = {"phone-360": 360, "phone-390": 390, "desktop": 1360}

# Every element of the page that is laid out, with its box: none may reach past the viewport's
# sides. Scrolling boxes (the id list, the layers table) may hold wider content: that is their job.
OVERFLOWING = """() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    if (el.closest('.visually-hidden, .skip-link, .layers-table')) continue;
    const box = el.getBoundingClientRect();
    if (!box.width && !box.height) continue;
    if (box.right > width + 0.5 || box.left < -0.5) out.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className.baseVal ?? el.className} ${Math.round(box.left)}..${Math.round(box.right)}`);
  }
  return out;
}"""

# Within each hotspot row, no two parts overlap (a range once ran into the length beside it).
COLLIDING = """() => [...document.querySelectorAll('.hotspot')].flatMap((row) => {
  const boxes = [...row.children].map((part) => part.getBoundingClientRect());
  return boxes.flatMap((a, i) => boxes.slice(i + 1).filter((b) => a.left < b.right - 0.5 && b.left < a.right - 0.5
    && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5).map(() => row.textContent));
})"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Iterator[tuple[Server, str, str]]:
    store = DuckDBStore(str(tmp_path_factory.mktemp("layout-db") / "moments.duckdb"))
    _, issued = load_demo(store)
    server = start_app(store)
    yield server, issued.token.token_id, issued.secret
    server.stop()
    store.close()


def media_length(ms: float) -> str:
    """format.js's length: "12 s", "12.4 s", "2 min 3 s"."""
    if ms < 60_000:
        return f"{ms / 1000:.{1 if ms % 1000 else 0}f} s"
    seconds = round(ms / 1000)
    return f"{seconds // 60} min" + (f" {seconds % 60} s" if seconds % 60 else "")


@pytest.mark.parametrize("name", WIDTHS)
def test_every_panel_fits_the_width_without_console_trouble(browser, demo, name):
    server, token_id, secret = demo
    context = browser.new_context(viewport={"width": WIDTHS[name], "height": 800})
    page = context.new_page()
    trouble: list[str] = []
    page.on("console", lambda m: trouble.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: trouble.append(f"pageerror: {e}"))
    page.on("response", lambda r: trouble.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None)
    page.on("requestfailed", lambda r: trouble.append(f"failed {r.url}"))
    width = WIDTHS[name]

    def fits() -> None:
        """No sideways scroll, nothing past the edges."""
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        assert page.evaluate(OVERFLOWING) == []

    try:
        page.goto(f"{server.base_url}/dashboard/")
        page.wait_for_selector("#sign-in:not([hidden])")
        fits()
        sign_in(page, server.base_url, token_id, secret, "#kind=assets&id=demo-keynote")
        page.wait_for_function("() => document.querySelector('#layers-drawing svg') && document.querySelector('#views-rows tr') "
                               "&& document.querySelector('#chapters-rows tr') "
                               "&& document.querySelector('#compare-panel[data-shows]') "
                               "&& document.querySelectorAll('#pick-value option').length")
        page.select_option("#compare-with", "tf:100:days")
        page.wait_for_selector("path[data-curve='side-b']")
        page.click("#views-rows .view-pick")
        page.wait_for_selector("#view-path-title:not(:empty)")

        # The headline row is the API's summary, which is the heatmap's: its views, the mean of its
        # values, its last value, its values a tenth of the way in and at 0:30.
        heatmap = httpx.get(f"{server.base_url}/data/v1/engagement/assets/demo-keynote/heatmap",
                            auth=(token_id, secret)).json()["data"]
        figures = httpx.get(f"{server.base_url}/v1/engagement/assets/demo-keynote/summary",
                            auth=(token_id, secret)).json()["data"]
        values, n = heatmap["value"], len(heatmap["value"])
        assert page.text_content("#stat-views") == f"{heatmap['total_views']:,}" == f"{figures['total_views']:,}"
        assert page.text_content("#stat-average") == f"{sum(values) / n * 100:.1f}%" == f"{figures['average_viewed'] * 100:.1f}%"
        assert page.text_content("#stat-completion") == f"{values[-1] * 100:.1f}%"
        assert page.text_content("#stat-intro") == f"{values[n // 10] * 100:.1f}%"
        assert page.text_content("#stat-intro-30") == f"{values[30_000 * n // heatmap['duration_ms']] * 100:.1f}%"
        assert figures["average_view_ms"] >= 60_000  # shown as minutes and seconds (format.length)
        assert page.text_content("#stat-average-view") == media_length(figures["average_view_ms"])
        assert "average share of the content one view watched" in page.get_attribute("#headline-average", "title")
        low, high = figures["intervals"]["completion_rate"]
        assert page.text_content("#headline-completion .stat-interval") == f"95%: {low * 100:.1f}%–{high * 100:.1f}%"
        # The per-view figures come after the curve, from /summary?per_view=true, with their intervals.
        page.wait_for_function("() => document.querySelector('#stat-seeks').textContent !== '…'")
        per_view = httpx.get(f"{server.base_url}/v1/engagement/assets/demo-keynote/summary",
                             params={"per_view": "true"}, auth=(token_id, secret)).json()["data"]
        assert page.text_content("#stat-median-view") == media_length(per_view["median_view_ms"])
        assert page.text_content("#stat-rewatch") == f"{per_view['rewatch_rate'] * 100:.1f}%"
        assert page.text_content("#stat-seeks") == f"{per_view['seek_rate']:.2f}"
        low, high = per_view["intervals"]["seek_rate"]
        assert page.text_content("#headline-seeks .stat-interval") == f"95%: {low:.2f}–{high:.2f}"

        # The comparison's axes: % of viewers as the main chart, media times below (one content).
        assert page.eval_on_selector_all("#compare-result .compare-y span", "s => s.map(x => x.textContent)") == [
            "100%", "75%", "50%", "25%", "0%"]
        assert page.eval_on_selector_all("#compare-result .compare-x span", "s => s.map(x => x.textContent)") == [
            "00:00", "07:30", "15:00", "22:30", "30:00"]
        # The layers' axis: percent, as the main chart's; its time ticks are the main chart's.
        assert page.text_content("#layers-drawing .layers-y") == "0%"
        ticks = "sel => [...document.querySelectorAll(sel)].map(t => t.textContent)"
        if name == "desktop":  # same width, same ticks
            assert page.evaluate(ticks, "#layers-drawing .layers-axis text") == page.evaluate(ticks, "#chart .axis text")

        # Dates in words: no epoch seconds or milliseconds anywhere in the page's text.
        text = page.inner_text("#app")
        assert not re.search(r"\b\d{10,13}\b", text), re.search(r"\b\d{10,13}\b", text)

        # The layout: no sideways scroll, nothing past the edges, Sign out on screen, rows on one line.
        fits()
        box = page.locator("#sign-out").bounding_box()
        assert page.is_visible("#sign-out") and box["x"] >= 0 and box["x"] + box["width"] <= width
        assert page.evaluate(COLLIDING) == []
        line = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.view-pick')).lineHeight)")
        heights = page.eval_on_selector_all(".view-pick", "bs => bs.map(b => b.clientHeight)")
        assert heights and max(heights) < 2 * line, heights  # a view id never wraps a character per line

        page.screenshot(path=str(artifact_dir("dashboard-layout") / f"{name}.png"), full_page=True)

        # The other kinds fit too: a video ID (no player, no registration) and a registered playback ID.
        for kind, scope_id in (("videos", "keynote-2026"), ("playback-ids", "demokeynotepb01")):
            page.click(f"label[for='kind-{kind}']")
            page.click(f".id-item[data-id='{scope_id}']")
            page.wait_for_function("id => document.querySelector('#content-title')?.textContent === id "
                                   "&& document.querySelector('#compare-panel')?.dataset.shows?.endsWith(id) "
                                   "&& document.querySelector('#layers-drawing svg')", arg=scope_id)
            fits()
        assert not [r for r in trouble if urlsplit(r.split()[-1]).path.startswith("/v1/assets/")]
        assert trouble == []
    finally:
        context.close()
