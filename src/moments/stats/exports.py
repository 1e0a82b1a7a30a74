"""Exports: engagement results as tidy tables, written as CSV, JSON or Parquet.

One table shape per result, whatever the format (the API's /v1 export paths and
`moments export` both use this module):

- heatmap: one row per bucket: bucket, start_ms, end_ms, value;
- layers: one row per bucket: bucket, start_ms, end_ms, unique, rewatch, arrivals, departures;
- hotspots: one row per hotspot, strongest peak first: start_ms, end_ms, score, kind (peak/cold);
- summary: one row, every figure of /summary and its interval (the per-view ones included: it reads
  every view);
- chapters: one row per chapter of /chapters, its leaves by tenth as ten columns, and the intervals.

Bucket i of B over D ms spans [floor(i*D/B), floor((i+1)*D/B)) ms, as the dashboard's
downloads say (docs/engagement.md). The context of the numbers (timeframe, views, content
length) travels with them: JSON carries it beside the rows, Parquet in the schema metadata,
CSV only in the file name (a CSV file has nowhere else to put it).
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from moments import stats
from moments.engagement import hotspots as hotspot_math
from moments.model import CUSTOM_FIELDS, DIMENSIONS, Scope
from moments.stats.query import EngagementQuery
from moments.engagement.chapters import TENTHS
from moments.stats.chapters import ChapterReport, chapters, chapters_json
from moments.stats.summary import Summary, summary, summary_json
from moments.store.base import Store

What = Literal["heatmap", "layers", "hotspots", "summary", "chapters"]
Format = Literal["csv", "json", "parquet"]
WHATS: tuple[str, ...] = ("heatmap", "layers", "hotspots", "summary", "chapters")
FORMATS: tuple[str, ...] = ("csv", "json", "parquet")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "parquet": "application/vnd.apache.parquet",
}
LAYER_COLUMNS = ("unique", "rewatch", "arrivals", "departures")
# The file-name word of each scope, as in the dashboard's downloads (web/main.js).
SCOPE_FILE_WORDS = {Scope.ASSET: "asset", Scope.VIDEO: "video", Scope.PLAYBACK_ID: "playback-id"}


@dataclass(frozen=True)
class Export:
    """A tidy table and the context its numbers belong to."""

    what: str
    table: pa.Table
    timeframe: tuple[int, int]
    total_views: int
    duration_ms: int | None

    @property
    def context(self) -> dict:
        return {"what": self.what, "timeframe": list(self.timeframe), "total_views": self.total_views,
                "duration_ms": self.duration_ms}


def bucket_bounds(n_buckets: int, duration_ms: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(start_ms, end_ms) of each bucket; integer arithmetic, so the edges are exact."""
    edges = np.arange(n_buckets + 1, dtype=np.int64) * int(duration_ms or 0) // max(1, n_buckets)
    return edges[:-1], edges[1:]


def _bucket_table(columns: dict[str, np.ndarray], duration_ms: int | None) -> pa.Table:
    n = len(next(iter(columns.values())))
    starts, ends = bucket_bounds(n, duration_ms)
    return pa.table({"bucket": pa.array(np.arange(n, dtype=np.int32)), "start_ms": pa.array(starts),
                     "end_ms": pa.array(ends),
                     **{name: pa.array(np.asarray(values, dtype=np.float64)) for name, values in columns.items()}})


def hotspot_kind(score: float) -> str:
    # The dashboard's rule (web/hotspots.js): 0.5 is "as expected".
    return "peak" if score >= 0.5 else "cold"


def heatmap_export(result: stats.Engagement) -> Export:
    table = _bucket_table({"value": result.values}, result.duration_ms)
    return Export("heatmap", table, result.timeframe, result.total_views, result.duration_ms)


def layers_export(result: stats.Layers) -> Export:
    table = _bucket_table({name: getattr(result, name) for name in LAYER_COLUMNS}, result.duration_ms)
    return Export("layers", table, result.timeframe, result.total_views, result.duration_ms)


