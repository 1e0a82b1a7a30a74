"""A query's parameters as people type them (HTTP query strings, CLI options): ids,
`timeframe[]`, `filters[]`, `limit`, `cursor` and yes-or-no flags, parsed into values, or a ParamError that
says what is wrong. The HTTP layer answers a ParamError with a 400, the CLI with a usage error.
"""

from __future__ import annotations

import base64
import binascii
import json
import re

from moments.filters import FilterError, Filters, parse_filters
from moments.model import Environment
from moments.store.rows import MAX_ID_LENGTH

UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86_400, "week": 604_800}
MAX_EPOCH_S = 4_102_444_800  # 2100-01-01
DURATION = re.compile(r"(\d{1,9}):([a-z]+?)s?")
MAX_CURSOR_LENGTH = 1024


class ParamError(ValueError):
    """A parameter that cannot be read: `param` names it as the API does (`timeframe[]`, ...)."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


def scope_id(name: str, value: str, *, allow_slash: bool = False) -> str:
    """An id as a path segment takes it; `name` ("asset id") is what the error calls it."""
    if not 1 <= len(value) <= MAX_ID_LENGTH:
        raise ParamError(name, f"{name} must be 1..{MAX_ID_LENGTH} characters")
    if not value.isprintable():
        raise ParamError(name, f"{name} must not contain control characters")
    if not allow_slash and "/" in value:
        raise ParamError(name, f"{name} must not contain '/'")
    return value


# --- timeframe[] ---------------------------------------------------------------------------

def _epoch_seconds(text: str) -> int:
    if not re.fullmatch(r"\d{1,12}", text):
        raise ParamError("timeframe[]", f"timeframe[] value {text[:40]!r} is neither a duration like '7:days' "
                                        "nor epoch seconds")
    value = int(text)
    if value > MAX_EPOCH_S:
        raise ParamError("timeframe[]", f"timeframe[] value {value} is not epoch seconds (after the year 2100)")
    return value


def requested_window(values: list[str], now_s: int, default_s: int) -> tuple[int, int]:
    """(start_s, end_s) of `timeframe[]`: a duration back from now, or two epoch seconds."""
    if not values:
        return now_s - default_s, now_s
    if len(values) == 1:
        match = DURATION.fullmatch(values[0].strip().lower())
        if not match or match.group(2) not in UNIT_SECONDS:
            raise ParamError("timeframe[]", f"timeframe[] {values[0][:40]!r} must be a duration N:unit (units: "
                                            "minutes, hours, days, weeks) or two epoch-second timestamps")
        amount = int(match.group(1))
        if amount <= 0:
            raise ParamError("timeframe[]", "timeframe[] duration must be positive")
        return max(0, now_s - amount * UNIT_SECONDS[match.group(2)]), now_s
    if len(values) == 2:
        start, end = (_epoch_seconds(v.strip()) for v in values)
        if start >= end:
            raise ParamError("timeframe[]", "timeframe[] start must be before its end")
        return start, end
    raise ParamError("timeframe[]", f"timeframe[] takes one duration or two timestamps, not {len(values)} values")


def clamp_to_retention(start_s: int, end_s: int, now_s: int, retention_days: int) -> tuple[int, int]:
    """The effective window: nothing older than the environment keeps."""
    oldest = now_s - retention_days * 86_400
    start = max(start_s, oldest)
    return start, max(start, end_s)


def window(values: list[str] | tuple[str, ...], environment: Environment, now_s: int, default_s: int,
           param: str = "timeframe[]") -> tuple[int, int]:
    """The effective window (epoch seconds) of a timeframe: as asked, within the environment's
    retention. `param` names another timeframe parameter (`against_timeframe[]`) in errors."""
    try:
        start, end = requested_window(list(values), now_s, default_s)
    except ParamError as error:
        if param == "timeframe[]":
            raise
        raise ParamError(param, f"{param}: {error}") from None
    return clamp_to_retention(start, end, now_s, environment.retention_days)


# --- filters[], limit, cursor --------------------------------------------------------------

def filters(texts: list[str] | tuple[str, ...] | None) -> Filters:
    """`filters[]` (moments.filters), in a canonical order."""
    try:
        return parse_filters(list(texts or []))
    except FilterError as error:
        raise ParamError("filters[]", str(error)) from None


def limit(text: str | None, default: int | None, maximum: int | None = None) -> int | None:
    """A `limit`: whole digits in 1..maximum (any size when None)."""
    if text is None:
        return default
    # isdigit alone takes '¹'; the length check keeps int() away from huge digit strings (a ValueError)
    if not (text.isascii() and text.isdigit()) or len(text) > 9 or not 1 <= int(text) <= (maximum or 10**9):
        raise ParamError("limit", f"limit must be an integer in 1..{maximum}" if maximum
                         else "limit must be a positive integer")
    return int(text)


def flag(name: str, text: str | None) -> bool:
    """A yes-or-no parameter: `true` or `false`; absent, false."""
    if text not in (None, "true", "false"):
        raise ParamError(name, f"{name} must be true or false")
    return text == "true"


def encode_cursor(view_start_ms: int, view_id: str) -> str:
    """The `cursor` of the page after the view (view_start_ms, view_id), newest first."""
    key = json.dumps([view_start_ms, view_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def cursor(text: str | None) -> tuple[int, str] | None:
    """The (view_start_ms, view_id) a `cursor` from encode_cursor holds; None for the first page."""
    if text is None:
        return None
    refused = ParamError("cursor", "cursor is not one this server handed out")
    if not 0 < len(text) <= MAX_CURSOR_LENGTH:
        raise refused
    try:
        key = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):  # not base64, not UTF-8, not JSON
        raise refused from None
    valid = (isinstance(key, list) and len(key) == 2 and type(key[0]) is int and isinstance(key[1], str)
             and abs(key[0]) < 2**62)
    if not valid:
        raise refused
    return key[0], key[1]
