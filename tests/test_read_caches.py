"""Reads that follow commits (store/followed.py, store/following.py), in the stores that keep
them (DuckDB, and the ClickHouse store owning a chdb folder): cached rollup sums and raw
pieces stay across writes that do not change them, and no write ever leaves a stale one,
whatever the order of writes and reads, on one thread or racing on two."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from moments import accounts, stats
from moments.engagement.heatmap import coverage_layers
from moments.model import Asset, Scope, View
from moments.stats.query import EngagementQuery
from moments.store.base import ViewQuery
from moments.store.following import Change, FollowingCache, Rows, Views
from moments.store.rollups import PARTITION_MS

from test_rollups import DAY_MS, NOW_MS, random_view, raw_result
from test_store_contract import open_backend

NOW_S = NOW_MS // 1000


def fixed_windows() -> list[tuple[int, int]]:
    """Windows asked again and again, so their cached pieces must follow every write: cut at
    both ends, whole partitions, inside one partition, and ending now."""
    step = PARTITION_MS // 1000
    return [(NOW_S - 2 * 86_400 + 17, NOW_S - 611), ((NOW_MS // PARTITION_MS - 400) * step,
                                                      (NOW_MS // PARTITION_MS - 3) * step),
            (NOW_S - 86_400 + 5, NOW_S - 86_400 + 140), (NOW_S - 3 * 86_400, NOW_S)]


def assert_fresh(store, environment, idle_s: float = 3600) -> None:
    """Every window of every asset gives what the raw views give, layers included."""
    for scope_id in ("a1", "a2"):
        for window in fixed_windows():
            ours = stats.engagement(store, EngagementQuery(environment, Scope.ASSET, scope_id, window, (), NOW_MS, idle_s))
            n, values = raw_result(store, environment, Scope.ASSET, scope_id, window, NOW_MS, idle_s)
            assert ours.total_views == n, (scope_id, window)
            if not n:
                continue
            assert np.array_equal(ours.values, values), (scope_id, window)
            query = ViewQuery(environment.environment_id, Scope.ASSET, scope_id, window[0] * 1000, window[1] * 1000,
                              NOW_MS - int(idle_s * 1000))
            layers = stats._coverage_layers(store.coverage(query, ours.duration_ms, True, layers=True),
                                            ours.duration_ms)
            expected = coverage_layers(store.view_ranges(query), ours.duration_ms)
            for name in ("watched", "landed", "present"):
                assert np.array_equal(getattr(layers, name), getattr(expected, name)), (scope_id, window, name)


@pytest.fixture(params=["duckdb", "chdb"])
def store(request, tmp_path):
    """A store that caches followed reads: DuckDB, or chdb owned as open_store opens it."""
    opened = open_backend(request.param, tmp_path)
    yield opened
    opened.close()


def registered(store, environment_id: str) -> None:
    store.put_asset(environment_id, Asset("a1", 60_000, ("p1",)))
    store.put_asset(environment_id, Asset("a2", 125_500, ("p2", "p3")))


@pytest.mark.parametrize("seed", range(3))
def test_cached_reads_follow_every_kind_of_write(store, seed):
    rng = np.random.default_rng(seed)
    environment, _ = accounts.create_environment(store, "followed")
    other, _ = accounts.create_environment(store, "neighbour")
    env = environment.environment_id
    registered(store, env)
    registered(store, other.environment_id)
    count = 0

    def views(n: int, completed: float = 0.85):
        nonlocal count
        count += n
        return [random_view(rng, f"v{i}", completed=rng.random() < completed) for i in range(count - n, count)]

    store.upsert_views(env, views(300), NOW_MS - 2 * 3_600_000)
    assert_fresh(store, environment)
    for step in range(14):
        kind = step % 7
        if kind == 0:  # new views, some in progress, anywhere in the three days
            store.upsert_views(env, views(40, 0.6), NOW_MS - 3_600_000)
        elif kind == 1:  # replaced views: old shares out, new ones in, maybe in other partitions
            replaced = [random_view(rng, f"v{i}", completed=rng.random() < 0.7)
                        for i in rng.choice(count, 30, replace=False)]
            store.upsert_views(env, replaced, NOW_MS - 3_600_000)
        elif kind == 2:  # the neighbour writes, and other content of ours: nothing a1 or a2 counts
            store.upsert_views(other.environment_id, views(50), NOW_MS)
            elsewhere = [View(**{**view.__dict__, "asset_id": "a9", "playback_id": "p9", "video_id": "v9"})
                         for view in views(30, 0.5)]
            store.upsert_views(env, elsewhere, NOW_MS - 3_600_000)
        elif kind == 3:  # in-progress views close and move into rollups
            store.finalize_idle_views(NOW_MS - 1_800_000)
        elif kind == 4:  # a registration changes which views an asset counts
            store.put_asset(env, Asset("a2", 125_500, ("p2",) if step % 12 < 6 else ("p2", "p3")))
        elif kind == 5:  # views an asset counts only through its playback IDs
            by_playback = [View(**{**view.__dict__, "asset_id": None, "video_id": None,
                                   "playback_id": str(rng.choice(["p1", "p2"]))}) for view in views(20, 0.5)]
            store.upsert_views(env, by_playback, NOW_MS - 3_600_000)
        else:  # retention drops the oldest partitions
            store.expire(NOW_MS + (96 - step // 7) * DAY_MS)
        assert_fresh(store, environment)
        assert_fresh(store, environment, idle_s=0)  # in-progress views counted as idle too


def test_a_read_racing_writes_never_leaves_a_stale_entry(store):
    """A writer adds views into the windows' edge and whole partitions while readers read them:
    once writes stop, every answer is the raw one (a cached read from before a commit that it
    missed would survive the race and show here)."""
    rng = np.random.default_rng(7)
    environment, _ = accounts.create_environment(store, "racing")
    env = environment.environment_id
    registered(store, env)
    store.upsert_views(env, [random_view(rng, f"s{i}") for i in range(200)], NOW_MS - 3_600_000)
    done, errors = threading.Event(), []

    def read() -> None:
        try:
            while not done.is_set():
                for window in fixed_windows():
                    stats.engagement(store, EngagementQuery(environment, Scope.ASSET, "a1", window, (), NOW_MS, 3600), True)
        except Exception as error:  # noqa: BLE001 (reported by the test)
            errors.append(error)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    try:
        for batch in range(40):
            store.upsert_views(env, [random_view(rng, f"w{batch}-{i}", completed=rng.random() < 0.8)
                                     for i in range(8)], NOW_MS - 3_600_000)
    finally:
        done.set()
        for reader in readers:
            reader.join()
    assert not errors
    assert_fresh(store, environment)


def test_an_entry_read_before_a_change_that_reaches_it_is_not_kept():
    cache: FollowingCache[str, str] = FollowingCache(10)
    a1 = frozenset({"asset_id:a1", "playback_id:p1"})
    cache.changed("e", 1, Change(starts=(100, 199), content=frozenset({"playback_id:p1"})))
    cache.put("edge", "e", 0, Views(150, 250, a1), "old")  # read at version 0, before the change
    assert cache.get("edge", 5) is None
    cache.put("far", "e", 0, Views(300, 400, a1), "far")  # the change did not reach it: kept
    assert cache.get("far", 1) == "far" and cache.get("far", 9) == "far"
    cache.put("other", "e", 0, Views(150, 250, frozenset({"asset_id:a2"})), "a2")  # nor other content
    assert cache.get("other", 1) == "a2"
    cache.put("open", "e", 0, Views(0, 10**6, a1, open_only=True), "in progress")  # nor views in progress
    assert cache.get("open", 1) == "in progress"
    cache.put("rows", "e", 0, Rows("asset", "a1"), "sums")
    assert cache.get("rows", 1) == "sums"


def test_a_change_drops_what_it_reaches_and_keeps_the_rest():
    cache: FollowingCache[str, str] = FollowingCache(10)
    cache.put("a1", "e", 3, Rows("asset", "a1"), "a1 sums")
    cache.put("a2", "e", 3, Rows("asset", "a2"), "a2 sums")
    cache.put("edge", "e", 3, Views(0, 100, frozenset({"asset_id:a1"})), "edge views")
    cache.put("open", "e", 3, Views(0, 100, frozenset({"asset_id:a1"}), open_only=True), "in progress")
    cache.put("other", "f", 3, Rows("asset", "a1"), "another environment's")
    assert cache.get("a1", 2) is None  # a reader of an older snapshot may not use it
    cache.changed("e", 4, Change(rows=frozenset({("asset", "a1")}), starts=(100, 150),
                                 content=frozenset({"asset_id:a1"})))
    assert cache.get("a1", 4) is None
    assert cache.get("a2", 4) == "a2 sums" and cache.get("edge", 4) == "edge views"
    cache.changed("e", 5, Change(starts=(50, 60), content=frozenset({"asset_id:a1"})))  # closed views
    assert cache.get("edge", 5) is None and cache.get("open", 5) == "in progress"
    cache.changed("e", 6, Change(starts=(50, 60), content=frozenset({"asset_id:a1"}), open_views=True))
    assert cache.get("open", 6) is None
    assert cache.get("other", 4) == "another environment's"
    cache.changed("e", 7, Change(everything=True))
    assert cache.get("a2", 7) is None
    assert cache.get("other", 7) == "another environment's"
