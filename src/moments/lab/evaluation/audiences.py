"""Random audiences for scoring the hotspot detector, built not to share its assumptions.

Each audience is drawn from wide ranges of everything a detector might take for granted:
how many view it (300 to 50,000), how long the content is (20 s to 3 h), how steep and how
fast the intro drop is, a hazard of leaving that changes over the video, chapter cliffs,
viewers joining mid-way (from a random smooth density), random forward skips, rewatches
(which must not change the curve), and an outro drop. Planted moments vary in kind, length
(3 s to half the content), strength (3 to 40 points), place (right after the intro or a
cliff, near either end, side by side), and shape:

- a peak: viewers who would have left before it come back for it or skip forward into it
  (all at its first second, or spread over its first part), and leave at its last second
  or gradually after it (exponential, mean 1 s to 2 min);
- a valley: viewers who reach it skip over it (at its first second or spread over its first
  part) and come back at its end (at once or spread over its last part).

The truth is measured, not assumed: the same audience is simulated without its moments
(the same random draws), and a moment's true range is the stretch around it where its
realised effect is at least half of its strongest, its size the mean effect there.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from moments.engagement.heatmap import bucket_count, coverage_layers, heatmap, values_from_watched
from moments.engagement.hotspots import Seeks, half_extent
from moments.model import RangeSet

SHAPES = ("sharp plateau", "sharp onset, quick leave", "sharp onset, slow leave", "gradual onset",
          "sharp valley", "gradual valley")
# A rise spread over minutes is viewers joining, not a moment.
MAX_ONSET_MS = 30_000
# Viewers who skip forward into a peak do it from this far (mean) before they would have left.
SKIP_FROM_MS = 20_000


@dataclass(frozen=True)
class PlantedMoment:
    shape: str
    start_ms: int
    end_ms: int
    share: float  # share of the eligible viewers who act on the moment
    onset_ms: int = 0  # arrivals (peaks) or departures (valleys) spread over this many ms
    leave_mean_ms: int = 0  # peaks: mean delay of leaving after the end; valleys: returns spread
    skip_share: float = 0.5  # peaks: of those who arrive, the share that skip forward (vs come back)

    @property
    def peak(self) -> bool:
        return "valley" not in self.shape


@dataclass(frozen=True)
class Audience:
    duration_ms: int
    n_views: int
    seed: int
    intro_share: float = 0.15
    intro_scale_ms: int = 4000
    leave_share: float = 0.5  # share of starters who leave before the end under the hazard
    hazard_knots: tuple[float, ...] = (1.0,)  # relative hazard along the video (piecewise linear)
    cliffs: tuple[tuple[int, float], ...] = ()  # (at ms, share of those watching who leave)
    joiner_share: float = 0.05
    joiner_shape: tuple[float, float] = (1.0, 1.0)  # Beta density of where joiners start
    skip_share: float = 0.0  # viewers who skip forward once at a random moment
    skip_mean_ms: int = 10_000
    rewatch_share: float = 0.1
    outro_share: float = 0.0  # of those still there, leave during the last 5%
    moments: tuple[PlantedMoment, ...] = ()
    tags: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class TrueMoment:
    peak: bool
    shape: str
    start_ms: int
    end_ms: int
    effect: float  # mean realised change of share over the true range, in points
    length_ms: int  # the planted length


def _leave_times(a: Audience, rng: np.random.Generator, starts: np.ndarray) -> np.ndarray:
    """Media time at which each viewer leaves: an intro drop, then a hazard varying along the video."""
    d, n = a.duration_ms, starts.size
    grid = np.linspace(0.0, d, 513)
    knots = np.interp(grid, np.linspace(0.0, d, len(a.hazard_knots)), a.hazard_knots)
    cumulative = np.concatenate(([0.0], np.cumsum((knots[1:] + knots[:-1]) / 2 * np.diff(grid))))
    # Scaled so a viewer from 0 leaves before the end with probability leave_share.
    cumulative *= -np.log1p(-min(a.leave_share, 0.999)) / cumulative[-1]
    target = np.interp(starts, grid, cumulative) + rng.exponential(size=n)
    leave = np.interp(target, cumulative, grid, right=np.inf)
    early = rng.random(n) < a.intro_share
    leave = np.where(early, starts + rng.exponential(a.intro_scale_ms, n), leave)
    for at, share in a.cliffs:
        hit = (starts < at) & (leave > at) & (rng.random(n) < share)
        leave = np.where(hit, at + rng.uniform(0, 2000, n), leave)
    if a.outro_share:
        at = 0.95 * d
        hit = (leave > at) & (starts < at) & (rng.random(n) < a.outro_share)
        leave = np.where(hit, rng.uniform(at, d, n), leave)
    return np.minimum(leave, d)


@dataclass
class _Segments:
    view: np.ndarray
    start: np.ndarray
    end: np.ndarray

    def add(self, view: np.ndarray, start: np.ndarray, end: np.ndarray) -> None:
        self.view = np.concatenate((self.view, view))
        self.start = np.concatenate((self.start, start))
        self.end = np.concatenate((self.end, end))


def _apply_peak(m: PlantedMoment, a: Audience, segs: _Segments, first: np.ndarray, last: np.ndarray,
                rng: np.random.Generator) -> None:
    """Viewers who would have left before the moment arrive into it: some come back for it,
    some skip forward into it from their last seconds (`first`/`last`: each primary range)."""
    d, n = a.duration_ms, a.n_views
    arrive = m.start_ms + (rng.uniform(0, m.onset_ms, n) if m.onset_ms else np.zeros(n))
    stay = np.minimum(m.end_ms + (rng.exponential(m.leave_mean_ms, n) if m.leave_mean_ms else np.zeros(n)), d)
    chosen = np.flatnonzero((rng.random(n) < m.share) & (first < m.start_ms) & (last <= m.start_ms))
    skipping = chosen[rng.random(chosen.size) < m.skip_share]
    jump_from = np.maximum(first[skipping], last[skipping] - rng.exponential(SKIP_FROM_MS, skipping.size))
    segs.end[skipping] = np.minimum(segs.end[skipping], jump_from)  # rows 0..n-1 are the primary ranges
    segs.add(chosen, arrive[chosen], np.maximum(stay[chosen], arrive[chosen]))


def _apply_valley(m: PlantedMoment, a: Audience, segs: _Segments, rng: np.random.Generator) -> None:
    """Viewers watching through [start, end) skip (part of) it and come back."""
    through = (segs.start < m.start_ms) & (segs.end > m.start_ms)
    rows = np.flatnonzero(through & (rng.random(segs.start.size) < m.share))
    if not rows.size:
        return
    leave = m.start_ms + (rng.uniform(0, m.onset_ms, rows.size) if m.onset_ms else np.zeros(rows.size))
    back = m.end_ms - (rng.uniform(0, m.leave_mean_ms, rows.size) if m.leave_mean_ms else np.zeros(rows.size))
    old_end = segs.end[rows].copy()
    # Those who would have left inside the stretch still leave soon after coming back.
    resume_end = np.where(old_end > m.end_ms, old_end, np.minimum(back + (old_end - m.start_ms), a.duration_ms))
    segs.end[rows] = np.minimum(leave, old_end)
    keep = resume_end > back
    segs.add(segs.view[rows][keep], back[keep], resume_end[keep])


def simulate(a: Audience, with_moments: bool = True) -> RangeSet:
    """The audience's watched ranges (the same draws with or without its moments)."""
    rng = np.random.default_rng(a.seed)
    d, n = a.duration_ms, a.n_views
    joiner = rng.random(n) < a.joiner_share
    starts = np.where(joiner, rng.beta(*a.joiner_shape, n) * 0.95 * d, 0.0)
    leaves = _leave_times(a, rng, starts)
    segs = _Segments(np.arange(n), starts.copy(), leaves.copy())
    # Random forward skips (not moments): one jump each, at a random point of the range.
    skip = np.flatnonzero(rng.random(n) < a.skip_share)
    at = rng.uniform(starts[skip], np.maximum(leaves[skip], starts[skip]))
    to = at + rng.exponential(a.skip_mean_ms, skip.size)
    jumped = to < leaves[skip]
    segs.end[skip[jumped]] = at[jumped]
    segs.add(skip[jumped], to[jumped], leaves[skip][jumped])
    moment_rng = np.random.default_rng(a.seed + 7919)
    for m in a.moments:
        if not with_moments:
            break
        if m.peak:
            _apply_peak(m, a, segs, starts, leaves, moment_rng)
        else:
            _apply_valley(m, a, segs, moment_rng)
    # Rewatches: a second pass over part of a range already watched (the curve must not move).
    again = np.flatnonzero(rng.random(segs.start.size) < a.rewatch_share)
    lo = rng.uniform(segs.start[again], np.maximum(segs.end[again], segs.start[again]))
    hi = np.minimum(segs.end[again], lo + rng.exponential(15_000, again.size))
    segs.add(segs.view[again], lo, hi)
    start, end = np.floor(segs.start).astype(np.int64), np.floor(segs.end).astype(np.int64)
    keep = end > start
    return RangeSet(n_views=n, view_index=segs.view[keep].astype(np.int64), starts=start[keep], ends=end[keep],
                    reported_durations_ms=np.full(n, d, dtype=np.int64))


