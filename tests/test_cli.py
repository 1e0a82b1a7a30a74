"""The `moments` command, run for real: a subprocess of this venv's Python against a DuckDB file.

Every test goes through `python -m moments ...` exactly as a user would, and checks what
the command prints, its exit status, and what it stored (read back through the command,
or through the store once the command has exited and released the file). Only setup that
`env create` already covers (a fresh environment) is done in-process, to save time.

Each command start costs most of a second (imports), so independent commands run side by
side, each on its own DuckDB file or a copy of one (DuckDB lets one process open a file).
"""

from __future__ import annotations

import csv
import json
import math
import os
import pty
import re
import socket
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, TypeVar

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from moments import accounts
from moments.store.duckdb import DuckDBStore

# --- running the command -------------------------------------------------------------


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the variables that would pick another store."""
    env = {k: v for k, v in os.environ.items() if k not in ("MOMENTS_DB", "MOMENTS_STORE")}
    env.update(extra)
    return env


def moments(*args: Any, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "moments", *map(str, args)],
        cwd=cwd, env=env or clean_env(), capture_output=True, text=True, timeout=120,
    )


def ok(*args: Any, cwd: Path, env: dict[str, str] | None = None) -> str:
    """stdout of a command that must succeed."""
    done = moments(*args, cwd=cwd, env=env)
    assert done.returncode == 0, f"moments {' '.join(map(str, args))} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def ok_json(*args: Any, cwd: Path, env: dict[str, str] | None = None) -> dict:
    """The single JSON object a --json command prints."""
    out = ok(*args, "--json", cwd=cwd, env=env)
    lines = out.strip().splitlines()
    assert len(lines) == 1, f"expected one JSON line, got:\n{out}"
    value = json.loads(lines[0])
    assert isinstance(value, dict)
    return value


def partly_rejected(*args: Any, cwd: Path) -> str:
    """stdout of an import that stored some records and rejected others: exit status 3."""
    done = moments(*args, cwd=cwd)
    assert done.returncode == 3, f"moments {' '.join(map(str, args))}: exit {done.returncode}:\n{done.stderr}"
    return done.stdout


def failing(*args: Any, cwd: Path) -> subprocess.CompletedProcess:
    done = moments(*args, cwd=cwd)
    assert done.returncode != 0, f"moments {' '.join(map(str, args))} should fail:\n{done.stdout}"
    assert "Traceback" not in done.stderr, done.stderr
    return done


T = TypeVar("T")


def in_parallel(*jobs: Callable[[], T]) -> list[T]:
    """Run independent jobs (each a command on its own DuckDB file) side by side.

    DuckDB lets one process at a time open a file, so jobs never share a file.
    """
    with ThreadPoolExecutor(max(2, os.cpu_count() or 2)) as pool:
        return list(pool.map(lambda job: job(), jobs))


def snapshot(db: Path, name: str) -> Path:
    """A copy of a closed DuckDB file, to query it in parallel or as it was at this point."""
    copy = db.with_name(f"{db.stem}-{name}.duckdb")
    shutil.copyfile(db, copy)
    wal = db.with_name(db.name + ".wal")
    if wal.exists():
        shutil.copyfile(wal, copy.with_name(copy.name + ".wal"))
    return copy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- test data ---------------------------------------------------------------------

NOW_MS = int(time.time() * 1000)
REPORTED_MS = 61_000  # what the players report
REGISTERED_MS = 60_000  # what `assets put` registers: wins for asset and playback-id queries
N_AUDIENCE = 300


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat()


def audience() -> list[dict]:
    """300 completed views of asset 'trailer' (2 days old), plus 2 that must not count.

    The audience decays steadily; a third of those still watching skip 20..24 s (a cold
    spot) and a third of those gone by 40 s come back for 40..44 s (a hot spot).
    Every 10th view carries only its playback ID, no asset ID.
    """
    views = []
    for i in range(N_AUDIENCE):
        stop = int(5000 + i * 55000 / N_AUDIENCE)
        ranges = [[0, stop]]
        if i % 3 == 0 and stop > 24000:
            ranges = [[0, 20000], [24000, stop]]
        if i % 3 == 1 and stop < 40000:
            ranges.append([40000, 44000])
        start = NOW_MS - 2 * 86_400_000 + i * 1000
        view = {
            "view_id": f"v{i:04d}",
            "asset_id": None if i % 10 == 9 else "trailer",
            "playback_id": "pb-one" if i % 2 == 0 else "pb-two",
            "video_id": "film" if i % 3 == 0 else None,
            "view_start": start,
            "view_end": iso(start + stop + 1000),
            "duration_ms": REPORTED_MS,
            "ranges": ranges,
            "sdk_name": "mux-embed" if i == 0 else None,
            "sdk_version": "5.16.0" if i == 0 else None,
            "country": "FR" if i % 7 == 0 else None,
        }
        views.append(view)
    start = NOW_MS - 86_400_000
    # A player too old to report playback ranges, and a view still in progress.
    views.append({"view_id": "x-old-sdk", "asset_id": "trailer", "playback_id": "pb-one", "video_id": "film",
                  "view_start": start, "view_end": iso(start + 60000), "duration_ms": REPORTED_MS,
                  "ranges": [[0, 60000]], "sdk_name": "mux-embed", "sdk_version": "5.14.0", "country": None})
    views.append({"view_id": "x-open", "asset_id": "trailer", "playback_id": "pb-one", "video_id": "film",
                  "view_start": start, "view_end": None, "duration_ms": REPORTED_MS,
                  "ranges": [[0, 60000]], "sdk_name": None, "sdk_version": None, "country": None})
    return views


AUDIENCE = audience()
COUNTED = [v for v in AUDIENCE if not v["view_id"].startswith("x-")]
FIELDS = list(AUDIENCE[0])


def reference_heatmap(views: list[dict], duration_ms: int) -> list[float]:
    """The documented definition, computed the slow obvious way."""
    n_buckets = min(1000, max(10, math.ceil(duration_ms / 1000)))
    width = duration_ms / n_buckets
    totals = [0.0] * n_buckets
    for view in views:
        merged: list[list[int]] = []
        for start, end in sorted((max(0, s), min(duration_ms, e)) for s, e in view["ranges"]):
            if end <= start:
                continue
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        for i in range(n_buckets):
            lo, hi = i * width, (i + 1) * width
            totals[i] += sum(max(0.0, min(e, hi) - max(s, lo)) for s, e in merged) / width
    return [t / len(views) for t in totals]


def without_none(view: dict) -> dict:
    return {k: v for k, v in view.items() if v is not None}


def write_json(path: Path, views: list[dict]) -> Path:
    path.write_text(json.dumps([without_none(v) for v in views]))
    return path


def write_ndjson(path: Path, views: list[dict]) -> Path:
    path.write_text("".join(json.dumps(without_none(v)) + "\n" for v in views))
    return path


def write_csv(path: Path, views: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        for v in views:
            writer.writerow({k: json.dumps(x) if k == "ranges" else ("" if x is None else x) for k, x in v.items()})
    return path


def write_parquet(path: Path, views: list[dict], ranges_as_json: bool) -> Path:
    strings = ("view_id", "asset_id", "playback_id", "video_id", "view_end", "sdk_name", "sdk_version", "country")
    columns = {name: pa.array([v[name] for v in views], pa.string()) for name in strings}
    columns["view_start"] = pa.array([v["view_start"] for v in views], pa.int64())
    columns["duration_ms"] = pa.array([v["duration_ms"] for v in views], pa.int64())
    if ranges_as_json:
        columns["ranges"] = pa.array([json.dumps(v["ranges"]) for v in views], pa.string())
    else:
        columns["ranges"] = pa.array([v["ranges"] for v in views], pa.list_(pa.list_(pa.int64())))
    pq.write_table(pa.table(columns), path)
    return path


WRITERS = {
    "json": lambda d, views: write_json(d / "views.json", views),
    "ndjson": lambda d, views: write_ndjson(d / "views.ndjson", views),
    "csv": lambda d, views: write_csv(d / "views.csv", views),
    "parquet": lambda d, views: write_parquet(d / "views.parquet", views, ranges_as_json=False),
    "parquet-json-ranges": lambda d, views: write_parquet(d / "views.parquet", views, ranges_as_json=True),
}


def new_environment(db: Path, name: str = "test") -> str:
    """A fresh environment, made in-process (env create has its own tests); the file is closed after."""
    store = DuckDBStore(str(db))
    try:
        return accounts.create_environment(store, name)[0].environment_id
    finally:
        store.close()


def assert_heatmap_shape(body: dict) -> None:
    assert set(body) >= {"total_row_count", "timeframe", "data"}
    assert isinstance(body["total_row_count"], int)
    assert len(body["timeframe"]) == 2 and all(type(t) is int for t in body["timeframe"])
    assert type(body["data"]["total_views"]) is int
    assert isinstance(body["data"]["value"], list)
    assert all(isinstance(x, float) and 0.0 <= x <= 1.0 for x in body["data"]["value"])


def assert_hotspots_shape(body: dict) -> None:
    assert set(body) >= {"total_row_count", "timeframe", "data"}
    assert type(body["total_row_count"]) is int
    assert len(body["timeframe"]) == 2 and all(type(t) is int for t in body["timeframe"])
    assert type(body["data"]["total_views"]) is int
    for h in body["data"]["hotspots"]:
        assert set(h) >= {"start_ms", "end_ms", "score"}
        assert type(h["start_ms"]) is int and type(h["end_ms"]) is int and h["start_ms"] < h["end_ms"]
        assert isinstance(h["score"], float) and 0.0 <= h["score"] <= 1.0


# --- environments and tokens ---------------------------------------------------------


def test_env_create_prints_one_json_object_with_a_working_token(tmp_path: Path) -> None:
    db = tmp_path / "m.duckdb"
    created, human = in_parallel(
        lambda: ok_json("env", "create", "shop", "--db", db, cwd=tmp_path),
        lambda: ok("env", "create", "other", "--db", tmp_path / "human.duckdb", cwd=tmp_path),
    )
    for key in ("environment_id", "env_key", "token_id", "token_secret"):
        assert isinstance(created[key], str) and created[key], key
    assert created["name"] == "shop"
    assert re.fullmatch(r"[a-z0-9]{26}", created["env_key"])
    assert sorted(created["permissions"]) == ["read", "write"]

    store = DuckDBStore(str(db))
    try:
        environment = store.get_environment(created["environment_id"])
        assert environment is not None and environment.env_key == created["env_key"]
        token = store.get_token(created["token_id"])
        assert token is not None and token.environment_id == created["environment_id"]
        assert accounts.secret_matches(created["token_secret"], token.secret_hash)
        assert token.allows("read") and token.allows("write") and not token.allows("admin")
    finally:
        store.close()

    # Without --json: readable key: value lines.
    assert re.search(r"^environment_id: [0-9a-f]+$", human, re.MULTILINE)
    assert re.search(r"^token_secret: \S+$", human, re.MULTILINE)


def environment_exists(db: Path, environment_id: str) -> bool:
    store = DuckDBStore(str(db))
    try:
        return store.get_environment(environment_id) is not None
    finally:
        store.close()


def test_where_the_db_is_when_db_is_omitted(tmp_path: Path) -> None:
    from_env, in_cwd = tmp_path / "from-env", tmp_path / "in-cwd"
    from_env.mkdir()
    in_cwd.mkdir()
    db = tmp_path / "named-by-env.duckdb"
    env = clean_env(MOMENTS_DB=str(db))
    by_variable, by_default = in_parallel(
        lambda: ok_json("env", "create", "via-env", cwd=from_env, env=env),
        lambda: ok_json("env", "create", "here", cwd=in_cwd),
    )
    # $MOMENTS_DB names the file ...
    assert environment_exists(db, by_variable["environment_id"])
    assert not (from_env / "moments.duckdb").exists()
    # ... and later commands find the environment there too.
    ok_json("token", "create", "--env", by_variable["environment_id"], cwd=from_env, env=env)
    # Without it, a file in the current folder.
    assert environment_exists(in_cwd / "moments.duckdb", by_default["environment_id"])


def test_token_create(tmp_path: Path) -> None:
    db, db_admin = tmp_path / "m.duckdb", tmp_path / "admin.duckdb"
    environment_id, admin_environment_id = new_environment(db), new_environment(db_admin)
    read, admin = in_parallel(
        lambda: ok_json("token", "create", "--env", environment_id, "--permissions", "read", "--db", db,
                        cwd=tmp_path),
        lambda: ok_json("token", "create", "--env", admin_environment_id, "--permissions", "read,write,admin",
                        "--db", db_admin, cwd=tmp_path),
    )
    for issued in (read, admin):
        assert isinstance(issued["token_id"], str) and issued["token_id"]
        assert isinstance(issued["token_secret"], str) and len(issued["token_secret"]) >= 32
    assert read["token_id"] != admin["token_id"] and read["token_secret"] != admin["token_secret"]

    store = DuckDBStore(str(db))
    try:
        token = store.get_token(read["token_id"])
        assert token.environment_id == environment_id and token.permissions == ("read",)
        assert accounts.secret_matches(read["token_secret"], token.secret_hash)
        assert not token.allows("write")
    finally:
        store.close()
    store = DuckDBStore(str(db_admin))
    try:
        token = store.get_token(admin["token_id"])
        assert token.environment_id == admin_environment_id and token.allows("admin")
        assert accounts.secret_matches(admin["token_secret"], token.secret_hash)
    finally:
        store.close()


def test_token_create_errors(tmp_path: Path) -> None:
    cases = [  # (--env, --permissions, what stderr must say)
        (None, "fly", ["--permissions", "read, write, admin"]),
        (None, "read,fly", ["--permissions", "read, write, admin"]),
        (None, "", ["--permissions", "read, write, admin"]),
        ("no-such-env", "read", ["no environment 'no-such-env'"]),
    ]

    def attempt(k: int, environment: str | None, permissions: str) -> subprocess.CompletedProcess:
        db = tmp_path / f"m{k}.duckdb"
        environment_id = new_environment(db)
        return failing("token", "create", "--env", environment or environment_id, "--permissions", permissions,
                       "--db", db, cwd=tmp_path)

    results = in_parallel(*(lambda k=k, c=c: attempt(k, c[0], c[1]) for k, c in enumerate(cases)))
    for (_, permissions, messages), done in zip(cases, results):
        for message in messages:
            assert message in done.stderr, (permissions, done.stderr)
        assert done.stdout == ""


# --- assets --------------------------------------------------------------------------


def test_assets_put(tmp_path: Path) -> None:
    db = tmp_path / "m.duckdb"
    environment_id = new_environment(db)
    put = ok_json("assets", "put", "movie-1", "--env", environment_id, "--duration-ms", 90500,
                  "--playback-id", "P1", "--playback-id", "P2", "--db", db, cwd=tmp_path)
    assert put["asset_id"] == "movie-1"
    assert put["duration_ms"] == 90500
    assert put["playback_ids"] == ["P1", "P2"]
    assert put["playback_url"] is None

    # Putting it again replaces it: P1 is no longer one of its playback IDs.
    again = ok_json("assets", "put", "movie-1", "--env", environment_id, "--duration-ms", 91000,
                    "--playback-id", "P2", "--playback-id", "P3",
                    "--playback-url", "https://stream.example/movie-1.m3u8", "--db", db, cwd=tmp_path)
    assert again["playback_ids"] == ["P2", "P3"]

    store = DuckDBStore(str(db))
    try:
        asset = store.get_asset(environment_id, "movie-1")
        assert asset.duration_ms == 91000
        assert asset.playback_ids == ("P2", "P3")
        assert asset.playback_url == "https://stream.example/movie-1.m3u8"
        assert store.asset_for_playback_id(environment_id, "P1") is None
        assert store.asset_for_playback_id(environment_id, "P3").asset_id == "movie-1"
    finally:
        store.close()


def test_assets_put_errors(tmp_path: Path) -> None:
    cases = [  # (--env, options, what stderr must say)
        (None, ["--duration-ms", "0"], "duration_ms must be in 1..2592000000, got 0"),
        (None, ["--duration-ms", "1000", "--playback-id", "a/b"], "playback_ids[] must not contain '/'"),
        (None, ["--duration-ms", "1000", "--playback-url", "ftp://x"], "playback_url must be an http(s) URL"),
        ("nope", ["--duration-ms", "1000"], "no environment 'nope'"),
    ]

    def attempt(k: int, environment: str | None, options: list[str]) -> tuple[subprocess.CompletedProcess, bool]:
        db = tmp_path / f"m{k}.duckdb"
        environment_id = new_environment(db)
        done = failing("assets", "put", "movie-1", "--env", environment or environment_id, *options, "--db", db,
                       cwd=tmp_path)
        store = DuckDBStore(str(db))
        try:
            stored = store.get_asset(environment_id, "movie-1") is not None
        finally:
            store.close()
        return done, stored

    results = in_parallel(*(lambda k=k, c=c: attempt(k, c[0], c[1]) for k, c in enumerate(cases)))
    for (_, options, message), (done, stored) in zip(cases, results):
        assert message in done.stderr, (options, done.stderr)
        assert not stored, options


# --- imports -------------------------------------------------------------------------


def test_every_format_imports_the_same_views(tmp_path: Path) -> None:
    def import_and_query(fmt: str) -> tuple[subprocess.CompletedProcess, dict]:
        folder = tmp_path / fmt
        folder.mkdir()
        db = folder / "m.duckdb"
        environment_id = new_environment(db)
        done = moments("import", WRITERS[fmt](folder, AUDIENCE), "--env", environment_id, "--db", db, "--json",
                       cwd=folder)
        assert done.returncode == 0, (fmt, done.stderr)
        return done, ok_json("heatmap", "--env", environment_id, "--asset", "trailer", "--db", db, cwd=folder)

    results = dict(zip(WRITERS, in_parallel(*(lambda fmt=fmt: import_and_query(fmt) for fmt in WRITERS))))

    # No asset is registered here: the asset's views are those naming it, and the duration
    # is what the players reported.
    named = [v for v in COUNTED if v["asset_id"] == "trailer"]
    expected = reference_heatmap(named, REPORTED_MS)
    for fmt, (done, body) in results.items():
        assert json.loads(done.stdout) == {"data": {"accepted": len(AUDIENCE), "rejected_total": 0, "rejected": []}}, fmt
        assert "Importing" not in done.stderr, fmt  # no progress bar for small files
        assert body["total_row_count"] == 1, fmt
        assert body["data"]["total_views"] == len(named) == 270, fmt
        assert body["data"]["value"] == pytest.approx(expected, abs=1e-9), fmt
    # And so the same heatmap from every format.
    first = results["json"][1]["data"]
    for fmt, (_, body) in results.items():
        assert body["data"]["duration_ms"] == first["duration_ms"], fmt
        assert body["data"]["value"] == pytest.approx(first["value"], abs=1e-12), fmt


def test_import_reports_bad_rows_and_stores_only_good_ones(tmp_path: Path) -> None:
    db = tmp_path / "m.duckdb"
    environment_id = new_environment(db)
    start = NOW_MS - 3 * 86_400_000

    def good(view_id: str, **extra) -> dict:
        view = {"view_id": view_id, "asset_id": "mixed", "view_start": start, "view_end": start + 10000,
                "duration_ms": 10000, "ranges": [[0, 10000]]}
        return {**view, **extra}

    lines = [
        json.dumps(good("m0")),
        '{"view_id": "broken", "asset_id": ',
        json.dumps({k: v for k, v in good("x").items() if k != "view_id"} | {"ranges": [[5000, 1000]]}),
        json.dumps(good("m1", ranges=[[0, 5000]])),
        json.dumps(good("g0", asset_id="ghost", duration_ms=0)),
        json.dumps(good("m-bad", colour="red", view_end=start - 1)),
        json.dumps({k: v for k, v in good("m-noid").items() if k != "asset_id"}),
        json.dumps(good("m2", view_start=iso(start), view_end=iso(start + 10000))),
    ]
    path = tmp_path / "mixed.ndjson"
    # A blank line after the first: no record, but a line (people count lines in their editor).
    path.write_text("\n".join(lines[:1] + [""] + lines[1:]) + "\n")

    # --json: the API's body (its index counts records from 0); the exit status says some were rejected.
    result = json.loads(partly_rejected("import", path, "--env", environment_id, "--db", db, "--json", cwd=tmp_path))["data"]
    assert result["accepted"] == 3
    rejected = {r["index"]: r for r in result["rejected"]}
    assert sorted(rejected) == [1, 2, 4, 5, 6]
    assert rejected[1]["view_id"] is None
    assert any("line 3 is not valid JSON" in m for m in rejected[1]["messages"])
    assert rejected[2]["view_id"] is None
    assert "view_id is required" in rejected[2]["messages"]
    assert any(m.startswith("ranges[0] must satisfy 0 <= start_ms < end_ms") for m in rejected[2]["messages"])
    assert rejected[4]["view_id"] == "g0"
    assert "duration_ms must be in 1..2592000000, got 0" in rejected[4]["messages"]
    assert rejected[5]["view_id"] == "m-bad"
    assert "unknown field(s): colour" in rejected[5]["messages"]
    assert "view_end must not be before view_start" in rejected[5]["messages"]
    assert rejected[6]["messages"] == ["at least one of asset_id, playback_id, video_id is required"]

    after_first = snapshot(db, "after-first")
    ghost_check = snapshot(db, "ghost")

    # The same file again, without --json: a readable summary naming each rejected record by
    # its line in the file, counted from 1 as an editor does.
    human = partly_rejected("import", path, "--env", environment_id, "--db", db, cwd=tmp_path)
    assert re.match(r"accepted 3, rejected 5 in \d+\.\ds\n", human)
    assert human.splitlines()[1:] == [
        "  line 3: line 3 is not valid JSON: Expecting value: line 1 column 35 (char 34)",
        "  line 4: view_id is required; ranges[0] must satisfy 0 <= start_ms < end_ms <= 2592000000",
        "  line 6 (g0): duration_ms must be in 1..2592000000, got 0",
        "  line 7 (m-bad): unknown field(s): colour; view_end must not be before view_start",
        "  line 8 (m-noid): at least one of asset_id, playback_id, video_id is required",
    ]

    first, ghost, second = in_parallel(
        lambda: ok_json("heatmap", "--env", environment_id, "--asset", "mixed", "--db", after_first, cwd=tmp_path),
        lambda: failing("heatmap", "--env", environment_id, "--asset", "ghost", "--db", ghost_check, cwd=tmp_path),
        lambda: ok_json("heatmap", "--env", environment_id, "--asset", "mixed", "--db", db, cwd=tmp_path),
    )
    # Only the three good views are stored; nothing at all of the rejected 'ghost' view;
    # and importing the file twice still leaves three views.
    for body in (first, second):
        assert body["data"]["total_views"] == 3
        assert body["data"]["value"] == pytest.approx([1.0] * 5 + [2 / 3] * 5)
    assert "asset 'ghost' not found" in ghost.stderr


def test_csv_import_reports_bad_cells(tmp_path: Path) -> None:
    db = tmp_path / "m.duckdb"
    environment_id = new_environment(db)
    start = NOW_MS - 86_400_000
    path = tmp_path / "mixed.csv"
    path.write_text(
        "view_id,asset_id,view_start,view_end,duration_ms,ranges\n"
        f'c0,csv-asset,{start},{start + 9000},10000,"[[0, 10000]]"\n'
        f'c1,csv-asset,{start},{start + 9000},10000,"[[0, 10000]"\n'
        f'c2,csv-asset,{start},{start + 9000},ten,"[[0, 10000]]"\n'
        f'c3,csv-asset,{iso(start)},{iso(start + 9000)},10000,"[[0, 2000], [1000, 3000]]"\n'
    )
    result = json.loads(partly_rejected("import", path, "--env", environment_id, "--db", db, "--json", cwd=tmp_path))["data"]
    assert result["accepted"] == 2
    assert [(r["index"], r["view_id"]) for r in result["rejected"]] == [(1, "c1"), (2, "c2")]
    assert result["rejected"][0]["messages"] == ["ranges must be an array of [start_ms, end_ms] pairs"]
    # A value of the wrong type is a type error, not a missing field.
    assert result["rejected"][1]["messages"] == ["duration_ms: expected an integer, got 'ten'"]
    # In words: CSV lines counted from the header, line 1.
    human = partly_rejected("import", path, "--env", environment_id, "--db", db, cwd=tmp_path)
    assert human.splitlines()[1:] == ["  line 3 (c1): ranges must be an array of [start_ms, end_ms] pairs",
                                      "  line 4 (c2): duration_ms: expected an integer, got 'ten'"]
    body = ok_json("heatmap", "--env", environment_id, "--asset", "csv-asset", "--db", db, cwd=tmp_path)
    assert body["data"]["total_views"] == 2
    # c3's overlapping ranges count once: it watched 0..3 s.
    assert body["data"]["value"] == pytest.approx([1.0] * 3 + [0.5] * 7)


def test_reimport_is_idempotent_and_later_versions_replace(tmp_path: Path) -> None:
    db = tmp_path / "m.duckdb"
    environment_id = new_environment(db)
    start = NOW_MS - 86_400_000

    def view(view_id: str, ranges: list[list[int]]) -> dict:
        return {"view_id": view_id, "asset_id": "solo", "view_start": start, "view_end": start + 20000,
                "duration_ms": 10000, "ranges": ranges}

    def heatmap(at: Path) -> Callable[[], dict]:
        return lambda: ok_json("heatmap", "--env", environment_id, "--asset", "solo", "--db", at, cwd=tmp_path)

    first = write_json(tmp_path / "first.json", [view("r1", [[0, 10000]]), view("r2", [[0, 10000]])])
    for _ in range(2):
        assert ok_json("import", first, "--env", environment_id, "--db", db, cwd=tmp_path)["data"] == \
            {"accepted": 2, "rejected_total": 0, "rejected": []}
    twice = snapshot(db, "twice")

    # A later version of r2 replaces the earlier one.
    write_json(tmp_path / "second.json", [view("r2", [[0, 5000]])])
    ok_json("import", tmp_path / "second.json", "--env", environment_id, "--db", db, cwd=tmp_path)
    replaced = snapshot(db, "replaced")

    # Two versions of r1 in one file: the later line wins.
    write_ndjson(tmp_path / "third.ndjson", [view("r1", [[0, 10000]]), view("r1", [[0, 2000]])])
    ok_json("import", tmp_path / "third.ndjson", "--env", environment_id, "--db", db, cwd=tmp_path)

    after_twice, after_replace, after_third = in_parallel(heatmap(twice), heatmap(replaced), heatmap(db))
    assert after_twice["data"]["total_views"] == 2
    assert after_twice["data"]["value"] == pytest.approx([1.0] * 10)
    assert after_replace["data"]["total_views"] == 2
    assert after_replace["data"]["value"] == pytest.approx([1.0] * 5 + [0.5] * 5)
    assert after_third["data"]["total_views"] == 2
    assert after_third["data"]["value"] == pytest.approx([1.0] * 2 + [0.5] * 3 + [0.0] * 5)


def test_import_errors(tmp_path: Path) -> None:
    db = tmp_path / "m.duckdb"
    environment_id = new_environment(db)
    good = write_json(tmp_path / "v.json", COUNTED[:2])
    broken_json = tmp_path / "broken.json"
    broken_json.write_text('[{"view_id": "a",')
    broken_parquet = tmp_path / "broken.parquet"
    broken_parquet.write_bytes(b"not a parquet file at all")
    nowhere = tmp_path / "no-such-folder" / "m.duckdb"
    cases = [  # (file, --env, --db or None for a copy of db, what stderr must say)
        (good, "nope", None, "no environment 'nope'"),
        (broken_json, environment_id, None, "cannot read"),
        (broken_parquet, environment_id, None, "cannot read"),
        (tmp_path / "missing.json", environment_id, None, "does not exist"),
        (good, environment_id, nowhere, f"no store at {nowhere}"),
    ]
    results = in_parallel(*(
        lambda k=k, c=c: failing("import", c[0], "--env", c[1], "--db", c[2] or snapshot(db, str(k)), cwd=tmp_path)
        for k, c in enumerate(cases)
    ))
    for (path, _, _, message), done in zip(cases, results):
        assert message in done.stderr, (path.name, done.stderr)
        assert done.stdout == ""


def test_files_with_a_byte_order_mark(tmp_path: Path) -> None:
    """Excel's "CSV UTF-8" and many Windows tools write a UTF-8 BOM first: it is not part of the data."""
    views = COUNTED[:3]
    paths = [write_csv(tmp_path / "excel.csv", views), write_json(tmp_path / "win.json", views),
             write_ndjson(tmp_path / "win.ndjson", views)]
    for path in paths:
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())

    def import_one(path: Path) -> dict:
        db = tmp_path / f"{path.name}.duckdb"  # one store per file: the imports run in parallel
        return ok_json("import", path, "--env", new_environment(db), "--db", db, cwd=tmp_path)

    for path, result in zip(paths, in_parallel(*(lambda path=path: import_one(path) for path in paths))):
        assert result == {"data": {"accepted": 3, "rejected_total": 0, "rejected": []}}, path.name


