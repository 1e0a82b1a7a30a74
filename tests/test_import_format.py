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
