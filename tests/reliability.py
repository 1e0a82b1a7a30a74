"""Helpers of the reliability suite (docs/reliability.md): the real server as a subprocess,
mux-embed captures replayable as many distinct views, the store's fingerprint, expected
heatmaps, and the figures the suite reports at the end of a run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from moments.engagement.heatmap import heatmap as heatmap_math
from moments.ingestion.beacons import decode_body
from moments.model import RangeSet

from captures import FIXTURES, FORWARDED_HEADERS
from conftest import free_port


# Counted while the suite runs and printed at its end (conftest.pytest_terminal_summary).
FIGURES: dict[str, int] = defaultdict(int)


def count(name: str, n: int = 1) -> None:
    FIGURES[name] += n


def fuzz_examples(default: int) -> int:
    """Examples per fuzz test: MOMENTS_FUZZ_EXAMPLES, else the CI default."""
    return int(os.environ.get("MOMENTS_FUZZ_EXAMPLES", default))


# --- the real server, as its own process ------------------------------------------------

class ServerProcess:
    """`python -m moments serve --db FILE --port N`, started, killed and restarted by a test."""

    def __init__(self, db_path: Path, log_path: Path, env: dict[str, str] | None = None,
                 args: tuple[str, ...] = ()) -> None:
        self.db_path, self.log_path, self.args = db_path, log_path, args
        self.env = {**os.environ, **(env or {})}
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: bool = True) -> "ServerProcess":
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moments", "serve", "--db", str(self.db_path), "--port", str(self.port), *self.args],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=self.env)
        log.close()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout_s: float = 30) -> None:
        """Until /healthz answers (the store opened, recovered and answered a query)."""
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}:\n{self.log()[-3000:]}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"server not ready after {timeout_s} s:\n{self.log()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, nothing is flushed or checkpointed."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def rss_bytes(self) -> int:
        """Resident memory of the server process now."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


# --- mux-embed captures as many distinct views ------------------------------------------

@dataclass
class BeaconRequest:
    headers: dict[str, str]
    body: bytes
    events: list[tuple[str, int]]  # (view_id, view_sequence_number) of its events


@dataclass
class Capture:
    """One scenario's POSTs, with its view ids made unique, and the views they must give."""

    scenario: str
    requests: list[BeaconRequest]
    views: dict[str, tuple[str, list[list[int]]]] = field(default_factory=dict)  # view_id: (video_id, ranges)


def scenarios() -> list[str]:
    """The captured scenarios that produce views."""
    return sorted(p.name for p in FIXTURES.iterdir()
                  if p.is_dir() and json.loads((p / "views.json").read_text()))


def capture(scenario: str, tag: str, env_key: str = "testenv") -> Capture:
    """The scenario's POSTs as a new player would send them: view ids suffixed with `tag`."""
    raw = json.loads((FIXTURES / scenario / "requests.raw.json").read_text())
    views = json.loads((FIXTURES / scenario / "views.json").read_text())
    renamed = {v["view_id"]: f"{v['view_id']}-{tag}" for v in views}
    requests = []
    for request in raw:
        body = request["body"]
        for old, new in renamed.items():
            body = body.replace(old, new)
        body = body.replace('"ake":"testenv"', f'"ake":"{env_key}"').encode()
        events = [(e["view_id"], e["view_sequence_number"]) for e in decode_body(body).events
                  if "view_id" in e and "view_sequence_number" in e]
        headers = {k: v for k, v in request["headers"] if k.lower() in FORWARDED_HEADERS}
        requests.append(BeaconRequest(headers, body, events))
    expected = {renamed[v["view_id"]]: (v["final_state"]["video_id"], v["final_video_playback_ranges_ms"])
                for v in views}
    return Capture(scenario, requests, expected)


# --- expectations -------------------------------------------------------------------------

def expected_heatmap(ranges_per_view: list[list[list[int]]], duration_ms: int) -> list[float]:
    """The heatmap of these views, each counted once, computed without the server or store."""
    index = [i for i, ranges in enumerate(ranges_per_view) for _ in ranges]
    flat = [pair for ranges in ranges_per_view for pair in ranges]
    rangeset = RangeSet(len(ranges_per_view), np.array(index, dtype=np.int64),
                        np.array([s for s, _ in flat], dtype=np.int64), np.array([e for _, e in flat], dtype=np.int64),
                        np.zeros(len(ranges_per_view), dtype=np.int64))
    return heatmap_math(rangeset, duration_ms).tolist()


def heatmaps_equal(body: dict, ranges_per_view: list[list[list[int]]], duration_ms: int) -> None:
    assert body["data"]["total_views"] == len(ranges_per_view)
    np.testing.assert_allclose(body["data"]["value"], expected_heatmap(ranges_per_view, duration_ms),
                               rtol=0, atol=1e-12)


TABLES = ("environments", "tokens", "assets", "playback_ids", "views", "view_folds", "rollups", "unrolled_views")


def fingerprint(store) -> tuple:
    """Every table's rows, hashed: equal fingerprints mean nothing was written."""
    with store._lock:
        return tuple(store._exec(f"SELECT count(*), coalesce(sum(hash(COLUMNS(*))), 0) FROM {table}")[0]
                     for table in TABLES)


def write_marker(server) -> tuple:
    """Cheap enough to take around every fuzzed request, once the server has applied every
    beacon it acknowledged: every environment's data version (moved by every commit to
    views, assets or rollups) and how far the beacon journal reaches (append-only)."""
    pipeline = server.uvicorn_server.config.app.state.beacons
    deadline = time.monotonic() + 30
    while pipeline.backlog_bytes() > 0:
        assert time.monotonic() < deadline, "acknowledged beacons not applied after 30 s"
        time.sleep(0.005)
    with server.store._lock:
        return dict(server.store._follow.versions), pipeline.writer.durable
