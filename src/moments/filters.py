"""`filters[]`: which viewers a query is about, in Mux Data's syntax.

`country:US` keeps views whose country is US; `!device_type:tv` drops views whose device
type is tv. Filters on different dimensions must all hold; several `dim:value` filters on
one dimension keep a view matching any of them (`country:US` + `country:CA` = North
America), as a dashboard's multi-select does. A view without the dimension never equals a
value, so `!country:US` keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass

from moments.model import CUSTOM_FIELDS, DIMENSIONS

# The dimensions views carry, by every name a Mux user may type for them.
STANDARD_DIMENSIONS = {**{name: name for name in DIMENSIONS}, "operating_system": "os",
                       "viewer_device_category": "device_type"}
MAX_FILTERS = 20
MAX_VALUE_LENGTH = 256


class FilterError(ValueError):
    """A filter that cannot be read; the message says which and why."""


@dataclass(frozen=True)
class Filter:
    dimension: str  # one of model.DIMENSIONS or model.CUSTOM_FIELDS
    value: str
    negated: bool = False

    @property
    def custom(self) -> bool:
        return self.dimension.startswith("custom_")

    def __str__(self) -> str:
        return f"{'!' if self.negated else ''}{self.dimension}:{self.value}"


Filters = tuple[Filter, ...]


def parse_filter(text: str) -> Filter:
    shown = repr(text if len(text) <= 80 else text[:80] + "...")  # what an error echoes of the input
    negated = text.startswith("!")
    body = text[1:] if negated else text
    if body[:1] in ("+", "-"):
        raise FilterError(f"filter {shown}: set operations (+, -) apply to trace dimensions, which views here do not have")
    name, separator, value = body.partition(":")
    if not separator or not name or not value:
        raise FilterError(f"filter {shown} must look like dimension:value or !dimension:value")
    dimension = STANDARD_DIMENSIONS.get(name) or (name if name in CUSTOM_FIELDS else None)
    if dimension is None:
        known = ", ".join(sorted(STANDARD_DIMENSIONS)) + f", {CUSTOM_FIELDS[0]} ... {CUSTOM_FIELDS[-1]}"
        raise FilterError(f"filter {shown}: unknown dimension {name[:40]!r} (known: {known})")
    if len(value) > MAX_VALUE_LENGTH or not value.isprintable():
        raise FilterError(f"filter {shown}: the value must be at most {MAX_VALUE_LENGTH} printable characters")
    return Filter(dimension, value, negated)


def parse_filters(texts: list[str] | None) -> Filters:
    """The filters of a query, in a canonical order (so equal sets share a cache entry)."""
    texts = texts or []
    if len(texts) > MAX_FILTERS:
        raise FilterError(f"at most {MAX_FILTERS} filters")
    return tuple(sorted(set(map(parse_filter, texts)), key=lambda f: (f.dimension, f.negated, f.value)))


def grouped(filters: Filters) -> list[tuple[str, bool, list[str]]]:
    """(dimension, negated, values) groups: a view must match one value of each positive group
    and none of each negated group."""
    groups: dict[tuple[str, bool], list[str]] = {}
    for f in filters:
        groups.setdefault((f.dimension, f.negated), []).append(f.value)
    return [(dimension, negated, values) for (dimension, negated), values in groups.items()]
