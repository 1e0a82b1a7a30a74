"""`moments heatmap --plot` and `--png`, run for real on a known import.

The audience (test_cli.audience) has a planted cold spot at 20..24 s and a peak at 40..44 s
of a 60 s asset: the terminal picture must mark them (▼ C1, ▲ P1) at the columns of those
times, and the PNG must be a real, non-blank picture.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from moments import accounts
from moments.ingestion.imports import import_records
from moments.model import Asset
from moments.cli.plots import PLOT_LEFT, column_of
from moments.store.duckdb import DuckDBStore

from test_cli import AUDIENCE, REGISTERED_MS, clean_env, moments, ok, ok_json

COLUMNS = 100


@pytest.fixture(scope="module")
def known(tmp_path_factory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("plots")
    db = folder / "m.duckdb"
    store = DuckDBStore(str(db))
    environment, _ = accounts.create_environment(store, "plots")
    store.put_asset(environment.environment_id, Asset("trailer", REGISTERED_MS, ("pb-one", "pb-two")))
    assert import_records(store, environment.environment_id, AUDIENCE).accepted == len(AUDIENCE)
    store.close()
    return db, environment.environment_id


def copy_of(db: Path, folder: Path) -> Path:
    copy = folder / "copy.duckdb"
    shutil.copyfile(db, copy)
    return copy


def test_terminal_plot_marks_the_hotspots_at_their_columns(known, tmp_path):
    db, environment_id = known
    query = ["--env", environment_id, "--asset", "trailer", "--timeframe", "30:days"]
    spots = ok_json("hotspots", *query, "--db", copy_of(db, tmp_path), cwd=tmp_path)["data"]["hotspots"]
    out = ok("heatmap", *query, "--plot", "--db", copy_of(db, tmp_path), cwd=tmp_path,
             env=clean_env(COLUMNS=str(COLUMNS)))
    lines = out.splitlines()
    assert lines[0].startswith("views: 300   timeframe: ")
    width = COLUMNS - PLOT_LEFT - 1
    assert max(len(line) for line in lines) <= COLUMNS  # as wide as the terminal said
    marks = next(line for line in lines if "▲" in line and "P1" not in line)
    labels = lines[lines.index(marks) + 1]

    # The detector found the planted moments...
    peak = next(h for h in spots if h["score"] > 0.5)
    cold = next(h for h in spots if h["score"] < 0.5)
    assert peak["start_ms"] < 44_000 and peak["end_ms"] > 40_000
    assert cold["start_ms"] < 24_000 and cold["end_ms"] > 20_000
    # ...and the picture marks exactly their columns, with their labels at their starts.
    for spot, marker, label in ((peak, "▲", "P1"), (cold, "▼", "C1")):
        first = PLOT_LEFT + column_of(spot["start_ms"], REGISTERED_MS, width)
        last = PLOT_LEFT + column_of(spot["end_ms"] - 1, REGISTERED_MS, width)
        assert set(marks[first:last + 1]) == {marker}, (spot, marks)
        assert labels[first:first + 2] == label, labels
    # Nothing else is marked.
    assert set(marks[PLOT_LEFT:]) == {" ", "▲", "▼"} and marks.count("▲") + marks.count("▼") == sum(
        column_of(h["end_ms"] - 1, REGISTERED_MS, width) - column_of(h["start_ms"], REGISTERED_MS, width) + 1
        for h in (peak, cold))
    # The key names each mark in words, not only by shape.
    assert any(line.startswith("▲ P1") and "peak" in line and "0:40" <= line.split()[3][:4] for line in lines)
    assert any(line.startswith("▼ C1") and "cold spot" in line for line in lines)
    assert lines[-1] == "score: 0.5 = as expected, higher = watched more (peak), lower = less (cold spot)"

    # The curve: each column is as tall (10 rows = 100%) as the share of viewers of the bucket under it.
    values = ok_json("heatmap", *query, "--db", copy_of(db, tmp_path), cwd=tmp_path)["data"]["value"]
    curve = [line[PLOT_LEFT:].ljust(width) for line in lines[1:11]]
    for c in range(width):
        drawn = sum(" ▁▂▃▄▅▆▇█".index(row[c]) for row in curve) / 8
        assert abs(drawn - 10 * values[c * len(values) // width]) <= 1 / 16 + 1e-9, c


def test_png_is_a_real_picture(known, tmp_path):
    image = pytest.importorskip("matplotlib.image")  # the test extra installs it
    db, environment_id = known
    png = tmp_path / "trailer.png"
    body = ok_json("heatmap", "--env", environment_id, "--asset", "trailer", "--timeframe", "30:days",
                   "--png", png, "--db", copy_of(db, tmp_path), cwd=tmp_path)
    assert body["data"]["total_views"] == 300  # --json still prints the API's shape
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
    pixels = image.imread(str(png))
    assert pixels.shape[0] >= 300 and pixels.shape[1] >= 800
    rgb = pixels[..., :3]
    non_white = (rgb < 0.95).any(axis=-1).mean()
    assert 0.05 < non_white < 0.9, non_white  # a drawing, neither blank nor a filled rectangle
    assert float(np.std(rgb)) > 0.05


def test_png_without_matplotlib_says_how_to_get_it(known, tmp_path):
    db, environment_id = known
    blocker = tmp_path / "blocked" / "matplotlib"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('matplotlib is blocked for this test')\n")
    done = moments("heatmap", "--env", environment_id, "--asset", "trailer", "--png", tmp_path / "x.png",
                   "--db", copy_of(db, tmp_path), cwd=tmp_path, env=clean_env(PYTHONPATH=str(blocker.parent)))
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "pip install 'moments[plot]'" in done.stderr
    assert not (tmp_path / "x.png").exists()
