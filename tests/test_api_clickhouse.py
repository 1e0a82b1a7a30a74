"""The HTTP layer unchanged on the ClickHouse store: API, lists and collector tests, re-run
against a real server whose store is the ClickHouse store on chdb (the in-process engine).

Overriding the `store` fixture is all it takes: conftest's `server` / `start_server` build on it.
"""

from __future__ import annotations

import pytest

import test_api
import test_collector
import test_lists

pytest.importorskip("chdb")


@pytest.fixture
def store(tmp_path):
    from moments.store.clickhouse import ClickHouseStore
    from moments.store.executor import ChdbExecutor

    s = ClickHouseStore(ChdbExecutor(str(tmp_path / "chdb")), lease_settle_s=0, owner=True)  # as open_store
    yield s
    s.close()


test_asset_video_and_playback_id_select_different_views = test_api.test_asset_video_and_playback_id_select_different_views
test_timeframe_selects_by_view_start_and_reports_the_window = test_api.test_timeframe_selects_by_view_start_and_reports_the_window
test_window_is_clamped_to_retention = test_api.test_window_is_clamped_to_retention
test_incomplete_views_wait_for_their_end_or_the_idle_timeout = test_api.test_incomplete_views_wait_for_their_end_or_the_idle_timeout
test_old_sdk_views_are_stored_but_left_out = test_api.test_old_sdk_views_are_stored_but_left_out
test_idempotent_by_view_id_and_later_version_replaces = test_api.test_idempotent_by_view_id_and_later_version_replaces
test_no_views_in_window_is_empty_not_an_error = test_api.test_no_views_in_window_is_empty_not_an_error
test_hotspot_ordering_and_limit = test_api.test_hotspot_ordering_and_limit
test_other_environment_sees_404_identical_to_missing = test_api.test_other_environment_sees_404_identical_to_missing
test_video_ids_may_hold_slashes_and_spaces = test_api.test_video_ids_may_hold_slashes_and_spaces
test_lists_are_most_viewed_first_with_counts = test_lists.test_lists_are_most_viewed_first_with_counts
test_search_and_limit = test_lists.test_search_and_limit
test_environments_never_see_each_others_ids = test_lists.test_environments_never_see_each_others_ids
test_playback_id_lookup = test_lists.test_playback_id_lookup
test_replay_in_order = test_collector.test_replay_in_order
test_replay_shuffled_and_twice_gives_the_same_views = test_collector.test_replay_shuffled_and_twice_gives_the_same_views
test_configured_path_and_preflight = test_collector.test_configured_path_and_preflight
