"""Lookup caches stay bounded: a flood of made-up ids (or of real ones) cannot grow memory."""

from __future__ import annotations

import tracemalloc

from moments import accounts
from moments.model import Asset, Scope, View
from moments.store import duckdb as duckdb_store
from moments.store.lru import LRUCache

NOW_MS = 1_795_000_000_000


def test_a_hundred_thousand_made_up_keys_keep_the_cache_at_its_bound():
    cache: LRUCache[str, None] = LRUCache(1_000)
    tracemalloc.start()
    try:
        for i in range(100_000):
            cache.get_or_load(f"made-up-{i}", lambda: None)  # a cached miss, as assets are
        grown, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(cache) == 1_000
    assert grown < 1 << 20  # 1,000 entries, not 100,000 (about 28 MiB in the store before)
    assert cache.get("made-up-99999") is None and "made-up-99999" in cache._items
    assert "made-up-0" not in cache._items  # the least recently used went first


def test_least_recently_used_goes_first_and_keep_decides_what_is_remembered():
    cache: LRUCache[str, int | None] = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recent
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
    loads = []
    assert cache.get_or_load("d", lambda: loads.append("d"), keep=lambda v: v is not None) is None
    assert cache.get_or_load("d", lambda: loads.append("d"), keep=lambda v: v is not None) is None
    assert loads == ["d", "d"] and len(cache) == 2  # a miss that is not kept is asked again


def test_sized_budget_counts_the_values_weights():
    cache: LRUCache[str, bytes] = LRUCache(10, size=len)
    cache.put("a", b"12345")
    cache.put("b", b"12345")
    cache.put("c", b"1")
    assert cache.used == 6 and cache.get("a") is None
    cache.discard("b")
    assert cache.used == 1 and len(cache) == 1


def test_the_stores_lookup_caches_stay_bounded_under_made_up_and_real_ids(tmp_path, monkeypatch):
    monkeypatch.setattr(duckdb_store, "LOOKUP_CACHE_ENTRIES", 50)
    store = duckdb_store.DuckDBStore(str(tmp_path / "moments.duckdb"))
    try:
        environment, issued = accounts.create_environment(store, "bounded")
        env = environment.environment_id
        store.put_asset(env, Asset("real", 60_000, ("real-pb",)))
        store.upsert_views(env, [View(view_id=f"v{i}", video_id=f"video-{i}", view_start_ms=NOW_MS,
                                      view_end_ms=NOW_MS + 1, duration_ms=60_000, ranges=((0, 1_000),))
                                 for i in range(200)], NOW_MS)
        for i in range(200):
            assert store.get_asset(env, f"made-up-{i}") is None
            assert store.asset_for_playback_id(env, f"made-up-{i}") is None
            assert store.get_token(f"made-up-{i}") is None
            assert store.get_environment(f"made-up-{i}") is None
            assert not store.scope_exists(env, Scope.ASSET, f"made-up-{i}")
            assert store.scope_exists(env, Scope.VIDEO, f"video-{i}")  # real ids are remembered, within the bound
        # Every container the store keeps is within the bound (a new unbounded cache fails here too).
        sizes = {name: len(value) for name, value in vars(store).items() if isinstance(value, (dict, set, LRUCache))}
        assert sizes and max(sizes.values()) <= 50, sizes
        # Evicted entries are looked up again, right.
        assert store.get_asset(env, "real") == Asset("real", 60_000, ("real-pb",))
        assert store.asset_for_playback_id(env, "real-pb").asset_id == "real"
        assert store.get_token(issued.token.token_id) == issued.token
        assert store.scope_exists(env, Scope.VIDEO, "video-0")
    finally:
        store.close()
