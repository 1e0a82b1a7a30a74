"""Hotspots: moments watched significantly more (peaks) or less (cold spots) than expected.

The method, in short (docs/hotspots.md has the formulas):
1. Expected curve: a robust fit of trend = monotone decay + slow smooth component, so
   audience decay, a steep intro drop and gradual joins are "expected", while short
   bumps and dips are not (they are kept out of the fit, first judged against the curve
   rebuilt from its running-median slopes, which steps over a moment's edges).
2. Noise: a bucket's value is a share of N viewers, so its sampling s.d. is
   sqrt(p (1 - p) / N) with p the expected share.
3. Runs of adjacent buckets deviating the same way become candidate ranges; a range is a
   hotspot only if it has expected viewing on both sides, its mean deviation clears a
   Bonferroni-corrected z threshold over all buckets, an absolute and a relative minimum
   effect, and a minimum length.
4. score = r^2 / (1 + r^2), r = observed / expected over the range: 0.5 when as expected.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import isotonic_regression
from scipy.ndimage import median_filter, uniform_filter1d
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
    family_alpha: float = 0.001
    # A run of buckets is a candidate while each bucket is at least this many s.d. out.
    extend_z: float = 2.0
    min_effect_share: float = 0.02
    min_effect_ratio: float = 0.05
    min_length_ms: int = 2000
    min_buckets: int = 3
    # Width (s.d., as a fraction of the buckets) of the smooth part of the trend.
    smooth_fraction: float = 1 / 12
    # Window of the running median that levels the shape; moments up to half of it cannot move it.
    median_fraction: float = 1 / 2
    # Window (buckets) of the running median of slopes: a moment's two edges are outliers in it.
    slope_window: int = 9
    # Read slopes (robust-slope start, bridging) only when the curve is this smooth.
    max_roughness: float = 0.5
    robust_iterations: int = 8


DEFAULT_SETTINGS = DetectorSettings()


def sampling_sd(expected: np.ndarray, n_views: int) -> np.ndarray:
    """s.d. of a share of N viewers; p is floored so empty stretches are not infinitely sure."""
    p = np.clip(expected, 1.0 / n_views, 1.0 - 1.0 / n_views)
    return np.sqrt(p * (1.0 - p) / n_views)


def _gaussian(values: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian smooth as three box filters (O(n) whatever sigma; each box has variance (w²-1)/12)."""
    width = max(1, int(round(np.sqrt(4 * sigma * sigma + 1))))
    for _ in range(3):
        values = uniform_filter1d(values, width, mode="nearest")
    return values


def _weighted_smooth(values: np.ndarray, weights: np.ndarray, sigma: float) -> np.ndarray:
    return _gaussian(values * weights, sigma) / np.maximum(_gaussian(weights, sigma), 1e-12)


def expected_curve(values: np.ndarray, n_views: int, settings: DetectorSettings = DEFAULT_SETTINGS) -> np.ndarray:
    """What the curve would be without moments.

    A robust backfit of values ~ monotone non-increasing part + slow smooth part: the
    monotone part (isotonic regression) follows any decay, including the steep drop of the
    first seconds; the smooth part (weighted Gaussian, s.d. B/12 buckets) follows slow
    rises such as viewers joining mid-way. Buckets that look like part of a moment are kept
    out of the fit (Tukey bisquare weights), judged each round against the current fit.

    Heatmaps built from whole views are smooth (a viewer covers a stretch, so neighbouring
    buckets move together). On such a curve the slopes can be read, so the first judgement
    uses the robust-slope shape (`robust_slope_curve`, which sees a moment whole even when
    viewing decays inside it) and stays in force, and across each stretch kept out the
    expected curve follows the shape's slope between the fit on either side. On a curve
    whose buckets jitter independently, slopes are noise: the start is a wide running
    median instead, and no stretch is bridged.
    """
    y = np.asarray(values, dtype=np.float64)
    sigma = max(1.0, settings.smooth_fraction * y.size)
    readable = roughness(y, n_views) <= settings.max_roughness
    shape = robust_slope_curve(y, settings)
    start = shape if readable else median_filter(y, size=_level_window(y.size, settings), mode="nearest")
    first_weights = _bisquare_weights(y, start, n_views, settings)
    weights = first_weights
    smooth = np.zeros_like(y)
    fit = y
    for _ in range(settings.robust_iterations):
        # Zero-weight points that keep the order are fitted exactly by PAVA (a steep intro
        # drop stays expected); those that break it are pooled with their neighbours.
        monotone = isotonic_regression(y - smooth, weights=weights + 1e-9, increasing=False).x
        smooth = _weighted_smooth(y - monotone, weights, sigma)
        fit = np.clip(monotone + smooth, 0.0, 1.0)
        weights = _bisquare_weights(y, fit, n_views, settings)
        if readable:
            weights = weights * first_weights
    if not readable:
        return fit
    return np.clip(_bridge(fit, shape, weights < 0.1), 0.0, 1.0)


