"""Crash safety: the real server (`python -m moments serve`) is SIGKILLed at random moments
while views and beacons stream in, and restarted, again and again.

Every request that got a 2xx must be in the store after every restart, and at the end,
once the clients re-sent what got no answer (as mux-embed and a careful importer do),
every view must count exactly once in the heatmaps. The store must open cleanly each time.
"""

from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from moments import stats
from moments.engagement.heatmap import heatmap as heatmap_math
from moments.ingestion.folds import ViewFold
from moments.ingestion.pipeline import BeaconPipeline
from moments.model import Asset, Scope
from moments.stats.query import EngagementQuery
from moments.store.base import ViewQuery
from moments.store.duckdb import DuckDBStore

import reliability
from conftest import make_tenant, run_async
from reliability import Capture, ServerProcess, capture, heatmaps_equal, scenarios

KILLS = int(os.environ.get("MOMENTS_CRASH_KILLS", 12))
ASSET, DURATION_MS = "crash-asset", 60_000


def window() -> dict:
    """The last day and the next hour: beacon views start at their receive time (clock skew
    correction), which a window ending at the current second could still leave out."""
    now = int(time.time())
    return {"timeframe[]": [str(now - 86_400), str(now + 3600)]}


@dataclass
class Imports:
    """A client importing batches of new views; a batch without a 2xx is re-sent."""

    rng: random.Random
    auth: tuple[str, str]
    name: str = "imp"
    sent: dict[str, list[list[int]]] = field(default_factory=dict)  # view_id: ranges
    acked: set[str] = field(default_factory=set)
    pending: list[list[dict]] = field(default_factory=list)
    cut: int = 0  # requests that a kill cut off (outcome unknown to the client)

    def batch(self) -> list[dict]:
        now = int(time.time() * 1000)
        views = []
        for _ in range(self.rng.randint(1, 40)):
            view_id = f"{self.name}-{len(self.sent)}"
            ranges = sorted([s, s + self.rng.randint(1, 20_000)] for s in
                            (self.rng.randrange(0, DURATION_MS - 1) for _ in range(self.rng.randint(1, 4))))
            ranges = [[s, min(e, DURATION_MS)] for s, e in ranges]
            self.sent[view_id] = ranges
            start = now - self.rng.randint(60_000, 3_600_000)
            views.append({"view_id": view_id, "asset_id": ASSET, "view_start": start, "view_end": start + 90_000,
                          "duration_ms": DURATION_MS, "ranges": ranges})
        return views

    def run(self, base_url: str, stop: threading.Event) -> None:
        with httpx.Client(base_url=base_url, auth=self.auth, timeout=20) as client:
            while not stop.is_set():
                batch = self.pending.pop(0) if self.pending else self.batch()
                try:
                    response = client.post("/v1/views", json=batch)
                except httpx.TransportError:
                    self.pending.insert(0, batch)
                    self.cut += 1
                    return
                assert response.status_code == 200, response.text
                assert response.json()["data"]["accepted"] == len(batch)
                self.acked.update(v["view_id"] for v in batch)
                reliability.count("crash: import requests acknowledged")


@dataclass
class Players:
    """Players replaying captured mux-embed sessions; a POST without a 2xx is re-sent first."""

    rng: random.Random
    env_key: str
    name: str
    captures: list[Capture] = field(default_factory=list)
    cursor: int = 0  # next request of the last capture
    acked_events: set[tuple[str, int]] = field(default_factory=set)
    cut: int = 0

    def next_request(self):
        if not self.captures or self.cursor == len(self.captures[-1].requests):
            tag = f"{self.name}-{len(self.captures)}"
            self.captures.append(capture(self.rng.choice(scenarios()), tag, self.env_key))
            self.cursor = 0
        return self.captures[-1].requests[self.cursor]

    def run(self, base_url: str, stop: threading.Event) -> None:
        with httpx.Client(base_url=base_url, timeout=20) as client:
            while not stop.is_set():
                request = self.next_request()
                try:
                    response = client.post("/", content=request.body, headers=request.headers)
                except httpx.TransportError:
                    self.cut += 1
                    return
                assert response.status_code == 200, response.text
                self.acked_events.update(request.events)
                self.cursor += 1
                reliability.count("crash: beacon requests acknowledged")

    def finish(self, base_url: str) -> None:
        """Send the rest of the last session (the player goes on after the restart)."""
        with httpx.Client(base_url=base_url, timeout=20) as client:
            while self.captures and self.cursor < len(self.captures[-1].requests):
                request = self.captures[-1].requests[self.cursor]
                assert client.post("/", content=request.body, headers=request.headers).status_code == 200
                self.acked_events.update(request.events)
                self.cursor += 1


