"""The dashboard's "Compared with" panel in Debian's Chromium against a live server: the typical
curve and the comparison curves are the API's values, and the words are the API's figures."""

from __future__ import annotations

import re

import httpx
import pytest

from test_api import post_views
from test_compare import load_peers, watched_to
from test_dashboard import browsing, no_trouble, show, sign_in  # noqa: F401  (browsing is a fixture)

BOX = {"width": 600, "height": 160, "pad": 8}  # compare.js's BOX


@pytest.fixture
def peers_server(server):
    tenant = server.tenant()
    with server.client(tenant) as c:
        load_peers(c)
        assert c.put("/v1/assets/mine", json={"duration_ms": 60_000, "playback_ids": ["pbA", "pbB"]}).status_code == 200
        post_views(c, watched_to("pa", 5, 45_000, playback_id="pbA") + watched_to("pb", 5, 15_000, playback_id="pbB"))
        # Enough views for a verdict, 40 a side, on 10 minutes (not a peer of mine's 60 s):
        # the first 7:30 against the first 2:30.
        assert c.put("/v1/assets/big", json={"duration_ms": 600_000, "playback_ids": ["pbC", "pbD"]}).status_code == 200
        post_views(c, watched_to("pc", 40, 450_000, playback_id="pbC") + watched_to("pd", 40, 150_000, playback_id="pbD"))
    return server, tenant


def api(server, tenant, path: str, params) -> dict:
    response = httpx.get(f"{server.base_url}{path}", params=params, auth=tenant.auth)
    assert response.status_code == 200, response.text
    return response.json()


def drawn(page, curve: str) -> list[float]:
    """The values a curve's vertices stand for (inverting compare.js's curvePath)."""
    d = page.get_attribute(f"path[data-curve='{curve}']", "d")
    ys = [float(y) for y in re.findall(r"[ML][\d.]+,([\d.]+)", d)]
    return [1 - (y - BOX["pad"]) / (BOX["height"] - 2 * BOX["pad"]) for y in ys]


def test_typical_curve_and_comparisons_are_the_apis(browsing, peers_server):
    server, tenant = peers_server
    page = browsing.page
    sign_in(page, server.base_url, tenant.token_id, tenant.token_secret)
    show(page, "assets", "mine")
    page.wait_for_selector("#compare-panel[data-shows='assets/mine']:not([aria-busy])")
    relative = api(server, tenant, "/v1/engagement/assets/mine/relative", {"timeframe[]": "7:days"})["data"]
    change = round((relative["overall"]["ratio"] - 1) * 100)
    assert relative["peers"] == 4 and change != 0
    assert page.text_content("#relative-summary") == (
        f"Retains {abs(change)}% {'more' if change > 0 else 'less'} than similar content; better than "
        f"{round(relative['overall']['better_than'] * 100)}% of the 4 assets of 00:30–02:00 in this environment. "
        f"No verdict: {relative['verdict_note']}.")  # 5 views: not enough to tell
    assert relative["verdict_note"] == "not enough views to tell (fewer than 30)"
    assert drawn(page, "this") == pytest.approx(relative["value"], abs=0.001)
    assert drawn(page, "typical") == pytest.approx(relative["typical"], abs=0.001)
    assert page.get_attribute("path[data-curve='typical']", "stroke-dasharray")  # dashed
    assert "typical of 4 similar assets (median)" in page.text_content("#relative-block .compare-legend")
    browsing.shot("compare-relative")

    # The period just before the 7 days holds no views: said in words, nothing drawn.
    page.select_option("#compare-with", "previous")
    page.wait_for_selector("#compare-summary")
    assert page.text_content("#compare-summary").startswith("Nothing to compare: ")
    assert page.locator("path[data-curve='side-b']").count() == 0

    # Two playback IDs of one asset, chosen from the asset's own list.
    show(page, "playback-ids", "pbA")
    page.wait_for_selector("#compare-panel[data-shows='playback-ids/pbA']:not([aria-busy])")
    assert page.eval_on_selector_all("#compare-with option", "os => os.map(o => o.value)")[-1:] == ["id:pbB"]
    page.select_option("#compare-with", "id:pbB")
    page.wait_for_selector("path[data-curve='side-b']")
    compared = api(server, tenant, "/v1/engagement/playback-ids/pbA/compare",
                   {"timeframe[]": "7:days", "against": "pbB"})["data"]
    assert drawn(page, "side-a") == pytest.approx(compared["a"]["value"], abs=0.001)
    assert drawn(page, "side-b") == pytest.approx(compared["b"]["value"], abs=0.001)
    # Five views a side: the API gives no verdict, so the page says so instead of a number.
    assert compared["verdict_note"] == "not enough views to tell (fewer than 30 on a side)"
    assert page.text_content("#compare-summary") == (
        "pbB (5 views) against pbA (5 views): not enough views to tell (fewer than 30 on a side).")
    assert page.text_content("#compare-result .compare-legend") == "pbApbB"
    browsing.shot("compare-playback-ids")
    assert page.locator("rect.compare-significant").count() == 0

    # With a verdict: the words say it, and the stretch beyond chance (2:30 to 7:30) is shaded.
    show(page, "playback-ids", "pbC")
    page.wait_for_selector("#compare-panel[data-shows='playback-ids/pbC']:not([aria-busy])")
    page.select_option("#compare-with", "id:pbD")
    page.wait_for_selector("rect.compare-significant")
    compared = api(server, tenant, "/v1/engagement/playback-ids/pbC/compare", {"timeframe[]": "7:days", "against": "pbD"})["data"]
    assert compared["significant"] == [False] * 150 + [True] * 300 + [False] * 150 and compared["average_significant"]
    assert page.text_content("#compare-summary") == ("pbD (40 views) retains 50 points less of the content than pbC "
                                                    "(40 views) on average, beyond chance; 300 moments of 600 differ.")
    shaded = page.eval_on_selector_all("rect.compare-significant", "rs => rs.map(r => [r.getAttribute('x'), r.getAttribute('width')])")
    assert [(float(x), float(w)) for x, w in shaded] == [(150.0, 300.0)]  # 150/600 to 450/600 of the 600-wide box
    assert page.text_content("#compare-result .compare-legend") == "pbCpbDbeyond chance"
    browsing.shot("compare-beyond-chance")
    no_trouble(browsing)