def curves(a: Audience) -> tuple[np.ndarray, np.ndarray, Seeks]:
    """(heatmap with the moments, heatmap of the same audience without them, the seek layers
    with the moments)."""
    layers = coverage_layers(simulate(a), a.duration_ms)
    values = values_from_watched(layers.watched, a.n_views, a.duration_ms)
    return values, heatmap(simulate(a, with_moments=False), a.duration_ms), Seeks.from_coverage(layers, a.n_views, a.duration_ms)


def truth(a: Audience, values: np.ndarray, plain: np.ndarray) -> list[TrueMoment]:
    """Each planted moment's realised range and effect (see the module docstring)."""
    b = values.size
    edges = np.arange(b + 1) * a.duration_ms / b
    effect = values - plain
    out = []
    for m in a.moments:
        sign = 1.0 if m.peak else -1.0
        lo = int(np.searchsorted(edges, m.start_ms, side="right")) - 1
        hi = max(lo + 1, int(np.searchsorted(edges, m.end_ms, side="left")))
        left, right = half_extent(sign * effect, lo + int(np.argmax(sign * effect[lo:hi])))
        out.append(TrueMoment(m.peak, m.shape, round(edges[left]), round(edges[right]),
                              float(effect[left:right].mean() * 100), m.end_ms - m.start_ms))
    return out


