"""One view's watch path: what it played, in order, where it jumped, and how it ended.

A view's ranges are (start_ms, end_ms) of media time in the order the player reported them,
which is play order. Consecutive ranges that touch (within CONTINUOUS_MS) are one stretch of
play: players cut ranges at pauses, buffering and beacon boundaries, not only at seeks. Any
other gap between one range's end and the next one's start is a seek (forward or backward).

How it ended, from the last stretch of play:
- "in_progress": the view has no end yet (its player may still be playing);
- "completed": the last stretch reached the end of the content within one heatmap bucket
  (one second for content up to 1,000 s; the bucket is the resolution everything else has);
- "left": it stopped earlier, at `at_ms`;
- "not_played": no range at all.
Pure: no store, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, Sequence

from moments.engagement.heatmap import bucket_count

# Gaps (or overlaps) this small between consecutive ranges are report boundaries, not seeks.
CONTINUOUS_MS = 250

EndKind = Literal["completed", "left", "in_progress", "not_played"]


@dataclass(frozen=True)
class Play:
    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class Seek:
    from_ms: int
    to_ms: int

    @property
    def direction(self) -> Literal["forward", "backward"]:
        return "forward" if self.to_ms > self.from_ms else "backward"


@dataclass(frozen=True)
class Ending:
    kind: EndKind
    at_ms: int | None  # the last position played; None when nothing was


@dataclass(frozen=True)
class WatchPath:
    steps: tuple[Play | Seek, ...]  # plays and the seeks between them, in play order
    ending: Ending
    watched_ms: int  # every range counted, rewatches included
    unique_watched_ms: int  # the union of the ranges: each moment once
    seeks: int


def plays(ranges: Sequence[tuple[int, int]]) -> list[Play]:
    """The ranges as stretches of play, touching ones joined; empty ranges dropped."""
    stretches: list[Play] = []
    for start, end in ranges:
        if end <= start:
            continue
        if stretches and abs(start - stretches[-1].end_ms) <= CONTINUOUS_MS:
            stretches[-1] = Play(stretches[-1].start_ms, end)
        else:
            stretches.append(Play(start, end))
    return stretches


def union_ms(ranges: Sequence[tuple[int, int]]) -> int:
    """The length of the union of the ranges."""
    total, reach = 0, None
    for start, end in sorted((s, e) for s, e in ranges if e > s):
        if reach is None or start >= reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total


def ending(last: Play | None, duration_ms: int, in_progress: bool) -> Ending:
    at = last.end_ms if last else None
    if in_progress:
        return Ending("in_progress", at)
    if last is None:
        return Ending("not_played", None)
    # Unknown duration (0): the end of the content is unknown, so nothing can be "completed".
    tolerance = duration_ms / bucket_count(duration_ms) if duration_ms > 0 else None
    if tolerance is not None and last.end_ms >= duration_ms - tolerance:
        return Ending("completed", at)
    return Ending("left", at)


def watch_path(ranges: Sequence[tuple[int, int]], duration_ms: int, in_progress: bool) -> WatchPath:
    """The path of one view: `ranges` in reported order, the content's duration (0 = unknown)."""
    stretches = plays(ranges)
    steps: list[Play | Seek] = []
    for play in stretches:
        if steps:
            steps.append(Seek(steps[-1].end_ms, play.start_ms))
        steps.append(play)
    valid = [(s, e) for s, e in ranges if e > s]
    return WatchPath(
        steps=tuple(steps),
        ending=ending(stretches[-1] if stretches else None, duration_ms, in_progress),
        watched_ms=sum(e - s for s, e in valid),
        unique_watched_ms=union_ms(valid),
        seeks=max(0, len(stretches) - 1),
    )


def step_text(step: Play | Seek, time: Callable[[int], str]) -> str:
    """`0:00-1:35 play`, `seek 1:35 -> 5:00` (with media times written by `time`)."""
    if isinstance(step, Play):
        return f"{time(step.start_ms)}-{time(step.end_ms)} play"
    return f"seek {time(step.from_ms)} -> {time(step.to_ms)} ({step.direction})"


def ending_text(end: Ending, time: Callable[[int], str]) -> str:
    """`completed`, `left at 7:00`, `in progress (at 3:00)`, `never played`."""
    if end.kind == "completed":
        return "completed"
    if end.kind == "left":
        return f"left at {time(end.at_ms)}"
    if end.kind == "in_progress":
        return "in progress" + (f" (at {time(end.at_ms)})" if end.at_ms is not None else "")
    return "never played"
