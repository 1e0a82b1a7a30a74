"""The summary figures' 95% intervals (engagement/uncertainty.py): each method against an
independent reference where one exists, and their coverage on simulated audiences chosen not to
share their assumptions (moments.lab.calibration; the full table is in docs/engagement.md)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from moments.engagement.uncertainty import mean_interval, median_interval, ratio_interval, share_interval
from moments.lab import calibration


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
