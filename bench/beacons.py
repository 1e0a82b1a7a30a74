"""Beacon load generator: real mux-embed 5.19.0 POSTs, replayed by many viewers at once.

    python bench/beacons.py                              # 16 clients for 60 s: this tree beside 1ffb8a1
    python bench/beacons.py --clients 4 --seconds 10 --baseline-rev none
    python bench/beacons.py --rev HEAD                   # HEAD's server (not the working tree's) beside 1ffb8a1
    python bench/beacons.py --pace 10 --viewers 5000     # 5,000 viewers, each POSTing every 10 s
    python bench/beacons.py --adversary                  # then the same load beside 4 endless 1 MiB writers
    python bench/beacons.py --store chdb                 # the ClickHouse store (chdb)
    python bench/beacons.py --url http://127.0.0.1:8000 --env-key KEY [--token ID:SECRET] [--pid PID]

Each simulated viewer replays one captured scenario of tests/fixtures/mux-embed-5.19.0 (its
README) POST by POST, in order, with its own view ids (`{captured id}-{tag}`, the renaming of
tests/reliability.py) and the target environment's env key. A connection sends its viewers'
POSTs back to back (the server's capacity), or with `--pace S` keeps `--viewers N / --clients`
viewers playing, each POSTing every S seconds like the SDK (a real site's load).

A 503 or 429 is re-sent after its Retry-After, as the SDK does; every non-2xx answer is
counted by status. Bodies and their HTTP heads are rendered before the timed run, so the
run only writes bytes and reads answers (asyncio streams, keep-alive HTTP/1.1); the report
states the generator's own ceiling, measured first against a local endpoint that answers at once.

Unless `--url` names a running server, each revision gets a fresh store and its own server
(`python -m moments serve` with that revision's src/ on PYTHONPATH; the baseline, and `--rev`,
are checked out with `git worktree add`), and both are measured in the same invocation. The table goes to
docs/benchmarks.md (section "Beacon ingestion"), the raw output to bench/last-beacons-run.log.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import heapq
import json
import multiprocessing
import os
import random
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Awaitable, Callable, Iterator, TextIO
from urllib.parse import quote, urlsplit

sys.path.insert(0, str(Path(__file__).parent))
from report import write_report  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "mux-embed-5.19.0"
CAPTURED_ENV_KEY = '"ake":"testenv"'
DEFAULT_BASELINE = "1ffb8a1"  # the synchronous write path: one lock and one view rebuild per POST
SAMPLE_EVERY_S = 0.25  # ingest lag, RSS and the victim's heatmap are sampled this often
RETRY_S = 1.0  # before re-sending after a 5xx without Retry-After or a lost connection
GRACE_S = 30.0  # answers still awaited this long after the run's end; later ones are abandoned
DRAIN_TIMEOUT_S = 120.0
VERIFY_NEWEST, VERIFY_RANDOM = 20, 30  # completed viewers whose views the drain check reads back
HEATMAP_VIDEO = "vid-1"  # every captured scenario plays it
LAG_GAUGE = "moments_ingest_lag_seconds"
ADVERSARY_CONNECTIONS, ADVERSARY_EVENTS, ADVERSARY_EVENT_BYTES = 4, 1000, 1000  # ~1 MiB bodies, the cap
RATE_LIMIT = "1000000"  # the environments' request rate: the bench measures ingestion, not the limiter
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")
HOP_BY_HOP = {"host", "connection", "content-length"}  # written by the generator; other captured headers are sent


# --- the captured POSTs, as templates and as rendered viewers ---------------------------------------------------------

@dataclass(frozen=True)
class Scenario:
    """One captured session: its POSTs cut around its view ids, so a viewer is rendered by joins."""

    name: str
    view_ids: tuple[str, ...]
    ranges: tuple[list[list[int]], ...]  # each view's final ranges (views.json)
    heads: tuple[bytes, ...]  # each POST's request line and headers, up to "Content-Length: "
    bodies: tuple[tuple[bytes | int, ...], ...]  # each POST's body: literal bytes, or the index of a view id
    events: tuple[int, ...]  # events in each POST


@dataclass(frozen=True, slots=True)
class Viewer:
    scenario: Scenario
    view_ids: tuple[str, ...]
    requests: tuple[bytes, ...]  # whole HTTP requests, ready to write


def load_scenarios(env_key: str, host: str) -> list[Scenario]:
    """The captured scenarios that produce views, for this env key and Host header."""
    scenarios = []
    for folder in sorted(p for p in FIXTURES.iterdir() if p.is_dir()):
        views = json.loads((folder / "views.json").read_text())
        if not views:
            continue
        view_ids = tuple(v["view_id"] for v in views)
        cut = re.compile("(" + "|".join(map(re.escape, view_ids)) + ")")
        heads, bodies, events = [], [], []
        for request in json.loads((folder / "requests.raw.json").read_text()):
            body = request["body"].replace(CAPTURED_ENV_KEY, f'"ake":"{env_key}"')
            pieces = cut.split(body)  # literal, id, literal, id, ..., literal
            bodies.append(tuple(view_ids.index(p) if i % 2 else p.encode() for i, p in enumerate(pieces)))
            headers = "".join(f"{k}: {v}\r\n" for k, v in request["headers"] if k.lower() not in HOP_BY_HOP)
            heads.append(f"POST / HTTP/1.1\r\nHost: {host}\r\n{headers}Content-Length: ".encode())
            events.append(len(json.loads(body)["events"]))
        scenarios.append(Scenario(folder.name, view_ids, tuple(v["final_video_playback_ranges_ms"] for v in views),
                                  tuple(heads), tuple(bodies), tuple(events)))
    return scenarios


def render(scenario: Scenario, tag: str) -> Viewer:
    view_ids = tuple(f"{v}-{tag}" for v in scenario.view_ids)
    encoded = [v.encode() for v in view_ids]
    # Each viewer has an address of its own, forwarded as a reverse proxy does (the server
    # trusts X-Forwarded-For from 127.0.0.1): its per-address budget sees viewers, not the generator.
    address = zlib.crc32(tag.encode()) & 0xFFFFFF
    forwarded = b"X-Forwarded-For: 10.%d.%d.%d\r\nContent-Length: " % (address >> 16, (address >> 8) & 255, address & 255)
    requests = []
    for head, pieces in zip(scenario.heads, scenario.bodies):
        body = b"".join(encoded[p] if isinstance(p, int) else p for p in pieces)
        requests.append(b"%s%d\r\n\r\n%s" % (head.removesuffix(b"Content-Length: ") + forwarded, len(body), body))
    return Viewer(scenario, view_ids, tuple(requests))


class Pool:
    """Viewers rendered before the run, handed out in order (cyclic: over and over, for the ceiling)."""

    def __init__(self, scenarios: list[Scenario], tag: str, count: int, cyclic: bool = False) -> None:
        self.viewers = [render(scenarios[i % len(scenarios)], f"{tag}{i}") for i in range(count)]
        self.cyclic, self.next = cyclic, 0
        gc.collect()
        gc.freeze()  # the pool is permanent: no collection walks it during the run

    def take(self) -> Viewer | None:
        if self.next == len(self.viewers):
            if not self.cyclic:
                return None
            self.next = 0
        self.next += 1
        return self.viewers[self.next - 1]


def posts_per_viewer(scenarios: list[Scenario]) -> float:
    return sum(len(s.heads) for s in scenarios) / len(scenarios)


# --- a minimal HTTP/1.1 client ----------------------------------------------------------------------------------------

class ConnectionLost(Exception):
    pass


@dataclass(frozen=True)
class Answer:
    status: int
    retry_after_s: float | None
    body: bytes


class Connection:
    """One keep-alive connection; `exchange` writes a whole request and reads its answer."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def exchange(self, request: bytes) -> Answer:
        reused = self.writer is not None
        try:
            return await self._exchange(request)
        except ConnectionLost:
            if not reused:
                raise
        # The server closed the kept-alive connection while it was idle (its keep-alive timeout):
        # once more on a new one, as browsers do (a re-sent beacon is absorbed as a duplicate).
        return await self._exchange(request)

    async def _exchange(self, request: bytes) -> Answer:
        try:
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            self.writer.write(request)
            head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
            fields = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line)
            body = await self.reader.readexactly(int(fields.get("content-length", 0)))
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
            self.close()
            raise ConnectionLost(str(error)) from None
        if fields.get("connection") == "close":
            self.close()
        retry_after = fields.get("retry-after")
        return Answer(int(head[9:12]), float(retry_after) if retry_after else None, body)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def get_request(host: str, path: str, token: tuple[str, str] | None = None) -> bytes:
    auth = "" if token is None else f"Authorization: Basic {base64.b64encode(':'.join(token).encode()).decode()}\r\n"
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n".encode()


