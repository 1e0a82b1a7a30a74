"""The hotspot evaluation (quick subset) through the real import and query path.

Fails if the detector regresses past the thresholds documented in docs/hotspots.md.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moments.engagement.heatmap import heatmap
from moments.engagement.hotspots import detect
from moments.evaluation import DETECTORS, evaluate, score, sign_errors
from moments.simulate import Audience, range_set


@pytest.fixture(scope="module")
def results():
    return evaluate(quick=True)[0]


def test_ours_meets_the_documented_thresholds(results):
    ours = score(results, DETECTORS[0][1])
    assert ours.planted >= 8 and ours.found > 0
    assert ours.precision >= 0.9 and ours.recall >= 0.9
    assert ours.null_false == 0
    assert sign_errors(results, DETECTORS[0][1]) == 0


def test_subtle_and_late_moments_are_found(results):
    for result in results:
        if result.case.name in ("subtle peak 5min 3000 views", "late peak 1h"):
            assert len(result.ours) == 1 and result.ours[0].peak, result.case.name


def test_the_obvious_alternative_does_worse_on_the_same_cases(results):
    ours, baseline = score(results, DETECTORS[0][1]), score(results, DETECTORS[1][1])
    assert baseline.null_false > ours.null_false
    assert baseline.precision < ours.precision


@settings(max_examples=25, deadline=None)
@given(
    n_views=st.integers(30, 20_000),
    duration_ms=st.integers(20_000, 10_800_000),
    intro_drop=st.floats(0.0, 0.6),
    hazard=st.floats(0.2, 8.0),
    growth=st.floats(0.0, 3.0),
    midway=st.floats(0.0, 0.4),
    rewatch=st.floats(0.0, 0.5),
    seed=st.integers(0, 10_000),
)
def test_no_hotspot_on_simulated_audiences_without_moments(n_views, duration_ms, intro_drop, hazard, growth, midway,
                                                           rewatch, seed):
    """Real views (each watching a stretch) from audiences with no moment: nothing to report."""
    audience = Audience(duration_ms=duration_ms, n_views=n_views, intro_drop=intro_drop,
                        hazard_per_minute=hazard * 60_000 / duration_ms, hazard_growth=growth, midway_share=midway,
                        rewatch_share=rewatch, seed=seed)
    assert detect(heatmap(range_set(audience), duration_ms), n_views, duration_ms) == []
