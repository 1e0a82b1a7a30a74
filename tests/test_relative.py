"""Compared with what: resampling, the typical curve and the overall figures against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from moments.engagement.relative import MIN_PEERS, band, difference, relative_to_peers, resample


def test_resample_is_area_preserving_by_relative_position():
    assert resample(np.array([1.0, 0.0]), 4).tolist() == [1, 1, 0, 0]
    # [1, 0, 0] on 2 buckets: the first half holds 1 for 1/3 of the content, then 0 -> (1/3) / (1/2).
    np.testing.assert_allclose(resample(np.array([1.0, 0.0, 0.0]), 2), [2 / 3, 0])
    np.testing.assert_allclose(resample(np.array([0.3, 0.6, 0.9, 0.6]), 2), [0.45, 0.75])
    np.testing.assert_allclose(resample(np.array([0.2, 0.4, 0.8]), 6), [0.2, 0.2, 0.4, 0.4, 0.8, 0.8])
    curve = np.random.default_rng(1).random(37)
    for n in (10, 37, 100, 1000):
        assert resample(curve, n).mean() == pytest.approx(curve.mean())


def test_band_is_a_factor_of_two_each_way():
    assert band(60_000) == (30_000, 120_000)
    assert band(1_001) == (501, 2_002)


def test_typical_is_the_per_bucket_median_each_peer_once():
    peers = [np.array([1, 1, 0, 0.0]), np.array([1, 0.5]), np.array([0.5, 0.5, 0.5, 0.5])]
    # On 4 buckets the second peer is [1, 1, 0.5, 0.5]: medians 1, 1, 0.5, 0.5.
    np.testing.assert_allclose(relative_to_peers(np.zeros(4), 100, peers).typical, [1, 1, 0.5, 0.5])


def test_relative_difference_and_overall_figures():
    peers = [np.array([1, 1, 0, 0.0]), np.array([1, 0.5]), np.array([0.5, 0.5, 0.5, 0.5])]
    result = relative_to_peers(np.array([1, 0.5, 0.5, 0.0]), 100, peers)
    np.testing.assert_allclose(result.typical, [1, 1, 0.5, 0.5])
    np.testing.assert_allclose(result.relative, [0, -0.5, 0, -0.5])
    assert result.overall.average == 0.5 and result.overall.typical_average == 0.75
    assert result.overall.ratio == pytest.approx(2 / 3)
    # Peer averages 0.5, 0.75, 0.5: none lower, two equal (half each) -> 1/3.
    assert result.overall.better_than == pytest.approx(1 / 3)


def test_better_than_counts_lower_peers():
    peers = [np.full(10, 0.1), np.full(5, 0.2), np.full(20, 0.3), np.full(7, 0.9)]
    result = relative_to_peers(np.full(10, 0.5), 100, peers)
    assert result.overall.better_than == 0.75
    np.testing.assert_allclose(result.typical, np.full(10, 0.25))
    assert result.overall.ratio == pytest.approx(2.0)


def test_not_enough_peers_gives_no_figure():
    peers = [np.ones(10)] * (MIN_PEERS - 1)
    assert relative_to_peers(np.ones(10), 100, peers) is None
    assert relative_to_peers(np.zeros(0), 100, [np.ones(10)] * MIN_PEERS) is None


def test_typical_all_zero_has_no_ratio():
    result = relative_to_peers(np.full(4, 0.5), 100, [np.zeros(4)] * 3)
    assert result.overall.ratio is None and result.overall.better_than == 1.0


def test_difference_is_b_minus_a_on_a_grid():
    np.testing.assert_allclose(difference(np.array([0.5, 0.5]), np.array([1, 0.5, 0.5, 0.0])), [0.25, -0.25])
    assert difference(np.zeros(0), np.ones(3)).size == 0 and difference(np.ones(3), np.zeros(0)).size == 0
