"""`moments import FILE`: views from a file, in transactions of IMPORT_BATCH views, into the
store or (with --url) through a running server's POST /v1/views."""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import click

from moments.cli.common import REMOTE_ENV_HELP, Remote, emit, environment_store, fail, remote_options, store_options
from moments.ingestion.importer import import_file
from moments.ingestion.imports import ImportResult, Rejected, read_file, validate_all

IMPORT_BATCH = 250_000  # views per transaction of `moments import`
REMOTE_BATCH = 10_000  # views per POST /v1/views (well under the server's body limit)
PROGRESS_FROM = 50_000  # records; smaller imports finish before a bar would help
SHOWN_REJECTIONS = 20
REJECTED_EXIT = 3  # some records were rejected (the others are stored); 1 is an error, 2 a usage error


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--env", "environment_id", default=None, help=REMOTE_ENV_HELP)
@store_options
@remote_options
@click.option("--json", "as_json", is_flag=True, help="Print the API's response body (its `index` counts from 0).")
def import_command(file: Path, environment_id: str | None, db, store_url, remote: Remote | None, as_json: bool) -> None:
    """Import views from a .json, .ndjson, .csv or .parquet FILE.

    A rejected record is named by where it is in FILE, counting from 1: "record N" of a JSON
    array, "line N" of NDJSON or CSV (the CSV header is line 1), "row N" of Parquet.

    Exit status: 0 when every record was stored; 3 when some were rejected (the others are
    stored); 1 when nothing could be imported (no store, no environment, unreadable file);
    2 for a usage error.
    """
    started = time.perf_counter()
    if remote is not None:
        total = _import_remote(remote, environment_id, file)
    elif environment_id is None:
        raise click.UsageError("Missing option '--env' (the environment ID; `moments env list` shows them).")
    else:
        total = _import_local(file, environment_id, db, store_url)
    elapsed = time.perf_counter() - started
    lines = [f"accepted {total.accepted}, rejected {total.rejected_total} in {elapsed:.1f}s"]
    places = record_places(file, [r.index for r in total.rejected[:SHOWN_REJECTIONS]])
    for rejection in total.rejected[:SHOWN_REJECTIONS]:
        named = f" ({rejection.view_id})" if rejection.view_id is not None else ""
        lines.append(f"  {places[rejection.index]}{named}: {'; '.join(rejection.messages)}")
    if total.rejected_total > SHOWN_REJECTIONS:
        lines.append(f"  ... and {total.rejected_total - SHOWN_REJECTIONS} more "
                     f"(--json lists the first {len(total.rejected)})")
    emit(total.to_json(), as_json, "\n".join(lines))
    if total.rejected_total:
        sys.stdout.flush()
        sys.exit(REJECTED_EXIT)


def _import_local(file: Path, environment_id: str, db: str | None, store_url: str | None) -> ImportResult:
    with environment_store(db, store_url, environment_id) as store:
        try:
            planned = import_file(store, environment_id, file, IMPORT_BATCH)
        except (ValueError, OSError) as error:
            fail(f"cannot read {file}: {error}")
        count = planned.records or 0
        total = ImportResult()
        with click.progressbar(length=count, label="Importing", file=sys.stderr, hidden=count < PROGRESS_FROM) as bar:
            for number, batch in enumerate(planned.batches):
                total.add(batch)
                bar.update(min(IMPORT_BATCH, count - number * IMPORT_BATCH))
        return total


def _import_remote(remote: Remote, environment_id: str | None, file: Path) -> ImportResult:
    """Records checked here by the server's own rules (bad ones are reported without a trip),
    the valid ones POSTed in batches; the server's rejections (a view collected from beacons)
    are mapped back to their place in the file."""
    remote.check_environment(environment_id)
    records = _records(file)
    valid, total = validate_all(records)
    indexes = [index for index, _ in valid]
    with click.progressbar(length=len(indexes), label="Importing", file=sys.stderr,
                           hidden=len(records) < PROGRESS_FROM) as bar:
        for offset in range(0, len(indexes), REMOTE_BATCH):
            batch = indexes[offset:offset + REMOTE_BATCH]
            data = remote.ask(lambda client: client.import_views([records[i] for i in batch]))["data"]
            total.accepted -= data["rejected_total"]
            for rejection in data["rejected"]:
                total.reject(Rejected(batch[rejection["index"]], rejection["view_id"], rejection["messages"]))
            total.rejected_total += data["rejected_total"] - len(data["rejected"])  # those it did not list
            bar.update(len(batch))
    total.rejected.sort(key=lambda rejection: rejection.index)
    return total


def _records(file: Path) -> list[Any]:
    try:
        return read_file(file)
    except (ValueError, OSError) as error:
        fail(f"cannot read {file}: {error}")


def record_places(file: Path, indexes: list[int]) -> dict[int, str]:
    """Where each record (by its 0-based index among the file's records) is, for people:
    "line N" of NDJSON (blank lines are no records) or CSV (the header is line 1; a record may
    span lines: its first), "record N" of a JSON array, "row N" of Parquet; all from 1."""
    suffix = file.suffix.lower()
    if suffix not in (".ndjson", ".jsonl", ".csv"):
        word = "row" if suffix == ".parquet" else "record"
        return {index: f"{word} {index + 1}" for index in indexes}
    wanted, places = set(indexes), {}
    if not wanted:
        return {}
    with file.open(newline="", encoding="utf-8-sig", errors="replace") as f:
        if suffix == ".csv":
            reader = csv.reader(f)
            next(reader, None)  # the header
            starts = _csv_record_lines(reader)
        else:  # split as the import splits NDJSON (str.splitlines)
            starts = (number for number, line in enumerate(f.read().splitlines(), start=1) if line.strip())
        for index, line in enumerate(starts):
            if index in wanted:
                places[index] = f"line {line}"
                if len(places) == len(wanted):
                    break
    return {index: places.get(index, f"record {index + 1}") for index in indexes}


def _csv_record_lines(reader) -> Iterator[int]:
    """The first line of each CSV record after the header (csv.DictReader skips empty rows too)."""
    previous_end = reader.line_num
    for row in reader:
        if row:
            yield previous_end + 1
        previous_end = reader.line_num
