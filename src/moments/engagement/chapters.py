"""Per-chapter figures (docs/engagement.md, "Chapters"): which chapter loses viewers.

With N counted views, W_v the union of view v's ranges clipped to [0, D], a chapter
C = [s, e) (e: its given end, else the next chapter's start, else D; at most D) and its
final second F = [max(s, e - 1 s), e):

    reached          = |{v : |W_v ∩ C| > 0}| / N
    finished         = |{v : |W_v ∩ F| > 0}| / N      (watched some of its final second)
    average watched  = mean over the views that reached C of |W_v ∩ C| / |C|
    leave point      = the end of v's last watched moment in C, for each view that reached C
                       and did not finish it (it closed the player, or skipped ahead)
    leave median     = the median leave point, in ms from s
    leaves by tenth  = the share of the N views whose leave point lies in each tenth of C
                       (they sum to reached - finished)

A second of grace at the end, not one millisecond: players report where playback stopped
to within a fraction of a second, and a view that played to a chapter's last frame must count
as finishing it. The figures need each view's own watched time, so they read every counted
view, as /layers does; the work is linear in the views' watched stretches cut at the chapters'
bounds (no sort), in parts of bounded size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from moments.engagement.heatmap import merged_coverage
from moments.engagement.uncertainty import Interval, median_interval, share_interval
from moments.model import Chapter, RangeSet

FINAL_MS = 1000  # a chapter's final moment, for "finished"
TENTHS = 10
PIECES_PER_PART = 1 << 22  # a part's pieces (about 100 MB of arrays at its peak)


@dataclass(frozen=True)
class Span:
    """A chapter as the content's duration lays it out: [start_ms, end_ms)."""

    title: str
    start_ms: int
    end_ms: int  # start_ms when the chapter starts at or after the content's end: no figures

    @property
    def final_start_ms(self) -> int:
        return max(self.start_ms, self.end_ms - FINAL_MS)


@dataclass(frozen=True)
class ChapterFigures:
    span: Span
    reached: float | None  # None: the chapter lies past the content's end, or there are no views
    finished: float | None
    average_watched: float | None  # also None when no view reached it
    leave_median_ms: float | None  # also None when every view that reached it finished it
    leaves_by_tenth: list[float]  # empty when there are no figures
    intervals: dict[str, Interval | None]  # 95%, of each figure above that has one


def spans(chapters: tuple[Chapter, ...], duration_ms: int) -> list[Span]:
    """The chapters (by start) laid out on content `duration_ms` long."""
    laid = []
    for index, chapter in enumerate(chapters):
        following = chapters[index + 1].start_ms if index + 1 < len(chapters) else duration_ms
        end = min(chapter.end_ms if chapter.end_ms is not None else following, duration_ms)
        laid.append(Span(chapter.title, chapter.start_ms, max(end, chapter.start_ms)))
    return laid


def chapter_figures(ranges: RangeSet, duration_ms: int, laid: list[Span],
                    pieces_per_part: int = PIECES_PER_PART) -> list[ChapterFigures]:
    """The figures of each span over the views of `ranges` (content `duration_ms` long)."""
    tally = _Tally(laid, duration_ms)
    if ranges.n_views:
        for part in tally.parts(*merged_coverage(ranges, duration_ms), pieces_per_part):
            tally.add(*part)
    leavers = tally.leavers()
    return [tally.figures(index, ranges.n_views, leavers[index]) for index in range(len(laid))]


