"""The fast import path: whole columns checked at once with Arrow, rows stored in bulk.

Files and bodies whose columns have the expected types (Parquet, or NDJSON that Arrow can
read) are checked column-wise against the same rules as `imports.validate_view`, but
stricter where that is cheaper (ids and names in printable ASCII). Rows that fail any
column check go through `validate_view` one by one, so they are accepted or rejected with
exactly the same messages as on the slow path; nothing is lost by taking the fast one.
"""

from __future__ import annotations

import io
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from moments.ingestion import imports
from moments.ingestion.imports import ImportResult, Rejected, validate_view
from moments.ingestion.sdks import reports_ranges
from moments.model import CUSTOM_FIELDS, DIMENSIONS, View
from moments.store.base import Store
from moments.store.rollups import dictionary_codes
from moments.store.rows import MAX_DIMENSION_LENGTH, MAX_ID_LENGTH, VIEW_COLUMNS

ID_PATTERN = rf"^[\x20-\x7e]{{1,{MAX_ID_LENGTH}}}$"
PATH_SAFE_ID_PATTERN = rf"^[\x21-\x2e\x30-\x7e]{{1,{MAX_ID_LENGTH}}}$"
TEXT_PATTERN = rf"^[\x20-\x7e]{{1,{MAX_DIMENSION_LENGTH}}}$"
INTEGER_TYPES = (pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16(), pa.uint32())
STRING_FIELDS = ("sdk_name", "sdk_version") + DIMENSIONS + CUSTOM_FIELDS


# Arrow's JSON reader crashes the whole process (segfault) on some bodies: brackets nested
# tens of thousands deep (it recurses without a limit), or a first value that is `null`.
# Only bodies that cannot be either reach it; the rest take the slow path, which gives the
# same results. The import format nests 3 levels deep and has one object per line.
MAX_ARROW_NESTING = 32
NESTING_CHUNK = 4 * 1024 * 1024


def shallow(data: bytes, limit: int = MAX_ARROW_NESTING) -> bool:
    """Do brackets nest at most `limit` deep? Brackets inside strings count too, so this can
    only send a body to the slow path, never a deep one to Arrow."""
    depth = 0
    for at in range(0, len(data), NESTING_CHUNK):
        folded = np.frombuffer(data, dtype=np.uint8, count=min(NESTING_CHUNK, len(data) - at), offset=at) | 0x20
        brackets = folded[(folded == ord("{")) | (folded == ord("}"))]  # "[" and "]" fold onto these
        if brackets.size:
            levels = depth + np.cumsum(np.where(brackets == ord("{"), 1, -1), dtype=np.int64)
            if levels.max() > limit:
                return False
            depth = int(levels[-1])
    return True


def object_lines(data: bytes) -> bool:
    """Does every line that is not blank start an object?"""
    text = np.frombuffer(data, dtype=np.uint8)
    starts = np.concatenate(([0], np.flatnonzero(text == ord("\n")) + 1))
    starts = starts[starts < len(data)]
    # Lines that do not open with "{" right away (blank or indented ones, or not objects) are few:
    # they are read one by one.
    return all(data[at:_line_end(data, at)].lstrip()[:1] in (b"{", b"")
               for at in starts[text[starts] != ord("{")].tolist())


def _line_end(data: bytes, at: int) -> int:
    end = data.find(b"\n", at)
    return len(data) if end < 0 else end


def _arrow_json(data: bytes) -> pa.Table | None:
    """NDJSON read by Arrow, or None when the slow path should read it (and say what is wrong)."""
    import pyarrow.json as pj

    if not (shallow(data) and object_lines(data)):
        return None
    try:
        table = pj.read_json(io.BytesIO(data))
        # Arrow's reader can build invalid arrays (null items inside lists) and field names
        # that are not UTF-8; using them fails.
        table.validate(full=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, UnicodeDecodeError):
        return None
    return table


def read_body(body: bytes) -> pa.Table | None:
    """An NDJSON body as Arrow, or None when Arrow cannot read it (the slow path will say why)."""
    return _arrow_json(body)