# --- the load ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Load:
    clients: int
    seconds: float
    pace_s: float | None = None  # None: back to back
    viewers: int = 0  # with pace_s: viewers playing at once, over all clients


@dataclass
class Tally:
    """What the clients saw: every acknowledged POST, and every other answer."""

    latencies_ms: list[float] = field(default_factory=list)  # of the 2xx answers
    answers: Counter = field(default_factory=Counter)  # non-2xx by status, and lost connections
    posts: int = 0
    events: int = 0
    completed: list[Viewer] = field(default_factory=list)  # every POST acknowledged, in completion order
    acked: list[Viewer] = field(default_factory=list)  # at least one POST acknowledged
    pool_exhausted: bool = False
    last_ack: float = 0.0
    in_flight: int = 0  # sent, answer not read yet


async def deliver(connection: Connection, request: bytes, events: int, tally: Tally, deadline: float) -> bool:
    """Send until acknowledged, like the SDK: after Retry-After on 503/429, after RETRY_S on other
    5xx or a lost connection; another answer (a 4xx) is final. Nothing is sent after the deadline."""
    while time.monotonic() < deadline:
        started = time.perf_counter()
        tally.in_flight += 1
        try:
            answer = await connection.exchange(request)
        except ConnectionLost:
            answer = None
        finally:
            tally.in_flight -= 1
        if answer is None:
            tally.answers["connection lost"] += 1
            await asyncio.sleep(RETRY_S)
            continue
        if 200 <= answer.status < 300:
            tally.latencies_ms.append((time.perf_counter() - started) * 1000)
            tally.posts += 1
            tally.events += events
            tally.last_ack = time.monotonic()
            return True
        tally.answers[str(answer.status)] += 1
        if answer.retry_after_s is None and answer.status < 500:
            return False
        await asyncio.sleep(answer.retry_after_s if answer.retry_after_s is not None else RETRY_S)
    return False


async def play(connection: Connection, viewer: Viewer, index: int, tally: Tally, deadline: float) -> None:
    """POST the viewer's request `index`; note the viewer as acknowledged, and as completed after its last."""
    if await deliver(connection, viewer.requests[index], viewer.scenario.events[index], tally, deadline):
        if index == 0:
            tally.acked.append(viewer)
        if index == len(viewer.requests) - 1:
            tally.completed.append(viewer)