def hotspots_export(result: stats.Engagement) -> Export:
    ranked = hotspot_math.order(result.hotspots, "desc")
    table = pa.table({
        "start_ms": pa.array([h.start_ms for h in ranked], pa.int64()),
        "end_ms": pa.array([h.end_ms for h in ranked], pa.int64()),
        "score": pa.array([h.score for h in ranked], pa.float64()),
        "kind": pa.array([hotspot_kind(h.score) for h in ranked], pa.string()),
    })
    return Export("hotspots", table, result.timeframe, result.total_views, result.duration_ms)


def _bounds(intervals: dict) -> dict:
    """Each figure's interval as <figure>_low and <figure>_high."""
    return {f"{name}_{side}": None if pair is None else pair[k]
            for name, pair in intervals.items() for k, side in enumerate(("low", "high"))}


def summary_export(result: Summary) -> Export:
    """One row: each figure, then each figure's interval as <figure>_low and <figure>_high."""
    figures = summary_json(result)["data"]
    intervals = figures.pop("intervals")
    row = {**figures, **_bounds(intervals)}
    table = pa.table({name: pa.array([value], pa.int64() if name in ("total_views", "duration_ms") else pa.float64())
                      for name, value in row.items()})
    return Export("summary", table, result.timeframe, result.total_views, result.duration_ms)


def chapters_export(report: ChapterReport) -> Export:
    """One row per chapter: title, start_ms, end_ms, each figure, leaves_tenth_1..10 (the share of
    all views leaving in each tenth), then each figure's interval as <figure>_low and _high."""
    rows = []
    for chapter in chapters_json(report)["data"]["chapters"]:
        intervals, tenths = chapter.pop("intervals"), chapter.pop("leaves_by_tenth") or [None] * TENTHS
        rows.append({**chapter, **{f"leaves_tenth_{i + 1}": share for i, share in enumerate(tenths)},
                     **_bounds(intervals)})
    columns = list(rows[0]) if rows else ["title", "start_ms", "end_ms"]
    types = {"title": pa.string(), "start_ms": pa.int64(), "end_ms": pa.int64()}
    table = pa.table({name: pa.array([row[name] for row in rows], types.get(name, pa.float64())) for name in columns})
    return Export("chapters", table, report.timeframe, report.total_views, report.duration_ms)


def compute(what: str, store: Store, query: EngagementQuery) -> Export:
    """The export of one query; stats.UnknownScopeId if the id is not in the environment."""
    if what == "layers":
        return layers_export(stats.layers(store, query))
    if what == "summary":
        return summary_export(summary(store, query, per_view=True))
    if what == "chapters":
        return chapters_export(chapters(store, query))
    result = stats.engagement(store, query, with_hotspots=what == "hotspots")
    return hotspots_export(result) if what == "hotspots" else heatmap_export(result)


# --- writers -------------------------------------------------------------------------------

def to_csv(export: Export) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180, as the dashboard's CSV
    writer.writerow(export.table.column_names)
    # Python's str(float) is the shortest form that reads back to the same number.
    writer.writerows(zip(*(column.to_pylist() for column in export.table.columns)))
    return out.getvalue().encode()


def to_json(export: Export) -> bytes:
    body = {**export.context, "columns": export.table.column_names, "data": export.table.to_pylist()}
    return json.dumps(body, separators=(",", ":")).encode()


def to_parquet(export: Export) -> bytes:
    table = export.table.replace_schema_metadata({"moments": json.dumps(export.context)})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


WRITERS: dict[str, Callable[[Export], bytes]] = {"csv": to_csv, "json": to_json, "parquet": to_parquet}


def render(export: Export, fmt: str) -> bytes:
    return WRITERS[fmt](export)


