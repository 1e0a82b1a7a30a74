"""The heatmap math against a simple, independent reference (exact fractions, per-view merge)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moments.engagement.heatmap import bucket_count, content_duration, heatmap
from moments.ingestion.imports import InvalidView, validate_view
from moments.model import RangeSet


def range_set(views: list[list[tuple[int, int]]], duration_ms: int | None = None) -> RangeSet:
    index = [i for i, ranges in enumerate(views) for _ in ranges]
    return RangeSet(
        n_views=len(views),
        view_index=np.array(index, dtype=np.int64),
        starts=np.array([s for ranges in views for s, _ in ranges], dtype=np.int64),
        ends=np.array([e for ranges in views for _, e in ranges], dtype=np.int64),
        reported_durations_ms=np.full(len(views), duration_ms or 0, dtype=np.int64),
    )


def merged_ranges(ranges, duration_ms: int) -> list[list[int]]:
    """A view's ranges clipped to [0, D] and merged, the slow, obvious way."""
    clipped = sorted((max(0, s), min(duration_ms, e)) for s, e in ranges if min(duration_ms, e) > max(0, s))
    merged: list[list[int]] = []
    for s, e in clipped:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return merged


def reference_heatmap(views: list[list[tuple[int, int]]], duration_ms: int) -> list[Fraction]:
    """Written the slow, obvious way: merge each view's ranges, then measure overlaps exactly."""
    n_buckets = bucket_count(duration_ms)
    width = Fraction(duration_ms, n_buckets)
    totals = [Fraction(0)] * n_buckets
    for ranges in views:
        for s, e in merged_ranges(ranges, duration_ms):
            for i in range(n_buckets):
                lo, hi = i * width, (i + 1) * width
                overlap = min(hi, e) - max(lo, s)
                if overlap > 0:
                    totals[i] += overlap
    return [t / width / len(views) for t in totals]


def assert_matches_reference(views, duration_ms):
    got = heatmap(range_set(views), duration_ms)
    want = reference_heatmap(views, duration_ms)
    assert len(got) == len(want)
    np.testing.assert_allclose(got, [float(w) for w in want], rtol=0, atol=1e-9)
    return got


@pytest.mark.parametrize(
    "duration_ms, buckets",
    [(5_000, 10), (9_999, 10), (10_001, 11), (60_000, 60), (60_001, 61), (7_200_000, 1000), (36_000_000, 1000)],
)
def test_bucket_rule(duration_ms, buckets):
    assert bucket_count(duration_ms) == buckets


def test_one_view_half_watched():
    got = assert_matches_reference([[(0, 30_000)]], 60_000)
    assert got[:30].tolist() == [1.0] * 30 and got[30:].tolist() == [0.0] * 30


def test_overlapping_out_of_order_and_rewatched_ranges_count_once():
    # The seek-back capture from mux-embed: rewatching 10-15 s must not push values above 1.
    views = [[(0, 19_995), (40_004, 49_999), (10_002, 15_005)]]
    got = assert_matches_reference(views, 60_000)
    assert got.max() == 1.0
    assert got[12] == 1.0 and got[25] == 0.0 and got[45] == 1.0


def test_ranges_past_the_end_are_clipped():
    got = assert_matches_reference([[(50_000, 90_000)], [(0, 70_000)]], 60_000)
    assert got[-1] == 1.0 and got[0] == 0.5


def test_partial_buckets_are_fractions():
    # 5 s content has 10 buckets of 500 ms; 250 ms watched is half a bucket.
    got = assert_matches_reference([[(0, 250)], [(0, 500)]], 5_000)
    assert got[0] == pytest.approx(0.75)


@pytest.mark.parametrize("duration_ms", [5_000, 60_000, 7_200_000, 36_000_000])
def test_many_views_at_each_scale(duration_ms):
    rng = np.random.default_rng(duration_ms)
    views = []
    for _ in range(60):
        n = int(rng.integers(1, 6))
        starts = rng.integers(0, duration_ms, n)
        lengths = rng.integers(1, duration_ms // 3, n)
        views.append([(int(s), int(s + length)) for s, length in zip(starts, lengths)])
    got = assert_matches_reference(views, duration_ms)
    assert ((got >= 0) & (got <= 1)).all()


@settings(max_examples=60, deadline=None)
@given(
    duration_ms=st.integers(1_000, 3_000_000),
    views=st.lists(
        st.lists(st.tuples(st.integers(0, 3_500_000), st.integers(1, 400_000)), min_size=1, max_size=6),
        min_size=1,
        max_size=12,
    ),
)
def test_matches_reference_on_random_views(duration_ms, views):
    views = [[(s, s + length) for s, length in ranges] for ranges in views]
    assert_matches_reference(views, duration_ms)


def test_content_duration_rule():
    reported = [(59_000, 1), (60_000, 2), (61_000, 1), (0, 5)]
    assert content_duration(120_000, reported) == 120_000
    assert content_duration(None, reported) == 60_000  # zero durations are unknown, not short
    assert content_duration(None, [(0, 3)]) is None
    assert content_duration(None, [(10_000, 1), (20_000, 1)]) == 15_000  # even count: the mean of the middle two
    for _ in range(50):  # the histogram median is numpy's median of the expanded values
        values = np.random.default_rng(_).integers(1, 5, 7) * 1000
        counts = np.random.default_rng(_ + 99).integers(0, 4, 7)
        expanded = np.repeat(values, counts)
        if expanded.size:
            assert content_duration(None, list(zip(values.tolist(), counts.tolist()))) == round(np.median(expanded))


BASE = {"view_id": "v", "asset_id": "a", "view_start": 1_795_600_000_000, "duration_ms": 60_000}


@pytest.mark.parametrize("ranges", [[[5, 5]], [[10, 5]], [[-1, 5]], [[0, 1.5]], [[0]], [[0, 2**63]], "0:5"])
def test_zero_length_negative_and_malformed_ranges_are_rejected(ranges):
    with pytest.raises(InvalidView) as error:
        validate_view({**BASE, "ranges": ranges})
    assert any("ranges" in m for m in error.value.messages)
