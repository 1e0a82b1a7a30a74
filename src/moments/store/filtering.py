"""`filters[]` as SQL conditions, for any engine (each store says how to spell two things)."""

from __future__ import annotations

from typing import Callable

from moments.filters import Filters, grouped


def filter_conditions(filters: Filters, column: Callable[[str], str],
                      member: Callable[[str, str], str]) -> tuple[list[str], dict[str, list[str]]]:
    """(conditions, params): one condition per (dimension, negated) group, with its values as a
    list parameter named f0, f1, ...

    `column(dimension)`: the engine's expression for a views column or custom dimension;
    `member(param, expression)`: true when the (non-null) expression is one of the list's values.
    A missing value (NULL, or '' as a ClickHouse map gives) equals nothing, so `!dim:x` keeps it.
    """
    conditions, params = [], {}
    for i, (dimension, negated, values) in enumerate(grouped(filters)):
        name, value = f"f{i}", f"coalesce({column(dimension)}, '')"
        matches = f"({value} != '' AND {member(name, value)})"
        conditions.append(f"NOT {matches}" if negated else matches)
        params[name] = values
    return conditions, params
