"""What else a user could run on a heatmap, to score the detector against.

- `naive`: `scipy.signal.find_peaks` on the curve and its negation (prominence 3 points),
  what one tries first; it reports the mirror extreme beside every moment of a decaying curve.
- `isotonic_z`: what a competent analyst writes: a non-increasing trend (isotonic
  regression), binomial z of each bucket against it, runs of |z| >= 2 kept when their
  strongest bucket clears a Bonferroni threshold over the buckets.
- `detrended_find_peaks`: `find_peaks` on the residual after a robust detrend (a running
  median a tenth of the content wide), prominence four robust s.d. of that residual.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter
from scipy.optimize import isotonic_regression
from scipy.signal import find_peaks
from scipy.stats import norm

from moments.engagement.hotspots import runs

Range = tuple[int, int, bool]  # start ms, end ms, peak


def naive(values: np.ndarray, n_views: int, duration_ms: int) -> list[Range]:
    return _find_peaks(values, 0.03, duration_ms)


def detrended_find_peaks(values: np.ndarray, n_views: int, duration_ms: int) -> list[Range]:
    window = max(5, values.size // 10 | 1)
    residual = values - median_filter(values, size=window, mode="nearest")
    noise = 1.4826 * float(np.median(np.abs(residual - np.median(residual))))
    return _find_peaks(residual, max(4 * noise, 1.0 / n_views), duration_ms)


def isotonic_z(values: np.ndarray, n_views: int, duration_ms: int, alpha: float = 0.01) -> list[Range]:
    trend = isotonic_regression(values, increasing=False).x
    p = np.clip(trend, 1.0 / n_views, 1 - 1.0 / n_views)
    z = (values - trend) / np.sqrt(p * (1 - p) / n_views)
    z_star = float(norm.isf(alpha / (2 * values.size)))
    bucket = duration_ms / values.size
    found = []
    for sign in (1, -1):
        for lo, hi in runs(sign * z >= 2):
            if lo > 0 and hi < values.size and float(np.max(sign * z[lo:hi])) >= z_star:
                found.append((round(lo * bucket), round(hi * bucket), sign == 1))
    return found


def _find_peaks(curve: np.ndarray, prominence: float, duration_ms: int) -> list[Range]:
    found = []
    bucket = duration_ms / curve.size
    for sign in (1, -1):
        _, props = find_peaks(sign * curve, prominence=prominence, width=1)
        for lo, hi in zip(props["left_ips"], props["right_ips"]):
            found.append((round(lo * bucket), round((hi + 1) * bucket), sign == 1))
    return found