class _Tally:
    """What the figures need, summed per chapter over the views, a part of them at a time.

    The views' merged stretches (by view, then start) are cut at every chapter bound into
    pieces that each lie between two bounds. Within a view, the pieces' chapters never go down
    (the chapters are by start and do not overlap), so the pieces of one (view, chapter) pair
    are consecutive: no sort. Parts hold whole views and about `pieces_per_part` pieces, so
    memory stays bounded whatever the number of views or chapters."""

    def __init__(self, laid: list[Span], duration_ms: int) -> None:
        self.laid = laid
        self.bounds = np.unique(np.array([0, duration_ms, *(b for s in laid for b in (s.start_ms, s.end_ms))],
                                         dtype=np.int64))
        # The chapter each stretch between consecutive bounds belongs to (-1: none, a gap).
        self.owner = np.full(self.bounds.size - 1, -1, dtype=np.int64)
        for index, span in enumerate(laid):
            self.owner[np.searchsorted(self.bounds, span.start_ms):np.searchsorted(self.bounds, span.end_ms)] = index
        self.start = np.array([s.start_ms for s in laid], dtype=np.int64)
        self.final_start = np.array([s.final_start_ms for s in laid], dtype=np.int64)
        self.reached = np.zeros(len(laid), dtype=np.int64)
        self.finished = np.zeros(len(laid), dtype=np.int64)
        # ms the reaching views watched of each chapter: an exact integer, so the figures do not
        # depend on the order the store gives the views in
        self.watched = np.zeros(len(laid), dtype=np.int64)
        self.leaving: list[tuple[np.ndarray, np.ndarray]] = []  # (chapter, leave point - its start) per leaver

    def parts(self, views: np.ndarray, starts: np.ndarray, ends: np.ndarray,
              pieces_per_part: int) -> Iterator[tuple[np.ndarray, ...]]:
        """(views, starts, ends, first cell, pieces) of the stretches, whole views at a time."""
        first = np.searchsorted(self.bounds, starts, side="right") - 1
        count = np.searchsorted(self.bounds, ends - 1, side="right") - first  # pieces of each stretch
        done = np.cumsum(count)
        cut = 0
        while cut < views.size:
            before = int(done[cut - 1]) if cut else 0
            stop = max(cut + 1, int(np.searchsorted(done, before + pieces_per_part, side="right")))
            stop = int(np.searchsorted(views, views[stop - 1], side="right"))  # its last view whole
            yield views[cut:stop], starts[cut:stop], ends[cut:stop], first[cut:stop], count[cut:stop]
            cut = stop

    def add(self, views: np.ndarray, starts: np.ndarray, ends: np.ndarray, first: np.ndarray,
            count: np.ndarray) -> None:
        cell = np.repeat(first, count) + np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
        chapter = self.owner[cell]
        keep = chapter >= 0  # gaps between chapters count for none
        chapter, cell, view = chapter[keep], cell[keep], np.repeat(views, count)[keep]
        if chapter.size == 0:
            return
        piece_start = np.maximum(np.repeat(starts, count)[keep], self.bounds[cell])
        piece_end = np.minimum(np.repeat(ends, count)[keep], self.bounds[cell + 1])
        pair = np.flatnonzero(np.r_[True, (view[1:] != view[:-1]) | (chapter[1:] != chapter[:-1])])
        pair_chapter = chapter[pair]
        watched = np.add.reduceat(piece_end - piece_start, pair)
        last_end = piece_end[np.r_[pair[1:], chapter.size] - 1]  # of the pair's last piece
        left = last_end <= self.final_start[pair_chapter]
        minlength = len(self.laid)
        self.reached += np.bincount(pair_chapter, minlength=minlength)
        self.finished += np.bincount(pair_chapter[~left], minlength=minlength)
        # (summed as float64, exact for integers below 2^53 ms: 285,000 years of watching)
        self.watched += np.bincount(pair_chapter, weights=watched, minlength=minlength).astype(np.int64)
        self.leaving.append((pair_chapter[left], last_end[left] - self.start[pair_chapter[left]]))

    def leavers(self) -> list[np.ndarray]:
        """Each chapter's leave points (ms from its start), from every part."""
        empty = np.zeros(0, dtype=np.int64)
        chapter = np.concatenate([c for c, _ in self.leaving] or [empty])
        offset = np.concatenate([o for _, o in self.leaving] or [empty])
        order = np.argsort(chapter, kind="stable")
        bounds = np.searchsorted(chapter[order], np.arange(len(self.laid) + 1))
        return [offset[order][bounds[i]:bounds[i + 1]] for i in range(len(self.laid))]

    def figures(self, index: int, n: int, leaving: np.ndarray) -> ChapterFigures:
        span = self.laid[index]
        if n == 0 or span.end_ms <= span.start_ms:
            return ChapterFigures(span, None, None, None, None, [], {})
        reached, finished = int(self.reached[index]), int(self.finished[index])
        length = span.end_ms - span.start_ms
        average = int(self.watched[index]) / (length * reached) if reached else None
        tenths = np.minimum(leaving * TENTHS // length, TENTHS - 1)
        return ChapterFigures(
            span, reached / n, finished / n,
            average_watched=average,
            leave_median_ms=float(np.median(leaving)) if leaving.size else None,
            leaves_by_tenth=(np.bincount(tenths, minlength=TENTHS) / n).tolist(),
            intervals={"reached": share_interval(reached / n, n), "finished": share_interval(finished / n, n),
                       "average_watched": share_interval(average, reached) if reached else None,
                       "leave_median_ms": median_interval(leaving.astype(np.float64), (0.0, float(length)))
                       if leaving.size else None},
        )
