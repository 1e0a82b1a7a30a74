"""How sure a figure is: 95% intervals (docs/engagement.md, "How sure each figure is").

- A share of views (completion, retention, a bucket of the heatmap): Wilson's score interval
  for N views. Its coverage is right when each view either watched the moment or did not; a
  view that watched part of a bucket adds a value between 0 and 1, whose variance is at most
  p(1-p), so the interval is then conservative (wider than it needs to be, not narrower).
- The average share viewed (and the average view, D times it): from the curve alone the same
  interval (a view's share lies in [0, 1]); from the views themselves, Student's t on their shares.
- The median view: the distribution-free interval between two order statistics (scipy's
  quantile_test), which holds whatever the distribution of view lengths.
- The seek rate, a mean over views: Student's t on each view's seeks.
- The rewatch rate, a ratio of two sums over views: the delta method (Student's t on the
  linearized ratio), as survey statistics treat ratio estimators.

Each is a large-sample interval: tests/test_uncertainty.py and the simulation in
moments.lab.calibration measure how often they hold on audiences of every size.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

LEVEL = 0.95
Z = float(stats.norm.ppf(0.5 + LEVEL / 2))

Interval = tuple[float, float]


def share_interval(share: float, n: int) -> Interval:
    """Wilson's score interval of a share observed over n > 0 views."""
    z2 = Z * Z
    centre = (share + z2 / (2 * n)) / (1 + z2 / n)
    half = Z * math.sqrt(max(share * (1 - share), 0.0) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_interval(values: np.ndarray) -> Interval:
    """Student's t interval of the mean of `values` (a single value: no spread to go on, the point)."""
    mean = float(values.mean())
    if values.size < 2 or not values.std():
        return mean, mean
    half = float(stats.t.ppf(0.5 + LEVEL / 2, values.size - 1)) * float(values.std(ddof=1)) / math.sqrt(values.size)
    return mean - half, mean + half


def median_interval(values: np.ndarray) -> Interval:
    """The distribution-free interval of the median (order statistics)."""
    if values.size < 2:
        value = float(np.median(values))
        return value, value
    found = stats.quantile_test(values, q=float(np.median(values)), p=0.5).confidence_interval(LEVEL)
    low = float(values.min()) if np.isnan(found.low) else float(found.low)  # too few views for an order statistic
    high = float(values.max()) if np.isnan(found.high) else float(found.high)
    return low, high


def ratio_interval(numerators: np.ndarray, denominators: np.ndarray) -> Interval:
    """Σ numerators / Σ denominators, by the delta method: the ratio R moves with the mean of
    numerator - R · denominator, divided by the mean denominator."""
    ratio = float(numerators.sum() / denominators.sum())
    low, high = mean_interval(numerators - ratio * denominators)
    scale = float(denominators.mean())
    return ratio + low / scale, ratio + high / scale
