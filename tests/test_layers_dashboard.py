"""The dashboard's layers panel (web/layers.js) in Debian's Chromium against a live server.

The drawing must be the API's layers: the watched-share and rewatch curves read back from the
SVG's coordinates, one arrival bar up and one departure bar down per bucket that has any, the
table (the text alternative) the same numbers; the export buttons must download the API's own
files with the token in the header, under the server's file names.
"""

from __future__ import annotations

import io
import re
import time
from pathlib import Path
from typing import Iterator

import httpx
import pyarrow.parquet as pq
import pytest

from moments.store.duckdb import DuckDBStore

from conftest import Server, Tenant, make_tenant, start_app
from test_dashboard import browsing, no_trouble, show, sign_in  # noqa: F401 (browsing is a fixture)
from test_exports import N_VIEWS, records

# layers.js's geometry
MARGIN_TOP, CURVES_HEIGHT, GAP, BARS_HEIGHT = 12, 160, 16, 90


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[tuple[Server, Tenant]]:
    store = DuckDBStore(str(tmp_path_factory.mktemp("layers-dashboard") / "moments.duckdb"))
    server = start_app(store)
    tenant = make_tenant(store, "layers")
    with server.client(tenant) as c:
        assert c.post("/v1/views", json=records()).json()["data"]["accepted"] == N_VIEWS + 1
        assert c.put("/v1/assets/movie", json={"duration_ms": 120_000, "playback_ids": ["pbm1"]}).status_code == 200
    yield server, tenant
    server.stop()
    store.close()


def curve_values(d: str, top: float) -> list[float]:
    ys = [float(y) for y in re.findall(r"[ML][\d.]+,([\d.]+)", d)]
    return [top * (1 - (y - MARGIN_TOP) / CURVES_HEIGHT) for y in ys]


def test_layers_panel_draws_the_apis_layers_and_exports_its_files(browsing, site):
    server, tenant = site
    page = browsing.page
    sign_in(page, server.base_url, tenant.token_id, tenant.token_secret)
    show(page, "assets", "movie")
    page.wait_for_function("() => !document.querySelector('#layers-panel').hidden "
                           "&& !document.querySelector('#layers-panel').hasAttribute('aria-busy') "
                           "&& document.querySelector('#layers-drawing svg')")
    now = int(time.time())
    body = httpx.get(f"{server.base_url}/v1/engagement/assets/movie/layers", auth=tenant.auth).json()
    data = body["data"]
    n = len(data["unique"])
    assert data["total_views"] == N_VIEWS and n == 120

    svg = page.locator("#layers-drawing svg")
    curves_top = float(svg.get_attribute("data-curves-top"))
    bars_top = float(svg.get_attribute("data-bars-top"))
    assert curves_top >= max(data["rewatch"]) and bars_top >= max(data["arrivals"][1:] + data["departures"])
    clipped = page.eval_on_selector_all("text.layers-clipped", "ts => ts.map(t => [Number(t.dataset.bucket), t.textContent])")
    assert clipped == [[0, f"▲ {data['arrivals'][0] * 100:.1f}%"]]  # only the arrivals at 0:00 exceed the scale
    for key in ("unique", "rewatch"):
        path = page.locator(f"path.layers-line.{key}")
        assert path.get_attribute("data-points") == str(n)
        assert curve_values(path.get_attribute("d"), curves_top) == pytest.approx(data[key], abs=0.002 * curves_top)
    # Rewatches lift the dashed line above the solid one somewhere.
    assert any(r > u for r, u in zip(data["rewatch"], data["unique"]))

    base = MARGIN_TOP + CURVES_HEIGHT + GAP + BARS_HEIGHT / 2
    for key, up in (("arrivals", True), ("departures", False)):
        bars = page.eval_on_selector_all(
            f"rect.layers-bar.{key}", "rs => rs.map(r => [Number(r.dataset.bucket), Number(r.getAttribute('y')), "
            "Number(r.getAttribute('height'))])")
        assert [b for b, _, _ in bars] == [i for i, v in enumerate(data[key]) if v > 0]
        for bucket, y, height in bars:
            # Taller than the scale (the arrivals at 0:00): clipped to it, and labelled with the value.
            assert height / (BARS_HEIGHT / 2) * bars_top == pytest.approx(min(bars_top, data[key][bucket]), abs=1e-6)
            assert (y + height if up else y) == pytest.approx(base)  # arrivals stand on the baseline, departures hang

    # The text alternative: a table with the same numbers, and a legend in words.
    rows = page.eval_on_selector_all("#layers-rows tr", "rs => rs.map(r => [...r.cells].map(c => c.textContent))")
    assert len(rows) == n
    for i, row in enumerate(rows):
        assert row[0] == f"{i // 60:02d}:{i % 60:02d}"
        assert row[1:] == [f"{data[k][i]:.3f}" for k in ("unique", "rewatch", "arrivals", "departures")]
    legend = page.inner_text("#layers-legend")
    for words in ("share of viewers", "plays per view", "arrivals", "departures"):
        assert words in legend
    assert "Most plays per view at" in page.inner_text("#layers-summary")

    def download(button: str) -> tuple[str, bytes]:
        with page.expect_download() as info:
            page.click(button)
        return info.value.suggested_filename, Path(info.value.path()).read_bytes()

    for what, fmt in (("layers", "csv"), ("heatmap", "json"), ("hotspots", "parquet")):
        name, content = download(f"#export-{what}-{fmt}")
        start, end = (int(t) for t in re.search(r"_(\d+)-(\d+)_", name).groups())
        assert end - start == 7 * 86_400 and abs(end - now) < 60  # the page's timeframe: the default 7 days
        # The same export asked for the window the page's request resolved to.
        api = httpx.get(f"{server.base_url}/v1/engagement/assets/movie/export/{what}.{fmt}", auth=tenant.auth,
                        params=[("timeframe[]", start), ("timeframe[]", end)])
        assert name == re.search(r'filename="([^"]+)"', api.headers["content-disposition"]).group(1)
        if fmt == "parquet":
            assert pq.read_table(io.BytesIO(content)).equals(pq.read_table(io.BytesIO(api.content)))
        else:
            assert content == api.content
    no_trouble(browsing)
    browsing.shot("layers-panel")
