"""The rows a store holds, defined once: the view row (its columns and Arrow schema), the
dimensions views carry, the id limits, and the conversions both backends share."""

from __future__ import annotations

from typing import Sequence

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from moments.model import DIMENSIONS, Chapter, Environment, View

MAX_ID_LENGTH = 128  # view, asset, playback and video ids
MAX_DIMENSION_LENGTH = 256  # a dimension's, custom field's or SDK name's value

_STR, _I64 = pa.string(), pa.int64()
VIEW_SCHEMA = pa.schema([
    ("environment_id", _STR), ("view_id", _STR), ("asset_id", _STR), ("playback_id", _STR), ("video_id", _STR),
    ("view_start_ms", _I64), ("view_end_ms", _I64), ("duration_ms", _I64),
    ("range_starts", pa.list_(_I64)), ("range_ends", pa.list_(_I64)), ("sdk_name", _STR), ("sdk_version", _STR),
    ("reports_ranges", pa.bool_()), *((name, _STR) for name in DIMENSIONS),
    ("dimensions", pa.map_(_STR, _STR)), ("received_at_ms", _I64), ("last_event_ms", _I64),
])
VIEW_COLUMNS = tuple(VIEW_SCHEMA.names)

ENVIRONMENT_COLUMNS = "environment_id, name, env_key, retention_days, rate_limit_per_s, rate_limit_burst, allowed_origins"


def environment_of(row: Sequence) -> Environment:
    """An Environment from a row of ENVIRONMENT_COLUMNS."""
    *fields, origins = row
    return Environment(*fields, allowed_origins=tuple(origins or ()))


def chapters_to_text(chapters: Sequence[Chapter]) -> str | None:
    """An asset's chapters as its row holds them: [[start_ms, end_ms or null, title], ...]; None for none."""
    return orjson.dumps([[c.start_ms, c.end_ms, c.title] for c in chapters]).decode() if chapters else None


def chapters_from_text(text: str | None) -> tuple[Chapter, ...]:
    return tuple(Chapter(start, end, title) for start, end, title in orjson.loads(text)) if text else ()


def as_views(table: pa.Table) -> pa.Table:
    """A table of VIEW_COLUMNS in the canonical Arrow types (engines differ in nullability flags)."""
    return pa.table([table[name].cast(VIEW_SCHEMA.field(name).type) for name in VIEW_COLUMNS], schema=VIEW_SCHEMA)


def without_views(table: pa.Table, view_ids: set[str]) -> pa.Table:
    """The rows of `table` whose view_id is not one of `view_ids`."""
    if not view_ids:
        return table
    return table.filter(pc.invert(pc.is_in(table["view_id"], pa.array(list(view_ids), pa.string()))))


def views_to_arrow(environment_id: str, views: Sequence[View], received_at_ms: int | Sequence[int]) -> pa.Table:
    """`received_at_ms`: one server time for all the views, or one per view."""
    n = len(views)
    received = [received_at_ms] * n if isinstance(received_at_ms, int) else list(received_at_ms)
    columns = {
        "environment_id": pa.array([environment_id] * n, pa.string()),
        "view_id": [v.view_id for v in views],
        "asset_id": pa.array([v.asset_id for v in views], pa.string()),
        "playback_id": pa.array([v.playback_id for v in views], pa.string()),
        "video_id": pa.array([v.video_id for v in views], pa.string()),
        "view_start_ms": pa.array([v.view_start_ms for v in views], pa.int64()),
        "view_end_ms": pa.array([v.view_end_ms for v in views], pa.int64()),
        "duration_ms": pa.array([v.duration_ms for v in views], pa.int64()),
        "range_starts": pa.array([[r[0] for r in v.ranges] for v in views], pa.list_(pa.int64())),
        "range_ends": pa.array([[r[1] for r in v.ranges] for v in views], pa.list_(pa.int64())),
        "sdk_name": pa.array([v.sdk_name for v in views], pa.string()),
        "sdk_version": pa.array([v.sdk_version for v in views], pa.string()),
        "reports_ranges": pa.array([v.reports_ranges for v in views], pa.bool_()),
        **{name: pa.array([getattr(v, name) for v in views], pa.string()) for name in DIMENSIONS},
        "dimensions": pa.array([list(v.dimensions.items()) for v in views], pa.map_(pa.string(), pa.string())),
        "received_at_ms": pa.array(received, pa.int64()),
        "last_event_ms": pa.array([v.last_event_ms for v in views], pa.int64()),
    }
    return pa.table(columns)


def views_from_arrow(table: pa.Table) -> list[View]:
    views = []
    for row in table.to_pylist():
        views.append(View(
            view_id=row["view_id"], view_start_ms=row["view_start_ms"], view_end_ms=row["view_end_ms"],
            duration_ms=row["duration_ms"], ranges=tuple(zip(row["range_starts"], row["range_ends"])),
            asset_id=row["asset_id"], playback_id=row["playback_id"], video_id=row["video_id"],
            sdk_name=row["sdk_name"], sdk_version=row["sdk_version"],
            **{name: row[name] for name in DIMENSIONS},
            reports_ranges=row["reports_ranges"], dimensions=dict(row["dimensions"] or []),
            last_event_ms=row["last_event_ms"],
        ))
    return views
