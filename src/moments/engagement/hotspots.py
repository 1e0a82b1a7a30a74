"""Hotspots: moments watched significantly more (peaks) or less (cold spots) than expected.

The method, in short (docs/hotspots.md has the formulas):
1. Expected curve: the share of viewers watching only rises where viewers arrive (start,
   or seek in). Without moments, arrivals are spread thin, so the trend may fall in any
   way (decay, a steep intro drop, a chapter cliff) but rise only as slowly as the curve
   rises around it (mid-way joiners). A moment breaks this: a peak is
   a rise in a step (viewers seek in), a cold spot a fall followed by such a rise (they
   skip over it and come back). The trend is the robust (reweighted least-absolute)
   monotone fit under that rise allowance, so it passes under peaks and over cold spots
   whatever their shape after the step: plateau, gradual or slow leaving.
2. Noise: between two buckets the curve moves by arrivals minus departures, counts of
   viewers; its scatter is measured from the curve's own bucket-to-bucket steps (robustly:
   a moment's few edges do not move it) and floored by the count of viewers leaving. A
   range's deviation from the trend accumulates these steps like a random walk from the
   range's edges; its z is at least the z of sampling alone (a share of N viewers, on the
   arcsine-root scale) and at most twice it, or at most it on a curve whose buckets jitter
   independently.
3. Runs of buckets deviating the same way are candidates; a run is a hotspot only if it has
   expected viewing on both sides, its mean deviation clears a Bonferroni-corrected z
   threshold over all buckets, an absolute and a relative minimum effect, and a minimum
   length, and it has a moment's edges (a peak begins with a rise; a cold spot begins with
   a fall and ends with a rise). Its range is where the deviation is at least half its
   strongest.
4. score = r^2 / (1 + r^2), r = observed / expected over the range: 0.5 when as expected.
5. With the per-view seek layers (`Seeks`, summed in rollups like the heatmap), moments the
   heatmap alone cannot tell from its trend are found where viewers seek: the landed share
   (watching in stretches begun mid-way) rising in a burst beyond its own trend is a peak,
   even where the heatmap only stops falling (a moment after a cliff, or with a gradual
   onset); the skipped share (present before and after, not watching) rising beyond its
   trend is a cold spot, even where the heatmap's dip looks like a cliff followed by a peak.
   Both layers are tested with steps 1-3 as curves of their own; a burst of landings at the
   end of a skipped stretch is those viewers coming back, not a peak. A seek moment takes
   the place of the heatmap's moments of its sign that it overlaps.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.ndimage import maximum_filter1d, median_filter, percentile_filter
from scipy.optimize import isotonic_regression
from scipy.stats import norm

from moments.engagement.heatmap import CoverageLayers, values_from_watched


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
    min_effect_share: float = 0.02
    min_effect_ratio: float = 0.05
    min_length_ms: int = 2000
    min_buckets: int = 2
    # Width (buckets, or this fraction of them if more) over which the trend's allowed rise
    # is the curve's median step: rises shorter than half of it (a moment's onset) cannot move it.
    rise_window: int = 15
    rise_window_fraction: float = 1 / 8
    # A range's z is at most the z of sampling alone divided by this (how far a smooth trend
    # can miss a curve of whole views without moments).
    min_sd_share: float = 0.5
    # Width (buckets) of the window the bucket-to-bucket scatter is measured in.
    noise_window: int = 31
    robust_iterations: int = 4
    # At most this many moments are taken out of the trend fit.
    max_moments: int = 12
    # The landed share's trend may rise by this percentile of its steps over a window of
    # this long, at most this share of the content (landing_allowance).
    landing_rise_percentile: float = 75.0
    landing_rise_window_ms: int = 120_000
    landing_rise_window_share: float = 0.25


DEFAULT_SETTINGS = DetectorSettings()


@dataclass(frozen=True)
class Seeks:
    """Per-view evidence beside the heatmap, as shares of views per bucket."""

    landed: np.ndarray  # watching in a stretch begun mid-way (seeked in, came back, started there)
    skipped: np.ndarray  # present but not watching: skipped over, watched again later

    @classmethod
    def from_coverage(cls, layers: CoverageLayers, n_views: int, duration_ms: int) -> "Seeks":
        return cls(values_from_watched(layers.landed, n_views, duration_ms),
                   values_from_watched(layers.present - layers.watched, n_views, duration_ms))


def sampling_sd(expected: np.ndarray, n_views: int) -> np.ndarray:
    """s.d. of a share of N viewers; p is floored so empty stretches are not infinitely sure."""
    p = np.clip(expected, 1.0 / n_views, 1.0 - 1.0 / n_views)
    return np.sqrt(p * (1.0 - p) / n_views)


def rise_allowance(y: np.ndarray, settings: DetectorSettings = DEFAULT_SETTINGS) -> np.ndarray:
    """How much the trend may rise into each bucket: the curve's running median step, if rising."""
    window = min(max(settings.rise_window, int(y.size * settings.rise_window_fraction)), y.size) | 1
    return np.maximum(median_filter(np.diff(y), size=window, mode="nearest"), 0.0)