def read_columns(path: Path) -> pa.Table | None:
    """The file as Arrow when the fast path can take it (Parquet, NDJSON), else None."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path)
        if suffix in (".ndjson", ".jsonl"):
            return _arrow_json(path.read_bytes())
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OSError):
        return None  # let the slow path read it and say what is wrong, line by line
    return None


def _column(table: pa.Table, name: str) -> pa.ChunkedArray:
    if name in table.column_names:
        return table[name]
    return pa.chunked_array([pa.nulls(table.num_rows)])


def _typed(table: pa.Table) -> bool:
    """Do the columns have the types the column checks understand?"""
    types = {name: table.schema.field(name).type for name in table.column_names}
    if set(types) - imports.KNOWN_FIELDS or not {"view_id", "view_start", "duration_ms", "ranges"} <= set(types):
        return False
    strings = ("view_id",) + imports.ID_FIELDS + STRING_FIELDS
    ok = all(types.get(n, pa.string()) in (pa.string(), pa.large_string(), pa.null()) for n in strings)
    ok = ok and all(types.get(n, pa.int64()) in INTEGER_TYPES + (pa.null(),)
                    for n in ("view_start", "view_end", "duration_ms"))
    ranges = types["ranges"]
    return ok and pa.types.is_list(ranges) and pa.types.is_list(ranges.value_type) and \
        ranges.value_type.value_type in INTEGER_TYPES


def _matches(column: pa.ChunkedArray, pattern: str, nullable: bool = True) -> np.ndarray:
    """Per row: does the value match `pattern` (a null: `nullable`)?"""
    if pa.types.is_null(column.type):
        return np.full(len(column), nullable)
    return pc.fill_null(pc.match_substring_regex(column, pattern), nullable).to_numpy(zero_copy_only=False)


def _values_match(column: pa.ChunkedArray, pattern: str, nullable: bool = True) -> np.ndarray:
    """_matches for a column of few distinct values (ids, dimensions): each is matched once."""
    if pa.types.is_null(column.type):
        return np.full(len(column), nullable)
    codes, values = dictionary_codes(column)
    distinct = pc.match_substring_regex(pa.array(values, pa.string()), pattern).to_numpy(zero_copy_only=False)
    return np.append(distinct, nullable)[codes]  # a null's code, -1, picks `nullable`


def _between(column: pa.ChunkedArray, low: int, high: int, nullable: bool = False) -> np.ndarray:
    if pa.types.is_null(column.type):
        return np.full(len(column), nullable)
    inside = pc.and_(pc.greater_equal(column, low), pc.less_equal(column, high))
    return pc.fill_null(inside, nullable).to_numpy(zero_copy_only=False)


def _ranges_ok(ranges: pa.ChunkedArray) -> np.ndarray:
    """Per row: a list of at most MAX pairs of integers with 0 <= start < end <= MAX_MEDIA_MS."""
    outer = ranges.combine_chunks()
    count = pc.fill_null(pc.list_value_length(outer), -1).to_numpy(zero_copy_only=False)
    ok = (count >= 0) & (count <= imports.MAX_RANGES_PER_VIEW)
    pairs = pc.list_flatten(outer)
    pair_row = pc.list_parent_indices(outer).to_numpy()
    pair_ok = pc.fill_null(pc.equal(pc.list_value_length(pairs), 2), False).to_numpy(zero_copy_only=False)
    # A null position reads as -1, which fails the range check (so the row takes the slow path).
    values = pc.fill_null(pc.list_flatten(pairs).cast(pa.int64()), -1).to_numpy(zero_copy_only=False)
    value_pair = pc.list_parent_indices(pairs).to_numpy()
    good_pairs = np.flatnonzero(pair_ok)
    starts = np.zeros(len(pairs), dtype=np.int64)
    ends = np.zeros(len(pairs), dtype=np.int64)
    if good_pairs.size:
        firsts = np.searchsorted(value_pair, good_pairs)
        starts[good_pairs], ends[good_pairs] = values[firsts], values[firsts + 1]
    pair_ok &= (starts >= 0) & (starts < ends) & (ends <= imports.MAX_MEDIA_MS)
    ok[np.unique(pair_row[~pair_ok])] = False
    return ok


def fast_rows(table: pa.Table) -> np.ndarray:
    """Which rows pass every column check (the others take the slow path)."""
    ok = _matches(_column(table, "view_id"), ID_PATTERN, nullable=False)
    any_id = np.zeros(table.num_rows, dtype=bool)
    for name in imports.ID_FIELDS:
        column = _column(table, name)
        ok &= _values_match(column, ID_PATTERN if name == "video_id" else PATH_SAFE_ID_PATTERN)
        any_id |= pc.is_valid(column).to_numpy(zero_copy_only=False)
    ok &= any_id
    ok &= _between(_column(table, "view_start"), imports.MIN_EPOCH_MS,
                   min(imports.MAX_EPOCH_MS, imports.latest_view_start_ms()))
    view_end = _column(table, "view_end")
    ok &= _between(view_end, imports.MIN_EPOCH_MS, imports.MAX_EPOCH_MS, nullable=True)
    if not pa.types.is_null(view_end.type):
        ok &= pc.fill_null(pc.greater_equal(view_end, _column(table, "view_start")), True).to_numpy(
            zero_copy_only=False)
    ok &= _between(_column(table, "duration_ms"), 1, imports.MAX_MEDIA_MS)
    ok &= _ranges_ok(_column(table, "ranges"))
    for name in STRING_FIELDS:
        ok &= _values_match(_column(table, name), TEXT_PATTERN)
    return ok


def _store_table(environment_id: str, table: pa.Table, received_at_ms: int) -> pa.Table:
    """Checked rows (one per view_id) in the store's view columns."""
    n = table.num_rows
    ranges = table["ranges"].combine_chunks()
    pairs = pc.list_flatten(ranges)
    values = pc.list_flatten(pairs).to_numpy(zero_copy_only=False).astype(np.int64)
    offsets = pa.array(ranges.offsets.to_numpy() - ranges.offsets.to_numpy()[0])

    def text(name: str) -> pa.Array:
        return _column(table, name).cast(pa.string()).combine_chunks()

    columns: dict[str, Any] = {
        "environment_id": pa.repeat(pa.scalar(environment_id, pa.string()), n),
        "view_id": text("view_id"), "asset_id": text("asset_id"), "playback_id": text("playback_id"),
        "video_id": text("video_id"),
        "view_start_ms": _column(table, "view_start").cast(pa.int64()).combine_chunks(),
        "view_end_ms": _column(table, "view_end").cast(pa.int64()).combine_chunks(),
        "duration_ms": _column(table, "duration_ms").cast(pa.int64()).combine_chunks(),
        "range_starts": pa.ListArray.from_arrays(offsets, pa.array(values[0::2])),
        "range_ends": pa.ListArray.from_arrays(offsets, pa.array(values[1::2])),
        "sdk_name": text("sdk_name"), "sdk_version": text("sdk_version"),
        "reports_ranges": _reports_ranges(_column(table, "sdk_name"), _column(table, "sdk_version")),
        **{name: text(name) for name in DIMENSIONS},
        "dimensions": _custom_dimensions(table),
        "received_at_ms": pa.repeat(pa.scalar(received_at_ms, pa.int64()), n),
        "last_event_ms": pa.nulls(n, pa.int64()),
    }
    return pa.table({name: columns[name] for name in VIEW_COLUMNS})


