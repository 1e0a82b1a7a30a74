"""moments.client's relative() and compare() against the live server, sync and async."""

from __future__ import annotations

import time

import pytest

from moments.client import AsyncClient, BadRequestError, Client, NotFoundError

from conftest import run_async
from test_compare import load_peers


@pytest.fixture
def loaded(server):
    tenant = server.tenant()
    with server.client(tenant) as raw:
        load_peers(raw)
        assert raw.put("/v1/assets/mine", json={"duration_ms": 60_000, "playback_ids": ["pbA", "pbB"]}).status_code == 200
    return server, tenant


def test_relative_and_compare_match_the_raw_api(loaded):
    server, tenant = loaded
    with Client(tenant.token_id, tenant.token_secret, server.base_url) as client, server.client(tenant) as raw:
        # Two epoch seconds, not "7:days": a relative window moves when a second passes between the calls.
        window = [str(int(time.time()) - 7 * 86_400), str(int(time.time()))]
        relative = client.relative("assets", "mine", timeframe=window, filters=["!country:ZZ"])
        expected = raw.get("/v1/engagement/assets/mine/relative",
                           params={"timeframe[]": window, "filters[]": "!country:ZZ"}).json()
        assert relative.value == expected["data"]["value"] and relative.typical == expected["data"]["typical"]
        assert relative.relative == expected["data"]["relative"] and relative.timeframe == tuple(expected["timeframe"])
        assert relative.overall.better_than == 0.75 and relative.overall.ratio == pytest.approx(1.5)
        assert relative.peers == 4 and relative.band == (30_000, 120_000) and relative.note is None

        comparison = client.compare("assets", "mine", against="p1")
        assert comparison.a.id == "mine" and comparison.b.label == "p1" and comparison.duration_ms == 60_000
        assert comparison.difference == pytest.approx([0.0] * 30 + [-1.0] * 15 + [0.0] * 15)
        with pytest.raises(BadRequestError) as error:
            client.compare("assets", "mine")
        assert "against_timeframe[]" in error.value.messages[0]
        with pytest.raises(NotFoundError):
            client.relative("videos", "nope")


def test_async_client(loaded):
    server, tenant = loaded

    async def run():
        async with AsyncClient(tenant.token_id, tenant.token_secret, server.base_url) as client:
            return await client.relative("assets", "p2"), await client.compare(
                "assets", "mine", timeframe=["1:days"], against_timeframe=["2:days"])

    relative, comparison = run_async(run())
    assert relative.overall.better_than == 0.0 and relative.peers == 4  # p2 (to 15 s) is the weakest
    assert (comparison.a.label, comparison.b.label) == ("1:days", "2:days")
    assert comparison.b.timeframe[1] - comparison.b.timeframe[0] == 2 * 86_400
    assert comparison.difference == [0.0] * 60  # every view is from the last hour
