"""Reading import files: cells as spreadsheets and dataframes write them."""

from __future__ import annotations

from pathlib import Path

from moments.ingestion.imports import read_file, validate_view


def test_csv_whole_numbers_written_as_floats_are_integers(tmp_path: Path):
    path = tmp_path / "views.csv"
    path.write_text(
        "view_id,asset_id,view_start,view_end,duration_ms,ranges\n"
        'v1,a,1780000001000.0,1780000061000.0,60000.0,"[[0, 1000]]"\n'
        'v2,a,1780000001000.5,,60000,"[[0, 1000]]"\n'
    )
    good, bad = read_file(path)
    assert good["view_start"] == 1_780_000_001_000 and good["duration_ms"] == 60_000
    assert validate_view(good).view_end_ms == 1_780_000_061_000
    assert bad["view_start"] == "1780000001000.5"  # a fraction of a ms is not silently cut


def test_bulk_path_stores_and_rejects_exactly_like_the_view_by_view_path(tmp_path: Path):
    import io
    import json
    import random

    import pyarrow.json as pj

    from moments import accounts
    from moments.ingestion.bulk import import_batches
    from moments.ingestion.imports import ImportResult, import_records
    from moments.store.duckdb import DuckDBStore

    rng = random.Random(5)
    good = {"view_id": "v", "asset_id": "a", "playback_id": "p", "video_id": "vid 1/2", "view_start": 1_795_600_000_000,
            "view_end": 1_795_600_100_000, "duration_ms": 60_000, "ranges": [[0, 1000], [500, 9000]],
            "sdk_name": "mux-embed", "sdk_version": "5.19.0", "country": "US"}
    breakages = [{"view_id": "x" * 200}, {"asset_id": "a/b"}, {"duration_ms": 0}, {"view_end": 1_795_500_000_000},
                 {"ranges": [[5, 5]]}, {"ranges": [[0, 1, 2]]}, {"sdk_version": "5.14.0"}, {"view_id": "ünï"},
                 {"asset_id": None, "playback_id": None, "video_id": None}, {"country": "x" * 300}]
    rows = []
    for i in range(400):
        row = {**good, "view_id": f"v{rng.randrange(300)}", "view_start": good["view_start"] + i}
        if rng.random() < 0.3:
            row.update(rng.choice(breakages))
        rows.append(row)
    body = "\n".join(json.dumps(r) for r in rows).encode()
    stores, results = [], []
    def bulk(store, environment_id) -> ImportResult:  # in batches: a view_id's rows fall in several
        total = ImportResult()
        for batch in import_batches(store, environment_id, pj.read_json(io.BytesIO(body)), 150):
            total.add(batch)
        return total

    for name, run in (("bulk", bulk), ("slow", lambda s, e: import_records(s, e, rows))):
        store = DuckDBStore(str(tmp_path / f"{name}.duckdb"))
        environment, _ = accounts.create_environment(store, name, env_key=f"key{name}")
        result = run(store, environment.environment_id)
        assert result is not None
        results.append(result)
        with store._lock:
            stores.append(store._exec(
                "SELECT view_id, asset_id, playback_id, video_id, view_start_ms, view_end_ms, duration_ms, "
                "range_starts, range_ends, sdk_name, sdk_version, reports_ranges, country FROM views ORDER BY view_id"))
        store.close()
    assert results[0].accepted == results[1].accepted
    assert [(r.index, r.messages) for r in results[0].rejected] == [(r.index, r.messages) for r in results[1].rejected]
    assert stores[0] == stores[1] and len(stores[0]) > 100
