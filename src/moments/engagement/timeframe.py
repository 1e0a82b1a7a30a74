"""The `timeframe[]` parameter: a duration back from now, or two epoch seconds."""

from __future__ import annotations

import re

UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86_400, "week": 604_800}
MAX_EPOCH_S = 4_102_444_800  # 2100-01-01
DURATION = re.compile(r"(\d{1,9}):([a-z]+?)s?")


class TimeframeError(ValueError):
    pass


def _epoch_seconds(text: str) -> int:
    if not re.fullmatch(r"\d{1,12}", text):
        raise TimeframeError(
            f"timeframe[] value {text[:40]!r} is neither a duration like '7:days' nor epoch seconds"
        )
    value = int(text)
    if value > MAX_EPOCH_S:
        raise TimeframeError(f"timeframe[] value {value} is not epoch seconds (after the year 2100)")
    return value


def parse_timeframe(values: list[str], now_s: int, default_s: int) -> tuple[int, int]:
    """(start_s, end_s) of the requested window; TimeframeError names what is wrong."""
    if not values:
        return now_s - default_s, now_s
    if len(values) == 1:
        match = DURATION.fullmatch(values[0].strip().lower())
        if not match or match.group(2) not in UNIT_SECONDS:
            raise TimeframeError(
                f"timeframe[] {values[0][:40]!r} must be a duration N:unit (units: minutes, hours, days, weeks) "
                "or two epoch-second timestamps"
            )
        amount = int(match.group(1))
        if amount <= 0:
            raise TimeframeError("timeframe[] duration must be positive")
        return max(0, now_s - amount * UNIT_SECONDS[match.group(2)]), now_s
    if len(values) == 2:
        start, end = (_epoch_seconds(v.strip()) for v in values)
        if start >= end:
            raise TimeframeError("timeframe[] start must be before its end")
        return start, end
    raise TimeframeError(f"timeframe[] takes one duration or two timestamps, not {len(values)} values")


def clamp_to_retention(start_s: int, end_s: int, now_s: int, retention_days: int) -> tuple[int, int]:
    """The effective window: nothing older than the environment keeps."""
    oldest = now_s - retention_days * 86_400
    start = max(start_s, oldest)
    return start, max(start, end_s)