def landing_allowance(landed: np.ndarray, bucket_ms: float, settings: DetectorSettings = DEFAULT_SETTINGS) -> np.ndarray:
    """How much the landed share's trend may rise into each bucket. Viewers who join or skip
    about over the video land at a smooth but skewed rate, which a median step would lag:
    so a high percentile of the steps, over a window wide enough (two minutes, or an eighth
    of the content) that a moment's burst of landings (within EDGE_MS) stays out of it, and
    at most a quarter of the content, so it follows how the joining rate changes."""
    size = landed.size
    wide = min(settings.landing_rise_window_ms / bucket_ms, size * settings.landing_rise_window_share)
    window = min(max(settings.rise_window, int(size * settings.rise_window_fraction), int(wide)), size - 1) | 1
    return np.maximum(percentile_filter(np.diff(landed), settings.landing_rise_percentile, size=window,
                                        mode="nearest"), 0.0)


def expected_curve(values: np.ndarray, n_views: int, duration_ms: int | None = None,
                   settings: DetectorSettings = DEFAULT_SETTINGS, rises: np.ndarray | None = None) -> np.ndarray:
    """What the curve would be without moments: a fit that falls freely and rises slowly.

    trend = A + m, where A is the cumulative rise allowance and m is non-increasing
    (isotonic regression of y - A), fitted by least absolute deviations (reweighting).

    A least-absolute fit across a moment compromises: it passes through the moment and
    leaves a mirror deviation of the other sign beside it. So the stretches that deviate
    are settled one at a time, the largest area first (a moment is larger than its mirror):
    - a stretch touching either end cannot be a moment (there is no viewing on that side
      to compare with), and a cold spot that does not begin with a drop is the mirror of
      the peak after it: the trend is held to the data there (a raised stretch at the end
      only if it is clear, since holding the trend high there holds it high throughout);
    - anything else is a moment: it is taken out of the fit, and the trend across it is the
      straight line between its two sides.
    `rises`: how much the trend may rise into each bucket after the first (rise_allowance).
    """
    y = np.asarray(values, dtype=np.float64)
    allowance = np.concatenate(([0.0], np.cumsum(rise_allowance(y, settings) if rises is None else rises)))
    weights = np.ones(y.size)
    settled = np.zeros(y.size, dtype=bool)
    fit = _robust_fit(y, allowance, weights, n_views, settings)
    if rough(y, fit, n_views):
        return fit  # settling reads edges and drops, which independent jitter makes up
    bucket_ms = (duration_ms or y.size * 1000) / y.size
    for _ in range(settings.max_moments):
        open_ = [c for c in candidates(y, fit, n_views, bucket_ms, settings, SETTLE_STRICTNESS)
                 if not settled[c.run_lo:c.run_hi].any()]
        if not open_:
            break
        c = _settle_first(y, open_, bucket_ms)
        settled[c.run_lo:c.run_hi] = True
        if c.observed > c.expected and c.run_hi == y.size and not _clear_rise(y, fit, c, n_views, bucket_ms, settings):
            continue  # holding the trend high at the end holds it high throughout: only for a clear rise
        mirror = c.observed < c.expected and not _begins_with_drop(y, c, bucket_ms)
        weights[c.run_lo:c.run_hi] = HELD if mirror or not c.inside(y.size) else 0.0
        fit = _robust_fit(y, allowance, weights, n_views, settings)
    return fit