async def back_to_back(connection: Connection, pool: Pool, tally: Tally, deadline: float) -> None:
    """One viewer after another, each POST as soon as the previous one is answered."""
    while time.monotonic() < deadline:
        viewer = pool.take()
        if viewer is None:
            tally.pool_exhausted = True
            return
        for index in range(len(viewer.requests)):
            await play(connection, viewer, index, tally, deadline)


async def paced(connection: Connection, pool: Pool, tally: Tally, deadline: float, pace_s: float,
                offsets: list[float]) -> None:
    """Viewers playing at once on one connection, each POSTing every pace_s (first at its offset);
    a finished viewer's place goes to a new one. A late connection catches up by sending at once."""
    start = time.monotonic()
    due: list[tuple[float, int, Viewer, int]] = []
    for slot, offset in enumerate(offsets):
        viewer = pool.take()
        if viewer is None:
            tally.pool_exhausted = True
            break
        due.append((start + offset, slot, viewer, 0))
    heapq.heapify(due)
    while due and due[0][0] < deadline:
        at, slot, viewer, index = heapq.heappop(due)
        await asyncio.sleep(at - time.monotonic())
        await play(connection, viewer, index, tally, deadline)
        if index + 1 < len(viewer.requests):
            heapq.heappush(due, (at + pace_s, slot, viewer, index + 1))
        elif (viewer := pool.take()) is not None:
            heapq.heappush(due, (at + pace_s, slot, viewer, 0))
        else:
            tally.pool_exhausted = True


async def clients(host: str, port: int, load: Load, pool: Pool, tally: Tally, deadline: float) -> None:
    connections = [Connection(host, port) for _ in range(load.clients)]
    if load.pace_s is None:
        runs = [back_to_back(c, pool, tally, deadline) for c in connections]
    else:  # viewer k starts at k/viewers of the pace: POSTs spread evenly over time from the first second
        offsets = [load.pace_s * k / load.viewers for k in range(load.viewers)]
        runs = [paced(c, pool, tally, deadline, load.pace_s, offsets[i::load.clients])
                for i, c in enumerate(connections)]
    try:
        await asyncio.wait_for(asyncio.gather(*runs), deadline - time.monotonic() + GRACE_S)
    except asyncio.TimeoutError:
        tally.answers[f"unanswered {GRACE_S:g} s after the end"] = tally.in_flight
    for c in connections:
        c.close()


# --- the server's side: its processes, its ingest lag, the victim's heatmap -------------------------------------------

def process_tree_usage(root: int) -> tuple[float, int]:
    """CPU seconds and resident bytes of `root` and every process below it (worker processes)."""
    usage: dict[int, tuple[int, int]] = {}
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                text = Path(entry.path, "stat").read_text()
            except OSError:  # ended meanwhile
                continue
            fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) ": state, ppid, ...
            usage[int(entry.name)] = (int(fields[11]) + int(fields[12]), int(fields[21]))  # utime+stime, rss
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    ticks = pages = 0
    stack = [root]
    while stack:
        pid = stack.pop()
        if pid in usage:
            ticks, pages = ticks + usage[pid][0], pages + usage[pid][1]
            stack += children.get(pid, [])
    return ticks / TICKS, pages * PAGE


def ingest_lag_s(metrics_text: str) -> float | None:
    """The gauge's value (the largest over its label sets); None when the server has no such gauge."""
    values = [float(line.rsplit(" ", 1)[1]) for line in metrics_text.splitlines()
              if line.startswith(LAG_GAUGE) and line[len(LAG_GAUGE):len(LAG_GAUGE) + 1] in (" ", "{")]
    return max(values) if values else None


@dataclass(frozen=True)
class Target:
    base_url: str
    env_key: str
    token: tuple[str, str] | None = None  # read access to the env key's environment: drain check, heatmap
    pid: int | None = None  # the server process: CPU and RSS
    adversary_env_key: str | None = None

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname

    @property
    def port(self) -> int:
        return urlsplit(self.base_url).port or 80

    @property
    def authority(self) -> str:
        return urlsplit(self.base_url).netloc


@dataclass
class Samples:
    lag_s: list[float] = field(default_factory=list)  # stays empty when the server exposes no lag gauge
    rss_bytes: list[int] = field(default_factory=list)
    heatmap_ms: list[float] = field(default_factory=list)  # 200 answers
    heatmap_answers: Counter = field(default_factory=Counter)  # other answers


async def every(interval_s: float, stop: asyncio.Event, step: Callable[[], Awaitable[None]]) -> None:
    """Run `step` every interval_s (or back to back when it takes longer) until `stop`."""
    while not stop.is_set():
        started = time.monotonic()
        await step()
        try:
            await asyncio.wait_for(stop.wait(), max(0.0, interval_s - (time.monotonic() - started)))
        except asyncio.TimeoutError:
            pass


