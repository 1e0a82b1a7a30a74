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
    # (but the picker's, which lists every value: tested below)
    engagement = [r.url for r in browsing.requests if "/engagement/" in r.url and "/dimensions?" not in r.url]
    assert engagement and all("filters%5B%5D=country%3AUS" in url for url in engagement[-3:])

    # A value with a space, quoted; the URL keeps the filters across a reload.
    page.fill("#filters", '!country:US player_name:"My player"')
    page.click("#filters-form button[type=submit]")
    page.wait_for_function("() => document.querySelector('#stat-views').textContent === '10 matching the filters'")
    assert "filter=player_name%3AMy+player" in page.url
    page.reload()
    page.wait_for_function("() => document.querySelector('#stat-views')?.textContent === '10 matching the filters'")
    assert page.input_value("#filters") == '!country:US player_name:"My player"'

    # A filter the server refuses: its message is shown, the old chart and its "matching" count
    # go (they answered another question), and no "Try again" repeats the same bad request.
    page.fill("#filters", "planet:Mars")
    page.click("#filters-form button[type=submit]")
    page.wait_for_selector("#banner:not([hidden])")
    assert "unknown dimension 'planet'" in page.text_content("#banner-text")
    assert page.is_hidden("#content") and page.is_hidden("#chart svg") and page.is_hidden("#stat-views")
    assert page.text_content("#placeholder-text").startswith("The server refused this request")
    assert page.is_hidden("#banner-retry")
    refused_requests = [r.url for r in browsing.requests if "planet" in r.url]
    page.fill("#filters", "")
    page.click("#filters-form button[type=submit]")
    page.wait_for_function("() => document.querySelector('#stat-views').textContent === '30'")
    assert page.is_hidden("#banner") and page.is_visible("#chart svg")
    assert [r.url for r in browsing.requests if "planet" in r.url] == refused_requests  # never asked again
    refused = [p for p in browsing.problems if p.startswith("HTTP 400 ") and "planet" in p]
    assert refused
    for problem in refused:  # each also logs one console error in Chromium
        browsing.problems.remove(problem)
        browsing.problems.remove("console error: Failed to load resource: the server responded with a status "
                                 "of 400 (Bad Request)")
    no_trouble(browsing)  # "talk" is not registered: the page never asked for it (no 404)


def test_the_picker_offers_the_views_values_and_adds_filters(browsing, server):
    tenant = server.tenant("picker")
    with server.client(tenant) as c:
        assert c.post("/v1/views", json=audience()).json()["data"]["accepted"] == 30
    page = browsing.page
    sign_in(page, server.base_url, tenant.token_id, tenant.token_secret)
    page.wait_for_function("() => !document.querySelector('#filter-picker').hidden "
                           "&& document.querySelectorAll('#pick-value option').length")
    options = lambda select: page.eval_on_selector_all(f"#{select} option", "os => os.map(o => [o.value, o.textContent])")  # noqa: E731
    assert options("pick-dimension") == [["country", "Country"], ["player_name", "Player name"]]
    assert options("pick-value") == [["DE", "DE (20 views)"], ["US", "US (10 views)"]]
    assert page.text_content("#pick-note") == "Values of the 30 views in this timeframe."

    page.select_option("#pick-value", "US")
    page.click("#pick-keep")
    page.wait_for_function("() => document.querySelector('#stat-views').textContent === '10 matching the filters'")
    assert page.input_value("#filters") == "country:US" and "filter=country%3AUS" in page.url
    # The picker still offers every value (a second one of a dimension widens: values are ORed).
    assert options("pick-value") == [["DE", "DE (20 views)"], ["US", "US (10 views)"]]
    page.select_option("#pick-dimension", "player_name")
    page.select_option("#pick-value", "My player")
    page.click("#pick-drop")
    page.wait_for_function("() => document.querySelector('#filters').value === 'country:US !player_name:\"My player\"'")
    page.wait_for_function("() => document.querySelector('#stat-views').textContent === '5 matching the filters'")
    picker = [r.url for r in browsing.requests if r.url.split("?")[0].endswith("/dimensions")]
    assert picker and all("filters" not in url for url in picker)
    no_trouble(browsing)
