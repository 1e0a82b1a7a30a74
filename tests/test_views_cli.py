"""`moments views` and `moments view ID`, run for real as subprocesses against a DuckDB file."""

from __future__ import annotations

import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from moments import accounts
from moments.model import View
from moments.store.duckdb import DuckDBStore

from test_cli import moments

NOW_MS = int(time.time() * 1000)
HOUR_MS = 3_600_000
README_RANGES = ((0, 95_000), (300_000, 420_000), (60_000, 90_000))


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> dict:
    """Five views of "movie" (v0 newest) in one environment and one in another, then every command at once."""
    folder = tmp_path_factory.mktemp("views-cli")
    store = DuckDBStore(str(folder / "m.duckdb"))
    env = accounts.create_environment(store, "a")[0].environment_id
    other = accounts.create_environment(store, "b")[0].environment_id
    store.upsert_views(env, [View(f"v{i}", NOW_MS - (i + 1) * HOUR_MS, 1_800_000, README_RANGES, asset_id="movie",
                                  view_end_ms=NOW_MS, country="DE" if i == 2 else "US") for i in range(5)], NOW_MS)
    store.upsert_views(other, [View("secret", NOW_MS - HOUR_MS, 60_000, ((0, 60_000),), asset_id="movie",
                                    view_end_ms=NOW_MS)], NOW_MS)
    store.close()
    mine = ["--env", env]
    commands = {
        "page1": ["views", *mine, "--asset", "movie", "--limit", 2, "--json"],
        "all": ["views", *mine, "--asset", "movie", "--json"],
        "germany": ["views", *mine, "--asset", "movie", "--filter", "country:DE", "--json"],
        "table": ["views", *mine, "--asset", "movie", "--limit", 2],
        "path": ["view", "v3", *mine],
        "path-json": ["view", "v3", *mine, "--json"],
        # Failures.
        "other-env-view": ["view", "secret", *mine],
        "unknown-asset": ["views", *mine, "--asset", "nope"],
        "bad-cursor": ["views", *mine, "--asset", "movie", "--cursor", "!!"],
        "bad-limit": ["views", *mine, "--asset", "movie", "--limit", 0],
        "no-env": ["view", "v3", "--env", "nope"],
    }

    def run(name: str, args: list):
        db = folder / f"{name}.duckdb"
        shutil.copy(folder / "m.duckdb", db)  # DuckDB lets one process open a file
        return moments(*args, "--db", db, cwd=folder)

    with ThreadPoolExecutor(4) as pool:
        results = dict(zip(commands, pool.map(run, commands, commands.values())))
    # The page after page1, from page1's own cursor.
    cursor = json.loads(results["page1"].stdout)["next_cursor"]
    results["page2"] = run("page2", ["views", *mine, "--asset", "movie", "--limit", 2, "--cursor", cursor, "--json"])
    return results


def out(ran: dict, name: str) -> str:
    assert ran[name].returncode == 0, f"{name}: {ran[name].stderr}"
    return ran[name].stdout


def test_views_json_pages_like_the_api(ran):
    page1, page2, everything = (json.loads(out(ran, n)) for n in ("page1", "page2", "all"))
    assert [v["view_id"] for v in page1["data"]] == ["v0", "v1"] and page1["total_row_count"] == 5
    assert [v["view_id"] for v in page2["data"]] == ["v2", "v3"] and page2["next_cursor"]
    assert [v["view_id"] for v in everything["data"]] == ["v0", "v1", "v2", "v3", "v4"]
    assert everything["next_cursor"] is None and everything["data"][0]["ended"] == {"kind": "left", "at_ms": 90_000}
    assert [v["view_id"] for v in json.loads(out(ran, "germany"))["data"]] == ["v2"]


def test_views_table(ran):
    lines = out(ran, "table").splitlines()
    assert lines[0].startswith("views: 5") and "started (UTC)" in lines[1]
    assert lines[2].split()[2:] == ["4:05", "3:35", "2", "left", "at", "1:30", "US", "v0"]
    assert lines[-1].startswith("more: --cursor ")


def test_view_prints_the_path(ran):
    lines = out(ran, "path").splitlines()
    assert lines[0].startswith("view v3: asset movie, started ")
    assert lines[1:] == ["  0:00-1:35 play", "  seek 1:35 -> 5:00 (forward)", "  5:00-7:00 play",
                         "  seek 7:00 -> 1:00 (backward)", "  1:00-1:30 play", "ended: left at 1:30",
                         "watched 4:05 (3:35 unique), 2 seeks"]
    body = json.loads(out(ran, "path-json"))["data"]
    assert body["view_id"] == "v3" and len(body["path"]) == 5 and body["ranges"] == [list(r) for r in README_RANGES]


@pytest.mark.parametrize("name, needle", [
    ("other-env-view", "view 'secret' not found"), ("unknown-asset", "asset 'nope' not found"),
    ("bad-cursor", "--cursor"), ("bad-limit", "--limit"), ("no-env", "no environment 'nope'")])
def test_errors_name_the_problem(ran, name, needle):
    done = ran[name]
    assert done.returncode != 0 and done.stdout == "" and "Traceback" not in done.stderr
    assert needle in done.stderr, done.stderr