async def watch(target: Target, samples: Samples, stop: asyncio.Event) -> None:
    """Sample the ingest lag and the server's RSS, and time the victim's heatmap, until `stop`.
    Each has its own connection, so a slow heatmap delays no lag sample."""
    metrics, heatmap = Connection(target.host, target.port), Connection(target.host, target.port)
    metrics_request = get_request(target.authority, "/metrics")
    heatmap_request = get_request(target.authority, f"/data/v1/engagement/videos/{HEATMAP_VIDEO}/heatmap",
                                  target.token)

    async def server() -> None:
        if target.pid is not None:
            samples.rss_bytes.append(process_tree_usage(target.pid)[1])
        try:
            answer = await metrics.exchange(metrics_request)
        except ConnectionLost:
            return
        lag = ingest_lag_s(answer.body.decode()) if answer.status == 200 else None
        if lag is not None:
            samples.lag_s.append(lag)

    async def query() -> None:
        started = time.perf_counter()
        try:
            answer = await heatmap.exchange(heatmap_request)
        except ConnectionLost:
            samples.heatmap_answers["connection lost"] += 1
            return
        if answer.status == 200:
            samples.heatmap_ms.append((time.perf_counter() - started) * 1000)
        else:
            samples.heatmap_answers[str(answer.status)] += 1

    steps = [every(SAMPLE_EVERY_S, stop, server)]
    if target.token is not None:
        steps.append(every(SAMPLE_EVERY_S, stop, query))
    await asyncio.gather(*steps)
    metrics.close()
    heatmap.close()


@dataclass
class Drain:
    """From the last acknowledgement until sampled completed views read back exactly as sent."""

    seconds: float | None = None  # None: not drained within DRAIN_TIMEOUT_S (or nothing to check)
    checked: int = 0
    stored_as_sent: int = 0


async def drain(target: Target, tally: Tally) -> Drain:
    """GET /v1/views/{id} for the newest completed viewers and a random sample of the others until
    each answers 200 with the captured final ranges: then every event they were sent is applied."""
    completed = tally.completed
    sample = completed[-VERIFY_NEWEST:] + random.Random(0).sample(
        completed[:-VERIFY_NEWEST], min(VERIFY_RANDOM, max(0, len(completed) - VERIFY_NEWEST)))
    pending = {view_id: ranges for viewer in sample
               for view_id, ranges in zip(viewer.view_ids, viewer.scenario.ranges)}
    result = Drain(checked=len(pending))
    if target.token is None or not pending:
        return result
    connection = Connection(target.host, target.port)
    give_up = time.monotonic() + DRAIN_TIMEOUT_S
    while pending and time.monotonic() < give_up:
        for view_id in list(pending):
            try:
                answer = await connection.exchange(get_request(target.authority, f"/v1/views/{quote(view_id)}",
                                                               target.token))
            except ConnectionLost:
                break
            if answer.status == 200 and json.loads(answer.body)["data"]["ranges"] == pending[view_id]:
                del pending[view_id]
            elif answer.retry_after_s is not None:
                await asyncio.sleep(answer.retry_after_s)
        if pending:
            await asyncio.sleep(0.1)
    connection.close()
    result.stored_as_sent = result.checked - len(pending)
    if not pending:
        result.seconds = max(0.0, time.monotonic() - tally.last_ack)
    return result


@dataclass
class Phase:
    """One timed run's figures (the JSON of the log)."""

    seconds: float
    posts: int
    events: int
    posts_per_s: float
    events_per_s: float
    ack_p50_ms: float | None
    ack_p99_ms: float | None
    answers: dict[str, int]  # non-2xx
    lag_p99_s: float | None  # None: the server exposes no lag (it applies beacons before answering)
    drain: Drain
    cpu_ms_per_1000_events: float | None
    rss_mib: tuple[float, float, float] | None  # start, peak, end
    heatmap_p99_ms: float | None
    heatmap_samples: int
    heatmap_answers: dict[str, int]
    pool_exhausted: bool
    viewers_acked: int
    adversary: dict[str, int] | None = None  # the adversary's answers by status, when it ran


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile, nearest rank (None of nothing)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


async def measure(target: Target, load: Load, pool: Pool) -> tuple[Phase, Tally]:
    """Run the load for load.seconds, sampling the server meanwhile, then wait for the drain."""
    tally, samples, stop = Tally(), Samples(), asyncio.Event()
    cpu_start, rss_start = process_tree_usage(target.pid) if target.pid else (0.0, 0)
    watcher = asyncio.create_task(watch(target, samples, stop))
    started = time.monotonic()
    await clients(target.host, target.port, load, pool, tally, started + load.seconds)
    elapsed = max(tally.last_ack, started + load.seconds) - started
    stop.set()  # lag and heatmap figures are of the run; the drain is measured on its own
    await watcher
    drained = await drain(target, tally)
    usage = None
    if target.pid is not None:
        cpu_end, rss_end = process_tree_usage(target.pid)
        usage = ((cpu_end - cpu_start) * 1e6 / tally.events if tally.events else None,
                 tuple(b / 2**20 for b in (rss_start, max([rss_start, rss_end, *samples.rss_bytes]), rss_end)))
    return Phase(
        seconds=elapsed, posts=tally.posts, events=tally.events, posts_per_s=tally.posts / elapsed,
        events_per_s=tally.events / elapsed, ack_p50_ms=percentile(tally.latencies_ms, 50),
        ack_p99_ms=percentile(tally.latencies_ms, 99), answers=dict(tally.answers),
        lag_p99_s=percentile(samples.lag_s, 99), drain=drained,
        cpu_ms_per_1000_events=usage[0] if usage else None, rss_mib=usage[1] if usage else None,
        heatmap_p99_ms=percentile(samples.heatmap_ms, 99), heatmap_samples=len(samples.heatmap_ms),
        heatmap_answers=dict(samples.heatmap_answers), pool_exhausted=tally.pool_exhausted,
        viewers_acked=len(tally.acked)), tally


