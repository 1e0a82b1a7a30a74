"""`moments import FILE`: views from a file, in transactions of IMPORT_BATCH views."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Iterator

import click

from moments.cli.common import emit, fail, open_from, store_options
from moments.ingestion.bulk import import_batches, read_columns
from moments.ingestion.imports import ImportResult, import_records, read_file
from moments.store.base import Store

IMPORT_BATCH = 250_000  # views per transaction of `moments import`
PROGRESS_FROM = 50_000  # records; smaller imports finish before a bar would help


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--env", "environment_id", required=True)
@store_options
@click.option("--json", "as_json", is_flag=True)
def import_command(file: Path, environment_id: str, db, store_url, as_json: bool) -> None:
    """Import views from a .json, .ndjson, .csv or .parquet FILE."""
    store = open_from(db, store_url)
    if store.get_environment(environment_id) is None:
        fail(f"no environment {environment_id!r}")
    started = time.perf_counter()
    table = read_columns(file)
    batches = import_batches(store, environment_id, table, IMPORT_BATCH) if table is not None else None
    count = table.num_rows if batches is not None else None
    if batches is None:  # view by view: the file is not one the fast path takes (or says what is wrong)
        try:
            records = read_file(file)
        except (ValueError, OSError) as error:
            fail(f"cannot read {file}: {error}")
        count = len(records)
        batches = _record_batches(store, environment_id, records)
    total = ImportResult()
    with click.progressbar(length=count, label="Importing", file=sys.stderr, hidden=count < PROGRESS_FROM) as bar:
        for number, batch in enumerate(batches):
            total.add(batch)
            bar.update(min(IMPORT_BATCH, count - number * IMPORT_BATCH))
    store.close()
    elapsed = time.perf_counter() - started
    lines = [f"accepted {total.accepted}, rejected {total.rejected_total} in {elapsed:.1f}s"]
    lines += [f"  #{r.index} {r.view_id}: {'; '.join(r.messages)}" for r in total.rejected[:20]]
    if total.rejected_total > 20:
        lines.append(f"  ... and {total.rejected_total - 20} more (--json lists the first {len(total.rejected)})")
    emit(total.to_json(), as_json, "\n".join(lines))


def _record_batches(store: Store, environment_id: str, records: list) -> Iterator[ImportResult]:
    for offset in range(0, len(records), IMPORT_BATCH):
        yield import_records(store, environment_id, records[offset:offset + IMPORT_BATCH], offset)