def _clear_rise(y: np.ndarray, fit: np.ndarray, c: "Candidate", n_views: int, bucket_ms: float,
                settings: DetectorSettings) -> bool:
    """Does the raised stretch pass the full thresholds and begin with a rise (viewers coming
    back at the end of a cold spot), rather than being noise in the last buckets?"""
    full = [d for d in candidates(y, fit, n_views, bucket_ms, settings) if (d.run_lo, d.run_hi) == (c.run_lo, c.run_hi)]
    return bool(full) and _has_edges(y, full[0], bucket_ms)


def _settle_first(y: np.ndarray, open_: list["Candidate"], bucket_ms: float) -> "Candidate":
    """The largest stretch, unless it rises out of a cold spot that began with a drop: then
    that cold spot (viewers who skip a stretch and watch on leave a raised curve after it)."""
    c = max(open_, key=lambda c: c.area)
    if c.observed > c.expected:
        for v in open_:
            if v.observed < v.expected and abs(v.run_hi - c.run_lo) <= 1 and _begins_with_drop(y, v, bucket_ms):
                return v
    return c


# Stretches are settled when they pass this share of the thresholds (z and minimum effect):
# a compromise can hide both a moment and its mirror under the full thresholds.
SETTLE_STRICTNESS = 0.5
# Weight of buckets the trend is held to (against 1 for the others).
HELD = 1000.0
# A drop into a cold spot may be spread over this long (viewers skip away over a while).
DROP_MS = 30_000