# --- the adversary: endless 1 MiB POSTs to one view, in its own process -----------------------------------------------

def adversary_event(env_key: str, view_id: str) -> tuple[bytes, bytes, bytes]:
    """A heartbeat with the captured first event's full shape (every metadata field), padded with
    playback ranges up to ADVERSARY_EVENT_BYTES; cut around its two sequence numbers (view, player)."""
    captured = json.loads((FIXTURES / "seek-rewatch-destroy" / "requests.raw.json").read_text())
    first_post = json.loads(captured[0]["body"])
    event = {**first_post["events"][0], "e": "hb", "ake": env_key, "xid": view_id, "vid": "adversary",
             "xsqno": "SEQ", "psqno": "SEQ", "vpbrg": "[]"}
    ranges: list[str] = []
    while True:
        ranges.append(f"{len(ranges) * 100}:{len(ranges) * 100 + 50}")
        padded = {**event, "vpbrg": json.dumps(ranges, separators=(",", ":"))}
        if len(json.dumps(padded, separators=(",", ":"))) > ADVERSARY_EVENT_BYTES:
            break
        event = padded
    before, middle, after = json.dumps(event, separators=(",", ":")).split('"SEQ"')
    return before.encode(), middle.encode(), after.encode()


def adversary_request(host: str, parts: tuple[bytes, bytes, bytes], first: int) -> bytes:
    """A POST of ADVERSARY_EVENTS new events (sequence numbers from `first` on) to the one view."""
    before, middle, after = parts
    events = b",".join(b"%s%d%s%d%s" % (before, n, middle, n, after) for n in range(first, first + ADVERSARY_EVENTS))
    body = b'{"metadata":{"transmission_timestamp":%d},"events":[%s]}' % (int(time.time() * 1000), events)
    return b"POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s" % (
        host.encode(), len(body), body)


async def adversary_connections(target: Target, deadline: float) -> Counter:
    """Each connection POSTs one body after another, whatever the answer (an attacker honours no Retry-After)."""
    parts = adversary_event(target.adversary_env_key, f"adversary-{os.getpid()}")
    answers: Counter = Counter()
    sequence = iter(range(1, 10**12, ADVERSARY_EVENTS))
    in_flight = 0

    async def connection() -> None:
        nonlocal in_flight
        c = Connection(target.host, target.port)
        while time.time() < deadline:
            request = adversary_request(target.authority, parts, next(sequence))
            in_flight += 1
            try:
                answers[str((await c.exchange(request)).status)] += 1
            except ConnectionLost:
                answers["connection lost"] += 1
            finally:
                in_flight -= 1
        c.close()

    try:
        await asyncio.wait_for(asyncio.gather(*(connection() for _ in range(ADVERSARY_CONNECTIONS))),
                               deadline - time.time())
    except asyncio.TimeoutError:  # the POSTs still in flight are dropped
        answers["unanswered at the end"] = in_flight
    return +answers  # without a zero count


def adversary_process(target: Target, deadline: float, results: multiprocessing.Queue) -> None:
    results.put(dict(asyncio.run(adversary_connections(target, deadline))))


def run_phase(target: Target, load: Load, pool: Pool, adversary: bool) -> Phase:
    """One timed run; with `adversary`, beside the adversary's own process (wall-clock deadline shared)."""
    if not adversary:
        return asyncio.run(measure(target, load, pool))[0]
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    process = context.Process(target=adversary_process, args=(target, time.time() + load.seconds, results))
    process.start()
    phase = asyncio.run(measure(target, load, pool))[0]
    phase.adversary = results.get(timeout=GRACE_S)
    process.join(GRACE_S)
    return phase


# --- the generator's ceiling: the same clients against an endpoint that answers at once -------------------------------

class InstantAnswers(asyncio.Protocol):
    """Reads each request to its last body byte and answers `200 {}` at once."""

    OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport, self.buffer = transport, b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", self.buffer[:end + 2])
            total = end + 4 + (int(length.group(1)) if length else 0)
            if len(self.buffer) < total:
                return
            self.buffer = self.buffer[total:]
            self.transport.write(self.answer())

    def answer(self) -> bytes:
        """Each request's answer (a subclass may answer otherwise: a busy server in the tests)."""
        return self.OK


def instant_server(listener: socket.socket) -> None:
    async def serve() -> None:
        server = await asyncio.get_running_loop().create_server(InstantAnswers, sock=listener)
        await server.serve_forever()

    asyncio.run(serve())


def ceiling(scenarios: list[Scenario], clients_n: int, seconds: float) -> float:
    """POSTs/s of `clients_n` back-to-back clients against InstantAnswers in its own process."""
    listener = socket.create_server(("127.0.0.1", 0))
    process = multiprocessing.get_context("fork").Process(target=instant_server, args=(listener,), daemon=True)
    process.start()
    try:
        target = Target(f"http://127.0.0.1:{listener.getsockname()[1]}", "ceiling")
        return run_phase(target, Load(clients_n, seconds), Pool(scenarios, "ceiling", 1000, cyclic=True),
                         False).posts_per_s
    finally:
        process.terminate()
        process.join()
        listener.close()


# --- servers of revisions ---------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def moments(src: Path, *args: str, **popen) -> subprocess.Popen:
    """`python -m moments ARGS` of the revision whose package is in `src`."""
    # Warnings only, as every revision before --log-level logged: an access line per beacon would
    # cost this one time the others do not spend, and fill server.log (older revisions ignore it).
    env = {**os.environ, "PYTHONPATH": str(src), "MOMENTS_LOG_LEVEL": "warning"}
    return subprocess.Popen([sys.executable, "-m", "moments", *args], env=env, **popen)


