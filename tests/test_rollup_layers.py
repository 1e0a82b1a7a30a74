"""Rollups hold the landed and present coverage beside the watched one (store/rollups.py,
LAYERS): whatever rows a query sums, plus the views it reads raw, give exactly
engagement.heatmap.coverage_layers of the counted views read raw. On every store backend
(tests/test_store_contract.py), through replaced views, registration, idle closing and
retention, and for stores made before the layers existed, once migrated."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from moments import stats
from moments.engagement import hotspots as hotspot_math
from moments.engagement.heatmap import CoverageLayers, content_duration, coverage_layers, values_from_watched
from moments.filters import parse_filters
from moments.model import Asset, Scope
from moments.stats.query import EngagementQuery
from moments.store import clickhouse, rollups
from moments.store.base import ViewQuery
from moments.store.rows import views_to_arrow
from moments.store.rollups import PARTITION_MS

import test_store_contract
from test_rollups import DAY_MS, NOW_MS, random_view
from test_store_contract import env_of, open_backend

any_store = test_store_contract.any_store  # the contract suite's fixture: each test on every backend

IDS = ((Scope.ASSET, ("a1", "a2")), (Scope.PLAYBACK_ID, ("p1", "p2", "p3")), (Scope.VIDEO, ("v1", "v2")))
# Unfiltered (the scope's rows), one value (slice rows) and its negation (the scope's rows
# minus the value's slices).
FILTERS = ((), ("country:US",), ("!country:US",))


def windows() -> list[tuple[int, int]]:
    """A window with partial partitions at both ends (read raw), one of whole partitions, and
    one inside a single partition (all read raw)."""
    now_s, step, last = NOW_MS // 1000, PARTITION_MS // 1000, NOW_MS // PARTITION_MS
    return [(now_s - 2 * 86_400 + 421, now_s - 779), ((last - 500) * step, (last - 2) * step),
            (now_s - 86_400 + 10, now_s - 86_400 + 200)]


def assert_layers_equal_raw(store, environment, now_ms: int = NOW_MS, idle_s: float = 3600,
                            check_hotspots: bool = True) -> tuple[int, int]:
    """For every id, window and filter: the coverage read with layers (rollup sums plus the
    layers of the views read raw) equals coverage_layers of every counted view read raw, and a
    coverage read without layers has none. Returns the views that rollup rows held, unfiltered
    and filtered (so a test can tell that rollups answered)."""
    held = held_filtered = 0
    env = environment.environment_id
    for scope, ids in IDS:
        for scope_id in ids:
            if not store.scope_exists(env, scope, scope_id):
                continue
            registered = stats.registered_duration(store, env, scope, scope_id)
            for window in windows():
                for texts in FILTERS:
                    query = ViewQuery(env, scope, scope_id, window[0] * 1000, window[1] * 1000,
                                      now_ms - int(idle_s * 1000), parse_filters(list(texts)))
                    ranges = store.view_ranges(query)
                    durations, counts = np.unique(ranges.reported_durations_ms, return_counts=True)
                    duration = content_duration(registered, list(zip(durations.tolist(), counts.tolist())))
                    if duration is None:
                        continue
                    where = (scope, scope_id, window, texts)
                    raw = coverage_layers(ranges, duration)
                    ours = store.coverage(query, duration, registered is not None, layers=True)
                    plain = store.coverage(query, duration, registered is not None)
                    assert ours.n_views + ours.raw.n_views == ranges.n_views, where
                    assert plain.landed is None and plain.present is None, where
                    assert np.array_equal(plain.watched, ours.watched) and plain.n_views == ours.n_views, where
                    from_raw = coverage_layers(ours.raw, duration)
                    for name, rollup_sum in (("watched", ours.watched), ("landed", ours.landed),
                                             ("present", ours.present)):
                        assert np.array_equal(rollup_sum + getattr(from_raw, name), getattr(raw, name)), (name, where)
                    if texts:
                        held_filtered += ours.n_views
                    else:
                        held += ours.n_views
                    if check_hotspots and not texts and ranges.n_views:
                        assert_hotspots_from_layers(store, environment, scope, scope_id, window, now_ms, idle_s,
                                                    raw, ranges.n_views, duration)
    return held, held_filtered


def assert_hotspots_from_layers(store, environment, scope, scope_id, window, now_ms, idle_s,
                                raw: CoverageLayers, n_views: int, duration: int) -> None:
    """The hotspots endpoint's answer is the detector's on the raw curve and the raw views' seeks."""
    ours = stats.engagement(store, EngagementQuery(environment, scope, scope_id, window, (), now_ms, idle_s), True)
    values = values_from_watched(raw.watched, n_views, duration)
    assert (ours.total_views, ours.duration_ms) == (n_views, duration)
    assert np.array_equal(ours.values, values)
    assert ours.hotspots == hotspot_math.detect(values, n_views, duration,
                                                seeks=hotspot_math.Seeks.from_coverage(raw, n_views, duration))


