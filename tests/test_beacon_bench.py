"""bench/beacons.py, briefly (seconds, never a timing assertion): the viewers it renders store
every acknowledged view with the captured ranges (fresh view ids, the environment's env key),
it re-sends after a 503's Retry-After, and its report has every row."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from pathlib import Path

import httpx

from conftest import run_async

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import beacons  # noqa: E402


def stored_view(client: httpx.Client, view_id: str, timeout_s: float = 10) -> dict:
    """The view as the API answers it, once its events are applied (a write path may apply them
    after the acknowledgement)."""
    deadline = time.monotonic() + timeout_s
    while (response := client.get(f"/v1/views/{view_id}")).status_code == 404 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_acknowledged_viewers_are_stored_as_captured(tmp_path):
    load = beacons.Load(clients=2, seconds=2)
    with beacons.served(ROOT / "src", "duckdb", tmp_path / "server") as target:
        scenarios = beacons.load_scenarios(target.env_key, target.authority)
        phase, tally = run_async(beacons.measure(target, load, beacons.Pool(scenarios, "t", 2000)))
        assert tally.completed and phase.posts == tally.posts > 0
        assert phase.drain.checked > 0 and phase.drain.stored_as_sent == phase.drain.checked
        with httpx.Client(base_url=target.base_url, auth=target.token) as client:
            for viewer in tally.completed:  # every POST acknowledged: each view has its final ranges
                for view_id, ranges in zip(viewer.view_ids, viewer.scenario.ranges):
                    assert stored_view(client, view_id)["ranges"] == ranges, (viewer.scenario.name, view_id)
            for viewer in tally.acked:  # cut by the run's end: its first view exists all the same
                stored_view(client, viewer.view_ids[0])
    assert len({v for viewer in tally.acked for v in viewer.view_ids}) == sum(len(v.view_ids) for v in tally.acked)

    text = beacons.section("duckdb", "python bench/beacons.py", 3, 0.5, load, scenarios, 1000.0,
                           [beacons.Column("this tree", phase, phase)], ["a note"])
    for name, _ in beacons.MAIN_ROWS + beacons.ADVERSARY_ROWS:
        assert f"| {name} | " in text
    assert "## Beacon ingestion" in text and "1,000 POSTs/s" in text and "- a note" in text


class BusyOnce(beacons.InstantAnswers):
    """503 with Retry-After to the first request, 200 to the others."""

    BUSY = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\nContent-Length: 0\r\n\r\n"
    answered = 0

    def answer(self) -> bytes:
        BusyOnce.answered += 1
        return self.BUSY if BusyOnce.answered == 1 else self.OK


def test_a_503_is_sent_again_after_its_retry_after():
    async def run() -> beacons.Tally:
        listener = socket.create_server(("127.0.0.1", 0))
        server = await asyncio.get_running_loop().create_server(BusyOnce, sock=listener)
        scenario = beacons.load_scenarios("key", "127.0.0.1")[0]
        viewer, tally = beacons.render(scenario, "x"), beacons.Tally()
        connection = beacons.Connection("127.0.0.1", listener.getsockname()[1])
        acked = await beacons.deliver(connection, viewer.requests[0], scenario.events[0], tally, time.monotonic() + 10)
        connection.close()
        server.close()
        assert acked
        return tally

    tally = run_async(run())
    assert tally.answers == {"503": 1} and tally.posts == 1 and BusyOnce.answered == 2