# --- random draws -------------------------------------------------------------------------------


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def random_null(rng: np.random.Generator, seed: int) -> Audience:
    """An audience with no moment, of any shape and size."""
    d = int(_log_uniform(rng, 20_000, 10_800_000))
    n = int(_log_uniform(rng, 300, 50_000))
    knots = tuple(float(k) for k in _log_uniform_array(rng, 0.2, 4.0, int(rng.integers(1, 6))))
    cliffs = tuple((int(rng.uniform(0.1, 0.9) * d), float(rng.uniform(0.05, 0.35)))
                   for _ in range(int(rng.integers(0, 3)) if rng.random() < 0.35 else 0))
    return Audience(
        duration_ms=d, n_views=n, seed=seed,
        intro_share=float(rng.uniform(0.0, 0.6)), intro_scale_ms=int(_log_uniform(rng, 800, 30_000)),
        leave_share=float(rng.uniform(0.05, 0.97)), hazard_knots=knots, cliffs=cliffs,
        joiner_share=float(rng.choice([0.0, rng.uniform(0, 0.15), rng.uniform(0.15, 0.6)])),
        joiner_shape=(float(rng.uniform(1.0, 3.0)), float(rng.uniform(1.0, 3.0))),
        skip_share=float(rng.choice([0.0, rng.uniform(0, 0.3), rng.uniform(0.3, 0.8)])),
        skip_mean_ms=int(_log_uniform(rng, 3000, max(4000, 0.2 * d))),
        rewatch_share=float(rng.choice([0.0, rng.uniform(0, 0.3), rng.uniform(0.3, 0.9)])),
        outro_share=float(rng.uniform(0, 0.5)) if rng.random() < 0.3 else 0.0,
    )


def _log_uniform_array(rng: np.random.Generator, lo: float, hi: float, size: int) -> np.ndarray:
    return np.exp(rng.uniform(np.log(lo), np.log(hi), size))


def random_moment(rng: np.random.Generator, shape: str, start_ms: int, length_ms: int, effect: float,
                  present: float) -> PlantedMoment:
    """A moment of `shape` aimed at `effect` (share) where `present` of the audience is watching."""
    onset = min(length_ms * rng.uniform(0.2, 0.7), MAX_ONSET_MS) if "gradual" in shape else 0
    if shape == "sharp onset, quick leave":
        leave = _log_uniform(rng, 1000, 4000)
    elif shape == "sharp onset, slow leave":
        leave = _log_uniform(rng, 5000, 120_000)
    elif shape == "gradual valley":
        leave = length_ms * rng.uniform(0.1, 0.3)  # returns spread over the last part
    else:
        leave = 0
    if "valley" in shape:
        share = effect / max(present, 1e-3)
    else:
        share = effect / max(1.0 - present, 1e-3)
    return PlantedMoment(shape, start_ms, start_ms + length_ms, float(min(1.0, share)), int(onset), int(leave),
                         skip_share=float(rng.uniform(0, 1)))


