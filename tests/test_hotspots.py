"""Hotspots: silent on smooth curves and small audiences, precise on planted moments."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moments.engagement.heatmap import heatmap
from moments.engagement.hotspots import Seeks, detect, order, score
from moments.lab.demo import CONTENT
from moments.lab.simulate import Audience, Moment, range_set


def simulated_heatmap(audience: Audience) -> np.ndarray:
    return heatmap(range_set(audience), audience.duration_ms)


def iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    return inter / (max(a[1], b[1]) - min(a[0], b[0]))


@settings(max_examples=int(os.environ.get("MOMENTS_PROPERTY_EXAMPLES", 150)), deadline=None)
@given(
    n_views=st.integers(1, 200_000),
    n_buckets=st.integers(10, 1000),
    floor=st.floats(0.0, 0.6),
    rate=st.floats(0.0, 8.0),
    intro=st.floats(0.0, 0.5),
    intro_rate=st.floats(5.0, 200.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_no_hotspot_on_smooth_decay_at_any_n(n_views, n_buckets, floor, rate, intro, intro_rate, seed):
    """Any smooth decay (exponential, with a steep intro drop and a floor) plus pure sampling noise."""
    t = np.linspace(0, 1, n_buckets, endpoint=False)
    curve = (1 - intro) * (floor + (1 - floor) * np.exp(-rate * t)) + intro * np.exp(-intro_rate * t)
    values = np.random.default_rng(seed).binomial(n_views, curve) / n_views
    assert detect(values, n_views, n_buckets * 1000) == []


@pytest.mark.parametrize("n_views, duration_ms", [(300, 60_000), (2_000, 600_000), (5_000, 3_600_000)])
def test_no_hotspot_on_simulated_audiences_without_moments(n_views, duration_ms):
    for seed in range(3):
        audience = Audience(duration_ms=duration_ms, n_views=n_views, hazard_per_minute=3000 / duration_ms,
                            hazard_growth=seed * 0.5, seed=seed)
        assert detect(simulated_heatmap(audience), n_views, duration_ms) == []


@pytest.mark.parametrize("n_views", [1, 3, 8, 20])
def test_empty_for_a_handful_of_views(n_views):
    audience = Audience(duration_ms=60_000, n_views=n_views, moments=(Moment(20_000, 30_000, "peak", 0.9),))
    assert detect(simulated_heatmap(audience), n_views, 60_000) == []


@pytest.mark.parametrize("duration_ms, hazard, moment", [
    (120_000, 0.4, Moment(60_000, 75_000, "peak", 0.3)),
    (300_000, 0.1, Moment(100_000, 130_000, "valley", 0.5)),
])
def test_planted_moment_found_with_its_range(duration_ms, hazard, moment):
    audience = Audience(duration_ms=duration_ms, n_views=3000, hazard_per_minute=hazard, seed=7, moments=(moment,))
    found = detect(simulated_heatmap(audience), 3000, duration_ms)
    assert len(found) == 1
    assert iou((found[0].start_ms, found[0].end_ms), (moment.start_ms, moment.end_ms)) >= 0.6
    assert (found[0].score > 0.5) == (moment.kind == "peak")


def test_several_peaks_and_valleys_late_peak_included():
    moments = (Moment(60_000, 80_000, "valley", 0.5), Moment(200_000, 220_000, "peak", 0.3),
               Moment(500_000, 530_000, "peak", 0.25), Moment(380_000, 410_000, "valley", 0.5))
    audience = Audience(duration_ms=600_000, n_views=5000, hazard_per_minute=0.15, seed=9, moments=moments)
    values = simulated_heatmap(audience)
    found = detect(values, 5000, 600_000)
    assert len(found) == 4
    for moment in moments:
        match = [h for h in found if iou((h.start_ms, h.end_ms), (moment.start_ms, moment.end_ms)) >= 0.5]
        assert len(match) == 1, moment
        assert (match[0].score > 0.5) == (moment.kind == "peak")
    # The late peak has a lower absolute share than the early one, yet it is found.
    assert values[510] < values[210]


def test_boundaries_align_to_buckets_and_order():
    audience = Audience(duration_ms=90_500, n_views=4000, hazard_per_minute=0.3, seed=3,
                        moments=(Moment(30_000, 45_000, "peak", 0.4), Moment(60_000, 75_000, "valley", 0.5)))
    found = detect(simulated_heatmap(audience), 4000, 90_500)
    assert len(found) == 2
    width = 90_500 / 91
    for h in found:
        assert h.start_ms == round(round(h.start_ms / width) * width)
        assert h.end_ms == round(round(h.end_ms / width) * width)
    assert [h.score for h in order(found, "desc")] == sorted((h.score for h in found), reverse=True)
    assert [h.score for h in order(found, "asc")] == sorted(h.score for h in found)


def test_score_is_centred_on_expected():
    assert score(0.4, 0.4) == 0.5
    assert score(0.8, 0.4) > score(0.6, 0.4) > 0.5 > score(0.3, 0.4) > score(0.1, 0.4)
    assert 0 <= score(0.0, 0.4) < score(1.0, 0.001) <= 1


@pytest.mark.parametrize("content", CONTENT, ids=[c.asset_id for c in CONTENT])
def test_demo_moments_are_found(content):
    """The demo's planted moments (what the README's curl lines show) are found, and nothing else."""
    audience = content.audience
    found = detect(simulated_heatmap(audience), audience.n_views, audience.duration_ms)
    assert len(found) == len(audience.moments)
    for moment in audience.moments:
        assert any(iou((h.start_ms, h.end_ms), (moment.start_ms, moment.end_ms)) >= 0.5
                   and (h.score > 0.5) == (moment.kind == "peak") for h in found)


@pytest.fixture(scope="module")
def evaluation_audiences():
    from moments.lab.evaluation import scoring

    return {audience.seed: audience for audience in scoring.planted(145)}


@pytest.mark.parametrize("seed", [2000016, 2000034, 2000142, 2000149])
def test_seek_layers_find_what_the_heatmap_alone_cannot(evaluation_audiences, seed):
    """Random audiences of the evaluation whose moment the heatmap alone explains as trend:
    a valley near the end, a gradual onset that only slows the decay, valleys that look like
    a cliff followed by a peak. The seek layers find each with its range."""
    from moments.lab.evaluation.audiences import curves, truth
    from moments.lab.evaluation.scoring import iou

    audience = evaluation_audiences[seed]
    values, plain, seeks = curves(audience)
    moment = max(truth(audience, values, plain), key=lambda m: abs(m.effect))

    def best(found):
        return max((iou((h.start_ms, h.end_ms), (moment.start_ms, moment.end_ms)) for h in found
                    if (h.score > 0.5) == moment.peak), default=0.0)

    assert best(detect(values, audience.n_views, audience.duration_ms)) < 0.3
    assert best(detect(values, audience.n_views, audience.duration_ms, seeks=seeks)) >= 0.45


def test_seek_layers_without_seeking_add_nothing():
    """Viewers who never seek (no landed or skipped share) give the heatmap's hotspots."""
    audience = Audience(duration_ms=600_000, n_views=5_000, midway_share=0.0, rewatch_share=0.0,
                        moments=(Moment(200_000, 215_000, "peak", 0.3), Moment(400_000, 420_000, "valley", 0.3)))
    values = heatmap(range_set(audience), audience.duration_ms)
    assert detect(values, 5_000, 600_000)
    nothing = Seeks(np.zeros(values.size), np.zeros(values.size))
    assert detect(values, 5_000, 600_000, seeks=nothing) == detect(values, 5_000, 600_000)