def read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other side of the terminal is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_long_import_shows_a_progress_bar(tmp_path: Path) -> None:
    db = tmp_path / "m.duckdb"
    environment_id = new_environment(db)
    n = 60_000
    bad_index = 55_000  # in the second batch: its index must still be its place in the file
    path = tmp_path / "big.ndjson"
    with path.open("w") as f:
        for i in range(n):
            start = NOW_MS - 86_400_000 - i * 1000
            duration = 0 if i == bad_index else 20000
            f.write(json.dumps({"view_id": f"b{i}", "asset_id": "big", "view_start": start, "view_end": start + 20000,
                                "duration_ms": duration, "ranges": [[0, (i % 20 + 1) * 1000]]}) + "\n")

    # stderr is a terminal, as for a user at a shell, so click draws the bar itself.
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moments", "import", str(path), "--env", environment_id, "--db", str(db), "--json"],
            cwd=tmp_path, env=clean_env(), stdout=subprocess.PIPE, stderr=slave,
        )
        os.close(slave)
        terminal = read_all(master).decode("utf-8", "replace")
        stdout = proc.stdout.read().decode()
        assert proc.wait(timeout=120) == 3, terminal  # one record rejected
    finally:
        os.close(master)
    assert "Importing" in terminal
    assert re.search(r"\[#+-*\]", terminal), terminal
    assert "100%" in terminal
    result = json.loads(stdout)["data"]
    assert result["accepted"] == n - 1
    assert [(r["index"], r["view_id"]) for r in result["rejected"]] == [(bad_index, f"b{bad_index}")]

    body = ok_json("heatmap", "--env", environment_id, "--asset", "big", "--db", db, cwd=tmp_path)
    assert body["data"]["total_views"] == n - 1
    # View i watched the first (i % 20 + 1) seconds: second k was watched by those with i % 20 >= k.
    stored = [i for i in range(n) if i != bad_index]
    expected = [sum(1 for i in stored if i % 20 >= k) / len(stored) for k in range(20)]
    assert body["data"]["value"] == pytest.approx(expected, abs=1e-9)


