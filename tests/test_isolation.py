"""Isolation between environments, endpoint by endpoint, and secrets at rest.

Environment B (an admin token, a read token, its env key) tries to read and to change
environment A's data through every endpoint of the OpenAPI document, and the beacon
collector. It must see nothing of A, change nothing of A, and get answers that do not
tell A's ids from ids that exist nowhere. A copy of the DuckDB file holds no usable secret.
"""

from __future__ import annotations

import base64
import re
import shutil
import time

import duckdb
import httpx

from moments import accounts
from moments.api.app import create_app

import reliability
from reliability import capture

NOW_MS = int(time.time() * 1000)
A_IDS = {"assets": ["a-asset", "a-only-asset"], "videos": ["a-video", "vid-1", "a/video two"],
         "playback-ids": ["apb1", "apb2"], "views": ["a-view-0", "a-view-29"]}
VOLATILE_HEADERS = {"date", "x-ratelimit-remaining", "content-length"}


def a_views() -> list[dict]:
    views = []
    for i in range(30):
        start = NOW_MS - (i + 1) * 600_000
        views.append({"view_id": f"a-view-{i}", "asset_id": ["a-asset", "a-only-asset"][i % 2],
                      "playback_id": ["apb1", "apb2"][i % 2], "video_id": ["a-video", "a/video two"][i % 2],
                      "view_start": start, "view_end": start + 60_000, "duration_ms": 60_000,
                      "ranges": [[0, 10_000 + i * 1000], [30_000, 31_000 + i * 500]]})
    return views


def a_rows(store, environment_id: str) -> list:
    """Everything stored for environment A."""
    rows = []
    with store._lock:
        for table in ("environments", "tokens", "assets", "playback_ids", "views", "view_folds", "rollups",
                      "unrolled_views"):
            rows.append(sorted(map(str, store._exec(f"SELECT * FROM {table} WHERE environment_id = ?",
                                                    [environment_id]))))
    return rows


def engagement_paths() -> list[str]:
    """Every GET path of the document that takes an id (engagement, layers, assets, playback IDs)."""
    document = create_app(None).openapi()
    paths = [p for p, ops in document["paths"].items() if "get" in ops and "{" in p]
    assert len(paths) >= 11, paths
    return paths


def fill(template: str, identifier: str) -> str:
    template = template.replace("{file}", "heatmap.csv")  # exports: a real file, so only the id varies
    return re.sub(r"\{[^}]+\}", identifier.replace("/", "%2F"), template)


def kind_of(template: str) -> str:
    # The content kind first: /v1/engagement/assets/{ID}/views lists an asset's views.
    return next(k for k in ("playback-ids", "assets", "videos", "views") if f"/{k}/" in template)


def same_answer(theirs: httpx.Response, nowhere: httpx.Response) -> None:
    """B cannot tell A's id from one that exists nowhere: same status, body and headers."""
    assert theirs.status_code == nowhere.status_code
    assert theirs.content == nowhere.content
    strip = lambda r: {k: v for k, v in r.headers.items() if k not in VOLATILE_HEADERS}  # noqa: E731
    assert strip(theirs) == strip(nowhere)


