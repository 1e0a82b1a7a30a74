"""How sure the numbers are (engagement/uncertainty.py): each method against an independent
reference where one exists; the intervals' coverage and the compare tests' errors on simulated
audiences chosen not to share their assumptions (moments.lab.calibration; the full tables are in
docs/engagement.md); /compare's verdict on a live server."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy import stats

from moments.client import Client
from moments.engagement.uncertainty import holm, mean_interval, median_interval, ratio_interval, share_interval
from moments.lab import calibration
from moments.model import Asset, View
from moments.store.duckdb import DuckDBStore

from conftest import make_tenant, start_app
from test_cli import ok


@pytest.mark.parametrize("k, n", [(0, 10), (3, 10), (50, 100), (997, 1000), (1000, 1000)])
def test_a_share_of_whole_views_gets_wilsons_interval(k, n):
    want = stats.binomtest(k, n).proportion_ci(0.95, method="wilson")
    assert share_interval(k / n, n) == pytest.approx((want.low, want.high), abs=1e-12)


def test_means_medians_and_ratios_hold_their_figure_and_narrow_with_more_views():
    rng = np.random.default_rng(4)
    for n in (5, 50, 5_000):
        values, weights = rng.exponential(3.0, n), rng.uniform(1, 2, n)
        for (low, high), figure in ((mean_interval(values), values.mean()), (median_interval(values), np.median(values)),
                                    (ratio_interval(values * weights, weights), (values * weights).sum() / weights.sum())):
            assert low <= figure <= high
    assert np.diff(mean_interval(rng.exponential(3.0, 50_000)))[0] < np.diff(mean_interval(rng.exponential(3.0, 500)))[0]
    assert mean_interval(np.array([2.0])) == (2.0, 2.0) and median_interval(np.array([2.0])) == (2.0, 2.0)


def test_the_intervals_hold_about_95_percent_of_the_time_on_every_audience():
    rng = np.random.default_rng(2026)
    shares = []
    for pattern in calibration.PATTERNS:
        people = calibration.population(pattern, rng, 4_000)
        held = calibration.coverage_of(people, 300, 200, rng)
        for figure, share in held.items():
            assert share >= 0.85, (pattern, figure, share)
        shares += [share for figure, share in held.items() if people.truth[figure] is not None]
    assert np.mean(shares) >= 0.93


def test_holm_stops_at_the_first_p_value_above_its_threshold():
    # sorted: 0.01 <= 0.05/4; 0.03 > 0.05/3 stops it, so 0.04 is not significant either
    assert holm(np.array([0.01, 0.04, 0.03, 0.2])).tolist() == [True, False, False, False]
    assert holm(np.array([0.001, 0.012, 0.02])).tolist() == [True, True, True]


def test_two_samples_of_one_audience_are_called_different_at_most_5_percent_of_the_time():
    rng = np.random.default_rng(7)
    for pattern in calibration.PATTERNS:
        people = calibration.population(pattern, rng, 4_000)
        for n in (30, 300):
            overall, any_bucket = calibration.null_pairs(people, n, 200, rng)
            assert overall <= 0.05 and any_bucket <= 0.05, (pattern, n, overall, any_bucket)


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    store = DuckDBStore(str(tmp_path_factory.mktemp("verdict") / "moments.duckdb"))
    tenant = make_tenant(store)
    now_ms = int(time.time() * 1000)

    def views(asset: str, n: int, end_ms: int) -> list[View]:
        return [View(f"{asset}-{i}", now_ms - 3_600_000 - i, 60_000, ((0, end_ms),), view_end_ms=now_ms - 1000,
                     asset_id=asset) for i in range(n)]

    for asset, n, end_ms in (("all", 200, 60_000), ("same", 200, 60_000), ("third", 200, 20_000), ("tiny", 5, 20_000)):
        store.put_asset(tenant.environment_id, Asset(asset, 60_000))
        store.upsert_views(tenant.environment_id, views(asset, n, end_ms), now_ms)
    server = start_app(store)
    yield server, tenant
    server.stop()
    store.close()


def test_compare_says_which_differences_are_real_and_when_it_cannot_tell(compared):
    server, tenant = compared
    with server.client(tenant) as http:
        def verdict(a: str, b: str) -> dict:
            return http.get(f"/v1/engagement/assets/{a}/compare", params={"against": b}).json()["data"]

        real = verdict("all", "third")  # all of 60 s against the first 20 s
        assert real["average_significant"] and real["average_difference"] == pytest.approx(-2 / 3)
        assert real["significant"][:20] == [False] * 20 and all(real["significant"][21:])
        same = verdict("all", "same")
        assert not same["average_significant"] and not any(same["significant"]) and same["verdict_note"] is None
        tiny = verdict("all", "tiny")
        assert tiny["significant"] == [] and tiny["average_p_value"] is None and tiny["average_significant"] is None
        assert tiny["verdict_note"].startswith("not enough views to tell")


def test_the_cli_says_whether_the_difference_is_real(compared, tmp_path):
    server, tenant = compared
    remote = ("--url", server.base_url, "--token-id", tenant.token_id, "--token-secret", tenant.token_secret)
    real = ok("compare", *remote, "--asset", "all", "--against", "third", cwd=tmp_path)
    assert "b watches 66.7 points of the content less on average: beyond chance" in real
    assert real.count("  *\n") == 40  # 0:20 to the end, bucket by bucket
    assert "within chance" in ok("compare", *remote, "--asset", "all", "--against", "same", cwd=tmp_path)
    assert "not enough views to tell" in ok("compare", *remote, "--asset", "all", "--against", "tiny", cwd=tmp_path)


def test_the_v1_heatmap_adds_each_values_interval_when_asked(compared):
    server, tenant = compared
    with server.client(tenant) as http:
        mux = http.get("/data/v1/engagement/assets/third/heatmap").json()
        window = [("timeframe[]", str(t)) for t in mux["timeframe"]]  # the same window, whenever asked
        ours = http.get("/v1/engagement/assets/third/heatmap", params=window + [("intervals", "true")]).json()
        plain = http.get("/v1/engagement/assets/third/heatmap", params=window).json()
        assert http.get("/v1/engagement/assets/third/heatmap", params={"intervals": "1"}).status_code == 400
        assert http.get("/data/v1/engagement/assets/third/heatmap", params={"intervals": "true"}).status_code == 400
    data = ours["data"]
    assert {**ours, "data": {k: v for k, v in data.items() if k not in ("value_low", "value_high")}} == mux
    assert plain["data"]["value_low"] is None and plain["data"]["value_high"] is None
    n = data["total_views"]  # 200 views of the first 20 s of 60: each bucket's share is 1 or 0
    for share, low, high in zip(data["value"], data["value_low"], data["value_high"]):
        want = stats.binomtest(round(share * n), n).proportion_ci(0.95, method="wilson")
        assert (low, high) == pytest.approx((want.low, want.high), abs=1e-12)
    with Client(tenant.token_id, tenant.token_secret, server.base_url) as client:
        assert client.heatmap("assets", "third", intervals=True).value_high == data["value_high"]
        assert client.heatmap("assets", "third").value_low is None