def write_random_views(store, env: str, rng: np.random.Generator, n: int = 400) -> list:
    store.put_asset(env, Asset("a1", 60_000, ("p1",)))
    views = [random_view(rng, f"v{i}", completed=rng.random() < 0.85) for i in range(n)]
    for batch in range(0, n, 97):
        store.upsert_views(env, views[batch:batch + 97], NOW_MS - 2 * 3_600_000)
    return views


def test_layers_from_rollups_equal_raw_views(any_store):
    rng = np.random.default_rng(23)
    environment = env_of(any_store, "layers")
    env = environment.environment_id
    write_random_views(any_store, env, rng)
    held, held_filtered = assert_layers_equal_raw(any_store, environment)
    assert held > 0 and held_filtered > 0  # rollup rows (scope and slice rows) really answered

    # Replaced views (new ranges, other ids, completed or reopened), then a registration that
    # rebuilds the asset's and its playback IDs' rows.
    any_store.upsert_views(env, [random_view(rng, f"v{i}", completed=rng.random() < 0.7)
                                 for i in rng.choice(400, 120, replace=False)], NOW_MS - 3_600_000)
    any_store.put_asset(env, Asset("a2", 125_500, ("p2", "p3")))
    assert_layers_equal_raw(any_store, environment, check_hotspots=False)

    # Idle views closed (from raw reads into rollups), then retention: whole partitions go, and
    # on ClickHouse the hour and day rows that straddle the cutoff lose their share.
    assert any_store.finalize_idle_views(NOW_MS) > 0
    any_store.expire(NOW_MS + 98 * DAY_MS + 5 * 3_600_000)
    held, _ = assert_layers_equal_raw(any_store, environment, idle_s=0, check_hotspots=False)
    assert held > 0