# --- queries -------------------------------------------------------------------------

WINDOW_START_S = (NOW_MS - 2 * 86_400_000) // 1000  # the first 100 views started in [this, this + 100 s)


def query_commands(environment_id: str, other_environment_id: str) -> dict[str, list]:
    """Every query the tests below look at, by name; each runs once, on its own copy of the file."""
    mine = ["--env", environment_id]
    return {
        "heatmap-30d": ["heatmap", *mine, "--asset", "trailer", "--timeframe", "30:days", "--json"],
        "heatmap-default": ["heatmap", *mine, "--asset", "trailer", "--json"],
        "heatmap-1h": ["heatmap", *mine, "--asset", "trailer", "--timeframe", "1:hours", "--json"],
        "heatmap-window": ["heatmap", *mine, "--asset", "trailer", "--timeframe", WINDOW_START_S,
                           "--timeframe", WINDOW_START_S + 100, "--json"],
        "heatmap-200d": ["heatmap", *mine, "--asset", "trailer", "--timeframe", "200:days", "--json"],
        "heatmap-video": ["heatmap", *mine, "--video", "film", "--json"],
        "heatmap-playback": ["heatmap", *mine, "--playback-id", "pb-two", "--json"],
        "heatmap-no-views": ["heatmap", *mine, "--asset", "no-views-yet", "--json"],
        "heatmap-table": ["heatmap", *mine, "--asset", "trailer"],
        "hotspots-30d": ["hotspots", *mine, "--asset", "trailer", "--timeframe", "30:days", "--json"],
        "hotspots-asc-1": ["hotspots", *mine, "--asset", "trailer", "--timeframe", "30:days", "--json",
                           "--limit", 1, "--order-direction", "asc"],
        "hotspots-playback": ["hotspots", *mine, "--playback-id", "pb-one", "--limit", 1, "--json"],
        "hotspots-table": ["hotspots", *mine, "--asset", "trailer", "--order-direction", "asc"],
        # Failures.
        "heatmap-unknown": ["heatmap", *mine, "--asset", "nope", "--json"],
        "heatmap-other-env": ["heatmap", "--env", other_environment_id, "--asset", "trailer", "--json"],
        "hotspots-no-env": ["hotspots", "--env", "no-such-env", "--asset", "trailer", "--json"],
        "bad-timeframe": ["heatmap", *mine, "--asset", "trailer", "--timeframe", "banana", "--json"],
        "bad-timeframe-order": ["heatmap", *mine, "--asset", "trailer", "--timeframe", 20, "--timeframe", 10],
        "bad-limit": ["hotspots", *mine, "--asset", "trailer", "--limit", 0],
        "bad-order": ["hotspots", *mine, "--asset", "trailer", "--order-direction", "up"],
        "no-id": ["heatmap", *mine, "--json"],
        "two-ids": ["heatmap", *mine, "--asset", "trailer", "--video", "film", "--json"],
    }