def slug(text: str) -> str:
    """A file-name-safe slug of an id, as web/format.js makes it."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:80] or "id"


def file_name(scope: Scope, scope_id: str, timeframe: tuple[int, int], what: str, fmt: str) -> str:
    """moments_asset_demo-trailer_1763000000-1763600000_heatmap.csv: what, which, when."""
    return f"moments_{SCOPE_FILE_WORDS[scope]}_{slug(scope_id)}_{timeframe[0]}-{timeframe[1]}_{what}.{fmt}"


def parse_file(name: str) -> tuple[str, str] | None:
    """("heatmap", "csv") from "heatmap.csv"; None for anything else."""
    what, dot, fmt = name.partition(".")
    return (what, fmt) if dot and what in WHATS and fmt in FORMATS else None


# --- raw views -------------------------------------------------------------------------------

# The import format's columns (README, "Importing views"), so `moments import` reads an
# export back; custom_1..custom_20 always present (a stable schema for warehouses).
VIEW_EXPORT_SCHEMA = pa.schema([
    ("view_id", pa.string()), ("asset_id", pa.string()), ("playback_id", pa.string()), ("video_id", pa.string()),
    ("view_start", pa.int64()), ("view_end", pa.int64()), ("duration_ms", pa.int64()),
    ("ranges", pa.list_(pa.list_(pa.int64()))), ("sdk_name", pa.string()), ("sdk_version", pa.string()),
    *((name, pa.string()) for name in DIMENSIONS + CUSTOM_FIELDS),
])
RENAMED = {"view_start": "view_start_ms", "view_end": "view_end_ms"}


def _pairs(starts: pa.ChunkedArray, ends: pa.ChunkedArray) -> pa.ListArray:
    """Per view, its [start, end] pairs: two list<int64> columns zipped into list<list<int64>>."""
    starts, ends = starts.combine_chunks(), ends.combine_chunks()
    flat_starts = starts.flatten().to_numpy(zero_copy_only=False)
    flat_ends = ends.flatten().to_numpy(zero_copy_only=False)
    values = np.empty(2 * len(flat_starts), dtype=np.int64)
    values[0::2], values[1::2] = flat_starts, flat_ends
    pairs = pa.ListArray.from_arrays(pa.array(np.arange(0, len(values) + 1, 2, dtype=np.int32)), pa.array(values))
    offsets = starts.offsets.to_numpy() - starts.offsets[0].as_py()  # a slice's offsets need not start at 0
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pairs)


def views_for_import(rows: pa.Table) -> pa.Table:
    """Stored view rows (store.rows.VIEW_COLUMNS) in the import format."""
    columns = []
    for field in VIEW_EXPORT_SCHEMA:
        if field.name == "ranges":
            columns.append(_pairs(rows["range_starts"], rows["range_ends"]))
        elif field.name in CUSTOM_FIELDS:
            columns.append(pc.map_lookup(rows["dimensions"], field.name, "first").cast(field.type))
        else:
            columns.append(rows[RENAMED.get(field.name, field.name)].cast(field.type))
    return pa.table(columns, schema=VIEW_EXPORT_SCHEMA)


class _Chunks:
    """A write-only file that hands out what was written so far, keeping count of the position
    (Parquet's footer records absolute offsets)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0
        self.closed = False

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def views_parquet_chunks(batches: Iterable[pa.Table]) -> Iterator[bytes]:
    """A Parquet file of the import format, one row group per batch of stored rows, as byte
    chunks: memory holds one batch at a time, whatever the number of views."""
    sink = _Chunks()
    with pq.ParquetWriter(sink, VIEW_EXPORT_SCHEMA) as writer:
        for rows in batches:
            if rows.num_rows:
                writer.write_table(views_for_import(rows))
                yield sink.take()
    yield sink.take()  # the footer (and the schema alone, when there was no view)


def write_views_parquet(batches: Iterable[pa.Table], path: str) -> int:
    """Write the views export to `path`; the number of views written."""
    count = 0

    def counted():
        nonlocal count
        for rows in batches:
            count += rows.num_rows
            yield rows

    with open(path, "wb") as out:
        for chunk in views_parquet_chunks(counted()):
            out.write(chunk)
    return count
