"""One suite for every store: each test runs on DuckDB and on the ClickHouse store.

Backends:
- `duckdb`: the embedded DuckDB file (the default store);
- `chdb`: the ClickHouse store on the in-process ClickHouse engine (chdb): every statement,
  schema included, is executed by a real ClickHouse engine;
- `clickhouse-connect`: the same ClickHouse store through the clickhouse-connect executor
  (the HTTP client's API), with chdb as its transport, so that executor's binding and
  Arrow paths run here too. Only the transport differs from a ClickHouse server.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

from moments import accounts, stats
from moments.filters import parse_filters
from moments.model import Asset, Chapter, Environment, Scope, Token, View
from moments.stats.query import EngagementQuery
from moments.stats.summary import summary, summary_json
from moments.store.base import ViewQuery
from moments.store.duckdb import DuckDBStore

import test_rollups
from test_heatmap import reference_heatmap

chdb = pytest.importorskip("chdb")

BACKENDS = ["duckdb", "chdb", "clickhouse-connect"]
NOW_MS = test_rollups.NOW_MS
DAY_MS = 86_400_000
# Ids as hostile as the API lets through (and more): quotes, backslashes, slashes, unicode.
NASTY = ["o'brien", 'say "hi"', "back\\slash", "a/b/c", "日本語🎬", "tab\tnew\nline", "{x:String}", "%27; DROP",
         "\\N", "'", "\\"]


def open_backend(kind: str, folder, owner: bool = True) -> object:
    """A store of `kind`; a chdb one is its folder's owner (as open_store opens it) unless it
    stands in for one of several processes on a shared database."""
    from moments.store.clickhouse import ClickHouseStore
    from moments.store.executor import ChdbExecutor, ConnectExecutor

    if kind == "duckdb":
        return DuckDBStore(str(folder / "moments.duckdb"))
    if kind == "chdb":
        return ClickHouseStore(ChdbExecutor(str(folder / "chdb")), lease_settle_s=0, owner=owner)
    import clickhouse_connect

    client = clickhouse_connect.get_client(interface="chdb", path=str(folder / "chdb"))
    return ClickHouseStore(ConnectExecutor(client), lease_settle_s=0)


def public_methods(cls: type) -> set[str]:
    return {name for name, value in vars(cls).items() if callable(value) and not name.startswith("_")}


def test_each_backend_is_the_protocol_and_only_its_own_extras_besides():
    """What the rest of the code may call on a store is the Store protocol (and the roles a
    backend takes: BeaconInbox for a shared ClickHouse, OnlineBackup for a DuckDB file); a
    public method outside them would be called through no interface."""
    from moments.store.base import BeaconInbox, OnlineBackup, Store
    from moments.store.clickhouse import ClickHouseStore

    store = public_methods(Store)
    assert public_methods(DuckDBStore) == store | public_methods(OnlineBackup)
    # rebuild_rollups: a repair an operator runs on ClickHouse (docs/clickhouse.md)
    assert public_methods(ClickHouseStore) == store | public_methods(BeaconInbox) | {"rebuild_rollups"}


@pytest.fixture(params=BACKENDS)
def any_store(request, tmp_path):
    store = open_backend(request.param, tmp_path)
    yield store
    store.close()


def env_of(store, name="contract", **options) -> Environment:
    environment, _ = accounts.create_environment(store, name, **options)
    return environment


def done(view_id: str, start_ms: int = NOW_MS - 3_600_000, ranges=((0, 30_000),), **fields) -> View:
    fields.setdefault("view_end_ms", start_ms + 100_000)
    fields.setdefault("duration_ms", 60_000)
    return View(view_id=view_id, view_start_ms=start_ms, ranges=tuple(ranges), **fields)


def engagement(store, environment, scope, scope_id, window_s=None, idle_s=3600, now_ms=NOW_MS):
    window_s = window_s or ((now_ms - 3 * DAY_MS) // 1000, now_ms // 1000)
    return stats.engagement(store, EngagementQuery(environment, scope, scope_id, window_s, (), now_ms, idle_s))


# --- environments, tokens, assets --------------------------------------------------------

def test_environments_and_tokens(any_store):
    environment = Environment("env-1", "Name 'quoted' ü", "key-1", 30, 2.5, 7)
    any_store.create_environment(environment)
    assert any_store.get_environment("env-1") == environment
    assert any_store.environment_by_env_key("key-1") == environment
    assert any_store.get_environment("nope") is None and any_store.environment_by_env_key("nope") is None
    assert any_store.get_environment("") is None
    token = Token("tok-1", "env-1", "ab" * 32, ("read", "write"))
    any_store.create_token(token)
    assert any_store.get_token("tok-1") == token
    assert any_store.get_token("tok-2") is None


def test_assets_and_playback_ids(any_store):
    env = env_of(any_store).environment_id
    assert any_store.get_asset(env, "a1") is None
    any_store.put_asset(env, Asset("a1", 60_000, ("p2", "p1"), "https://x/y.m3u8"))
    assert any_store.get_asset(env, "a1") == Asset("a1", 60_000, ("p1", "p2"), "https://x/y.m3u8")
    assert any_store.asset_for_playback_id(env, "p1").asset_id == "a1"
    # Re-registering replaces duration and playback IDs; a dropped playback ID is free again.
    any_store.put_asset(env, Asset("a1", 90_000, ("p2",)))
    assert any_store.get_asset(env, "a1") == Asset("a1", 90_000, ("p2",), None)
    assert any_store.asset_for_playback_id(env, "p1") is None
    # A playback ID moves to the asset that registers it last.
    any_store.put_asset(env, Asset("a2", 30_000, ("p2", "p3")))
    assert any_store.asset_for_playback_id(env, "p2").asset_id == "a2"
    assert any_store.get_asset(env, "a1").playback_ids == ()
    assert any_store.scope_exists(env, Scope.ASSET, "a1") and any_store.scope_exists(env, Scope.PLAYBACK_ID, "p3")
    assert not any_store.scope_exists(env, Scope.PLAYBACK_ID, "p1")


def test_chapters_are_kept_with_their_asset(any_store):
    env = env_of(any_store).environment_id
    chapters = (Chapter(0, None, "Intro 'quoted' ü"), Chapter(12_500, 40_000, 'say "hi" \\ {x:String}'),
                Chapter(50_000, None, "日本語🎬"))
    any_store.put_asset(env, Asset("a1", 60_000, ("p1",), None, chapters))
    assert any_store.get_asset(env, "a1").chapters == chapters
    assert any_store.asset_for_playback_id(env, "p1").chapters == chapters
    # Registering again without chapters drops them, as it drops any field left out.
    any_store.put_asset(env, Asset("a1", 60_000, ("p1",)))
    assert any_store.get_asset(env, "a1").chapters == ()
    assert any_store.get_asset(env_of(any_store, "other").environment_id, "a1") is None


def test_assets_of_video(any_store):
    env = env_of(any_store).environment_id
    other = env_of(any_store, "other").environment_id
    any_store.put_asset(env, Asset("registered", 60_000, ("pb-reg",)))
    any_store.upsert_views(env, [
        done("by-asset", asset_id="film", video_id="one"),
        done("by-asset-again", asset_id="film", video_id="one"),
        done("by-playback", playback_id="pb-reg", video_id="via-playback"),  # the asset its playback ID names
        done("unregistered-playback", playback_id="pb-free", video_id="nothing"),
        done("x", asset_id="film", video_id="two"), done("y", asset_id="trailer", video_id="two"),
        done("z", asset_id="zeta", video_id="two"),
    ], NOW_MS)
    any_store.upsert_views(other, [done("elsewhere", asset_id="theirs", video_id="one")], NOW_MS)
    assert any_store.assets_of_video(env, "one", 2) == ["film"]
    assert any_store.assets_of_video(env, "via-playback", 2) == ["registered"]
    assert any_store.assets_of_video(env, "nothing", 2) == []
    assert any_store.assets_of_video(env, "two", 2) == ["film", "trailer"]
    assert any_store.assets_of_video(env, "unknown", 2) == []


# --- views ----------------------------------------------------------------------------------

def test_views_round_trip_with_hostile_ids(any_store):
    env = env_of(any_store).environment_id
    views = [done(f"view-{i}-{text}", asset_id=f"asset-{text}", playback_id=f"pb-{text}", video_id=f"video/{text}",
                  ranges=((5_000, 9_000), (0, 3_000), (1_000, 2_000)), sdk_name="mux-embed", sdk_version="5.19.0",
                  country="DE", browser="Firefox", os="Linux", device_type="desktop", player_name=text,
                  dimensions={"k'": text, "ü": "v"}, last_event_ms=NOW_MS)
             for i, text in enumerate(NASTY)]
    any_store.upsert_views(env, views, NOW_MS)
    for view, text in zip(views, NASTY):
        assert any_store.get_view(env, view.view_id) == view
        for scope, scope_id in ((Scope.ASSET, view.asset_id), (Scope.PLAYBACK_ID, view.playback_id),
                                (Scope.VIDEO, view.video_id)):
            assert any_store.scope_exists(env, scope, scope_id)
            assert engagement(any_store, Environment(env, "", ""), scope, scope_id).total_views == 1
    assert any_store.get_view(env, "missing") is None
    in_progress = done("live", view_end_ms=None, asset_id="a")
    any_store.upsert_views(env, [in_progress], NOW_MS)
    assert any_store.get_view(env, "live") == in_progress


def test_a_view_sent_again_replaces_every_trace_of_the_old_one(any_store):
    environment = env_of(any_store)
    env = environment.environment_id
    any_store.upsert_views(env, [done("v", asset_id="old-asset", playback_id="old-pb", video_id="old-video",
                                      ranges=((0, 60_000),))], NOW_MS)
    assert engagement(any_store, environment, Scope.ASSET, "old-asset").total_views == 1
    # Other ids, another start (another day), other ranges: nothing of the first version stays.
    newer = done("v", start_ms=NOW_MS - DAY_MS - 7_000, asset_id="new-asset", video_id="old-video",
                 ranges=((0, 30_000),))
    any_store.upsert_views(env, [newer], NOW_MS + 1)
    assert any_store.get_view(env, "v") == newer
    assert not any_store.scope_exists(env, Scope.ASSET, "old-asset")
    assert not any_store.scope_exists(env, Scope.PLAYBACK_ID, "old-pb")
    video = engagement(any_store, environment, Scope.VIDEO, "old-video")
    assert video.total_views == 1 and video.values.sum() == pytest.approx(30.0 / 60.0 * len(video.values))
    assert engagement(any_store, environment, Scope.ASSET, "new-asset").total_views == 1
    assert any_store.list_scope_ids(env, Scope.ASSET, None, 10) == [("new-asset", 1)]
    # The last version of a view within one batch wins.
    any_store.upsert_views(env, [done("w", asset_id="x"), done("w", asset_id="y")], NOW_MS)
    assert any_store.get_view(env, "w").asset_id == "y"


def test_list_scope_ids(any_store):
    env = env_of(any_store).environment_id
    any_store.put_asset(env, Asset("Registered-Only", 60_000, ("pb-reg",)))
    views = [done(f"v{i}", asset_id="alpha" if i < 3 else "Beta-ü", playback_id="pb-1", video_id=f"vid-{i % 2}")
             for i in range(5)]
    any_store.upsert_views(env, views, NOW_MS)
    assert any_store.list_scope_ids(env, Scope.ASSET, None, 10) == [("alpha", 3), ("Beta-ü", 2), ("Registered-Only", 0)]
    assert any_store.list_scope_ids(env, Scope.ASSET, "BETA", 10) == [("Beta-ü", 2)]
    assert any_store.list_scope_ids(env, Scope.ASSET, "Ü", 10) == [("Beta-ü", 2)]
    assert any_store.list_scope_ids(env, Scope.ASSET, None, 1) == [("alpha", 3)]
    assert any_store.list_scope_ids(env, Scope.PLAYBACK_ID, None, 10) == [("pb-1", 5), ("pb-reg", 0)]
    assert any_store.list_scope_ids(env, Scope.VIDEO, "vid", 10) == [("vid-0", 3), ("vid-1", 2)]
    assert any_store.list_scope_ids(env, Scope.VIDEO, "nothing", 10) == []


def test_scope_durations(any_store):
    """Peers for relative retention: registered duration first, else the median reported, in a band."""
    env, other = env_of(any_store, "a").environment_id, env_of(any_store, "b").environment_id
    reported = {"a0": 60_000, "a1": 61_000, "a2": 64_000, "b0": 60_000, "b1": 63_000, "g0": 90_000}
    ids = {"a": ("alpha", "pb-1"), "b": ("beta", "pb-2"), "g": ("gamma", None)}
    any_store.upsert_views(env, [done(v, asset_id=ids[v[0]][0], playback_id=ids[v[0]][1], video_id="vid-x",
                                      duration_ms=d) for v, d in reported.items()], NOW_MS)
    any_store.put_asset(env, Asset("gamma", 30_000, ("pb-2",)))  # registered: wins over the 90 s reported
    any_store.put_asset(env, Asset("reg-long", 600_000, ("pb-reg",)))  # registered, never viewed
    everything = (0, 10**9, 10)
    assert any_store.scope_durations(env, Scope.ASSET, *everything) == [
        ("alpha", 61_000, 3), ("beta", 61_500, 2), ("gamma", 30_000, 1), ("reg-long", 600_000, 0)]
    assert any_store.scope_durations(env, Scope.ASSET, 30_000, 61_000, 10) == [("alpha", 61_000, 3), ("gamma", 30_000, 1)]
    assert any_store.scope_durations(env, Scope.ASSET, 0, 10**9, 1) == [("alpha", 61_000, 3)]
    assert any_store.scope_durations(env, Scope.PLAYBACK_ID, *everything) == [
        ("pb-1", 61_000, 3), ("pb-2", 30_000, 2), ("pb-reg", 600_000, 0)]
    assert any_store.scope_durations(env, Scope.VIDEO, *everything) == [("vid-x", 62_000, 6)]  # 60, 60, 61 | 63, 64, 90 s
    for scope in Scope:
        assert any_store.scope_durations(other, scope, *everything) == []


def test_tenancy(any_store):
    a, b = env_of(any_store, "a"), env_of(any_store, "b")
    any_store.put_asset(a.environment_id, Asset("shared", 60_000, ("pb",)))
    any_store.upsert_views(a.environment_id, [done("v1", asset_id="shared", video_id="vid")], NOW_MS)
    any_store.upsert_beacon_views(a.environment_id, [done("v1", asset_id="shared", video_id="vid")], ['{"fold":1}'],
                                  [NOW_MS])
    for scope, scope_id in ((Scope.ASSET, "shared"), (Scope.PLAYBACK_ID, "pb"), (Scope.VIDEO, "vid")):
        assert any_store.scope_exists(a.environment_id, scope, scope_id)
        assert not any_store.scope_exists(b.environment_id, scope, scope_id)
        assert any_store.list_scope_ids(b.environment_id, scope, None, 10) == []
    assert any_store.get_view(b.environment_id, "v1") is None
    assert any_store.get_asset(b.environment_id, "shared") is None
    assert any_store.view_folds(b.environment_id, ["v1"]) == {}
    query = ViewQuery(b.environment_id, Scope.VIDEO, "vid", 0, NOW_MS * 2, NOW_MS)
    assert any_store.view_ranges(query).n_views == 0 and any_store.duration_histogram(query) == []
    # The same view id in another environment is another view.
    any_store.upsert_views(b.environment_id, [done("v1", asset_id="mine")], NOW_MS)
    assert any_store.get_view(a.environment_id, "v1").asset_id == "shared"


def test_views_queries_and_duration_histogram(any_store):
    environment = env_of(any_store)
    env = environment.environment_id
    views = [done("a", video_id="v", duration_ms=60_000), done("b", video_id="v", duration_ms=60_000),
             done("c", video_id="v", duration_ms=61_000),
             done("old-sdk", video_id="v", sdk_name="mux-embed", sdk_version="5.0.0", reports_ranges=False),
             done("no-ranges", video_id="v", ranges=()), done("live", video_id="v", view_end_ms=None)]
    any_store.upsert_views(env, views, NOW_MS - 2 * 3_600_000)
    query = ViewQuery(env, Scope.VIDEO, "v", NOW_MS - DAY_MS, NOW_MS, NOW_MS - 3_600_000)
    assert any_store.view_ranges(query).n_views == 4  # the live view is idle by now; old SDK and empty ones never count
    assert sorted(any_store.duration_histogram(query)) == [(60_000, 3), (61_000, 1)]
    fresh = ViewQuery(env, Scope.VIDEO, "v", NOW_MS - DAY_MS, NOW_MS, NOW_MS - 3 * 3_600_000)
    assert any_store.view_ranges(fresh).n_views == 3
    result = engagement(any_store, environment, Scope.VIDEO, "v", idle_s=3600)
    assert result.total_views == 4 and result.duration_ms == 60_000


def test_list_views_pages_the_counted_views_newest_first(any_store):
    a, b = env_of(any_store, "a").environment_id, env_of(any_store, "b").environment_id
    any_store.put_asset(a, Asset("movie", 60_000, ("pb-movie",)))
    t = NOW_MS - 3_600_000
    counted = [done("v1", t, asset_id="movie"), done("v2", t - 1000, asset_id="movie"),
               done("v3", t - 1000, asset_id="movie"),  # same start as v2: view_id breaks the tie
               done("v4", t - 5000, playback_id="pb-movie"),  # through the asset's playback ID
               done("v5", t - 9000, asset_id="movie", view_end_ms=None)]  # idle by the query's cutoff
    ignored = [done("too-old", NOW_MS - 5 * DAY_MS, asset_id="movie"), done("other", t, asset_id="other"),
               done("no-ranges", t, asset_id="movie", ranges=()),
               done("old-sdk", t, asset_id="movie", sdk_name="mux-embed", sdk_version="5.0.0", reports_ranges=False)]
    any_store.upsert_views(a, counted + ignored, NOW_MS - 2 * 3_600_000)
    any_store.upsert_views(b, [done("b1", t, asset_id="movie")], NOW_MS)
    query = ViewQuery(a, Scope.ASSET, "movie", NOW_MS - DAY_MS, NOW_MS, NOW_MS - 3_600_000)
    assert any_store.count_views(query) == any_store.view_ranges(query).n_views == 5
    pages, after = [], None
    while page := any_store.list_views(query, 2, after, 1000):
        pages.append([v.view_id for v in page])
        after = (page[-1].view_start_ms, page[-1].view_id)
    assert pages == [["v1", "v3"], ["v2", "v4"], ["v5"]]
    assert any_store.list_views(query, 10, None, 1000)[3] == counted[3]  # whole views, as stored
    # One range each: the list stops after the view that brings it to max_ranges, past `after` too.
    assert [v.view_id for v in any_store.list_views(query, 10, None, 2)] == ["v1", "v3"]
    assert [v.view_id for v in any_store.list_views(query, 10, (t, "v1"), 3)] == ["v3", "v2", "v4"]
    # A view still in progress (not idle yet) does not count; another environment sees none.
    fresh = ViewQuery(a, Scope.ASSET, "movie", NOW_MS - DAY_MS, NOW_MS, NOW_MS - 3 * 3_600_000)
    assert [v.view_id for v in any_store.list_views(fresh, 10, None, 1000)] == ["v1", "v3", "v2", "v4"]
    assert any_store.count_views(fresh) == 4
    other = ViewQuery(b, Scope.ASSET, "movie", NOW_MS - DAY_MS, NOW_MS, NOW_MS - 3_600_000)
    assert [v.view_id for v in any_store.list_views(other, 10, None, 1000)] == ["b1"] and any_store.count_views(other) == 1
    video = ViewQuery(a, Scope.PLAYBACK_ID, "pb-movie", NOW_MS - DAY_MS, NOW_MS, NOW_MS - 3_600_000)
    assert [v.view_id for v in any_store.list_views(video, 10, None, 1000)] == ["v4"]


def skip_on_connect(request) -> None:
    """The long rollup checks run on chdb: clickhouse-connect issues the same SQL (the other
    tests cover its executor), and chdb allows one engine per process, so time is all it adds."""
    if request.node.callspec.params["any_store"] == "clickhouse-connect":
        pytest.skip("same SQL as the chdb backend; covered there")


def skip_on_duckdb(request) -> None:
    if request.node.callspec.params["any_store"] == "duckdb":
        pytest.skip("tests/test_rollups.py runs this on DuckDB with more seeds")


# --- rollups equal raw views ------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(max(1, test_rollups.SEEDS // 2)))  # each takes a minute on chdb
def test_rollups_equal_raw_views(any_store, seed, request):
    skip_on_connect(request)
    skip_on_duckdb(request)
    test_rollups.test_rollups_equal_raw_views(any_store, seed)


def test_rollups_follow_a_playback_id_moving_between_registered_assets(any_store, request):
    skip_on_connect(request)
    rng = np.random.default_rng(7)
    environment = env_of(any_store)
    env = environment.environment_id
    any_store.put_asset(env, Asset("a1", 60_000, ("p1", "p2")))
    any_store.put_asset(env, Asset("a2", 125_500, ("p3",)))
    views = [test_rollups.random_view(rng, f"v{i}") for i in range(300)]
    any_store.upsert_views(env, views, NOW_MS - 2 * 3_600_000)
    test_rollups.assert_same(any_store, environment, NOW_MS, rng)
    any_store.put_asset(env, Asset("a2", 125_500, ("p3", "p2")))  # p2 leaves a1 without a1 being registered again
    assert any_store.get_asset(env, "a1").playback_ids == ("p1",)
    test_rollups.assert_same(any_store, environment, NOW_MS, rng)


# --- idle views, retention, beacon events ------------------------------------------------------------

def test_idle_views_are_closed_at_their_last_event(any_store):
    environment = env_of(any_store)
    env = environment.environment_id
    any_store.upsert_views(env, [done("quiet", view_end_ms=None, asset_id="a", last_event_ms=NOW_MS - 3_500_000),
                                 done("no-events", view_end_ms=None, asset_id="a"),
                                 done("recent", view_end_ms=None, asset_id="a")], NOW_MS - 2 * 3_600_000)
    any_store.upsert_views(env, [done("recent", view_end_ms=None, asset_id="a")], NOW_MS)
    before = engagement(any_store, environment, Scope.ASSET, "a", idle_s=3600)
    assert before.total_views == 2
    assert any_store.finalize_idle_views(NOW_MS - 3_600_000) == 2
    assert any_store.get_view(env, "quiet").view_end_ms == NOW_MS - 3_500_000
    assert any_store.get_view(env, "no-events").view_end_ms == NOW_MS - 3_600_000  # its start
    assert any_store.get_view(env, "recent").view_end_ms is None
    after = engagement(any_store, environment, Scope.ASSET, "a", idle_s=3600)
    assert after.total_views == 2 and np.array_equal(after.values, before.values)
    assert any_store.finalize_idle_views(NOW_MS - 3_600_000) == 0


def test_expiry_drops_views_rollups_and_events_past_retention(any_store):
    # On the real clock: ClickHouse's TTLs drop expired rows by themselves, so "old" views are
    # still within retention today and only past it at the `expire` time used below.
    today = int(time.time() * 1000)
    later = today + 15 * DAY_MS
    environment = env_of(any_store, retention_days=10)
    keep = env_of(any_store, "long", retention_days=100)
    env = environment.environment_id
    old = [done(f"old{i}", start_ms=today - 5 * DAY_MS, asset_id="a") for i in range(3)]
    new = done("new", start_ms=today + 10 * DAY_MS, asset_id="a")
    any_store.upsert_views(env, old[1:], today)
    any_store.upsert_views(keep.environment_id, [done("old0", start_ms=today - 5 * DAY_MS, asset_id="a")], today)
    # Beacon views (with folds) carry the time of their latest event.
    any_store.upsert_beacon_views(env, [dataclasses.replace(v, last_event_ms=v.view_start_ms) for v in (old[0], new)],
                                  ["[0]", "[1]"], [today, today])
    window = ((today - 30 * DAY_MS) // 1000, (today + 30 * DAY_MS) // 1000)
    assert engagement(any_store, environment, Scope.ASSET, "a", window, now_ms=later).total_views == 4
    assert any_store.expire(later) == 3
    assert any_store.get_view(env, "old0") is None and any_store.get_view(env, "new") is not None
    assert engagement(any_store, environment, Scope.ASSET, "a", window, now_ms=later).total_views == 1
    query = ViewQuery(env, Scope.ASSET, "a", 0, later, later)
    assert any_store.view_ranges(query).n_views == 1
    assert any_store.view_folds(env, ["old0", "new"]) == {"new": "[1]"}
    assert any_store.get_view(keep.environment_id, "old0") is not None
    assert any_store.expire(later) == 0


def test_beacon_views_are_stored_with_their_folds(any_store):
    env = env_of(any_store).environment_id
    views = [done("v'1", asset_id="a", view_end_ms=None, last_event_ms=NOW_MS),
             done("v2", asset_id="a", last_event_ms=NOW_MS)]
    any_store.upsert_beacon_views(env, views, ['{"ü":"é"}', "[2]"], [NOW_MS - 5, NOW_MS])
    assert any_store.view_folds(env, ["v'1", "v2", "none"]) == {"v'1": '{"ü":"é"}', "v2": "[2]"}
    assert any_store.get_view(env, "v'1") == views[0] and any_store.get_view(env, "v2") == views[1]
    # A newer version replaces the view and its fold, and moves rollups by the difference.
    ended = done("v'1", asset_id="a", last_event_ms=NOW_MS)
    any_store.upsert_beacon_views(env, [ended], ["[3]"], [NOW_MS])
    assert any_store.view_folds(env, ["v'1"]) == {"v'1": "[3]"} and any_store.get_view(env, "v'1") == ended
    assert engagement(any_store, any_store.get_environment(env), Scope.ASSET, "a").total_views == 2


# --- ClickHouse only ----------------------------------------------------------------------------

def test_only_a_store_that_owns_its_database_caches_results(any_store):
    from moments.store.executor import ConnectExecutor

    written, other = env_of(any_store).environment_id, env_of(any_store, "other").environment_id
    if isinstance(getattr(any_store, "_x", None), ConnectExecutor):  # a server other processes may write to
        assert any_store.data_version(written) is None  # the response cache stays off
    else:
        before = any_store.data_version(written), any_store.data_version(other)
        any_store.upsert_views(written, [done("v", asset_id="a")], NOW_MS)
        # Only the written environment's cached responses go stale.
        assert any_store.data_version(written) != before[0] and any_store.data_version(other) == before[1]


def test_two_stores_on_one_database_see_each_others_writes_and_share_housekeeping(tmp_path):
    """Two ClickHouse stores on one database stand in for two `moments` processes on one cluster."""
    first, second = open_backend("chdb", tmp_path, owner=False), open_backend("chdb", tmp_path, owner=False)
    try:
        environment = env_of(first)
        env = environment.environment_id
        assert second.get_environment(env) == environment
        second.put_asset(env, Asset("a", 60_000, ("p",)))
        first.upsert_views(env, [done("v1", playback_id="p", view_end_ms=None)], NOW_MS - 2 * 3_600_000)
        assert second.get_view(env, "v1") is not None
        # Beacon view state lives in the store: the fold one process stored, the other reads.
        first.upsert_beacon_views(env, [done("b", video_id="b-video")], ["[1]"], [NOW_MS])
        assert second.view_folds(env, ["b"]) == {"b": "[1]"}
        # Housekeeping runs in one of them at a time (a lease), so idle views close once.
        assert first.finalize_idle_views(NOW_MS - 3_600_000) == 1
        second.upsert_views(env, [done("v2", playback_id="p", view_end_ms=None)], NOW_MS - 2 * 3_600_000)
        assert second.finalize_idle_views(NOW_MS - 3_600_000) == 0
        assert second.expire(NOW_MS) == 0
        assert first.finalize_idle_views(NOW_MS - 3_600_000) == 1
        result = engagement(second, environment, Scope.ASSET, "a")
        assert result.total_views == 2
    finally:
        first.close()
        second.close()


def test_parameters_reach_the_engine_intact(tmp_path):
    """What encode_param sends (chdb) and what clickhouse-connect sends over HTTP both read back
    exactly in the engine; they differ only in how a tab or newline is escaped."""
    from clickhouse_connect.driver.binding import format_bind_value

    from moments.store.executor import ChdbExecutor, encode_param

    values = NASTY + ["", "cr\rx", "nul\0x", "\b\f", "a,b", "[1]", "ünï€😀"]
    for value in [None, 0, -5, 2**62, [], ["x'", "y\\"], [None, "z"], "plain", "o'b\\"]:
        assert encode_param(value) == format_bind_value(value), value
    executor = ChdbExecutor(str(tmp_path / "chdb"))
    sql = "SELECT {v:String} AS v, {a:Array(String)} AS a, {n:Nullable(String)} AS n"
    try:
        for value in values:
            row = executor.query(sql, {"v": value, "a": [value, "x"], "n": None}).to_pylist()[0]
            assert row == {"v": value, "a": [value, "x"], "n": None}, value
            theirs = {"v": format_bind_value(value), "a": format_bind_value([value, "x"]), "n": format_bind_value(None)}
            assert executor._session.query(sql, "ArrowTable", params=theirs).to_pylist()[0] == row, value
    finally:
        executor.close()


def test_open_store_urls(tmp_path):
    from moments.store import StoreUnavailable, open_store
    from moments.store.clickhouse import ClickHouseStore

    store = open_store(f"chdb://{tmp_path / 'dir'}")
    try:
        assert isinstance(store, ClickHouseStore) and store.engine_version
    finally:
        store.close()
    duck = open_store(f"duckdb://{tmp_path / 'x.duckdb'}")
    assert isinstance(duck, DuckDBStore)
    duck.close()
    with pytest.raises(ValueError, match="unsupported store URL"):
        open_store("postgres://x")
    with pytest.raises(StoreUnavailable):
        open_store("chdb://")
    with pytest.raises(StoreUnavailable):
        open_store("clickhouse://nobody:pw@127.0.0.1:1/db")


# --- filters ---------------------------------------------------------------------------------

def test_filters_pick_the_matching_views(any_store):
    """Each filter set gives exactly the heatmap of the views it matches, on every backend;
    rollups (which hold no dimensions) are never used for a filtered query."""
    environment = env_of(any_store)
    rng = np.random.default_rng(7)
    countries, devices = ["US", "CA", "DE", None], ["tv", "phone", None]
    views = []
    for i in range(60):
        start = int(rng.integers(0, 50_000))
        views.append(done(f"v{i}", ranges=((start, start + int(rng.integers(1_000, 10_000))),), asset_id="a",
                          country=countries[i % 4], device_type=devices[i % 3],
                          dimensions={"custom_3": "premium"} if i % 5 == 0 else {}))
    any_store.upsert_views(environment.environment_id, views, NOW_MS - 3_000_000)
    window = ((NOW_MS - 3 * DAY_MS) // 1000, NOW_MS // 1000)
    cases = {
        "country:US": lambda v: v.country == "US",
        "!country:US": lambda v: v.country != "US",
        "country:US,country:CA": lambda v: v.country in ("US", "CA"),
        "country:DE,!device_type:tv": lambda v: v.country == "DE" and v.device_type != "tv",
        "operating_system:none": lambda v: False,
        "custom_3:premium": lambda v: v.dimensions.get("custom_3") == "premium",
        "!custom_3:premium,viewer_device_category:phone": lambda v: "custom_3" not in v.dimensions
        and v.device_type == "phone",
    }
    for text, keep in cases.items():
        filters = parse_filters(text.split(","))
        got = stats.engagement(any_store, EngagementQuery(environment, Scope.ASSET, "a", window, filters, NOW_MS, 3600))
        matching = [v for v in views if keep(v)]
        assert got.total_views == len(matching), text
        if matching:
            expected = [float(x) for x in reference_heatmap([list(v.ranges) for v in matching], 60_000)]
            np.testing.assert_allclose(got.values, expected, rtol=1e-12, err_msg=text)


def test_export_views_pages_the_completed_views_oldest_first(any_store):
    """export_views: the completed views of a window (all, or one scope's), matching the filters,
    of this environment only, in pages of at most batch_rows, oldest first; lazy."""
    from moments.filters import parse_filters
    from moments.store.rows import VIEW_COLUMNS, views_from_arrow

    environment, other = env_of(any_store, "exports"), env_of(any_store, "other")
    any_store.put_asset(environment.environment_id, Asset("a", 60_000, ("pa",)))
    base = NOW_MS - 2 * 3_600_000
    views = [done(f"v{i:02d}", start_ms=base + (i // 2) * 1000, asset_id="a" if i % 3 else None,
                  playback_id="pa" if i % 3 == 0 else None, video_id="vid" if i % 2 else None,
                  country="US" if i % 4 == 0 else "FR", dimensions={"custom_2": "x"} if i % 5 == 0 else {})
             for i in range(23)]
    views.append(done("open", start_ms=base, view_end_ms=None, asset_id="a"))
    views.append(done("late", start_ms=NOW_MS + 1000, asset_id="a"))  # after the window
    any_store.upsert_views(environment.environment_id, views, NOW_MS - 1000)
    any_store.upsert_views(other.environment_id, [done("v00", start_ms=base, asset_id="a")], NOW_MS - 1000)
    completed = views[:23]
    start, end = NOW_MS - DAY_MS, NOW_MS

    def exported(**options) -> list[View]:
        pages = list(any_store.export_views(environment.environment_id, start, end, batch_rows=5, **options))
        assert all(0 < page.num_rows <= 5 and tuple(page.column_names) == VIEW_COLUMNS for page in pages)
        return [v for page in pages for v in views_from_arrow(page)]

    everything = exported()
    assert [v.view_id for v in everything] == [v.view_id for v in sorted(completed, key=lambda v: (v.view_start_ms, v.view_id))]
    assert everything == sorted(completed, key=lambda v: (v.view_start_ms, v.view_id))  # every field, as stored
    # The asset's views include those that name only one of its playback IDs.
    assert [v.view_id for v in exported(scope=Scope.ASSET, scope_id="a")] == [v.view_id for v in everything]
    assert [v.view_id for v in exported(scope=Scope.VIDEO, scope_id="vid")] == [
        v.view_id for v in everything if v.video_id == "vid"]
    assert [v.view_id for v in exported(scope=Scope.PLAYBACK_ID, scope_id="pa")] == [
        v.view_id for v in everything if v.playback_id == "pa"]
    assert [v.view_id for v in exported(filters=parse_filters(["country:US", "!custom_2:x"]))] == [
        v.view_id for v in everything if v.country == "US" and "custom_2" not in v.dimensions]
    assert exported(scope=Scope.VIDEO, scope_id="nope") == []
    assert len(list(any_store.export_views(other.environment_id, start, end))) == 1



def test_allowed_origins_are_kept_and_changed(any_store):
    environment, _ = accounts.create_environment(any_store, "sites", allowed_origins=("https://a.example", "none"))
    assert any_store.get_environment(environment.environment_id) == environment
    any_store.set_allowed_origins(environment.environment_id, ("*.b.example",))
    changed = dataclasses.replace(environment, allowed_origins=("*.b.example",))
    assert any_store.environment_by_env_key(environment.env_key) == changed
    assert any_store.environments() == [changed]


def test_engagements_of_many_ids_equal_each_id_from_raw_views(any_store):
    """stats.engagements (the peers of /relative, a few store queries for any number of ids)
    gives each id exactly its heatmap from its raw views: ids of every kind in one batch (a view
    counted for an asset by its asset id and for another through a registered playback ID),
    registered and reported durations, views on other grids, without a duration, in progress,
    at the window's partial partitions; unfiltered, on slice rows, and read raw."""
    environment = env_of(any_store)
    env = environment.environment_id
    any_store.put_asset(env, Asset("a1", 60_000, ("p1", "p2")))
    any_store.put_asset(env, Asset("a2", 90_000, ("p3",)))
    rng = np.random.default_rng(16)
    views = []
    for i in range(160):
        start = NOW_MS - int(rng.integers(0, 3 * DAY_MS))
        first = int(rng.integers(0, 80_000))
        views.append(View(
            view_id=f"v{i}", view_start_ms=start, ranges=((first, first + int(rng.integers(500, 40_000))),),
            duration_ms=[60_000, 60_000, 61_000, 0, 90_000][i % 5], view_end_ms=None if i % 9 == 0 else start + 1_000,
            asset_id=["a1", "a2", "a3", None, NASTY[0]][int(rng.integers(0, 5))],
            playback_id=["p1", "p2", "p3", "p9", None][int(rng.integers(0, 5))],
            video_id=["v1", "a/b/c", NASTY[4], None][int(rng.integers(0, 4))], country=["US", "FR", None][i % 3],
            dimensions={"custom_1": "x"} if i % 4 == 0 else {}))
    any_store.upsert_views(env, views, NOW_MS - 60_000)
    window = ((NOW_MS - 2 * DAY_MS) // 1000 + 421, NOW_MS // 1000 - 779)  # partial partitions at both ends
    ids = {Scope.ASSET: ["a1", "a2", "a3", NASTY[0], "nowhere"], Scope.PLAYBACK_ID: ["p1", "p2", "p3", "p9", "nowhere"],
           Scope.VIDEO: ["v1", "a/b/c", NASTY[4], "nowhere"]}
    compared = 0
    for text in ("", "country:US", "!country:US", "custom_1:x"):
        filters = parse_filters([text]) if text else ()
        for scope, scope_ids in ids.items():
            query = EngagementQuery(environment, scope, None, window, filters, NOW_MS, 3600)
            batch = stats.engagements(any_store, query, scope_ids)
            assert list(batch) == scope_ids
            for scope_id in scope_ids:
                got = batch[scope_id]
                if scope_id == "nowhere":
                    assert (got.total_views, got.duration_ms, got.values.size) == (0, None, 0)
                    continue
                raw = stats.layers(any_store, query.about(scope_id))
                assert (got.total_views, got.duration_ms) == (raw.total_views, raw.duration_ms), (text, scope_id)
                assert got.values.tolist() == raw.unique.tolist(), (text, scope_id)
                compared += got.total_views > 0
    assert compared >= 40  # of 48 (known id, filter) pairs: nearly all compare curves with views


def test_beacons_and_imports_never_replace_each_others_views(any_store):
    env = env_of(any_store).environment_id
    imported = View("imported", NOW_MS, 60_000, ((0, 60_000),), asset_id="a", view_end_ms=NOW_MS + 60_000)
    beacon = dataclasses.replace(imported, view_id="beacon", last_event_ms=NOW_MS + 60_000)
    assert any_store.upsert_views(env, [imported], NOW_MS) == set()
    assert any_store.upsert_beacon_views(env, [beacon], ["{}"], [NOW_MS]) == set()
    forged = dict(ranges=((0, 10),), asset_id=None, video_id="forged")
    assert any_store.upsert_beacon_views(env, [dataclasses.replace(imported, last_event_ms=NOW_MS, **forged)],
                                         ["{}"], [NOW_MS]) == {"imported"}
    assert any_store.upsert_views(env, [dataclasses.replace(beacon, last_event_ms=None, **forged),
                                        dataclasses.replace(imported, ranges=((0, 30_000),))], NOW_MS) == {"beacon"}
    assert any_store.get_view(env, "beacon") == beacon and any_store.view_folds(env, ["imported"]) == {}
    assert any_store.get_view(env, "imported").ranges == ((0, 30_000),)  # an import still replaces its own


def test_summary_figures_are_their_definitions_on_every_store(any_store):
    """stats.summary reads the heatmap (rollups) and, per view, the counted views' ranges: the
    same figures whichever store holds the views (tests/test_summary.py defines them directly)."""
    import test_summary

    environment = env_of(any_store)
    any_store.put_asset(environment.environment_id, Asset("film", 61_500))
    views = test_summary.random_views(np.random.default_rng(3), "v", 80, 61_000, asset_id="film")
    now_ms = test_summary.NOW_MS
    any_store.upsert_views(environment.environment_id, views, now_ms)
    query = EngagementQuery(environment, Scope.ASSET, "film", ((now_ms - 4 * DAY_MS) // 1000, now_ms // 1000), (),
                            now_ms, 3600)
    figures = summary_json(summary(any_store, query, per_view=True))["data"]
    test_summary.assert_figures(figures, test_summary.expected(views, 61_500))