@dataclass
class Queries:
    results: dict[str, subprocess.CompletedProcess]
    started_s: int
    finished_s: int

    def json(self, name: str) -> dict:
        done = self.results[name]
        assert done.returncode == 0, f"{name} failed:\n{done.stderr}"
        lines = done.stdout.strip().splitlines()
        assert len(lines) == 1, f"{name}: expected one JSON line, got:\n{done.stdout}"
        return json.loads(lines[0])

    def text(self, name: str) -> str:
        done = self.results[name]
        assert done.returncode == 0, f"{name} failed:\n{done.stderr}"
        return done.stdout

    def error(self, name: str) -> str:
        done = self.results[name]
        assert done.returncode != 0, f"{name} should fail:\n{done.stdout}"
        assert done.stdout == "" and "Traceback" not in done.stderr, done.stderr
        return done.stderr


@pytest.fixture(scope="module")
def queries(tmp_path_factory: pytest.TempPathFactory) -> Queries:
    """The audience imported through the CLI, asset 'trailer' registered (pb-one, pb-two), then queried."""
    folder = tmp_path_factory.mktemp("queries")
    db = folder / "m.duckdb"
    environment_id = ok_json("env", "create", "queries", "--db", db, cwd=folder)["environment_id"]
    other_environment_id = new_environment(db, "other")
    ok_json("assets", "put", "trailer", "--env", environment_id, "--duration-ms", REGISTERED_MS,
            "--playback-id", "pb-one", "--playback-id", "pb-two", "--db", db, cwd=folder)
    ok_json("assets", "put", "no-views-yet", "--env", environment_id, "--duration-ms", 30000, "--db", db, cwd=folder)
    imported = ok_json("import", write_json(folder / "audience.json", AUDIENCE), "--env", environment_id,
                       "--db", db, cwd=folder)
    assert imported["data"] == {"accepted": len(AUDIENCE), "rejected_total": 0, "rejected": []}

    commands = query_commands(environment_id, other_environment_id)
    started = int(time.time())
    outcomes = in_parallel(*(
        lambda name=name, args=args: moments(*args, "--db", snapshot(db, name), cwd=folder)
        for name, args in commands.items()
    ))
    return Queries(dict(zip(commands, outcomes)), started, int(time.time()))


