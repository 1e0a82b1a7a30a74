"""Checks shared by routes: path ids, unknown query parameters, timeframes and filters."""

from __future__ import annotations

from fastapi import Request

from moments.api.errors import bad_request
from moments.engagement.timeframe import TimeframeError
from moments.filters import FilterError, Filters, parse_filters
from moments.model import Environment
from moments.stats import effective_timeframe
from moments.store.rows import MAX_ID_LENGTH


def path_id(name: str, value: str, *, allow_slash: bool = False) -> str:
    if not 1 <= len(value) <= MAX_ID_LENGTH:
        raise bad_request(f"{name} must be 1..{MAX_ID_LENGTH} characters")
    if not value.isprintable():
        raise bad_request(f"{name} must not contain control characters")
    if not allow_slash and "/" in value:
        raise bad_request(f"{name} must not contain '/'")
    return value


def only_parameters(request: Request, allowed: set[str]) -> None:
    unknown = sorted(set(request.query_params.keys()) - allowed)
    if unknown:
        names = ", ".join(repr(u[:40]) for u in unknown[:5])
        raise bad_request(f"unknown query parameter(s): {names}; accepted: {', '.join(sorted(allowed)) or 'none'}")


def query_limit(text: str | None, default: int | None, maximum: int | None = None) -> int | None:
    """A `limit` parameter: whole digits in 1..maximum (any size when None), else a 400."""
    if text is None:
        return default
    # isdigit alone takes '¹'; the length check keeps int() away from huge digit strings (a ValueError)
    if not (text.isascii() and text.isdigit()) or len(text) > 9 or not 1 <= int(text) <= (maximum or 10**9):
        raise bad_request(f"limit must be an integer in 1..{maximum}" if maximum else "limit must be a positive integer")
    return int(text)


def parsed_filters(texts: list[str] | None) -> Filters:
    """`filters[]` values, parsed (moments.filters); a 400 names the bad one."""
    try:
        return parse_filters(texts)
    except FilterError as error:
        raise bad_request(str(error)) from None



def request_window(request: Request, environment: Environment, values: list[str] | None, now_s: int,
                   name: str = "timeframe[]") -> tuple[int, int]:
    """The effective timeframe (epoch seconds) of `values`, or a 400 naming what is wrong with it."""
    try:
        return effective_timeframe(values or [], environment, now_s, request.app.state.settings.default_timeframe_s)
    except TimeframeError as error:
        raise bad_request(str(error) if name == "timeframe[]" else f"{name}: {error}") from None
