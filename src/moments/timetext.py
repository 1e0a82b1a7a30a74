"""Times as people read them: positions in a video (m:ss), UTC dates, whole spans of time.

Human text only (CLI tables, notes in API answers); the API's numbers stay epoch seconds and ms.
"""

from __future__ import annotations

from datetime import datetime, timezone


def mm_ss(ms: float) -> str:
    seconds = int(ms // 1000)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


def utc_time(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def span(seconds: int) -> str:
    """A duration in the largest unit that divides it: 7 days, 1 hour, 90 minutes, 3605 seconds."""
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60), ("second", 1)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return "0 seconds"


def timeframe_text(timeframe: list[int] | tuple[int, int]) -> str:
    """An API timeframe (two epoch seconds) for people: 2026-11-26 09:00:00 .. 2026-12-03 09:00:00 UTC (7 days)."""
    start, end = timeframe
    return f"{utc_time(start)} .. {utc_time(end)} UTC ({span(end - start)})"
