"""The dashboard's Views panel (web/views.js) in Debian's Chromium against a live server.

The table must be the API's pages, newest first; Next and Previous walk them; choosing a view
shows its watch path as steps (the list screen readers read) and as a drawing (a bar per play,
an arrow per seek, the end marked). Another environment's views never appear.
"""

from __future__ import annotations

import time
from typing import Iterator

import httpx
import pytest

from moments.store.duckdb import DuckDBStore

from conftest import Server, Tenant, make_tenant, start_app
from test_dashboard import browsing, no_trouble, sign_in  # noqa: F401 (browsing is a fixture)

NOW_MS = int(time.time() * 1000)
MINUTE_MS = 60_000
N_VIEWS = 23
TARGET = "view-12"  # on the second page of ten
TARGET_RANGES = [[0, 95_000], [300_000, 420_000], [60_000, 90_000]]


def views_of(prefix: str, n: int) -> list[dict]:
    """n views of "film" (10 minutes), one a minute, view-00 the newest; TARGET seeks forward and back."""
    return [{"view_id": f"{prefix}-{i:02d}", "asset_id": "film", "view_start": NOW_MS - (i + 1) * MINUTE_MS,
             "view_end": NOW_MS, "duration_ms": 600_000, "country": "NL",
             "ranges": TARGET_RANGES if f"{prefix}-{i:02d}" == TARGET else [[0, 600_000 - i * 1000]]}
            for i in range(n)]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[tuple[Server, Tenant]]:
    store = DuckDBStore(str(tmp_path_factory.mktemp("views-dashboard") / "moments.duckdb"))
    server = start_app(store)
    tenant, stranger = make_tenant(store, "mine"), make_tenant(store, "theirs")
    for who, views in ((tenant, views_of("view", N_VIEWS)), (stranger, views_of("theirs", 5))):
        with server.client(who) as c:
            assert c.post("/v1/views", json=views).json()["data"]["accepted"] == len(views)
            assert c.put("/v1/assets/film", json={"duration_ms": 600_000}).status_code == 200
    yield server, tenant
    server.stop()
    store.close()


def api_page(server: Server, tenant: Tenant, cursor: str | None) -> dict:
    params = {"limit": "10", **({"cursor": cursor} if cursor else {})}
    return httpx.get(f"{server.base_url}/v1/engagement/assets/film/views", params=params, auth=tenant.auth).json()


def shown_ids(page) -> list[str]:
    return page.eval_on_selector_all("#views-rows tr", "rows => rows.map(r => r.dataset.viewId)")


def wait_for_page(page, first_id: str) -> None:
    page.wait_for_function("id => document.querySelector('#views-rows tr')?.dataset.viewId === id "
                           "&& !document.querySelector('#views-panel').hasAttribute('aria-busy')", arg=first_id)


def test_views_panel_pages_and_shows_a_path(browsing, site):  # noqa: F811
    server, tenant = site
    page = browsing.page
    sign_in(page, server.base_url, tenant.token_id, tenant.token_secret)
    # The only asset opens by itself, and its views below the chart.
    first = api_page(server, tenant, None)
    second = api_page(server, tenant, first["next_cursor"])
    third = api_page(server, tenant, second["next_cursor"])
    assert [len(p["data"]) for p in (first, second, third)] == [10, 10, 3] and third["next_cursor"] is None
    wait_for_page(page, "view-00")
    assert shown_ids(page) == [v["view_id"] for v in first["data"]] == [f"view-{i:02d}" for i in range(10)]
    assert page.text_content("#views-status") == "1–10 of 23 views, newest first."
    assert page.text_content("#views-page") == "Page 1 of 3" and page.is_disabled("#views-prev")
    assert "theirs" not in page.text_content("#views-panel")

    page.click("#views-next")
    wait_for_page(page, "view-10")
    assert shown_ids(page) == [v["view_id"] for v in second["data"]]
    page.click("#views-next")
    wait_for_page(page, "view-20")
    assert shown_ids(page) == [v["view_id"] for v in third["data"]] and page.is_disabled("#views-next")
    assert page.text_content("#views-status") == "21–23 of 23 views, newest first."
    page.click("#views-prev")
    wait_for_page(page, "view-10")
    assert page.text_content("#views-page") == "Page 2 of 3" and not page.is_disabled("#views-next")

    # Choose the view that seeks forward, then back: its steps, and the drawing of them.
    page.click(f"#views-rows tr[data-view-id='{TARGET}'] .view-pick")
    page.wait_for_selector("#view-path:not([hidden])")
    steps = page.eval_on_selector_all("#view-path-steps li", "items => items.map(li => li.textContent)")
    assert steps == ["00:00–01:35 play", "seek 01:35 → 05:00 (forward)", "05:00–07:00 play",
                     "seek 07:00 → 01:00 (backward)", "01:00–01:30 play", "ended: left at 01:30"]
    assert page.text_content("#view-path-summary") == "Watched 04:05 (03:35 unique) of 10:00, 2 seeks; left at 01:30."
    assert page.get_attribute(f"#views-rows tr[data-view-id='{TARGET}'] .view-pick", "aria-pressed") == "true"
    drawn = page.evaluate("""() => {
        const svg = document.querySelector('#view-path-drawing svg');
        const bar = (r) => [Number(r.getAttribute('x')), Number(r.getAttribute('width'))];
        return {plays: [...svg.querySelectorAll('.path-play')].map(bar),
                seeks: [...svg.querySelectorAll('.path-seek')].map(l => l.getAttribute('class')),
                ends: svg.querySelectorAll('.path-end.left').length, hidden: svg.getAttribute('aria-hidden')};
    }""")
    # Bars in play order on a 768-unit-wide timeline from x=16: 0-95 s, 300-420 s, 60-90 s of 600 s.
    assert sum(drawn["plays"], []) == pytest.approx([16, 121.6, 400, 153.6, 92.8, 38.4], abs=0.01)
    assert drawn["seeks"] == ["path-seek forward", "path-seek backward"]
    assert drawn["ends"] == 1 and drawn["hidden"] == "true"
    browsing.shot("views-panel-path")
    no_trouble(browsing)
