"""`moments env list`, `token list/revoke/rotate`, `assets list/get`, and what every command
owes a user: query and admin commands never create a store, --env says what it is, and
`heatmap --png` writes the picture with one line about it.

Commands run in this process (click's runner) against real DuckDB files; a token's fate is
checked against the real API, served from the store after the command changed it. The store
methods behind them run on every backend (tests/test_store_contract.py's).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import click
import httpx
import pytest
from click.testing import CliRunner, Result

from conftest import make_tenant, start_app
from moments.cli import main
from moments.ingestion.imports import import_records
from moments.model import Asset
from moments.store.duckdb import DuckDBStore
from test_cli import AUDIENCE, REGISTERED_MS
from test_cli_remote import SOURCES

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={name: None for name in SOURCES}, catch_exceptions=False)


def ok_json(*args: str) -> dict:
    result = cli(*args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


# --- environments and tokens -------------------------------------------------------------------

def test_env_list_shows_every_environment(tmp_path: Path) -> None:
    db = str(tmp_path / "m.duckdb")
    first = ok_json("env", "create", "shop", "--db", db)
    second = ok_json("env", "create", "blog", "--db", db, "--retention-days", "30")
    listed = ok_json("env", "list", "--db", db)["data"]
    assert [(e["environment_id"], e["name"], e["env_key"], e["retention_days"]) for e in listed] == [
        (first["environment_id"], "shop", first["env_key"], 100),
        (second["environment_id"], "blog", second["env_key"], 30)]
    assert all("token_secret" not in e for e in listed)
    text = cli("env", "list", "--db", db).stdout.splitlines()
    assert text[0].split() == ["environment_id", "env_key", "retention", "name"]
    assert text[1].split() == [first["environment_id"], first["env_key"], "100", "days", "shop"]
    assert text[2].split() == [second["environment_id"], second["env_key"], "30", "days", "blog"]


def test_token_list_revoke_and_rotate_as_the_api_sees_them(tmp_path: Path) -> None:
    db = str(tmp_path / "m.duckdb")
    created = ok_json("env", "create", "shop", "--db", db)
    env = created["environment_id"]
    reader = ok_json("token", "create", "--env", env, "--permissions", "read", "--db", db)
    admin = ok_json("token", "create", "--env", env, "--permissions", "read,write,admin", "--db", db)
    other_env = ok_json("env", "create", "elsewhere", "--db", db)

    listed = ok_json("token", "list", "--env", env, "--db", db)["data"]
    assert [(t["token_id"], t["permissions"]) for t in listed] == [
        (created["token_id"], ["read", "write"]), (reader["token_id"], ["read"]),
        (admin["token_id"], ["read", "write", "admin"])]
    assert all(t["environment_id"] == env and type(t["created_at"]) is int for t in listed)
    text = cli("token", "list", "--env", env, "--db", db).stdout
    assert re.search(rf"^{reader['token_id']}\s+read\s+\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d$", text, re.MULTILINE)
    store = DuckDBStore(db)
    hashes = [store.get_token(t["token_id"]).secret_hash for t in listed]
    store.close()
    for secret in [created["token_secret"], reader["token_secret"], admin["token_secret"], *hashes]:
        assert secret not in text  # never a secret, nor what it hashes to

    revoked = cli("token", "revoke", reader["token_id"], "--db", db)
    assert revoked.exit_code == 0 and revoked.stdout == f"revoked token {reader['token_id']} of environment {env}\n"
    rotated = ok_json("token", "rotate", admin["token_id"], "--db", db)
    assert rotated["token_id"] == admin["token_id"] and rotated["token_secret"] != admin["token_secret"]
    assert rotated["permissions"] == ["read", "write", "admin"] and rotated["environment_id"] == env
    assert [t["token_id"] for t in ok_json("token", "list", "--env", env, "--db", db)["data"]] == [
        created["token_id"], admin["token_id"]]
    # The other environment's token is its own.
    assert [t["token_id"] for t in ok_json("token", "list", "--env", other_env["environment_id"], "--db", db)["data"]] \
        == [other_env["token_id"]]

    # The API, served from the store afterwards: the revoked token and the old secret are refused.
    store = DuckDBStore(db)
    server = start_app(store)
    try:
        def status(token_id: str, secret: str) -> int:
            return httpx.get(f"{server.base_url}/v1/environment", auth=(token_id, secret), timeout=10).status_code

        assert status(reader["token_id"], reader["token_secret"]) == 401
        assert status(admin["token_id"], admin["token_secret"]) == 401
        assert status(admin["token_id"], rotated["token_secret"]) == 200
        assert status(created["token_id"], created["token_secret"]) == 200
    finally:
        server.stop()
        store.close()

    for args, message in [(["token", "revoke", reader["token_id"]], f"no token {reader['token_id']!r}"),
                          (["token", "rotate", "nope"], "no token 'nope'"),
                          (["token", "list", "--env", "nope"], "no environment 'nope'")]:
        result = cli(*args, "--db", db)
        assert result.exit_code == 1 and message in result.stderr, (args, result.stderr)


# --- assets ------------------------------------------------------------------------------------

def test_assets_get_and_list(tmp_path: Path) -> None:
    db = tmp_path / "m.duckdb"
    store = DuckDBStore(str(db))
    env = make_tenant(store).environment_id
    store.put_asset(env, Asset("trailer", REGISTERED_MS, ("pb-one", "pb-two")))
    store.put_asset(env, Asset("no-views-yet", 30_000, (), "https://example.com/a.mp4"))
    import_records(store, env, AUDIENCE)
    store.close()
    mine = ["--env", env, "--db", str(db)]

    assert ok_json("assets", "get", "no-views-yet", *mine) == {
        "asset_id": "no-views-yet", "duration_ms": 30_000, "playback_ids": [],
        "playback_url": "https://example.com/a.mp4", "chapters": []}
    assert cli("assets", "get", "trailer", *mine).stdout == (
        "asset_id: trailer\nduration_ms: 60000\nplayback_ids: ['pb-one', 'pb-two']\nplayback_url: None\nchapters: 0\n")
    missing = cli("assets", "get", "nope", *mine)
    assert missing.exit_code == 1 and missing.stderr == "Error: asset 'nope' not found\n"

    # Most viewed first, counting the stored views that carry the id (as GET /v1/assets does):
    # 272 of the audience's 302 name the asset, none the other.
    assert ok_json("assets", "list", *mine) == {
        "data": [{"id": "trailer", "views": 272, "registered": True},
                 {"id": "no-views-yet", "views": 0, "registered": True}], "total_row_count": 2}
    assert ok_json("assets", "list", *mine, "--search", "VIEWS", "--limit", "1") == {
        "data": [{"id": "no-views-yet", "views": 0, "registered": True}], "total_row_count": 1}
    assert cli("assets", "list", *mine, "--limit", "1").stdout.splitlines() == [
        "   views  registered  asset", "     272  yes         trailer", "1 of 2 assets"]


# --- what every command owes ---------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["heatmap", "--env", "e", "--asset", "a"],
    ["export", "views", "--env", "e", "--output", "views.parquet"],
    ["view", "v1", "--env", "e"],
    ["import", "IMPORT_FILE", "--env", "e"],
    ["token", "list", "--env", "e"],
    ["token", "create", "--env", "e"],
    ["token", "revoke", "t"],
    ["env", "list"],
    ["env", "origins", "e", "example.com"],
    ["assets", "put", "a", "--env", "e", "--duration-ms", "1000"],
])
def test_only_serve_and_env_create_make_a_store(tmp_path: Path, args: list[str]) -> None:
    typo = tmp_path / "mistyped.duckdb"
    (tmp_path / "views.json").write_text("[]")
    args = [str(tmp_path / "views.json") if a == "IMPORT_FILE" else a for a in args]
    for flags in (["--db", str(typo)], ["--store", f"duckdb://{typo}"]):
        result = cli(*args, *flags)
        assert result.exit_code == 1 and result.stderr.startswith(f"Error: no store at {typo} "), result.stderr
        assert list(tmp_path.iterdir()) == [tmp_path / "views.json"]  # nothing appeared


def every_command(group: click.Group, path: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from every_command(command, path + (name,))
        else:
            yield path + (name,), command


def test_every_env_option_says_what_it_is() -> None:
    checked = 0
    for path, command in every_command(main):
        for param in command.params:
            if "--env" in getattr(param, "opts", ()):
                assert param.help and "environment ID" in param.help, path
                checked += 1
    assert checked >= 15


def test_heatmap_png_writes_the_picture_and_one_line(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    db = tmp_path / "m.duckdb"
    store = DuckDBStore(str(db))
    env = make_tenant(store).environment_id
    store.put_asset(env, Asset("trailer", REGISTERED_MS, ("pb-one", "pb-two")))
    import_records(store, env, AUDIENCE)
    store.close()
    picture = tmp_path / "trailer.png"
    started = time.time()
    result = cli("heatmap", "--env", env, "--db", str(db), "--asset", "trailer", "--timeframe", "30:days",
                 "--png", str(picture))
    assert result.exit_code == 0, result.stderr
    # One line (not the table of buckets): what the picture shows, over how long.
    assert result.stdout == f"wrote {picture}: asset trailer, 300 views over 30 days, 1 peak and 1 cold spot\n"
    assert picture.read_bytes().startswith(PNG_MAGIC) and picture.stat().st_mtime >= started - 1
    # The table is still there when asked for, beside the picture.
    both = cli("heatmap", "--env", env, "--db", str(db), "--asset", "trailer", "--png", str(picture), "--json")
    assert both.exit_code == 0 and json.loads(both.stdout)["data"]["total_views"] == 300
