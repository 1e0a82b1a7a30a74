"""The one way in for imported views, whichever door they come by (a POST /v1/views body, a
`moments import` file): the bulk path when Arrow reads the source and its columns fit it
(bulk.py), else view by view (imports.py). Both store and reject exactly alike; the bulk
path is only faster.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import pyarrow as pa

from moments.ingestion import bulk
from moments.ingestion.imports import ImportResult, import_records, parse_body, read_file
from moments.store.base import Store


class UnreadableBody(ValueError):
    """A body that is not an import at all (not UTF-8, not JSON); the message says why."""


@dataclass(frozen=True)
class Import:
    records: int | None  # how many records the source holds (None: an NDJSON body, read as it is stored)
    batches: Iterator[ImportResult]  # each stored in one transaction as it is taken


def _plan(store: Store, environment_id: str, table: pa.Table | None, records: Callable[[], Iterable[Any]],
          batch: int | None) -> Import:
    """Batches of at most `batch` records (None: all in one)."""
    if table is not None:
        batches = bulk.import_batches(store, environment_id, table, batch or max(1, table.num_rows))
        if batches is not None:
            return Import(table.num_rows, batches)
    items = records()
    return Import(len(items) if isinstance(items, list) else None, _record_batches(store, environment_id, items, batch))


def _record_batches(store: Store, environment_id: str, records: Iterable[Any], batch: int | None
                    ) -> Iterator[ImportResult]:
    if batch is None or not isinstance(records, list):
        yield import_records(store, environment_id, records)
        return
    for offset in range(0, len(records), batch):
        yield import_records(store, environment_id, records[offset:offset + batch], offset)


def import_file(store: Store, environment_id: str, path: Path, batch: int) -> Import:
    """A .json, .ndjson/.jsonl, .csv or .parquet file (nothing is stored until the batches are
    taken); ValueError or OSError when it cannot be read."""
    return _plan(store, environment_id, bulk.read_columns(path), lambda: read_file(path), batch)


def import_body(store: Store, environment_id: str, body: bytes, content_type: str) -> ImportResult:
    """A POST /v1/views body (a JSON array, or NDJSON), stored in one transaction; UnreadableBody
    when it is not an import."""
    def records() -> Iterable[Any]:
        try:
            return parse_body(body, content_type)
        except UnicodeDecodeError:
            raise UnreadableBody("body must be UTF-8 text") from None
        except ValueError as error:
            raise UnreadableBody(str(error)[:500]) from None

    ndjson = "ndjson" in content_type or "jsonl" in content_type
    result = ImportResult()
    for batch in _plan(store, environment_id, bulk.read_body(body) if ndjson else None, records, None).batches:
        result.add(batch)
    return result
