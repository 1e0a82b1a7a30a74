"""Compared with what: a curve against its peers' typical curve, and two curves side by side.

Pure math, arrays in and arrays out (docs/engagement.md, "Compared with what"):

- Curves of different lengths are compared by **relative position** in the content: a
  heatmap of B buckets is a step function on [0, 1); `resample` averages it over the
  buckets of another grid (area-preserving, exact), so a 2-minute and a 3-minute video
  are compared at 10 %, 20 %, ... of their length.
- **Peers** are contents of the same kind whose duration lies within a factor of
  `BAND_FACTOR` (2) of this one's; the **typical curve** is the per-bucket median of the
  peers' resampled curves, each peer counting once whatever its views (it is the typical
  *content*, so one viral video does not define "typical"). Below `MIN_PEERS` (3) peers
  there is no typical curve: a median of one or two curves would be a guess.
- **relative[i] = value[i] - typical[i]**: a difference of shares of viewers ("12
  points more viewers watched this moment than on similar content"), always defined and
  bounded in [-1, 1] (a ratio blows up where the typical curve falls to 0 near the end).
- **Overall**: `average` is the mean of the curve (on a uniform grid, the average share
  of the content a view watched); `ratio = average / typical_average` (areas under the two
  curves: 1.18 = "retains 18 % more than similar content"); `better_than` is the share of
  peers whose own average is lower (ties count half): 0.72 = "better than 72 % of similar
  content".
- **Beyond chance**: each value against the peers' values at that position, and the average
  against theirs, each side with its own uncertainty (uncertainty.typical_difference_p_values).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from moments.engagement.uncertainty import typical_difference_p_values

BAND_FACTOR = 2.0  # peers last between D / 2 and 2 D
MIN_PEERS = 3  # fewer peers: "not enough similar content", no typical curve


def band(duration_ms: int) -> tuple[int, int]:
    """The durations (inclusive, ms) of content similar in length to `duration_ms`."""
    return int(np.ceil(duration_ms / BAND_FACTOR)), int(np.floor(duration_ms * BAND_FACTOR))


def resample(values: np.ndarray, n: int) -> np.ndarray:
    """The step curve `values` (equal buckets over [0, 1)) averaged over each of `n` equal buckets.

    Exact: the integral of a step curve is piecewise linear between its bucket edges, so
    interpolating the cumulative integral at the new edges gives each new bucket's area.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == n:
        return values.copy()
    cumulative = np.concatenate(([0.0], np.cumsum(values))) / values.size
    areas = np.interp(np.linspace(0.0, 1.0, n + 1), np.linspace(0.0, 1.0, values.size + 1), cumulative)
    return np.diff(areas) * n


@dataclass(frozen=True)
class Overall:
    average: float  # mean of this content's curve
    typical_average: float  # mean of the typical curve
    ratio: float | None  # average / typical_average; None when the typical curve is all zeros
    better_than: float  # share of peers whose average is lower (ties count half), 0..1
    p_value: float  # the average against the peers' averages (uncertainty.typical_difference_p_values)


@dataclass(frozen=True)
class Relative:
    typical: np.ndarray  # on the grid of `values`
    relative: np.ndarray  # values - typical
    p_values: np.ndarray  # each value against the peers' values there (before Holm's method)
    overall: Overall


def relative_to_peers(values: np.ndarray, n_views: int, peers: list[np.ndarray]) -> Relative | None:
    """This curve (of n_views views) against its peers' typical curve; None when there are
    fewer than MIN_PEERS peers or this curve is empty (no figure is invented)."""
    values = np.asarray(values, dtype=np.float64)
    if len(peers) < MIN_PEERS or values.size == 0:
        return None
    resampled = np.stack([resample(p, values.size) for p in peers])
    typical = np.median(resampled, axis=0)
    average, typical_average = float(values.mean()), float(typical.mean())
    peer_averages = resampled.mean(axis=1)  # resampling keeps each curve's mean
    better = (np.sum(peer_averages < average) + 0.5 * np.sum(peer_averages == average)) / len(peers)
    ratio = average / typical_average if typical_average > 0 else None
    p_value = float(typical_difference_p_values(np.array([average]), n_views, peer_averages[:, None])[0])
    return Relative(typical, values - typical, typical_difference_p_values(values, n_views, resampled),
                    Overall(average, typical_average, ratio, float(better), p_value))


def difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """b - a on a's grid (b resampled by relative position when its length differs); empty
    when either side is."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size == 0 or b.size == 0:
        return np.zeros(0)
    return resample(b, a.size) - a
