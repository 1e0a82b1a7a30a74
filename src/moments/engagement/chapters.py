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
view, as /layers does; the work is one sort of the views' watched stretches, cut at the
chapters' bounds, whatever the number of chapters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from moments.engagement.heatmap import merged_coverage
from moments.engagement.uncertainty import Interval, mean_interval, median_interval, share_interval
from moments.model import Chapter, RangeSet

FINAL_MS = 1000  # a chapter's final moment, for "finished"
TENTHS = 10


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


def chapter_figures(ranges: RangeSet, duration_ms: int, laid: list[Span]) -> list[ChapterFigures]:
    """The figures of each span over the views of `ranges` (content `duration_ms` long)."""
    n = ranges.n_views
    chapter, watched, last_end = _per_chapter_view(ranges, duration_ms, laid)
    figures = []
    for index, span in enumerate(laid):
        if n == 0 or span.end_ms <= span.start_ms:
            figures.append(ChapterFigures(span, None, None, None, None, [], {}))
            continue
        mine = chapter == index
        length = span.end_ms - span.start_ms
        shares = watched[mine] / length
        ends = last_end[mine]
        leaving = ends[ends <= span.final_start_ms] - span.start_ms
        reached, finished = shares.size / n, (shares.size - leaving.size) / n
        tenths = np.minimum(leaving * TENTHS // length, TENTHS - 1)
        figures.append(ChapterFigures(
            span, reached, finished,
            average_watched=float(shares.mean()) if shares.size else None,
            leave_median_ms=float(np.median(leaving)) if leaving.size else None,
            leaves_by_tenth=(np.bincount(tenths, minlength=TENTHS) / n).tolist(),
            intervals={"reached": share_interval(reached, n), "finished": share_interval(finished, n),
                       "average_watched": _within_0_1(mean_interval(shares)) if shares.size else None,
                       "leave_median_ms": median_interval(leaving.astype(np.float64)) if leaving.size else None},
        ))
    return figures


def _per_chapter_view(ranges: RangeSet, duration_ms: int,
                      laid: list[Span]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each (chapter, view) pair where the view watched some of the chapter: the chapter's
    index, the ms it watched of the chapter and the end of its last watched moment
    there. The views' merged stretches are cut at every chapter bound into pieces that each
    lie in one stretch between bounds, so one sort groups them whatever the number of chapters."""
    views, starts, ends = merged_coverage(ranges, duration_ms)
    bounds = np.unique(np.array([0, duration_ms] + [b for s in laid for b in (s.start_ms, s.end_ms)], dtype=np.int64))
    # The chapter each stretch between consecutive bounds belongs to (-1: none, a gap).
    owner = np.full(bounds.size - 1, -1, dtype=np.int64)
    for index, span in enumerate(laid):
        owner[np.searchsorted(bounds, span.start_ms):np.searchsorted(bounds, span.end_ms)] = index
    first = np.searchsorted(bounds, starts, side="right") - 1
    last = np.searchsorted(bounds, ends - 1, side="right") - 1
    count = last - first + 1
    piece_view = np.repeat(views, count)
    cell = np.repeat(first, count) + (np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count))
    piece_start = np.maximum(np.repeat(starts, count), bounds[cell])
    piece_end = np.minimum(np.repeat(ends, count), bounds[cell + 1])
    piece_chapter = owner[cell]
    keep = piece_chapter >= 0
    piece_chapter, piece_view = piece_chapter[keep], piece_view[keep]  # gaps between chapters dropped
    piece_start, piece_end = piece_start[keep], piece_end[keep]
    key = piece_chapter * max(ranges.n_views, 1) + piece_view
    order = np.argsort(key, kind="stable")  # a pair's pieces stay in order along the content
    key, piece_start, piece_end = key[order], piece_start[order], piece_end[order]
    if key.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    new_pair = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    watched = np.add.reduceat(piece_end - piece_start, new_pair)
    last_end = piece_end[np.r_[new_pair[1:], key.size] - 1]
    return key[new_pair] // max(ranges.n_views, 1), watched, last_end


def _within_0_1(interval: Interval) -> Interval:
    return max(0.0, interval[0]), min(1.0, interval[1])