def test_the_hotspots_endpoint_reads_layers_and_the_heatmap_does_not(any_store):
    """Only a request for hotspots asks the store for the layers."""
    environment = env_of(any_store, "asks")
    write_random_views(any_store, environment.environment_id, np.random.default_rng(5), n=60)
    asked = []
    coverage = any_store.coverage

    def recording(*args, **kwargs):
        asked.append(kwargs.get("layers", False))
        return coverage(*args, **kwargs)

    any_store.coverage = recording
    window = ((NOW_MS - 3 * DAY_MS) // 1000, NOW_MS // 1000)
    query = EngagementQuery(environment, Scope.ASSET, "a1", window, (), NOW_MS, 3600)
    heatmap = stats.engagement(any_store, query)
    spots = stats.engagement(any_store, query, with_hotspots=True)
    assert asked == [False, True]
    assert heatmap.total_views > 0 and np.array_equal(heatmap.values, spots.values)


def test_a_duckdb_file_from_before_layers_gets_them_when_opened(db_path):
    """A file of schema version 8 (rollup rows of the watched layer only, slices included),
    written as that version wrote it, gets every layer of every row from its views when opened."""
    import duckdb

    from moments.store.duckdb import DuckDBStore, migrations, views_to_arrow
    from moments.store.rollups import AssetIndex, rollup_steps

    rng = np.random.default_rng(12)
    env = "oldfile"
    views = views_to_arrow(env, [random_view(rng, f"v{i}") for i in range(300)], NOW_MS - 2 * 3_600_000)
    rows = rollup_steps(views, AssetIndex({"a1": 60_000}, {"p1": ("a1", 60_000)})).to_arrow()
    old = duckdb.connect(str(db_path))
    old.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for version, sql in migrations()[:8]:
        old.execute(sql)
        old.execute("INSERT INTO schema_version VALUES (?)", [version])
    assert old.execute("SELECT max(version) FROM schema_version").fetchone()[0] == 8
    old.execute("INSERT INTO environments VALUES (?, 'old file', 'oldkey', 100, 100, 100, 0, [])", [env])
    old.execute("INSERT INTO assets VALUES (?, 'a1', 60000, NULL, 0)", [env])
    old.execute("INSERT INTO playback_ids VALUES (?, 'p1', 'a1')", [env])
    old.register("old_views", views)
    old.execute("INSERT INTO views SELECT * FROM old_views")
    old.execute("INSERT INTO unrolled_views SELECT environment_id, view_id, view_start_ms FROM views "
                "WHERE view_end_ms IS NULL OR duration_ms = 0")
    old.register("old_rows", rows)
    old.execute("INSERT INTO rollups SELECT ?, scope, scope_id, partition_ms, duration_ms, n_views, "
                "watched_buckets, watched_steps FROM old_rows", [env])
    old.close()

    store = DuckDBStore(str(db_path))
    try:
        with store._lock:
            assert store._exec("SELECT max(version) FROM schema_version")[0][0] == migrations()[-1][0]
            assert store._exec("SELECT count(*) FROM rollups WHERE len(landed_steps) > 0")[0][0] > 0
        held, held_filtered = assert_layers_equal_raw(store, store.get_environment(env))
        assert held > 0 and held_filtered > 0
    finally:
        store.close()


def as_database_of_values(store, version: int) -> None:
    """Make a chdb store's database one of schema `version` (before STEPS_VERSION): its rollup
    rows as coverage values in `rollups` (only the watched layer before version 5), no
    rollup_steps table."""
    from moments.engagement.heatmap import bucket_count
    from moments.store.clickhouse import STEPS_VERSION

    layers = rollups.LAYERS if version >= 5 else rollups.LAYERS[:1]
    summed = store._x.query(
        "SELECT environment_id, scope, scope_id, duration_ms, grain_ms, partition_ms, sum(n_views) AS n_views, "
        + ", ".join(f"sumMap({layer}) AS {layer}" for layer in layers)
        + ", max(retention_days) AS retention_days FROM rollup_steps "
        "GROUP BY environment_id, scope, scope_id, duration_ms, grain_ms, partition_ms")
    pair = pa.struct([("1", pa.list_(pa.uint16())), ("2", pa.list_(pa.int64()))])
    values = {layer: [] for layer in layers}
    for i, duration in enumerate(summed["duration_ms"].to_pylist()):
        for layer in layers:
            coverage = clickhouse._coverage_rows(summed[layer].slice(i, 1), bucket_count(duration))[0]
            buckets = np.flatnonzero(coverage)
            values[layer].append({"1": buckets.tolist(), "2": coverage[buckets].tolist()})
    table = summed.drop_columns(list(layers))
    for layer in layers:
        table = table.append_column(layer, pa.array(values[layer], pair))
    if version < 5:
        store._x.command("ALTER TABLE rollups DROP COLUMN landed, DROP COLUMN present")
    store._x.insert("rollups", table)
    store._x.command("DROP TABLE rollup_steps")
    store._x.command("DELETE FROM schema_version WHERE version > {v:UInt32}", {"v": version})
    assert version < STEPS_VERSION


@pytest.mark.parametrize("version, cut_short", [(4, False), (5, False), (5, True)])
def test_a_clickhouse_database_of_coverage_values_gets_rollup_steps_when_opened(tmp_path, version, cut_short):
    """A database of schema version 4 (rows of coverage values, the watched layer only) or 5
    (every layer), of two environments, gets its rows as steps, every layer, from its views
    when a store opens it. `cut_short`: an earlier migration stopped after some rows were
    rebuilt; this one finishes it, adding each row once."""
    from moments.store.clickhouse import STEPS_VERSION, migrations

    store = open_backend("chdb", tmp_path)
    environments = [env_of(store, "old database"), env_of(store, "another")]
    for seed, environment in enumerate(environments):
        write_random_views(store, environment.environment_id, np.random.default_rng(13 + seed), n=250 - 150 * seed)
    as_database_of_values(store, version)
    if cut_short:  # rollup_steps was made, and an asset's and a playback ID's rows were rebuilt into it
        for statement in dict(migrations())[STEPS_VERSION]:
            store._x.command(statement)
        store._rebuild_rollups(environments[0].environment_id, {"a1"}, {"p1"})
    store.close()

    store = open_backend("chdb", tmp_path)
    try:
        assert store._schema_version() == migrations()[-1][0] >= STEPS_VERSION
        assert store._x.query("SELECT count() AS n FROM rollups")["n"][0].as_py() == 0  # the values went
        for environment in environments:
            held, held_filtered = assert_layers_equal_raw(store, environment, check_hotspots=False)
            assert held > 0 and held_filtered > 0
    finally:
        store.close()


def test_clickhouse_stores_opening_an_old_database_together_rebuild_its_rows_once(tmp_path):
    """Two processes (stores) starting together on a database of version 4 both run its
    migrations; the rebuilt rows go in once (a lease), not once per process."""
    import threading

    from moments.store.clickhouse import ClickHouseStore
    from moments.store.executor import ChdbExecutor

    store = open_backend("chdb", tmp_path)
    environment = env_of(store, "old database")
    write_random_views(store, environment.environment_id, np.random.default_rng(17), n=250)
    as_database_of_values(store, 4)
    store.close()

    start, opened, failures = threading.Barrier(2), [], []

    def open_together() -> None:
        try:
            start.wait()
            # The settling time lets concurrent lease claims land before either reads back.
            opened.append(ClickHouseStore(ChdbExecutor(str(tmp_path / "chdb")), lease_settle_s=0.3))
        except Exception as error:  # noqa: BLE001 (reported below)
            failures.append(error)

    threads = [threading.Thread(target=open_together) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    try:
        assert not failures and len(opened) == 2
        held, _ = assert_layers_equal_raw(opened[0], environment, check_hotspots=False)
        assert held > 0
    finally:
        for s in opened:
            s.close()


def test_clickhouse_rollups_inserted_in_runs_of_a_few_keys_equal_raw_views(tmp_path, monkeypatch):
    """The ClickHouse store inserts a write's rollup rows a run of keys at a time (its memory
    is bounded by a run): with runs of 3 keys, every query still gives the raw answer."""
    monkeypatch.setattr(clickhouse, "ROLLUP_INSERT_KEYS", 3)
    store = open_backend("chdb", tmp_path)
    try:
        environment = env_of(store, "runs")
        write_random_views(store, environment.environment_id, np.random.default_rng(29), n=200)
        held, held_filtered = assert_layers_equal_raw(store, environment, check_hotspots=False)
        assert held > 0 and held_filtered > 0
    finally:
        store.close()


def test_rollup_rows_in_runs_of_keys_are_the_rows():
    rng = np.random.default_rng(5)
    views = [random_view(rng, f"v{i}") for i in range(60)]
    steps = rollups.rollup_steps(views_to_arrow("e", views, NOW_MS), rollups.AssetIndex({"a1": 60_000}, {}))
    runs = list(steps.chunks(4))
    assert len(runs) > 3
    assert sum(len(run.keys) for run in runs) == len(steps.keys) and all(len(run.keys) <= 4 for run in runs)
    whole, rejoined = steps.dense(), rollups.RollupSteps.concatenated(runs).dense()
    assert whole.keys() == rejoined.keys()
    for key, (n, coverage) in rejoined.items():
        assert n == whole[key][0] and np.array_equal(coverage, whole[key][1])