def create_environment(src: Path, store_url: str, name: str) -> dict:
    process = moments(src, "env", "create", name, "--store", store_url, "--rate-limit", RATE_LIMIT,
                      "--burst", RATE_LIMIT, "--json", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = process.communicate(timeout=120)
    if process.returncode:
        raise RuntimeError(f"moments env create failed: {err}")
    return json.loads(out)


@contextmanager
def served(src: Path, store_kind: str, folder: Path, workers: int = 1) -> Iterator[Target]:
    """A fresh store with a victim and an adversary environment, served by `src`'s moments
    (`--workers` when more than one process)."""
    folder.mkdir(parents=True)
    store_url = f"duckdb://{folder / 'beacons.duckdb'}" if store_kind == "duckdb" else f"chdb://{folder / 'chdb'}"
    victim = create_environment(src, store_url, "beacons")
    adversary = create_environment(src, store_url, "adversary")
    port = free_port()
    log_path = folder / "server.log"
    with log_path.open("wb") as log:
        server = moments(src, "serve", "--store", store_url, "--port", str(port),
                         *(["--workers", str(workers)] if workers > 1 else []), stdout=log, stderr=log,
                         stdin=subprocess.DEVNULL)
    target = Target(f"http://127.0.0.1:{port}", victim["env_key"], (victim["token_id"], victim["token_secret"]),
                    server.pid, adversary["env_key"])
    try:
        wait_healthy(target, server, log_path)
        yield target
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def wait_healthy(target: Target, server: subprocess.Popen, log_path: Path, timeout_s: float = 120) -> None:
    # A blocking request, not asyncio.run: the caller may have an event loop running (a test
    # session that drives Playwright's sync API has one in its main thread).
    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"{target.base_url}/healthz", timeout=5) as answer:
                return answer.status == 200
        except OSError:  # refused, reset, timed out; HTTPError (a non-2xx) is one too
            return False

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited with {server.returncode}: {log_path.read_text()[-3000:]}")
        if healthy():
            return
        time.sleep(0.1)
    raise RuntimeError(f"server not healthy after {timeout_s} s: {log_path.read_text()[-3000:]}")


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True).stdout.strip()


@contextmanager
def sources(revision: str | None) -> Iterator[Path]:
    """The src/ folder of a revision, checked out in a temporary git worktree (removed afterwards),
    or this working tree's (None)."""
    if revision is None:
        yield ROOT / "src"
        return
    folder = Path(tempfile.mkdtemp(prefix="moments-revision-"))
    git("worktree", "add", "--detach", str(folder), revision)
    try:
        yield folder / "src"
    finally:
        git("worktree", "remove", "--force", str(folder))


def same_server(baseline: str, revision: str | None) -> bool:
    """Whether the revision's src/ (None: the working tree's) is the baseline's."""
    return subprocess.run(["git", "-C", str(ROOT), "diff", "--quiet", baseline, *([revision] if revision else []),
                           "--", "src"]).returncode == 0


def revision_label(revision: str | None) -> str:
    if revision is not None:
        return f"{revision} ({git('rev-parse', '--short', revision)})"
    dirty = git("status", "--porcelain", "--", "src")
    return f"this tree ({git('rev-parse', '--short', 'HEAD')}{' + uncommitted src/' if dirty else ''})"


# --- the report -------------------------------------------------------------------------------------------------------

def ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def per_s(rate: float) -> str:
    return f"{rate:,.0f}" if rate >= 10 else f"{rate:.1f}"


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def answers_text(answers: dict[str, int]) -> str:
    return ", ".join(f"{status}: {n:,}" for status, n in sorted(answers.items())) or "none"


def ratio(before: float | None, after: float | None) -> str:
    return f"{after / before:.1f}x" if before and after is not None else "n/a"


MAIN_ROWS = (
    ("POSTs/s acknowledged", lambda p: per_s(p.posts_per_s) + (" (pool ran out)" if p.pool_exhausted else "")),
    ("events/s acknowledged", lambda p: per_s(p.events_per_s)),
    ("ack latency p50 / p99", lambda p: f"{ms(p.ack_p50_ms)} / {ms(p.ack_p99_ms)}"),
    ("ingest lag p99 (every 250 ms)", lambda p: "n/a (synchronous)" if p.lag_p99_s is None else f"{p.lag_p99_s:.2f} s"),
    ("drain: last ack until sampled views read back as sent",
     lambda p: (f"{p.drain.seconds:.2f} s" if p.drain.seconds is not None else "not drained")
     + f" ({p.drain.stored_as_sent}/{p.drain.checked} views)"),
    ("server CPU per 1,000 events", lambda p: ms(p.cpu_ms_per_1000_events)),
    ("server RSS start / peak / end",
     lambda p: "n/a" if p.rss_mib is None else " / ".join(f"{m:,.0f}" for m in p.rss_mib) + " MiB"),
    ("non-2xx answers (503/429 re-sent after Retry-After)", lambda p: answers_text(p.answers)),
    ("victim heatmap p99 during the load (every 250 ms)",
     lambda p: f"{ms(p.heatmap_p99_ms)} ({p.heatmap_samples} answers"
     + (f"; other: {answers_text(p.heatmap_answers)})" if p.heatmap_answers else ")")),
)

