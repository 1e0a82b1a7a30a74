"""How sure a figure is: 95% intervals (docs/engagement.md, "How sure each figure is").

- A share of views (completion, retention, a bucket of the heatmap): Wilson's score interval
  for N views. Its coverage is right when each view either watched the moment or did not; a
  view that watched part of a bucket adds a value between 0 and 1, whose variance is at most
  p(1-p), so the interval is then conservative (wider than it needs to be, not narrower).
- The average share viewed (and the average view, D times it): from the curve alone the same
  interval (a view's share lies in [0, 1]); from the views themselves, Student's t on their shares.
- The median view: the distribution-free interval between two order statistics (scipy's
  quantile_test), which holds whatever the distribution of view lengths.
- The seek rate, a mean of counts over views: Student's t on each view's seeks, widened to
  the exact Poisson interval of the total count where that is wider (count_rate_interval): t
  is blind when a small sample holds few or no seeks.
- The rewatch rate, a ratio of two sums over views: the delta method (Student's t on the
  linearized ratio), as survey statistics treat ratio estimators.

Whether a curve differs from its peers' typical curve (/relative): per bucket, its share against
the median of the peers' shares, each side with its own uncertainty (typical_difference_p_values),
Holm's method across buckets; overall, the same test on its average against the peers' averages.

Whether two curves differ (/compare): per bucket, the two-sided two-proportion z test (pooled:
under "no difference" both sides share one variance, at most p(1-p) by the bound above, so the
test is conservative for buckets watched in part), the
buckets' p-values adjusted by Holm's method, which keeps the chance of calling any bucket
different when none is under 5% whatever the buckets' dependence; overall, the same test on
the two average shares viewed.

Each is a large-sample method: tests/test_uncertainty.py and the simulation in
moments.lab.calibration measure how often the intervals hold, and how often the tests call
two samples of one audience different, on audiences of every size.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

LEVEL = 0.95
Z = float(stats.norm.ppf(0.5 + LEVEL / 2))

Interval = tuple[float, float]


def share_intervals(shares: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Wilson's score interval of each share observed over n > 0 views: (lows, highs)."""
    shares = np.asarray(shares, dtype=np.float64)
    z2 = Z * Z
    centre = (shares + z2 / (2 * n)) / (1 + z2 / n)
    half = Z * np.sqrt(np.clip(shares * (1 - shares), 0.0, None) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def share_interval(share: float, n: int) -> Interval:
    """share_intervals of one share."""
    low, high = share_intervals(np.array([share]), n)
    return float(low[0]), float(high[0])


def mean_interval(values: np.ndarray) -> Interval:
    """Student's t interval of the mean of `values` (a single value: no spread to go on, the point)."""
    mean = float(values.mean())
    if values.size < 2 or not values.std():
        return mean, mean
    half = float(stats.t.ppf(0.5 + LEVEL / 2, values.size - 1)) * float(values.std(ddof=1)) / math.sqrt(values.size)
    return mean - half, mean + half


def median_interval(values: np.ndarray, bounds: Interval | None = None) -> Interval:
    """The distribution-free interval of the median (order statistics). Under 6 values no two
    order statistics hold the median 95% of the time: then `bounds`, where the values can lie
    (else the values' own range, which holds it less often)."""
    if values.size < 2:
        value = float(np.median(values))
        return bounds or (value, value)
    found = stats.quantile_test(values, q=float(np.median(values)), p=0.5).confidence_interval(LEVEL)
    if np.isnan(found.low) or np.isnan(found.high):
        return bounds or (float(values.min()), float(values.max()))
    return float(found.low), float(found.high)


def count_rate_interval(counts: np.ndarray) -> Interval:
    """The mean of per-view counts: Student's t (right for any spread between views, given
    enough of them), joined with Garwood's exact interval for a Poisson total (right for few
    or no events, where t collapses): the interval holds when either does."""
    n, total = counts.size, float(counts.sum())
    low, high = mean_interval(counts.astype(np.float64))
    exact_low = stats.chi2.ppf((1 - LEVEL) / 2, 2 * total) / 2 if total else 0.0
    exact_high = stats.chi2.ppf(0.5 + LEVEL / 2, 2 * total + 2) / 2
    return min(low, float(exact_low) / n), max(high, float(exact_high) / n)


def ratio_interval(numerators: np.ndarray, denominators: np.ndarray) -> Interval:
    """Σ numerators / Σ denominators, by the delta method: the ratio R moves with the mean of
    numerator - R · denominator, divided by the mean denominator."""
    ratio = float(numerators.sum() / denominators.sum())
    low, high = mean_interval(numerators - ratio * denominators)
    scale = float(denominators.mean())
    return ratio + low / scale, ratio + high / scale


def difference_p_values(a: np.ndarray, n_a: int, b: np.ndarray, n_b: int) -> np.ndarray:
    """Two-sided p-values of b - a, share by share (arrays of shares of n_a and n_b views)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    pooled = (n_a * a + n_b * b) / (n_a + n_b)  # the common share if nothing differs
    variance = np.clip(pooled * (1 - pooled), 0, None) * (1 / n_a + 1 / n_b)
    z = np.divide(np.abs(b - a), np.sqrt(variance), out=np.zeros_like(a), where=variance > 0)
    return 2 * stats.norm.sf(z)


def typical_difference_p_values(shares: np.ndarray, n: int, peers: np.ndarray) -> np.ndarray:
    """Two-sided p-values of each share of n views against the median of the same share over k
    peers (the columns of `peers`, k >= 2 rows): is this content's audience unlike the typical one?

    Both sides are uncertain: the share by its n views (at most p(1-p)/n, plus 1/(4n)^2 so a share
    of 0 or 1 is not taken as certain), the median of k peers by pi/2 times the variance of their
    mean (the large-sample ratio for a median). With few peers that variance is itself rough, so
    the statistic is taken as Student's t with Welch-Satterthwaite's degrees of freedom."""
    shares, peers = np.asarray(shares, dtype=np.float64), np.asarray(peers, dtype=np.float64)
    k = peers.shape[0]
    own = (shares * (1 - shares) + 1 / (4 * n)) / n
    typical = math.pi / 2 * peers.var(axis=0, ddof=1) / k
    freedom = (own + typical) ** 2 / (own ** 2 / max(n - 1, 1) + typical ** 2 / (k - 1))
    t = np.abs(shares - np.median(peers, axis=0)) / np.sqrt(own + typical)
    return 2 * stats.t.sf(t, freedom)


def holm(p_values: np.ndarray, alpha: float = 1 - LEVEL) -> np.ndarray:
    """Which p-values are significant with the family-wise error kept under alpha (Holm)."""
    order = np.argsort(p_values)
    thresholds = alpha / (p_values.size - np.arange(p_values.size))
    passed = np.minimum.accumulate(p_values[order] <= thresholds)  # stops at the first that fails
    significant = np.zeros(p_values.size, dtype=bool)
    significant[order] = passed
    return significant