def random_planted(rng: np.random.Generator, seed: int, shapes: tuple[str, ...] = SHAPES,
                   n_views: tuple[int, int] = (300, 50_000), effects: tuple[float, float] = (0.03, 0.40)) -> Audience:
    """A random audience with 1-3 moments of random shapes, lengths, places and strengths."""
    base = random_null(rng, seed)
    d = base.duration_ms
    n = round(_log_uniform(rng, *n_views))
    plain = heatmap(simulate(replace(base, n_views=min(n, 3000))), d)  # where viewers are, roughly
    moments: list[PlantedMoment] = []
    tags: list[str] = []
    cursor = _place_first(rng, base, d, tags)
    for k in range(int(rng.integers(1, 4))):
        cursor = cursor if k or cursor < 0.9 * d else d * rng.uniform(0.03, 0.7)  # the first always fits
        longest = max(3000.0, min(0.5 * d, d - cursor - 0.02 * d))
        length = int(_log_uniform(rng, 3000, longest)) if longest > 3000 else 3000
        if cursor + length > 0.99 * d:
            break
        at = int(min(cursor, d - length))
        present = float(plain[min(plain.size - 1, int(at / d * plain.size))])
        shape = str(rng.choice(shapes))
        moments.append(random_moment(rng, shape, at, length, _log_uniform(rng, *effects), present))
        gap = 0.0 if rng.random() < 0.3 else rng.uniform(0.0, 0.3) * d  # side by side, or apart
        if gap == 0.0:
            tags.append("side by side")
        cursor = at + length + gap + (moments[-1].leave_mean_ms * 3 if moments[-1].peak else 0)
    return replace(base, n_views=n, moments=tuple(moments), tags=tuple(tags))


def seek_and_skip(rng: np.random.Generator, seed: int) -> Audience:
    """A plainer audience with the two shapes viewers make most: peaks they seek into and
    leave over the following seconds (mean 8 s), and stretches they skip (2-30 min content,
    1,000-20,000 views, few joiners, 1-2 moments of 8-60 s)."""
    d = int(_log_uniform(rng, 120_000, 1_800_000))
    n = round(_log_uniform(rng, 1000, 20_000))
    moments: list[PlantedMoment] = []
    cursor = d * rng.uniform(0.05, 0.3)
    for _ in range(int(rng.integers(1, 3))):
        length = int(rng.uniform(8000, min(60_000, 0.2 * d)))
        if cursor + length > 0.9 * d:
            break
        if rng.random() < 0.6:
            moments.append(PlantedMoment("sharp onset, slow leave", int(cursor), int(cursor + length),
                                         float(rng.uniform(0.1, 0.5)), 0, 8000, float(rng.uniform(0, 1))))
        else:
            moments.append(PlantedMoment("sharp valley", int(cursor), int(cursor + length),
                                         float(rng.uniform(0.2, 0.6))))
        cursor += length + d * rng.uniform(0.05, 0.3)
    return Audience(duration_ms=d, n_views=n, seed=seed, intro_share=float(rng.uniform(0, 0.3)),
                    leave_share=float(rng.uniform(0.3, 0.9)), joiner_share=float(rng.uniform(0, 0.1)),
                    moments=tuple(moments))


def _place_first(rng: np.random.Generator, base: Audience, d: int, tags: list[str]) -> float:
    """Where the first moment starts: right after the intro, right after a cliff, or anywhere."""
    roll = rng.random()
    if roll < 0.2:
        tags.append("after intro")
        return min(0.5 * d, base.intro_scale_ms * rng.uniform(1.5, 4) + 2000)
    if roll < 0.35 and base.cliffs:
        tags.append("after cliff")
        return base.cliffs[0][0] + rng.uniform(2000, 8000)
    if roll < 0.45:
        tags.append("near the end")
        return d * rng.uniform(0.8, 0.9)
    return d * rng.uniform(0.03, 0.7)


def n_buckets(a: Audience) -> int:
    return bucket_count(a.duration_ms)