ADVERSARY_ROWS = (
    ("victim POSTs/s: without / with", lambda a, b: f"{per_s(a.posts_per_s)} / {per_s(b.posts_per_s)}"),
    ("victim beacon ack p99: without / with (ratio)",
     lambda a, b: f"{ms(a.ack_p99_ms)} / {ms(b.ack_p99_ms)} ({ratio(a.ack_p99_ms, b.ack_p99_ms)})"),
    ("victim heatmap p99: without / with (ratio)",
     lambda a, b: f"{ms(a.heatmap_p99_ms)} / {ms(b.heatmap_p99_ms)} ({ratio(a.heatmap_p99_ms, b.heatmap_p99_ms)})"),
    ("victim non-2xx answers, with", lambda a, b: answers_text(b.answers)),
    ("adversary's answers", lambda a, b: answers_text(b.adversary or {})),
)


@dataclass
class Column:
    label: str
    main: Phase
    adversary: Phase | None = None


def table(columns: list[Column], rows: tuple, cell: Callable) -> list[str]:
    """Figures as rows, revisions as columns (side by side)."""
    out = ["| | " + " | ".join(c.label for c in columns) + " |", "|---|" + "---:|" * len(columns)]
    return out + [f"| {name} | " + " | ".join(cell(fn, c) for c in columns) + " |" for name, fn in rows]


def section(store_kind: str, command: str, elapsed_s: float, load_average: float, load: Load,
            scenarios: list[Scenario], ceiling_posts_s: float, columns: list[Column], notes: list[str]) -> str:
    """The "Beacon ingestion" section: the load, the generator's ceiling, the revisions side by side."""
    how = ("each connection sends its viewers' POSTs back to back (no think time)" if load.pace_s is None else
           f"{load.viewers:,} viewers playing at once, each POSTing every {load.pace_s:g} s "
           f"({load.viewers / load.pace_s:,.0f} POSTs/s offered)")
    events = sum(map(sum, (s.events for s in scenarios))) / len(scenarios)
    title = "## Beacon ingestion" if store_kind == "duckdb" else "### Beacon ingestion on the chdb store"
    out = [title, "",
           f"Command: `{command}` (one run, {duration(elapsed_s)}, this 2-core machine, 1-minute load average "
           f"{load_average:.1f} before it started; store {store_kind}; each revision on a fresh store with its own "
           "server process, measured in this same run).", "",
           f"- Load: {load.clients} connections for {load.seconds:g} s; {how}. Each viewer replays one of the "
           f"{len(scenarios)} captured mux-embed 5.19.0 sessions (tests/fixtures; {posts_per_viewer(scenarios):.1f} "
           f"POSTs and {events:.0f} events per viewer on average) with fresh view ids.",
           "- Latencies are per answered POST. 503/429 answers are re-sent after their Retry-After and counted.",
           f"- Ingest lag: `{LAG_GAUGE}` on /metrics, every 250 ms during the run; \"n/a (synchronous)\" when the "
           "server has no such gauge (it applies beacons before answering). Drain: from the last acknowledgement "
           f"until the newest {VERIFY_NEWEST} and {VERIFY_RANDOM} random completed viewers' views read back "
           "(`GET /v1/views/{id}`) with the captured ranges.",
           "- CPU and RSS are the server's process tree (/proc); CPU until the drain check ends, per acknowledged "
           f"event. The victim heatmap is `GET /data/v1/engagement/videos/{HEATMAP_VIDEO}/heatmap`, every 250 ms "
           "on its own connection (404 until a view completes).",
           f"- **The generator's ceiling: {ceiling_posts_s:,.0f} POSTs/s** with the same connections against a local "
           "endpoint that answers at once; figures near it would measure the generator, not the server.",
           *(f"- {note}" for note in notes), ""]
    out += table(columns, MAIN_ROWS, lambda fn, c: fn(c.main))
    with_adversary = [c for c in columns if c.adversary is not None]
    if with_adversary:
        out += ["", f"{'####' if store_kind != 'duckdb' else '###'} Beside an adversarial writer (`--adversary`)", "",
                "After the run above, on the same server: the same load again (new viewers) while "
                f"{ADVERSARY_CONNECTIONS} more connections POST bodies of {ADVERSARY_EVENTS:,} events "
                f"(about {ADVERSARY_EVENTS * ADVERSARY_EVENT_BYTES / 2**20:.1f} MiB) for one single view, without end, "
                "under a second environment's env key, ignoring Retry-After. \"Without\" is the run above.", ""]
        out += table(with_adversary, ADVERSARY_ROWS, lambda fn, c: fn(c.main, c.adversary))
    return "\n".join(out)


# --- the command ------------------------------------------------------------------------------------------------------

class Log:
    """Lines printed and kept in the log file as they come (a broken run keeps what it measured)."""

    def __init__(self, path: Path) -> None:
        self.file: TextIO = path.open("w")

    def __call__(self, text: str) -> None:
        print(text, flush=True)
        self.file.write(text + "\n")
        self.file.flush()


def pool_size(load: Load, posts_per_s_bound: float, scenarios: list[Scenario]) -> int:
    """Viewers enough for the run: every slot's first viewer, plus every POST the bound allows
    (paced: the offered rate), with a margin."""
    slots = load.clients if load.pace_s is None else load.viewers
    bound = posts_per_s_bound if load.pace_s is None else min(posts_per_s_bound, load.viewers / load.pace_s)
    return slots + int(1.2 * bound * load.seconds / posts_per_viewer(scenarios)) + 100


