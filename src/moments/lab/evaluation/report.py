"""The hotspot evaluation as tables: `moments eval-hotspots` prints them, `--write` puts them
in docs/hotspots.md between the markers, so the published figures are the generated ones.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from moments.engagement.hotspots import detect
from moments.lab.evaluation import scoring
from moments.lab.evaluation.audiences import SHAPES, curves, random_null

BEGIN, END = "<!-- eval-hotspots:begin -->", "<!-- eval-hotspots:end -->"
EFFECT_BINS = (2, 3, 5, 7, 10, 15, 25, 100)
POWER_VIEWS = (1_000, 10_000, 50_000)


@dataclass(frozen=True)
class Size:
    nulls: int
    planted: int
    power: int  # audiences per number of views in the power table
    seek_and_skip: int  # seek-and-skip audiences (and as many without their moments)


QUICK = Size(nulls=200, planted=200, power=0, seek_and_skip=80)
FULL = Size(nulls=1000, planted=600, power=300, seek_and_skip=300)


@dataclass
class Evaluation:
    size: Size
    general: dict[str, list[scoring.AudienceScore]]
    power: dict[int, list[scoring.AudienceScore]]
    seek_and_skip: dict[str, list[scoring.AudienceScore]]
    detect_ms_1000: float
    seconds: float


def evaluate(size: Size = FULL) -> Evaluation:
    started = time.perf_counter()
    general = scoring.run(scoring.nulls(size.nulls) + scoring.planted(size.planted))
    power = {
        n: scoring.run(scoring.planted(size.power, seed=10 + k, n_views=(n, n)),
                       {"moments": scoring.DETECTORS["moments"]})["moments"]
        for k, n in enumerate(POWER_VIEWS) if size.power
    }
    seek = scoring.run(scoring.seek_and_skip_audiences(size.seek_and_skip)) if size.seek_and_skip else {}
    return Evaluation(size, general, power, seek, detect_time_ms(), time.perf_counter() - started)


def detect_time_ms(repeats: int = 30) -> float:
    """Median time of one detection with the seek layers on 1,000 buckets (a 1 h audience of
    20,000 views)."""
    audience = replace(random_null(np.random.default_rng(5), 5), duration_ms=3_600_000, n_views=20_000)
    values, _, seeks = curves(audience)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        detect(values, audience.n_views, audience.duration_ms, seeks=seeks)
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def detectors_table(ev: Evaluation, scores_by_name: dict[str, list[scoring.AudienceScore]] | None = None) -> str:
    rows = ["| detector | null audiences with any hotspot | precision | recall, all | recall, target "
            "moments | mean IoU (recalled) |", "|---|---:|---:|---:|---:|---:|"]
    for name, scores in (scores_by_name or ev.general).items():
        a, t = scoring.summarise(scores), scoring.summarise(scores, scoring.in_target)
        rows.append(f"| {name} | {a.null_alarms} of {a.null_audiences} ({_pct(a.alarm_rate)}) | "
                    f"{a.precision:.3f} | {a.recall:.3f} ({a.recalled}/{a.moments}) | "
                    f"{t.recall:.3f} ({t.recalled}/{t.moments}) | {t.mean_iou:.2f} |")
    return "\n".join(rows)


def shapes_table(ev: Evaluation) -> str:
    scores = ev.general["moments"]
    rows = ["| moment shape | target moments | recalled | mean IoU | all moments | recalled |",
            "|---|---:|---:|---:|---:|---:|"]
    for shape in SHAPES:
        t = scoring.summarise(scores, lambda m: m.moment.shape == shape and scoring.in_target(m))
        a = scoring.summarise(scores, lambda m: m.moment.shape == shape)
        rows.append(f"| {shape} | {t.moments} | {t.recall:.3f} | {t.mean_iou:.2f} | {a.moments} | {a.recall:.3f} |")
    return "\n".join(rows)


def power_table(ev: Evaluation) -> str:
    """Recall by realised effect at fixed numbers of views (moments >= 10 s long)."""
    if not ev.power:
        return ""
    bins = list(zip(EFFECT_BINS[:-1], EFFECT_BINS[1:]))
    head = "| views | " + " | ".join(f"{lo}-{hi} pts" for lo, hi in bins) + " | smallest effect found 9 times in 10 |"
    rows = [head, "|---|" + "---:|" * (len(bins) + 1)]
    for n, scores in ev.power.items():
        cells, recalls = [], []
        for lo, hi in bins:
            s = scoring.summarise(scores, lambda m: lo <= abs(m.moment.effect) < hi and m.moment.length_ms >= 10_000)
            cells.append(f"{s.recall:.2f} ({s.moments})" if s.moments else "-")
            recalls.append(s.recall if s.moments else None)
        rows.append(f"| {n:,} | " + " | ".join(cells) + f" | {_minimum_detectable(bins, recalls)} |")
    return "\n".join(rows)


def power_by_shape_table(ev: Evaluation) -> str:
    """Per shape and number of views: recall on moments of >= 5 points (>= 10 s long), and
    the smallest effect from which every larger one is found 9 times in 10."""
    bins = list(zip(EFFECT_BINS[:-1], EFFECT_BINS[1:]))
    rows = ["| moment shape | " + " | ".join(f"{n:,} views: recall >= 5 pts | found 9 in 10 from" for n in ev.power)
            + " |", "|---|" + "---:|---:|" * len(ev.power)]
    for shape in SHAPES:
        cells = []
        for scores in ev.power.values():
            def keep(m: scoring.MomentScore, lo: float = 5, hi: float = 1e9) -> bool:
                return m.moment.shape == shape and m.moment.length_ms >= 10_000 and lo <= abs(m.moment.effect) < hi
            big = scoring.summarise(scores, keep)
            recalls = []
            for lo, hi in bins:
                b = scoring.summarise(scores, lambda m, lo=lo, hi=hi: keep(m, lo, hi))
                recalls.append(b.recall if b.moments else None)
            cells += [f"{big.recall:.2f} ({big.moments})" if big.moments else "-", _minimum_detectable(bins, recalls)]
        rows.append(f"| {shape} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _minimum_detectable(bins: list[tuple[int, int]], recalls: list[float | None]) -> str:
    for k in range(len(bins)):
        rest = [r for r in recalls[k:] if r is not None]
        if rest and all(r >= 0.9 for r in rest):
            return f"{bins[k][0]} pts"
    return "not reached"


def markdown(ev: Evaluation) -> str:
    s = ev.size
    parts = [
        f"Generated by `moments eval-hotspots --write docs/hotspots.md` ({s.nulls} random null audiences, "
        f"{s.planted} random audiences with 1-3 planted moments"
        + (f", {s.power} per number of views for the power table" if s.power else "")
        + f"; {ev.seconds:.0f} s). Target moments: realised effect >= 5 points, >= 1,000 views, >= 10 s long. "
        f"One detection on 1,000 buckets, with the seek layers, takes {ev.detect_ms_1000:.1f} ms (median). "
        "`moments` is what the API serves (the heatmap and the seek layers its rollups hold); "
        "`moments, heatmap alone` is the same detector given only the heatmap, as a caller of "
        "`detect(values, n_views, duration_ms)` without `seeks` gets it. The shape and power tables are `moments`.",
        "", detectors_table(ev), "", shapes_table(ev),
    ]
    if ev.seek_and_skip:
        parts += ["", f"Seek-and-skip audiences ({s.seek_and_skip} with moments, the same {s.seek_and_skip} without): "
                  "peaks viewers seek into and leave over the following seconds (mean 8 s), stretches they "
                  "skip; 2-30 min, 1,000-20,000 views, few joiners:", "",
                  detectors_table(ev, ev.seek_and_skip)]
    if ev.power:
        parts += ["", "Recall by realised effect (points of share), random shapes, moments >= 10 s long "
                  "(in brackets: how many):", "", power_table(ev), "", "The same by moment shape:", "",
                  power_by_shape_table(ev)]
    return "\n".join(parts)


def write(path: Path, ev: Evaluation) -> None:
    text = path.read_text()
    if BEGIN not in text or END not in text:
        raise ValueError(f"{path} has no {BEGIN} ... {END} section")
    body = f"{BEGIN}\n{markdown(ev)}\n{END}"
    path.write_text(re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: body, text, flags=re.S))
