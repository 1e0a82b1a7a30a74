"""`moments copy`: a real DuckDB file (imports, registered assets, mux-embed beacons replayed
through a real server, a view still in progress, two environments) copied into a real chdb
folder, and from there into a new DuckDB file. A server on each answers every request alike, with the same tokens; beacon views keep
their folds, so one in progress carries on in the copy where it was.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from captures import captured_requests, replay
from conftest import Tenant, make_tenant, start_app
from moments import accounts
from moments.cli import main
from moments.model import Asset, Chapter
from moments.store import open_store
from moments.store.duckdb import DuckDBStore

pytest.importorskip("chdb")

NOW_MS = int(time.time() * 1000)
WINDOW = [str(NOW_MS // 1000 - 86_400), str(NOW_MS // 1000 + 86_400)]
SCENARIO = "seek-rewatch-destroy"


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"MOMENTS_DB": None, "MOMENTS_STORE": None},
                              catch_exceptions=False)


def imported(view_id: str, start_s: int, ranges, end: bool = True, **ids) -> dict:
    start = NOW_MS - start_s * 1000
    return {"view_id": view_id, "view_start": start, "duration_ms": 60_000, "ranges": ranges,
            **({"view_end": start + 90_000} if end else {}), **ids}


def fill(store: DuckDBStore) -> tuple[Tenant, Tenant, tuple[str, str], list[str]]:
    """Two environments' worth of everything a store holds; the requests to compare."""
    tenant = make_tenant(store, env_key="testenv", allowed_origins=("https://*.example.com", "http://localhost:*"))
    other = make_tenant(store, "other")
    admin = accounts.issue_token(store, tenant.environment_id, ("read", "write", "admin"))
    store.put_asset(tenant.environment_id, Asset("film", 60_000, ("film-pb", "film-pb2"), "https://cdn.example/f.mp4",
                                                 (Chapter(0, 20_000, "One"), Chapter(25_000, None, "Two"))))
    server = start_app(store)
    try:
        with server.client(tenant) as http:
            views = [imported(f"v{i}", 3600 + i * 60, [[i % 7 * 5000, 40_000 + i % 5 * 4000]],
                              asset_id="film" if i % 3 else None, playback_id=["film-pb", "film-pb2", "loose"][i % 3],
                              video_id=f"vid-{i % 4}", country=["US", "FR"][i % 2], custom_3="plan-b")
                     for i in range(60)]
            views.append(imported("open", 30, [[0, 20_000]], end=False, asset_id="film"))  # in progress
            assert not http.post("/v1/views", json=views).json()["data"]["rejected"]
        with server.client() as http:
            replay(http, captured_requests(SCENARIO))  # beacon views with their folds
        with server.client(other) as http:
            assert http.post("/v1/views", json=[imported("x", 600, [[0, 5000]], asset_id="film")]).status_code == 200
    finally:
        server.stop()
    kinds = {"assets": ["film"], "videos": ["vid-0", "vid-1", "vid-2", "vid-3"], "playback-ids": ["film-pb", "loose"]}
    paths = [f"/data/v1/engagement/{kind}/{scope_id}/{what}" for kind, ids in kinds.items() for scope_id in ids
             for what in ("heatmap", "hotspots")]
    paths += [f"/v1/engagement/assets/film/{what}" for what in ("layers", "views", "dimensions", "chapters")]
    paths.append("/v1/engagement/videos/vid-1/chapters")  # the film's, through its views
    paths += ["/v1/assets", "/v1/videos", "/v1/playback-ids", "/v1/assets/film", "/v1/playback-ids/film-pb2",
              "/v1/views/open", "/v1/environment"]
    return tenant, other, (admin.token.token_id, admin.secret), paths


def answers(store, tenant: Tenant, other: Tenant, admin: tuple[str, str], paths: list[str]) -> dict:
    server = start_app(store)
    try:
        with server.client(tenant) as http:
            got = {path: (r.status_code, r.json()) for path in paths
                   for r in [http.get(path, params={"timeframe[]": WINDOW} if "engagement" in path else None)]}
            got["beacon videos"] = http.get("/v1/videos", params={"limit": 100}).json()
            got["tokens"] = http.get("/v1/tokens", auth=admin).json()
        with server.client(other) as http:
            got["other"] = http.get("/data/v1/engagement/assets/film/heatmap", params={"timeframe[]": WINDOW}).json()
    finally:
        server.stop()
    return got


def test_a_duckdb_store_copied_to_chdb_answers_alike(tmp_path: Path) -> None:
    db = tmp_path / "moments.duckdb"
    source = DuckDBStore(str(db))
    tenant, other, admin, paths = fill(source)
    expected = answers(source, tenant, other, admin, paths)
    environments = source.environments()
    beacon_ids = [row["view_id"] for batch in source.export_views(tenant.environment_id, 0, 2**62, in_progress=True)
                  for row in batch.to_pylist() if row["last_event_ms"] is not None]  # a beacon view's mark
    folds = source.view_folds(tenant.environment_id, beacon_ids)
    source.close()
    assert all(status == 200 for status, _ in (expected[p] for p in paths)), expected
    assert expected["/v1/views/open"][1]["data"]["ended"]["kind"] == "in_progress"
    beacon_views = sum(row["views"] for row in expected["beacon videos"]["data"]) - 60

    chdb = tmp_path / "chdb"
    done = cli("copy", "--from", f"duckdb://{db}", "--to", f"chdb://{chdb}")
    assert done.exit_code == 0, done.output
    assert done.output.splitlines()[-1] == (f"copied 2 environments, 3 tokens, 1 assets and {62 + beacon_views} views "
                                            f"from duckdb://{db} to chdb://{chdb}")

    target = open_store(f"chdb://{chdb}")
    try:
        assert sorted(target.environments(), key=str) == sorted(environments, key=str)  # env keys, origins too
        copied = answers(target, tenant, other, admin, paths)
        assert copied == expected
        # Beacon views keep their folds: one still playing carries on in the copy where it was.
        assert target.view_folds(tenant.environment_id, beacon_ids) == folds and len(folds) == beacon_views
    finally:
        target.close()

    # And back, from ClickHouse to a new DuckDB file.
    back = tmp_path / "back.duckdb"
    assert cli("copy", "--from", f"chdb://{chdb}", "--to", f"duckdb://{back}").exit_code == 0
    returned = DuckDBStore(str(back))
    try:
        assert answers(returned, tenant, other, admin, paths) == expected
    finally:
        returned.close()


def test_copy_refuses_a_target_that_holds_data(tmp_path: Path) -> None:
    source, target = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    for path in (source, target):
        store = DuckDBStore(str(path))
        make_tenant(store)
        store.close()
    refused = cli("copy", "--from", str(source), "--to", f"duckdb://{target}")
    assert refused.exit_code == 1 and "already holds environments" in refused.output
    missing = cli("copy", "--from", str(tmp_path / "nothing.duckdb"), "--to", f"duckdb://{tmp_path / 'c.duckdb'}")
    assert missing.exit_code == 1 and "no store at" in missing.output
    assert not (tmp_path / "c.duckdb").exists()
    same = cli("copy", "--from", str(source), "--to", str(source))
    assert same.exit_code == 2
