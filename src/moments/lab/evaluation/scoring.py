"""Scoring detectors on random audiences: recall, precision, IoU, false alarms, power.

A found range recalls a true moment when it has the moment's sign and IoU >= 0.3 with its
true range; a moment's IoU is that of its best match. A found range that recalls nothing is
a false find unless the planted behaviour really moved the curve there (a realised effect
of its sign of at least 2 points: viewers who skip a dull stretch and keep watching after
it make a real bump after it). On an audience without moments any find is a false alarm.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import numpy as np

from moments.engagement.hotspots import Seeks, detect
from moments.lab.evaluation import baselines
from moments.lab.evaluation.audiences import (Audience, TrueMoment, curves, random_null, random_planted, seek_and_skip,
                                          truth)

MATCH_IOU = 0.3
Detector = Callable[[np.ndarray, int, int, Seeks], list[baselines.Range]]


def moments_detector(values: np.ndarray, n_views: int, duration_ms: int, seeks: Seeks) -> list[baselines.Range]:
    """What the API serves: the heatmap and the seek layers its rollups hold."""
    return [(h.start_ms, h.end_ms, h.score > 0.5) for h in detect(values, n_views, duration_ms, seeks=seeks)]


def heatmap_only(detector: Callable[[np.ndarray, int, int], list[baselines.Range]]) -> Detector:
    """A detector that reads the heatmap alone."""
    return lambda values, n_views, duration_ms, seeks: detector(values, n_views, duration_ms)


def _moments_on_heatmap(values: np.ndarray, n_views: int, duration_ms: int) -> list[baselines.Range]:
    return [(h.start_ms, h.end_ms, h.score > 0.5) for h in detect(values, n_views, duration_ms)]


DETECTORS: dict[str, Detector] = {
    "moments": moments_detector,
    "moments, heatmap alone": heatmap_only(_moments_on_heatmap),
    "isotonic trend z-test": heatmap_only(baselines.isotonic_z),
    "find_peaks on detrended residual": heatmap_only(baselines.detrended_find_peaks),
    "find_peaks on the curve": heatmap_only(baselines.naive),
}


def iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    return inter / max(1, max(a[1], b[1]) - min(a[0], b[0]))


@dataclass(frozen=True)
class MomentScore:
    moment: TrueMoment
    n_views: int
    recalled: bool
    iou: float


@dataclass(frozen=True)
class AudienceScore:
    audience: Audience
    found: int
    false_finds: int
    moments: tuple[MomentScore, ...]


REAL_EFFECT = 0.02


def score_audience(audience: Audience, found: list[baselines.Range], moments: list[TrueMoment],
                   effect: np.ndarray | None = None) -> AudienceScore:
    scored = []
    for m in moments:
        best = max((iou((lo, hi), (m.start_ms, m.end_ms)) for lo, hi, peak in found if peak == m.peak), default=0.0)
        scored.append(MomentScore(m, audience.n_views, best >= MATCH_IOU, best if best >= MATCH_IOU else 0.0))

    def real(lo: int, hi: int, peak: bool) -> bool:
        if effect is None:
            return False
        b, d = effect.size, audience.duration_ms
        first = int(lo * b / d)
        return (1 if peak else -1) * float(effect[first:max(first + 1, round(hi * b / d))].mean()) >= REAL_EFFECT

    false_finds = sum(
        not any(peak == m.peak and iou((lo, hi), (m.start_ms, m.end_ms)) >= MATCH_IOU for m in moments)
        and not real(lo, hi, peak)
        for lo, hi, peak in found
    )
    return AudienceScore(audience, len(found), false_finds, tuple(scored))


def run(audiences: Iterable[Audience], detectors: dict[str, Detector] = DETECTORS) -> dict[str, list[AudienceScore]]:
    """Every detector on every audience (each audience simulated once)."""
    out: dict[str, list[AudienceScore]] = {name: [] for name in detectors}
    for audience in audiences:
        values, plain, seeks = curves(audience)
        moments = truth(audience, values, plain) if audience.moments else []
        for name, detector in detectors.items():
            found = detector(values, audience.n_views, audience.duration_ms, seeks)
            out[name].append(score_audience(audience, found, moments, values - plain if moments else None))
    return out


def nulls(count: int, seed: int = 1) -> list[Audience]:
    rng = np.random.default_rng(seed)
    return [random_null(rng, seed * 1_000_003 + i) for i in range(count)]


def _drawn(count: int, seed: int, draw: Callable[[np.random.Generator, int], Audience]) -> list[Audience]:
    """`count` audiences from `draw`, each with at least one moment (a draw with none is redrawn)."""
    rng = np.random.default_rng(seed)
    out: list[Audience] = []
    while len(out) < count:
        audience = draw(rng, seed * 1_000_003 + len(out))
        if audience.moments:
            out.append(audience)
    return out


def planted(count: int, seed: int = 2, **kw) -> list[Audience]:
    return _drawn(count, seed, lambda rng, s: random_planted(rng, s, **kw))


def seek_and_skip_audiences(count: int, seed: int = 3) -> list[Audience]:
    """`count` seek-and-skip audiences with moments, and the same audiences without them."""
    with_moments = _drawn(count, seed, seek_and_skip)
    return with_moments + [replace(a, moments=(), seed=a.seed + 1) for a in with_moments]


# --- summaries ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    null_audiences: int
    null_alarms: int  # null audiences with any find
    found: int
    false_finds: int
    moments: int
    recalled: int
    mean_iou: float

    @property
    def alarm_rate(self) -> float:
        return self.null_alarms / max(1, self.null_audiences)

    @property
    def precision(self) -> float:
        return 1 - self.false_finds / self.found if self.found else 1.0

    @property
    def recall(self) -> float:
        return self.recalled / max(1, self.moments)


def summarise(scores: list[AudienceScore], keep: Callable[[MomentScore], bool] = lambda m: True) -> Summary:
    null = [s for s in scores if not s.audience.moments]
    planted_ = [s for s in scores if s.audience.moments]
    kept = [m for s in planted_ for m in s.moments if keep(m)]
    ious = [m.iou for m in kept if m.recalled]
    return Summary(
        null_audiences=len(null), null_alarms=sum(s.found > 0 for s in null),
        found=sum(s.found for s in planted_), false_finds=sum(s.false_finds for s in planted_),
        moments=len(kept), recalled=sum(m.recalled for m in kept),
        mean_iou=float(np.mean(ious)) if ious else 0.0,
    )


def in_target(m: MomentScore) -> bool:
    """The moments the targets speak of: >= 5 points, >= 1,000 views, >= 10 s long."""
    return abs(m.moment.effect) >= 5 and m.n_views >= 1000 and m.moment.length_ms >= 10_000
