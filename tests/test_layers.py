"""The rewatch, arrival and departure layers against hand-made views."""

from __future__ import annotations

import time

import numpy as np
import pytest

from moments.engagement.layers import arrivals_and_departures, rewatch

from test_heatmap import range_set


def test_rewatch_counts_every_play():
    # 10 s content, 10 buckets. View 1 plays 0-4 s, then 2-3 s again; view 2 plays 0-10 s.
    views = [[(0, 4000), (2000, 3000)], [(0, 10_000)]]
    got = rewatch(range_set(views), 10_000)
    np.testing.assert_allclose(got, [1, 1, 1.5, 1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])


def test_rewatch_exceeds_one_and_clips_to_the_content():
    got = rewatch(range_set([[(0, 1000), (0, 1000), (0, 1000), (9000, 20_000)]]), 10_000)
    assert got[0] == 3 and got[9] == 1 and got[5] == 0


def test_arrivals_and_departures():
    # View 1: starts at 0, leaves at 3.5 s. View 2: starts at 0, seeks 5 s -> 8 s, plays to the end.
    views = [[(0, 3500)], [(0, 5000), (8000, 10_000)]]
    arrivals, departures = arrivals_and_departures(range_set(views), 10_000)
    assert arrivals.tolist() == [1, 0, 0, 0, 0, 0, 0, 0, 0.5, 0]
    # Leaving at 3.5 s stops in bucket 3; the seek away at 5 s in bucket 4; the end is not a departure.
    assert departures.tolist() == [0, 0, 0, 0.5, 0.5, 0, 0, 0, 0, 0]


def test_overlapping_ranges_arrive_once():
    arrivals, departures = arrivals_and_departures(range_set([[(1000, 5000), (1200, 3000)]]), 10_000)
    assert arrivals.sum() == 1 and departures.sum() == 1


@pytest.mark.parametrize("duration_ms", [10_000, 7_777, 3_600_000])
def test_layers_against_a_per_view_reference(duration_ms):
    rng = np.random.default_rng(duration_ms)
    views = []
    for _ in range(40):
        s = rng.integers(0, duration_ms, 3)
        views.append([(int(a), int(min(duration_ms + 500, a + rng.integers(1, duration_ms // 2)))) for a in s])
    n_buckets = len(rewatch(range_set(views), duration_ms))
    width = duration_ms / n_buckets
    expected_plays = np.zeros(n_buckets)
    for ranges in views:
        for s, e in ranges:
            s, e = max(0, s), min(duration_ms, e)
            for i in range(n_buckets):
                expected_plays[i] += max(0.0, min(e, (i + 1) * width) - max(s, i * width)) / width
    np.testing.assert_allclose(rewatch(range_set(views), duration_ms), expected_plays / len(views), atol=1e-9)


def test_layers_endpoint(server):
    tenant = server.tenant()
    now = int(time.time() * 1000) - 3_600_000
    views = [{"view_id": "a", "asset_id": "m", "view_start": now, "view_end": now + 1, "duration_ms": 10_000,
              "ranges": [[0, 4000], [2000, 3000]]},
             {"view_id": "b", "asset_id": "m", "view_start": now, "view_end": now + 1, "duration_ms": 10_000,
              "ranges": [[0, 5000], [8000, 10_000]]}]
    with server.client(tenant) as c:
        assert c.post("/v1/views", json=views).json()["data"]["accepted"] == 2
        body = c.get("/v1/engagement/assets/m/layers").json()
        heatmap = c.get("/data/v1/engagement/assets/m/heatmap").json()
        assert c.get("/v1/engagement/assets/nope/layers").status_code == 404
        assert c.get("/v1/engagement/assets/m/layers", params={"timeframe[]": "x"}).status_code == 400
    data = body["data"]
    assert data["total_views"] == 2 and data["unique"] == heatmap["data"]["value"]
    assert data["rewatch"][2] == 1.5 and data["rewatch"][9] == 0.5
    assert data["arrivals"][0] == 1 and data["arrivals"][8] == 0.5
    assert data["departures"][3] == 0.5 and data["departures"][4] == 0.5 and data["departures"][9] == 0
