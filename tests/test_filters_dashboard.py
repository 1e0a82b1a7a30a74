"""The dashboard's Viewers filter in Debian's Chromium: every engagement request carries the
filters, the numbers shown are the API's filtered ones, and the filters live in the URL."""

from __future__ import annotations

import time

from test_dashboard import browsing, no_trouble, sign_in  # noqa: F401 (browsing is a fixture)

NOW_MS = int(time.time() * 1000)


def audience() -> list[dict]:
    """30 views of "talk": US viewers watch to the end, the others leave at a third."""
    return [{"view_id": f"v{i}", "asset_id": "talk", "view_start": NOW_MS - 3_600_000 - i * 1000,
             "view_end": NOW_MS - 3_000_000, "duration_ms": 90_000,
             "country": "US" if i % 3 == 0 else "DE", "player_name": "My player" if i % 2 else "embed",
             "ranges": [[0, 90_000 if i % 3 == 0 else 30_000]]} for i in range(30)]


def test_filters_narrow_every_panel_and_stay_in_the_url(browsing, server):
    tenant = server.tenant("filters")
    with server.client(tenant) as c:
        assert c.post("/v1/views", json=audience()).json()["data"]["accepted"] == 30

        def api_views(filters: list[str]) -> int:
            response = c.get("/data/v1/engagement/assets/talk/heatmap", params={"timeframe[]": "7:days",
                                                                               "filters[]": filters})
            return response.json()["data"]["total_views"]

        expected = {(): api_views([]), ("country:US",): api_views(["country:US"]),
                    ("!country:US", 'player_name:My player'): api_views(["!country:US", "player_name:My player"])}
    assert expected == {(): 30, ("country:US",): 10, ("!country:US", "player_name:My player"): 10}

    page = browsing.page
    sign_in(page, server.base_url, tenant.token_id, tenant.token_secret)
    page.wait_for_function("() => document.querySelector('#stat-views')?.textContent === '30'")

    page.fill("#filters", "country:US")
    page.click("#filters-form button[type=submit]")
    page.wait_for_function("() => document.querySelector('#stat-views').textContent === '10 matching the filters'")
    assert "filter=country%3AUS" in page.url
    engagement = [r.url for r in browsing.requests if "/engagement/" in r.url]
    assert engagement and all("filters%5B%5D=country%3AUS" in url for url in engagement[-3:])

    # A value with a space, quoted; the URL keeps the filters across a reload.
    page.fill("#filters", '!country:US player_name:"My player"')
    page.click("#filters-form button[type=submit]")
    page.wait_for_function("() => document.querySelector('#stat-views').textContent === '10 matching the filters'")
    assert "filter=player_name%3AMy+player" in page.url
    page.reload()
    page.wait_for_function("() => document.querySelector('#stat-views')?.textContent === '10 matching the filters'")
    assert page.input_value("#filters") == '!country:US player_name:"My player"'

    # A filter the server refuses: its message is shown, nothing else breaks.
    page.fill("#filters", "planet:Mars")
    page.click("#filters-form button[type=submit]")
    page.wait_for_selector("#banner:not([hidden])")
    assert "unknown dimension 'planet'" in page.text_content("#banner-text")
    page.fill("#filters", "")
    page.click("#filters-form button[type=submit]")
    page.wait_for_function("() => document.querySelector('#stat-views').textContent === '30'")
    refused = [p for p in browsing.problems if p.startswith("HTTP 400 ") and "planet" in p]
    assert refused
    for problem in refused:  # each also logs one console error in Chromium
        browsing.problems.remove(problem)
        browsing.problems.remove("console error: Failed to load resource: the server responded with a status "
                                 "of 400 (Bad Request)")
    no_trouble(browsing, expected_404=("/v1/assets/talk",))