def test_heatmap_json_is_the_mux_shape(queries: Queries) -> None:
    body = queries.json("heatmap-30d")
    assert_heatmap_shape(body)
    start, end = body["timeframe"]
    assert queries.started_s <= end <= queries.finished_s and end - start == 30 * 86_400
    assert body["total_row_count"] == 1
    # Every view of the asset, whichever playback ID it used (10% carry no asset ID), over
    # the registered duration: 60 one-second buckets.
    assert body["data"]["total_views"] == N_AUDIENCE
    assert len(body["data"]["value"]) == 60
    assert body["data"]["value"] == pytest.approx(reference_heatmap(COUNTED, REGISTERED_MS), abs=1e-9)


def test_heatmap_timeframes(queries: Queries) -> None:
    default = queries.json("heatmap-default")
    assert default["timeframe"][1] - default["timeframe"][0] == 7 * 86_400
    assert default["data"]["total_views"] == N_AUDIENCE

    # The views started two days ago: the last hour has none of them.
    empty = queries.json("heatmap-1h")
    assert_heatmap_shape(empty)
    assert empty["total_row_count"] == 0
    assert empty["data"]["total_views"] == 0 and empty["data"]["value"] == []

    # Two epoch seconds, as given.
    window = queries.json("heatmap-window")
    assert window["timeframe"] == [WINDOW_START_S, WINDOW_START_S + 100]
    assert window["data"]["total_views"] == 100
    assert window["data"]["value"] == pytest.approx(reference_heatmap(COUNTED[:100], REGISTERED_MS), abs=1e-9)

    # Past the environment's 100 days of retention: clamped, and the response says so.
    clamped = queries.json("heatmap-200d")
    assert clamped["timeframe"][1] - clamped["timeframe"][0] == 100 * 86_400


