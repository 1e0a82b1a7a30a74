"""Backup and restore of the DuckDB store while it serves (docs/deploy.md, "Backups").

A real server on a real DuckDB file takes imports (one thread, batch after batch, noting the
answers after each) and replayed mux-embed beacons while an admin token asks it for a backup
(`moments backup --url`). The copy is restored the documented way (the file put where a new
server opens it) and must answer every heatmap and hotspots query exactly as the original did
after the last batch the copy holds: each batch wholly in it or not at all, the batches
before it all there.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner, Result

from captures import SCENARIOS, captured_requests, replay, wait_for_ingest
from conftest import Server, Tenant, free_port, make_tenant, start_app
from moments import accounts
from moments.cli import main
from moments.model import Asset
from moments.store.base import NO_ONLINE_BACKUP, Store
from moments.store.duckdb import DuckDBStore

NOW_MS = int(time.time() * 1000)
WINDOW = [str(NOW_MS // 1000 - 86_400), str(NOW_MS // 1000 + 60)]  # explicit: both servers ask the same
BATCH = 40  # views per import request: one transaction
MAX_BATCHES = 300
QUERIES = [f"/data/v1/engagement/{kind}/{scope_id}/{what}" for what in ("heatmap", "hotspots")
           for kind, scope_id in (("assets", "film"), ("videos", "film-video"), ("playback-ids", "film-pb"))]
SOURCES = ("MOMENTS_URL", "MUX_TOKEN_ID", "MUX_TOKEN_SECRET", "MOMENTS_DB", "MOMENTS_STORE")


def cli(*args: str, **env: str) -> Result:
    return CliRunner().invoke(main, list(args), env={name: None for name in SOURCES} | env, catch_exceptions=False)


def batch_of_views(k: int) -> list[dict]:
    """Batch k: views of one film that each watch a different stretch, so every batch moves the curve."""
    start = NOW_MS - 3_600_000 + k * 1000
    return [{"view_id": f"b{k}-{i}", "view_start": start, "view_end": start + 120_000, "duration_ms": 60_000,
             "ranges": [[(k * 7 + i) % 30 * 1000, 60_000 - (k + i) % 20 * 1000]],
             "asset_id": "film", "video_id": "film-video", "playback_id": "film-pb",
             "country": ["US", "FR", "JP"][i % 3]} for i in range(BATCH)]


def answers(server: Server, tenant: Tenant) -> dict[str, dict]:
    with server.client(tenant) as http:
        return {path: http.get(path, params={"timeframe[]": WINDOW}).json() for path in QUERIES}


def admin_of(store: Store, tenant: Tenant) -> tuple[str, str]:
    issued = accounts.issue_token(store, tenant.environment_id, ("read", "write", "admin"))
    return issued.token.token_id, issued.secret


def test_a_backup_taken_while_serving_restores_the_answers_of_its_moment(tmp_path: Path) -> None:
    store = DuckDBStore(str(tmp_path / "moments.duckdb"))
    tenant = make_tenant(store, env_key="testenv")
    store.put_asset(tenant.environment_id, Asset("film", 60_000, ("film-pb",)))
    server = start_app(store)
    admin_id, admin_secret = admin_of(store, tenant)
    with server.client() as http:
        replay(http, captured_requests("seek-rewatch-destroy"))  # beacon views, applied

    after_batch: list[dict] = [answers(server, tenant)]  # after_batch[k]: the answers once k batches are in
    backup_done = threading.Event()
    errors: list[str] = []

    def import_batches() -> None:
        with server.client(tenant) as http:
            for k in range(MAX_BATCHES):
                if backup_done.is_set() and k >= batches_at_backup[0] + 3:  # a few more after it
                    return
                response = http.post("/v1/views", json=batch_of_views(k))
                if response.status_code != 200 or response.json()["data"]["rejected"]:
                    errors.append(response.text)
                    return
                after_batch.append(answers(server, tenant))

    def send_beacons() -> None:  # the same capture again and again: acknowledged, absorbed as duplicates
        with server.client() as http:
            while not backup_done.is_set():
                for request in captured_requests("seek-rewatch-destroy"):
                    response = http.post("/", content=request["body"].encode(), headers={
                        k: v for k, v in request["headers"] if k.lower() in ("content-type", "user-agent")})
                    if response.status_code != 200:
                        errors.append(f"beacon answered {response.status_code}")
                        return

    batches_at_backup = [0]
    threads = [threading.Thread(target=import_batches), threading.Thread(target=send_beacons)]
    for thread in threads:
        thread.start()
    while len(after_batch) < 4 and not errors:  # a few batches in before the backup
        time.sleep(0.01)
    result = cli("backup", "--url", server.base_url, "--json", MUX_TOKEN_ID=admin_id, MUX_TOKEN_SECRET=admin_secret)
    batches_at_backup[0] = len(after_batch) - 1
    backup_done.set()
    for thread in threads:
        thread.join(timeout=60)
    server.stop()
    store.close()
    assert not errors, errors
    assert result.exit_code == 0, result.output
    written = Path(json.loads(result.output)["data"]["path"])
    assert written.parent == tmp_path / "moments.duckdb.backups" and written.name.startswith("moments-")
    assert not list(written.parent.glob("*.partial*"))

    # Restore: the copy where a fresh server opens it.
    restored_path = tmp_path / "restored" / "moments.duckdb"
    restored_path.parent.mkdir()
    written.replace(restored_path)
    with duckdb.connect(str(restored_path), read_only=True) as copy:
        imported = [row[0] for row in copy.execute("SELECT view_id FROM views WHERE view_id LIKE 'b%-%'").fetchall()]
    batches = {view_id.split("-")[0] for view_id in imported}
    k = len(batches)
    assert batches == {f"b{i}" for i in range(k)}, "the copy holds a prefix of the batches"
    assert len(imported) == k * BATCH, "each batch wholly or not at all"
    assert 3 <= k < len(after_batch) - 1, (k, len(after_batch))  # taken while imports went on
    restored = DuckDBStore(str(restored_path))
    server = start_app(restored)
    try:
        assert answers(server, tenant) == after_batch[k]  # the same tokens work, the same answers
        with server.client(tenant) as http:
            beacon_views = http.get("/v1/videos", params={"limit": 100}).json()["data"]
        assert {row["id"] for row in beacon_views} > {"film-video"}  # the beacon views came along
    finally:
        server.stop()
        restored.close()


@pytest.fixture
def served(tmp_path: Path):
    store = DuckDBStore(str(tmp_path / "moments.duckdb"))
    tenant = make_tenant(store)
    server = start_app(store, backup_dir=str(tmp_path / "copies"))
    yield server, tenant, tmp_path
    server.stop()
    store.close()


def test_backups_need_an_admin_token_and_go_to_the_configured_folder(served) -> None:
    server, tenant, tmp_path = served
    with server.client(tenant) as http:  # read+write, no admin
        refused = http.post("/v1/backup")
        assert refused.status_code == 403 and refused.json()["error"]["type"] == "forbidden"
        assert http.post("/v1/backup", params={"path": "/tmp/x"}).status_code in (400, 403)
    assert not (tmp_path / "copies").exists()
    admin = admin_of(server.store, tenant)
    with server.client() as http:
        assert http.post("/v1/backup", params={"path": "/tmp/x"}, auth=admin).status_code == 400
        first = http.post("/v1/backup", auth=admin)
        second = http.post("/v1/backup", auth=admin)
    assert first.status_code == second.status_code == 201
    paths = [Path(r.json()["data"]["path"]) for r in (first, second)]
    assert paths[0] != paths[1] and all(p.parent == tmp_path / "copies" and p.is_file() for p in paths)
    assert first.json()["data"]["bytes"] == paths[0].stat().st_size
    copy = DuckDBStore(str(paths[1]))
    try:
        assert [e.environment_id for e in copy.environments()] == [tenant.environment_id]
        assert copy.get_token(admin[0]) is not None
    finally:
        copy.close()


def test_a_backup_folder_that_cannot_be_made_is_a_clear_error(tmp_path: Path) -> None:
    store = DuckDBStore(str(tmp_path / "moments.duckdb"))
    tenant = make_tenant(store)
    (tmp_path / "taken").write_text("a file where the folder should be")
    server = start_app(store, backup_dir=str(tmp_path / "taken"))
    try:
        with server.client() as http:
            answer = http.post("/v1/backup", auth=admin_of(store, tenant))
            assert answer.status_code == 500 and answer.json()["error"]["type"] == "backup_failed"
            assert answer.json()["error"]["messages"][0].startswith("the backup was not written: ")
            assert http.get("/healthz").status_code == 200  # and the server goes on
    finally:
        server.stop()
        store.close()
    assert (tmp_path / "taken").read_text() == "a file where the folder should be"


def test_backup_from_the_file_when_the_server_is_stopped(tmp_path: Path) -> None:
    db = tmp_path / "moments.duckdb"
    store = DuckDBStore(str(db))
    tenant = make_tenant(store)
    store.put_asset(tenant.environment_id, Asset("film", 60_000, ("film-pb",)))
    store.close()
    out = tmp_path / "copy.duckdb"
    done = cli("backup", str(out), "--db", str(db))
    assert done.exit_code == 0, done.output
    assert done.output.startswith(f"wrote {out}")
    copy = DuckDBStore(str(out))
    try:
        assert copy.get_asset(tenant.environment_id, "film") == Asset("film", 60_000, ("film-pb",))
    finally:
        copy.close()
    again = cli("backup", str(out), "--db", str(db))
    assert again.exit_code == 1 and "exists" in again.output
    assert cli("backup", "--db", str(db)).exit_code == 2  # no OUT, no --url
    nowhere = cli("backup", str(tmp_path / "other.duckdb"), "--db", str(tmp_path / "missing.duckdb"))
    assert nowhere.exit_code == 1 and "no store at" in nowhere.output


def test_the_cli_names_the_held_store_and_a_refused_token(tmp_path: Path) -> None:
    store = DuckDBStore(str(tmp_path / "moments.duckdb"))
    tenant = make_tenant(store)
    server = start_app(store)
    try:
        # Another process (DuckDB lets this one open the file twice): the server holds it, so ask the server.
        held = subprocess.run([sys.executable, "-m", "moments", "backup", str(tmp_path / "copy.duckdb"),
                               "--db", str(tmp_path / "moments.duckdb")], capture_output=True, text=True, timeout=60)
        assert held.returncode == 1 and "held by process" in held.stderr and "--url" in held.stderr, held.stderr
        refused = cli("backup", "--url", server.base_url, MUX_TOKEN_ID=tenant.token_id,
                      MUX_TOKEN_SECRET=tenant.token_secret)
        assert refused.exit_code == 1 and "403" in refused.output
        unreachable = cli("backup", "--url", f"http://127.0.0.1:{free_port()}", MUX_TOKEN_ID=tenant.token_id,
                          MUX_TOKEN_SECRET=tenant.token_secret)
        assert unreachable.exit_code == 1 and "cannot reach" in unreachable.output
    finally:
        server.stop()
        store.close()
    assert not (tmp_path / "copy.duckdb").exists() and not (tmp_path / "moments.duckdb.backups").exists()


def test_a_clickhouse_store_says_it_has_no_online_backup(tmp_path: Path) -> None:
    pytest.importorskip("chdb")
    from moments.store import open_store

    store = open_store(f"chdb://{tmp_path / 'chdb'}")
    tenant = make_tenant(store)
    server = start_app(store)
    try:
        with server.client() as http:
            answer = http.post("/v1/backup", auth=admin_of(store, tenant))
        assert answer.status_code == 501
        assert answer.json() == {"error": {"type": "not_implemented", "messages": [NO_ONLINE_BACKUP]}}
    finally:
        server.stop()
        store.close()
    offline = cli("backup", str(tmp_path / "copy.duckdb"), "--store", f"chdb://{tmp_path / 'chdb'}")
    assert offline.exit_code == 1 and NO_ONLINE_BACKUP in offline.output
    assert not (tmp_path / "copy.duckdb").exists()


def test_a_backup_holds_every_beacon_acknowledged_before_it(tmp_path: Path) -> None:
    store = DuckDBStore(str(tmp_path / "moments.duckdb"))
    tenant = make_tenant(store, env_key="testenv")
    admin = admin_of(store, tenant)
    server = start_app(store)
    requests = [request for scenario in SCENARIOS for request in captured_requests(scenario)]
    with server.client() as http:
        for request in requests:  # each acknowledged (journaled); applied a moment later
            headers = {k: v for k, v in request["headers"] if k.lower() in ("content-type", "user-agent")}
            assert http.post("/", content=request["body"].encode(), headers=headers).status_code == 200
        backup = http.post("/v1/backup", auth=admin)  # at once after the last acknowledgement
        wait_for_ingest(http)
    server.stop()
    beacon_ids = [row["view_id"] for batch in store.export_views(tenant.environment_id, 0, 2**62, in_progress=True)
                  for row in batch.to_pylist()]
    folds = store.view_folds(tenant.environment_id, beacon_ids)
    store.close()
    assert backup.status_code == 201 and len(folds) == 7  # the captures hold 7 views
    copy = DuckDBStore(backup.json()["data"]["path"])
    try:
        assert copy.view_folds(tenant.environment_id, beacon_ids) == folds
    finally:
        copy.close()
