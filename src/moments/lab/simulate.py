"""Simulated audiences with planted moments: demo data and ground truth for the detector.

A viewer starts at 0 (or mid-way), may leave in the first seconds, otherwise leaves under
a hazard that may vary along the video. Planted moments change behaviour locally:
- a peak: some viewers scrub forward into the moment and leave after it, and viewers
  already there are less likely to leave during it;
- a valley: some viewers who reach the stretch skip over it.
Rewatches add overlapping ranges (they must not change the heatmap).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from moments.model import RangeSet, View


@dataclass(frozen=True)
class Moment:
    start_ms: int
    end_ms: int
    kind: str  # "peak" or "valley"
    strength: float  # share of the audience affected, 0..1


@dataclass(frozen=True)
class Audience:
    duration_ms: int
    n_views: int
    intro_drop: float = 0.15  # share who leave within the first seconds
    hazard_per_minute: float = 0.05  # chance per minute of leaving, at the start
    hazard_growth: float = 0.0  # hazard multiplier change per unit of progress (varying hazard)
    midway_share: float = 0.05  # share who start at a random point
    rewatch_share: float = 0.1
    moments: tuple[Moment, ...] = ()
    seed: int = 0


@dataclass
class Scenario:
    """Ids and times to attach the simulated watch patterns to."""

    view_id_prefix: str = "sim"
    asset_id: str | None = None
    playback_ids: tuple[str, ...] = ()
    video_id: str | None = None
    start_ms: int = 0
    span_ms: int = 86_400_000
    sdk: tuple[str, str] | None = None
    dimensions: dict = field(default_factory=dict)


def leave_times(audience: Audience, rng: np.random.Generator, starts: np.ndarray) -> np.ndarray:
    """When each viewer stops watching (ms of media time), from start position and hazard."""
    d = audience.duration_ms
    n = starts.size
    # Inverse-transform sampling of a hazard h(t) = h0 * (1 + growth * t / D).
    h0 = audience.hazard_per_minute / 60_000
    target = rng.exponential(size=n)  # cumulative hazard at which the viewer leaves
    # Cumulative hazard from 0 to t: h0 * t + a * t^2 with a = h0 * growth / (2D); a viewer
    # who starts at s leaves at the t where it reaches target + (its value at s). The root
    # is written 2C / (b + sqrt(b^2 + 4aC)), which stays exact as a goes to 0.
    a = h0 * audience.hazard_growth / (2 * d)
    total = target + h0 * starts + a * starts**2
    leave = 2 * total / (h0 + np.sqrt(h0 * h0 + 4 * a * total))
    early = rng.random(n) < audience.intro_drop
    leave = np.where(early, starts + rng.uniform(500, 6000, n), leave)
    return np.minimum(leave, d)


def simulate_ranges(audience: Audience) -> list[list[tuple[int, int]]]:
    """The watched ranges of each simulated view."""
    rng = np.random.default_rng(audience.seed)
    d, n = audience.duration_ms, audience.n_views
    starts = np.where(rng.random(n) < audience.midway_share, rng.uniform(0, d * 0.9, n), 0.0)
    leaves = leave_times(audience, rng, starts)
    views: list[list[tuple[int, int]]] = []
    for i in range(n):
        segments = [(float(starts[i]), float(leaves[i]))]
        for moment in audience.moments:
            segments = _apply_moment(segments, moment, rng, d)
        if rng.random() < audience.rewatch_share and segments:
            s, e = segments[rng.integers(len(segments))]
            if e - s > 2000:
                back = rng.uniform(s, e - 1000)
                segments.append((back, min(e, back + rng.uniform(1000, 15_000))))
        views.append([(int(s), int(e)) for s, e in segments if int(e) > int(s)])
    return views


def range_set(audience: Audience) -> RangeSet:
    """The simulated views as the engagement engine's input, without the store."""
    views = simulate_ranges(audience)
    flat = [pair for ranges in views for pair in ranges]
    return RangeSet(
        n_views=len(views),
        view_index=np.array([i for i, ranges in enumerate(views) for _ in ranges], dtype=np.int64),
        starts=np.array([s for s, _ in flat], dtype=np.int64),
        ends=np.array([e for _, e in flat], dtype=np.int64),
        reported_durations_ms=np.full(len(views), audience.duration_ms, dtype=np.int64),
    )


def _apply_moment(segments: list[tuple[float, float]], moment: Moment, rng: np.random.Generator,
                  d: int) -> list[tuple[float, float]]:
    a, b = moment.start_ms, moment.end_ms
    affected = rng.random() < moment.strength
    if not affected:
        return segments
    if moment.kind == "valley":
        out = []
        for s, e in segments:
            if s < a < e:  # reaches the dull stretch: jump over it
                out.append((s, a))
                if e > b:
                    out.append((b, e))
            else:
                out.append((s, e))
        return out
    covered = any(s <= a and e >= b for s, e in segments)
    if covered:
        return segments
    last_end = max(e for _, e in segments)
    if last_end < a:
        # Scrubbed forward into the moment from where they would have left, left after it.
        return segments + [(a, min(b, d))]
    return segments


def simulate_views(audience: Audience, scenario: Scenario) -> list[View]:
    rng = np.random.default_rng(audience.seed + 1)
    ranges = simulate_ranges(audience)
    starts = scenario.start_ms + rng.integers(0, scenario.span_ms, len(ranges))
    views = []
    for i, view_ranges in enumerate(ranges):
        watched = sum(e - s for s, e in view_ranges)
        playback_id = scenario.playback_ids[i % len(scenario.playback_ids)] if scenario.playback_ids else None
        sdk_name, sdk_version = scenario.sdk or (None, None)
        views.append(View(
            view_id=f"{scenario.view_id_prefix}-{i}",
            view_start_ms=int(starts[i]),
            view_end_ms=int(starts[i]) + watched + 1000,
            duration_ms=audience.duration_ms,
            ranges=tuple(view_ranges),
            asset_id=scenario.asset_id,
            playback_id=playback_id,
            video_id=scenario.video_id,
            sdk_name=sdk_name,
            sdk_version=sdk_version,
            **scenario.dimensions,
        ))
    return views
