"""How sure the numbers are (engagement/uncertainty.py): each method against an independent
reference where one exists; the intervals' coverage and the compare tests' errors on simulated
audiences chosen not to share their assumptions (moments.lab.calibration; the full tables are in
docs/engagement.md); /compare's and /relative's verdicts on a live server."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy import stats

from moments.client import Client
from moments.engagement.uncertainty import (count_rate_interval, holm, mean_interval, median_interval, ratio_interval,
                                           share_interval, typical_difference_p_values)
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


def test_the_chapter_intervals_hold_about_95_percent_of_the_time_on_every_audience():
    rng = np.random.default_rng(2027)
    shares = []
    for pattern in calibration.PATTERNS:
        held = calibration.chapter_coverage(calibration.population(pattern, rng, 4_000), 300, 60, rng)
        assert min(held.values()) >= 0.85, (pattern, held)
        shares += list(held.values())
    assert np.mean(shares) >= 0.93


def test_a_median_of_too_few_values_for_an_order_statistic_interval_takes_the_bounds():
    assert median_interval(np.array([3.0, 9.0, 4.0]), (0.0, 10.0)) == (0.0, 10.0)
    assert median_interval(np.array([3.0]), (0.0, 10.0)) == (0.0, 10.0)
    assert median_interval(np.arange(6.0), (0.0, 10.0)) == (0.0, 5.0)  # from 6 values: the extremes


def test_a_rate_of_counts_keeps_an_upper_bound_when_the_sample_has_none():
    # No seek in 10 views: Garwood's upper bound -ln(0.025) / 10, where Student's t says [0, 0].
    assert count_rate_interval(np.zeros(10, dtype=np.int64)) == pytest.approx((0.0, -np.log(0.025) / 10))
    # Many views, spread out: Student's t, wider than the Poisson interval of the total.
    counts = np.random.default_rng(1).negative_binomial(1, 0.2, 5_000)
    assert count_rate_interval(counts) == pytest.approx(mean_interval(counts.astype(np.float64)))
    # Where one view in ten seeks, 10 views hold the true rate about 95% of the time.
    people = calibration.population("two kinds", np.random.default_rng(5), 4_000)
    assert calibration.coverage_of(people, 10, 300, np.random.default_rng(6))["seek_rate"] >= 0.93


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


def test_a_share_against_its_peers_median_by_hand():
    peers = np.array([[0.3], [0.6], [0.45], [0.7]])  # median 0.525
    own, typical = (0.5 * 0.5 + 1 / 400) / 100, np.pi / 2 * np.var([0.3, 0.6, 0.45, 0.7], ddof=1) / 4
    freedom = (own + typical) ** 2 / (own ** 2 / 99 + typical ** 2 / 3)
    want = 2 * stats.t.sf(0.025 / np.sqrt(own + typical), freedom)
    assert typical_difference_p_values(np.array([0.5]), 100, peers)[0] == pytest.approx(want, rel=1e-12)
    # Peers that agree exactly leave only the share's own uncertainty: 0.6 of 10,000 views is not 0.5.
    assert typical_difference_p_values(np.array([0.6, 0.5]), 10_000, np.full((3, 2), 0.5)).tolist() == \
        pytest.approx([0.0, 1.0], abs=1e-12)


def test_a_content_like_its_peers_is_rarely_called_different_and_a_skipped_stretch_is_found():
    rng = np.random.default_rng(11)
    for peers in (3, 10):
        overall, any_bucket = calibration.relative_calls(peers, 100, rng)
        assert overall <= 0.05 and any_bucket <= 0.05, (peers, overall, any_bucket)
    _, found = calibration.relative_calls(10, 50, rng, (0.3, 0.38, 0.5))
    assert found >= 0.7


@pytest.fixture(scope="module")
def peered(tmp_path_factory):
    """60 s assets: six peers and `usual` whose views leave around 0:30, `odd` around 0:50, `few`
    with 10 views."""
    store = DuckDBStore(str(tmp_path_factory.mktemp("relative-verdict") / "moments.duckdb"))
    tenant = make_tenant(store)
    now_ms, rng = int(time.time() * 1000), np.random.default_rng(3)
    contents = [(f"p{k}", 100, 30_000) for k in range(6)] + [("usual", 100, 30_000), ("odd", 100, 50_000),
                                                             ("few", 10, 30_000)]
    for asset, n, end_ms in contents:
        store.put_asset(tenant.environment_id, Asset(asset, 60_000))
        ends = np.clip(rng.normal(end_ms, 3_000, n), 1_000, 60_000).astype(int)
        store.upsert_views(tenant.environment_id, [
            View(f"{asset}-{i}", now_ms - 3_600_000 - i, 60_000, ((0, int(end)),), view_end_ms=now_ms - 1000,
                 asset_id=asset) for i, end in enumerate(ends)], now_ms)
    server = start_app(store)
    yield server, tenant
    server.stop()
    store.close()


def test_relative_says_which_differences_from_similar_content_are_real(peered, tmp_path):
    server, tenant = peered
    with server.client(tenant) as http:
        def verdict(asset: str) -> dict:
            return http.get(f"/v1/engagement/assets/{asset}/relative").json()["data"]

        odd, usual, few = verdict("odd"), verdict("usual"), verdict("few")
    assert odd["peers"] == 8 and odd["average_significant"] and odd["verdict_note"] is None
    # Nearly every viewer of `odd` watches 0:38 to 0:42, nearly none of the peers'.
    assert all(odd["significant"][38:42]) and not any(odd["significant"][:20])
    assert not usual["average_significant"] and not any(usual["significant"]) and len(usual["significant"]) == 60
    assert few["significant"] == [] and few["average_p_value"] is None and few["average_significant"] is None
    assert few["verdict_note"] == "not enough views to tell (fewer than 30)"
    remote = ("--url", server.base_url, "--token-id", tenant.token_id, "--token-secret", tenant.token_secret)
    said = ok("relative", *remote, "--asset", "odd", cwd=tmp_path)
    assert "on average beyond chance" in said and said.count("  *\n") == sum(odd["significant"])
    assert "within chance of similar content" in ok("relative", *remote, "--asset", "usual", cwd=tmp_path)
    with Client(tenant.token_id, tenant.token_secret, server.base_url) as client:
        assert client.relative("assets", "odd").significant == odd["significant"]


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