def _reports_ranges(names: pa.ChunkedArray, versions: pa.ChunkedArray) -> pa.Array:
    """Per row: does its SDK report ranges (sdks.reports_ranges), asked once per distinct SDK."""
    (name_codes, name_values), (version_codes, version_values) = dictionary_codes(names), dictionary_codes(versions)
    # Codes shifted by one, so a null (-1) is a value of its own: (name, version) as one number.
    pairs, row_pair = np.unique((name_codes + 1) * (len(version_values) + 1) + version_codes + 1, return_inverse=True)
    answers = [reports_ranges(([None] + name_values)[pair // (len(version_values) + 1)],
                              ([None] + version_values)[pair % (len(version_values) + 1)]) for pair in pairs.tolist()]
    return pa.array(np.array(answers, dtype=bool)[row_pair.reshape(-1)])


def _custom_dimensions(table: pa.Table) -> pa.Array:
    """The custom_N columns as one map per row (the store's `dimensions`), empty values left out."""
    kind = pa.map_(pa.string(), pa.string())
    names = [name for name in CUSTOM_FIELDS if name in table.column_names]
    if not names:
        return pa.nulls(table.num_rows, kind)
    columns = [_column(table, name).to_pylist() for name in names]
    return pa.array([[(name, value) for name, value in zip(names, row) if value] for row in zip(*columns)], kind)


@dataclass
class CheckedBatch:
    """A batch checked column by column: what to answer, and what to store."""

    result: ImportResult
    slow_views: list[View]  # kept rows that took validate_view
    table: pa.Table | None  # the store's columns of the other kept rows
    received_at_ms: int
    valid: list[tuple[int, str]]  # (index, view_id) of every valid row


def check_table(environment_id: str, table: pa.Table, first_index: int = 0) -> CheckedBatch | None:
    """Check a table's rows; None when its columns do not fit the fast path.

    Same outcome as the slow path: bad rows are rejected with its messages, and of the valid
    rows of one view_id the last one is kept.
    """
    if table.num_rows == 0 or not _typed(table):
        return None
    ok = fast_rows(table)
    result = ImportResult()
    slow_views: dict[int, View] = {}
    slow_rows = np.flatnonzero(~ok)
    for row, record in zip(slow_rows.tolist(), table.take(slow_rows).to_pylist()):
        record = {k: v for k, v in record.items() if v is not None}
        try:
            slow_views[row] = validate_view(record)
        except imports.InvalidView as invalid:
            result.reject(Rejected(first_index + row, imports.echoed_view_id(record), invalid.messages))
    valid = np.sort(np.concatenate((np.flatnonzero(ok), np.array(list(slow_views), dtype=np.int64))))
    result.accepted = int(valid.size)
    rows = pa.table({"view_id": table["view_id"].combine_chunks().take(pa.array(valid)), "row": pa.array(valid)})
    last = rows.group_by("view_id", use_threads=False).aggregate([("row", "max")])["row_max"]
    kept = np.sort(last.to_numpy())  # the last valid row of each view_id
    fast_kept = kept[ok[kept]]
    received = int(time.time() * 1000)
    return CheckedBatch(result, [slow_views[r] for r in kept.tolist() if r in slow_views],
                        _store_table(environment_id, table.take(pa.array(fast_kept)), received) if fast_kept.size else None,
                        received, list(zip((first_index + valid).tolist(), rows["view_id"].to_pylist())))


def store_checked(store: Store, environment_id: str, batch: CheckedBatch) -> ImportResult:
    refused: set[str] = set()
    if batch.slow_views:
        refused |= store.upsert_views(environment_id, batch.slow_views, batch.received_at_ms)
    if batch.table is not None:
        refused |= store.bulk_upsert_views(batch.table)
    batch.result.refuse_beacon_views(batch.valid, refused)
    return batch.result


def import_batches(store: Store, environment_id: str, table: pa.Table, batch_rows: int) -> Iterator[ImportResult] | None:
    """import_table over consecutive batches of a table (None when it does not fit the fast
    path): each batch is checked on a worker thread while the one before it is stored, so the
    checks (Arrow, numpy) and the store's writes (DuckDB) run on two cores."""
    if table.num_rows == 0 or not _typed(table):
        return None

    def check(offset: int) -> CheckedBatch:
        return check_table(environment_id, table.slice(offset, batch_rows), offset)

    def batches() -> Iterator[ImportResult]:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-check") as checker:
            checking = checker.submit(check, 0)
            for offset in range(0, table.num_rows, batch_rows):
                checked = checking.result()
                if offset + batch_rows < table.num_rows:
                    checking = checker.submit(check, offset + batch_rows)
                yield store_checked(store, environment_id, checked)

    return batches()
