"""Rollups give exactly what the raw views give: random data, replaced and late views,
asset (re)registration, idle closing, retention, and timeframes that cut partitions."""

from __future__ import annotations

import os

import numpy as np
import pytest

from moments import accounts, stats
from moments.engagement.heatmap import content_duration, heatmap
from moments.filters import parse_filters
from moments.model import Asset, Scope, View
from moments.stats.query import EngagementQuery
from moments.store.base import ViewQuery
from moments.store.rollups import PARTITION_MS

NOW_MS = 1_795_600_000_000
DAY_MS = 86_400_000
# Random stores compared with their raw views: 2 on DuckDB in CI (1 on chdb, test_store_contract.py);
# MOMENTS_ROLLUP_SEEDS=8 for a longer run.
SEEDS = int(os.environ.get("MOMENTS_ROLLUP_SEEDS", 2))


def random_view(rng: np.random.Generator, view_id: str, completed: bool = True) -> View:
    duration = int(rng.choice([60_000, 60_000, 60_000, 61_000, 125_500, 0]))
    start = NOW_MS - int(rng.integers(0, 3 * DAY_MS))
    ranges = []
    for _ in range(int(rng.integers(0, 4))):
        s = int(rng.integers(0, 130_000))
        ranges.append((s, s + int(rng.integers(1, 40_000))))
    return View(
        view_id=view_id, view_start_ms=start, view_end_ms=start + 200_000 if completed else None,
        duration_ms=duration, ranges=tuple(ranges),
        asset_id=rng.choice(["a1", "a2", None]), playback_id=rng.choice(["p1", "p2", "p3", None]),
        video_id=rng.choice(["v1", "v2", None]) if rng.random() < 0.9 else "v1",
        reports_ranges=bool(rng.random() < 0.95),
        country=rng.choice(["US", "CA", "DE", None]), device_type=rng.choice(["tv", "phone", None]),
    )


# Unfiltered (the scope's rows), one dimension (slice rows, added or taken from the scope's),
# two dimensions (read raw).
FILTER_SETS = [(), ("country:US",), ("!country:US", "!country:CA"), ("country:CA", "country:DE"),
               ("device_type:tv", "!country:CA")]


def raw_result(store, environment, scope, scope_id, window_s, now_ms, idle_s, filters=()):
    """The reference: every counted view read raw, no rollups involved."""
    query = ViewQuery(environment.environment_id, scope, scope_id, window_s[0] * 1000, window_s[1] * 1000,
                      now_ms - int(idle_s * 1000), filters)
    ranges = store.view_ranges(query)
    registered = stats.registered_duration(store, environment.environment_id, scope, scope_id)
    durations, counts = np.unique(ranges.reported_durations_ms, return_counts=True)
    duration = content_duration(registered, list(zip(durations.tolist(), counts.tolist())))
    if duration is None or ranges.n_views == 0:
        return 0, None
    return ranges.n_views, heatmap(ranges, duration)


