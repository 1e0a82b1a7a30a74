"""`moments relative` and `moments compare`, run for real (python -m moments) on DuckDB files."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from moments import accounts
from moments.model import Asset, View
from moments.store.duckdb import DuckDBStore

from test_cli import failing, in_parallel, ok, ok_json, snapshot

NOW_MS = int(time.time() * 1000)
OLD_MS = NOW_MS - 10 * 86_400_000  # outside 1:days, inside the default retention
OLD_WINDOW = (str(OLD_MS // 1000 - 60), str(OLD_MS // 1000 + 60))


def views(prefix: str, n: int, end_ms: int, duration_ms: int = 60_000, start_ms: int = NOW_MS - 3_600_000,
          **ids) -> list[View]:
    return [View(f"{prefix}-{i}", start_ms, duration_ms, ((0, end_ms),), view_end_ms=start_ms + 1000, **ids)
            for i in range(n)]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """mine (60 s): 3 views to 45 s via pbA, 2 to 30 s via pbB, 2 old ones to 15 s; peers as in test_compare."""
    db = tmp_path_factory.mktemp("compare") / "moments.duckdb"
    store = DuckDBStore(str(db))
    env = accounts.create_environment(store, "cli")[0].environment_id
    for asset in (Asset("mine", 60_000, ("pbA", "pbB")), Asset("p1", 60_000), Asset("p2", 60_000),
                  Asset("p3", 60_000), Asset("p4", 120_000, ("pbX",)), Asset("far", 600_000)):
        store.put_asset(env, asset)
    stored = (views("a", 3, 45_000, playback_id="pbA") + views("b", 2, 30_000, playback_id="pbB")
              + views("old", 2, 15_000, start_ms=OLD_MS, playback_id="pbA")
              + views("p1", 5, 30_000, asset_id="p1") + views("p2", 5, 15_000, asset_id="p2")
              + views("p3", 5, 60_000, asset_id="p3") + views("p4", 5, 60_000, 120_000, asset_id="p4")
              + views("far", 5, 600_000, 600_000, asset_id="far"))
    store.upsert_views(env, stored, NOW_MS)
    store.close()
    return db, env


def test_relative_and_compare(loaded: tuple[Path, str]) -> None:
    db, env = loaded
    cwd = db.parent
    base = ("--env", env, "--timeframe", "1:days")
    commands = {
        "relative-json": lambda p: ok_json("relative", *base, "--asset", "mine", "--db", p, cwd=cwd),
        "relative-text": lambda p: ok("relative", *base, "--asset", "mine", "--db", p, cwd=cwd),
        "timeframes": lambda p: ok_json("compare", *base, "--asset", "mine", "--against-timeframe", OLD_WINDOW[0],
                                        "--against-timeframe", OLD_WINDOW[1], "--db", p, cwd=cwd),
        "playback-ids": lambda p: ok_json("compare", *base, "--playback-id", "pbA", "--against", "pbB", "--db", p, cwd=cwd),
        "compare-text": lambda p: ok("compare", *base, "--playback-id", "pbA", "--against", "pbB", "--db", p, cwd=cwd),
    }
    copies = {name: snapshot(db, name) for name in commands}
    results = dict(zip(commands, in_parallel(*(lambda n=n: commands[n](copies[n]) for n in commands))))

    mine = [1.0] * 30 + [0.6] * 15 + [0.0] * 15
    data = results["relative-json"]["data"]
    assert data["total_views"] == 5 and data["value"] == pytest.approx(mine)
    assert data["typical"] == pytest.approx([1.0] * 30 + [0.0] * 30)
    assert data["overall"] == pytest.approx({"average": 0.65, "typical_average": 0.5, "ratio": 1.3, "better_than": 0.75})
    assert data["peers"] == 4 and data["band"] == {"min_ms": 30_000, "max_ms": 120_000}
    text = results["relative-text"]
    assert "peers: 4 of 0:30..2:00" in text and "retains 30% more than similar content; better than 75% of the 4 similar assets" in text
    assert "    0:45   0.000    0.000  +0.000" in text and "    0:30   0.600    0.000  +0.600" in text

    timeframes = results["timeframes"]["data"]
    assert timeframes["a"]["label"] == "1:days" and timeframes["b"]["label"] == "..".join(OLD_WINDOW)
    assert timeframes["b"]["total_views"] == 2 and timeframes["b"]["value"] == [1.0] * 15 + [0.0] * 45
    assert timeframes["difference"] == pytest.approx([0.0] * 15 + [-1.0] * 15 + [-0.6] * 15 + [0.0] * 15)

    pair = results["playback-ids"]["data"]
    assert (pair["a"]["label"], pair["b"]["label"]) == ("pbA", "pbB")
    assert pair["difference"] == [0.0] * 30 + [-1.0] * 15 + [0.0] * 15
    lines = results["compare-text"].splitlines()
    assert lines[0].startswith("a: pbA   views: 3") and lines[1].startswith("b: pbB   views: 2")
    assert "    0:30   1.000   0.000  -1.000" in lines


@pytest.mark.parametrize("args, message", [
    (("compare", "--playback-id", "pbA", "--against", "pbX"), "do not belong to the same registered asset"),
    (("compare", "--asset", "mine"), "--against-timeframe"),
    (("compare", "--asset", "mine", "--against-timeframe", "banana"), "--against-timeframe"),
    (("compare", "--asset", "mine", "--against", "nope"), "asset 'nope' not found"),
    (("relative", "--asset", "nope"), "asset 'nope' not found"),
    (("relative", "--asset", "mine", "--filter", "planet:mars"), "--filter"),
])
def test_errors_name_the_problem(loaded: tuple[Path, str], args: tuple[str, ...], message: str) -> None:
    db, env = loaded
    done = failing(*args, "--env", env, "--db", snapshot(db, "errors"), cwd=db.parent)
    assert message in done.stderr
