"""`moments serve --workers 2`: two processes on one port, the owner holding the DuckDB file
and a door taking beacons into a journal of its own; reads go through either."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import httpx

from moments.store.duckdb import DuckDBStore

from captures import wait_for_ingest
from conftest import make_tenant
from reliability import Capture, ServerProcess, capture, heatmaps_equal, scenarios


def door_pids(owner_pid: int) -> list[int]:
    """The owner's door processes (children of any of its threads)."""
    children = [pid for task in Path(f"/proc/{owner_pid}/task").iterdir()
                for pid in (task / "children").read_text().split()]
    return [int(pid) for pid in children if b" door " in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")]


def play(base_url: str, sessions: list[Capture], cut: list[int]) -> None:
    """Send each session's POSTs in order on fresh connections (so both processes get them);
    a POST without an answer is sent again, as the SDK does."""
    for session in sessions:
        for request in session.requests:
            while True:
                try:
                    response = httpx.post(f"{base_url}/", content=request.body, headers=request.headers, timeout=30)
                    assert response.status_code == 200, response.text
                    break
                except httpx.TransportError:
                    cut.append(1)
                    time.sleep(0.2)


def test_two_processes_take_beacons_lose_none_when_a_door_is_killed_and_serve_reads(tmp_path):
    db_path = tmp_path / "workers.duckdb"
    store = DuckDBStore(str(db_path))
    tenant = make_tenant(store, env_key="workersenv")
    store.close()
    sessions = [capture(scenarios()[n % len(scenarios())], f"w{n}", "workersenv") for n in range(48)]
    server = ServerProcess(db_path, tmp_path / "server.log", args=("--workers", "2")).start()
    try:
        deadline = time.monotonic() + 30
        while not door_pids(server.process.pid):
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.1)
        (door,) = door_pids(server.process.pid)
        cut: list[int] = []
        players = [threading.Thread(target=play, args=(server.base_url, sessions[i::6], cut)) for i in range(6)]
        for player in players:
            player.start()
        door_journal = Path(f"{db_path}.journal") / "door-1"
        deadline = time.monotonic() + 60
        while not any(p.stat().st_size for p in door_journal.glob("*.log")):  # the door takes beacons too
            assert time.monotonic() < deadline and any(p.is_alive() for p in players), server.log()
            time.sleep(0.05)
        os.kill(door, signal.SIGKILL)  # mid-flood: what it acknowledged is in its journal
        for player in players:
            player.join(timeout=120)
        deadline = time.monotonic() + 30
        while not door_pids(server.process.pid):  # the owner started its door again
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.1)

        with httpx.Client(base_url=server.base_url, auth=tenant.auth) as client:
            wait_for_ingest(client)
            now = int(time.time())
            window = {"timeframe[]": [str(now - 86_400), str(now + 3600)]}
            by_video: dict[str, list] = {}
            for session in sessions:
                for view_id, (video_id, ranges) in session.views.items():
                    by_video.setdefault(video_id, []).append(ranges)
                    assert client.get(f"/v1/views/{view_id}").json()["data"]["ranges"] == ranges
            for video_id, ranges in by_video.items():
                # Each read on a new connection: the owner's answers, served by either process.
                bodies = {httpx.get(f"{server.base_url}/data/v1/engagement/videos/{video_id}/heatmap", params=window,
                                    auth=tenant.auth).text for _ in range(6)}
                assert len(bodies) == 1
                heatmaps_equal(client.get(f"/data/v1/engagement/videos/{video_id}/heatmap", params=window).json(),
                               ranges, 60_000)
        doors = door_pids(server.process.pid)
    finally:
        server.stop()
    # uvicorn shuts down gracefully, then re-raises the SIGTERM it caught: -15, not -9.
    assert server.process.returncode in (0, -signal.SIGTERM) and not any(os.path.exists(f"/proc/{p}") for p in doors)
    assert "Traceback" not in server.log(), server.log()[-3000:]


def test_each_request_is_logged_once_with_its_client_whichever_process_takes_it(tmp_path):
    # Any proxy trusted (as behind nginx on 127.0.0.1 only): the owner believes what a door passes on too.
    server = ServerProcess(tmp_path / "logs.duckdb", tmp_path / "server.log",
                           args=("--workers", "2", "--log-format", "json", "--log-level", "info",
                                 "--forwarded-allow-ips", "*")).start()
    try:
        deadline = time.monotonic() + 30
        while not door_pids(server.process.pid):
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.1)
        while server.log().count("Application startup complete") < 2:  # the door is ready too
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.1)
        clients = [f"203.0.113.{n}" for n in range(1, 61)]

        def ask(some: list[str]) -> None:  # fresh connections: the kernel hands them to either process
            for client in some:
                response = httpx.get(f"{server.base_url}/healthz", headers={"X-Forwarded-For": client})
                assert response.status_code == 200

        askers = [threading.Thread(target=ask, args=(clients[i::4],)) for i in range(4)]
        for asker in askers:
            asker.start()
        for asker in askers:
            asker.join()
    finally:
        server.stop()
    lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "moments.access" and line["client"] != "127.0.0.1"]
    assert sorted(a["client"] for a in access) == sorted(clients)  # once each: what a door passes on is not logged twice
    assert len({a["pid"] for a in access}) == 2  # both processes took some, and log in JSON
