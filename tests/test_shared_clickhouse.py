"""Several processes (machines) taking beacons into one ClickHouse database: nothing lost,
nothing counted twice, when the one applying them dies midway and another takes over.

Two ClickHouse stores on one chdb database stand in for two machines (as in the store
contract suite), each with its own journal root and beacon pipeline: its door journals the
POSTs it gets, its forwarder sends them to the shared inbox, and whichever holds the
assembly lease applies the inbox. Captured mux-embed sessions (fresh view ids per player)
are split POST by POST between the two. The lease holder dies right after a batch's view
writes, before it saves its cursors, with records of its own still unforwarded in its
journal; the other takes over, and the dead one is later restarted on its journal.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from moments import stats
from moments.ingestion.beacons import decode_body
from moments.ingestion.pipeline import BeaconPipeline
from moments.ingestion.useragent import client_from_headers
from moments.model import Scope
from moments.stats.query import EngagementQuery

from conftest import make_tenant, run_async
from reliability import BeaconRequest, capture, expected_heatmap, scenarios
from test_rollups import raw_result

pytest.importorskip("chdb")

LEASE_MS = 5_000  # short, so a takeover happens within the test's seconds


def open_store(folder: Path):
    from moments.store.clickhouse import ClickHouseStore
    from moments.store.executor import ChdbExecutor

    return ClickHouseStore(ChdbExecutor(str(folder)), lease_settle_s=0.05, assembly_lease_ms=LEASE_MS)


class CutOffAfterWrites:
    """A store whose process loses the database (it dies, or its network goes) right after its
    `writes`-th beacon view write returned: from then on every call fails."""

    def __init__(self, store, writes: int) -> None:
        self._store, self._left = store, writes
        self.died = threading.Event()

    def __getattr__(self, name: str):
        if self.died.is_set():
            raise OSError("the database is out of reach")
        attribute = getattr(self._store, name)
        if name != "upsert_beacon_views":
            return attribute

        def write_then_die(*args, **kwargs):
            refused = attribute(*args, **kwargs)
            self._left -= 1
            if self._left <= 0:
                self.died.set()
                raise OSError("killed after writing views, before saving the cursors")
            return refused
        return write_then_die


def post(pipeline: BeaconPipeline, request: BeaconRequest) -> None:
    run_async(pipeline.accept(decode_body(request.body), client_from_headers("", ""), int(time.time() * 1000)))


def wait_applied(pipelines: list[BeaconPipeline], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while any(p.ingest_backlog_bytes() for p in pipelines):
        assert time.monotonic() < deadline, "acknowledged beacons not applied"
        time.sleep(0.05)


def test_two_machines_lose_nothing_and_count_nothing_twice_across_a_takeover(tmp_path):
    database = tmp_path / "chdb"
    first_store, second_store = open_store(database), open_store(database)
    tenant = make_tenant(first_store, env_key="sharedenv")
    dying = CutOffAfterWrites(second_store, writes=3)
    # The second starts first and takes the lease: it is the one cut off holding it.
    second = BeaconPipeline(dying, tmp_path / "machine-2", housekeeping_interval_s=3600)
    deadline = time.monotonic() + 10
    while not second.inbox.holding:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    first = BeaconPipeline(first_store, tmp_path / "machine-1", housekeeping_interval_s=3600)

    names = scenarios()
    sessions = [capture(names[i % len(names)], f"player{i}", "sharedenv") for i in range(12)]
    # Every session's POSTs in turn, players interleaved; POST i goes to machine i % 2.
    turns = [s.requests[i] for i in range(max(len(s.requests) for s in sessions)) for s in sessions
             if i < len(s.requests)]
    sent = 0
    while not dying.died.is_set():  # both machines take POSTs until the lease holder is cut off
        assert sent < len(turns), "the lease holder never got to its third write"
        post(first if sent % 2 == 0 else second, turns[sent])
        sent += 1
        time.sleep(0.02)
    for request in turns[sent:sent + 6]:  # acknowledged into a journal that cannot be forwarded now
        post(second, request)
    sent += 6
    assert second.journals.backlog_bytes() > 0
    half = sent + (len(turns) - sent) // 2
    for request in turns[sent:half]:  # the other machine takes over
        post(first, request)
    deadline = time.monotonic() + 30
    while not first.inbox.holding:
        assert time.monotonic() < deadline, "no takeover"
        time.sleep(0.05)
    second.close()  # the cut-off process ends (every store call fails); its journal stays
    restarted_store = open_store(database)
    second = BeaconPipeline(restarted_store, tmp_path / "machine-2", housekeeping_interval_s=3600)
    for i, request in enumerate(turns[half:]):
        post(first if i % 2 == 0 else second, request)
    wait_applied([first, second])
    assert first.inbox.takeovers >= 1

    env = tenant.environment_id
    environment = first_store.get_environment(env)
    by_video: dict[str, list[list[list[int]]]] = {}
    for session in sessions:
        for view_id, (video_id, ranges) in session.views.items():
            view = restarted_store.get_view(env, view_id)
            assert view is not None and [list(r) for r in view.ranges] == ranges, view_id
            assert view.view_end_ms is not None
            by_video.setdefault(video_id, []).append(ranges)
    now_ms = int(time.time() * 1000)
    window = (now_ms // 1000 - 86_400, now_ms // 1000 + 3600)
    for video_id, views in by_video.items():
        result = stats.engagement(first_store, EngagementQuery(environment, Scope.VIDEO, video_id, window, (), now_ms, 3600))
        assert result.total_views == len(views), video_id  # each view counted once, from the rollups
        np.testing.assert_allclose(result.values, expected_heatmap(views, 60_000), rtol=0, atol=1e-12)
        n_raw, raw_values = raw_result(first_store, environment, Scope.VIDEO, video_id, window, now_ms, 3600)
        assert n_raw == len(views) and result.values.tolist() == raw_values.tolist()
    first.close()
    second.close()
    for store in (first_store, second_store, restarted_store):
        store.close()


def test_inbox_rows_past_cursors_duplicates_budget_and_pruning(tmp_path):
    from moments.store.base import InboxRow

    store = open_store(tmp_path / "chdb")
    try:
        rows = [InboxRow("a", seq, seq, f"a{seq}".encode()) for seq in (100, 200, 300, 400)]
        rows.append(InboxRow("b", 1 << 40 | 50, 7, "é".encode()))
        store.inbox_append(rows)
        store.inbox_append(rows[1:2])  # forwarded twice: read once
        assert store.inbox_read({}, 1 << 30) == rows
        # Each source's next 150 bytes of journal past its first pending row.
        assert [r.seq for r in store.inbox_read({"a": 100}, 150)] == [200, 300, 1 << 40 | 50]
        assert store.inbox_backlog() == (6, sum(len(r.payload) for r in rows + rows[1:2]), 7)
        store.inbox_advance({"a": 300})
        store.inbox_advance({"a": 200})  # a cursor never moves back
        assert store.inbox_cursors() == {"a": 300}
        assert store.inbox_read(store.inbox_cursors(), 1 << 30) == [rows[3], rows[4]]
        store.inbox_prune(store.inbox_cursors())
        assert store.inbox_read({}, 1 << 30) == [rows[3], rows[4]]
        assert store.inbox_backlog() == (2, len(rows[3].payload) + len(rows[4].payload), 7)
    finally:
        store.close()


def test_the_assembly_lease_is_handed_over_on_release_and_taken_after_expiry(tmp_path):
    first, second = open_store(tmp_path / "chdb"), open_store(tmp_path / "chdb")
    try:
        assert first.assembly_lease() and not second.assembly_lease()
        first.release_assembly_lease()
        assert second.assembly_lease() and not first.assembly_lease()
        time.sleep(LEASE_MS / 1000)  # the holder stops renewing
        assert first.assembly_lease() and not second.assembly_lease()
    finally:
        first.close()
        second.close()


def test_idle_views_close_in_rounds_each_under_the_lease(tmp_path, monkeypatch):
    """Closing many idle views renews the lease between rounds; every idle view closes, once."""
    from moments.store import clickhouse

    from test_store_contract import NOW_MS, done, engagement, env_of

    monkeypatch.setattr(clickhouse, "FINALIZE_CHUNK", 2)
    store, other = open_store(tmp_path / "chdb"), open_store(tmp_path / "chdb")
    try:
        environment = env_of(store)
        views = [done(f"v{i}", video_id="vid", view_end_ms=None) for i in range(5)]
        store.upsert_views(environment.environment_id, views, NOW_MS - 2 * 3_600_000)
        assert store.finalize_idle_views(NOW_MS - 3_600_000) == 5
        assert other.finalize_idle_views(NOW_MS - 3_600_000) == 0  # the lease is the first's
        assert store.finalize_idle_views(NOW_MS - 3_600_000) == 0
        assert all(store.get_view(environment.environment_id, v.view_id).view_end_ms for v in views)
        assert engagement(store, environment, Scope.VIDEO, "vid").total_views == 5
    finally:
        store.close()
        other.close()
