"""moments.client's list_views and get_view against the live server (sync and async)."""

from __future__ import annotations

import time

import pytest

from moments.client import (AsyncClient, BadRequestError, Client, NotFoundError, PathStep, ViewDetail, ViewEnding,
                            ViewPage)

from conftest import run_async

NOW_MS = int(time.time() * 1000)
HOUR_MS = 3_600_000


@pytest.fixture
def loaded(server):
    tenant = server.tenant()
    views = [{"view_id": f"v{i}", "video_id": "ep / 7", "view_start": NOW_MS - (i + 1) * HOUR_MS,
              "view_end": NOW_MS, "duration_ms": 60_000, "country": "FR" if i % 2 else "US",
              "ranges": [[0, 20_000], [40_000, 60_000]]} for i in range(5)]
    with Client(tenant.token_id, tenant.token_secret, server.base_url) as client:
        assert client.import_views(views).accepted == 5
    return server, tenant


def test_sync_list_views_pages_and_get_view(loaded):
    server, tenant = loaded
    with Client(tenant.token_id, tenant.token_secret, server.base_url) as client:
        seen, cursor = [], None
        while True:
            page = client.list_views("videos", "ep / 7", timeframe=["7:days"], limit=2, cursor=cursor)
            assert isinstance(page, ViewPage) and page.total_row_count == 5
            seen += [v.view_id for v in page.data]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        french = client.list_views("videos", "ep / 7", filters=["country:FR"])
        detail = client.get_view("v1")
        with pytest.raises(NotFoundError):
            client.get_view("nope")
        with pytest.raises(NotFoundError):
            client.list_views("assets", "nope")
        with pytest.raises(BadRequestError):
            client.list_views("videos", "ep / 7", cursor="not-a-cursor")
    assert seen == ["v0", "v1", "v2", "v3", "v4"]
    assert [v.view_id for v in french.data] == ["v1", "v3"]
    assert isinstance(detail, ViewDetail) and detail.video_id == "ep / 7" and detail.country == "FR"
    assert detail.ranges == [(0, 20_000), (40_000, 60_000)] and detail.seeks == 1
    assert detail.path == [PathStep("play", start_ms=0, end_ms=20_000),
                           PathStep("seek", from_ms=20_000, to_ms=40_000, direction="forward"),
                           PathStep("play", start_ms=40_000, end_ms=60_000)]
    assert detail.ended == ViewEnding("completed", 60_000)
    assert detail.watched_ms == detail.unique_watched_ms == 40_000


def test_async_list_views_and_get_view(loaded):
    server, tenant = loaded

    async def run():
        async with AsyncClient(tenant.token_id, tenant.token_secret, server.base_url) as client:
            page = await client.list_views("videos", "ep / 7", limit=1)
            return page, await client.get_view(page.data[0].view_id)

    page, detail = run_async(run())
    assert [v.view_id for v in page.data] == ["v0"] and page.next_cursor
    assert detail.view_id == "v0" and detail.view_start == NOW_MS - HOUR_MS
