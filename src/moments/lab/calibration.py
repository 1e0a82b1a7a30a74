"""How often the summary figures' 95% intervals hold, how often /compare calls two samples of
one audience different, and how often /relative calls a content unlike peers of its own kind
(and finds a stretch viewers skip when there is one) (engagement/uncertainty.py), by simulation.

An audience is a population of views watching in one of several patterns, chosen not to share
the intervals' assumptions: buckets watched in part, many seeks, content of a few seconds (ten
buckets of under a second), two kinds of viewer, heavy rewatching. A sample is n views drawn from
the population with replacement, so the population's own figures are exactly what each sample
estimates; an interval's coverage is the share of samples whose interval holds that figure.

    python -m moments.lab.calibration              # the table in docs/engagement.md
    python -m moments.lab.calibration --quick
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Callable

import numpy as np

from moments.engagement.chapters import chapter_figures, spans
from moments.engagement.heatmap import bucket_sums, heatmap, merged_coverage
from moments.engagement.relative import relative_to_peers
from moments.engagement.summary import (ViewAmounts, curve_figures, curve_intervals, view_amounts, view_figures,
                                        view_intervals)
from moments.engagement.uncertainty import LEVEL, difference_p_values, holm
from moments.model import Chapter, RangeSet

Ranges = list[list[tuple[int, int]]]


def drop_off(rng: np.random.Generator, n: int) -> tuple[Ranges, int]:
    """From the start until an exponential leaving time; one in five rewatches a stretch."""
    d = 600_000
    views = []
    for leave in np.minimum(rng.exponential(d / 3, n).astype(int) + 1000, d):
        ranges = [(0, int(leave))]
        if rng.random() < 0.2:
            start = int(rng.integers(0, d - 1000))
            ranges.append((start, start + int(rng.integers(1000, 60_000))))
        views.append(ranges)
    return views, d


def skimmers(rng: np.random.Generator, n: int) -> tuple[Ranges, int]:
    """Short stretches at random places (many seeks, buckets watched in part)."""
    d = 240_000
    views = []
    for stretches in rng.poisson(4, n) + 1:
        starts = rng.integers(0, d, stretches)
        views.append([(int(s), int(s + rng.integers(200, 8_000))) for s in starts])
    return views, d


def short_clip(rng: np.random.Generator, n: int) -> tuple[Ranges, int]:
    """8 s of content (10 buckets of 0.8 s): most watch it all, others stop anywhere."""
    d = 8_000
    ends = np.where(rng.random(n) < 0.6, d, rng.integers(1, d, n))
    return [[(0, int(end))] for end in ends], d


def two_kinds(rng: np.random.Generator, n: int) -> tuple[Ranges, int]:
    """Six in ten watch nearly all; the others leave in the first minute or seek to the end."""
    d = 1_800_000
    views = []
    for k in rng.random(n):
        if k < 0.6:
            views.append([(0, int(rng.integers(d - 120_000, d)))])
        elif k < 0.9:
            views.append([(0, int(rng.integers(1000, 60_000)))])
        else:
            views.append([(0, 20_000), (d - 300_000, d)])
    return views, d


def rewatchers(rng: np.random.Generator, n: int) -> tuple[Ranges, int]:
    """A tutorial: viewers go back over the same minute again and again."""
    d = 300_000
    views = []
    for loops in rng.geometric(0.3, n):
        start = int(rng.integers(0, d - 60_000))
        views.append([(0, start + 60_000)] + [(start, start + 60_000)] * int(loops - 1))
    return views, d


PATTERNS: dict[str, Callable[[np.random.Generator, int], tuple[Ranges, int]]] = {
    "drop-off": drop_off, "skimmers": skimmers, "short clip": short_clip, "two kinds": two_kinds,
    "rewatchers": rewatchers,
}
FIGURES = ("average_viewed", "completion_rate", "retention_at_10_percent", "retention_at_30_s", "median_view_ms",
           "rewatch_rate", "seek_rate")


@dataclass(frozen=True)
class Population:
    duration_ms: int
    coverage: np.ndarray  # (views, B): the share of each bucket each view watched
    amounts: ViewAmounts
    truth: dict[str, float | None]
    ranges: RangeSet  # the views' own ranges, view by view in order (for the chapters)


def population(pattern: str, rng: np.random.Generator, size: int) -> Population:
    views, d = PATTERNS[pattern](rng, size)
    ranges = _range_set(views, d)
    owner, starts, ends = merged_coverage(ranges, d)
    coverage = bucket_sums(owner, starts, ends, d, size) / d  # B·ms / (B·|bucket|)
    amounts = view_amounts(ranges, d)
    return Population(d, coverage, amounts, _figures(coverage, amounts, d)[0], ranges)


def _range_set(views: Ranges, d: int) -> RangeSet:
    index = [v for v, ranges in enumerate(views) for _ in ranges]
    return RangeSet(len(views), np.array(index, dtype=np.int64), np.array([s for r in views for s, _ in r], dtype=np.int64),
                    np.array([e for r in views for _, e in r], dtype=np.int64), np.full(len(views), d, dtype=np.int64))


def _views(ranges: RangeSet, pick: np.ndarray) -> RangeSet:
    """The views `pick` of `ranges` (whose ranges are in view order), as views 0..len(pick)-1."""
    first = np.searchsorted(ranges.view_index, pick)
    count = np.searchsorted(ranges.view_index, pick, side="right") - first
    rows = np.repeat(first, count) + np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    return RangeSet(pick.size, np.repeat(np.arange(pick.size), count), ranges.starts[rows], ranges.ends[rows],
                    ranges.reported_durations_ms[pick])


CHAPTER_FIGURES = ("reached", "finished", "average_watched", "leave_median_ms")


def chapter_coverage(people: Population, n: int, trials: int, rng: np.random.Generator) -> dict[str, float]:
    """The share of chapter intervals, over `trials` samples of n views and five equal chapters,
    that hold the population's own figure (those with a figure in the population and the sample)."""
    d = people.duration_ms
    laid = spans(tuple(Chapter(i * d // 5, None, f"part {i + 1}") for i in range(5)), d)
    truth = chapter_figures(people.ranges, d, laid)
    held, asked = dict.fromkeys(CHAPTER_FIGURES, 0), dict.fromkeys(CHAPTER_FIGURES, 0)
    for _ in range(trials):
        sample = chapter_figures(_views(people.ranges, rng.integers(0, people.ranges.n_views, n)), d, laid)
        for true, got in zip(truth, sample):
            for name in CHAPTER_FIGURES:
                value, interval = getattr(true, name), got.intervals.get(name)
                if value is not None and interval is not None:
                    asked[name] += 1
                    held[name] += interval[0] - 1e-12 <= value <= interval[1] + 1e-12
    return {name: held[name] / asked[name] if asked[name] else float("nan") for name in CHAPTER_FIGURES}


def chapter_table(sizes: tuple[int, ...], trials: int, population_size: int, seed: int) -> str:
    return _coverage_table(CHAPTER_FIGURES, chapter_coverage, sizes, trials, population_size, seed)


def _figures(coverage: np.ndarray, amounts: ViewAmounts, d: int) -> tuple[dict, dict]:
    curve = curve_figures(coverage.mean(axis=0), d)
    per_view = view_figures(amounts)
    figures = {**vars(curve), **vars(per_view)}
    return figures, {**curve_intervals(curve, coverage.shape[0], d), **view_intervals(amounts, d)}


def coverage_of(people: Population, n: int, trials: int, rng: np.random.Generator) -> dict[str, float]:
    """The share of `trials` samples of n views whose interval holds each figure of the population."""
    held = dict.fromkeys(FIGURES, 0)
    for _ in range(trials):
        pick = rng.integers(0, people.coverage.shape[0], n)
        sample = ViewAmounts(*(getattr(people.amounts, name)[pick] for name in ("unique_ms", "played_ms", "seeks")))
        _, intervals = _figures(people.coverage[pick], sample, people.duration_ms)
        for name in FIGURES:
            truth, interval = people.truth[name], intervals.get(name)
            held[name] += truth is None or interval[0] - 1e-12 <= truth <= interval[1] + 1e-12
    return {name: held[name] / trials for name in FIGURES}


def null_pairs(people: Population, n: int, trials: int, rng: np.random.Generator) -> tuple[float, float]:
    """Two samples of n views of one audience, compared as /compare does: the share of pairs
    whose averages are called different, and of pairs with any bucket called different (both
    errors: nothing differs)."""
    overall = any_bucket = 0
    for _ in range(trials):
        a, b = (people.coverage[rng.integers(0, people.coverage.shape[0], n)].mean(axis=0) for _ in range(2))
        overall += difference_p_values(np.array([a.mean()]), n, np.array([b.mean()]), n)[0] < 1 - LEVEL
        any_bucket += holm(difference_p_values(a, n, b, n)).any()
    return overall / trials, any_bucket / trials


def null_table(sizes: tuple[int, ...], trials: int, population_size: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    lines = ["| audience | views per side | averages called different | any bucket called different |",
             "|---|---:|---:|---:|"]
    for pattern in PATTERNS:
        people = population(pattern, rng, population_size)
        for n in sizes:
            overall, any_bucket = null_pairs(people, n, trials, rng)
            lines.append(f"| {pattern} | {n:,} | {overall:.1%} | {any_bucket:.1%} |")
    return "\n".join(lines)


# --- /relative: a content against its peers -----------------------------------------------------

@dataclass(frozen=True)
class Similar:
    """How one kind of content is watched, by relative position (so contents of other lengths
    share one expected curve): leaving at an exponential time (`hazard` per content length),
    some leaving within the first 3% (`intro`), some seeking in anywhere (`seek_in`), and some
    skipping a stretch (`skip` of the viewers who reach it)."""

    hazard: float
    intro: float
    seek_in: float
    skip: float
    stretch: tuple[float, float]

    @staticmethod
    def draw(rng: np.random.Generator) -> "Similar":
        start = rng.uniform(0.1, 0.8)
        return Similar(float(np.exp(rng.uniform(np.log(0.2), np.log(4.0)))), rng.uniform(0, 0.3), rng.uniform(0, 0.3),
                       rng.uniform(0, 0.4), (start, start + rng.uniform(0.02, 0.15)))

    def curve(self, rng: np.random.Generator, extra_skip: tuple[float, float, float] | None = None) -> tuple[np.ndarray, int]:
        """One content's heatmap and views: 2 to 8 minutes long, 30 to 3,000 views (log-uniform);
        `extra_skip` (start, end, share): a stretch that share of its viewers also skip."""
        d = int(rng.integers(120_000, 480_000))
        n = int(np.exp(rng.uniform(np.log(30), np.log(3_000))))
        starts = np.where(rng.random(n) < self.seek_in, rng.integers(0, d, n), 0)
        stays = np.where(rng.random(n) < self.intro, rng.uniform(0.002, 0.03, n), rng.exponential(1 / self.hazard, n))
        ends = np.minimum(starts + (stays * d).astype(np.int64), d)
        views = [[(int(s), int(e))] for s, e in zip(starts, ends)]
        skips = [(self.stretch, self.skip)] + ([(extra_skip[:2], extra_skip[2])] if extra_skip else [])
        for (low, high), share in skips:
            a, b = int(low * d), int(high * d)
            for v in np.flatnonzero(rng.random(n) < share):
                views[v] = [piece for s, e in views[v] for piece in (((s, a), (b, e)) if s < a < e else ((s, e),))
                            if piece[1] > piece[0]]
        index = [v for v, ranges in enumerate(views) for _ in ranges]
        ranges = RangeSet(n, np.array(index, dtype=np.int64), np.array([s for r in views for s, _ in r], dtype=np.int64),
                          np.array([e for r in views for _, e in r], dtype=np.int64), np.full(n, d, dtype=np.int64))
        return heatmap(ranges, d), n


def relative_calls(peers: int, trials: int, rng: np.random.Generator,
                   extra_skip: tuple[float, float, float] | None = None) -> tuple[float, float]:
    """A content and `peers` others of one kind (Similar.draw, anew each trial), compared as
    /relative does: the share of trials whose average is called different, and whose any bucket
    is. Without `extra_skip` nothing differs, so both are errors; with it, the second is power."""
    overall = any_bucket = 0
    for _ in range(trials):
        kind = Similar.draw(rng)
        others = [kind.curve(rng)[0] for _ in range(peers)]
        values, n = kind.curve(rng, extra_skip)
        result = relative_to_peers(values, n, others)
        overall += result.overall.p_value < 1 - LEVEL
        any_bucket += holm(result.p_values).any()
    return overall / trials, any_bucket / trials


def relative_table(peer_counts: tuple[int, ...], trials: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    lines = ["| peers | averages called different (none differ) | any moment called different (none differ) "
             "| a stretch of 8% that half skip: found |", "|---:|---:|---:|---:|"]
    for peers in peer_counts:
        overall, any_bucket = relative_calls(peers, trials, rng)
        _, found = relative_calls(peers, trials, rng, (0.3, 0.38, 0.5))
        lines.append(f"| {peers} | {overall:.1%} | {any_bucket:.1%} | {found:.1%} |")
    return "\n".join(lines)


def table(sizes: tuple[int, ...], trials: int, population_size: int, seed: int) -> str:
    return _coverage_table(FIGURES, coverage_of, sizes, trials, population_size, seed)


def _coverage_table(names: tuple[str, ...], coverage: Callable[[Population, int, int, np.random.Generator], dict],
                    sizes: tuple[int, ...], trials: int, population_size: int, seed: int) -> str:
    """A row per audience and sample size: how often each figure's interval holds (n/a: the
    audience has no such figure)."""
    rng = np.random.default_rng(seed)
    lines = ["| audience | views | " + " | ".join(names) + " |", "|---|---:|" + "---:|" * len(names)]
    for pattern in PATTERNS:
        people = population(pattern, rng, population_size)
        for n in sizes:
            shares = coverage(people, n, trials, rng)
            cells = ["n/a" if name in people.truth and people.truth[name] is None else f"{shares[name]:.1%}"
                     for name in names]
            lines.append(f"| {pattern} | {n:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Fewer samples (seconds, not minutes).")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    if args.quick:
        print(table((30, 300), 100, 5_000, args.seed) + "\n\n" + null_table((30, 300), 100, 5_000, args.seed)
              + "\n\n" + chapter_table((30, 300), 50, 5_000, args.seed) + "\n\n" + relative_table((3, 10), 50, args.seed))
    else:
        print(table((10, 30, 100, 1_000, 3_000), 500, 20_000, args.seed) + "\n\n"
              + null_table((30, 100, 1_000, 3_000), 500, 20_000, args.seed) + "\n\n"
              + chapter_table((10, 30, 100, 1_000, 3_000), 500, 20_000, args.seed) + "\n\n"
              + relative_table((3, 5, 10, 30), 400, args.seed))


if __name__ == "__main__":
    main()