def _begins_with_drop(y: np.ndarray, c: "Candidate", bucket_ms: float) -> bool:
    """Does the stretch begin with a fall of at least half its depth (within DROP_MS)
    beyond the curve's fall just before it (the tail of an intro drop is not a skip)?"""
    if c.run_lo < 2:
        return False
    depth = c.expected - c.observed
    reach = max(2, min(int(np.ceil(DROP_MS / bucket_ms)), (c.run_hi - c.run_lo) // 2))
    start = y[c.run_lo - 1]
    back = min(reach, c.run_lo - 1)
    slope_before = max(0.0, float(y[c.run_lo - 1 - back] - start)) / back
    fall = start - y[c.run_lo:c.run_lo + reach]
    return bool((fall - slope_before * np.arange(1, fall.size + 1) >= 0.5 * depth).any())


def _robust_fit(y: np.ndarray, allowance: np.ndarray, weights: np.ndarray, n_views: int,
                settings: DetectorSettings) -> np.ndarray:
    floor = 0.25 / n_views
    robust = weights.copy()
    fit = y
    for _ in range(settings.robust_iterations):
        fit = allowance + isotonic_regression(y - allowance, weights=robust + 1e-9, increasing=False).x
        robust = weights / np.maximum(np.abs(y - fit), floor)  # least absolute deviations
    for lo, hi in runs(weights == 0.0):
        if lo > 0 and hi < y.size:
            fit[lo:hi] = np.interp(np.arange(lo, hi), (lo - 1, hi), (fit[lo - 1], fit[hi]))
    return np.clip(fit, 0.0, 1.0)


def step_sd(y: np.ndarray, fit: np.ndarray, n_views: int, settings: DetectorSettings = DEFAULT_SETTINGS) -> np.ndarray:
    """s.d. of the curve's step into each bucket, beyond the trend's own step.

    A local root mean square of the steps around their running median, over the window's
    steps without its largest tenth (a moment's few edges); not a median of absolute
    deviations, which a curve of few views, whose steps are often exactly 0, makes 0.
    Floored by the Poisson count of viewers leaving there (and at least one viewer).
    """
    steps = np.diff(y, prepend=y[0]) - np.diff(fit, prepend=fit[0])
    window = min(settings.noise_window, y.size) | 1
    squared = (steps - median_filter(steps, size=window, mode="nearest")) ** 2
    padded = np.pad(squared, window // 2, mode="edge")
    windows = np.sort(np.lib.stride_tricks.sliding_window_view(padded, window), axis=1)
    kept = windows[:, : max(1, window - window // 10)]
    scale = np.sqrt(kept.mean(axis=1))
    leaving = np.maximum(-np.diff(fit, prepend=fit[0]), 0.0) * n_views
    return np.maximum(scale, np.sqrt(leaving + 1.0) / n_views)


def rough(y: np.ndarray, fit: np.ndarray, n_views: int) -> bool:
    """Do the buckets jitter independently (few views per bucket), rather than move together
    as whole views do? The median |second difference| of independent noise of s.d. sd is
    0.6745 sqrt(6) sd; a curve of whole views has far smaller ones (a moment's few edges
    do not move a median)."""
    if y.size < 4:
        return False
    jitter = float(np.median(np.abs(np.diff(y, 2))))
    return jitter >= 0.5 * 0.6745 * np.sqrt(6) * float(sampling_sd(fit, n_views).mean())


def range_z(step: np.ndarray, n_views: int, lo: int, hi: int, observed: float, expected: float,
            floor_share: float) -> float:
    """How many s.d. the mean deviation over [lo, hi) is from "no moment".

    The deviation wanders from the range's edges like a random walk of the steps (variance
    of the mean of a walk of k steps ~ k v / 3). It is never counted surer than sampling
    alone allows, divided by `floor_share`, nor less sure than sampling alone. Sampling is
    measured on the arcsine-root scale, where a share of N viewers has s.d. 1 / (2 sqrt N)
    at any level: the normal approximation at p would overstate a few viewers' bump where
    few watch.
    """
    k = hi - lo
    walk = np.sqrt(float(np.mean(step[lo:hi] ** 2)) * (k + 2) / 3)
    sampling = 2 * np.sqrt(n_views) * abs(np.arcsin(np.sqrt(np.clip(observed, 0, 1)))
                                          - np.arcsin(np.sqrt(np.clip(expected, 0, 1))))
    return float(min(max(abs(observed - expected) / max(walk, 1e-12), sampling), sampling / floor_share))


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) index pairs of the runs of True in mask."""
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    changes = np.flatnonzero(np.diff(padded))
    return list(zip(changes[0::2].tolist(), changes[1::2].tolist()))


def half_extent(values: np.ndarray, at: int) -> tuple[int, int]:
    """[start, stop) of the stretch around index `at` where values are at least half values[at]."""
    half = values[at] / 2
    left, right = at, at
    while left > 0 and values[left - 1] >= half:
        left -= 1
    while right + 1 < values.size and values[right + 1] >= half:
        right += 1
    return left, right + 1


def half_height(deviation: np.ndarray, lo: int, hi: int) -> tuple[int, int]:
    """The part of the run [lo, hi) around its strongest bucket that is at least half as strong."""
    run = deviation[lo:hi]
    left, right = half_extent(run, int(np.argmax(run)))
    return lo + left, lo + right


def score(observed: float, expected: float) -> float:
    r = observed / max(expected, 1e-12)
    return r * r / (1.0 + r * r)


@dataclass(frozen=True)
class Candidate:
    run_lo: int  # the run of buckets deviating the same way
    run_hi: int
    lo: int  # its part at least half as strong as its strongest bucket
    hi: int
    observed: float
    expected: float
    area: float  # of the deviation over the whole run

    @property
    def peak(self) -> bool:
        return self.observed > self.expected

    def inside(self, size: int) -> bool:
        """Expected viewing on both sides: a stretch from the first bucket is the intro
        drop, one to the last bucket an outro, not a peak or a dip."""
        return self.lo > 0 and self.hi < size


def candidates(y: np.ndarray, fit: np.ndarray, n_views: int, bucket_ms: float,
               settings: DetectorSettings = DEFAULT_SETTINGS, strictness: float = 1.0) -> list[Candidate]:
    """The runs that deviate from `fit` significantly and by enough to matter (thresholds
    scaled by `strictness`)."""
    step = step_sd(y, fit, n_views, settings)
    # A smooth trend can miss a curve of whole views by half its sampling s.d.; buckets that
    # jitter independently get no such credit.
    floor_share = 1.0 if rough(y, fit, n_views) else settings.min_sd_share
    z_crit = strictness * float(norm.isf(settings.family_alpha / (2 * y.size)))
    min_buckets = max(settings.min_buckets, int(np.ceil(settings.min_length_ms / bucket_ms - 1e-9)))
    deviation = y - fit
    found = []
    for sign in (1.0, -1.0):
        signed = sign * deviation
        for run_lo, run_hi in runs(signed > np.maximum(step, 0.5 / n_views)):
            lo, hi = half_height(signed, run_lo, run_hi)
            if hi - lo < min_buckets:
                continue
            observed, expected = float(y[lo:hi].mean()), float(fit[lo:hi].mean())
            effect = abs(observed - expected)
            if effect < strictness * max(settings.min_effect_share, settings.min_effect_ratio * expected):
                continue
            if range_z(step, n_views, lo, hi, observed, expected, floor_share) < z_crit:
                continue
            found.append(Candidate(run_lo, run_hi, lo, hi, observed, expected,
                                   float(signed[run_lo:run_hi].sum())))
    return found


def detect(
    values: np.ndarray,
    n_views: int,
    duration_ms: int,
    settings: DetectorSettings = DEFAULT_SETTINGS,
    seeks: Seeks | None = None,
) -> list[Hotspot]:
    """Peaks and cold spots of a heatmap, strongest peaks first; with `seeks`, also those the
    per-view evidence shows where the heatmap alone cannot tell them from its trend, and
    the ranges it marks in place of the heatmap's."""
    y = np.asarray(values, dtype=np.float64)
    if n_views < settings.min_views or y.size < max(3, settings.min_buckets):
        return []
    fit = expected_curve(y, n_views, duration_ms, settings)
    bucket_ms = duration_ms / y.size
    found = [c for c in candidates(y, fit, n_views, bucket_ms, settings) if c.inside(y.size) and _has_edges(y, c, bucket_ms)]
    for c in _seek_moments(y, seeks, n_views, duration_ms, settings) if seeks is not None else []:
        # Where viewers seek marks a moment's edges more closely than the heatmap's deviation.
        found = [f for f in found if not (c.peak == f.peak and c.lo < f.hi and f.lo < c.hi)] + [c]
    return order([Hotspot(round(c.lo * bucket_ms), round(c.hi * bucket_ms), round(score(c.observed, c.expected), 4))
                  for c in found], "desc")


def _seek_moments(y: np.ndarray, seeks: Seeks, n_views: int, duration_ms: int,
                  settings: DetectorSettings) -> list[Candidate]:
    """Moments shown by where viewers seek, measured on the heatmap:
    - a peak where the landed share rises in a burst beyond its trend (viewers seek in, come
      back or start there), however the heatmap moves: a moment after a cliff, or with a
      gradual onset, keeps the curve from falling rather than lifting it;
    - a cold spot where the skipped share rises beyond its trend (viewers skip over a stretch
      and watch on after it), which the heatmap alone cannot tell from a cliff followed by
      a peak.
    The landed (skipped) share's excess over its trend is what the moment adds to (takes from)
    the heatmap there."""
    bucket_ms = duration_ms / y.size
    landed, skipped = np.asarray(seeks.landed, dtype=np.float64), np.asarray(seeks.skipped, dtype=np.float64)
    landed_trend = expected_curve(landed, n_views, duration_ms, settings, landing_allowance(landed, bucket_ms, settings))
    skipped_trend = expected_curve(skipped, n_views, duration_ms, settings)
    cold = [_on_heatmap(y, c, -1.0) for c in candidates(skipped, skipped_trend, n_views, bucket_ms, settings)
            if c.peak and c.inside(y.size) and _has_edges(skipped, c, bucket_ms)]
    returns = max(2, int(np.ceil(EDGE_MS / bucket_ms)))
    peaks = [_on_heatmap(y, c, 1.0) for c in candidates(landed, landed_trend, n_views, bucket_ms, settings)
             if c.peak and c.inside(y.size) and _rises_sharply(landed, c, bucket_ms)
             and not any(0 <= c.lo - v.hi <= returns for v in cold)]  # viewers back from skipping it
    return peaks + cold


def _on_heatmap(y: np.ndarray, c: Candidate, sign: float) -> Candidate:
    """A layer's raised stretch as a moment of the heatmap: its excess over the layer's trend
    added to (sign 1) or taken from (sign -1) the heatmap there."""
    observed = float(y[c.lo:c.hi].mean())
    return replace(c, observed=observed, expected=float(np.clip(observed - sign * (c.observed - c.expected), 1e-12, 1.0)))


def _rises_sharply(y: np.ndarray, c: Candidate, bucket_ms: float) -> bool:
    """Does the raised stretch begin with a rise of at least half its height within EDGE_MS (or
    a fifth of the content), beyond the curve's rise before it? A burst of landings, not the
    landed share growing as viewers join over the video."""
    reach = max(2, min(int(np.ceil(EDGE_MS / bucket_ms)), int(np.ceil(y.size / 5)), (c.run_hi - c.run_lo) // 2 + 1))
    first = max(c.run_lo - reach, min(c.run_lo, reach + 1))  # with the curve's slope before it
    back = min(reach, first - 1)
    if back < 1:
        return False
    slope_before = max(0.0, float(y[first - 1] - y[first - 1 - back])) / back
    end = min(c.lo + reach, y.size)
    level = y[first - 1:end] - slope_before * np.arange(end - first + 1)
    lowest_before = -maximum_filter1d(-level, size=reach + 1, origin=reach // 2, mode="nearest")
    return bool((level - lowest_before >= 0.5 * (c.observed - c.expected)).any())


# A moment's edges (viewers arriving, or skipping away and back) take at most this long,
# or a fifth of the content.
EDGE_MS = 30_000


def _has_edges(y: np.ndarray, c: Candidate, bucket_ms: float) -> bool:
    """A peak begins with a rise of a quarter of its height; a cold spot begins with a fall
    and ends with a rise of a quarter of its depth (each within EDGE_MS of its range's
    edge). A slow drift away from the trend (viewers joining faster than the trend allows,
    a cliff followed by joiners) has no such edges."""
    reach = max(2, min(int(np.ceil(EDGE_MS / bucket_ms)), int(np.ceil(y.size / 5))))
    quarter = abs(c.observed - c.expected) / 4
    before, after = y[max(0, c.lo - reach):c.lo], y[c.lo:c.lo + reach]
    if c.observed > c.expected:
        return float(after.max() - before.min()) >= quarter
    end_inside, end_after = y[max(c.lo, c.hi - reach):c.hi], y[c.hi:c.hi + reach]
    return float(before.max() - after.min()) >= quarter and float(end_after.max() - end_inside.min()) >= quarter


def order(hotspots: list[Hotspot], direction: str) -> list[Hotspot]:
    """desc: strongest peaks first; asc: deepest cold spots first."""
    return sorted(hotspots, key=lambda h: (-h.score if direction == "desc" else h.score, h.start_ms))