def windows(rng: np.random.Generator) -> list[tuple[int, int]]:
    now_s = NOW_MS // 1000
    cut = [(now_s - int(rng.integers(0, 4 * 86_400)), now_s - int(rng.integers(0, 3_600))) for _ in range(6)]
    step = PARTITION_MS // 1000
    aligned = [((NOW_MS // PARTITION_MS - 500) * step, (NOW_MS // PARTITION_MS - 2) * step)]  # whole partitions
    inside_one = [(now_s - 3 * 86_400 + 10, now_s - 3 * 86_400 + 200)]
    return [(s, e) for s, e in cut if s < e] + aligned + inside_one + [(now_s - 5 * 86_400, now_s)]


def assert_same(store, environment, now_ms: int, rng, idle_s: float = 3600) -> tuple[int, int]:
    """Every scope, window and filter set gives the raw answer; returns the views the scope
    rows and the slice rows held (so a test can tell that rollups, not raw reads, answered)."""
    held = held_slices = turn = 0
    for scope, ids in ((Scope.ASSET, ["a1", "a2"]), (Scope.PLAYBACK_ID, ["p1", "p2", "p3"]),
                       (Scope.VIDEO, ["v1", "v2"])):
        for scope_id in ids:
            if not store.scope_exists(environment.environment_id, scope, scope_id):
                continue
            for window in windows(rng):
                # Unfiltered, and one filter set in turn: over the scopes, every set meets every
                # kind of window (9 windows, 4 sets), at a third of the cost of all sets everywhere.
                turn += 1
                for texts in (FILTER_SETS[0], FILTER_SETS[1 + turn % (len(FILTER_SETS) - 1)]):
                    filters = parse_filters(list(texts))
                    ours = stats.engagement(store, EngagementQuery(environment, scope, scope_id, window, filters,
                                                                   now_ms, idle_s))
                    n, values = raw_result(store, environment, scope, scope_id, window, now_ms, idle_s, filters)
                    assert ours.total_views == n, (scope, scope_id, window, texts)
                    if n:
                        assert np.array_equal(ours.values, values), (scope, scope_id, window, texts)
                query = ViewQuery(environment.environment_id, scope, scope_id, window[0] * 1000,
                                  window[1] * 1000, now_ms - int(idle_s * 1000))
                if ours.duration_ms:
                    held += store.coverage(query, ours.duration_ms, False).n_views
                    sliced = ViewQuery(**{**query.__dict__, "filters": parse_filters(["country:US"])})
                    held_slices += store.coverage(sliced, ours.duration_ms, False).n_views
    return held, held_slices


@pytest.mark.parametrize("seed", range(SEEDS))
def test_rollups_equal_raw_views(store, seed):
    rng = np.random.default_rng(seed)
    environment, _ = accounts.create_environment(store, "rollups")
    env = environment.environment_id
    store.put_asset(env, Asset("a1", 60_000, ("p1",)))
    views = [random_view(rng, f"v{i}", completed=rng.random() < 0.85) for i in range(600)]
    for batch in range(0, len(views), 97):
        store.upsert_views(env, views[batch:batch + 97], NOW_MS - 2 * 3_600_000)
    held, held_slices = assert_same(store, environment, NOW_MS, rng)
    assert held > 0  # rollups really held views
    assert held_slices > 0  # and slice rows held filtered ones

    # Replaced views (new ranges, other ids, completed or reopened) and late completions.
    replaced = [random_view(rng, f"v{i}", completed=rng.random() < 0.7) for i in rng.choice(600, 150, replace=False)]
    store.upsert_views(env, replaced, NOW_MS - 3_600_000)
    assert_same(store, environment, NOW_MS, rng)

    # Registration after the fact, a changed duration, and a playback ID moving between assets.
    store.put_asset(env, Asset("a2", 125_500, ("p2", "p3")))
    assert_same(store, environment, NOW_MS, rng)
    store.put_asset(env, Asset("a2", 90_000, ("p3",)))
    store.put_asset(env, Asset("a1", 61_000, ("p1", "p2")))
    assert_same(store, environment, NOW_MS, rng)

    # The idle task closes in-progress views: they move from raw reads into rollups.
    closed = store.finalize_idle_views(NOW_MS)
    assert closed > 0
    assert_same(store, environment, NOW_MS, rng, idle_s=0)

    # Retention drops whole partitions from views and rollups alike.
    store.expire(NOW_MS + 98 * DAY_MS)
    assert_same(store, environment, NOW_MS, rng)


def test_a_file_from_before_slice_rows_gets_them_when_opened(db_path):
    """A file of schema version 4 (rollup rows of B values, no slice rows), written as that
    version wrote it, is migrated when opened: its rows become steps and it gets its slices."""
    import duckdb

    from moments.store.duckdb import DuckDBStore, migrations, views_to_arrow
    from moments.store.rollups import AssetIndex, rollup_rows

    rng = np.random.default_rng(11)
    env = "oldfile"
    views = views_to_arrow(env, [random_view(rng, f"v{i}") for i in range(300)], NOW_MS)
    rows = rollup_rows(views, AssetIndex({"a1": 60_000}, {"p1": ("a1", 60_000)}), slice_partition_ms=None)
    old = duckdb.connect(str(db_path))
    old.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for version, sql in migrations()[:4]:
        old.execute(sql)
        old.execute("INSERT INTO schema_version VALUES (?)", [version])
    old.execute("INSERT INTO environments VALUES (?, 'old file', 'oldkey', 100, 100, 100, 0)", [env])
    old.execute("INSERT INTO assets VALUES (?, 'a1', 60000, NULL, 0)", [env])
    old.execute("INSERT INTO playback_ids VALUES (?, 'p1', 'a1')", [env])
    old.register("old_views", views)
    old.execute("INSERT INTO views SELECT * FROM old_views")
    old.execute("INSERT INTO unrolled_views SELECT environment_id, view_id, view_start_ms FROM views "
                "WHERE view_end_ms IS NULL OR duration_ms = 0")
    old.executemany("INSERT INTO rollups VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [[env, *key, n, coverage[0].tolist()] for key, (n, coverage) in rows.items()])  # watched only
    old.close()
    store = DuckDBStore(str(db_path))
    try:
        with store._lock:
            assert store._exec("SELECT count(*) FROM rollups WHERE contains(scope, '|')")[0][0] > 0
        held, held_slices = assert_same(store, store.get_environment(env), NOW_MS, rng)
        assert held > 0 and held_slices > 0
    finally:
        store.close()