def reads(client: httpx.Client) -> dict:
    """Everything A's token can read of A: the snapshot compared before and after B's attempts."""
    out = {}
    for template in engagement_paths():
        for identifier in A_IDS[kind_of(template)]:
            url = fill(template, identifier)
            if url.startswith(("/data", "/v1/engagement")):
                url += "?timeframe[]=" + str(NOW_MS // 1000 - 86_400) + "&timeframe[]=" + str(NOW_MS // 1000 + 60)
            response = client.get(url)
            out[url] = (response.status_code, response.content)
    for kind in ("assets", "videos", "playback-ids"):
        out[kind] = client.get(f"/v1/{kind}").content
    return out


def test_environment_b_can_neither_read_nor_change_a(server):
    a, b = server.tenant("a", env_key="envkeya"), server.tenant("b", env_key="envkeyb")
    admin_b = accounts.issue_token(server.store, b.environment_id, ("admin",))
    reader_b = accounts.issue_token(server.store, b.environment_id, ("read",))
    b_tokens = [(admin_b.token.token_id, admin_b.secret), (reader_b.token.token_id, reader_b.secret), b.auth]
    with server.client(a) as client:
        assert client.put("/v1/assets/a-asset", json={"duration_ms": 60_000, "playback_ids": ["apb1"],
                                                      "playback_url": "https://a.example/a.m3u8"}).status_code == 200
        response = client.post("/v1/views", json=a_views())
        assert response.json()["data"]["accepted"] == 30
        for request in capture("seek-rewatch-destroy", "a", "envkeya").requests:
            assert client.post("/", content=request.body, headers=request.headers).status_code == 200
        before = reads(client)
    rows_before = a_rows(server.store, a.environment_id)
    attempts = 0

    # Reads: every endpoint with an id, every B token, Basic and Bearer.
    for auth in b_tokens:
        with server.client() as client:
            for header in ({"Authorization": "Basic " + base64.b64encode(":".join(auth).encode()).decode()},
                           {"Authorization": f"Bearer {auth[0]}:{auth[1]}"}):
                for template in engagement_paths():
                    for identifier in A_IDS[kind_of(template)]:
                        nowhere = "z" * len(identifier)
                        same_answer(client.get(fill(template, identifier), headers=header),
                                    client.get(fill(template, nowhere), headers=header))
                        attempts += 1
                for kind in ("assets", "videos", "playback-ids"):
                    listed = client.get(f"/v1/{kind}", headers=header)
                    assert listed.status_code == 200 and listed.json() == {"data": [], "total_row_count": 0}
                    for identifier in A_IDS[kind] + ["a-"]:
                        same_answer(client.get(f"/v1/{kind}", params={"search": identifier}, headers=header),
                                    client.get(f"/v1/{kind}", params={"search": "zzz"}, headers=header))
                        attempts += 1
                # No parameter or header picks another environment.
                assert client.get("/data/v1/engagement/assets/a-asset/heatmap",
                                  params={"environment_id": a.environment_id}, headers=header).status_code == 400
                assert client.get("/v1/assets/a-asset", headers={**header, "X-Environment": a.environment_id,
                                                                 "X-Env-Key": "envkeya"}).status_code == 404
                attempts += 2

    # A's token id with B's secret, and with none that fits.
    with server.client() as client:
        for auth in [(a.token_id, admin_b.secret), (a.token_id, b.token_secret), (a.token_id, "")]:
            assert client.get("/v1/assets", auth=auth).status_code == 401
            attempts += 1

    # Writes: B stores views, assets and beacons under A's ids, view ids and playback IDs.
    with server.client() as client:
        auth = (admin_b.token.token_id, admin_b.secret)
        taken = client.put("/v1/assets/a-asset", json={"duration_ms": 1000, "playback_ids": ["apb1", "apb2"]}, auth=auth)
        fresh = client.put("/v1/assets/z-asset", json={"duration_ms": 1000, "playback_ids": ["zpb1", "zpb2"]}, auth=auth)
        assert taken.status_code == fresh.status_code == 200  # A's playback IDs are not "taken" for B
        assert taken.json()["data"]["playback_ids"] == ["apb1", "apb2"]
        hijack = [{**v, "ranges": [[50_000, 60_000]], "duration_ms": 120_000} for v in a_views()]
        assert client.post("/v1/views", json=hijack, auth=auth).json()["data"]["accepted"] == 30
        assert client.post("/v1/views", json=hijack, auth=(reader_b.token.token_id, reader_b.secret)).status_code == 403
        for request in capture("seek-rewatch-destroy", "a", "envkeyb").requests:  # A's view ids, B's env key
            assert client.post("/", content=request.body, headers=request.headers).status_code == 200
        attempts += 2 + 30 + 30 + 5
        # B sees what it wrote (so the writes happened), and only that.
        mine = client.get("/data/v1/engagement/assets/a-asset/heatmap", auth=auth).json()["data"]
        assert mine["total_views"] == 30 and mine["duration_ms"] == 1000  # by asset id or its playback IDs
        assert client.get("/v1/assets/a-asset", auth=auth).json()["data"]["playback_url"] is None

    with server.client(a) as client:
        assert reads(client) == before
    assert a_rows(server.store, a.environment_id) == rows_before
    # Operational endpoints carry no environment's data.
    with server.client() as client:
        text = client.get("/metrics").text + client.get("/healthz").text
        assert not any(identifier in text for ids in A_IDS.values() for identifier in ids)
    reliability.count("isolation: cross-environment attempts refused", attempts)


def test_a_copied_database_file_holds_no_usable_secret(server, tmp_path):
    tenant = server.tenant("victim", env_key="victimkey")
    extra = accounts.issue_token(server.store, tenant.environment_id, ("admin",))
    secrets = [tenant.token_secret, extra.secret]
    with server.client(tenant) as client:
        assert client.get("/v1/assets").status_code == 200
    # Copied while the server runs, with its write-ahead log: what a leak would take.
    copy = tmp_path / "leaked.duckdb"
    shutil.copy(server.store.path, copy)
    wal = server.store.path + ".wal"
    if __import__("os").path.exists(wal):
        shutil.copy(wal, str(copy) + ".wal")
    raw = copy.read_bytes() + (copy.with_name("leaked.duckdb.wal").read_bytes()
                                if copy.with_name("leaked.duckdb.wal").exists() else b"")
    for secret in secrets:
        for form in (secret, base64.b64encode(secret.encode()).decode(), secret[:20]):
            assert form.encode() not in raw
    leaked = duckdb.connect(str(copy))
    try:
        tables = [t for (t,) in leaked.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        values = " ".join(str(row) for table in tables for row in leaked.execute(f"SELECT * FROM {table}").fetchall())
        stored = dict(leaked.execute("SELECT token_id, secret_hash FROM tokens").fetchall())
    finally:
        leaked.close()
    assert not any(secret in values for secret in secrets)
    assert stored[tenant.token_id] == accounts.hash_secret(tenant.token_secret)  # SHA-256 of a 256-bit secret
    with server.client() as client:
        for token_id, secret_hash in stored.items():  # what the file holds does not sign in
            for auth in [(token_id, secret_hash), (token_id, secret_hash.upper())]:
                assert client.get("/v1/assets", auth=auth).status_code == 401
                reliability.count("isolation: cross-environment attempts refused")
            response = client.get("/v1/assets", headers={"Authorization": f"Bearer {token_id}:{secret_hash}"})
            assert response.status_code == 401


def test_secrets_are_compared_in_constant_time(monkeypatch):
    calls = []
    real = accounts.hmac.compare_digest

    def spy(a, b):
        calls.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(accounts.hmac, "compare_digest", spy)
    digest = accounts.hash_secret("s" * 43)
    assert accounts.secret_matches("s" * 43, digest) and not accounts.secret_matches("t", digest)
    assert calls == [(64, 64), (64, 64)]  # digests of equal length, whatever was sent