def stream_until_killed(server: ServerProcess, clients: list, rng: random.Random) -> None:
    stop = threading.Event()
    failures: list[BaseException] = []

    def run(client) -> None:
        try:
            client.run(server.base_url, stop)
        except BaseException as error:  # reported below, with the server's log
            failures.append(error)

    threads = [threading.Thread(target=run, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    time.sleep(rng.uniform(0.2, 2.0))
    server.kill()
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, f"{failures!r}\n{server.log()[-3000:]}"


def check_acknowledged_are_stored(db_path, tenant, imports: Imports, players: list[Players]) -> None:
    """After a kill, in a fresh process's view of the file and the beacon journal beside it
    (applied as a restarted server would): every acknowledged write is there, and the
    rollups agree with the raw views they summarise."""
    store = DuckDBStore(str(db_path))
    BeaconPipeline(store, Path(f"{db_path}.journal")).close()  # applies every durable record
    try:
        env = tenant.environment_id
        for view_id in imports.acked:
            view = store.get_view(env, view_id)
            assert view is not None, f"acknowledged view {view_id} lost"
            assert [list(r) for r in view.ranges] == imports.sent[view_id]
        acked_events = set().union(*(p.acked_events for p in players))
        folds = {view_id: ViewFold.from_json(fold)
                 for view_id, fold in store.view_folds(env, sorted({v for v, _ in acked_events})).items()}
        lost = {(v, n) for v, n in acked_events if v not in folds or not folds[v].has(n)}
        assert not lost, f"{len(lost)} acknowledged beacon events lost"
        environment = store.get_environment(env)
        now_s = int(time.time())
        for scope, scope_id in [(Scope.ASSET, ASSET), (Scope.VIDEO, "vid-1"), (Scope.VIDEO, "vid-2")]:
            if not store.scope_exists(env, scope, scope_id):
                continue
            window = (now_s - 86_400, now_s + 3600)
            result = stats.engagement(store, EngagementQuery(environment, scope, scope_id, window, (), now_s * 1000, 3600))
            raw = store.view_ranges(ViewQuery(env, scope, scope_id, window[0] * 1000, window[1] * 1000,
                                              now_s * 1000 - 3_600_000))
            assert result.total_views == raw.n_views
            if raw.n_views:
                assert result.values.tolist() == heatmap_math(raw, result.duration_ms).tolist()
    finally:
        store.close()


def test_sigkill_at_random_moments_loses_nothing_acknowledged(tmp_path):
    seed = int(os.environ.get("MOMENTS_CRASH_SEED", time.time_ns() % 10**6))
    rng = random.Random(seed)
    db_path = tmp_path / "crash.duckdb"
    store = DuckDBStore(str(db_path))
    tenant = make_tenant(store, env_key="crashenv")
    store.put_asset(tenant.environment_id, Asset(ASSET, DURATION_MS))
    store.close()

    imports = [Imports(rng, tenant.auth, f"imp{i}") for i in range(2)]
    players = [Players(rng, "crashenv", f"player{i}") for i in range(2)]
    server = ServerProcess(db_path, tmp_path / "server.log")
    try:
        for cycle in range(KILLS):
            if cycle % 4 == 3:
                # Killed while it starts: opening, replaying the log, checkpointing.
                server.start(wait=False)
                time.sleep(rng.uniform(0.0, 2.5))
                server.kill()
            else:
                server.start()
                with httpx.Client(base_url=server.base_url, auth=tenant.auth) as client:
                    body = client.get(f"/data/v1/engagement/assets/{ASSET}/heatmap", params=window()).json()
                acked = sum(len(i.acked) for i in imports)
                assert acked <= body["data"]["total_views"] <= sum(len(i.sent) for i in imports), (seed, cycle)
                stream_until_killed(server, imports + players, rng)
            reliability.count("crash: SIGKILLs survived")
            assert "Traceback" not in server.log(), server.log()[-3000:]
        all_imports = Imports(rng, tenant.auth)
        for client in imports:
            all_imports.sent.update(client.sent)
            all_imports.acked.update(client.acked)
        check_acknowledged_are_stored(db_path, tenant, all_imports, players)

        # The clients re-send what got no 2xx and finish their sessions.
        server.start()
        for client in imports:
            for batch in client.pending:
                response = httpx.post(f"{server.base_url}/v1/views", json=batch, auth=tenant.auth, timeout=20)
                assert response.status_code == 200 and response.json()["data"]["accepted"] == len(batch)
        for player in players:
            player.finish(server.base_url)
        reliability.count("crash: requests cut off by a kill and re-sent",
                          sum(c.cut for c in imports + players))
        with httpx.Client(base_url=server.base_url, auth=tenant.auth) as client:
            asset = client.get(f"/data/v1/engagement/assets/{ASSET}/heatmap", params=window()).json()
            heatmaps_equal(asset, list(all_imports.sent.values()), DURATION_MS)
            by_video: dict[str, list] = {}
            for capture_ in (c for p in players for c in p.captures):
                for video_id, ranges in capture_.views.values():
                    by_video.setdefault(video_id, []).append(ranges)
            for video_id, ranges in by_video.items():
                body = client.get(f"/data/v1/engagement/videos/{video_id}/heatmap", params=window()).json()
                heatmaps_equal(body, ranges, 60_000)
        reliability.count("crash: views counted exactly once",
                          len(all_imports.sent) + sum(len(r) for r in by_video.values()))
    finally:
        server.stop()
    assert "Traceback" not in server.log(), server.log()[-3000:]


class FailingOnce:
    """A store whose `method` raises once, as a crash or a full disk in the middle of
    applying a batch would end it."""

    def __init__(self, store: DuckDBStore, method: str) -> None:
        self._store, self._method, self.failed = store, method, False

    def __getattr__(self, name: str):
        attribute = getattr(self._store, name)
        if name != self._method or self.failed:
            return attribute

        def fail(*args, **kwargs):
            self.failed = True
            raise OSError("killed")
        return fail


def test_a_batch_that_fails_to_apply_is_applied_again(store, tmp_path):
    """When writing a batch's views fails, its journal records stay unapplied and the
    assembler applies them again: the view ends exactly as if nothing had failed, counted once."""
    from moments.ingestion.beacons import decode_body
    from moments.ingestion.useragent import client_from_headers

    tenant = make_tenant(store, env_key="crashenv")
    session = capture("seek-rewatch-destroy", "retry", "crashenv")
    (view_id, (video_id, ranges)), = session.views.items()
    failing = FailingOnce(store, "upsert_beacon_views")
    pipeline = BeaconPipeline(failing, tmp_path / "journal")

    async def post_all() -> None:
        for request in session.requests:
            await pipeline.accept(decode_body(request.body), client_from_headers("", ""), int(time.time() * 1000))

    run_async(post_all())
    deadline = time.monotonic() + 30
    while pipeline.backlog_bytes() > 0:
        assert time.monotonic() < deadline, "the failed batch was never applied again"
        time.sleep(0.05)
    pipeline.close()
    assert failing.failed and pipeline.assembler.failures == 1
    view = store.get_view(tenant.environment_id, view_id)
    assert [list(r) for r in view.ranges] == ranges and view.view_end_ms is not None
    now_s = int(time.time())
    result = stats.engagement(store, EngagementQuery(store.get_environment(tenant.environment_id), Scope.VIDEO,
                                                     video_id, (now_s - 86_400, now_s + 3600), (), now_s * 1000, 3600))
    assert result.total_views == 1
