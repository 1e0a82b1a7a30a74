"""Hotspots: moments watched significantly more (peaks) or less (cold spots) than expected.

The method, in short (docs/hotspots.md has the formulas):
1. Expected curve: a robust fit of trend = monotone decay + slow smooth component, so
   audience decay, a steep intro drop and gradual joins are "expected", while short
   bumps and dips are not (they are down-weighted as outliers while fitting).
2. Noise: a bucket's value is a share of N viewers, so its sampling s.d. is
   sqrt(p (1 - p) / N) with p the expected share.
3. Runs of adjacent buckets deviating the same way become candidate ranges; a range is a
   hotspot only if its mean deviation clears a Bonferroni-corrected z threshold over all
   buckets, an absolute and a relative minimum effect, and a minimum length.
4. score = r^2 / (1 + r^2), r = observed / expected over the range: 0.5 when as expected.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import isotonic_regression
from scipy.ndimage import gaussian_filter1d, median_filter
from scipy.stats import norm


@dataclass(frozen=True)
class Hotspot:
    start_ms: int
    end_ms: int
    score: float


@dataclass(frozen=True)
class DetectorSettings:
    min_views: int = 30
    # Chance of one or more false hotspots on a curve without any moment.
    family_alpha: float = 0.01
    # A run of buckets is a candidate while each bucket is at least this many s.d. out.
    extend_z: float = 2.0
    min_effect_share: float = 0.02
    min_effect_ratio: float = 0.05
    min_length_ms: int = 2000
    min_buckets: int = 2
    # Width (s.d., as a fraction of the buckets) of the smooth part of the trend.
    smooth_fraction: float = 1 / 12
    # Window of the starting running median; moments up to half of it cannot move it.
    median_fraction: float = 1 / 4
    robust_iterations: int = 8


DEFAULT_SETTINGS = DetectorSettings()


def sampling_sd(expected: np.ndarray, n_views: int) -> np.ndarray:
    """s.d. of a share of N viewers; p is floored so empty stretches are not infinitely sure."""
    p = np.clip(expected, 1.0 / n_views, 1.0 - 1.0 / n_views)
    return np.sqrt(p * (1.0 - p) / n_views)


def _weighted_smooth(values: np.ndarray, weights: np.ndarray, sigma: float) -> np.ndarray:
    num = gaussian_filter1d(values * weights, sigma, mode="nearest")
    den = gaussian_filter1d(weights, sigma, mode="nearest")
    return num / np.maximum(den, 1e-12)


def expected_curve(values: np.ndarray, n_views: int, settings: DetectorSettings = DEFAULT_SETTINGS) -> np.ndarray:
    """Robust backfit of values ~ monotone non-increasing part + smooth part."""
    y = np.asarray(values, dtype=np.float64)
    sigma = max(1.0, settings.smooth_fraction * y.size)
    # Start from a wide running median, which no short moment can move, so the first
    # weights already single out bumps and dips (else the monotone part would take a
    # peak's fall for a cliff and keep it).
    window = max(5, int(y.size * settings.median_fraction) | 1)
    fit = median_filter(y, size=window, mode="nearest")
    smooth = np.zeros_like(y)
    for _ in range(settings.robust_iterations):
        weights = _bisquare_weights(y, fit, n_views, settings)
        # Zero-weight points that keep the order are fitted exactly by PAVA (a steep intro
        # drop stays expected); those that break it are pooled with their neighbours.
        monotone = isotonic_regression(y - smooth, weights=weights + 1e-9, increasing=False).x
        smooth = _weighted_smooth(y - monotone, weights, sigma)
        fit = np.clip(monotone + smooth, 0.0, 1.0)
    return fit


def _bisquare_weights(y: np.ndarray, fit: np.ndarray, n_views: int, settings: DetectorSettings) -> np.ndarray:
    """Tukey bisquare on residuals, scaled to what would count as a real moment."""
    scale = np.maximum(3.0 * sampling_sd(fit, n_views), settings.min_effect_share)
    u = np.abs(y - fit) / scale
    return np.where(u < 1.0, (1.0 - u**2) ** 2, 0.0)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) index pairs of the runs of True in mask."""
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    changes = np.flatnonzero(np.diff(padded))
    return list(zip(changes[0::2].tolist(), changes[1::2].tolist()))


def score(observed: float, expected: float) -> float:
    r = observed / max(expected, 1e-12)
    return r * r / (1.0 + r * r)


def detect(
    values: np.ndarray,
    n_views: int,
    duration_ms: int,
    settings: DetectorSettings = DEFAULT_SETTINGS,
) -> list[Hotspot]:
    """Peaks and cold spots of a heatmap, strongest peaks first."""
    y = np.asarray(values, dtype=np.float64)
    if n_views < settings.min_views or y.size < settings.min_buckets:
        return []
    fit = expected_curve(y, n_views, settings)
    sd = sampling_sd(fit, n_views)
    z = (y - fit) / sd
    z_crit = float(norm.isf(settings.family_alpha / (2 * y.size)))
    bucket_ms = duration_ms / y.size
    min_buckets = max(settings.min_buckets, int(np.ceil(settings.min_length_ms / bucket_ms - 1e-9)))
    found: list[Hotspot] = []
    for sign in (1.0, -1.0):
        for lo, hi in _runs(sign * z >= settings.extend_z):
            if hi - lo < min_buckets:
                continue
            observed, expected = float(y[lo:hi].mean()), float(fit[lo:hi].mean())
            effect = observed - expected
            run_z = effect / float(sd[lo:hi].mean())
            if sign * run_z < z_crit or abs(effect) < settings.min_effect_share:
                continue
            if abs(effect) < settings.min_effect_ratio * expected:
                continue
            found.append(Hotspot(round(lo * bucket_ms), round(hi * bucket_ms), round(score(observed, expected), 4)))
    return order(found, "desc")


def order(hotspots: list[Hotspot], direction: str) -> list[Hotspot]:
    """desc: strongest peaks first; asc: deepest cold spots first."""
    return sorted(hotspots, key=lambda h: (-h.score if direction == "desc" else h.score, h.start_ms))