def measure_revision(label: str, target: Target, load: Load, posts_bound: float, adversary: bool, log: Log,
                     tag: str) -> Column:
    scenarios = load_scenarios(target.env_key, target.authority)
    log(f"{label}: {target.base_url}, rendering viewers")
    main = run_phase(target, load, Pool(scenarios, f"{tag}a", pool_size(load, posts_bound, scenarios)), False)
    log(f"  main: {json.dumps(asdict(main))}")
    column = Column(label, main)
    if adversary:
        column.adversary = run_phase(target, load, Pool(scenarios, f"{tag}b", pool_size(load, posts_bound, scenarios)),
                                     True)
        log(f"  adversary: {json.dumps(asdict(column.adversary))}")
    return column


def command_line(argv: list[str]) -> str:
    """The command as run, with a --token's secret left out."""
    shown = [("ID:SECRET" if i and argv[i - 1] == "--token" else a) for i, a in enumerate(argv)]
    return " ".join(["python bench/beacons.py", *map(shlex.quote, shown)])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16, help="Concurrent connections (default 16).")
    parser.add_argument("--seconds", type=float, default=60, help="Length of each timed run (default 60).")
    parser.add_argument("--pace", type=float, help="Seconds between a viewer's POSTs (the SDK: about 10); "
                        "default: back to back.")
    parser.add_argument("--viewers", type=int, default=1000, help="With --pace: viewers playing at once.")
    parser.add_argument("--store", choices=("duckdb", "chdb"), default="duckdb")
    parser.add_argument("--workers", default="1",
                        help="`moments serve --workers` of the measured revision; a list (1,2) measures each "
                        "in its own column (the baseline always runs one process).")
    parser.add_argument("--baseline-rev", default=DEFAULT_BASELINE,
                        help=f"Also measure this git revision's server ('none': no baseline; never with --url). "
                        f"Default {DEFAULT_BASELINE}.")
    parser.add_argument("--rev", help="Measure this git revision's server instead of this working tree's "
                        "(uncommitted changes included).")
    parser.add_argument("--adversary", action="store_true",
                        help="Then run the load again beside 4 connections of 1 MiB POSTs to one view.")
    parser.add_argument("--url", help="Measure this running server instead (no baseline); needs --env-key.")
    parser.add_argument("--env-key", help="With --url: the environment the viewers post to.")
    parser.add_argument("--token", help="With --url: ID:SECRET of a read token of that environment "
                        "(drain check, heatmap); without it those rows are n/a.")
    parser.add_argument("--pid", type=int, help="With --url: the server's process id (CPU and RSS).")
    parser.add_argument("--adversary-env-key", help="With --url --adversary: the adversary's env key.")
    parser.add_argument("--ceiling-seconds", type=float, default=3.0)
    parser.add_argument("--max-rate", type=float, default=4000,
                        help="POSTs/s the pre-rendered viewers are sized for (default 4,000, about 1 GiB per minute "
                        "of run; the ceiling when lower). A run that ends with '(pool ran out)' needs more.")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--log", type=Path,
                        help="Default: bench/last-beacons-run.log (chdb: bench/last-beacons-chdb-run.log).")
    args = parser.parse_args(argv)
    if args.url and not args.env_key:
        parser.error("--url needs --env-key")
    if args.url and args.rev:
        parser.error("--url measures that server: no --rev")
    if args.url and args.adversary and not args.adversary_env_key:
        parser.error("--url --adversary needs --adversary-env-key")
    load = Load(args.clients, args.seconds, args.pace, args.viewers if args.pace else 0)
    log = Log(args.log or Path(__file__).parent / f"last-beacons{'-chdb' if args.store == 'chdb' else ''}-run.log")
    started, load_average = time.monotonic(), os.getloadavg()[0]  # other work on the machine skews every figure
    scenarios = load_scenarios("ceiling", "127.0.0.1")
    top = ceiling(scenarios, args.clients, args.ceiling_seconds)
    log(f"generator ceiling: {top:.0f} POSTs/s ({args.clients} connections, {args.ceiling_seconds:g} s)")
    bound = min(top, args.max_rate)
    columns, notes = [], []
    if args.url:
        target = Target(args.url.rstrip("/"), args.env_key, tuple(args.token.split(":", 1)) if args.token else None,
                        args.pid, args.adversary_env_key)
        columns.append(measure_revision(args.url, target, load, bound, args.adversary, log, "u"))
    else:
        sides = [(f"baseline {args.baseline_rev}", args.baseline_rev, 1)] if args.baseline_rev != "none" else []
        workers = [int(w) for w in args.workers.split(",")]
        sides += [(revision_label(args.rev) + (f", --workers {w}" if w > 1 else ""), args.rev, w) for w in workers]
        if args.baseline_rev != "none" and same_server(args.baseline_rev, args.rev):
            notes.append(f"**Both columns run the same server** ({sides[1][0]}'s src/ is {args.baseline_rev}'s): "
                         "their differences are run-to-run noise on this shared machine.")
        with tempfile.TemporaryDirectory(prefix="moments-beacons-") as folder:
            for n, (label, revision, processes) in enumerate(sides):
                with sources(revision) as src, served(src, args.store, Path(folder, str(n)), processes) as target:
                    columns.append(measure_revision(label, target, load, bound, args.adversary, log, f"r{n}-"))
    text = section(args.store, command_line(argv if argv is not None else sys.argv[1:]), time.monotonic() - started,
                   load_average, load, scenarios, top, columns, notes)
    log(text)
    write_report(args.out, "beacons" if args.store == "duckdb" else "beacons-chdb", text)


if __name__ == "__main__":
    main()