def roughness(y: np.ndarray, n_views: int) -> float:
    """Typical bucket-to-bucket jitter against sampling noise: ~1 for independent noise, ~0 for views.

    The median |second difference| of independent noise of s.d. sd is 0.6745 * sqrt(6) * sd.
    """
    if y.size < 3:
        return 0.0
    jitter = np.abs(np.diff(y, 2)) / sampling_sd(y[1:-1], n_views)
    return float(np.median(jitter)) / (0.6745 * np.sqrt(6))


def _level_window(size: int, settings: DetectorSettings) -> int:
    return max(5, int(size * settings.median_fraction) | 1)


def dispersion(y: np.ndarray, fit: np.ndarray, n_views: int) -> float:
    """Typical |y - fit| in units of sampling s.d. (robust: the median ignores moments)."""
    return 1.4826 * float(np.median(np.abs(y - fit) / sampling_sd(fit, n_views)))


def _bridge(fit: np.ndarray, shape: np.ndarray, excluded: np.ndarray) -> np.ndarray:
    """Inside each excluded interior stretch, follow the shape, anchored to the fit at both ends.

    (PAVA leaves such a stretch flat, which would understate a moment inside a decay.)
    """
    out = fit.copy()
    for lo, hi in _runs(excluded):
        if lo == 0 or hi == fit.size:
            continue
        left, right = fit[lo - 1] - shape[lo - 1], fit[hi] - shape[hi]
        position = np.arange(1, hi - lo + 1) / (hi - lo + 1)
        out[lo:hi] = shape[lo:hi] + left + (right - left) * position
    return out


def robust_slope_curve(y: np.ndarray, settings: DetectorSettings) -> np.ndarray:
    """The starting guess: the curve rebuilt from its running-median slopes.

    A moment shows in the slopes only at its two edges (a jump and a return), which a wide
    running median ignores, while the decay inside and around it is kept. So the rebuilt
    curve passes under peaks and over valleys, and the first weights single out whole
    moments (a running median of the values would follow a peak's decay and let the
    monotone part take its fall for a cliff). It is levelled to the values by a running
    median of the offsets, which the few buckets inside a moment do not move.
    """
    slopes = median_filter(np.diff(y), size=settings.slope_window, mode="nearest")
    curve = np.concatenate(([0.0], np.cumsum(slopes)))
    return curve + median_filter(y - curve, size=_level_window(y.size, settings), mode="nearest")


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
    # Over-dispersion: when the curve scatters around the fit more than sampling noise
    # allows (a rough trend fit with few views), widen the noise by that factor; the
    # median is blind to the few buckets inside moments.
    sd = sampling_sd(fit, n_views) * max(1.0, dispersion(y, fit, n_views))
    z = (y - fit) / sd
    z_crit = float(norm.isf(settings.family_alpha / (2 * y.size)))
    bucket_ms = duration_ms / y.size
    min_buckets = max(settings.min_buckets, int(np.ceil(settings.min_length_ms / bucket_ms - 1e-9)))
    found: list[Hotspot] = []
    for sign in (1.0, -1.0):
        for lo, hi in _runs(sign * z >= settings.extend_z):
            # A moment has expected viewing on both sides: a run from the first bucket is
            # the intro drop, one to the last bucket an outro, not a peak or a dip.
            if hi - lo < min_buckets or lo == 0 or hi == y.size:
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