def test_heatmap_by_video_and_by_playback_id(queries: Queries) -> None:
    by_video = queries.json("heatmap-video")
    assert_heatmap_shape(by_video)
    film = [v for v in COUNTED if v["video_id"] == "film"]
    assert by_video["data"]["total_views"] == len(film) == 100
    # A video ID may span assets: its duration is what the players reported (61 buckets).
    assert len(by_video["data"]["value"]) == 61
    assert by_video["data"]["value"] == pytest.approx(reference_heatmap(film, REPORTED_MS), abs=1e-9)

    by_playback = queries.json("heatmap-playback")
    assert_heatmap_shape(by_playback)
    two = [v for v in COUNTED if v["playback_id"] == "pb-two"]
    assert by_playback["data"]["total_views"] == len(two) == 150
    # Its asset is registered: the registered duration applies (60 buckets).
    assert by_playback["data"]["value"] == pytest.approx(reference_heatmap(two, REGISTERED_MS), abs=1e-9)


def test_heatmap_of_a_registered_asset_without_views(queries: Queries) -> None:
    body = queries.json("heatmap-no-views")
    assert_heatmap_shape(body)
    assert body["total_row_count"] == 0
    assert body["data"]["total_views"] == 0 and body["data"]["value"] == []


def test_heatmap_table(queries: Queries) -> None:
    lines = queries.text("heatmap-table").splitlines()
    assert re.fullmatch(r"views: 300   timeframe: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \.\. "
                        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(7 days\)", lines[0])
    rows = lines[1:]
    assert len(rows) == 60
    expected = reference_heatmap(COUNTED, REGISTERED_MS)
    for i, (row, value) in enumerate(zip(rows, expected)):
        match = re.fullmatch(r"\s*(\d+):(\d\d)\s+(\d\.\d{3})\s+(#*)", row)
        assert match, row
        assert int(match.group(1)) * 60 + int(match.group(2)) == i
        assert float(match.group(3)) == pytest.approx(value, abs=0.0006)
        assert len(match.group(4)) == round(float(value) * 50)


def test_hotspots_json_is_the_mux_shape(queries: Queries) -> None:
    body = queries.json("hotspots-30d")
    assert_hotspots_shape(body)
    assert body["timeframe"][1] - body["timeframe"][0] == 30 * 86_400
    assert body["data"]["total_views"] == N_AUDIENCE
    spots = body["data"]["hotspots"]
    assert body["total_row_count"] == len(spots) == 2
    peak, cold = spots  # desc by default: the peak first
    assert peak["score"] > 0.5 > cold["score"]
    # The comeback at 40..44 s and the skip at 20..24 s, on one-second bucket edges.
    assert peak["start_ms"] < 44000 and peak["end_ms"] > 40000
    assert cold["start_ms"] < 24000 and cold["end_ms"] > 20000
    for h in spots:
        assert h["start_ms"] % 1000 == 0 and h["end_ms"] % 1000 == 0

    asc = queries.json("hotspots-asc-1")
    assert_hotspots_shape(asc)
    assert asc["total_row_count"] == 2  # before the limit
    assert asc["data"]["total_views"] == N_AUDIENCE
    assert asc["data"]["hotspots"] == [cold]


def test_hotspots_by_playback_id(queries: Queries) -> None:
    by_playback = queries.json("hotspots-playback")
    assert_hotspots_shape(by_playback)
    assert by_playback["data"]["total_views"] == 150
    assert len(by_playback["data"]["hotspots"]) == min(1, by_playback["total_row_count"])


def test_hotspots_table(queries: Queries) -> None:
    lines = queries.text("hotspots-table").splitlines()
    assert re.fullmatch(r"views: 300   hotspots: 2   timeframe: .* UTC \(7 days\)", lines[0])
    assert lines[1] == "score: 0.5 = as expected, higher = watched more (peak), lower = less (cold spot)"
    assert len(lines) == 4
    pattern = r"\s*\d+:\d\d - \d+:\d\d\s+(peak|cold)  score (\d\.\d{3})"
    rows = [re.fullmatch(pattern, line) for line in lines[2:]]
    assert all(rows), lines
    assert [row.group(1) for row in rows] == ["cold", "peak"]
    assert float(rows[0].group(2)) < 0.5 < float(rows[1].group(2))


def test_unknown_ids_exit_non_zero(queries: Queries) -> None:
    assert "asset 'nope' not found" in queries.error("heatmap-unknown")
    # Another environment's asset looks exactly like one that does not exist.
    assert "asset 'trailer' not found" in queries.error("heatmap-other-env")
    assert "no environment 'no-such-env'" in queries.error("hotspots-no-env")


@pytest.mark.parametrize("name, option", [
    ("bad-timeframe", "--timeframe"),
    ("bad-timeframe-order", "--timeframe"),
    ("bad-limit", "--limit"),
    ("bad-order", "--order-direction"),
])
def test_bad_query_options_name_the_option(queries: Queries, name: str, option: str) -> None:
    assert option in queries.error(name)


def test_query_needs_exactly_one_id(queries: Queries) -> None:
    for name in ("no-id", "two-ids"):
        assert "exactly one of --asset, --video, --playback-id" in queries.error(name)


# --- serve ---------------------------------------------------------------------------


def test_serve_answers_healthz_and_the_api(tmp_path: Path) -> None:
    db = tmp_path / "m.duckdb"
    created = ok_json("env", "create", "served", "--db", db, cwd=tmp_path)
    path = write_json(tmp_path / "views.json", AUDIENCE)
    ok_json("import", path, "--env", created["environment_id"], "--db", db, cwd=tmp_path)

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moments", "serve", "--db", str(db), "--port", str(port)],
        cwd=tmp_path, env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 30
        while True:
            assert proc.poll() is None, proc.communicate()[1].decode()
            try:
                health = httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.TransportError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        assert health.status_code == 200
        assert health.json()["status"] == "ok" and set(health.json()["ingest"]) == {"lag_s", "backlog_bytes"}

        # While the server holds the file, other commands cannot open it: a clear error that
        # names the fix, not a traceback ...
        done = failing("import", path, "--env", created["environment_id"], "--db", db, cwd=tmp_path)
        assert f"the store {db} is held by process {proc.pid} (a running `moments serve`?)" in done.stderr
        assert "pass --url http://HOST:PORT with --token-id/--token-secret (or set MOMENTS_URL" in done.stderr
        # ... and the fix works: the same command, asked of the server (token from the environment, as Mux's SDKs).
        token = clean_env(MUX_TOKEN_ID=created["token_id"], MUX_TOKEN_SECRET=created["token_secret"])
        again = moments("import", path, "--url", base, "--json", cwd=tmp_path, env=token)
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout) == {"data": {"accepted": len(AUDIENCE), "rejected_total": 0, "rejected": []}}
        # A command only the store can answer (a new environment) says to stop the server.
        assert "stop the server first" in failing("env", "create", "another", "--db", db, cwd=tmp_path).stderr

        # The token `env create` printed works against the server, which reads the same file.
        served = httpx.get(f"{base}/data/v1/engagement/assets/trailer/heatmap",
                           auth=(created["token_id"], created["token_secret"]), timeout=10)
        assert served.status_code == 200, served.text
        named = [v for v in COUNTED if v["asset_id"] == "trailer"]
        assert served.json()["data"]["total_views"] == len(named)
        assert served.json()["data"]["value"] == pytest.approx(reference_heatmap(named, REPORTED_MS), abs=1e-9)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
